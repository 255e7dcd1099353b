"""The foreground fraction of the first k slices of the EPFL training volume, for k = 1 ... 165.

The original's logged runs trained on pre-made patches whose file names and slices are not recorded; its
repository says they covered the first 12 slices.  A model that predicts background everywhere has a
pixel accuracy of 1 - f on data whose foreground fraction is f, so the accuracy at which every logged run
levelled off (0.91-0.92) is a fingerprint of the slices it trained on.  This script writes that curve to
``book/data/epfl_first_slices.csv`` (columns ``slices``, ``foreground``, ``background_accuracy``), read by
the book's "What actually broke" chapter, and the foreground fraction of each whole volume to
``book/data/epfl_foreground.csv`` (``split``, ``slices``, ``pixels``, ``foreground``), read by the metric
lesson, so the book needs no EPFL data for either.

Usage: ``MITOLIB_DATA=../shared/data/epfl_mito python audits/first_slices.py``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mitolib.data.volumes import resolve_volumes

BOOK_DATA = Path(__file__).resolve().parents[1] / "book" / "data"
OUT = BOOK_DATA / "epfl_first_slices.csv"
VOLUMES_OUT = BOOK_DATA / "epfl_foreground.csv"


def first_slices_table(masks: np.ndarray) -> pd.DataFrame:
    """Foreground fraction of the first k slices of ``masks`` ({0, 1} ``(S, H, W)``) for every k."""
    per_slice = masks.reshape(len(masks), -1).sum(axis=1, dtype=np.int64)
    pixels = masks[0].size * np.arange(1, len(masks) + 1)
    foreground = np.cumsum(per_slice) / pixels
    return pd.DataFrame({"slices": np.arange(1, len(masks) + 1), "foreground": foreground,
                         "background_accuracy": 1 - foreground})


def write(table: pd.DataFrame, path: Path) -> None:
    partial = path.with_suffix(".partial.csv")
    table.to_csv(partial, index=False)
    partial.replace(path)


def main() -> int:
    volumes = {split: np.asarray(resolve_volumes({"data_source": "epfl"}, split)[1]) for split in ("train", "test")}
    table = first_slices_table(volumes["train"])
    write(table, OUT)
    write(pd.DataFrame([{"split": split, "slices": len(masks), "pixels": int(masks.size),
                         "foreground": float(masks.mean())} for split, masks in volumes.items()]), VOLUMES_OUT)
    print(f"{OUT}: first 12 slices {table.loc[11, 'foreground']:.4f}, all 165 {table['foreground'].iloc[-1]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
