"""The one rule for claims: mean ± sd over seeds, paired differences with a 95 % interval, resolved or not.

Every page that compares (architectures, recipe levers, ablation variants, hyperparameters, TTA, CPU
against GPU) calls :func:`compare`: it pairs runs by seed (the same seeds for every variant), takes the
difference of each pair, and gives the mean difference with a Student-t interval over the pairs.  A
difference is *resolved* only when that interval excludes zero; otherwise the page says "not resolved at
this budget" and ranks nothing.  :func:`band` counts the runs inside a band of values (the original
report's 0.07–0.09).  :func:`still_improving` marks the runs whose number is not yet a result: their best
epoch was their last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
# The verdict words of every comparison, one closed vocabulary: an order only when the interval excludes zero,
# "no effect" only when it lies inside the stated equivalence margin (studies.yml's `claims`), else not resolved.
NOT_RESOLVED = "not resolved"
NO_EFFECT = "no effect"
COMPARISON_COLUMNS = ["group", "reference", "n", "mean", "sd", "pairs", "difference", "low", "high", "resolved",
                      "verdict"]


def still_improving(runs: pd.DataFrame) -> pd.Series:
    """Per run of ``runs`` (a runs table): whether its best epoch was its last, so it was still improving when
    training stopped and its number is not a converged result."""
    return runs["best_epoch"] == runs["epochs_run"]


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation of ``n`` values (``sd`` is NaN for one value)."""

    n: int
    mean: float
    sd: float

    def text(self, digits: int = 3) -> str:
        """``0.812 ± 0.013`` (``0.812`` alone for one value, ``n/a`` for none)."""
        if self.n == 0:
            return "n/a"
        if self.n == 1 or math.isnan(self.sd):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.sd:.{digits}f}"


@dataclass(frozen=True)
class Difference:
    """The mean of ``pairs`` paired differences (group minus reference) with its ``confidence`` interval."""

    pairs: int
    mean: float
    sd: float
    low: float
    high: float
    confidence: float = CONFIDENCE

    @property
    def resolved(self) -> bool:
        """True when the interval excludes zero (needs at least two pairs)."""
        return self.pairs >= 2 and (self.low > 0 or self.high < 0)

    def text(self, digits: int = 3) -> str:
        """``+0.021 [+0.004, +0.038]`` (``+0.021 (one pair)`` when no interval exists)."""
        if self.pairs == 0:
            return "no pairs"
        if self.pairs == 1:
            return f"{self.mean:+.{digits}f} (one pair, no interval)"
        return f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"

    def equivalent(self, margin: float | None) -> bool:
        """True when the whole interval lies inside ``(-margin, +margin)`` (needs at least two pairs)."""
        return margin is not None and self.pairs >= 2 and -margin < self.low and self.high < margin

    def verdict(self, higher: str = "higher", lower: str = "lower", margin: float | None = None) -> str:
        """``higher`` / ``lower`` when resolved; :data:`NO_EFFECT` when the interval lies inside ``margin``;
        else :data:`NOT_RESOLVED`."""
        if self.resolved:
            return higher if self.mean > 0 else lower
        return NO_EFFECT if self.equivalent(margin) else NOT_RESOLVED


def summarize(values: Iterable[float]) -> Summary:
    """:class:`Summary` of the finite ``values``."""
    array = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if array.size == 0:
        return Summary(0, math.nan, math.nan)
    return Summary(int(array.size), float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else math.nan)


def paired_difference(group: Mapping, reference: Mapping, confidence: float = CONFIDENCE) -> Difference:
    """Paired difference of two ``{seed: value}`` mappings over the seeds both have (finite values only).

    The interval is ``mean ± t(1 - (1 - confidence) / 2, pairs - 1) * sd / sqrt(pairs)``.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    seeds = sorted(set(group) & set(reference), key=str)
    diffs = np.asarray([group[s] - reference[s] for s in seeds
                        if np.isfinite(group[s]) and np.isfinite(reference[s])], dtype=float)
    if diffs.size == 0:
        return Difference(0, math.nan, math.nan, math.nan, math.nan, confidence)
    mean = float(diffs.mean())
    if diffs.size == 1:
        return Difference(1, mean, math.nan, math.nan, math.nan, confidence)
    sd = float(diffs.std(ddof=1))
    half = float(stats.t.ppf(1 - (1 - confidence) / 2, diffs.size - 1)) * sd / math.sqrt(diffs.size)
    return Difference(int(diffs.size), mean, sd, mean - half, mean + half, confidence)


def _by_pair(table: pd.DataFrame, group_column: str, group, value: str, pair: str) -> dict:
    rows = table[table[group_column] == group]
    if rows[pair].duplicated().any():
        raise ValueError(f"{group_column} {group!r} has more than one run for a {pair}: "
                         f"{sorted(rows.loc[rows[pair].duplicated(), pair].tolist())}")
    return dict(zip(rows[pair], rows[value].astype(float)))


def equivalence_margin(config: Mapping | None = None) -> float:
    """The practical-equivalence margin of studies.yml (``claims: {equivalence_margin: ...}``): the largest
    difference in IoU that counts as no effect when a whole paired interval lies inside it."""
    from mitolib.core.config import load_config
    from mitolib.core.errors import ConfigError

    section = (config if config is not None else load_config()).get("claims") or {}
    margin = section.get("equivalence_margin")
    if not isinstance(margin, (int, float)) or isinstance(margin, bool) or not 0 < margin < 1:
        raise ConfigError(f"studies.yml: claims.equivalence_margin must be a number between 0 and 1, got {margin!r}")
    return float(margin)


def compare(table: pd.DataFrame, value: str, group: str, *, reference=None, pair: str = "seed",
            confidence: float = CONFIDENCE, higher: str = "higher", lower: str = "lower",
            margin: float | None = None) -> pd.DataFrame:
    """Each ``group`` of ``table`` against ``reference`` (another group), paired on ``pair``.

    ``table`` has one row per run with columns ``group``, ``pair`` and ``value``.  Without ``reference`` every
    group is compared with the group that follows it in the table's order of first appearance (for an order
    claim).  Returns one row per group (:data:`COMPARISON_COLUMNS`): ``n``, ``mean``, ``sd`` of its values, and,
    against its reference, the number of pairs, the mean paired difference, its interval (``low``, ``high``),
    ``resolved`` and ``verdict`` (``higher``/``lower`` or :data:`NOT_RESOLVED`; empty for the reference).
    """
    missing = [c for c in (value, group, pair) if c not in table.columns]
    if missing:
        raise ValueError(f"the table has no column(s) {', '.join(missing)}")
    groups = list(dict.fromkeys(table[group]))
    if reference is not None and reference not in groups:
        raise ValueError(f"reference {reference!r} is not a {group} of the table: {', '.join(map(str, groups))}")
    rows = []
    for index, name in enumerate(groups):
        summary = summarize(table.loc[table[group] == name, value].astype(float))
        against = reference if reference is not None else (groups[index + 1] if index + 1 < len(groups) else None)
        row = {"group": name, "reference": against if against != name else None, "n": summary.n,
               "mean": summary.mean, "sd": summary.sd, "pairs": 0, "difference": math.nan, "low": math.nan,
               "high": math.nan, "resolved": False, "verdict": ""}
        if row["reference"] is not None:
            diff = paired_difference(_by_pair(table, group, name, value, pair),
                                     _by_pair(table, group, against, value, pair), confidence)
            row.update(pairs=diff.pairs, difference=diff.mean, low=diff.low, high=diff.high,
                       resolved=diff.resolved, verdict=diff.verdict(higher, lower, margin))
        rows.append(row)
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def resolved_order(table: pd.DataFrame, value: str, group: str, *, pair: str = "seed",
                   confidence: float = CONFIDENCE) -> list[list]:
    """Groups sorted by mean ``value`` (highest first) and cut into tiers: a new tier starts only where the
    paired difference to the previous group is resolved.  ``[[a], [b, c]]`` reads "a above b and c; b and c
    not resolved from each other"; one tier means no order can be claimed."""
    means = table.groupby(group, sort=False)[value].mean().sort_values(ascending=False, kind="stable")
    tiers: list[list] = []
    for name in means.index:
        if tiers:
            previous = tiers[-1][-1]
            diff = paired_difference(_by_pair(table, group, previous, value, pair),
                                     _by_pair(table, group, name, value, pair), confidence)
            if not diff.resolved:
                tiers[-1].append(name)
                continue
        tiers.append([name])
    return tiers


def contradictions(ranking: Sequence, tiers: list[list]) -> list[tuple]:
    """The resolved pairs of :func:`resolved_order`'s ``tiers`` that ``ranking`` (names, highest first: for
    example another budget's unresolved values) puts the other way round, as ``(above, below)`` by ``tiers``.
    Names missing from either side are left out; an empty list means the ranking agrees with every order that
    ``tiers`` resolves."""
    place = {name: i for i, name in enumerate(ranking)}
    tier_of = {name: i for i, tier in enumerate(tiers) for name in tier}
    return [(high, low) for high in tier_of for low in tier_of
            if tier_of[high] < tier_of[low] and high in place and low in place and place[high] > place[low]]


def band(values: Iterable[float], low: float, high: float) -> dict:
    """How ``values`` sit in the band ``[low, high]``: ``n``, ``inside`` (count), ``mean``, ``sd`` and
    ``mean_inside`` (whether the mean falls in the band)."""
    if low > high:
        raise ValueError(f"band low {low} is above high {high}")
    array = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    summary = summarize(array)
    return {"n": summary.n, "inside": int(((array >= low) & (array <= high)).sum()), "mean": summary.mean,
            "sd": summary.sd, "mean_inside": bool(summary.n and low <= summary.mean <= high)}
