"""Controlled inputs for the metric lesson: masks of disks, probability maps, and metric sweeps.

Every value the book's metric chapter shows is computed here with ``mitolib.model.metrics`` at
build time, on inputs made in seconds, with no training.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd


# Controlled inputs for the metric chapter: binary masks of disks and probability maps
# around them.  Every value shown is computed with mitolib.model.metrics at build time.
def disk_masks(n: int, size: int = 64, *, disks: int = 3, empty_fraction: float = 0.0,
               shift: float = 0.0, width: float = 1.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Masks of random disks and a probability map for them.

    Returns ``truth`` uint8 ``(n, size, size)`` in {0, 1} and ``prob`` float32 of the
    same shape: a sigmoid of the signed distance to disks whose centres are moved by
    ``shift`` pixels (so thresholded predictions are imperfect), with edge ``width``
    in pixels.  The first ``round(empty_fraction * n)`` patches hold no disk.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    truth = np.zeros((n, size, size), np.uint8)
    logit = np.full((n, size, size), -50.0, np.float32)
    for i in range(int(round(empty_fraction * n)), n):
        for _ in range(rng.integers(1, disks + 1)):
            cy, cx = rng.uniform(0.2 * size, 0.8 * size, 2)
            radius = rng.uniform(0.06 * size, 0.16 * size)
            truth[i] |= ((yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2).astype(np.uint8)
            angle = rng.uniform(0, 2 * np.pi)
            py, px = cy + shift * np.sin(angle), cx + shift * np.cos(angle)
            inside = radius - np.sqrt((yy - py) ** 2 + (xx - px) ** 2)
            logit[i] = np.maximum(logit[i], inside / width)
    return truth, (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)


def squeeze(prob: np.ndarray, factor: float) -> np.ndarray:
    """Move probabilities toward 0.5: ``0.5 + factor * (p - 0.5)``; the mask ``p >= 0.5`` is unchanged."""
    return (0.5 + factor * (np.asarray(prob, np.float32) - 0.5)).astype(np.float32)


def _as_batch(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, np.float32)[..., None]


def jaccard_variants(truth: np.ndarray, prob: np.ndarray, batch_size: int | None = None) -> dict:
    """The three metrics as Keras reports them for one pass over ``(n, H, W)`` arrays.

    ``soft_jaccard`` and ``thresholded_jaccard`` are averaged over batches of ``batch_size``
    patches (``None``: one batch), as Keras averages a function metric; ``iou`` is
    ``keras.metrics.BinaryIoU`` accumulated over all batches.
    """
    import keras

    from mitolib.model import metrics

    batch_size = batch_size or len(truth)
    soft = keras.metrics.MeanMetricWrapper(metrics.soft_jaccard)
    hard = keras.metrics.MeanMetricWrapper(metrics.thresholded_jaccard)
    iou = metrics.dataset_iou()
    for start in range(0, len(truth), batch_size):
        y, p = _as_batch(truth[start:start + batch_size]), _as_batch(prob[start:start + batch_size])
        for metric in (soft, hard, iou):
            metric.update_state(y, p)
    return {"soft_jaccard": float(soft.result()), "thresholded_jaccard": float(hard.result()),
            "iou": float(iou.result())}


def confidence_sweep(truth: np.ndarray, prob: np.ndarray, factors: Iterable[float]) -> pd.DataFrame:
    """Tidy ``factor, metric, value``: the metrics of ``squeeze(prob, factor)`` in one batch."""
    rows = []
    for factor in factors:
        for metric, value in jaccard_variants(truth, squeeze(prob, factor)).items():
            rows.append({"factor": float(factor), "metric": metric, "value": value})
    return pd.DataFrame(rows)


def empty_patch_sweep(fractions: Iterable[float], n: int = 64, size: int = 32, batch_size: int = 4,
                      seed: int = 0, **masks) -> pd.DataFrame:
    """Tidy ``empty_fraction, metric, value``: per-batch means vs whole-set IoU as empty patches grow.

    Patches are shuffled before batching, as a training pipeline does.
    """
    rows = []
    for fraction in fractions:
        truth, prob = disk_masks(n, size, empty_fraction=fraction, seed=seed, **masks)
        order = np.random.default_rng(seed).permutation(n)
        for metric, value in jaccard_variants(truth[order], prob[order], batch_size).items():
            rows.append({"empty_fraction": float(fraction), "metric": metric, "value": value})
    return pd.DataFrame(rows)


def batch_size_sweep(truth: np.ndarray, prob: np.ndarray, batch_sizes: Iterable[int]) -> pd.DataFrame:
    """Tidy ``batch_size, metric, value``: the same predictions averaged over batches of each size."""
    rows = []
    for size in batch_sizes:
        for metric, value in jaccard_variants(truth, prob, int(size)).items():
            rows.append({"batch_size": int(size), "metric": metric, "value": value})
    return pd.DataFrame(rows)


def loss_optimum(frequencies: Iterable[float], loss: str = "focal", gamma: float = 2.0,
                 grid: int = 2001) -> pd.DataFrame:
    """``frequency, prediction``: the probability minimising the expected loss, per true frequency.

    For pixels that are foreground with frequency ``q``, the expected loss of predicting
    ``p`` is ``q L(1, p) + (1 - q) L(0, p)``; a calibrated loss is minimised at ``p = q``.
    Uses the library's loss (:func:`mitolib.model.metrics.make_loss`).
    """
    import keras

    from mitolib.model import metrics

    fn = metrics.make_loss(loss, gamma)
    p = np.linspace(1e-4, 1 - 1e-4, grid, dtype=np.float32)[:, None]
    pos = keras.ops.convert_to_numpy(fn.call(np.ones_like(p), p))
    neg = keras.ops.convert_to_numpy(fn.call(np.zeros_like(p), p))
    rows = [{"frequency": float(q), "prediction": float(p[np.argmin(q * pos + (1 - q) * neg), 0])}
            for q in frequencies]
    return pd.DataFrame(rows)


def bn_head_probabilities(foreground: float, scale: float = 1.0, shift: float = 0.0) -> tuple[float, float]:
    """Foreground and background probabilities of a perfectly separating logit after batch norm.

    A batch norm standardises the logits over the batch: a two-valued logit with a
    fraction ``foreground`` of high values becomes ``sqrt((1 - f) / f)`` and
    ``-sqrt(f / (1 - f))`` whatever its spread, then ``scale * z + shift`` goes
    through the sigmoid.
    """
    f = float(foreground)
    z_fg, z_bg = np.sqrt((1 - f) / f), -np.sqrt(f / (1 - f))
    sig = lambda z: float(1 / (1 + np.exp(-(scale * z + shift))))  # noqa: E731
    return sig(z_fg), sig(z_bg)


def bn_head_sweep(foregrounds: Iterable[float], scales: Iterable[float] = (1.0,)) -> pd.DataFrame:
    """Tidy ``foreground, scale, metric, value`` for a perfectly separating batch-normalised head.

    ``metric`` is ``p_foreground``, ``p_background``, ``soft_jaccard`` (the library's, on
    one 256x256 patch with that foreground fraction) and ``iou`` (1 whenever
    ``p_background < 0.5 <= p_foreground``: the thresholded mask is then perfect).
    """
    from mitolib.model import metrics

    pixels = 256 * 256
    rows = []
    for scale in scales:
        for f in foregrounds:
            p_fg, p_bg = bn_head_probabilities(f, scale)
            truth = (np.arange(pixels) < round(f * pixels)).astype(np.float32)
            prob = np.where(truth > 0, p_fg, p_bg).astype(np.float32)
            values = {"p_foreground": p_fg, "p_background": p_bg,
                      "soft_jaccard": float(metrics.soft_jaccard(truth, prob)),
                      "iou": metrics.iou(truth, prob)}
            rows += [{"foreground": float(f), "scale": float(scale), "metric": m, "value": v}
                     for m, v in values.items()]
    return pd.DataFrame(rows)



def mask_with_fraction(fraction: float, pixels: int = 1 << 20) -> np.ndarray:
    """A uint8 ``(1, 1, pixels)`` mask holding ``round(fraction * pixels)`` foreground pixels: the controlled
    input on which a constant prediction scores what it scores on any volume of that foreground fraction."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    mask = np.zeros((1, 1, pixels), np.uint8)
    mask[..., : int(round(fraction * pixels))] = 1
    return mask


def constant_prediction_sweep(truth: np.ndarray, values: Iterable[float]) -> pd.DataFrame:
    """Tidy ``prediction, metric, value``: the metrics of predicting the same probability everywhere.

    A model that learned nothing but the foreground rate does this; its soft Jaccard can
    never exceed the foreground fraction (reached at ``p = 1``).
    """
    rows = []
    for p in values:
        prob = np.full(truth.shape, p, np.float32)
        rows += [{"prediction": float(p), "metric": m, "value": v} for m, v in jaccard_variants(truth, prob).items()]
    return pd.DataFrame(rows)
