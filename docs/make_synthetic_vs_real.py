"""Draw docs/img/synthetic_vs_real.png: a synthetic slice next to a real EPFL slice, mask outlines in colour.

Run from the project root: ``.venv/bin/python docs/make_synthetic_vs_real.py``.  The real slice is
read from ``$MITOLIB_DATA`` or ``../shared/data/epfl_mito``; without it only the synthetic panel is drawn.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mitolib.data.volumes import load_volume  # noqa: E402
from mitolib.core.errors import DataError  # noqa: E402
from mitolib.data.synthetic import make_split  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
OUTPUT = PROJECT / "docs" / "img" / "synthetic_vs_real.png"
FALLBACK_DATA = PROJECT.parent / "shared" / "data" / "epfl_mito"
SIDE = 256                # crop side (pixels): the training patch size
REAL_SLICE = 0            # first slice of the EPFL training volume
REAL_ORIGIN = (256, 384)  # top-left corner of the real crop
OUTLINE_COLOUR = "#ff7f0e"
DPI = 150


def real_crop():
    """A SIDE x SIDE crop of an EPFL training slice and its mask, or None when the data are absent."""
    root = Path(os.environ.get("MITOLIB_DATA") or FALLBACK_DATA)
    try:
        images, masks = load_volume(root, "train")
    except DataError:
        return None
    top, left = REAL_ORIGIN
    window = (REAL_SLICE, slice(top, top + SIDE), slice(left, left + SIDE))
    return images[window], masks[window]


def main() -> None:
    images, masks = make_split("train", 1, SIDE, SIDE)
    panels = [("synthetic (mitolib.data.synthetic)", images[0], masks[0])]
    real = real_crop()
    if real is not None:
        panels.append(("EPFL training slice 0 (crop)", *real))
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4.2), squeeze=False)
    for ax, (title, image, mask) in zip(axes[0], panels):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.contour(mask, levels=[0.5], colors=OUTLINE_COLOUR, linewidths=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    fig.tight_layout()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUTPUT, dpi=DPI)
    print(f"wrote {OUTPUT.relative_to(PROJECT)}")


if __name__ == "__main__":
    main()
