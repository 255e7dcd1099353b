"""Biologist's scores on hand-made counts and volumes."""

import numpy as np
import pandas as pd
import pytest

from mitolib.results import scores
from mitolib.core.rundir import save_mask_png


def test_pixel_scores_from_slice_counts():
    slices = pd.DataFrame({"run_id": ["a", "a", "b"], "tp": [3, 1, 0], "fp": [1, 0, 0], "fn": [0, 4, 5]})
    table = scores.pixel_scores(slices).set_index("run_id")
    assert table.loc["a", "precision"] == pytest.approx(4 / 5) and table.loc["a", "recall"] == pytest.approx(4 / 8)
    assert table.loc["a", "iou"] == pytest.approx(4 / 9) and table.loc["a", "dice"] == pytest.approx(8 / 13)
    assert np.isnan(table.loc["b", "precision"]) and table.loc["b", "recall"] == 0


def test_saved_volume_and_object_scores(tmp_path):
    truth = np.zeros((2, 8, 8), bool)
    truth[:, 1:4, 1:4] = True
    truth[:, 6:8, 6:8] = True
    paths = {}
    for index in range(2):
        paths[index] = tmp_path / f"test_{index:03d}.png"
        save_mask_png(paths[index], truth[index] & (np.arange(8)[None, :] < 5))  # the small object is missed
    prediction = scores.saved_volume(paths, truth.shape)
    assert prediction.sum() == 18
    counts = scores.object_scores(prediction, truth)
    assert (counts["detected"], counts["missed"], counts["false"]) == (1, 1, 0)
    assert counts["object_recall"] == 0.5 and counts["object_precision"] == 1.0
    with pytest.raises(ValueError, match="saved only some"):
        scores.saved_volume({0: paths[0]}, truth.shape)
