"""Figures of training histories: curves by group, one panel per variant, a reproduction against reported
values, logged curves beside reproduced ones.

Like :mod:`mitolib.figures.plots` (whose palette and axes helper they share): tidy ``history`` frames (``run_id, epoch,
metric, split, value`` joined with run parameters) in, no title (captions live in the book's MyST), the
``Figure`` returned.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker
import pandas as pd

from mitolib.figures.plots import OKABE_ITO, _axes, _label, colours


def variant_panels(history: pd.DataFrame, *, reference: str, variants: Sequence[str], metric: str = "iou",
                   split: str = "val", group: str = "variant", labels: Mapping | None = None,
                   ylabel: str = "validation IoU", ncols: int = 4, axes=None):
    """Small multiples: one panel per variant, its runs' ``metric`` curves (one line per ``run_id``) in colour
    against the ``reference`` variant's runs in grey, panels lettered (a), (b), ...; shared axes.

    ``history`` is long (``run_id``, ``epoch``, ``metric``, ``split``, ``value``, ``group``)."""
    rows = history[(history["metric"] == metric) & (history["split"] == split)]
    variants = [v for v in variants if v != reference]
    nrows = max(1, -(-len(variants) // ncols))
    fig, axes = _axes(axes, ncols=min(ncols, max(1, len(variants))), nrows=nrows, size=(2.6, 2.1),
                      sharex=True, sharey=True)
    for index, (ax, variant) in enumerate(zip(axes, variants)):
        for name, colour, width in ((reference, "#999999", 1.0), (variant, OKABE_ITO[0], 1.4)):
            for _, run in rows[rows[group] == name].groupby("run_id"):
                run = run.sort_values("epoch")
                ax.plot(run["epoch"], run["value"], color=colour, lw=width)
        ax.set_title(f"({chr(ord('a') + index)}) {_label(labels, variant)}", fontsize="small", loc="left")
        if index % ncols == 0:
            ax.set_ylabel(ylabel)
        if index >= len(variants) - ncols:
            ax.set_xlabel("epoch")
    for ax in axes[len(variants):]:
        ax.set_visible(False)
    if variants:
        axes[0].plot([], [], color="#999999", label=_label(labels, reference))
        axes[0].plot([], [], color=OKABE_ITO[0], label="the variant")
        axes[0].legend(fontsize="x-small", frameon=False)
    return fig


def reproduction_curves(history: pd.DataFrame, *, reported: Sequence[float], reported_label: str,
                        metrics: Mapping[str, str], split: str = "val", ax=None):
    """The reproduction's validation curves of several metrics on one axis (one line per run and metric,
    ``metrics`` maps a metric to its label), with the ``reported`` values drawn as dotted horizontal lines."""
    fig, (ax,) = _axes(ax, size=(5.2, 3.4))
    palette = colours(list(metrics))
    for metric, label in metrics.items():
        rows = history[(history["metric"] == metric) & (history["split"] == split)]
        for index, (_, run) in enumerate(rows.groupby("run_id")):
            run = run.sort_values("epoch")
            ax.plot(run["epoch"], run["value"], color=palette[metric], marker="o", ms=3,
                    label=label if index == 0 else None)
    for index, value in enumerate(reported):
        ax.axhline(value, color="#444444", ls=":", lw=1, label=reported_label if index == 0 else None)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("validation value")
    ax.set_ylim(0, 1)
    ax.legend(fontsize="small", frameon=False)
    return fig


def curves_by_group(history: pd.DataFrame, *, metrics: Sequence[str], group: str = "architecture",
                    split: str = "val", compare: str | None = "train", labels: Mapping | None = None,
                    best_epochs: pd.DataFrame | None = None, order: Sequence | None = None):
    """Small multiples: one row per metric, one column per ``group`` value; in each panel a line per run (seed),
    ``split`` solid and ``compare`` dashed, open circles at each run's best epoch; shared axes per row, panels
    lettered (a), (b), ... so seeds of one group are not hidden under another's."""
    groups = list(order or dict.fromkeys(history[group]))
    fig, axes = plt.subplots(len(metrics), len(groups), figsize=(3.0 * len(groups), 2.3 * len(metrics)),
                             squeeze=False, sharex=True, sharey="row", layout="constrained")
    palette = colours(groups)
    best = dict(zip(best_epochs["run_id"], best_epochs["best_epoch"])) if best_epochs is not None else {}
    letter = iter("abcdefghijklmnopqrstuvwxyz")
    for r, metric in enumerate(metrics):
        for c, name in enumerate(groups):
            ax = axes[r][c]
            rows = history[(history[group] == name) & (history["metric"] == metric)]
            for which, style in ((compare, "--"), (split, "-")):
                if which is None:
                    continue
                part = rows[rows["split"].isin([which, ""] if which == split else [which])]
                for run, run_part in part.groupby("run_id"):
                    run_part = run_part.sort_values("epoch")
                    ax.plot(run_part["epoch"], run_part["value"], color=palette[name], ls=style,
                            lw=1.2 if style == "-" else 0.8, alpha=0.9 if style == "-" else 0.5)
                    if style == "-" and run in best:
                        at = run_part[run_part["epoch"] == best[run]]
                        ax.plot(at["epoch"], at["value"], "o", mfc="white", color=palette[name], ms=4)
            ax.set_title(f"({next(letter)}) {_label(labels, name)}" if r == 0 else f"({next(letter)})",
                         fontsize="small", loc="left")
            if c == 0:
                ax.set_ylabel(_label(labels, metric).replace(" (", "\n("), fontsize="small")
            if r == len(metrics) - 1:
                ax.set_xlabel("epoch")
                ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    handles = [plt.Line2D([], [], color="grey", label=split)]
    if compare is not None:
        handles.append(plt.Line2D([], [], color="grey", ls="--", label=compare))
    handles.append(plt.Line2D([], [], color="grey", marker="o", mfc="white", ls="", label="best epoch"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False, fontsize="small")
    return fig


def logged_beside_reproduced(curves: pd.DataFrame, *, metrics: Sequence[str], columns: Sequence[str],
                             sources: Sequence[str], labels: Mapping | None = None,
                             reference_lines: Mapping | None = None, reference_label: str = "",
                             log_metrics: Sequence[str] = ()):
    """Small multiples of per-epoch curves: one row per metric, one column per ``columns`` value (column
    ``column``), a line per ``unit`` coloured by its ``source`` (the logged run first, in black, then each
    reproduced recipe in ``sources`` order).

    ``curves`` is tidy: ``column``, ``source``, ``unit``, ``epoch``, ``metric``, ``value``.
    ``reference_lines`` maps ``(metric, column)`` to a value drawn as a dotted horizontal line (the
    all-background accuracy, say); metrics in ``log_metrics`` get a logarithmic axis."""
    fig, axes = plt.subplots(len(metrics), len(columns), figsize=(2.9 * len(columns), 2.0 * len(metrics) + 0.6),
                             squeeze=False, sharex=True, sharey="row", layout="constrained")
    palette = {source: ("#000000" if index == 0 else OKABE_ITO[(index - 1) % (len(OKABE_ITO) - 1)])
               for index, source in enumerate(sources)}
    letter = iter("abcdefghijklmnopqrstuvwxyz")
    for r, metric in enumerate(metrics):
        for c, column in enumerate(columns):
            ax = axes[r][c]
            part = curves[(curves["column"] == column) & (curves["metric"] == metric)]
            for source in reversed(list(sources)):  # the logged run drawn last, on top
                for _, run in part[part["source"] == source].groupby("unit"):
                    run = run.sort_values("epoch")
                    ax.plot(run["epoch"], run["value"], color=palette[source], lw=1.6 if source == sources[0] else 1.0,
                            alpha=1.0 if source == sources[0] else 0.75)
            line = (reference_lines or {}).get((metric, column))
            if line is not None:
                ax.axhline(line, color="#666666", ls=":", lw=1)
            if metric in log_metrics:
                ax.set_yscale("log")
            ax.set_title(f"({next(letter)}) {_label(labels, column)}" if r == 0 else f"({next(letter)})",
                         fontsize="small", loc="left")
            if c == 0:
                ax.set_ylabel(_label(labels, metric), fontsize="small")
            if r == len(metrics) - 1:
                ax.set_xlabel("epoch")
                ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=5))
    handles = [plt.Line2D([], [], color=palette[source], lw=1.6 if index == 0 else 1.0, label=_label(labels, source))
               for index, source in enumerate(sources)]
    if reference_lines:
        handles.append(plt.Line2D([], [], color="#666666", ls=":", label=reference_label))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)), frameon=False,
               fontsize="small")
    return fig
