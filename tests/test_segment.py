"""mitolib predict: the same result as the evaluation, streamed stacks, pixel sizes, and every bad input refused
with its message before a model is loaded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

import mitolib
from mitolib.training import evaluate
from mitolib.model import metrics
from mitolib.cli import main
from mitolib.data.volumes import resolve_volumes
from mitolib.core.errors import DataError
from mitolib import load_model
from mitolib.training.segment import predict_stack
from mitolib.data.stacks import open_stack, write_stack


@pytest.fixture(scope="module")
def test_volume(smoke_run):
    return resolve_volumes(smoke_run.params, "test")


def evaluate_iou(smoke_run, images, masks, **options):
    params = smoke_run.params
    model = load_model(smoke_run.run_dir / "model.keras")
    summary, _ = evaluate.evaluate_volume(model, images, masks, scale=params["scale"],
                                          window=params["eval_window"] or params["patch_size"],
                                          overlap=params["eval_overlap"], batch_size=params["eval_batch_size"],
                                          threshold=params["threshold"], progress=False, **options)
    return summary["test_iou"]


def test_predict_stack_scores_what_evaluate_reports(smoke_run, test_volume, tmp_path):
    images, masks = test_volume
    tifffile.imwrite(tmp_path / "stack.tif", images)
    report = predict_stack(smoke_run.run_dir, tmp_path / "stack.tif", tmp_path / "masks.tif", z_median=3,
                           object_steps=False, progress=False)  # the thresholded probabilities the IoU scores
    written = tifffile.imread(tmp_path / "masks.tif")
    assert written.shape == images.shape and written.dtype == np.uint8 and set(np.unique(written)) <= {0, 255}
    assert metrics.iou(masks, written > 0) == evaluate_iou(smoke_run, images, masks, z_median_size=3)
    assert report["slices"] == len(images) and report["z_median"] == 3
    assert report["input_pixel_size_from"].startswith("assumed") and report["pixel_size_assumed"]
    assert open_stack(tmp_path / "masks.tif").pixel_size_nm is None  # an assumed size is not stamped as known
    assert not list(tmp_path.glob(".*"))  # no partial or temporary file left


def test_python_api_on_arrays(smoke_run, test_volume):
    images, masks = test_volume
    with pytest.raises(ValueError, match="an array carries no pixel size"):
        mitolib.predict(images, smoke_run.run_dir)
    mask = mitolib.predict(images, smoke_run.run_dir, assume_model_pixel_size=True)
    assert np.array_equal(mask, mitolib.predict(images, smoke_run.run_dir, pixel_size=5.0))
    assert mask.shape == images.shape and mask.dtype == np.uint8
    assert metrics.iou(masks, mask) == evaluate_iou(smoke_run, images, masks)
    probs = mitolib.predict(images[0], smoke_run.run_dir, pixel_size=5.0, output="probabilities")
    assert probs.shape == images[0].shape and probs.dtype == np.float32 and 0 <= probs.min() <= probs.max() <= 1
    with pytest.raises(ValueError, match="must be uint8"):
        mitolib.predict(images.astype(np.float32), smoke_run.run_dir, pixel_size=5.0)


def test_pixel_size_from_metadata_rescales_and_writes_back(smoke_run, test_volume, tmp_path):
    images, _ = test_volume
    write_stack(tmp_path / "stack.ome.tif", iter(images), images.shape, pixel_size_nm=2.5)
    report = predict_stack(smoke_run.run_dir, tmp_path / "stack.ome.tif", tmp_path / "masks.ome.tif", progress=False)
    assert report["input_pixel_size_nm"] == 2.5 and report["resampling"] == 0.5
    assert report["input_pixel_size_from"] == "the file's metadata: OME-XML PhysicalSizeX (nm)"
    out = open_stack(tmp_path / "masks.ome.tif")
    assert out.shape == images.shape and out.pixel_size_nm == pytest.approx(2.5)


def test_folder_and_zarr_inputs(smoke_run, test_volume, tmp_path):
    images, _ = test_volume
    folder = tmp_path / "slices"
    folder.mkdir()
    for index, plane in enumerate(images):
        Image.fromarray(plane).save(folder / f"s{index}.png")  # s10 after s9: natural order
    predict_stack(smoke_run.run_dir, folder, tmp_path / "from_folder.tif", progress=False)
    write_stack(tmp_path / "stack.zarr", iter(images), images.shape)
    predict_stack(smoke_run.run_dir, tmp_path / "stack.zarr", tmp_path / "masks.zarr",
                  probabilities_path=tmp_path / "probs.zarr", progress=False)
    from_zarr = open_stack(tmp_path / "masks.zarr").read(0, len(images))
    assert np.array_equal(from_zarr, tifffile.imread(tmp_path / "from_folder.tif"))
    assert open_stack(tmp_path / "probs.zarr").shape == images.shape


def test_sixteen_bit_input_needs_convert(smoke_run, test_volume, tmp_path):
    images, _ = test_volume
    tifffile.imwrite(tmp_path / "stack16.tif", images.astype(np.uint16) * 256)
    with pytest.raises(DataError, match="uint16, but the model was trained on 8-bit EM.*pass --convert"):
        predict_stack(smoke_run.run_dir, tmp_path / "stack16.tif", tmp_path / "m.tif", progress=False)
    report = predict_stack(smoke_run.run_dir, tmp_path / "stack16.tif", tmp_path / "m.tif", convert=True,
                           progress=False)
    assert "uint16 rescaled linearly" in report["intensity"]


@pytest.mark.parametrize("make, message", [
    (lambda p: tifffile.imwrite(p / "in.tif", np.zeros((2, 3, 40, 40), np.uint8)), "4 dimensions"),
    (lambda p: tifffile.imwrite(p / "in.tif", np.zeros((40, 40, 3), np.uint8), photometric="rgb"), "RGB"),
    (lambda p: tifffile.imwrite(p / "in.tif", np.zeros((3, 40, 40), np.float32)), "float32, but the model"),
    (lambda p: (p / "in.tif").write_bytes(b""), "empty file"),
    (lambda p: (p / "in.tif").write_bytes(b"II*\x00garbage"), "unreadable TIFF"),
    (lambda p: (p / "in.png").write_bytes(b"png"), "unsupported input '.png'"),
])
def test_bad_inputs_are_refused_before_the_model_loads(tmp_path, make, message):
    make(tmp_path)
    source = next(tmp_path.glob("in.*"))
    with pytest.raises(DataError, match=message):
        predict_stack(tmp_path / "no-model", source, tmp_path / "out.tif", progress=False)  # no model needed


def test_folder_with_mismatched_slices(tmp_path):
    (tmp_path / "slices").mkdir()
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(tmp_path / "slices" / "a.png")
    Image.fromarray(np.zeros((40, 48), np.uint8)).save(tmp_path / "slices" / "b.png")
    with pytest.raises(DataError, match="b.png: slice of 40 x 48 pixels, but a.png has 40 x 40"):
        predict_stack(tmp_path / "no-model", tmp_path / "slices", tmp_path / "out.tif", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no slices"):
        open_stack(tmp_path / "empty")


def test_existing_output_needs_overwrite_and_bad_model(smoke_run, tmp_path):
    tifffile.imwrite(tmp_path / "in.tif", np.zeros((2, 32, 32), np.uint8))
    (tmp_path / "out.tif").write_bytes(b"x")
    with pytest.raises(DataError, match="already exists; pass --overwrite"):
        predict_stack(smoke_run.run_dir, tmp_path / "in.tif", tmp_path / "out.tif", progress=False)
    (tmp_path / "broken.keras").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="cannot be loaded.*truncated"):
        predict_stack(tmp_path / "broken.keras", tmp_path / "in.tif", tmp_path / "new.tif", model_pixel_size=5,
                      progress=False)


def test_interrupted_write_leaves_no_file(tmp_path):
    def planes():
        yield np.zeros((8, 8), np.uint8)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_stack(tmp_path / "out.tif", planes(), (3, 8, 8))
    assert list(tmp_path.iterdir()) == []


def test_cli_predict_says_which_pixel_size(smoke_run, test_volume, tmp_path, capsys):
    images, _ = test_volume
    tifffile.imwrite(tmp_path / "stack.tif", images)
    code = main(["predict", str(smoke_run.run_dir), str(tmp_path / "stack.tif"), "-o", str(tmp_path / "m.tif"),
                 "--pixel-size", "5", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "pixel size: 5 nm (--pixel-size)" in out and "wrote" in out
    code = main(["predict", str(smoke_run.run_dir), str(tmp_path / "stack.tif"), "-o", str(tmp_path / "m.tif")])
    assert code == 2 and "already exists" in capsys.readouterr().err
    code = main(["predict", str(smoke_run.run_dir), str(tmp_path / "stack.tif"), "-o", str(tmp_path / "n.tif"),
                 "--quiet"])  # the stack states no pixel size: said loudly, not stamped on the output
    assert code == 0 and "WARNING: " in capsys.readouterr().err


def test_the_output_is_never_an_input_even_with_overwrite(smoke_run, tmp_path, capsys):
    """The loss case: `mitolib predict X -o X --overwrite` replaced the raw stack by masks."""
    stack = np.arange(2 * 32 * 32, dtype=np.uint32).reshape(2, 32, 32).astype(np.uint8)
    tifffile.imwrite(tmp_path / "in.tif", stack)
    before = (tmp_path / "in.tif").read_bytes()
    code = main(["predict", str(smoke_run.run_dir), str(tmp_path / "in.tif"), "-o", str(tmp_path / "in.tif"),
                 "--overwrite", "--pixel-size", "5", "--quiet"])
    assert code == 2 and "which the command reads" in capsys.readouterr().err
    assert (tmp_path / "in.tif").read_bytes() == before
    with pytest.raises(DataError, match="which the command reads"):  # probabilities written over the masks
        predict_stack(smoke_run.run_dir, tmp_path / "in.tif", tmp_path / "m.tif",
                      probabilities_path=tmp_path / "m.tif", overwrite=True, progress=False)
    (tmp_path / "folder.tif").mkdir()
    with pytest.raises(DataError, match="is a folder"):
        predict_stack(smoke_run.run_dir, tmp_path / "in.tif", tmp_path / "folder.tif", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.tif", "in.tif"]  # nothing half-written


def test_nothing_about_the_model_is_guessed(smoke_run, tmp_path):
    """A .keras file without its run's params.json, a pixel size of 0 and a 2-channel model are refused."""
    import shutil

    import keras

    tifffile.imwrite(tmp_path / "in.tif", np.zeros((2, 32, 32), np.uint8))
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(smoke_run.run_dir / "model.keras", alone / "model.keras")
    with pytest.raises(DataError, match="no params.json beside it"):
        predict_stack(alone / "model.keras", tmp_path / "in.tif", tmp_path / "a.tif", progress=False)
    report = predict_stack(alone / "model.keras", tmp_path / "in.tif", tmp_path / "a.tif", model_pixel_size=5,
                           pixel_size=5, progress=False)
    assert report["model_pixel_size_nm"] == 5 and "no params.json" in report["model_settings_from"]
    for bad in (0, -5, float("nan")):
        with pytest.raises(DataError, match="not a pixel size"):
            predict_stack(smoke_run.run_dir, tmp_path / "in.tif", tmp_path / "b.tif", pixel_size=bad, progress=False)
    with pytest.raises(DataError, match="not a pixel size"):
        mitolib.predict(np.zeros((32, 32), np.uint8), smoke_run.run_dir, pixel_size=0)
    inputs = keras.Input((None, None, 1))
    two = keras.Model(inputs, keras.layers.Conv2D(2, 1, activation="softmax")(inputs))
    softmax = tmp_path / "softmax"
    softmax.mkdir()
    two.save(softmax / "model.keras")
    shutil.copy(smoke_run.run_dir / "params.json", softmax / "params.json")
    with pytest.raises(DataError, match="outputs 2 channels"):
        predict_stack(softmax, tmp_path / "in.tif", tmp_path / "c.tif", progress=False)
    with pytest.raises(DataError, match="outputs 2 channels"):
        mitolib.predict(np.zeros((32, 32), np.uint8), two, assume_model_pixel_size=True)
    assert not (tmp_path / "b.tif").exists() and not (tmp_path / "c.tif").exists()
    keras.backend.clear_session()


def test_evaluation_settings_are_checked_before_the_model_loads(smoke_run, tmp_path, monkeypatch):
    """One validation (the schema's) for predict and evaluate: a bad setting never reaches the model."""
    from mitolib.core.errors import ConfigError
    from mitolib.training import segment
    from mitolib.training.evaluate import evaluate_run

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(segment, "load_saved_model", never)
    tifffile.imwrite(tmp_path / "in.tif", np.zeros((2, 32, 32), np.uint8))
    for option, value, allowed in (("threshold", 2.0, r"in \(0, 1\)"), ("overlap", 1.0, r"in \[0, 1\)"),
                                   ("z_median", 2, "odd"), ("batch_size", 0, ">= 1")):
        with pytest.raises(ConfigError, match=allowed):
            predict_stack(smoke_run.run_dir, tmp_path / "in.tif", tmp_path / "m.tif", pixel_size=5,
                          progress=False, **{option: value})
    monkeypatch.setattr("mitolib.training.evaluate.load_saved_model", never)
    for key, value in (("threshold", "0"), ("eval_overlap", "-0.5"), ("z_median", "2"), ("eval_window", "7")):
        with pytest.raises(ConfigError, match=key):
            evaluate_run(smoke_run.run_dir, {key: value}, out=tmp_path / "e.csv", progress=False)
    assert not (tmp_path / "m.tif").exists() and not (tmp_path / "e.csv").exists()


@pytest.mark.parametrize("slices", [1, 2, 3, 4, 5])
def test_small_grayscale_stacks_read_slice_by_slice(tmp_path, slices):
    """tifffile.imwrite stores (3, H, W) and (4, H, W) as one page of samples: still a stack of slices."""
    stack = np.random.default_rng(slices).integers(0, 255, (slices, 64, 96), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "s.tif", stack)
    opened = open_stack(tmp_path / "s.tif")
    assert opened.shape == (slices, 64, 96)
    assert np.array_equal(np.stack([opened[i] for i in range(slices)]), stack)



def test_a_physical_size_is_read_only_from_a_length_and_says_where_it_came_from(tmp_path):
    """72 dots per inch or an OME unit 'pixel' are not sizes of the specimen: read as none, and said so."""
    stack = np.zeros((2, 32, 32), np.uint8)
    tifffile.imwrite(tmp_path / "dpi.tif", stack, resolution=(72, 72), resolutionunit="INCH")
    tifffile.imwrite(tmp_path / "cm.tif", stack, resolution=(1e6, 1e6), resolutionunit="CENTIMETER")  # 10 nm
    tifffile.imwrite(tmp_path / "px.ome.tif", stack, metadata={"axes": "ZYX", "PhysicalSizeX": 1.0,
                                                               "PhysicalSizeXUnit": "pixel"})
    tifffile.imwrite(tmp_path / "ij.tif", stack, imagej=True, resolution=(1 / 0.005, 1 / 0.005),
                     metadata={"unit": "um"})  # 5 nm
    dpi, cm, px, ij = (open_stack(tmp_path / name) for name in ("dpi.tif", "cm.tif", "px.ome.tif", "ij.tif"))
    assert dpi.pixel_size_nm is None and "dots per inch" in dpi.pixel_size_from
    assert cm.pixel_size_nm == pytest.approx(10) and cm.pixel_size_from == "TIFF resolution per centimetre"
    assert px.pixel_size_nm is None and "'pixel', not a length unit" in px.pixel_size_from
    assert ij.pixel_size_nm == pytest.approx(5) and ij.pixel_size_from == "ImageJ unit 'um' and resolution"


def test_predict_asks_for_its_disk_space_first_and_leaves_nothing_on_sigterm(smoke_run, test_volume, tmp_path,
                                                                           monkeypatch):
    """Free space is checked before the model loads; SIGTERM mid-prediction leaves no temporary or partial file."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from collections import namedtuple

    from mitolib.training import segment

    images, _ = test_volume
    write_stack(tmp_path / "stack.tif", iter(images), images.shape)
    assert segment.space_needed((2, 10, 10), 2) == 2 * 10 * 10 * (4 + 2)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(segment.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 100, 100))
    with pytest.raises(DataError, match="GB free, and predicting this stack needs"):
        predict_stack(smoke_run.run_dir, tmp_path / "stack.tif", tmp_path / "m.tif", pixel_size=5, progress=False)
    monkeypatch.undo()
    big = np.repeat(images, 60, axis=0)  # long enough to be stopped in the middle
    write_stack(tmp_path / "big.tif", iter(big), big.shape)
    out = tmp_path / "out"
    out.mkdir()
    process = subprocess.Popen([sys.executable, "-m", "mitolib", "predict", str(smoke_run.run_dir),
                                str(tmp_path / "big.tif"), "-o", str(out / "m.tif"), "--pixel-size", "5", "--quiet"],
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    deadline = time.monotonic() + 120
    while not any(out.glob(".mitolib-predict-*")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)  # until the temporary folder exists: the prediction has started
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 143
    assert list(out.iterdir()) == []


def test_a_float_stack_with_nan_is_refused_under_convert(tmp_path):
    stack = np.random.default_rng(0).random((3, 32, 32)).astype(np.float32)
    stack[1, 4, 4] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", stack)
    with pytest.raises(DataError, match="slice 1 holds 1 NaN or infinite values"):
        open_stack(tmp_path / "nan.tif", convert=True)


def test_predict_objects_writes_the_per_mitochondrion_table(smoke_run, test_volume, tmp_path, capsys):
    """`--objects` shares mitolib.model.objects.object_table with the notebook and the book: one row per 3-D
    component of the written masks, with its volume at the input's pixel size and its bounding box."""
    import pandas as pd

    from mitolib.model.objects import OBJECT_COLUMNS, object_table

    images, _ = test_volume
    write_stack(tmp_path / "stack.ome.tif", iter(images), images.shape, pixel_size_nm=5.0)
    code = main(["predict", str(smoke_run.run_dir), str(tmp_path / "stack.ome.tif"), "-o", str(tmp_path / "m.tif"),
                 "--objects", str(tmp_path / "objects.csv"), "--quiet"])
    assert code == 0 and "mitochondria (3-D components" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "objects.csv")
    assert list(table.columns) == OBJECT_COLUMNS
    masks = open_stack(tmp_path / "m.tif").read(0, len(images)) > 0
    expected = object_table(masks, pixel_size_nm=5.0)
    assert len(table) == len(expected) and table["voxels"].sum() == int(masks.sum())
    assert np.allclose(table["volume_um3"], table["voxels"] * 125 / 1e9)
    with pytest.raises(DataError, match="as a .csv file"):
        predict_stack(smoke_run.run_dir, tmp_path / "stack.ome.tif", tmp_path / "n.tif",
                      objects_path=tmp_path / "objects.txt", progress=False)


def test_object_table_bounding_boxes_and_the_border():
    from mitolib.model.objects import object_table

    mask = np.zeros((4, 10, 10), np.uint8)
    mask[1:3, 2:5, 3:6] = 1   # inside
    mask[0:2, 8:10, 0:2] = 1  # on the border
    table = object_table(mask, pixel_size_nm=10.0).set_index("voxels")
    inside, border = table.loc[18], table.loc[8]
    assert (inside["z_min"], inside["z_max"], inside["y_min"], inside["y_max"], inside["x_min"], inside["x_max"]) == (
        1, 2, 2, 4, 3, 5)
    assert not inside["touches_border"] and border["touches_border"]
    assert inside["volume_um3"] == pytest.approx(18 * 1000 / 1e9)


def test_volumes_use_the_slice_spacing_the_file_states(smoke_run, test_volume, tmp_path):
    """An anisotropic OME-TIFF (5 nm pixels, 50 nm slices): object volumes use PhysicalSizeZ, said in the report."""
    import pandas as pd

    images, _ = test_volume
    tifffile.imwrite(tmp_path / "aniso.ome.tif", images, metadata={
        "axes": "ZYX", "PhysicalSizeX": 5.0, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 5.0,
        "PhysicalSizeYUnit": "nm", "PhysicalSizeZ": 50.0, "PhysicalSizeZUnit": "nm"})
    opened = open_stack(tmp_path / "aniso.ome.tif")
    assert opened.z_spacing_nm == pytest.approx(50.0) and opened.z_spacing_from == "OME-XML PhysicalSizeZ (nm)"
    report = predict_stack(smoke_run.run_dir, tmp_path / "aniso.ome.tif", tmp_path / "m.tif",
                           objects_path=tmp_path / "o.csv", progress=False)
    assert report["z_spacing_nm"] == pytest.approx(50.0)
    table = pd.read_csv(tmp_path / "o.csv")
    assert np.allclose(table["volume_um3"], table["voxels"] * 5 * 5 * 50 / 1e9)
    tifffile.imwrite(tmp_path / "iso.tif", images)
    assert predict_stack(smoke_run.run_dir, tmp_path / "iso.tif", tmp_path / "n.tif", pixel_size=5,
                         progress=False)["z_spacing_from"].startswith("none stated")


def test_ome_zarr_is_read_and_written_with_its_scale(smoke_run, test_volume, tmp_path):
    """A 10 nm OME-Zarr group (NGFF 0.4, anisotropic 40 nm slices): read at its scale, predicted at the model's,
    written back as OME-Zarr with the same scale."""
    import zarr

    images, _ = test_volume
    group = zarr.open_group(str(tmp_path / "em.zarr"), mode="w", zarr_format=2)
    group.create_array("0", shape=images.shape, chunks=(1, *images.shape[1:]), dtype="uint8")[:] = images
    group.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": n, "type": "space", "unit": "micrometer"}
                                                              for n in "zyx"],
                                   "datasets": [{"path": "0", "coordinateTransformations": [
                                       {"type": "scale", "scale": [0.04, 0.01, 0.01]}]}]}]
    stack = open_stack(tmp_path / "em.zarr")
    assert stack.pixel_size_nm == pytest.approx(10) and stack.z_spacing_nm == pytest.approx(40) and stack.ngff
    report = predict_stack(smoke_run.run_dir, tmp_path / "em.zarr", tmp_path / "masks.zarr", progress=False)
    assert report["input_pixel_size_nm"] == pytest.approx(10) and report["resampling"] == pytest.approx(2.0)
    out = open_stack(tmp_path / "masks.zarr")
    assert out.ngff and out.shape == images.shape
    assert out.pixel_size_nm == pytest.approx(10) and out.z_spacing_nm == pytest.approx(40)


def test_predict_writes_the_masks_after_the_runs_object_steps(smoke_run, test_volume, tmp_path):
    """A run that chose object steps on its validation slices: the masks are written after them (the size and
    depth converted to the input's voxels), or as thresholded with `object_steps=False` (`--raw-mask`)."""
    from mitolib.model import objects

    metrics = json.loads((smoke_run.run_dir / "metrics.json").read_text())
    assert "min_object_voxels" in metrics and "split_depth" in metrics
    images, _ = test_volume
    write_stack(tmp_path / "stack.ome.tif", iter(images), images.shape, pixel_size_nm=10.0)  # twice the data's
    raw = predict_stack(smoke_run.run_dir, tmp_path / "stack.ome.tif", tmp_path / "raw.tif", object_steps=False,
                        progress=False)
    assert raw["object_steps"] is None
    done = predict_stack(smoke_run.run_dir, tmp_path / "stack.ome.tif", tmp_path / "steps.tif", progress=False)
    min_voxels, depth, sampling = objects.steps_at(metrics["min_object_voxels"], metrics["split_depth"], 5.0, 10.0)
    assert done["object_steps"] == {"min_voxels": min_voxels, "split_depth": depth, "sampling": sampling}
    assert min_voxels == round(metrics["min_object_voxels"] / 8) and sampling == (1.0, 1, 1)
    raw_mask = open_stack(tmp_path / "raw.tif").read(0, len(images)) > 0
    expected = objects.cleanup_masks(raw_mask, min_voxels, depth, sampling)[objects.CLEANUP_STEPS[-1]]
    assert np.array_equal(open_stack(tmp_path / "steps.tif").read(0, len(images)) > 0, expected)
    assert done["foreground_fraction"] == pytest.approx(expected.mean())


def test_object_steps_keep_their_physical_size_at_another_pixel_size():
    from mitolib.model import objects

    # 1000 voxels of 5 nm = 125,000 nm³ = 125 voxels of 10 nm, or 62.5 voxels of 10 x 10 x 20 nm (rounded)
    assert objects.steps_at(1000, 4, 5.0, 10.0) == (125, 2.0, (1.0, 1, 1))
    assert objects.steps_at(1000, 4, 5.0, 10.0, 20.0) == (62, 2.0, (2.0, 1, 1))
