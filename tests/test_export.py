"""mitolib export: a bioimage.io package that bioimageio.spec validates, whose three weight formats reproduce its
own test output (Keras, the SavedModel and ONNX, each loaded from the zip and fed the package's test input).
The zoo's own model test on such packages is ``tests/test_zoo.py``.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import yaml

from mitolib.cli import main
from mitolib.core.errors import DataError
from mitolib.training import export
from mitolib.training.export import export_run, validate_package


@pytest.fixture(scope="module")
def package(smoke_run, tmp_path_factory):
    return export_run(smoke_run.run_dir, tmp_path_factory.mktemp("export") / "model.zip")


def test_package_passes_bioimageio_spec_validation(package):
    status, report = validate_package(package)
    assert status == "valid-format", report


def test_package_describes_axes_pixel_size_and_preprocessing(package, smoke_run):
    with zipfile.ZipFile(package) as archive:
        rdf = yaml.safe_load(archive.read("rdf.yaml"))
        names = set(archive.namelist())
    assert {"model.keras", "tf_saved_model.zip", "test_input.npy", "test_output.npy", "cover.png", "params.json",
            "README.md"} <= names
    axes = rdf["inputs"][0]["axes"]
    assert [a["type"] for a in axes] == ["batch", "space", "space", "channel"]
    # the smoke run trained on generated data: no physical pixel size is stated, no data citation invented
    assert "unit" not in axes[1] and axes[1].get("scale", 1.0) == 1.0
    assert axes[1]["size"]["step"] == 2 ** smoke_run.params["depth"]
    assert rdf["outputs"][0]["axes"][1]["halo"] == 16
    steps = rdf["inputs"][0]["preprocessing"]
    assert [p["id"] for p in steps] == ["ensure_dtype", "scale_linear", "ensure_dtype"]
    assert steps[-1]["kwargs"]["dtype"] == "float32"  # else bioimageio.spec casts back to uint8: the model sees 0s
    assert [c["doi"] for c in rdf["cite"]] == ["10.1007/978-3-319-24574-4_28"] and rdf["license"] == "MIT"
    assert "synthetic" in rdf["description"] and "EPFL" not in rdf["name"]
    assert set(rdf["weights"]) == {"keras_v3", "tensorflow_saved_model_bundle", "onnx"}


def test_every_weight_format_reproduces_the_test_output(package, tmp_path):
    import keras
    import tensorflow as tf

    with zipfile.ZipFile(package) as archive:
        archive.extractall(tmp_path)
        test_in = np.load(io.BytesIO(archive.read("test_input.npy")))
        test_out = np.load(io.BytesIO(archive.read("test_output.npy")))
    x = test_in.astype("float32") / 255.0
    from mitolib.model import blocks  # noqa: F401 - custom layers

    keras_out = keras.models.load_model(tmp_path / "model.keras", compile=False).predict_on_batch(x)
    with zipfile.ZipFile(tmp_path / "tf_saved_model.zip") as bundle:
        bundle.extractall(tmp_path / "saved_model")
    saved = tf.saved_model.load(str(tmp_path / "saved_model"))
    saved_out = saved.serve(tf.constant(x))["probability"].numpy()  # named, as the zoo's tools read it
    np.testing.assert_allclose(saved_out, test_out, atol=1e-5)
    np.testing.assert_allclose(keras_out, test_out, atol=1e-5)
    onnx_out = export.onnx_output(tmp_path / "model.onnx", x)  # as deepImageJ and the zoo's onnx backend run it
    np.testing.assert_allclose(onnx_out, test_out, atol=1e-5)


def test_export_refuses_what_is_not_a_run(tmp_path, smoke_run):
    with pytest.raises(DataError, match="not a finished run directory"):
        export_run(tmp_path, tmp_path / "p.zip")
    with pytest.raises(DataError, match="is a .zip file"):
        export_run(smoke_run.run_dir, tmp_path / "p.tar")


def test_cli_export(smoke_run, tmp_path, capsys):
    assert main(["export", str(smoke_run.run_dir), "-o", str(tmp_path / "m.zip")]) == 0
    assert "valid-format" in capsys.readouterr().out
    assert main(["export", str(smoke_run.run_dir), "-o", str(tmp_path / "m.zip")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_export_to_a_folder_or_an_unwritable_place_is_one_line_and_leaves_nothing(smoke_run, tmp_path, capsys,
                                                                                 monkeypatch):
    import errno
    from pathlib import Path

    (tmp_path / "folder.zip").mkdir()
    assert main(["export", str(smoke_run.run_dir), "-o", str(tmp_path / "folder.zip")]) == 2
    assert "is a folder" in capsys.readouterr().err

    def fail(*args, **kwargs):  # the zoo library stops half-way through writing the package
        Path(kwargs["output_path"]).write_bytes(b"half a zip")
        raise RuntimeError("interrupted while writing")

    with monkeypatch.context() as patch:
        patch.setattr("bioimageio.spec.save_bioimageio_package", fail)
        with pytest.raises(RuntimeError, match="interrupted"):
            export_run(smoke_run.run_dir, tmp_path / "p.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.zip"]  # no .partial.zip left

    def denied(*args, **kwargs):  # a read-only folder (root writes anywhere, so the error is raised here)
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "locked" / "m.zip"))

    monkeypatch.setattr("mitolib.training.export.export_run", denied)
    assert main(["export", str(smoke_run.run_dir), "-o", str(tmp_path / "locked" / "m.zip")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mitolib: error: cannot use") and "Permission denied" in err and "Traceback" not in err



def test_export_states_only_what_is_known_of_the_data(smoke_run, tmp_path):
    """A run on someone's own data is not called EPFL: export refuses until the data are named, and then
    invents no citation; a pixel size the user states is the package's."""
    import json
    import shutil

    run = tmp_path / "theirs"
    shutil.copytree(smoke_run.run_dir, run)
    record = json.loads((run / "params.json").read_text())
    record["data_description"] = {"name": None, "citation": None, "doi": None, "pixel_size_nm": None}
    (run / "params.json").write_text(json.dumps(record))
    with pytest.raises(DataError, match="pass --data-name NAME"):
        export_run(run, tmp_path / "p.zip")
    package = export_run(run, tmp_path / "p.zip", data_name="rat cortex SBF-SEM", pixel_size=8.0)
    with zipfile.ZipFile(package) as archive:
        rdf = yaml.safe_load(archive.read("rdf.yaml"))
    assert "rat cortex SBF-SEM" in rdf["description"] and len(rdf["cite"]) == 1
    axis = rdf["inputs"][0]["axes"][1]
    assert axis["unit"] == "nanometer" and axis["scale"] == 8.0 / smoke_run.params["scale"]


def test_export_finds_moved_data_with_data_root(tmp_path, capsys):
    import shutil

    from mitolib.core.config import resolve_params
    from mitolib.data.synthetic import write_slice_folders
    from mitolib.training.train import train

    write_slice_folders(tmp_path / "data", 4, 64, 96, seed=5)
    params = resolve_params("smoke", {"epochs": 1, "data_source": "epfl", "data_root": str(tmp_path / "data")})
    run_dir = train(params, tmp_path / "run", progress=False)
    shutil.move(tmp_path / "data", tmp_path / "moved")
    from mitolib.data.volumes import _cached_volume
    _cached_volume.cache_clear()  # a new process, as a user runs it, has read nothing yet
    assert main(["export", str(run_dir), "-o", str(tmp_path / "a.zip"), "--data-name", "generated slices"]) == 2
    err = capsys.readouterr().err  # the data are gone: one line naming the problem and both ways out
    assert err.startswith("mitolib: error:") and "--data-root" in err and "--generated-tile" in err
    assert main(["export", str(run_dir), "-o", str(tmp_path / "g.zip"), "--data-name", "generated slices",
                 "--generated-tile"]) == 0  # a colleague's run, without its data
    with zipfile.ZipFile(tmp_path / "g.zip") as archive:
        assert "generated EM-like volume" in archive.read("README.md").decode()
    assert main(["export", str(run_dir), "-o", str(tmp_path / "a.zip"), "--data-name", "generated slices",
                 "--data-root", str(tmp_path / "moved")]) == 0
    assert (tmp_path / "a.zip").is_file()


def test_a_bfloat16_run_is_exported_as_a_float32_model(tmp_path):
    """Trained in bfloat16 mixed precision, exported with the same weights computing in float32: the package's
    test output is that float32 model's own (the zoo's 1e-3 tolerance then holds)."""
    import keras

    from mitolib.core.config import resolve_params
    from mitolib.training.train import train

    params = resolve_params("smoke", {"epochs": 1, "mixed_precision": "mixed_bfloat16"})
    run_dir = train(params, tmp_path / "run", progress=False)
    keras.mixed_precision.set_global_policy("float32")  # what a fresh process, or the zoo, runs with
    package = export_run(run_dir, tmp_path / "p.zip")
    with zipfile.ZipFile(package) as archive:
        archive.extractall(tmp_path / "unpacked")
    model = keras.models.load_model(tmp_path / "unpacked" / "model.keras", compile=False)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    x = np.load(tmp_path / "unpacked" / "test_input.npy").astype("float32") / 255
    np.testing.assert_allclose(model.predict_on_batch(x), np.load(tmp_path / "unpacked" / "test_output.npy"),
                               atol=1e-5)


ONNX_CONVERSIONS = 10  # conversions of one model in a row


def one_channel_model():
    import keras

    inputs = keras.Input((None, None, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid")(inputs))
    x = np.random.default_rng(0).random((1, 32, 32, 1), dtype=np.float32)
    return model, x, np.asarray(model.predict_on_batch(x))


def test_a_one_channel_model_converts_to_onnx_with_its_shape_every_time(tmp_path):
    from tf2onnx import optimizer

    model, x, expected = one_channel_model()
    before = list(optimizer._optimizers)
    for attempt in range(ONNX_CONVERSIONS):  # with tf2onnx's reshape optimizer about 1 in 4 had a fifth axis
        assert export._onnx(model, tmp_path / f"{attempt}.onnx", x, expected) >= 13
        found = export.onnx_output(tmp_path / f"{attempt}.onnx", x)
        assert found.shape == (1, 32, 32, 1)
        np.testing.assert_allclose(found, expected, atol=export.ONNX_ATOL)
    assert list(optimizer._optimizers) == before and "reshape_optimizer" in before  # tf2onnx's table restored


def test_an_onnx_conversion_that_does_not_reproduce_keras_is_refused(tmp_path, monkeypatch):
    model, x, expected = one_channel_model()
    real = export.onnx_output
    monkeypatch.setattr(export, "onnx_output", lambda path, batch: real(path, batch)[None])
    with pytest.raises(DataError, match=r"shape \(1, 1, 32, 32, 1\)"):
        export._onnx(model, tmp_path / "m.onnx", x, expected)
    monkeypatch.setattr(export, "onnx_output", lambda path, batch: real(path, batch) + 0.01)
    with pytest.raises(DataError, match="largest difference 0.01") as refusal:
        export._onnx(model, tmp_path / "m.onnx", x, expected)
    assert export.ONNX_TESTED in str(refusal.value)  # the refusal names the converter version known to work
