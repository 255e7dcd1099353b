"""Sliding-window prediction and volume metrics on controlled models and volumes."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest

from mitolib.training.evaluate import blend_weights, evaluate_run, evaluate_volume, predict_slices, window_starts
from mitolib.core.rundir import read_mask_png


def identity_model(channels: int = 1) -> keras.Model:
    """A model whose 'probability' is its input: an image equal to mask * 255 predicts the mask."""
    inputs = keras.Input((None, None, channels))
    outputs = keras.layers.Activation("linear")(inputs[..., :1] if channels > 1 else inputs)
    return keras.Model(inputs, outputs)


@pytest.fixture
def volume():
    rng = np.random.default_rng(0)
    masks = (rng.random((5, 40, 56)) < 0.2).astype(np.uint8)
    return masks * np.uint8(255), masks


def test_window_starts_cover_the_axis():
    assert window_starts(100, 32, 24) == [0, 24, 48, 68]
    assert window_starts(32, 32, 24) == [0]
    assert window_starts(20, 32, 24) == [0]


def test_blend_weights_peak_in_the_centre_and_never_vanish():
    weights = blend_weights(8, 6)
    assert weights.shape == (8, 6)
    assert weights.min() > 0
    assert weights[3:5, 2:4].min() == weights.max() == 1.0


@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5])
def test_blended_windows_reproduce_an_exact_prediction(volume, overlap):
    images, masks = volume
    probs = predict_slices(identity_model(), images, window=16, overlap=overlap, multiple=8)
    assert probs.shape == masks.shape
    np.testing.assert_allclose(probs, masks, atol=1e-5)


def test_prediction_equal_to_ground_truth_scores_exactly_one(volume, tmp_path):
    images, masks = volume
    summary, per_slice = evaluate_volume(identity_model(), images, masks, window=16, overlap=0.25,
                                         predictions_dir=tmp_path, progress=False)
    assert summary["test_iou"] == 1.0
    assert summary["test_dice"] == 1.0
    assert summary["fp"] == summary["fn"] == 0
    assert summary["tp"] == int(masks.sum())
    assert list(per_slice["slice"]) == list(range(5))
    assert (per_slice["iou"] == 1.0).all()
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [f"test_{i:03d}.png" for i in range(5)]
    for index, mask in enumerate(masks):  # the saved masks read back exactly
        np.testing.assert_array_equal(read_mask_png(tmp_path / f"test_{index:03d}.png"), mask.astype(bool))


def test_test_time_augmentation_keeps_an_equivariant_prediction(volume):
    images, masks = volume
    probs = predict_slices(identity_model(), images, window=16, overlap=0.25, multiple=8, tta=True)
    np.testing.assert_allclose(probs, masks, atol=1e-5)


def test_volume_counts_are_accumulated_over_slices():
    truth = np.zeros((2, 8, 8), np.uint8)
    truth[0, :4] = 1  # 32 foreground pixels on slice 0, none on slice 1
    predicted = truth.copy()
    predicted[1, 0, :4] = 1  # 4 false positives on the empty slice
    summary, per_slice = evaluate_volume(identity_model(), predicted * np.uint8(255), truth, window=8,
                                         progress=False)
    assert summary["test_iou"] == pytest.approx(32 / 36)
    assert list(per_slice["iou"]) == [1.0, 0.0]  # the per-slice mean (0.5) is not the volume IoU


def test_shape_mismatch_is_an_error(volume):
    images, masks = volume
    with pytest.raises(ValueError, match="differ in shape"):
        evaluate_volume(identity_model(), images, masks[:, :20], progress=False)


def test_a_saved_model_is_evaluated_again_with_other_settings(tmp_path, capsys):
    from mitolib.cli import main
    from mitolib.core.config import resolve_params
    from mitolib.training.train import train

    params = resolve_params("smoke", {"epochs": 1, "architecture": "attention_resunet"})  # custom layers
    run_dir = train(params, tmp_path / "run", progress=False)
    recorded = json.loads((run_dir / "metrics.json").read_text())
    plain = evaluate_run(run_dir, progress=False)
    assert plain["test_iou"] == recorded["test_iou"] and plain["tta"] is False  # the same model, the same score
    # a fresh process, as a user runs it: the model loads without training code having been imported
    done = subprocess.run([sys.executable, "-m", "mitolib", "evaluate", str(run_dir), "--tta", "-p", "threshold", "0.4"],
                          capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "appended to:" in done.stdout
    table = pd.read_csv(run_dir / "evaluations.csv")
    assert list(table["tta"]) == [False, True] and list(table["threshold"]) == [0.5, 0.4]
    assert table["test_iou"].between(0, 1).all() and (table["run_id"] == "run").all()

    assert main(["evaluate", str(run_dir), "-p", "epochs", "3"]) == 2
    assert "'epochs' is not an evaluation setting" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "is not a finished run directory" in capsys.readouterr().err
    assert len(pd.read_csv(run_dir / "evaluations.csv")) == 2  # refused evaluations append nothing


def test_evaluate_knows_its_data_and_its_output(tmp_path, capsys):
    """Other data are refused unless told (the row then records their identity); a moved data folder has a way
    out (--data-root); a foreign CSV or a folder as --out is refused before anything is predicted."""
    import shutil

    from mitolib.cli import main
    from mitolib.core.config import resolve_params
    from mitolib.core.errors import ConfigError, DataError
    from mitolib.data.synthetic import write_slice_folders
    from mitolib.training.train import train

    write_slice_folders(tmp_path / "data", 4, 64, 96, seed=5)
    write_slice_folders(tmp_path / "other", 4, 64, 96, seed=6)
    params = resolve_params("smoke", {"epochs": 1, "data_source": "epfl", "data_root": str(tmp_path / "data")})
    run_dir = train(params, tmp_path / "run", progress=False)
    own = evaluate_run(run_dir, progress=False)
    assert own["data_identity"] == json.loads((run_dir / "params.json").read_text())["data_identity"]
    with pytest.raises(DataError, match="are not the data run was trained and tested on.*--other-data"):
        evaluate_run(run_dir, data_root=tmp_path / "other", progress=False)
    other = evaluate_run(run_dir, data_root=tmp_path / "other", other_data=True, progress=False)
    assert other["data_identity"] != own["data_identity"]
    shutil.move(tmp_path / "data", tmp_path / "moved")  # the run's data moved: --data-root finds them
    assert main(["evaluate", str(run_dir), "--data-root", str(tmp_path / "moved")]) == 0
    capsys.readouterr()
    pd.DataFrame({"sample": [1], "weight": [2.0]}).to_csv(tmp_path / "foreign.csv", index=False)
    with pytest.raises(ConfigError, match="not an evaluations table"):
        evaluate_run(run_dir, out=tmp_path / "foreign.csv", progress=False)
    assert main(["evaluate", str(run_dir), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    table = pd.read_csv(run_dir / "evaluations.csv")
    assert len(table) == 3 and table["data_identity"].nunique() == 2
    assert list(pd.read_csv(tmp_path / "foreign.csv").columns) == ["sample", "weight"]  # untouched


def test_a_run_remembers_its_data_folder(tmp_path, monkeypatch):
    """Trained with MITOLIB_DATA set (as `make` sets it), evaluated in a plain shell: the recorded folder is used."""
    from mitolib.core.config import resolve_params
    from mitolib.data.synthetic import write_slice_folders
    from mitolib.training.train import train

    write_slice_folders(tmp_path / "data", 4, 64, 96, seed=7)
    monkeypatch.setenv("MITOLIB_DATA", str(tmp_path / "data"))
    params = resolve_params("smoke", {"epochs": 1, "data_source": "epfl"})
    assert params["data_root"] == ""
    run_dir = train(params, tmp_path / "run", progress=False)
    assert json.loads((run_dir / "params.json").read_text())["data_root_resolved"] == str((tmp_path / "data").resolve())
    monkeypatch.delenv("MITOLIB_DATA")
    row = evaluate_run(run_dir, progress=False)
    assert row["test_iou"] == json.loads((run_dir / "metrics.json").read_text())["test_iou"]


def test_one_threshold_rule_for_every_command():
    from mitolib.core.rundir import run_threshold

    assert run_threshold({"threshold": 0.5, "tune_threshold": True}, {"threshold_used": 0.45}) == 0.45
    assert run_threshold({"threshold": 0.5, "tune_threshold": False}, {"threshold_used": 0.45}) == 0.5
    assert run_threshold({"threshold": 0.5, "tune_threshold": True}, {}) == 0.5  # a run that recorded none
    row = {"threshold": 0.5, "tune_threshold": True, "threshold_used": float("nan")}  # runs.csv's empty cell
    assert run_threshold(row, row) == 0.5


def test_an_ensemble_averages_the_members_probabilities(tmp_path, capsys):
    """``mitolib evaluate RUN --ensemble OTHER``: the mean of the two models' probabilities, then the run's own
    steps; a run averaged with itself scores what it scores alone; a member on another scale is refused."""
    import shutil

    from mitolib.cli import main
    from mitolib.core.config import resolve_params
    from mitolib.core.rundir import MODEL
    from mitolib.data.volumes import recorded_params, resolve_volumes
    from mitolib.model.architectures import load_saved_model
    from mitolib.training.evaluate import options_from_params, predict_probabilities
    from mitolib.training.train import train

    runs = [train(resolve_params("smoke", {"epochs": 1, "seed": seed}), tmp_path / f"seed-{seed}", progress=False)
            for seed in (0, 1)]
    alone = evaluate_run(runs[0], progress=False)
    itself = evaluate_run(runs[0], ensemble=[runs[0]], progress=False)
    assert itself["test_iou"] == alone["test_iou"] and itself["ensemble"] == "seed-0"
    pair = evaluate_run(runs[0], ensemble=[runs[1]], progress=False)
    assert pair["ensemble"] == "seed-1" and alone["ensemble"] == ""
    params = recorded_params(json.loads((runs[0] / "params.json").read_text()))
    images, masks = resolve_volumes(params, "test")
    mean = sum(predict_probabilities(load_saved_model(run / MODEL), images, progress=False,
                                     **options_from_params(params)) for run in runs) / 2
    summary, _ = evaluate_volume(load_saved_model(runs[0] / MODEL), images, masks, probs=mean,
                                 threshold=pair["threshold"], progress=False)
    assert pair["test_iou"] == pytest.approx(summary["test_iou"], abs=1e-6)

    other = tmp_path / "other-scale"
    shutil.copytree(runs[1], other)
    record = json.loads((other / "params.json").read_text())
    record["params"]["scale"] = 0.5
    (other / "params.json").write_text(json.dumps(record))
    assert main(["evaluate", str(runs[0]), "--ensemble", str(other)]) == 2
    assert "its scale is 0.5" in capsys.readouterr().err
    assert len(pd.read_csv(runs[0] / "evaluations.csv")) == 3  # the refused ensemble appended nothing
