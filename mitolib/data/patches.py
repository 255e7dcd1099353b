"""From volumes to training patches: resampling, tiling, train/validation splits, the mispairing ablation.

Two splits of the training volume:

* ``official`` (default): validation is the last contiguous block of slices; the test volume is
  the separate EPFL testing volume.  Only the two slices at the block boundary are neighbours.
* ``random_patches``: the original study's split, a seeded random 10 % of all patches.  It leaks:
  patches of neighbouring, nearly identical slices land on both sides, so validation scores are
  optimistic.

``mispair`` reproduces the original's pairing defect (image and mask lists read by two unsorted
``os.listdir`` calls, which on Linux return unrelated orders): masks are permuted against their
images.  It is an ablation only and never the default.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
from PIL import Image

from mitolib.core.schema import SPLITS

SPLIT_NAMES = SPLITS
RESAMPLING = {  # (kind, shrinking?) -> PIL filter
    ("image", True): Image.Resampling.BOX,        # area average
    ("image", False): Image.Resampling.BILINEAR,  # linear interpolation
    ("mask", True): Image.Resampling.NEAREST,
    ("mask", False): Image.Resampling.NEAREST,
}


def rescale(volume: np.ndarray, scale: float, kind: str) -> np.ndarray:
    """Resample every slice of a uint8 ``(S, H, W)`` volume by ``scale``.

    ``kind="image"``: area averaging when shrinking, linear interpolation when enlarging; uint8.
    ``kind="mask"``: nearest neighbour, so {0, 1} stays {0, 1}.  Returns uint8
    ``(S, round(H * scale), round(W * scale))``; ``scale == 1`` returns ``volume`` itself.
    """
    if kind not in ("image", "mask"):
        raise ValueError(f"kind must be 'image' or 'mask', got {kind!r}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if scale == 1:
        return volume
    volume = np.asarray(volume)
    if volume.ndim != 3 or volume.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (S, H, W) volume, got {volume.dtype} {volume.shape}")
    height, width = (max(1, int(round(side * scale))) for side in volume.shape[1:])
    method = RESAMPLING[kind, scale < 1]
    out = np.empty((volume.shape[0], height, width), dtype=np.uint8)
    for index, plane in enumerate(volume):
        out[index] = np.asarray(Image.fromarray(plane).resize((width, height), method))
    return out


def _stride(patch_size: int, stride: int | None) -> int:
    stride = stride or patch_size
    if patch_size < 1 or stride < 1:
        raise ValueError(f"patch_size and stride must be positive, got {patch_size} and {stride}")
    return stride


def tile_origins(shape: tuple, patch_size: int = 256, stride: int | None = None) -> np.ndarray:
    """int64 ``(N, 3)``: ``(slice, top, left)`` of each patch ``tile`` cuts from a volume of ``shape``, in its order."""
    stride = _stride(patch_size, stride)
    slices, height, width = shape
    if height < patch_size or width < patch_size:
        raise ValueError(f"slices of {height} x {width} are smaller than patch_size {patch_size}; lower patch_size or raise scale")
    tops, lefts = np.arange(0, height - patch_size + 1, stride), np.arange(0, width - patch_size + 1, stride)
    grid = np.meshgrid(np.arange(slices), tops, lefts, indexing="ij")
    return np.stack([axis.reshape(-1) for axis in grid], axis=1)


def with_context(volume: np.ndarray, context: int) -> np.ndarray:
    """2.5D input: every slice of an ``(S, H, W)`` volume with its ``context`` neighbours on each side as channels,
    ``(S, H, W, 2 * context + 1)`` of the same dtype, ordered z - context ... z + context; beyond the first and
    last slice the edge slice repeats.  ``context`` 0 returns ``volume`` unchanged."""
    if context <= 0:
        return volume
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"expected an (S, H, W) volume, got shape {volume.shape}")
    offsets = np.arange(-context, context + 1)
    index = np.clip(np.arange(len(volume))[:, None] + offsets[None, :], 0, len(volume) - 1)
    return np.moveaxis(volume[index], 1, -1)


def tile(volume: np.ndarray, patch_size: int = 256, stride: int | None = None) -> np.ndarray:
    """Cut an ``(S, H, W)`` volume into square patches ``(N, P, P)`` of the same dtype.

    ``stride`` None or 0 means ``patch_size`` (non-overlapping, as the original: a 768 x 1024 slice
    gives 12 patches of 256); a smaller stride overlaps.  A border narrower than a stride step is
    not covered.  A 2.5D volume ``(S, H, W, C)`` (:func:`with_context`) gives patches ``(N, P, P, C)``.  Patches are ordered slice by slice, row by row; ``tile_origins`` gives where each
    came from (``tile_origins(...)[:, 0]`` is its slice).
    """
    volume = np.asarray(volume)
    stride = _stride(patch_size, stride)
    tile_origins(volume.shape[:3], patch_size, stride)  # validates the shape
    windows = np.lib.stride_tricks.sliding_window_view(volume, (patch_size, patch_size), axis=(1, 2))
    windows = windows[:, ::stride, ::stride]
    if volume.ndim == 4:  # (S, nh, nw, C, P, P) -> patches (N, P, P, C)
        return np.ascontiguousarray(np.moveaxis(windows, 3, -1)).reshape(-1, patch_size, patch_size, volume.shape[3])
    return np.ascontiguousarray(windows).reshape(-1, patch_size, patch_size)


def _check_fraction(val_fraction: float, count: int, what: str, rounding=round) -> int:
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    n_val = int(rounding(val_fraction * count))
    if not 0 < n_val < count:
        raise ValueError(f"val_fraction {val_fraction} of {count} {what} leaves an empty train or validation set")
    return n_val


def split_official(images: np.ndarray, masks: np.ndarray, val_fraction: float):
    """Split ``(S, H, W)`` volumes into contiguous slice blocks: ``((x_train, y_train), (x_val, y_val))``.

    Validation is the last ``round(val_fraction * S)`` slices; arrays keep their dtype and are views.
    """
    if images.shape != masks.shape:
        raise ValueError(f"images {images.shape} and masks {masks.shape} differ in shape")
    first_val = len(images) - _check_fraction(val_fraction, len(images), "slices")
    return (images[:first_val], masks[:first_val]), (images[first_val:], masks[first_val:])


def split_random_patches(patches_img: np.ndarray, patches_mask: np.ndarray, val_fraction: float, seed: int):
    """The original's leaky split: a seeded random ``val_fraction`` of ``(N, P, P)`` patches is validation.

    The validation count is rounded up, as scikit-learn's ``train_test_split(test_size=...)`` that the original
    called does: 15 of 144 patches, 198 of 1,980.  Returns ``((x_train, y_train), (x_val, y_val))``, each side in its original patch order.
    """
    if len(patches_img) != len(patches_mask):
        raise ValueError(f"{len(patches_img)} image patches but {len(patches_mask)} mask patches")
    n_val = _check_fraction(val_fraction, len(patches_img), "patches", math.ceil)
    order = np.random.default_rng(seed).permutation(len(patches_img))
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (patches_img[train], patches_mask[train]), (patches_img[val], patches_mask[val])


def mispair(masks: np.ndarray, seed: int) -> np.ndarray:
    """Ablation only: ``masks`` (N, ...) in a seeded random order, so mask i no longer belongs to image i."""
    return masks[np.random.default_rng(seed).permutation(len(masks))]


def first_slices(images: np.ndarray, masks: np.ndarray, count: int):
    """The first ``count`` slices of ``(S, H, W)`` volumes (views; ``count`` 0 = all).  The original's logged runs
    trained on pre-made patches of the first 12 slices of the EPFL training volume."""
    if count < 0 or count > len(images):
        raise ValueError(f"train_slices {count} is outside the training volume's 0 to {len(images)} slices; "
                         "give 0 for all of them")
    return (images[:count], masks[:count]) if count else (images, masks)


def training_arrays(images: np.ndarray, masks: np.ndarray, params: Mapping) -> dict:
    """Training and validation patches of the training volume ``images``, ``masks`` (uint8 ``(S, H, W)``)
    for ``params``: ``{"train": (x, y), "val": (x, y)}``.

    ``x`` and ``y`` are uint8 ``(N, P, P)`` with ``P = patch_size``; ``y`` in {0, 1}.  Uses ``train_slices`` (the first slices only), ``scale``, ``patch_size``, ``patch_stride`` (0 = patch
    size; with the official split it applies to the training slices, validation tiles never
    overlap), ``split``, ``val_fraction``, ``mispair`` and ``seed``.  With ``mispair`` the masks are
    permuted against the images before the split (random_patches, as the original) or within each
    side (official); the test volume is never touched.
    """
    if params["split"] not in SPLIT_NAMES:
        raise ValueError(f"split must be one of {', '.join(SPLIT_NAMES)}, got {params['split']!r}")
    images, masks = first_slices(images, masks, int(params.get("train_slices", 0) or 0))
    images, masks = rescale(images, params["scale"], "image"), rescale(masks, params["scale"], "mask")
    size, stride, seed = params["patch_size"], params["patch_stride"] or None, params["seed"]
    context = int(params.get("context_slices", 0))
    if params["split"] == "official":
        (x_train, y_train), (x_val, y_val) = split_official(images, masks, params["val_fraction"])
        # Neighbours come from the same block (validation never sees a training slice); overlapping tiles add
        # training samples; validation tiles never overlap (no pixel counted twice).
        x_train, x_val = with_context(x_train, context), with_context(x_val, context)
        sides = [(tile(x_train, size, stride), tile(y_train, size, stride)), (tile(x_val, size), tile(y_val, size))]
        if params["mispair"]:
            sides = [(x, mispair(y, seed)) for x, y in sides]
        return dict(zip(("train", "val"), sides))
    x, y = tile(with_context(images, context), size, stride), tile(masks, size, stride)
    if params["mispair"]:
        y = mispair(y, seed)
    train, val = split_random_patches(x, y, params["val_fraction"], seed)
    return {"train": train, "val": val}
