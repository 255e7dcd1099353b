"""The listing question, measured: do two unsorted ``os.listdir`` calls pair images with their masks?

The original project wrote every patch under the same name into ``images/`` and ``masks/`` and read the
two folders with two unsorted ``os.listdir`` calls, pairing the i-th image with the i-th mask.
:func:`listing_agreement` rebuilds that situation in a temporary folder on the machine it runs on (the
masks written in another order than the images, to be strict) and reports whether the two listings
agree, with the same names and with differing ones (``img_…`` against ``mask_…``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def _write(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(b"")


def listing_agreement(count: int = 1980, *, root: str | Path | None = None, seed: int = 0) -> dict:
    """Create ``count`` empty files in two sibling folders and compare the two ``os.listdir`` orders.

    Returns ``{"count", "same_names_agree", "same_names_sorted", "different_names_pairs"}``:
    whether the listings of two folders holding the same names (written in two different orders) come
    back in the same order, whether that order is sorted, and how many of ``count`` positions pair an
    ``img_<k>`` with its ``mask_<k>`` when the names differ.  ``root`` is where the folders are made
    (a temporary folder on the default file system when ``None``).
    """
    if count < 2:
        raise ValueError(f"count must be at least 2, got {count}")
    names = [f"patch_{k:06d}.tif" for k in range(count)]
    shuffled = [names[i] for i in np.random.default_rng(seed).permutation(count)]
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        tmp = Path(tmp)
        _write(tmp / "same" / "images", names)
        _write(tmp / "same" / "masks", shuffled)
        images, masks = os.listdir(tmp / "same" / "images"), os.listdir(tmp / "same" / "masks")
        _write(tmp / "different" / "images", [f"img_{k:06d}.tif" for k in range(count)])
        _write(tmp / "different" / "masks", [f"mask_{k:06d}.tif" for k in range(count)])
        img = os.listdir(tmp / "different" / "images")
        msk = os.listdir(tmp / "different" / "masks")
    pairs = sum(a.removeprefix("img_") == b.removeprefix("mask_") for a, b in zip(img, msk))
    return {"count": count, "same_names_agree": images == masks, "same_names_sorted": images == sorted(images),
            "different_names_pairs": int(pairs)}
