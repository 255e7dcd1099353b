"""Segmentation metrics and the loss: the legacy formulas kept for the lesson, and the correct ones.

Keras-side functions take ``y_true`` and ``y_pred`` tensors of shape
``(B, H, W, 1)`` (float, masks in {0, 1}, probabilities in [0, 1]).  NumPy-side
functions take arrays of any equal shape (a patch, a slice or a whole volume).

* :func:`soft_jaccard` — **legacy**: the original study's metric on soft
  probabilities, averaged per batch by Keras.  Kept only to show what it did.
* :func:`thresholded_jaccard` — the original report's fix: predictions are
  thresholded, but the value is still one number per batch, averaged by Keras.
* :func:`original_jaccard` — the original's ``jacard_coef`` as its logged 2025-09-26 runs computed it
  (commit ``fe0a718``): predictions ``> 0.5``, ε = 1e-7 instead of the smoothing 1, one value per batch.
  An all-background prediction of a batch with ``n`` foreground pixels scores ``1e-7 / n`` (the
  logged ``2.22e-12``); a batch without foreground predicted empty scores 1.
* :func:`dataset_iou` — foreground IoU from confusion counts accumulated over the
  whole epoch (``keras.metrics.BinaryIoU``): what the literature reports.
* :func:`iou` / :func:`dice` — the same on NumPy arrays, for volumes.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from mitolib.core import schema

SMOOTH = 1.0  # the additive smoothing term of the original formula
ORIGINAL_EPSILON = 1e-7  # the term of the original's thresholded formula at commit fe0a718
THRESHOLD = 0.5

# Names under which the metrics appear in Keras histories (``val_`` prefixed for validation).
SOFT_JACCARD = "soft_jaccard"
THRESHOLDED_JACCARD = "thresholded_jaccard"
ORIGINAL_JACCARD = "original_jaccard"
IOU = "iou"
ACCURACY = "accuracy"


@keras.saving.register_keras_serializable(package="mitolib", name=SOFT_JACCARD)
def soft_jaccard(y_true, y_pred):
    """Legacy soft Jaccard: (Σ y·p + 1) / (Σ y + Σ p − Σ y·p + 1) over the flattened batch.

    This is the original study's ``jacard_coef``.  It multiplies probabilities
    instead of thresholded predictions, so a model whose probabilities stay away
    from 0 and 1 scores low even when its thresholded masks are right.
    """
    y_true = ops.reshape(ops.cast(y_true, "float32"), (-1,))
    y_pred = ops.reshape(ops.cast(y_pred, "float32"), (-1,))
    intersection = ops.sum(y_true * y_pred)
    return (intersection + SMOOTH) / (ops.sum(y_true) + ops.sum(y_pred) - intersection + SMOOTH)


@keras.saving.register_keras_serializable(package="mitolib", name=THRESHOLDED_JACCARD)
def thresholded_jaccard(y_true, y_pred, threshold: float = THRESHOLD):
    """The original report's fix: soft Jaccard on ``y_pred >= threshold``, one value per batch."""
    y_pred = ops.cast(ops.greater_equal(ops.cast(y_pred, "float32"), threshold), "float32")
    return soft_jaccard(y_true, y_pred)


@keras.saving.register_keras_serializable(package="mitolib", name=ORIGINAL_JACCARD)
def original_jaccard(y_true, y_pred):
    """The original's logged ``jacard_coef`` (commit ``fe0a718``): (Σ y·b + ε) / (Σ y + Σ b − Σ y·b + ε) over the
    flattened batch, with ``b = [p > 0.5]`` (strictly greater) and ε = 1e-7; one value per batch."""
    y_true = ops.reshape(ops.cast(y_true, "float32"), (-1,))
    binary = ops.cast(ops.greater(ops.reshape(ops.cast(y_pred, "float32"), (-1,)), THRESHOLD), "float32")
    intersection = ops.sum(y_true * binary)
    union = ops.sum(y_true) + ops.sum(binary) - intersection
    return (intersection + ORIGINAL_EPSILON) / (union + ORIGINAL_EPSILON)


def dataset_iou(name: str = IOU, threshold: float = THRESHOLD) -> keras.metrics.BinaryIoU:
    """Foreground IoU accumulated over every batch of an epoch (``keras.metrics.BinaryIoU``)."""
    return keras.metrics.BinaryIoU(target_class_ids=[1], threshold=threshold, name=name)


def training_metrics(threshold: float = THRESHOLD) -> list:
    """The metric variants every training logs side by side: the three Jaccard variants, the original's logged
    formula and pixel accuracy at 0.5 (``keras.metrics.BinaryAccuracy``, as the original's ``'accuracy'``)."""
    return [soft_jaccard, thresholded_jaccard, dataset_iou(threshold=threshold), original_jaccard,
            keras.metrics.BinaryAccuracy(name=ACCURACY, threshold=THRESHOLD)]


def focal_loss(gamma: float = 2.0) -> keras.losses.Loss:
    """Binary focal loss without class balancing, as the original ``focal_loss`` package computes it."""
    return keras.losses.BinaryFocalCrossentropy(gamma=gamma, apply_class_balancing=False, name="focal")


@keras.saving.register_keras_serializable(package="mitolib", name="SumOfLosses")
class SumOfLosses(keras.losses.Loss):
    """The sum of Keras' built-in losses (``dice_bce``: ``BinaryCrossentropy`` + ``Dice``), each with its own
    reduction; nothing is computed here but the sum."""

    def __init__(self, losses, name="sum_of_losses", **kwargs):
        super().__init__(name=name, **kwargs)
        self.losses = [keras.losses.deserialize(loss) if isinstance(loss, dict) else loss for loss in losses]

    def call(self, y_true, y_pred):
        total = 0.0
        for loss in self.losses:
            total = total + loss(y_true, y_pred)
        return total

    def get_config(self):
        return {"name": self.name, "losses": [keras.losses.serialize(loss) for loss in self.losses]}


LOSSES = schema.LOSSES


def make_loss(name: str, gamma: float = 2.0) -> keras.losses.Loss:
    """The loss named ``focal``, ``bce`` (binary cross-entropy) or ``dice_bce`` (binary cross-entropy plus
    Keras' ``Dice`` over each batch: the Dice term does not shrink with the 5 % foreground fraction)."""
    if name == "focal":
        return focal_loss(gamma)
    if name == "bce":
        return keras.losses.BinaryCrossentropy(name="bce")
    if name == "dice_bce":
        return SumOfLosses([keras.losses.BinaryCrossentropy(name="bce"), keras.losses.Dice(name="dice")],
                           name="dice_bce")
    raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")


def confusion_counts(y_true, y_pred, threshold: float = THRESHOLD) -> tuple[int, int, int]:
    """Foreground (TP, FP, FN) of ``y_pred >= threshold`` against a binary ``y_true``."""
    truth = np.asarray(y_true) > 0
    pred = np.asarray(y_pred) >= threshold
    if truth.shape != pred.shape:
        raise ValueError(f"shapes differ: y_true {truth.shape} vs y_pred {pred.shape}")
    tp = int(np.count_nonzero(truth & pred))
    fp = int(np.count_nonzero(~truth & pred))
    fn = int(np.count_nonzero(truth & ~pred))
    return tp, fp, fn


def iou_from_counts(tp: int, fp: int, fn: int) -> float:
    """TP / (TP + FP + FN); 1.0 when both masks are empty."""
    union = tp + fp + fn
    return 1.0 if union == 0 else tp / union


def dice_from_counts(tp: int, fp: int, fn: int) -> float:
    """2 TP / (2 TP + FP + FN); 1.0 when both masks are empty."""
    denom = 2 * tp + fp + fn
    return 1.0 if denom == 0 else 2 * tp / denom


def iou(y_true, y_pred, threshold: float = THRESHOLD) -> float:
    """Foreground IoU over whole arrays (counts over every pixel, e.g. of a test volume)."""
    return iou_from_counts(*confusion_counts(y_true, y_pred, threshold))


def dice(y_true, y_pred, threshold: float = THRESHOLD) -> float:
    """Foreground Dice over whole arrays."""
    return dice_from_counts(*confusion_counts(y_true, y_pred, threshold))
