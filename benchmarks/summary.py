"""From task results to summary rows: per configuration medians, pairwise ratios, FLOP rates.

Input rows are the training (or evaluation) task specs merged with their results: each has
``width``, ``architecture``, ``variant`` and ``round`` (training) or ``tta`` and ``round``
(evaluation), ``ok``, and the measurements of :mod:`benchmarks.training` / :mod:`benchmarks.evaluation`.
"""

from __future__ import annotations

import math

from benchmarks.plan import BASELINE, MIXED_DTYPE, PEAK_DTYPE, PROJECT, VARIANTS
from benchmarks.stats import ratio_summary, spread


def best_peaks(peaks: list[dict]) -> dict[str, float]:
    """``{dtype: best FLOP/s}`` over every successful peak measurement (start and end of the run)."""
    best = {}
    for peak in peaks:
        if peak.get("ok"):
            best[peak["dtype"]] = max(best.get(peak["dtype"], 0.0), peak["flops_per_second"])
    return best


def _by_round(rows: list[dict], key: str) -> dict[int, float | None]:
    return {row["round"]: (row.get(key) if row.get("ok") else None) for row in rows}


def _aligned(numerator: dict, denominator: dict) -> tuple[list, list]:
    rounds = sorted(set(numerator) & set(denominator))
    return [numerator[r] for r in rounds], [denominator[r] for r in rounds]


def _flat(prefix: str, stats: dict) -> dict:
    return {f"{prefix}_{name}": value for name, value in stats.items()}


def _compute_dtype(policy: str | None) -> str:
    return MIXED_DTYPE.get(policy or "", PEAK_DTYPE)


def _title(variant: str, task: dict) -> str:
    threads = task.get("threads")
    suffix = f" (intra-op {threads[0]}, inter-op {threads[1]})" if threads else ""
    return VARIANTS[variant].title + suffix


def summarize_training(rows: list[dict], peaks: dict[str, float]) -> list[dict]:
    """One flat row per (width, architecture, variant) in measuring order.

    ``speed_ratio_*`` summarises images/s of the variant / images/s of the baseline,
    ``memory_ratio_*`` peak RSS of the variant / of the baseline, and, for the options on top of the
    project pipeline, ``option_ratio_*`` images/s of the option / of the plain project pipeline, all
    round by round.
    ``percent_of_peak`` relates the median achieved FLOP/s to the best matrix-product FLOP/s of the
    configuration's compute dtype (float32, or the mixed policy's dtype where that was measured).
    """
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["width"], row["architecture"], row["variant"]), []).append(row)
    out = []
    for (width, architecture, variant), members in groups.items():
        good = [row for row in members if row.get("ok")]
        speed = _by_round(members, "images_per_second")
        rss = _by_round(members, "peak_rss_bytes")
        baseline = groups.get((width, architecture, BASELINE), [])
        project = groups.get((width, architecture, PROJECT), [])
        achieved = spread([row["achieved_flops_per_second"] for row in good])["median"]
        policy = good[0]["policy"] if good else None
        peak = peaks.get(_compute_dtype(policy)) or peaks.get(PEAK_DTYPE)
        summary = {
            "width": width, "architecture": architecture, "variant": variant,
            "configuration": _title(variant, members[0]), "base_filters": members[0]["params"]["base_filters"],
            "policy": policy, "measured": len(good), "failed": len(members) - len(good),
            **_flat("images_per_second", spread(speed.values())),
            "pixels_per_second_median": spread([row["pixels_per_second"] for row in good])["median"],
            "peak_rss_bytes_median": spread(rss.values())["median"],
            "peak_gpu_bytes_median": spread([row["peak_gpu_bytes"] for row in good
                                             if row.get("peak_gpu_bytes") is not None])["median"],
            "data_bytes": good[0]["data_bytes"] if good else None,
            "training_flops_per_image": good[0]["training_flops_per_image"] if good else None,
            "achieved_flops_per_second_median": achieved,
            "percent_of_peak": 100 * achieved / peak if peak and math.isfinite(achieved) else math.nan,
        }
        if variant != BASELINE and baseline:
            summary.update(_flat("speed_ratio", ratio_summary(*_aligned(speed, _by_round(baseline, "images_per_second")))))
            summary.update(_flat("memory_ratio", ratio_summary(*_aligned(rss, _by_round(baseline, "peak_rss_bytes")))))
        if variant not in (BASELINE, PROJECT) and project:
            summary.update(_flat("option_ratio", ratio_summary(*_aligned(speed, _by_round(project, "images_per_second")))))
        out.append(summary)
    return out


def summarize_evaluation(rows: list[dict]) -> list[dict]:
    """One row per TTA setting: seconds (median, min, max), slices/s, peak RSS, and for TTA the pairwise
    time ratio to the run without it (``tta_time_ratio_*``)."""
    groups: dict[bool, list[dict]] = {}
    for row in rows:
        groups.setdefault(bool(row["tta"]), []).append(row)
    out = []
    for tta in sorted(groups):
        members = groups[tta]
        good = [row for row in members if row.get("ok")]
        seconds = _by_round(members, "seconds")
        summary = {"tta": tta, "measured": len(good), "failed": len(members) - len(good),
                   "volume_shape": good[0]["volume_shape"] if good else None,
                   **_flat("seconds", spread(seconds.values())),
                   "slices_per_second_median": spread([row["slices_per_second"] for row in good])["median"],
                   "peak_rss_bytes_median": spread([row["peak_rss_bytes"] for row in good])["median"]}
        if tta and False in groups:
            summary.update(_flat("tta_time_ratio", ratio_summary(*_aligned(seconds, _by_round(groups[False],
                                                                                               "seconds")))))
        out.append(summary)
    return out
