"""What a learning-rate x batch-size grid can claim, by the one rule of :mod:`mitolib.core.claims`.

A grid has one seed per configuration, so two configurations cannot be told apart by seeds.  What it can
test is a statement about a *region* of the grid, paired over the cells it holds fixed: "learning rates in
[5e-4, 1e-3] beat the others" pairs, for every architecture and batch size, the mean of the runs inside the
range with the mean of those outside (9 pairs in a 3 x 4 x 3 grid), and the interval over those pairs says
whether the region is better.  The same way, batch sizes are paired over architecture and learning rate, and
architectures over learning rate and batch size.

* :func:`steps_and_samples`, :func:`budget_table`: the optimizer steps and training samples each run and
  each batch size got;
* :func:`region_comparison`: a region of one grid key against the rest, paired over the other keys;
* :func:`largest_fall`: each run's largest fall in validation IoU between consecutive epochs (stability);
* :func:`best_learning_rates`: the best learning rate per architecture and batch size (linear scaling);
* :func:`complete_architectures`: the architectures whose every planned configuration has completed;
* :func:`configuration_seeds`: the grid's chosen configurations with the seeds their reruns added;
* :func:`named_configurations`: those configurations named, for the claims rule to order.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from mitolib.core import claims
from mitolib.core.schema import steps_per_epoch
from mitolib.core.tables import span

GRID_KEYS = ("architecture", "learning_rate", "batch_size")
PAIR_COLUMN = "cell"  # the paired unit of a region comparison: the values of the keys held fixed


def steps_and_samples(done: pd.DataFrame) -> pd.DataFrame:
    """Per run (the index of ``done``): ``optimizer_steps`` and ``samples_seen``, as recorded where a run has
    them, else worked out from its epochs run, ``samples_per_epoch`` and batch size."""
    rows = []
    for run in done.to_dict("records"):
        recorded = run.get("optimizer_steps")
        if recorded is not None and np.isfinite(float(recorded)):
            rows.append((int(recorded), int(run["samples_seen"])))
        else:
            steps = int(run["epochs_run"]) * steps_per_epoch(run, 0)
            rows.append((steps, steps * int(run["batch_size"])))
    return pd.DataFrame(rows, index=done.index, columns=["optimizer_steps", "samples_seen"])


def budget_table(done: pd.DataFrame) -> pd.DataFrame:
    """Per batch size: ``runs``, ``optimizer steps`` and ``samples seen`` per run (:func:`steps_and_samples`),
    each as one number when equal across the batch size's runs, else ``min–max``."""
    counts = steps_and_samples(done).assign(batch_size=done["batch_size"])
    rows = [{"batch size": int(batch), "runs": len(part),
             "optimizer steps per run": span(part["optimizer_steps"]),
             "samples seen per run": span(part["samples_seen"])}
            for batch, part in counts.groupby("batch_size")]
    return pd.DataFrame(rows, columns=["batch size", "runs", "optimizer steps per run", "samples seen per run"])


def region_comparison(done: pd.DataFrame, value: str, key: str, inside: Callable[[object], bool], *,
                      names: tuple[str, str] = ("inside", "outside")) -> pd.Series:
    """The runs whose ``key`` value is ``inside`` against the others, paired over the cells of the other grid
    keys: per cell the mean ``value`` of each side, then :func:`claims.compare` of the two sides over the cells
    that have both.  One row of :data:`claims.COMPARISON_COLUMNS` (the inside side against the outside side,
    ``n`` counting cells)."""
    held = [k for k in GRID_KEYS if k != key and k in done.columns]
    frame = done.assign(side=[names[0] if inside(v) else names[1] for v in done[key]],
                        **{PAIR_COLUMN: done[held].astype(str).agg("/".join, axis=1)})
    means = frame.groupby(["side", PAIR_COLUMN], sort=False)[value].mean().reset_index()
    both = means.groupby(PAIR_COLUMN)["side"].nunique()
    means = means[means[PAIR_COLUMN].isin(both[both == 2].index)]
    if means.empty:
        return pd.Series({**dict.fromkeys(claims.COMPARISON_COLUMNS), "group": names[0], "reference": names[1],
                          "n": 0, "pairs": 0, "difference": np.nan, "low": np.nan, "high": np.nan,
                          "resolved": False, "verdict": claims.NOT_RESOLVED})
    order = pd.Categorical(means["side"], categories=list(names), ordered=True)
    table = claims.compare(means.assign(side=order).sort_values("side"), value, "side", reference=names[1],
                           pair=PAIR_COLUMN)
    return table.iloc[0]


def largest_fall(history: pd.DataFrame, metric: str = "iou", split: str = "val") -> pd.Series:
    """Per run (``run_id`` index): the largest fall of ``metric`` on ``split`` from one epoch to the next, 0 for a
    run that never fell (a measure of stability: an oscillating run falls, a steady one does not)."""
    curve = history[(history["metric"] == metric) & (history["split"] == split)].sort_values(["run_id", "epoch"])
    def fall(values: pd.Series) -> float:
        drops = (-values.diff()).dropna()
        return float(max(0.0, drops.max())) if len(drops) else 0.0

    return curve.groupby("run_id")["value"].apply(fall).rename("largest_fall")


def best_learning_rates(done: pd.DataFrame, value: str = "best_val_iou") -> pd.DataFrame:
    """Per architecture and batch size, the learning rate of the highest ``value`` (``best_learning_rate``, and
    ``value``): the architectures in the order they first appear, each one's batch sizes from small to large."""
    rows = []
    by_batch = done.sort_values("batch_size", kind="stable")
    for (arch, batch), part in by_batch.groupby([pd.Categorical(by_batch["architecture"],
                                                                pd.unique(done["architecture"])),
                                                 "batch_size"], sort=True, observed=True):
        top = part.loc[part[value].idxmax()]
        rows.append({"architecture": arch, "batch_size": batch, "best_learning_rate": top["learning_rate"],
                     value: top[value]})
    return pd.DataFrame(rows, columns=["architecture", "batch_size", "best_learning_rate", value])


def rises_with_batch(best: pd.DataFrame) -> dict[str, bool]:
    """Per architecture of :func:`best_learning_rates`: whether its best learning rate never falls as the batch
    size grows and rises at least once (what the linear scaling rule predicts at an equal sample budget)."""
    out = {}
    for arch, part in best.groupby("architecture", sort=False):
        rates = part.sort_values("batch_size")["best_learning_rate"].to_numpy(dtype=float)
        out[arch] = bool(len(rates) > 1 and np.all(np.diff(rates) >= 0) and rates[-1] > rates[0])
    return out


def complete_architectures(done: pd.DataFrame, plan: pd.DataFrame) -> list:
    """The architectures of ``plan`` (the study's planned runs) whose every planned learning rate x batch size
    has a completed run in ``done``, in the plan's order: only those have a best learning rate per batch size
    that a partly run grid cannot still change."""
    def cells(table: pd.DataFrame, arch) -> set:
        part = table[table["architecture"] == arch]
        return set(zip(part["learning_rate"].astype(float), part["batch_size"].astype(float)))

    return [arch for arch in dict.fromkeys(plan["architecture"]) if cells(plan, arch) <= cells(done, arch)]


def configuration_seeds(grid_done: pd.DataFrame, reruns_done: pd.DataFrame) -> pd.DataFrame:
    """The configurations the reruns repeat (their ``variant`` is the grid run's id), each with its grid run and
    its reruns: columns ``configuration`` (the grid run id), ``seed`` and the rest of the run rows; ordered by
    the configuration's mean ``best_val_iou``, highest first."""
    chosen = list(dict.fromkeys(reruns_done["variant"].astype(str)))
    grid = grid_done[grid_done["run_id"].isin(chosen)].assign(configuration=lambda f: f["run_id"])
    reruns = reruns_done.assign(configuration=reruns_done["variant"].astype(str))
    table = pd.concat([grid, reruns], ignore_index=True)
    order = table.groupby("configuration")["best_val_iou"].mean().sort_values(ascending=False, kind="stable")
    table["configuration"] = pd.Categorical(table["configuration"], categories=list(order.index), ordered=True)
    return table.sort_values(["configuration", "seed"]).assign(
        configuration=lambda f: f["configuration"].astype(str)).reset_index(drop=True)


def named_configurations(chosen: pd.DataFrame, label: Callable[[str], str] = str) -> pd.DataFrame:
    """:func:`configuration_seeds` with each ``configuration`` named by its settings, e.g. "U-Net (learning rate
    0.0005, batch 32)" (``label`` names the architecture)."""
    named = chosen.drop_duplicates("configuration").set_index("configuration")
    names = {c: f"{label(r.architecture)} (learning rate {r.learning_rate:g}, batch {r.batch_size:g})"
             for c, r in named.iterrows()}
    return chosen.assign(configuration=chosen["configuration"].map(names))


SUPPORTED, CONTRADICTED = "supported", "contradicted"


def _verdict(row: pd.Series, expected: str) -> str:
    """``supported`` when the comparison is resolved in the ``expected`` direction (``higher``/``lower``),
    ``contradicted`` when resolved the other way, else :data:`claims.NOT_RESOLVED`."""
    if not row["resolved"]:
        return claims.NOT_RESOLVED
    return SUPPORTED if row["verdict"] == expected else CONTRADICTED


def _measured(row: pd.Series, what: str, cells: str) -> str:
    diff = claims.Difference(int(row["pairs"]), row["difference"], float("nan"), row["low"], row["high"])
    return f"{what}: {diff.text()} over {diff.pairs} {cells}"


def insight_checks(done: pd.DataFrame, history: pd.DataFrame, report: pd.DataFrame,
                   label: Callable[[str], str] = str) -> pd.DataFrame:
    """The original report's hyperparameter insights (``report`` rows of table ``insights``), each tested on the
    completed grid runs ``done`` (and their ``history``) by a region comparison: columns ``the report says``,
    ``measured here`` and ``verdict`` (:data:`SUPPORTED`, :data:`CONTRADICTED` or not resolved)."""
    quoted = report[report["table"] == "insights"].set_index("quantity")
    value = quoted["value"].astype(float)
    rows = []
    low, high = value["learning_rate_optimal_low"], value["learning_rate_optimal_high"]
    row = region_comparison(done, "best_val_iou", "learning_rate", lambda lr: low <= lr <= high)
    rows.append({"the report says": f"learning rates from {low:g} to {high:g} are the optimal range",
                 "measured here": _measured(row, f"best validation IoU, learning rates {low:g}–{high:g} minus the "
                                                 "others", "cells (architecture x batch size)"),
                 "verdict": _verdict(row, "higher")})
    low, high = value["stable_batch_low"], value["stable_batch_high"]
    falls = done.assign(largest_fall=done["run_id"].map(largest_fall(history)).fillna(0.0))
    row = region_comparison(falls, "largest_fall", "batch_size", lambda b: low <= b <= high)
    rows.append({"the report says": f"larger batches ({low:g}–{high:g}) generally improve stability",
                 "measured here": _measured(row, f"largest fall of the validation IoU between epochs, batch "
                                                 f"{low:g}–{high:g} minus smaller", "cells (architecture x learning rate)"),
                 "verdict": _verdict(row, "lower")})
    for arch in [a for a in dict.fromkeys(done["architecture"]) if a != "unet"]:
        pair = done[done["architecture"].isin([arch, "unet"])]
        row = region_comparison(pair, "best_val_iou", "architecture", lambda a, arch=arch: a == arch)
        rows.append({"the report says": f"attention mechanisms show slight advantages ({label(arch)} over "
                                        f"{label('unet')})",
                     "measured here": _measured(row, f"best validation IoU, {label(arch)} minus {label('unet')}",
                                                "cells (learning rate x batch size)"),
                     "verdict": _verdict(row, "higher")})
    best = done.loc[done.groupby("architecture", sort=False)["best_val_iou"].idxmax()]
    seeds = int(done.groupby(list(GRID_KEYS))["seed"].nunique().max()) if len(done) else 0
    rows.append({"the report says": "each architecture benefits from different configurations",
                 "measured here": "best configuration (learning rate, batch size): " + "; ".join(
                     f"{label(r.architecture)} {r.learning_rate:g}, {r.batch_size:g}" for r in best.itertuples())
                     + (f" ({seeds} seed per configuration: a best configuration is one draw)" if seeds < 2
                        else " (the best of each architecture, not compared with the others' by seeds here)"),
                 "verdict": claims.NOT_RESOLVED})
    return pd.DataFrame(rows, columns=["the report says", "measured here", "verdict"])
