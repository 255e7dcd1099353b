"""Objects: labels, volumes and matching on hand-made volumes."""

import numpy as np
import pytest

from mitolib.model import objects


def two_cubes() -> np.ndarray:
    volume = np.zeros((6, 10, 10), np.uint8)
    volume[0:2, 0:2, 0:2] = 1       # 8 voxels
    volume[3:6, 5:8, 5:8] = 1       # 27 voxels
    return volume


def test_labels_and_volumes():
    table = objects.object_table(two_cubes(), pixel_size_nm=5.0)
    assert list(table["voxels"]) == [27, 8]
    assert table["volume_um3"].iloc[0] == pytest.approx(27 * 125 / 1e9)  # 5 nm voxels: 125 nm³ each
    assert list(table["slices"]) == [3, 2]
    assert (table["z"].iloc[0], table["y"].iloc[0], table["x"].iloc[0]) == (4.0, 6.0, 6.0)
    thick = objects.object_table(two_cubes(), pixel_size_nm=5.0, slice_thickness_nm=50.0)
    assert thick["volume_um3"].iloc[1] == pytest.approx(8 * 5 * 5 * 50 / 1e9)


def test_diagonal_neighbours_are_separate_objects():
    volume = np.zeros((1, 3, 3), np.uint8)
    volume[0, 0, 0] = volume[0, 1, 1] = 1
    assert objects.label_objects(volume)[1] == 2


def test_empty_mask_has_no_objects():
    assert objects.object_table(np.zeros((2, 4, 4)), 5.0).empty


def test_matching_counts_detected_missed_and_false():
    truth = two_cubes()
    prediction = np.zeros_like(truth)
    prediction[3:6, 5:8, 5:7] = 1      # 18 of the 27-voxel cube: IoU 18/27 = 0.67, detected
    prediction[0:1, 0:1, 0:1] = 1      # 1 of the 8-voxel cube: IoU 1/8, not a detection
    prediction[0, 8:10, 8:10] = 1      # no true object there: false
    assert objects.match_objects(prediction, truth) == {"true_objects": 2, "predicted_objects": 3, "detected": 1,
                                                        "missed": 1, "false": 2}
    assert objects.match_objects(truth, truth)["detected"] == 2
    with pytest.raises(ValueError, match="one-to-one"):
        objects.match_objects(truth, truth, iou=0.3)


def test_largest_unmatched_objects_are_found_by_the_rule():
    truth = two_cubes()
    prediction = np.zeros_like(truth)
    prediction[3:6, 5:8, 5:8] = 1      # the large cube: detected
    prediction[0, 8:10, 8:10] = 1      # a 4-voxel false object
    prediction[2, 0:1, 6:9] = 1        # a 3-voxel false object
    found = objects.largest_unmatched(prediction, truth)
    assert found["false"] == {"voxels": 4, "z": 0, "y": 8, "x": 8}  # centroid (0, 8.5, 8.5) rounded half to even
    assert found["missed"] == {"voxels": 8, "z": 0, "y": 0, "x": 0}  # the small cube, (0.5, 0.5, 0.5)
    assert objects.largest_unmatched(truth, truth) == {"false": None, "missed": None}


def test_gallery_rule_picks_the_median_and_the_hardest_slice():
    import pandas as pd

    from mitolib.report.predictions import gallery_slices, largest_object_center

    table = pd.DataFrame({"run_id": ["a"] * 5 + ["b"] * 5, "slice": list(range(5)) * 2,
                          "iou": [0.9, 0.5, 0.7, 0.8, 0.6, 0.9, 0.5, 0.7, 0.8, 0.6]})
    assert gallery_slices(table, ["a", "b"]) == {"typical": 2, "hardest": 1}
    mask = np.zeros((10, 10), bool)
    mask[1:3, 1:3] = True
    mask[5:9, 4:8] = True
    assert largest_object_center(mask) == (6, 6)  # (6.5, 5.5) rounded half to even
    assert largest_object_center(np.zeros((4, 6))) == (2, 3)


def test_object_metrics_on_touching_cubes_a_fragment_and_an_empty_volume():
    """Hand-made volumes: two cubes touching at a face are one object (face connectivity); a stray fragment is a
    false object; an empty prediction detects nothing."""
    truth = np.zeros((8, 20, 20), np.uint8)
    truth[1:5, 2:6, 2:6] = 1      # true object A: 64 voxels
    truth[1:5, 10:14, 10:14] = 1  # true object B: 64 voxels
    prediction = truth.copy()
    prediction[6, 18, 18] = 1     # a one-voxel fragment: a false object
    scores = objects.object_metrics(prediction, truth)
    assert (scores["true_objects"], scores["predicted_objects"]) == (2, 3)
    assert scores["count_ratio"] == pytest.approx(1.5)
    assert scores["object_precision_50"] == pytest.approx(2 / 3) and scores["object_recall_50"] == 1.0
    assert scores["object_f1_50"] == pytest.approx(2 * 2 / (3 + 2))
    half = truth.copy()
    half[1:3, 10:14, 10:14] = 0   # B predicted at half its size: IoU 0.5, matched at 0.5 but not at 0.75
    scores = objects.object_metrics(half, truth)
    assert scores["object_recall_50"] == 1.0 and scores["object_recall_75"] == 0.5
    touching = np.zeros((4, 10, 10), np.uint8)
    touching[0:2, 0:4, 0:4] = 1
    touching[0:2, 4:8, 0:4] = 1   # shares a face with the first cube: one object
    assert objects.object_metrics(touching, touching)["true_objects"] == 1
    empty = objects.object_metrics(np.zeros_like(truth), truth)
    assert empty["predicted_objects"] == 0 and empty["object_recall_50"] == 0.0
    assert np.isnan(empty["object_precision_50"]) and empty["object_f1_50"] == 0.0


def test_matched_objects_set_predicted_sizes_beside_true_ones():
    truth = np.zeros((6, 20, 20), np.uint8)
    truth[1:5, 2:6, 2:6] = 1      # 64 voxels, predicted at 48 (IoU 0.75)
    truth[1:5, 10:14, 10:14] = 1  # 64 voxels, missed
    prediction = np.zeros_like(truth)
    prediction[1:4, 2:6, 2:6] = 1
    prediction[0, 18, 18] = 1
    rows = objects.matched_objects(prediction, truth)
    assert list(rows.columns) == objects.MATCHED_COLUMNS and list(rows["true_voxels"]) == [64, 64]
    assert rows.loc[0, "predicted_voxels"] == 48 and rows.loc[0, "iou"] == pytest.approx(0.75)
    assert np.isnan(rows.loc[1, "predicted_voxels"]) and np.isnan(rows.loc[1, "iou"])  # missed


def test_object_cleanup_removes_fragments_fills_holes_and_is_chosen_on_validation():
    truth = np.zeros((6, 40, 40), np.uint8)
    truth[1:5, 5:15, 5:15] = 1               # one mitochondrion of 400 voxels
    prediction = truth.copy()
    prediction[2, 9, 9] = 0                   # a hole inside it
    for z, y, x in ((0, 30, 30), (5, 35, 2), (3, 25, 36)):
        prediction[z, y, x] = 1               # three one-voxel fragments
    kept = objects.remove_small(prediction, 250)
    assert objects.object_metrics(kept, truth)["predicted_objects"] == 1 and kept[2, 9, 9] == 0
    assert objects.fill_holes(kept)[2, 9, 9] == 1
    assert np.array_equal(objects.remove_small(prediction, 0), prediction > 0)
    # on these "validation" data the fragments cost object precision: the smallest size that removes them wins
    assert objects.choose_min_voxels(prediction, truth, candidates=(0, 2, 1000)) == 2


def test_object_sizes_list_every_component_and_whether_it_matched():
    truth = two_cubes()
    prediction = np.zeros_like(truth)
    prediction[3:6, 5:8, 5:8] = 1      # the large cube (27 voxels): detected
    prediction[0, 8:10, 8:10] = 1      # a 4-voxel false object
    sizes = objects.object_sizes(prediction, truth)
    predicted = sizes[sizes["kind"] == "predicted"].sort_values("voxels")
    true = sizes[sizes["kind"] == "true"].sort_values("voxels")
    assert predicted[["voxels", "matched"]].values.tolist() == [[4, False], [27, True]]
    assert true[["voxels", "matched"]].values.tolist() == [[8, False], [27, True]]
    assert objects.object_sizes(np.zeros_like(truth), truth)["matched"].sum() == 0


def touching_balls(gap: bool) -> np.ndarray:
    """Two balls of radius 8 whose centres lie 14 voxels apart, so they touch through a neck; with ``gap`` the
    plane midway between them is empty (two objects, as a biologist would label them)."""
    z, y, x = np.mgrid[:20, :20, :40]
    mask = ((z - 10) ** 2 + (y - 10) ** 2 + (x - 13) ** 2 <= 64) | ((z - 10) ** 2 + (y - 10) ** 2 + (x - 27) ** 2 <= 64)
    if gap:
        mask[:, :, 20] = False
    return mask


def test_a_watershed_splits_touching_objects_and_leaves_single_ones_whole():
    merged, truth = touching_balls(gap=False), touching_balls(gap=True)
    assert objects.label_objects(merged)[1] == 1 and objects.label_objects(truth)[1] == 2
    split = objects.split_touching(merged, 2)
    assert objects.label_objects(split)[1] == 2
    assert split.sum() < merged.sum() and not (split & ~merged).any()  # the cut only removes voxels
    assert objects.object_metrics(split, truth)["object_f1_50"] == 1.0
    assert objects.object_metrics(merged, truth)["object_f1_50"] == 0.0
    assert np.array_equal(objects.split_touching(merged, 0), merged)  # depth 0: nothing split
    assert np.array_equal(objects.split_touching(merged, 8), merged)  # the neck is shallower than 8 voxels
    ball = touching_balls(gap=False)
    ball[:, :, 20:] = False  # one ball (cut flat) stays whole
    assert np.array_equal(objects.split_touching(ball, 2), ball)
    empty = np.zeros((4, 5, 6), bool)
    assert np.array_equal(objects.split_touching(empty, 2), empty)
    # chosen on "validation" data: the depth that separates the two wins; where nothing needs it, 0 does
    assert objects.choose_by_object_f1(objects.split_touching, merged, truth, (0, 2, 8)) == 2
    assert objects.choose_by_object_f1(objects.split_touching, truth, truth, (0, 2, 8)) == 0
    steps = objects.cleanup_masks(merged, 0, 2)
    assert list(steps) == list(objects.CLEANUP_STEPS) and objects.label_objects(steps[objects.CLEANUP_STEPS[-1]])[1] == 2


def test_each_object_step_carries_only_the_parameters_set_by_it_or_before():
    chosen = {"min_voxels": 250, "split_depth": 4}
    assert objects.parameters_at("none", chosen) == {"min_voxels": 0, "split_depth": 0}
    assert objects.parameters_at("remove_small", chosen) == {"min_voxels": 250, "split_depth": 0}
    assert objects.parameters_at("remove_small+fill_holes", chosen) == {"min_voxels": 250, "split_depth": 0}
    assert objects.parameters_at("remove_small+fill_holes+split", chosen) == chosen
    with pytest.raises(ValueError):
        objects.parameters_at("open", chosen)


def test_object_ceiling_counts_true_objects_too_small_for_a_cleaned_prediction():
    truth = np.zeros((6, 10, 10), np.uint8)
    truth[0:2, 0:2, 0:2] = 1        # 8 voxels, on the border
    truth[2:5, 4:7, 4:7] = 1        # 27 voxels, inside
    truth[3, 8, 1] = 1              # 1 voxel, inside
    everything = objects.object_ceiling(truth)
    assert (everything["true_objects"], everything["reachable_objects"], everything["object_f1"]) == (3, 3, 1.0)
    # a 16-voxel prediction around the 8-voxel cube still matches it at IoU 8/16 = 0.5: the bound is exact
    prediction = np.zeros_like(truth)
    prediction[0:2, 0:2, 0:4] = 1
    assert objects.match_objects(prediction, truth)["detected"] == 1
    at_16 = objects.object_ceiling(truth, min_voxels=16)
    assert (at_16["reachable_objects"], at_16["unreachable"], at_16["unreachable_on_border"]) == (2, 1, 0)
    assert at_16["unreachable_single_slice"] == 1  # the 1-voxel object; the 8-voxel cube spans 2 slices
    assert at_16["smallest_reachable"] == 8
    at_17 = objects.object_ceiling(truth, min_voxels=17)
    assert (at_17["reachable_objects"], at_17["unreachable_on_border"], at_17["smallest_reachable"]) == (1, 1, 27)
    assert at_17["unreachable_single_slice"] == 1
    assert at_17["object_recall"] == pytest.approx(1 / 3)
    assert at_17["object_f1"] == pytest.approx(2 * (1 / 3) / (1 + 1 / 3))  # precision 1: F1 = 2r / (1 + r)
    assert at_17["count_ratio"] == pytest.approx(1 / 3)
    assert objects.object_ceiling(truth, min_voxels=100)["smallest_reachable"] == 0
    empty = objects.object_ceiling(np.zeros((2, 4, 4)))
    assert empty["true_objects"] == 0 and np.isnan(empty["object_f1"])
    with pytest.raises(ValueError, match="min_voxels"):
        objects.object_ceiling(truth, min_voxels=-1)
