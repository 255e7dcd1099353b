"""2.5D input: a slice with its neighbours as channels, in patches, batches, training, evaluation and prediction."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from mitolib.model import metrics
from mitolib.core.config import resolve_params
from mitolib.core.errors import ConfigError
from mitolib.data.patches import tile, with_context
from mitolib.data.pipeline import make_dataset


def test_with_context_stacks_neighbours_and_repeats_the_edges():
    volume = np.arange(4, dtype=np.uint8)[:, None, None] * np.ones((1, 2, 3), np.uint8)  # slice k holds k
    stacked = with_context(volume, 1)
    assert stacked.shape == (4, 2, 3, 3) and stacked.dtype == np.uint8
    assert stacked[0, 0, 0].tolist() == [0, 0, 1] and stacked[2, 0, 0].tolist() == [1, 2, 3]
    assert stacked[3, 0, 0].tolist() == [2, 3, 3]
    assert with_context(volume, 0) is volume


def test_tiles_of_a_2_5d_volume_keep_their_channels():
    volume = with_context(np.random.default_rng(0).integers(0, 255, (3, 8, 8), dtype=np.uint8), 1)
    patches = tile(volume, 4)
    assert patches.shape == (3 * 4, 4, 4, 3)
    assert np.array_equal(patches[5], volume[1, 0:4, 4:8])  # slice 1, row 0, column 1


def test_batches_of_2_5d_patches_turn_image_and_mask_together():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, (6, 8, 8, 3), dtype=np.uint8)
    masks = (images[..., 1] > 127).astype(np.uint8)  # the mask follows the middle channel
    batch_images, batch_masks = next(iter(make_dataset(images, masks, 6, augment=True, seed=3)))
    batch_images, batch_masks = np.asarray(batch_images), np.asarray(batch_masks)
    assert batch_images.shape == (6, 8, 8, 3) and batch_masks.shape == (6, 8, 8, 1)
    assert np.array_equal(batch_images[..., 1] > 127 / 255, batch_masks[..., 0] > 0.5)
    with pytest.raises(ValueError, match="copies .* apply to 2-D patches only"):
        make_dataset(images, masks, 2, channels=3)


def test_context_needs_one_channel():
    with pytest.raises(ConfigError, match="channels must then be 1, got 3"):
        resolve_params("smoke", {"context_slices": 1, "channels": 3})


@pytest.fixture(scope="module")
def context_run(tmp_path_factory):
    from types import SimpleNamespace

    from mitolib.training.train import train

    run_dir = tmp_path_factory.mktemp("context") / "run"
    params = resolve_params("smoke", {"context_slices": 1, "out_dir": str(run_dir)})
    train(params, run_dir, progress=False)
    return SimpleNamespace(run_dir=run_dir, params=params)


def test_a_2_5d_model_trains_and_predicts_as_it_evaluates(context_run, tmp_path):
    import keras

    from mitolib.core import rundir
    from mitolib.data.volumes import resolve_volumes
    from mitolib.training.segment import predict_stack

    model = keras.models.load_model(context_run.run_dir / "model.keras", compile=False)
    assert model.input_shape[-1] == 3
    assert rundir.read_metrics(context_run.run_dir)["status"] == "done"
    images, masks = resolve_volumes(context_run.params, "test")
    tifffile.imwrite(tmp_path / "stack.tif", images)
    predict_stack(context_run.run_dir, tmp_path / "stack.tif", tmp_path / "masks.tif", object_steps=False,
                  progress=False)  # the thresholded probabilities, which the test IoU scores
    predicted = tifffile.imread(tmp_path / "masks.tif") > 0
    assert metrics.iou(masks, predicted) == pytest.approx(rundir.read_metrics(context_run.run_dir)["test_iou"])


def test_a_2_5d_package_validates(context_run, tmp_path):
    from mitolib.training.export import export_run, validate_package

    status, report = validate_package(export_run(context_run.run_dir, tmp_path / "m.zip"))
    assert status == "valid-format", report
