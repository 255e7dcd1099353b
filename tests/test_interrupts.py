"""Ctrl-C or SIGTERM during ``run_local``: no new run starts, every lock is released, the exit is prompt.

A terminal sends SIGINT to the whole process group (the executor and its workers); a batch system sends
SIGTERM to the job's processes.  The script below runs a study of stand-in runs (each writes a marker and
sleeps), one or two at a time; after they have started it is signalled like that.  SIGTERM ends in one
line, without a traceback, with the shell's status 143.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mitolib.studies.executor import SIGTERM_MESSAGE
from mitolib.studies.plan import plan

ROOT = Path(__file__).resolve().parent.parent
STUDY, PROFILE = "seeds", "smoke"
SLEEP_S = 120  # a stand-in run: far longer than the test waits
START_TIMEOUT_S = 120
EXIT_TIMEOUT_S = 30
POLL_S = 0.2

SCRIPT = f'''
import pathlib, sys, time
from mitolib.studies.executor import run_local
from mitolib.studies.plan import plan

def runner(params, run_dir):
    run_dir.mkdir(parents=True, exist_ok=True)
    (pathlib.Path(sys.argv[1]) / ("started-" + run_dir.name)).write_text("")
    time.sleep({SLEEP_S})
    return {{"status": "done"}}

if __name__ == "__main__":
    run_local(plan("{STUDY}", "{PROFILE}"), jobs=int(sys.argv[2]), runner=runner)
'''


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_the_study_and_starts_nothing_new(tmp_path, signum, jobs):
    assert len(plan(STUDY, PROFILE)) > jobs  # a run is left to start
    markers = tmp_path / "markers"
    markers.mkdir()
    script = tmp_path / "study.py"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {**os.environ, "MITOLIB_RUNS": str(tmp_path / "runs"), "MITOLIB_RESULTS": str(tmp_path / "results"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, str(script), str(markers), str(jobs)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(list(markers.iterdir())) < jobs:
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the runs did not start"
            time.sleep(POLL_S)
        interrupted = time.monotonic()
        os.killpg(process.pid, signum)  # what Ctrl-C in a terminal, or a batch system's kill, does
        output, _ = process.communicate(timeout=EXIT_TIMEOUT_S)
        took = time.monotonic() - interrupted
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode != 0, output
    assert len(list(markers.iterdir())) == jobs, f"a new run started after the signal\n{output}"
    assert took < EXIT_TIMEOUT_S
    assert list((tmp_path / "runs").rglob("*.lock")) == [], "a lock was left behind"
    assert not list((tmp_path / "runs").rglob("metrics.json")), "an interrupted run looks finished"
    if signum == signal.SIGTERM:
        assert process.returncode == 128 + signal.SIGTERM
        assert "Traceback" not in output and SIGTERM_MESSAGE in output, output


@pytest.mark.slow
def test_sigterm_stops_train_in_one_line(tmp_path):
    """``mitolib train`` killed by a batch system (SIGTERM to its processes) mid-training: one line, status 143,
    no traceback (the kernel's included), and no run that looks finished."""
    env = {**os.environ, "MITOLIB_RUNS": str(tmp_path / "runs"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "mitolib", "train", "--profile", "smoke", "-p", "epochs", "200",
               "-p", "early_stopping_patience", "0"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not list((tmp_path / "runs").rglob("history.csv")):
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the training did not start"
            time.sleep(POLL_S)
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=EXIT_TIMEOUT_S * 2)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 128 + signal.SIGTERM, output
    assert SIGTERM_MESSAGE in output and "Traceback" not in output, output
    assert not list((tmp_path / "runs").rglob("metrics.json")), "a stopped run looks finished"


WIND_DOWN_SCRIPT = '''
import logging, os, signal, sys, time
from mitolib.studies.executor import handle_sigterm

handle_sigterm()
try:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)
except SystemExit as stop:
    logging.getLogger("asyncio").error("Task exception was never retrieved")  # what a dead kernel's reply logs
    sys.exit(stop.code)
'''


def test_sigterm_silences_the_wind_down_logs(tmp_path):
    """After the one line, what the notebook client logs while the process winds down (its pending reply from
    the killed kernel) stays unprinted: the process says one thing and ends with status 143."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", WIND_DOWN_SCRIPT], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=EXIT_TIMEOUT_S)
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert done.stderr.strip() == SIGTERM_MESSAGE
