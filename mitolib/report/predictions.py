"""The saved test predictions of a collected study: which run to show, its masks and which slices.

The book's test chapter and ``notebooks/view_predictions.py`` read the binary masks that
``mitolib study collect`` copied to ``results/<profile>/<study>/predictions/<run_id>/``
(``test_XXX.png``, written by :func:`mitolib.training.evaluate.save_mask_png`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mitolib.core.rundir import STATUS_DONE
from mitolib.report.pages import StudyResults


def example_run(runs: pd.DataFrame) -> pd.DataFrame:
    """The run whose predictions the test chapter shows: the best test IoU among completed runs."""
    done = runs[runs["status"] == STATUS_DONE].dropna(subset=["test_iou"])
    return done.sort_values(["test_iou", "run_id"], ascending=[False, True]).head(1)


def run_params(results: StudyResults, run_id: str) -> dict:
    """The resolved parameters of one run (its ``runs.csv`` row; empty cells become ``""``)."""
    row = results.runs.set_index("run_id").loc[run_id]
    return {k: ("" if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}


def saved_predictions(results: StudyResults, run_id: str, include_runs: bool = False) -> dict[int, Path]:
    """``{slice: path}`` of the test predictions a run saved (``test_XXX.png``); empty if none.

    The book reads ``results/<profile>/<study>/predictions/<run_id>/`` only; with
    ``include_runs`` (the notebooks) the run's own folder is searched when that is empty.
    """
    folders = [results.predictions_dir(run_id)]
    if include_runs:
        from mitolib.core.locations import runs_root

        folders.append(runs_root() / results.profile / results.study / run_id / "predictions")
    for folder in folders:
        found = {}
        for path in sorted(folder.glob("test_*.png")):
            digits = path.stem.split("_")[-1]
            if digits.isdigit():
                found[int(digits)] = path
        if found:
            return found
    return {}


def example_slices(results: StudyResults, run_id: str, count: int = 3) -> list[int]:
    """Saved test slices of a run to show: its worst, median and best by slice IoU."""
    saved = saved_predictions(results, run_id)
    scores = results.test_slices[(results.test_slices["run_id"] == run_id)
                                 & results.test_slices["slice"].isin(list(saved))].sort_values("iou")
    if scores.empty:
        return sorted(saved)[:count]
    picks = np.unique(np.linspace(0, len(scores) - 1, count).round().astype(int))
    return [int(s) for s in scores["slice"].iloc[picks]]


def gallery_slices(test_slices: pd.DataFrame, run_ids: list[str]) -> dict[str, int]:
    """The test slices the gallery shows, by a rule: ``{"typical": median, "hardest": lowest}`` of the slice IoU
    averaged over ``run_ids`` (ties to the lower slice number)."""
    table = test_slices[test_slices["run_id"].isin(run_ids)]
    if table.empty:
        raise ValueError(f"no per-slice scores for runs {run_ids}")
    mean = table.groupby("slice")["iou"].mean().sort_values(kind="stable")
    ordered = mean.reset_index().sort_values(["iou", "slice"], kind="stable")["slice"].tolist()
    return {"typical": int(ordered[(len(ordered) - 1) // 2]), "hardest": int(ordered[0])}


def largest_object_center(mask: np.ndarray) -> tuple[int, int]:
    """``(y, x)`` of the centroid of the largest connected component of a 2-D mask (the slice centre if empty)."""
    from scipy import ndimage

    labels, count = ndimage.label(np.asarray(mask) > 0)
    if count == 0:
        return mask.shape[0] // 2, mask.shape[1] // 2
    sizes = np.bincount(labels.ravel())[1:]
    y, x = ndimage.center_of_mass(labels == int(np.argmax(sizes)) + 1)
    return int(round(y)), int(round(x))
