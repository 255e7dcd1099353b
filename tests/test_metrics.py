"""Hand-computed cases for the legacy, per-batch and dataset-level metrics, and the focal loss."""

import keras
import numpy as np
import pytest

from mitolib.model import metrics


def _soft(y, p):
    return float(metrics.soft_jaccard(np.asarray(y, "float32"), np.asarray(p, "float32")))


def _thresholded(y, p):
    return float(metrics.thresholded_jaccard(np.asarray(y, "float32"), np.asarray(p, "float32")))


@pytest.mark.parametrize(
    ("y", "p", "soft", "iou"),
    [
        ([0, 0, 0, 0], [0, 0, 0, 0], 1.0, 1.0),  # empty vs empty: the smoothing term gives 1
        ([1, 1, 1, 1], [1, 1, 1, 1], 1.0, 1.0),  # full overlap
        ([1, 1, 0, 0], [1, 0, 0, 0], 2 / 3, 1 / 2),  # half: (1+1)/(2+1-1+1) vs 1/2
        ([1, 1, 0], [0, 1, 1], 1 / 2, 1 / 3),  # one third: (1+1)/(2+2-1+1) vs 1/3
        ([1, 0, 0, 0], [0, 1, 0, 0], 1 / 3, 0.0),  # disjoint: only the smoothing term remains
    ],
)
def test_binary_cases(y, p, soft, iou):
    assert _soft(y, p) == pytest.approx(soft)
    assert _thresholded(y, p) == pytest.approx(soft)
    assert metrics.iou(np.array(y), np.array(p)) == pytest.approx(iou)


def test_smoothing_on_an_empty_batch_with_soft_probabilities():
    # no foreground, p = 0.3 on 10 pixels: (0 + 1) / (0 + 3 - 0 + 1)
    assert _soft(np.zeros(10), np.full(10, 0.3)) == pytest.approx(0.25)
    # thresholded, the same batch is a perfect empty prediction
    assert _thresholded(np.zeros(10), np.full(10, 0.3)) == pytest.approx(1.0)


def test_soft_jaccard_punishes_underconfident_but_correct_predictions():
    y = np.array([1, 0], "float32")
    p = np.array([0.6, 0.4], "float32")
    assert _soft(y, p) == pytest.approx(1.6 / 2.4)  # (0.6 + 1) / (1 + 1 - 0.6 + 1)
    assert _thresholded(y, p) == pytest.approx(1.0)
    assert metrics.iou(y, p) == pytest.approx(1.0)


def test_threshold_is_inclusive_everywhere():
    y = np.array([1.0, 0.0])
    p = np.array([0.5, 0.49])
    assert metrics.iou(y, p) == 1.0
    assert _thresholded(y, p) == 1.0
    keras_iou = metrics.dataset_iou()
    keras_iou.update_state(y, p)
    assert float(keras_iou.result()) == pytest.approx(1.0)


def test_mean_of_batches_differs_from_dataset_iou():
    batches = [
        (np.array([1, 1, 0, 0], "float32"), np.array([0.9, 0.2, 0.1, 0.1], "float32")),  # 2/3 per batch
        (np.zeros(4, "float32"), np.full(4, 0.1, "float32")),  # empty batch: 1 per batch
    ]
    per_batch = [_thresholded(y, p) for y, p in batches]
    assert per_batch == pytest.approx([2 / 3, 1.0])
    assert np.mean(per_batch) == pytest.approx(5 / 6)

    dataset = metrics.dataset_iou()
    for y, p in batches:
        dataset.update_state(y, p)
    # counts over both batches: TP 1, FP 0, FN 1
    assert float(dataset.result()) == pytest.approx(0.5)
    all_y = np.concatenate([y for y, _ in batches])
    all_p = np.concatenate([p for _, p in batches])
    assert metrics.iou(all_y, all_p) == pytest.approx(0.5)


def test_dice_and_counts():
    y = np.array([[1, 1, 0], [0, 1, 0]])
    p = np.array([[0.9, 0.1, 0.8], [0.2, 0.7, 0.3]])
    assert metrics.confusion_counts(y, p) == (2, 1, 1)
    assert metrics.dice(y, p) == pytest.approx(4 / 6)
    assert metrics.iou(y, p) == pytest.approx(2 / 4)
    assert metrics.iou(np.zeros((2, 2)), np.zeros((2, 2))) == 1.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.iou(np.zeros((2, 2)), np.zeros((2, 3)))


def test_keras_names_used_in_histories():
    names = [m if isinstance(m, str) else getattr(m, "name", None) or m.__name__
             for m in metrics.training_metrics()]
    assert names == ["soft_jaccard", "thresholded_jaccard", "iou", "original_jaccard", "accuracy"]


def _original(y, p):
    return float(metrics.original_jaccard(y.reshape(1, -1, 1, 1), p.reshape(1, -1, 1, 1)))


def test_original_jaccard_is_the_logged_formula():
    # thresholded strictly above 0.5, epsilon 1e-7 (commit fe0a718's jacard_coef)
    y = np.array([1, 1, 0, 0], "float32")
    assert _original(y, np.array([0.9, 0.5, 0.1, 0.6], "float32")) == pytest.approx(1 / 3)  # 0.5 is not > 0.5
    # an all-background prediction of a batch with n foreground pixels scores 1e-7 / n: the logged 2.22e-12
    n = 45042
    y = np.zeros(100000, "float32")
    y[:n] = 1
    assert _original(y, np.zeros_like(y)) == pytest.approx(1e-7 / n, rel=1e-3)
    assert _original(np.zeros(4, "float32"), np.zeros(4, "float32")) == pytest.approx(1.0)


def test_focal_loss_matches_the_original_package_formula():
    rng = np.random.default_rng(0)
    y = (rng.random((4, 16, 16, 1)) < 0.3).astype("float32")
    p = rng.uniform(0.01, 0.99, size=y.shape).astype("float32")
    gamma = 2.0
    per_pixel = np.where(y == 1, -((1 - p) ** gamma) * np.log(p), -(p**gamma) * np.log(1 - p))
    expected = per_pixel.mean()
    assert float(metrics.focal_loss(gamma)(y, p)) == pytest.approx(expected, abs=1e-6)


def test_unknown_loss_lists_the_choices():
    with pytest.raises(ValueError, match="focal, bce"):
        metrics.make_loss("dice")


def test_losses_are_keras_losses():
    assert isinstance(metrics.make_loss("focal"), keras.losses.BinaryFocalCrossentropy)
    assert isinstance(metrics.make_loss("bce"), keras.losses.BinaryCrossentropy)
