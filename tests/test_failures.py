"""Failure ends in one line that names the file or cause and what to do, with the right exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mitolib.core.config import load_config
from mitolib.core.errors import ConfigError
from mitolib.core.locations import config_path

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("text, message", [
    ("defaults: {a: 1\nprofiles: {}\n", "not valid YAML"),
    ("defaults: {a: 1}\nprofiles: {p: 3}\nstudies: {}\n", "profile 'p' must be a mapping of parameters, got 3"),
    ("defaults: {a: 1, a: 2}\nprofiles: {}\nstudies: {}\n", "key 'a' appears twice (lines 1 and 1)"),
    ("- just\n- a list\n", "must be a mapping with 'defaults'"),
])
def test_broken_configuration_files(tmp_path, text, message):
    path = tmp_path / "studies.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert message in str(raised.value) and str(path) in str(raised.value)


def test_duplicate_key_across_lines_names_both_lines(tmp_path):
    path = tmp_path / "studies.yml"
    path.write_text("defaults:\n  seed: 0\n  seed: 1\nprofiles: {}\nstudies: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="key 'seed' appears twice \\(lines 2 and 3\\)"):
        load_config(path)


def test_the_project_configuration_loads_with_its_merge_keys():
    config = load_config(config_path())
    assert config["studies"]["bug_ablation"]["runs"]["original_recipe_mispaired"]["mispair"] is True


def test_cli_reports_a_broken_configuration_in_one_line(tmp_path):
    path = tmp_path / "studies.yml"
    path.write_text("defaults: {a: 1\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "mitolib", "study", "plan", "seeds"], cwd=ROOT,
                            env={"MITOLIB_CONFIG": str(path), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("mitolib:")]
    assert len(lines) == 1 and "not valid YAML" in lines[0] and "Traceback" not in result.stderr


def test_status_into_a_closed_pipe_ends_quietly(monkeypatch, capfd):
    import os

    from mitolib.cli import main

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (`head`) has gone: every write raises BrokenPipeError
    monkeypatch.setattr(sys, "stdout", os.fdopen(write_end, "w", buffering=1))
    assert main(["study", "status", "hyperparameter_optimization", "--profile", "smoke"]) == 0
    assert "Traceback" not in capfd.readouterr().err


def test_collect_names_an_unreadable_run_file(tmp_path, monkeypatch):
    from mitolib.core.errors import ResultsError
    from mitolib.results.collect import collect
    from mitolib.studies.plan import plan

    monkeypatch.setenv("MITOLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MITOLIB_RESULTS", str(tmp_path / "results"))
    run = plan("architectures", "smoke")[0]
    run.run_dir.mkdir(parents=True)
    import json

    (run.run_dir / "params.json").write_text(json.dumps({"params": run.params}))
    (run.run_dir / "metrics.json").write_text(json.dumps({"status": "done", "best_val_iou": 0.5}))
    (run.run_dir / "history.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ResultsError, match="history.csv: unreadable .*move .* away and run the study again"):
        collect([run])


def test_a_truncated_model_is_named_as_such(smoke_run, tmp_path):
    import shutil

    from mitolib.training.evaluate import evaluate_run

    copy = tmp_path / "run"
    shutil.copytree(smoke_run.run_dir, copy)
    model = copy / "model.keras"
    model.write_bytes(model.read_bytes()[:1000])
    with pytest.raises(ValueError, match="model.keras: the model file cannot be loaded .* truncated"):
        evaluate_run(copy, progress=False)


@pytest.mark.parametrize("error, code, message", [
    (OSError(28, "No space left on device", "/runs/x/history.csv"), 1, "the disk is full (/runs/x/history.csv)"),
    (KeyboardInterrupt(), 130, "interrupted; finished runs and files are kept"),
    (FileExistsError("runs/x holds a finished run"), 2, "runs/x holds a finished run"),
])
def test_the_command_ends_in_one_line(monkeypatch, capsys, error, code, message):
    from mitolib import cli

    def fail(args):
        raise error

    monkeypatch.setattr(cli, "_train", fail)
    assert cli.main(["train", "--profile", "smoke"]) == code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("mitolib:")]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err
