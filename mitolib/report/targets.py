"""How measured numbers stand against the targets of ``studies.yml``: test IoU against ``targets`` (the mean
over the seeds a target is a mean over, and the training minutes it allows), and benchmark ratios against
``speed_targets``."""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from mitolib.core import claims
from mitolib.report.pages import arch_label

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


def target_verdict(mean: float, seeds: int, goal: dict) -> str:
    """How a mean over ``seeds`` seeds stands against ``goal`` (a ``targets`` entry): "meets it by …", "is … short
    of it", or, on fewer seeds than the target's mean is over, the distance and "so not judged yet"."""
    wanted = goal.get("seeds", 1)
    if seeds < wanted:
        gap = mean - goal["test_iou"]
        return (f"is {abs(gap):.4f} {'above' if gap >= 0 else 'below'} it on {seeds} of the {wanted} seeds the "
                "target is a mean over, so not judged yet")
    if mean >= goal["test_iou"]:
        return f"meets it by {mean - goal['test_iou']:.4f}"
    return f"is {goal['test_iou'] - mean:.4f} short of it"


def target_check(test_iou, train_minutes, goal: dict) -> tuple[bool, str]:
    """Whether runs with test IoUs ``test_iou`` and training times ``train_minutes`` (one per run) meet ``goal``
    (a ``targets`` entry), and the sentence that says so, to follow "the mean": the mean's
    :func:`target_verdict`, then the slowest run against the ``train_minutes`` limit where the goal has one.
    A target is met only on as many seeds as it is a mean over, by the mean, and by every run's time."""
    values = [float(v) for v in test_iou]
    if not values:
        return False, "cannot be checked: no run has a test IoU"
    mean, seeds = sum(values) / len(values), len(values)
    text = target_verdict(mean, seeds, goal)
    met = seeds >= goal.get("seeds", 1) and mean >= goal["test_iou"]
    limit = goal.get("train_minutes")
    if limit is not None and len(train_minutes):
        slowest = max(float(m) for m in train_minutes)
        text += f"; its slowest run trained {slowest:.1f} minutes against the {limit:g} allowed"
        if slowest > limit:
            text += ", over the limit" + (", so the target is missed on time" if met else "")
            met = False
    return met, text


def longer_recipe_text(longer: pd.DataFrame, shorter: pd.DataFrame, names: tuple[str, str], goal: dict,
                       label=str) -> str:
    """The completed runs ``longer`` of a longer profile, architecture by architecture: against its target
    ``goal``, and paired by seed with the completed runs ``shorter`` of that architecture under the shorter
    profile; then, where it trains more than one architecture, their order by the claims rule. ``names`` are the
    two profiles' names (longer, shorter); ``label`` names an architecture."""
    long_name, short_name = names
    parts = []
    for arch, runs in longer.groupby("architecture", sort=False):
        verdict = target_check(runs["test_iou"], runs["train_seconds"] / 60, goal)[1]
        summary = claims.summarize(runs["test_iou"])
        improving = int(claims.still_improving(runs).sum())
        text = (f"{label(arch)}: test IoU {summary.text()} over {summary.n} seed(s) against the `{long_name}` "
                f"target of {goal['test_iou']:.2f}: the mean {verdict}; {improving} of {len(runs)} run(s) were "
                "still improving at their last epoch.")
        same = shorter[shorter["architecture"] == arch]
        if same.empty:
            parts.append(text + f" No `{short_name}` run of this architecture is collected to pair with.")
            continue
        row = claims.compare(pd.concat([runs.assign(recipe=long_name), same.assign(recipe=short_name)]),
                             "test_iou", "recipe", reference=short_name, higher="raises", lower="lowers").iloc[0]
        difference = claims.Difference(int(row["pairs"]), row["difference"], float("nan"), row["low"], row["high"])
        parts.append(text + f" Paired with the `{short_name}` runs of the same architecture and seeds (longer "
                     f"training and its test-time steps together): {difference.text()}, "
                     + (f"which {row['verdict']} the test IoU." if row["resolved"] else f"{claims.NOT_RESOLVED}."))
    if longer["architecture"].nunique() > 1:
        tiers = claims.resolved_order(longer, "test_iou", "architecture")
        parts.append(f"Between the architectures under `{long_name}`, by the claims rule: "
                     f"{claims.order_text(tiers, label=label)}.")
    return " ".join(parts)
