"""Figure functions for the book and the notebooks.

Every function takes tidy ``pandas.DataFrame`` s (or arrays, for images) and an optional
Matplotlib ``ax`` (or ``axes``), draws without a title (captions live in the book's
MyST), and returns the ``Figure``.  Colours follow the Okabe-Ito palette, which stays
distinct for colour-blind readers.
"""

from __future__ import annotations

import textwrap
from typing import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from mitolib.core.rundir import STATUS_DONE

LINESTYLES = ("-", "--", "-.", ":")
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
LABEL_WIDTH = 34  # characters per line of a wrapped row label
SHORT_BAR = 0.03  # bars shorter than this (on a 0-1 axis) carry their value as text


def colours(keys: Sequence) -> dict:
    """A stable colour per key, in order (Okabe-Ito up to eight keys, else tab20)."""
    keys = list(keys)
    if len(keys) <= len(OKABE_ITO):
        return {key: OKABE_ITO[i] for i, key in enumerate(keys)}
    cmap = plt.get_cmap("tab20")
    return {key: cmap(i % cmap.N) for i, key in enumerate(keys)}


def _axes(ax=None, ncols: int = 1, nrows: int = 1, size=(4.2, 3.2), **kwargs):
    """The figure and a flat list of axes: the given ones, or new ones."""
    if ax is None:
        fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows),
                                 squeeze=False, layout="constrained", **kwargs)
        return fig, list(axes.ravel())
    axes = list(np.ravel(ax))
    return axes[0].figure, axes


def _label(labels: Mapping | None, key) -> str:
    return str((labels or {}).get(key, key))


def metric_lines(frame: pd.DataFrame, x: str, *, y: str = "value", hue: str = "metric",
                 labels: Mapping | None = None, xlabel: str | None = None, ylabel: str = "value",
                 logx: bool = False, reference: float | None = None, band: tuple[float, float] | None = None,
                 band_label: str = "", diagonal: bool = False, ax=None):
    """One line (with markers) per ``hue`` value of ``y`` against ``x``.

    ``reference`` draws a dotted horizontal line, ``band`` shades a horizontal range
    (e.g. values quoted from a report) and ``diagonal`` draws ``y = x``.
    """
    fig, (ax,) = _axes(ax)
    if band is not None:
        ax.axhspan(*band, color="#999999", alpha=0.3, lw=0, label=band_label or None)
    if diagonal:
        ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    keys = list(dict.fromkeys(frame[hue]))
    palette = colours(keys)
    for i, key in enumerate(keys):
        part = frame[frame[hue] == key].sort_values(x)
        ax.plot(part[x], part[y], marker="o", ms=4, color=palette[key], ls=LINESTYLES[i % len(LINESTYLES)],
                label=_label(labels, key))
    if reference is not None:
        ax.axhline(reference, color="grey", ls=":", lw=1)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel or x.replace("_", " "))
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize="small")
    return fig



def ablation_bars(frame: pd.DataFrame, *, order: Sequence[str] | None = None, metrics: Sequence[str] | None = None,
                  labels: Mapping | None = None, band: tuple[float, float] | None = None,
                  band_label: str = "", ax=None):
    """Horizontal grouped bars: one group per ``variant``, one bar per ``metric`` (column ``value``).

    ``band`` shades a range of values (e.g. the original report's) across the plot.
    When a variant has several runs, the bar is their mean and the dots the runs.
    """
    order = list(order or dict.fromkeys(frame["variant"]))
    metrics = list(metrics or dict.fromkeys(frame["metric"]))
    fig, (ax,) = _axes(ax, size=(6.4, 0.45 * len(order) * max(1, len(metrics) / 2) + 1.2))
    palette = colours(metrics)
    height = 0.8 / len(metrics)
    if band is not None:
        ax.axvspan(*band, color="#999999", alpha=0.3, lw=0, label=band_label or None)
    for j, metric in enumerate(metrics):
        part = frame[frame["metric"] == metric]
        for i, variant in enumerate(order):
            values = part.loc[part["variant"] == variant, "value"].dropna()
            y = i + (j - (len(metrics) - 1) / 2) * height
            if len(values):
                ax.barh(y, values.mean(), height=height, color=palette[metric],
                        label=_label(labels, metric) if i == 0 else None)
                if len(values) > 1:
                    ax.plot(values, [y] * len(values), "k.", ms=3)
                if values.mean() < SHORT_BAR:  # a bar too short to see: say its value
                    ax.text(values.mean() + 0.005, y, f"{values.mean():.3f}", va="center", fontsize="x-small")
            else:
                ax.text(0.005, y, "failed", va="center", fontsize="x-small")
    ax.set_yticks(range(len(order)), [_label(labels, v) for v in order])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("value at the best epoch")
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    return fig


def heatmaps(runs: pd.DataFrame, *, value: str = "best_val_iou", row: str = "batch_size",
             col: str = "learning_rate", by: str = "architecture", labels: Mapping | None = None,
             fmt: str = ".2f", vmin: float | None = None, vmax: float | None = None, axes=None):
    """One annotated heatmap of ``value`` over ``row`` x ``col`` per ``by`` group, on a shared
    colour scale.  Cells whose run failed (``status`` not ``done``) show a cross."""
    groups = list(dict.fromkeys(runs[by]))
    fig, axes = _axes(axes, ncols=len(groups), size=(3.6, 3.0))
    rows, cols = sorted(runs[row].unique()), sorted(runs[col].unique())
    done = runs[runs["status"] == STATUS_DONE]
    vmin = done[value].min() if vmin is None else vmin
    vmax = done[value].max() if vmax is None else vmax
    image = None
    for ax, group in zip(axes, groups):
        part = runs[runs[by] == group]
        grid = np.full((len(rows), len(cols)), np.nan)
        for _, r in part.iterrows():
            i, j = rows.index(r[row]), cols.index(r[col])
            if r["status"] == STATUS_DONE:
                grid[i, j] = r[value]
            else:
                ax.plot(j, i, "x", color="#D55E00", ms=12, mew=2)
        image = ax.imshow(grid, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                light = (v - vmin) / ((vmax - vmin) or 1) < 0.6
                ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize="small",
                        color="white" if light else "black")
        ax.set_xticks(range(len(cols)), [f"{c:g}" for c in cols], rotation=45)
        ax.set_yticks(range(len(rows)), [f"{r:g}" for r in rows])
        ax.set_xlabel(f"{col.replace('_', ' ')}\n{_label(labels, group)}")
        ax.set_ylabel(row.replace("_", " "))
    fig.colorbar(image, ax=axes, shrink=0.8, label=_label(labels, value))
    return fig


def dot_plot(frame: pd.DataFrame, *, x: str, y: str, hue: str | None = None, labels: Mapping | None = None,
             xlabel: str | None = None, ylabel: str | None = None, order: Sequence | None = None, logx: bool = False,
             jitter: float = 0.08, ax=None):
    """Runs as dots of ``y`` at categorical or numeric ``x``, coloured by ``hue``, with the
    group mean as a short bar (e.g. best epoch per learning rate and architecture)."""
    fig, (ax,) = _axes(ax)
    keys = list(dict.fromkeys(frame[hue])) if hue else [None]
    palette = colours(keys)
    cats = list(order or sorted(frame[x].unique()))
    positions = {c: i for i, c in enumerate(cats)}
    width = 0.7 / len(keys)
    for k, key in enumerate(keys):
        part = frame if key is None else frame[frame[hue] == key]
        offset = (k - (len(keys) - 1) / 2) * width
        for cat, cat_part in part.groupby(x):
            base = positions[cat] + offset
            vals = cat_part[y].dropna()
            spread = np.linspace(-jitter, jitter, len(vals)) if len(vals) > 1 else [0.0]
            ax.plot(base + np.asarray(spread) * width, vals, "o", ms=4, color=palette[key], alpha=0.8)
            if len(vals):
                ax.plot([base - width / 2.5, base + width / 2.5], [vals.mean()] * 2, color=palette[key], lw=2)
        if key is not None:
            ax.plot([], [], "o", color=palette[key], label=_label(labels, key))
    names = [f"{c:g}" if isinstance(c, (int, float, np.number)) else _label(labels, c) for c in cats]
    ax.set_xticks(range(len(cats)), [name.replace(" ", "\n", 1) if len(name) > 10 else name for name in names])
    values = frame[y].dropna()
    if len(values) and np.allclose(values, np.round(values)):  # counts such as epochs: whole-number ticks
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel(xlabel or x.replace("_", " "))
    ax.set_ylabel(ylabel or y.replace("_", " "))
    if hue:
        ax.legend(frameon=False, fontsize="small")
    return fig


def score_summary(ours: pd.DataFrame, published: pd.DataFrame | None = None, *, value: str = "test_iou",
                  by: str = "architecture", labels: Mapping | None = None, xlabel: str = "foreground IoU",
                  ax=None):
    """Rows of scores: ours (a dot per run, mean and ± one standard deviation per ``by``) and
    published figures (``label, value`` columns; one diamond each, in grey, below a rule)."""
    groups = list(dict.fromkeys(ours[by]))
    n_pub = 0 if published is None else len(published)
    fig, (ax,) = _axes(ax, size=(7.0, 0.5 * (len(groups) + n_pub) + 1.2))
    palette = colours(groups)
    ticks = []
    for i, group in enumerate(groups):
        vals = ours.loc[ours[by] == group, value].dropna()
        ax.plot(vals, [i] * len(vals), "o", color=palette[group], alpha=0.6, ms=5)
        if len(vals) > 1:
            ax.errorbar(vals.mean(), i, xerr=vals.std(ddof=1), fmt="|", color="black", ms=14, capsize=4)
        elif len(vals):
            ax.plot(vals.mean(), i, "|", color="black", ms=14)
        ticks.append(_label(labels, group))
    if n_pub:
        ax.axhline(len(groups) - 0.5, color="grey", lw=0.8)
        for k, (_, r) in enumerate(published.iterrows()):
            ax.plot(r["value"], len(groups) + k, "D", color="#666666", ms=5)
            ticks.append(str(r["label"]))
    ax.set_yticks(range(len(ticks)), [textwrap.fill(t, LABEL_WIDTH) for t in ticks], fontsize="small")
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=4))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.2f"))
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.set_xlabel(xlabel)
    return fig


def slice_scores(slices: pd.DataFrame, *, value: str = "iou", hue: str = "architecture",
                 labels: Mapping | None = None, ax=None):
    """Per-slice ``value`` along the test volume: the mean over runs per ``hue`` value,
    with the range over runs shaded."""
    fig, (ax,) = _axes(ax, size=(6.4, 3.0))
    keys = list(dict.fromkeys(slices[hue]))
    palette = colours(keys)
    for key in keys:
        stats = slices[slices[hue] == key].groupby("slice")[value].agg(["mean", "min", "max"])
        ax.plot(stats.index, stats["mean"], color=palette[key], lw=1.2, label=_label(labels, key))
        ax.fill_between(stats.index, stats["min"], stats["max"], color=palette[key], alpha=0.2, lw=0)
    ax.set_xlabel("test slice")
    ax.set_ylabel({"iou": "slice IoU", "dice": "slice Dice"}.get(value, f"slice {value}"))
    ax.legend(frameon=False, fontsize="small")
    return fig


def histogram(frame: pd.DataFrame, *, value: str, hue: str | None = None, bins: int = 30,
              labels: Mapping | None = None, xlabel: str | None = None, ax=None):
    """Overlaid step histograms of ``value``, one per ``hue`` value (exploration)."""
    fig, (ax,) = _axes(ax)
    keys = list(dict.fromkeys(frame[hue])) if hue else [None]
    palette = colours(keys)
    edges = np.histogram_bin_edges(frame[value].dropna(), bins=bins)
    for key in keys:
        part = frame if key is None else frame[frame[hue] == key]
        ax.hist(part[value].dropna(), bins=edges, histtype="step", lw=1.5, color=palette[key],
                label=None if key is None else _label(labels, key))
    ax.set_xlabel(xlabel or value.replace("_", " "))
    ax.set_ylabel("count")
    if hue:
        ax.legend(frameon=False, fontsize="small")
    return fig


def paired_intervals(table: pd.DataFrame, *, label: str = "group", xlabel: str = "difference", ax=None):
    """One row per comparison of :func:`mitolib.core.claims.compare`-like ``table`` (``difference``, ``low``, ``high``,
    ``resolved``, and ``label``): the mean paired difference as a dot with its interval as a bar, filled where
    resolved and open where the interval contains zero; a vertical line at zero."""
    rows = table[np.isfinite(table["difference"].astype(float))].reset_index(drop=True)  # measured rows only
    fig, (ax,) = _axes(ax, size=(7.0, 0.5 * max(3, len(rows)) + 1.2))
    for y, row in rows.iterrows():
        colour = OKABE_ITO[0] if row["resolved"] else "#777777"
        if np.isfinite(row["low"]):
            ax.plot([row["low"], row["high"]], [y, y], color=colour, lw=2)
        ax.plot(row["difference"], y, "o", color=colour, mfc=colour if row["resolved"] else "white", ms=7)
    ax.axvline(0, color="#333333", lw=0.8)
    # long labels wrapped, so the axis keeps most of the width and its ticks never run into each other
    ax.set_yticks(range(len(rows)), [textwrap.fill(str(v), LABEL_WIDTH) for v in rows[label]], fontsize="small")
    ax.invert_yaxis()
    reach = float(np.nanmax(np.abs(rows[["low", "high", "difference"]].astype(float).to_numpy()))) if len(rows) else 1
    ax.set_xlim(-1.1 * reach, 1.1 * reach)  # symmetric about zero
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=5, symmetric=True))
    ax.set_xlabel(xlabel)
    ax.plot([], [], "o", color=OKABE_ITO[0], label="resolved (interval excludes 0)")
    ax.plot([], [], "o", color="#777777", mfc="white", label="not resolved")
    fig.legend(fontsize="x-small", frameon=False, loc="outside lower center", ncols=2)
    return fig


def speed_ratios(summary: pd.DataFrame, *, labels: Mapping | None = None, target: float | None = None):
    """Training images/s relative to the original pipeline, one panel per model width: a dot per architecture and
    configuration at the median ratio, a bar over its range (min–max over rounds), a line at 1 (as fast as the
    original) and, with ``target``, a dotted line there.  ``summary`` has ``width, architecture, variant,
    speed_ratio_median, speed_ratio_min, speed_ratio_max``; the baseline rows (ratio 1 by definition) are left out."""
    rows = summary.dropna(subset=["speed_ratio_median"])
    widths = list(dict.fromkeys(rows["width"]))
    variants = list(dict.fromkeys(rows["variant"]))
    architectures = list(dict.fromkeys(rows["architecture"]))
    palette = colours(architectures)
    fig, axes = plt.subplots(1, len(widths), figsize=(3.2 * len(widths) + 2.6, 0.5 * len(variants) * 1.6 + 1.2),
                             squeeze=False, sharey=True, sharex=True, layout="constrained")
    for p, (ax, width) in enumerate(zip(axes[0], widths)):
        for a, arch in enumerate(architectures):
            part = rows[(rows["width"] == width) & (rows["architecture"] == arch)]
            for _, row in part.iterrows():
                y = variants.index(row["variant"]) + (a - (len(architectures) - 1) / 2) * 0.22
                ax.plot([row["speed_ratio_min"], row["speed_ratio_max"]], [y, y], color=palette[arch], lw=2)
                ax.plot(row["speed_ratio_median"], y, "o", color=palette[arch],
                        label=_label(labels, arch) if p == 0 and row["variant"] == variants[0] else None)
        ax.axvline(1.0, color="#333333", lw=0.8)
        if target:
            ax.axvline(target, color="#333333", lw=0.8, ls=":")
        ax.set_yticks(range(len(variants)), [textwrap.fill(_label(labels, v), LABEL_WIDTH) for v in variants],
                      fontsize="small")
        ax.invert_yaxis()
        ax.set_title(f"({chr(ord('a') + p)}) {width} width", fontsize="small", loc="left")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=4))
    fig.supxlabel("training images/s relative to the original pipeline", fontsize="medium")  # once, not per panel
    fig.legend(loc="outside upper center", ncols=len(architectures), frameon=False, fontsize="small")
    return fig
