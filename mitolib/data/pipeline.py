"""Input pipelines from uint8 patch arrays: ``tf.data`` on the TensorFlow backend, a ``keras.utils.PyDataset``
on the others (JAX, PyTorch), with the same contract.

Patches stay uint8 through shuffling and augmentation (a quarter of the memory of float32) and
are cast and scaled once a batch is formed.  Augmentation draws one of the eight flips/rotations of
the square per patch and applies it to the image and its mask stacked together, so they cannot
disagree.  Random draws come from ``seed``: the same seed gives the same batches, epoch by epoch (the two
implementations draw differently, so a seed gives the same batches only on the same backend).
"""

from __future__ import annotations

import keras
import numpy as np

from mitolib.core.schema import CHANNELS

CHANNEL_CHOICES = CHANNELS
SYMMETRIES = 8          # 4 rotations x (flipped or not): the dihedral group of the square
ROTATIONS = 4
PIXEL_SCALE = 255.0     # uint8 image -> [0, 1]
MASK_MAX = 1


def make_dataset(images: np.ndarray, masks: np.ndarray, batch_size: int, *, channels: int = 1,
                 shuffle: bool = False, augment: bool = False, seed: int = 0, repeat: bool = False):
    """Batches of ``(image, mask)`` from uint8 ``(N, P, P)`` images (or 2.5D ``(N, P, P, C)``, a slice and its
    neighbours as channels) and ``(N, P, P)`` masks in {0, 1}.

    Yields float32 images ``(B, P, P, channels)`` in [0, 1] (``channels=3``: three identical copies,
    as the original recipe fed grayscale EM to a 3-channel input) and float32 masks ``(B, P, P, 1)``
    in {0, 1}.  ``shuffle`` reshuffles every pass (deterministic given ``seed``); ``augment`` applies
    random flips and 90-degree rotations, the same to image and mask; ``repeat`` loops forever.
    The last batch may be smaller than ``batch_size``.
    """
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim not in (3, 4) or images.shape[1] != images.shape[2] or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, P, P) or 2.5D (N, P, P, C), got {images.dtype} {images.shape}")
    if masks.shape != images.shape[:3] or masks.dtype != np.uint8:
        raise ValueError(f"masks must be uint8 {images.shape[:3]} like the images, got {masks.dtype} {masks.shape}")
    if images.ndim == 4 and channels != 1:
        raise ValueError("2.5D patches carry their own channels; copies (channels 3) apply to 2-D patches only")
    if len(images) == 0:
        raise ValueError("no patches: the split left this set empty")
    if masks.max() > MASK_MAX:
        raise ValueError(f"masks must hold {{0, 1}}, found a value {masks.max()}; load them with mitolib.data.volumes")
    if channels not in CHANNEL_CHOICES:
        raise ValueError(f"channels must be one of {CHANNEL_CHOICES}, got {channels}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")

    if keras.backend.backend() == "tensorflow":
        return _tf_dataset(images, masks, batch_size, channels, shuffle, augment, seed, repeat)
    return PatchBatches(images, masks, batch_size, channels=channels, shuffle=shuffle, augment=augment, seed=seed,
                        repeat=repeat)


def _tf_dataset(images, masks, batch_size, channels, shuffle, augment, seed, repeat):
    import tensorflow as tf

    def symmetry(pair, draw):
        """One of the 8 symmetries of the square, chosen by ``draw``, applied to a ``(P, P, C + 1)`` pair."""
        choice = draw % SYMMETRIES
        pair = tf.image.rot90(pair, k=tf.cast(choice % ROTATIONS, tf.int32))
        return tf.cond(choice >= ROTATIONS, lambda: tf.image.flip_left_right(pair), lambda: pair)

    planes = images if images.ndim == 4 else images[..., None]
    width = planes.shape[-1]  # image channels; the mask rides along as the last one
    dataset = tf.data.Dataset.from_tensor_slices(np.concatenate([planes, masks[..., None]], axis=-1))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    if augment:
        draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        dataset = tf.data.Dataset.zip((dataset, draws)).map(symmetry, num_parallel_calls=tf.data.AUTOTUNE,
                                                             deterministic=True)
    dataset = dataset.batch(batch_size)

    def to_float(pairs: tf.Tensor):
        image = tf.cast(pairs[..., :width], tf.float32) / PIXEL_SCALE
        mask = tf.cast(pairs[..., width:], tf.float32)
        return (tf.repeat(image, channels, axis=-1) if channels > 1 else image), mask

    return dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)


class PatchBatches(keras.utils.PyDataset):
    """Batches like the ``tf.data`` pipeline's, for backends without TensorFlow: uint8 patches are shuffled
    (``numpy.random.default_rng(seed)``, a new order every pass), given one of the 8 symmetries of the square
    per patch when ``augment``, and cast to float32 per batch.  With ``repeat`` the dataset is infinite
    (``num_batches`` is ``None``) and ``fit`` takes ``steps_per_epoch`` batches per epoch from it."""

    def __init__(self, images, masks, batch_size, *, channels=1, shuffle=False, augment=False, seed=0, repeat=False):
        super().__init__()
        self.images, self.masks, self.batch_size, self.channels = images, masks, batch_size, channels
        self.shuffle, self.augment, self.repeat = shuffle, augment, repeat
        self.rng = np.random.default_rng(seed)
        self.batches_per_pass = -(-len(images) // batch_size)
        self.order = self._new_order()
        self._served = False

    def _new_order(self) -> np.ndarray:
        return self.rng.permutation(len(self.images)) if self.shuffle else np.arange(len(self.images))

    @property
    def num_batches(self):
        return None if self.repeat else self.batches_per_pass

    def __len__(self):
        return self.batches_per_pass

    def __getitem__(self, index):
        index %= self.batches_per_pass
        if index == 0 and self.repeat and self.shuffle and self._served:
            self.order = self._new_order()
        self._served = True
        chosen = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        images, masks = self.images[chosen], self.masks[chosen]
        if self.augment:
            draws = self.rng.integers(0, SYMMETRIES, size=len(chosen))
            images, masks = _symmetries(images, draws), _symmetries(masks, draws)
        image = (images if images.ndim == 4 else images[..., None]).astype(np.float32) / PIXEL_SCALE
        if self.channels > 1:
            image = np.repeat(image, self.channels, axis=-1)
        return image, masks[..., None].astype(np.float32)

    def on_epoch_end(self):
        if self.shuffle and not self.repeat:
            self.order = self._new_order()


def dihedral(x: np.ndarray, draw: int, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Symmetry ``draw`` (0-7) of the square applied to the plane ``axes`` of ``x``: ``draw % 4`` quarter turns,
    then mirrored left-right when ``draw >= 4`` (the ``tf.image.rot90`` / ``flip_left_right`` convention of the
    tf.data augmentation above; the one NumPy home of it, for augmentation and test-time augmentation)."""
    turned = np.rot90(x, k=int(draw) % ROTATIONS, axes=axes)
    return np.flip(turned, axis=axes[1]) if draw >= ROTATIONS else turned


def undo_dihedral(x: np.ndarray, draw: int, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """The inverse of :func:`dihedral` (mirror back, then turn back)."""
    x = np.flip(x, axis=axes[1]) if draw >= ROTATIONS else x
    return np.rot90(x, k=-(int(draw) % ROTATIONS), axes=axes)


def _symmetries(patches: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Patch ``i`` of ``(N, P, P)`` or ``(N, P, P, C)`` under symmetry ``draws[i]`` (:func:`dihedral`)."""
    out = np.empty_like(patches)
    for i, (patch, draw) in enumerate(zip(patches, draws)):
        out[i] = dihedral(patch, draw)
    return out
