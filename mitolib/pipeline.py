"""``tf.data`` input pipelines from uint8 patch arrays.

Patches stay uint8 through shuffling and augmentation (a quarter of the memory of float32) and
are cast and scaled once a batch is formed.  Augmentation draws one of the eight flips/rotations of
the square per patch and applies it to the image and its mask stacked together, so they cannot
disagree.  Random draws come from ``seed``: the same seed gives the same batches, epoch by epoch.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

CHANNEL_CHOICES = (1, 3)
SYMMETRIES = 8          # 4 rotations x (flipped or not): the dihedral group of the square
ROTATIONS = 4
PIXEL_SCALE = 255.0     # uint8 image -> [0, 1]
MASK_MAX = 1


def _augment(pair: tf.Tensor, draw: tf.Tensor) -> tf.Tensor:
    """One of the 8 symmetries of the square, chosen by ``draw``, applied to a ``(P, P, 2)`` pair."""
    choice = draw % SYMMETRIES
    pair = tf.image.rot90(pair, k=tf.cast(choice % ROTATIONS, tf.int32))
    return tf.cond(choice >= ROTATIONS, lambda: tf.image.flip_left_right(pair), lambda: pair)


def make_dataset(images: np.ndarray, masks: np.ndarray, batch_size: int, *, channels: int = 1,
                 shuffle: bool = False, augment: bool = False, seed: int = 0, repeat: bool = False) -> tf.data.Dataset:
    """Batches of ``(image, mask)`` from uint8 ``(N, P, P)`` images and ``(N, P, P)`` masks in {0, 1}.

    Yields float32 images ``(B, P, P, channels)`` in [0, 1] (``channels=3``: three identical copies,
    as the original recipe fed grayscale EM to a 3-channel input) and float32 masks ``(B, P, P, 1)``
    in {0, 1}.  ``shuffle`` reshuffles every pass (deterministic given ``seed``); ``augment`` applies
    random flips and 90-degree rotations, the same to image and mask; ``repeat`` loops forever.
    The last batch may be smaller than ``batch_size``.
    """
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim != 3 or images.shape[1] != images.shape[2] or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, P, P), got {images.dtype} {images.shape}")
    if masks.shape != images.shape or masks.dtype != np.uint8:
        raise ValueError(f"masks must be uint8 {images.shape} like the images, got {masks.dtype} {masks.shape}")
    if len(images) == 0:
        raise ValueError("no patches: the split left this set empty")
    if masks.max() > MASK_MAX:
        raise ValueError(f"masks must hold {{0, 1}}, found a value {masks.max()}; load them with mitolib.data")
    if channels not in CHANNEL_CHOICES:
        raise ValueError(f"channels must be one of {CHANNEL_CHOICES}, got {channels}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")

    dataset = tf.data.Dataset.from_tensor_slices(np.stack([images, masks], axis=-1))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    if augment:
        draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        dataset = tf.data.Dataset.zip((dataset, draws)).map(_augment, num_parallel_calls=tf.data.AUTOTUNE,
                                                             deterministic=True)
    dataset = dataset.batch(batch_size)

    def to_float(pairs: tf.Tensor):
        image = tf.cast(pairs[..., :1], tf.float32) / PIXEL_SCALE
        mask = tf.cast(pairs[..., 1:], tf.float32)
        return (tf.repeat(image, channels, axis=-1) if channels > 1 else image), mask

    return dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)
