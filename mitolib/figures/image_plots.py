"""Figures of EM slices: prediction errors coloured, slices side by side, outlined crops with scale bars.

Like :mod:`mitolib.figures.plots` (whose axes helper they share): arrays in, an optional ``ax`` or ``axes``, no title
(captions live in the book's MyST), the ``Figure`` returned.  The colours stay distinct on grayscale EM.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from mitolib.figures.plots import _axes

ERROR_COLOURS = {"tp": "#009E73", "fp": "#D55E00", "fn": "#0072B2"}  # true positive, false positive, false negative


def error_overlay(image: np.ndarray, truth: np.ndarray, pred: np.ndarray, *, ax=None):
    """A grayscale slice with true positives, false positives and false negatives coloured.

    ``image`` ``(H, W)`` any numeric dtype; ``truth`` and ``pred`` ``(H, W)`` binary.
    """
    fig, (ax,) = _axes(ax, size=(4.0, 3.2))
    truth, pred = np.asarray(truth) > 0, np.asarray(pred) > 0
    ax.imshow(image, cmap="gray", interpolation="nearest")
    codes = np.zeros(truth.shape, np.uint8)
    codes[truth & pred], codes[~truth & pred], codes[truth & ~pred] = 1, 2, 3
    cmap = ListedColormap(["#00000000", ERROR_COLOURS["tp"], ERROR_COLOURS["fp"], ERROR_COLOURS["fn"]])
    ax.imshow(np.ma.masked_equal(codes, 0), cmap=cmap, vmin=0, vmax=3, alpha=0.55, interpolation="nearest")
    ax.set_axis_off()
    return fig


def error_legend(ax) -> None:
    """Add the legend of :func:`error_overlay` colours to ``ax``."""
    from matplotlib.patches import Patch

    names = {"tp": "true positive", "fp": "false positive", "fn": "false negative"}
    ax.legend(handles=[Patch(color=c, label=names[k]) for k, c in ERROR_COLOURS.items()],
              frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))


def slice_gallery(images: Sequence[np.ndarray], masks: Sequence[np.ndarray] | None = None, *,
                  titles: Sequence[str] | None = None, axes=None):
    """Slices side by side, with mask outlines when ``masks`` are given (exploration)."""
    fig, axes = _axes(axes, ncols=len(images), size=(3.0, 2.6))
    for i, (ax, image) in enumerate(zip(axes, images)):
        ax.imshow(image, cmap="gray", interpolation="nearest")
        if masks is not None:
            ax.contour(np.asarray(masks[i]) > 0, levels=[0.5], colors=[ERROR_COLOURS["fp"]], linewidths=0.8)
        if titles is not None:
            ax.set_xlabel(titles[i], fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


OUTLINE_COLOURS = {"truth": "#00C853", "prediction": "#FF00FF"}  # bright on grayscale EM: green truth, magenta prediction
SCALE_BARS_NM = (100, 200, 500, 1000, 2000, 5000)


def _scale_bar(ax, pixel_nm: float, width_px: int) -> None:
    """A white scale bar about a fifth of the panel wide, labelled in nm or µm, bottom left."""
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    target = width_px * pixel_nm / 5
    length = min(SCALE_BARS_NM, key=lambda nm: abs(nm - target))
    label = f"{length / 1000:g} µm" if length >= 1000 else f"{length} nm"
    ax.add_artist(AnchoredSizeBar(ax.transData, length / pixel_nm, label, "lower left", pad=0.4, color="white",
                                  frameon=False, size_vertical=max(1, width_px / 150), fontproperties={"size": 7}))


def outline_crops(rows: Sequence[Mapping], *, pixel_nm: float, crop: int = 256, dpi: int = 100):
    """Per row, a whole test slice and, for each prediction, a ``crop`` x ``crop`` window around the row's
    ``center`` at native resolution (one image pixel per figure pixel at ``dpi``): the ground truth outlined in
    green, the prediction in magenta, a scale bar from ``pixel_nm``.

    Each row: ``{"image": (H, W), "truth": (H, W) bool, "predictions": {label: (H, W) bool}, "center": (y, x),
    "title": str}``.  Panels are lettered (a), (b), ... left to right, top to bottom."""
    from matplotlib.patches import Rectangle

    columns = 1 + max(len(row["predictions"]) for row in rows)
    side = crop / dpi
    fig, axes = plt.subplots(len(rows), columns, figsize=(side * columns + 0.3, (side + 0.35) * len(rows)),
                             squeeze=False, layout="constrained", dpi=dpi)
    letter = iter("abcdefghijklmnopqrstuvwxyz")
    for r, row in enumerate(rows):
        image, truth = np.asarray(row["image"]), np.asarray(row["truth"]) > 0
        height, width = image.shape
        cy, cx = row["center"]
        top = int(np.clip(cy - crop // 2, 0, max(0, height - crop)))
        left = int(np.clip(cx - crop // 2, 0, max(0, width - crop)))
        window = (slice(top, top + crop), slice(left, left + crop))
        ax = axes[r][0]
        ax.imshow(image, cmap="gray", interpolation="antialiased")
        ax.contour(truth, levels=[0.5], colors=[OUTLINE_COLOURS["truth"]], linewidths=0.5)
        ax.add_patch(Rectangle((left, top), crop, crop, fill=False, edgecolor="yellow", lw=1))
        _scale_bar(ax, pixel_nm, width)
        ax.set_title(f"({next(letter)}) {row['title']}", fontsize=7, loc="left")
        for c, (label, pred) in enumerate(row["predictions"].items(), start=1):
            ax = axes[r][c]
            ax.imshow(image[window], cmap="gray", interpolation="nearest")
            ax.contour(truth[window], levels=[0.5], colors=[OUTLINE_COLOURS["truth"]], linewidths=1.0)
            ax.contour(np.asarray(pred)[window] > 0, levels=[0.5], colors=[OUTLINE_COLOURS["prediction"]],
                       linewidths=1.0)
            _scale_bar(ax, pixel_nm, crop)
            ax.set_title(f"({next(letter)}) {label}", fontsize=7, loc="left")
        for ax in axes[r]:
            ax.set_axis_off()
    return fig
