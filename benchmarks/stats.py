"""Summaries of repeated measurements and pair-by-pair ratios.

Configurations are measured in rounds (baseline, project, ..., then again), so the ``i``-th
measurement of every configuration was taken at about the same time.  A ratio is computed for each
round and the ratios are summarised (median, min, max): drift of the machine between rounds then
cancels instead of widening the spread, unlike a ratio of medians.
"""

from __future__ import annotations

import math
import statistics
from typing import Sequence


def spread(values: Sequence[float]) -> dict:
    """``{"median", "min", "max", "n"}`` of the finite ``values`` (NaN for each when there are none)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "n": 0}
    return {"median": statistics.median(finite), "min": min(finite), "max": max(finite), "n": len(finite)}


def paired_ratios(numerators: Sequence[float | None], denominators: Sequence[float | None]) -> list[float]:
    """``numerators[i] / denominators[i]`` for every round ``i`` where both are finite and the denominator
    is not zero.  The sequences are aligned by round and must have the same length."""
    if len(numerators) != len(denominators):
        raise ValueError(f"pairs need as many numerators as denominators, got {len(numerators)} and "
                         f"{len(denominators)}")
    ratios = []
    for top, bottom in zip(numerators, denominators):
        if top is None or bottom is None or not (math.isfinite(top) and math.isfinite(bottom)) or bottom == 0:
            continue
        ratios.append(top / bottom)
    return ratios


def ratio_summary(numerators: Sequence[float | None], denominators: Sequence[float | None]) -> dict:
    """Median, min, max and count of the pair-by-pair ratios (see :func:`paired_ratios`)."""
    return spread(paired_ratios(numerators, denominators))
