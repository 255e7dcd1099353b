"""mitolib.data.patches: resampling, tiling, splits and the mispairing ablation."""

from __future__ import annotations

import numpy as np
import pytest

from mitolib.data.volumes import resolve_volumes
from mitolib.data.patches import (
    mispair, rescale, split_official, split_random_patches, tile, tile_origins, training_arrays,
)


def test_rescale_image_averages_area_and_mask_stays_binary():
    image = np.array([[[0, 100, 10, 10], [100, 200, 10, 30]]], np.uint8)  # (1, 2, 4)
    assert rescale(image, 0.5, "image").tolist() == [[[100, 15]]]
    mask = np.array([[[0, 1, 1, 1], [0, 0, 1, 1]]] * 2, np.uint8)
    for scale in (0.5, 1.5, 3.0):
        out = rescale(mask, scale, "mask")
        assert out.dtype == np.uint8 and out.shape == (2, round(2 * scale), round(4 * scale))
        assert set(np.unique(out)) <= {0, 1}
    up = rescale(np.array([[[0, 200]]], np.uint8), 2.0, "image")
    assert up.shape == (1, 2, 4) and up[0, 0, 0] < up[0, 0, 1] < up[0, 0, 2] < up[0, 0, 3]
    assert rescale(mask, 1.0, "mask") is mask
    with pytest.raises(ValueError, match="kind must be"):
        rescale(mask, 0.5, "label")


def test_tile_epfl_shape_gives_1980_patches():
    volume = np.zeros((165, 768, 1024), np.uint8)
    volume[:, 300, 600] = np.arange(165, dtype=np.uint8)  # one marked pixel per slice
    patches = tile(volume)
    origins = tile_origins(volume.shape)
    assert patches.shape == (1980, 256, 256) and origins.shape == (1980, 3)
    assert np.array_equal(np.bincount(origins[:, 0]), np.full(165, 12))
    # the marked pixel (300, 600) sits in the patch with top 256, left 512, at (44, 88)
    hits = (origins[:, 1] == 256) & (origins[:, 2] == 512)
    assert np.array_equal(patches[hits, 44, 88], np.arange(165))


def test_tile_order_and_overlap():
    volume = np.arange(2 * 4 * 6, dtype=np.uint8).reshape(2, 4, 6)
    patches = tile(volume, 2)
    assert patches.shape == (12, 2, 2) and np.array_equal(patches[1], volume[0, 0:2, 2:4])
    strided = tile(volume, 4, stride=1)
    origins = tile_origins(volume.shape, 4, 1)
    assert strided.shape == (6, 4, 4) and origins[:, 2].tolist() == [0, 1, 2] * 2
    for patch, (z, top, left) in zip(strided, origins):
        assert np.array_equal(patch, volume[z, top:top + 4, left:left + 4])
    with pytest.raises(ValueError, match="smaller than patch_size 8"):
        tile(volume, 8)


def test_split_official_takes_the_last_block():
    images = np.arange(20, dtype=np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8)
    (x_train, y_train), (x_val, y_val) = split_official(images, images.copy(), 0.15)
    assert x_train[:, 0, 0].tolist() == list(range(17)) and x_val[:, 0, 0].tolist() == [17, 18, 19]
    assert np.array_equal(x_val, y_val)
    with pytest.raises(ValueError, match="leaves an empty"):
        split_official(images[:2], images[:2], 0.1)


def test_split_random_patches_is_seeded_and_disjoint():
    x = np.arange(100, dtype=np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8)
    (xt, yt), (xv, yv) = split_random_patches(x, x.copy(), 0.1, seed=3)
    again = split_random_patches(x, x, 0.1, seed=3)[1][0]
    other = split_random_patches(x, x, 0.1, seed=4)[1][0]
    train_ids, val_ids = set(xt[:, 0, 0].tolist()), set(xv[:, 0, 0].tolist())
    assert len(val_ids) == 10 and len(train_ids) == 90 and not train_ids & val_ids
    assert np.array_equal(xv, again) and not np.array_equal(xv, other)
    assert np.array_equal(xt, yt) and np.array_equal(xv, yv)  # pairs stay together


def test_mispair_permutes_masks_reproducibly():
    masks = np.arange(50, dtype=np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8)
    shuffled = mispair(masks, seed=0)
    assert sorted(shuffled[:, 0, 0].tolist()) == list(range(50))
    assert (shuffled[:, 0, 0] != np.arange(50)).mean() > 0.9
    assert np.array_equal(shuffled, mispair(masks, seed=0))


def smoke_params(**changes):
    params = {"data_source": "synthetic", "synthetic_slices": 8, "synthetic_height": 64, "synthetic_width": 96,
              "scale": 1.0, "patch_size": 32, "patch_stride": 0, "split": "official", "val_fraction": 0.25,
              "mispair": False, "seed": 0}
    return {**params, **changes}


def arrays_of(params):
    """The training patches of ``params``'s training volume."""
    return training_arrays(*resolve_volumes(params, "train"), params)


def test_training_arrays_official():
    arrays = arrays_of(smoke_params())
    (x, y), (xv, yv) = arrays["train"], arrays["val"]
    assert x.shape == y.shape == (6 * 6, 32, 32) and xv.shape == (2 * 6, 32, 32)
    assert x.dtype == y.dtype == np.uint8 and set(np.unique(y)) == {0, 1}
    # the pairs are right: mitochondria are darker than the rest in every split
    assert x[y == 1].mean() + 20 < x[y == 0].mean()


def test_official_stride_overlaps_training_tiles_only():
    arrays = arrays_of(smoke_params(patch_stride=16))
    # training: 6 slices x 3 rows x 5 columns of 32-pixel tiles at stride 16; validation: 2 x 2 x 3, no overlap
    assert arrays["train"][0].shape == (6 * 3 * 5, 32, 32)
    assert arrays["val"][0].shape == (2 * 2 * 3, 32, 32)


def test_training_arrays_random_patches_scale_stride_and_mispair():
    arrays = arrays_of(smoke_params(split="random_patches", val_fraction=0.1, scale=0.5, patch_size=16,
                                    patch_stride=8))
    total = 8 * 3 * 5  # (32 - 16) / 8 + 1 rows, (48 - 16) / 8 + 1 columns per slice
    assert len(arrays["train"][0]) + len(arrays["val"][0]) == total and len(arrays["val"][0]) == 12
    paired = arrays_of(smoke_params())["train"]
    crossed = arrays_of(smoke_params(mispair=True))["train"]
    assert np.array_equal(paired[0], crossed[0]) and not np.array_equal(paired[1], crossed[1])
    assert sorted(map(bytes, paired[1])) == sorted(map(bytes, crossed[1]))  # the same masks, reordered
    with pytest.raises(ValueError, match="split must be one of official, random_patches"):
        arrays_of(smoke_params(split="kfold"))


@pytest.mark.realdata
def test_tile_real_training_volume(epfl_volumes):
    images, masks = epfl_volumes["train"]
    patches, mask_patches = tile(images), tile(masks)
    assert patches.shape == mask_patches.shape == (1980, 256, 256)
    assert np.array_equal(patches[13], images[1, 0:256, 256:512])
    assert abs(mask_patches.mean() - masks.mean()) < 1e-12  # 768 x 1024 tiles exactly
