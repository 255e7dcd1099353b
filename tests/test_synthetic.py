"""mitolib.data.synthetic: EM-like volumes with ground truth."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mitolib.data import synthetic
from mitolib.data.volumes import load_volume
from mitolib.data.synthetic import make_split, make_volume, write_slice_folders


@pytest.fixture(scope="module")
def default_volume():
    """The default synthetic size of studies.yml: 24 slices of 256 x 256."""
    started = time.process_time()
    volume = make_volume(24, 256, 256, seed=0)
    return volume, time.process_time() - started


def test_shape_dtype_and_speed(default_volume):
    (images, masks), seconds = default_volume
    assert images.shape == masks.shape == (24, 256, 256)
    assert images.dtype == masks.dtype == np.uint8
    assert set(np.unique(masks)) == {0, 1}
    assert seconds < 2.0  # CPU seconds, so a busy machine does not fail it


def test_foreground_fraction_like_epfl(default_volume):
    (_, masks), _ = default_volume
    assert 0.05 <= masks.mean() <= 0.06


def test_mitochondria_darker_like_epfl(default_volume):
    (images, masks), _ = default_volume
    inside, outside = images[masks == 1].mean(), images[masks == 0].mean()
    assert 105 <= inside <= 115 and 137 <= outside <= 147


def test_neighbouring_slices_share_mitochondria(default_volume):
    (_, masks), _ = default_volume
    a, b = masks[:-1].astype(bool), masks[1:].astype(bool)
    assert (a & b).sum() / (a | b).sum() > 0.5  # a volume, not independent slices
    far = masks[:-12].astype(bool), masks[12:].astype(bool)
    assert (far[0] & far[1]).sum() / (far[0] | far[1]).sum() < 0.3


def test_deterministic_and_seed_dependent():
    a, b, c = make_volume(2, 48, 64, 5), make_volume(2, 48, 64, 5), make_volume(2, 48, 64, 6)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_splits_differ_and_do_not_follow_a_training_seed():
    assert synthetic.split_seed("train") != synthetic.split_seed("test")
    train, test = make_split("train", 2, 32, 32), make_split("test", 2, 32, 32)
    assert not np.array_equal(train[0], test[0])
    with pytest.raises(ValueError, match="split must be one of train, test"):
        synthetic.split_seed("val")


def test_small_volumes_still_have_foreground():
    _, masks = make_volume(8, 64, 96, seed=0)  # the smoke profile's size
    assert 0.04 <= masks.mean() <= 0.09


def test_write_slice_folders_round_trip(tmp_path):
    root = write_slice_folders(tmp_path, 3, 40, 48, seed=2)
    assert sorted(p.name for p in (root / "test" / "masks").iterdir()) == ["test_000.png", "test_001.png", "test_002.png"]
    for split in ("train", "test"):
        images, masks = load_volume(root, split)
        expected = make_split(split, 3, 40, 48, seed=2)
        assert np.array_equal(images, expected[0]) and np.array_equal(masks, expected[1])
