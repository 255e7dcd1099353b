"""Training runs: the notebook's parameters, a smoke run through papermill, and failure records."""

import json
import os

import jupytext
import keras
import pandas as pd
import pytest

from mitolib.core import rundir
from mitolib.core.config import load_config, resolve_params
from mitolib.studies.runner import kernel_config, notebook_source, run_notebook
from mitolib.training.train import HISTORY_COLUMNS, train


def notebook_parameters() -> dict:
    notebook = jupytext.read(notebook_source())
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "the training notebook needs exactly one cell tagged 'parameters'"
    values = {}
    exec(cells[0].source, {}, values)  # flat literals only
    return values


def test_notebook_parameters_are_the_configuration_keys_with_their_types():
    values = notebook_parameters()
    defaults = load_config()["defaults"]
    assert set(values) == set(defaults) | {"profile"}
    for key, default in defaults.items():
        assert type(values[key]) is type(default), key


@pytest.mark.slow
def test_smoke_run_through_papermill_writes_a_complete_run_directory(tmp_path, capfd):
    params = resolve_params("smoke", {"save_predictions": True})
    run_dir = tmp_path / "run"
    metrics = run_notebook(params, run_dir)
    assert metrics["status"] == "done", metrics.get("error")
    assert "running over TCP" not in capfd.readouterr().err  # the kernel talks over private Unix sockets
    names = {p.name for p in run_dir.iterdir()}
    assert {"params.json", "history.csv", "metrics.json", "test_slices.csv", "model.keras", "train.ipynb",
            "predictions"} <= names
    assert not any(name.endswith((".tmp", ".pending.json")) or name.startswith(".train") for name in names)
    assert json.loads((run_dir / "metrics.json").read_text()) == metrics
    history = pd.read_csv(run_dir / "history.csv")
    assert list(history.columns) == HISTORY_COLUMNS
    assert list(history["epoch"]) == list(range(1, params["epochs"] + 1))
    slices = pd.read_csv(run_dir / "test_slices.csv")
    assert len(slices) == params["synthetic_slices"]
    assert len(list((run_dir / "predictions").glob("test_*.png"))) == params["synthetic_slices"]
    recorded = json.loads((run_dir / "params.json").read_text())
    assert recorded["params"]["out_dir"] == str(run_dir.resolve())
    assert recorded["params"]["architecture"] == params["architecture"]
    assert {"data_fingerprint", "git_commit", "versions", "host", "started"} <= set(recorded)
    assert 0.0 <= metrics["test_iou"] <= 1.0 and metrics["best_epoch"] >= 1
    keras.models.load_model(run_dir / "model.keras")  # the saved model loads without custom code
    executed = (run_dir / "train.ipynb").read_text()
    assert "injected-parameters" in executed


@pytest.mark.skipif(os.name != "posix", reason="Unix sockets are a POSIX transport")
def test_the_kernel_listens_on_unix_sockets_in_a_private_folder(tmp_path):
    config = kernel_config(tmp_path)
    assert config.KernelManager.transport == "ipc"
    assert config.KernelManager.ip == str(tmp_path / "kernel")


def test_a_failing_run_records_its_error_and_keeps_its_files(tmp_path):
    params = {**resolve_params("smoke"), "architecture": "segnet"}  # past the schema, as a hand-made dict
    with pytest.raises(ValueError, match="'architecture' = 'segnet' is not allowed"):
        train(params, tmp_path, progress=False)
    metrics = rundir.read_metrics(tmp_path)
    assert metrics["status"] == "failed"
    assert "'segnet' is not allowed" in metrics["error"]
    assert "Traceback" in metrics["traceback"]
    assert not (tmp_path / "model.keras").exists()
    assert not rundir.is_complete(tmp_path)


def test_impossible_settings_are_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match="'monitor' = 'accuracy' is not allowed: it must be one of 'iou'"):
        resolve_params("smoke", {"monitor": "accuracy"})
    with pytest.raises(ValueError, match="'monitor' = 'accuracy' is not allowed"):
        train({**resolve_params("smoke"), "monitor": "accuracy"}, tmp_path, progress=False)
    assert rundir.read_metrics(tmp_path)["status"] == "failed"


def test_cosine_schedule_decays_to_the_minimum_and_is_logged(tmp_path):
    params = resolve_params("smoke", {"lr_schedule": "cosine", "learning_rate": 0.01, "min_learning_rate": 0.001,
                                      "evaluate_test": False, "epochs": 2})
    train(params, tmp_path, progress=False)
    history = pd.read_csv(tmp_path / "history.csv")
    # 3 steps per epoch (12 samples, batch 4): after 3 of 6 steps the cosine is half way: (0.01 + 0.001) / 2
    assert history["learning_rate"].iloc[0] == pytest.approx(0.0055, rel=1e-4)
    assert history["learning_rate"].iloc[1] == pytest.approx(0.001, rel=1e-4)


def test_unknown_schedule_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'lr_schedule' = 'step' is not allowed: it must be one of 'plateau', "
                                         "'cosine', 'constant'"):
        resolve_params("smoke", {"lr_schedule": "step"})


def test_a_finished_run_is_never_overwritten(tmp_path):
    params = resolve_params("smoke", {"epochs": 1, "evaluate_test": False})
    train(params, tmp_path / "run", progress=False)
    before = (tmp_path / "run" / "metrics.json").read_bytes()
    with pytest.raises(FileExistsError, match="holds a finished run; a finished run is never overwritten"):
        train(params, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "metrics.json").read_bytes() == before


def test_a_broken_test_split_fails_before_training(tmp_path, monkeypatch):
    from mitolib.core.errors import DataError
    from mitolib.data.synthetic import write_slice_folders

    root = write_slice_folders(tmp_path / "data", n_slices=4, height=64, width=96)
    broken = sorted((root / "test" / "images").iterdir())[1]
    broken.write_bytes(broken.read_bytes()[:40])  # truncated PNG
    params = resolve_params("smoke", {"data_source": "epfl", "data_root": str(root)})
    with pytest.raises(DataError, match="unreadable"):
        train(params, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "history.csv").exists()  # no epoch was trained


def test_epoch_line_reports_loss_iou_and_time_left():
    from mitolib.studies.runner import epoch_line

    history = pd.DataFrame({"epoch": [1, 2], "loss": [0.5, 0.25], "val_iou": [0.6, 0.7], "learning_rate": [1e-3, 5e-4],
                            "epoch_seconds": [40.0, 20.0]})
    assert epoch_line(history, 10) == ("epoch 2/10: loss 0.2500, val IoU 0.7000, lr 0.0005, 30 s/epoch, "
                                       "about 4.0 min left")


def test_follow_history_prints_each_new_epoch(tmp_path, monkeypatch):
    import io
    import threading

    from mitolib.studies import runner

    monkeypatch.setattr(runner, "FOLLOW_INTERVAL_S", 0.01)
    out, stop = io.StringIO(), threading.Event()
    row = "epoch,loss,val_iou,learning_rate,epoch_seconds\n1,0.5,0.6,0.001,10\n"
    (tmp_path / "history.csv").write_text(row)
    thread = threading.Thread(target=runner.follow_history, args=(tmp_path, 3, stop, out))
    thread.start()
    import time

    time.sleep(0.1)
    (tmp_path / "history.csv").write_text(row + "2,0.4,0.7,0.001,10\n")
    time.sleep(0.1)
    (tmp_path / "model.keras").write_bytes(b"")  # training ends: the best checkpoint becomes the run's model
    time.sleep(0.1)
    rundir.write_progress(tmp_path, 4, 10)  # the kernel has predicted 4 of 10 test slices
    time.sleep(0.1)
    stop.set()
    thread.join()
    lines = out.getvalue().split("\n")
    assert lines[0].startswith("starting: ")  # said before the first epoch, which can take a minute
    assert lines[1:3] == ["epoch 1/3: loss 0.5000, val IoU 0.6000, lr 0.001, 10 s/epoch, about 0.3 min left",
                          "epoch 2/3: loss 0.4000, val IoU 0.7000, lr 0.001, 10 s/epoch, about 0.2 min left"]
    assert lines[3] == "training done after 2 epochs; evaluating the test volume"
    assert "test volume" in lines[4] and "4/10" in lines[4]  # the bar of test slices


def test_follow_history_prints_every_epoch_when_two_arrive_between_looks(tmp_path):
    import io
    import threading

    from mitolib.studies import runner

    rows = "epoch,loss,val_iou,learning_rate,epoch_seconds\n1,0.5,0.6,0.001,10\n2,0.4,0.7,0.001,10\n"
    (tmp_path / "history.csv").write_text(rows)  # both epochs are there at the first look
    out, stop = io.StringIO(), threading.Event()
    stop.set()  # one look, then return
    runner.follow_history(tmp_path, 3, stop, out)
    epochs = [line.split(":")[0] for line in out.getvalue().splitlines()[1:]]
    assert epochs == ["epoch 1/3", "epoch 2/3"]


def test_quiet_import_sends_tensorflow_start_up_lines_nowhere_only_when_asked():
    import subprocess
    import sys

    code = "from mitolib.core import quiet; quiet.import_tensorflow_quietly(); import sys; print('after', file=sys.stderr)"
    quiet_run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert quiet_run.stderr == "after\n"  # stderr works again after the import
    loud_run = subprocess.run([sys.executable, "-c", code + "; import tensorflow"], capture_output=True, text=True,
                              check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert "after" in loud_run.stderr and len(loud_run.stderr.splitlines()) > 1  # TensorFlow's own lines


def test_every_run_records_its_object_scores(smoke_run):
    """metrics.json carries the object-level scores of the test volume (the protocol of mitolib.model.objects)."""
    import json

    from mitolib.model import objects
    from mitolib.model.objects import OBJECT_FIELDS

    recorded = json.loads((smoke_run.run_dir / "metrics.json").read_text())
    assert set(OBJECT_FIELDS) <= set(recorded)
    assert not (smoke_run.run_dir / rundir.EVALUATION_PROGRESS).exists()  # the terminal's progress file is gone
    assert recorded["true_objects"] > 0 and recorded["predicted_objects"] >= 0
    assert recorded["object_f1_75"] <= recorded["object_f1_50"]
    matched = pd.read_csv(smoke_run.run_dir / "test_objects.csv")  # each true object and its predicted partner
    assert len(matched) == recorded["true_objects"]
    assert matched["iou"].notna().sum() == round(recorded["object_recall_50"] * recorded["true_objects"])
    cleanup = pd.read_csv(smoke_run.run_dir / "object_postprocessing.csv")  # each object step on the test volume
    assert list(cleanup["step"]) == list(objects.CLEANUP_STEPS)
    assert cleanup.loc[0, "test_iou"] == pytest.approx(recorded["test_iou"])  # "none" is the run's own result
    assert set(cleanup["min_voxels"].iloc[1:]) == {recorded["min_object_voxels"]}
    assert cleanup["split_depth"].tolist() == [0, 0, 0, recorded["split_depth"]]
    assert recorded["split_depth"] in objects.SPLIT_DEPTHS


@pytest.mark.slow
def test_train_command_terminal_shows_progress_and_the_threshold_and_no_tensorflow_lines(tmp_path):
    """`mitolib train` in a plain shell: status lines, one line per epoch, the threshold rule of the result, and
    none of TensorFlow's start-up lines (from the CLI process or its training kernel)."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "ABSL_MIN_LOG_LEVEL")}
    done = subprocess.run([sys.executable, "-m", "mitolib", "train", "--profile", "smoke", "-p", "out_dir",
                           str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    epochs = load_config()["profiles"]["smoke"]["epochs"]
    lines = done.stderr.replace("\r", "\n").splitlines()
    assert any(line.startswith("starting: ") for line in lines)
    assert [line.split(":")[0] for line in lines if line.startswith("epoch ")] == [
        f"epoch {n}/{epochs}" for n in range(1, epochs + 1)]
    assert not [line for line in lines if "oneDNN" in line or "absl" in line or line.startswith(("I0000", "E0000"))]
    threshold = resolve_params("smoke", {})["threshold"]
    result = [line for line in done.stdout.splitlines() if line.startswith("result: ")]
    assert len(result) == 1 and f"threshold={threshold:.4g}" in result[0]


def test_a_moving_average_of_the_weights_is_what_validation_and_the_checkpoint_see(tmp_path):
    """``ema_momentum`` > 0: Adam keeps a moving average of the weights, and the checkpoint a run keeps (and
    tests) holds that average, not the raw weights of its epoch."""
    import numpy as np

    from mitolib.core.errors import ConfigError
    from mitolib.training.train import CHECKPOINT, compile_model, make_callbacks

    params = resolve_params("smoke", {"ema_momentum": 0.5, "epochs": 2, "early_stopping_patience": 0,
                                      "reduce_lr_patience": 0})
    keras.utils.set_random_seed(0)
    model = compile_model(params, steps_per_epoch=2)
    assert model.optimizer.use_ema and model.optimizer.ema_momentum == 0.5
    assert not compile_model({**params, "ema_momentum": 0.0}).optimizer.use_ema
    seen = []

    class Peek(keras.callbacks.Callback):  # after the swap: the model holds the average, the optimizer the raw
        def on_epoch_end(self, epoch, logs=None):
            seen.append(([v.numpy().copy() for v in self.model.trainable_variables],
                         [v.numpy().copy() for v in self.model.optimizer._model_variables_moving_average]))

    callbacks = make_callbacks(params, tmp_path, progress=False)
    assert isinstance(callbacks[0], keras.callbacks.SwapEMAWeights)
    size = params["patch_size"]
    x = np.random.default_rng(0).random((8, size, size, 1)).astype("float32")
    model.fit(x, (x > 0.5).astype("float32"), validation_data=(x, (x > 0.5).astype("float32")), epochs=2,
              batch_size=4, callbacks=[*callbacks, Peek()], verbose=0)
    gap = lambda a, b: max(float(np.abs(p - q).max()) for p, q in zip(a, b))  # noqa: E731
    average, raw = seen[0]
    assert gap(average, raw) > 1e-6  # two steps at momentum 0.5: the average is not the last weights
    kept = [v.numpy() for v in keras.models.load_model(tmp_path / CHECKPOINT).trainable_variables]
    assert min(gap(kept, seen[0][0]), gap(kept, seen[1][0])) == 0.0  # one epoch's average, exactly
    if gap(kept, seen[0][0]) == 0.0:
        assert gap(kept, raw) > 1e-6
    with pytest.raises(ConfigError, match="ema_momentum"):
        resolve_params("smoke", {"ema_momentum": 1.0})
