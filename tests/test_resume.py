"""A local study run killed (SIGKILL) during its second run resumes without repeating or losing a run.

Real smoke trainings through the notebook runner, in temporary run and result folders.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mitolib.results.collect import collect
from mitolib.core.rundir import METRICS, PARAMS, is_complete
from mitolib.studies.executor import DISCARDED_DIR
from mitolib.studies.locks import lock_holder, lock_path
from mitolib.studies.runstate import run_state
from mitolib.studies.plan import plan

ROOT = Path(__file__).resolve().parent.parent
STUDY, PROFILE = "architectures", "smoke"
START_TIMEOUT_S = 240
RUN_TIMEOUT_S = 420
POLL_S = 0.2
SETTLE_S = 1.0  # let the second run get into its training before the kill

pytestmark = [pytest.mark.slow]


def _started(run_dir: Path) -> str:
    return json.loads((run_dir / PARAMS).read_text())["started"]


def test_killed_study_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("MITOLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MITOLIB_RESULTS", str(tmp_path / "results"))
    runs = plan(STUDY, PROFILE)
    command = [sys.executable, "-m", "mitolib", "study", "run", STUDY, "--profile", PROFILE]
    log_path = tmp_path / "first.log"
    with open(log_path, "w") as log:
        first = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (runs[1].run_dir / PARAMS).exists():
            assert first.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, f"second run did not start\n{log_path.read_text()}"
            time.sleep(POLL_S)
        time.sleep(SETTLE_S)
        assert is_complete(runs[0].run_dir)
        assert run_state(runs[1])[0] == "running", "a run in progress is not done"
        assert not is_complete(runs[1].run_dir)
    finally:  # the executor and everything it started: notebook kernel included
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()

    done_mtime = (runs[0].run_dir / METRICS).stat().st_mtime_ns
    done_started = _started(runs[0].run_dir)
    killed_started = _started(runs[1].run_dir)
    assert not (runs[1].run_dir / METRICS).exists()
    assert lock_holder(lock_path(runs[1].run_dir)) is None, "the killed executor's lock is stale"
    assert run_state(runs[1]) == ("missing", "partial folder of an interrupted run")
    assert run_state(runs[2])[0] == "missing"
    partial = collect(runs)
    assert partial.collected == 1 and len(partial.unfinished) == 2, "no half-written run is counted"

    second = subprocess.run([*command, "--jobs", "2"], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
                            timeout=RUN_TIMEOUT_S)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "1 already done, 2 to run, 2 at a time" in second.stderr
    assert all(is_complete(run.run_dir) for run in runs)
    assert (runs[0].run_dir / METRICS).stat().st_mtime_ns == done_mtime, "a finished run was repeated"
    assert _started(runs[0].run_dir) == done_started
    assert _started(runs[1].run_dir) > killed_started, "the killed run was redone"
    discarded = list((runs[1].run_dir.parent / DISCARDED_DIR).iterdir())
    assert len(discarded) == 1 and discarded[0].name.startswith(runs[1].run_id)
    assert not list(runs[1].run_dir.parent.glob("*.lock"))
    assert collect(runs).collected == 3
