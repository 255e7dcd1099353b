"""How measured numbers stand against the targets of ``studies.yml``: test IoU against ``targets`` (the mean
over the seeds a target is a mean over, and the training minutes it allows), and benchmark ratios against
``speed_targets``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import pandas as pd

from mitolib.core import claims
from mitolib.report import verdicts

BASELINE_VARIANT, PLAIN_VARIANT = "baseline", "project"  # the benchmark's original and plain project pipelines
CEILING_VARIANT = "fixed"  # the benchmark's training on one fixed batch: no input work, the ceiling of any pipeline


def training_configurations(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a benchmark's ``training_summary`` that have a ratio and are configurations one can train with:
    the ``fixed`` ceiling (no input work) is a bound, never a candidate for the fastest configuration."""
    rows = table.dropna(subset=["speed_ratio_median"])
    return rows[rows["variant"] != CEILING_VARIANT]


SPEED_TARGET_COLUMNS = ["width", "architecture", "configuration", "variant", "ratio", "lowest_round", "highest_round",
                        "target", "met"]


def speed_target_table(table: pd.DataFrame, targets: Mapping[str, float]) -> pd.DataFrame:
    """The benchmark's training ratios ``table`` (``width, architecture, variant, speed_ratio_median`` and, where
    measured, ``speed_ratio_min``/``max`` over rounds: the ``training_summary`` of a benchmark run) against the
    ``speed_targets`` of ``studies.yml``: one row per width, architecture and configuration checked (``fastest``:
    its fastest configuration, against ``best``; ``plain``: the plain project pipeline, against ``plain``) with
    its ratio, the rounds' range, the target and whether the ratio meets it (the ``fixed`` ceiling is no
    configuration to train with, so it is never the fastest)."""
    rows = training_configurations(table)
    out = []
    for (width, architecture), part in rows.groupby(["width", "architecture"], sort=False):
        fastest = part.loc[[part["speed_ratio_median"].idxmax()]] if part["speed_ratio_median"].notna().any() else part.iloc[:0]
        for configuration, goal, chosen in (("fastest", targets.get("best"), fastest),
                                            ("plain", targets.get("plain"), part[part["variant"] == PLAIN_VARIANT])):
            for _, row in chosen.iterrows():
                ratio = float(row["speed_ratio_median"])
                out.append({"width": width, "architecture": architecture, "configuration": configuration,
                            "variant": row["variant"], "ratio": ratio,
                            "lowest_round": float(row.get("speed_ratio_min", float("nan"))),
                            "highest_round": float(row.get("speed_ratio_max", float("nan"))),
                            "target": float(goal) if goal is not None else float("nan"),
                            "met": bool(goal is None or ratio >= goal)})
    return pd.DataFrame(out, columns=SPEED_TARGET_COLUMNS)


OBJECT_F1, COUNT_RATIO = "object_f1_50", "count_ratio"  # the per-run object numbers a target may ask for


@dataclass(frozen=True)
class TargetCheck:
    """Runs against a ``targets`` entry of ``studies.yml``: the mean test IoU over ``seeds`` runs against
    ``target`` (``gap`` = mean - target), the slowest run's training minutes against ``limit_minutes`` (NaN
    where the target sets none), where the target asks for them the mean object F1 at IoU 0.5 and the mean
    predicted/true object count, and the :mod:`mitolib.report.verdicts` word for the result."""

    mean: float
    seeds: int
    wanted: int  # the seeds the target is a mean over
    target: float
    gap: float
    slowest_minutes: float
    limit_minutes: float
    object_f1: float  # mean object F1 at IoU 0.5 of the runs (NaN where not recorded)
    object_f1_target: float  # NaN where the target asks for none
    count_ratio: float  # mean predicted / true objects of the runs (NaN where not recorded)
    count_error: float  # allowed |count_ratio - 1| (NaN where the target asks for none)
    judged: bool  # as many seeds as the target wants, and the object numbers it asks for
    over_time: bool
    met: bool
    verdict: str


def _mean_of(objects, column: str) -> float:
    if objects is None or column not in objects:
        return math.nan
    values = pd.to_numeric(objects[column], errors="coerce").dropna()
    return float(values.mean()) if len(values) else math.nan


def target_check(test_iou, train_minutes, goal: dict, objects: pd.DataFrame | None = None) -> TargetCheck:
    """Whether runs with test IoUs ``test_iou`` and training times ``train_minutes`` (one per run) meet ``goal``
    (a ``targets`` entry), with the runs' object numbers ``objects`` (their ``object_f1_50`` and
    ``count_ratio`` columns) where the goal asks for ``object_f1_50`` or ``count_error``. A target is met only on
    as many seeds as it is a mean over, by the mean, by every run's time and by the object numbers; on fewer
    seeds, or without the object numbers it asks for, it is not judged yet (unless the IoU already misses)."""
    values = [float(v) for v in test_iou]
    minutes = [float(m) for m in train_minutes]
    mean = sum(values) / len(values) if values else math.nan
    wanted = int(goal.get("seeds", 1))
    limit = float(goal["train_minutes"]) if goal.get("train_minutes") is not None else math.nan
    slowest = max(minutes) if minutes else math.nan
    f1_target = float(goal.get(OBJECT_F1, math.nan))
    count_error = float(goal.get("count_error", math.nan))
    f1, ratio = _mean_of(objects, OBJECT_F1), _mean_of(objects, COUNT_RATIO)
    objects_judged = ((math.isnan(f1_target) or not math.isnan(f1))
                      and (math.isnan(count_error) or not math.isnan(ratio)))
    objects_met = objects_judged and (math.isnan(f1_target) or f1 >= f1_target) and (
        math.isnan(count_error) or abs(ratio - 1) <= count_error)
    enough = len(values) >= wanted and bool(values)
    over_time = not math.isnan(limit) and not math.isnan(slowest) and slowest > limit
    reaches = enough and mean >= goal["test_iou"]
    met = reaches and not over_time and objects_met
    if not enough:
        verdict = verdicts.TARGET_NOT_JUDGED
    elif not reaches:
        verdict = verdicts.TARGET_MISSED
    elif over_time:
        verdict = verdicts.TARGET_OVER_TIME
    elif not objects_judged:
        verdict = verdicts.TARGET_NOT_JUDGED
    else:
        verdict = verdicts.TARGET_MET if met else verdicts.TARGET_MISSED
    return TargetCheck(mean=mean, seeds=len(values), wanted=wanted, target=float(goal["test_iou"]),
                       gap=mean - float(goal["test_iou"]), slowest_minutes=slowest, limit_minutes=limit,
                       object_f1=f1, object_f1_target=f1_target, count_ratio=ratio, count_error=count_error,
                       judged=enough and objects_judged, over_time=over_time, met=met, verdict=verdict)


LONGER_COLUMNS = ["architecture", "seeds", "mean", "sd", "target", "gap", "object_f1", "count_ratio", "verdict",
                  "still_improving", "pairs", "difference", "low", "high", "effect"]


def longer_recipe_table(longer: pd.DataFrame, shorter: pd.DataFrame, goal: dict) -> pd.DataFrame:
    """The completed runs ``longer`` of a longer profile, one row per architecture: the mean ± sd test IoU over
    its seeds, the :func:`target_check` of ``goal`` (gap, the mean object F1 and predicted/true count the runs
    recorded, NaN where they did not, and verdict), how many runs were still improving at
    their last epoch, and the paired difference from the completed runs ``shorter`` of the same architecture
    and seeds under the shorter profile (``effect``: the claims verdict; NaN and :data:`verdicts.NO_INTERVAL`
    without pairs)."""
    rows = []
    for arch, runs in longer.groupby("architecture", sort=False):
        check = target_check(runs["test_iou"], runs["train_seconds"] / 60, goal, objects=runs)
        summary = claims.summarize(runs["test_iou"])
        row = {"architecture": arch, "seeds": summary.n, "mean": summary.mean, "sd": summary.sd,
               "target": check.target, "gap": check.gap, "object_f1": check.object_f1,
               "count_ratio": check.count_ratio, "verdict": check.verdict,
               "still_improving": int(claims.still_improving(runs).sum()), "pairs": 0, "difference": math.nan,
               "low": math.nan, "high": math.nan, "effect": verdicts.NO_INTERVAL}
        same = shorter[shorter["architecture"] == arch]
        if len(same):
            both = pd.concat([runs.assign(recipe="longer"), same.assign(recipe="shorter")])
            effect = verdicts.effects_table(both, "test_iou", "shorter", group="recipe").iloc[0]
            row.update(pairs=int(effect["pairs"]), difference=float(effect["difference"]), low=float(effect["low"]),
                       high=float(effect["high"]), effect=effect["verdict"])
        rows.append(row)
    return pd.DataFrame(rows, columns=LONGER_COLUMNS)
