"""The local executor, run locks and run states, with a stand-in for the notebook runner (no training)."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mitolib.studies import locks
from mitolib.studies.executor import execute_run, run_local
from mitolib.studies.locks import RunLock, lock_holder, lock_path
from mitolib.studies.runstate import run_state
from mitolib.studies.plan import plan

CALLS = "calls.log"
FAILURES = "failures.json"


def fake_runner(params: dict, run_dir) -> dict:
    """Stand-in for ``run_notebook``: logs the call, fails as often as ``failures.json`` says, else succeeds."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir.parent / CALLS, "a", encoding="utf-8") as log:
        log.write(run_dir.name + "\n")
    failures = json.loads((run_dir.parent / FAILURES).read_text()) if (run_dir.parent / FAILURES).exists() else {}
    status = "failed" if calls(run_dir.parent).count(run_dir.name) <= failures.get(run_dir.name, 0) else "done"
    metrics = {"status": status, "best_val_iou": 0.5, "test_iou": 0.4}
    if status == "failed":
        metrics["error"] = "RuntimeError: planned failure"
    from mitolib.data.volumes import data_identity

    (run_dir / "params.json").write_text(json.dumps({"params": params, "data_identity": data_identity(params)}))
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return metrics


def broken_runner(params: dict, run_dir) -> dict:
    raise OSError("no kernel")


def calls(study_dir: Path) -> list[str]:
    log = study_dir / CALLS
    return log.read_text().split() if log.exists() else []


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("MITOLIB_RUNS", str(tmp_path / "runs"))
    planned = plan("architectures", "smoke")
    planned[0].run_dir.parent.mkdir(parents=True)
    return planned


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_runs_once_then_skips(runs):
    counts = run_local(runs, runner=fake_runner)
    assert counts["done"] == 3 and counts["skipped"] == 0
    counts = run_local(runs, runner=fake_runner)
    assert counts["skipped"] == 3 and counts["done"] == 0
    assert sorted(calls(runs[0].run_dir.parent)) == sorted(run.run_id for run in runs)
    assert not list(runs[0].run_dir.parent.glob("*.lock"))


def test_runs_go_seed_by_seed(tmp_path, monkeypatch):
    monkeypatch.setenv("MITOLIB_RUNS", str(tmp_path / "runs"))
    planned = plan("seeds", "smoke")  # plan order: each architecture with seeds 0, 1, 2
    assert [run.params["seed"] for run in planned[:3]] == [0, 1, 2]
    planned[0].run_dir.parent.mkdir(parents=True)
    run_local(planned, runner=fake_runner)
    order = calls(planned[0].run_dir.parent)
    assert order == [run.run_id for seed in (0, 1, 2) for run in planned if run.params["seed"] == seed]
    assert order[:3] == ["architecture-unet_seed-0", "architecture-attention_unet_seed-0",
                         "architecture-attention_resunet_seed-0"]


def test_failed_run_keeps_going_and_is_retried(runs):
    study_dir = runs[0].run_dir.parent
    (study_dir / FAILURES).write_text(json.dumps({runs[1].run_id: 2}))
    counts = run_local(runs, runner=fake_runner)
    assert counts["done"] == 2 and counts["failed"] == 1
    assert run_state(runs[1])[0] == "failed"
    counts = run_local(runs, attempts=2, runner=fake_runner)  # attempt 2 fails, attempt 3 succeeds
    assert counts["done"] == 1 and counts["skipped"] == 2
    assert calls(study_dir).count(runs[1].run_id) == 3
    assert calls(study_dir).count(runs[0].run_id) == 1
    assert len(list((study_dir / ".discarded").iterdir())) == 2  # the two failed attempts, moved aside


def test_partial_folder_is_cleared_before_redoing(runs):
    partial = runs[0].run_dir
    partial.mkdir()
    (partial / "history.csv").write_text("epoch,loss\n1,0.5\n")
    (partial / ".metrics.json.tmp").write_text("{")
    assert run_state(runs[0]) == ("missing", "partial folder of an interrupted run")
    assert execute_run(runs[0], runner=fake_runner) == "done"
    assert not (partial / "history.csv").exists() and not (partial / ".metrics.json.tmp").exists()


def test_runner_that_raises_leaves_a_failed_run(runs):
    assert execute_run(runs[0], runner=broken_runner) == "failed"
    metrics = json.loads((runs[0].run_dir / "metrics.json").read_text())
    assert metrics["status"] == "failed" and "no kernel" in metrics["error"]


def test_live_lock_blocks_a_second_executor(runs):
    holder = RunLock(lock_path(runs[0].run_dir))
    assert holder.acquire()
    try:
        assert not RunLock(lock_path(runs[0].run_dir)).acquire()
        assert execute_run(runs[0], runner=fake_runner) == "busy"
        assert run_state(runs[0])[0] == "running"
        assert calls(runs[0].run_dir.parent) == []
    finally:
        holder.release()
    assert not lock_path(runs[0].run_dir).exists()


def test_stale_lock_of_a_dead_process_is_taken_over(runs):
    path = lock_path(runs[0].run_dir)
    path.write_text(f"{dead_pid()} {socket.gethostname()}\n")
    assert lock_holder(path) is None
    assert run_state(runs[0])[0] == "missing"
    assert execute_run(runs[0], runner=fake_runner) == "done"
    assert not path.exists()


def test_lock_from_another_host_is_trusted_until_its_heartbeat_is_old(runs):
    path = lock_path(runs[0].run_dir)
    path.write_text("12345 some-other-node\n")
    assert lock_holder(path) == "pid 12345 on some-other-node"
    assert execute_run(runs[0], runner=fake_runner) == "busy"
    old = time.time() - locks.STALE_AFTER_S - 1
    os.utime(path, (old, old))
    assert lock_holder(path) is None
    assert execute_run(runs[0], runner=fake_runner) == "done"


def test_lock_being_written_counts_as_held_for_a_while(runs):
    path = lock_path(runs[0].run_dir)
    path.write_text("")
    assert lock_holder(path) == "being written"
    old = time.time() - locks.EMPTY_LOCK_GRACE_S - 1
    os.utime(path, (old, old))
    assert lock_holder(path) is None


def test_parallel_jobs_run_each_run_once(runs):
    counts = run_local(runs, jobs=2, runner=fake_runner)
    assert counts["done"] == 3
    assert sorted(calls(runs[0].run_dir.parent)) == sorted(run.run_id for run in runs)


def test_status_command_counts_states(runs, capsys):
    from mitolib.cli import main

    fake_runner(runs[0].params, runs[0].run_dir)
    (runs[0].run_dir.parent / FAILURES).write_text(json.dumps({runs[1].run_id: 1}))
    fake_runner(runs[1].params, runs[1].run_dir)
    holder = RunLock(lock_path(runs[2].run_dir))
    assert holder.acquire()
    try:
        assert main(["study", "status", "architectures", "--profile", "smoke"]) == 0
    finally:
        holder.release()
    out = capsys.readouterr().out
    assert "1 done, 1 failed, 1 running, 0 missing (of 3)" in out
    assert "planned failure" in out and "best_val_iou 0.500" in out


def test_run_index_command_checks_the_range(runs, capsys):
    from mitolib.cli import main

    assert main(["study", "run-index", "architectures", "3", "--profile", "smoke"]) == 2
    assert "out of range" in capsys.readouterr().err


def test_a_run_done_with_other_parameters_runs_again(runs):
    assert execute_run(runs[0], runner=fake_runner) == "done"
    changed = dataclasses.replace(runs[0], params={**runs[0].params, "epochs": runs[0].params["epochs"] + 1})
    assert run_state(changed) == ("missing", "done with other parameters (studies.yml changed since); will run again")
    assert execute_run(changed, runner=fake_runner) == "done"
    assert execute_run(changed, runner=fake_runner) == "skipped"
    study_dir = runs[0].run_dir.parent
    assert calls(study_dir).count(runs[0].run_id) == 2
    assert len(list((study_dir / ".other-data").iterdir())) == 1  # the finished run of the old parameters, kept
    assert json.loads((changed.run_dir / "params.json").read_text())["params"]["epochs"] == changed.params["epochs"]


def test_a_study_rerun_on_other_data_retrains_and_keeps_both(tmp_path, monkeypatch):
    """The same parameters with another MITOLIB_DATA (other labels) are another run: not done, retrained, and the
    finished run on the first data is kept apart, never overwritten."""
    import numpy as np

    from mitolib.data.volumes import _cached_volume, _identity_cached
    from mitolib.data.synthetic import write_slice_folders

    monkeypatch.setenv("MITOLIB_RUNS", str(tmp_path / "runs"))
    first, second = tmp_path / "data_a", tmp_path / "data_b"
    for root in (first, second):
        write_slice_folders(root, n_slices=4, height=64, width=96)
    mask = second / "test" / "masks" / sorted(p.name for p in (second / "test" / "masks").iterdir())[0]
    from PIL import Image

    Image.fromarray(np.zeros((64, 96), np.uint8)).save(mask)  # other labels for one test slice
    monkeypatch.setenv("MITOLIB_DATA", str(first))
    run = plan("architectures", "smoke", {"data_source": "epfl"})[0]
    run.run_dir.parent.mkdir(parents=True)
    assert execute_run(run, runner=fake_runner) == "done"
    assert execute_run(run, runner=fake_runner) == "skipped"
    monkeypatch.setenv("MITOLIB_DATA", str(second))
    _cached_volume.cache_clear()
    _identity_cached.cache_clear()
    assert run_state(run) == ("missing", "done on other data (the data identity differs); will run again, "
                                         "the old run kept")
    assert execute_run(run, runner=fake_runner) == "done"
    kept = list((run.run_dir.parent / ".other-data").iterdir())
    assert len(kept) == 1 and (kept[0] / "metrics.json").is_file()
    assert json.loads((kept[0] / "params.json").read_text())["data_identity"] != json.loads(
        (run.run_dir / "params.json").read_text())["data_identity"]


def test_discarded_attempt_keeps_its_records_not_its_large_files(tmp_path):
    from mitolib.studies.executor import DISCARDED_DIR, OTHER_DATA_DIR, discard

    def attempt(name: str) -> Path:
        folder = tmp_path / name
        (folder / "predictions").mkdir(parents=True)
        (folder / "predictions" / "test_000.png").write_bytes(b"\x89PNG")
        (folder / "model.keras").write_bytes(b"0" * 1000)
        (folder / "metrics.json").write_text('{"status": "failed"}')
        (folder / "params.json").write_text("{}")
        return folder

    kept = discard(attempt("run-a"))
    assert kept.parent == tmp_path / DISCARDED_DIR and not (tmp_path / "run-a").exists()
    assert sorted(path.name for path in kept.iterdir()) == ["metrics.json", "params.json"]
    finished = discard(attempt("run-b"), OTHER_DATA_DIR)  # a finished run on other data is kept whole
    assert sorted(path.name for path in finished.iterdir()) == ["metrics.json", "model.keras", "params.json",
                                                                 "predictions"]
