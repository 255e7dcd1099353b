"""mitolib.data.volumes on the real EPFL data (skipped, with the reason, where the data are absent)."""

from __future__ import annotations

import numpy as np
import pytest

from mitolib.data.epfl import EPFL_FILES
from mitolib.data.epfl import pixel_sha256, read_registry

pytestmark = pytest.mark.realdata

FOREGROUND_PERCENT = {"train": 5.630, "test": 5.309}  # measured, see ../shared/data/epfl_mito/SOURCE.md


@pytest.mark.parametrize("split", ["train", "test"])
def test_volumes_shape_dtype_and_foreground(epfl_volumes, split):
    images, masks = epfl_volumes[split]
    assert images.shape == masks.shape == (165, 768, 1024)
    assert images.dtype == masks.dtype == np.uint8
    assert set(np.unique(masks[::20])) == {0, 1}
    assert round(100 * float(masks.mean()), 3) == FOREGROUND_PERCENT[split]


@pytest.mark.parametrize("split", ["train", "test"])
def test_pixels_match_the_registry(epfl_volumes, split):
    images, masks = epfl_volumes[split]
    image_name, mask_name = EPFL_FILES[split]
    registry = read_registry()
    assert pixel_sha256(images) == registry[image_name].sha256
    assert pixel_sha256(masks * np.uint8(255)) == registry[mask_name].sha256


@pytest.mark.parametrize("split", ["train", "test"])
def test_mitochondria_are_darker(epfl_volumes, split):
    images, masks = epfl_volumes[split]
    inside, outside = images[::8][masks[::8] == 1].mean(), images[::8][masks[::8] == 0].mean()
    assert 105 < inside < 115 and 137 < outside < 147



def test_the_epfl_training_volume_is_recognised_by_its_pixels_only():
    from mitolib.data.epfl import EPFL_NAME
    from mitolib.data.volumes import describe_training_data, resolve_volumes

    images, masks = resolve_volumes({"data_source": "epfl", "data_root": ""}, "train")
    described = describe_training_data({"data_source": "epfl"}, images, masks)
    assert described["name"] == EPFL_NAME and described["pixel_size_nm"] == 5.0 and described["doi"]
    changed = np.array(images)
    changed[0, 0, 0] ^= 1  # one pixel of someone else's volume
    assert describe_training_data({"data_source": "epfl"}, changed, masks)["name"] is None
