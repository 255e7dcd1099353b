"""Verdicts the book's pages state, computed from collected runs with the one rule of :mod:`mitolib.core.claims`.

* :func:`split_by_plan` separates the collected runs of a study into those of its current plan (same run
  id and same parameters) and those of an earlier design, so a page never reads old runs as new ones.
* :func:`band_table` says, per variant, how its runs sit in a band of values (the original report's
  soft Jaccard of 0.07–0.09): runs inside, mean ± sd.
* :func:`effects_table` gives each variant's paired difference from a reference variant with its 95 %
  interval and its verdict from :mod:`mitolib.core.claims`' vocabulary ("no effect" only where the interval
  lies inside the equivalence margin, "not resolved" where it contains 0 otherwise, "no interval yet" where a
  single seed is paired).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mitolib.core import claims
from mitolib.core.config import load_config
from mitolib.core.identity import row_params_hash

NO_EFFECT = claims.NO_EFFECT
NO_INTERVAL = "no interval yet"  # one pair: a difference, but nothing to set it against
RAISES = "raises"  # effects_table: the interval of the difference lies above 0
LOWERS = "lowers"  # ... below 0
# A target of studies.yml (mitolib.report.targets.target_check):
TARGET_MET = "met"
TARGET_MISSED = "missed"
TARGET_OVER_TIME = "missed on time"  # the mean is there, a run trained longer than the target allows
TARGET_NOT_JUDGED = "not judged yet"  # fewer seeds than the target is a mean over


def split_by_plan(runs: pd.DataFrame, planned: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(current, earlier)``: the rows of ``runs`` whose ``run_id`` is planned with the same parameters (the
    hash of the row's parameter columns, :func:`mitolib.core.identity.row_params_hash`; ``planned`` maps run id to
    hash), and all the others."""
    defaults = load_config()["defaults"]

    def text(key, value):
        """The value as ``runs.csv`` holds it: a text parameter that reads as a boolean (``jit_compile: "false"``)
        was written in lower case, which pandas turned into a bool."""
        if value is None or (isinstance(value, float) and value != value):
            return None
        if isinstance(value, (bool, np.bool_)) and isinstance(defaults.get(key), str):
            return "true" if value else "false"
        return str(value)

    recorded = pd.Series([row_params_hash({k: text(k, v) for k, v in row.items()}, defaults)
                          for row in runs.to_dict("records")], index=runs.index, dtype=object)
    hashes = runs["run_id"].map(planned)
    same = hashes.notna() & (hashes == recorded)
    return runs[same].copy(), runs[~same].copy()


def band_table(runs: pd.DataFrame, value: str, low: float, high: float, group: str = "variant") -> pd.DataFrame:
    """Per ``group``: ``runs``, ``inside`` (how many of its runs have ``value`` in ``[low, high]``), ``mean``,
    ``sd``, ``mean_inside`` and ``gap`` (how far the mean lies outside the band; 0 inside it); in the order the
    groups first appear."""
    rows = []
    for name in dict.fromkeys(runs[group]):
        stats = claims.band(runs.loc[runs[group] == name, value].astype(float), low, high)
        rows.append({group: name, "runs": stats["n"], "inside": stats["inside"], "mean": stats["mean"],
                     "sd": stats["sd"], "mean_inside": stats["mean_inside"],
                     "gap": max(low - stats["mean"], stats["mean"] - high, 0.0)})
    return pd.DataFrame(rows, columns=[group, "runs", "inside", "mean", "sd", "mean_inside", "gap"])


def nearest_to_band(table: pd.DataFrame) -> pd.Series | None:
    """The row of a :func:`band_table` whose mean lies nearest the band (``None`` for an empty table)."""
    return table.sort_values("gap", kind="stable").iloc[0] if len(table) else None


def effects_table(runs: pd.DataFrame, value: str, reference: str, group: str = "variant",
                  pair: str = "seed", margin: float | None = None) -> pd.DataFrame:
    """Each group's paired difference in ``value`` from ``reference``: the columns of :func:`claims.compare`
    with ``verdict`` ("raises"/"lowers" ``value`` where the interval excludes 0; :data:`claims.NO_EFFECT` where
    it lies inside ``margin``, by default the equivalence margin of studies.yml; :data:`claims.NOT_RESOLVED`
    otherwise; :data:`NO_INTERVAL` where one seed is paired), the reference dropped."""
    margin = claims.equivalence_margin() if margin is None else margin
    table = claims.compare(runs, value, group, reference=reference, pair=pair, higher=RAISES, lower=LOWERS,
                           margin=margin)
    table = table[table["group"] != reference].reset_index(drop=True)
    table.loc[table["pairs"] < 2, "verdict"] = NO_INTERVAL
    return table


def paying(effects: pd.DataFrame, primary: str, guarded: tuple[str, ...], lever: str = "lever") -> list[str]:
    """The levers that pay, sorted: ``effects`` holds one row per ``lever`` and ``value`` with its ``verdict`` (of
    :func:`effects_table`); a lever pays where it raises ``primary`` and lowers none of ``guarded``, the values
    for which higher is better. A value whose ideal lies between (a count's ratio to the truth) is no guard: a
    fall can be a gain there."""
    raised = set(effects.loc[(effects["value"] == primary) & (effects["verdict"] == RAISES), lever])
    lowered = set(effects.loc[effects["value"].isin(guarded) & (effects["verdict"] == LOWERS), lever])
    return sorted(raised - lowered)


def difference(row: pd.Series) -> claims.Difference:
    """The paired difference of one row of :func:`effects_table` (or :func:`claims.compare`), whose ``text()``
    is its table cell: ``+0.012 [-0.004, +0.028]``."""
    return claims.Difference(int(row["pairs"]), float(row["difference"]), float("nan"), float(row["low"]),
                             float(row["high"]))


def effect_cells(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (rows of :func:`effects_table`) with the table cells a page shows: ``interval`` (the paired
    difference with its interval) beside ``pairs`` and ``verdict``."""
    return table.assign(interval=[difference(row).text() for _, row in table.iterrows()])


def planned_hashes(plan: pd.DataFrame | None) -> dict[str, str]:
    """``{run_id: params_hash}`` of a recorded plan (``plan.csv`` of a collected study; empty without one)."""
    if plan is None:
        return {}
    return dict(zip(plan["run_id"].astype(str), plan["params_hash"].astype(str)))
