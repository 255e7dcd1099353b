"""What a biologist reads off a segmentation: precision, recall, and objects found, missed and false.

From a collected study: pixel counts per run (``test_slices.csv`` sums), and, for runs whose test masks
are saved beside the results, object-level counts against the ground truth (:mod:`mitolib.model.objects`) and
the foreground IoU against another annotation of the same volume (the Lucchi++ labels).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mitolib.model import metrics, objects
from mitolib.core.rundir import read_mask_png


def pixel_scores(slices: pd.DataFrame) -> pd.DataFrame:
    """Per ``run_id`` of a per-slice table (``tp``, ``fp``, ``fn``): volume precision, recall, IoU and Dice."""
    counts = slices.groupby("run_id")[["tp", "fp", "fn"]].sum()
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    return pd.DataFrame({"precision": tp / (tp + fp).where(tp + fp > 0), "recall": tp / (tp + fn).where(tp + fn > 0),
                         "iou": tp / (tp + fp + fn), "dice": 2 * tp / (2 * tp + fp + fn)}).reset_index()


def saved_volume(paths: dict[int, object], shape: tuple) -> np.ndarray:
    """The saved test masks ``{slice: png}`` of one run as a bool volume of ``shape``; every slice must be saved."""
    if sorted(paths) != list(range(shape[0])):
        raise ValueError(f"{len(paths)} saved slices for a volume of {shape[0]}; the run saved only some")
    volume = np.zeros(shape, dtype=bool)
    for index, path in paths.items():
        volume[index] = read_mask_png(path)
    return volume


def object_scores(prediction: np.ndarray, truth: np.ndarray, iou: float = objects.MATCH_IOU) -> dict:
    """Object counts of :func:`mitolib.model.objects.match_objects` plus object precision and recall."""
    counts = objects.match_objects(prediction, truth, iou)
    counts["object_recall"] = counts["detected"] / counts["true_objects"] if counts["true_objects"] else np.nan
    matched = counts["predicted_objects"] - counts["false"]
    counts["object_precision"] = matched / counts["predicted_objects"] if counts["predicted_objects"] else np.nan
    return counts


def iou_against(prediction: np.ndarray, other_truth: np.ndarray) -> float:
    """Foreground IoU of a saved prediction against another annotation of the same volume."""
    return metrics.iou(other_truth, prediction)
