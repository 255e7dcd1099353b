"""Executing planned runs: per-run locks, the local executor, run states, and PBS submission.

A run is done only when its ``metrics.json`` says ``done``.  Before a run starts,
its executor creates ``<run_id>.lock`` beside the run folder with ``O_EXCL``; the
lock holds ``<pid> <host>`` and its mtime is refreshed every ``HEARTBEAT_S``
seconds.  A lock is stale, and is taken over, when its process is dead (same
host) or its heartbeat is older than ``STALE_AFTER_S`` (another host, as on a
cluster's shared file system).  A leftover folder of an interrupted or failed
run is moved into ``<study folder>/.discarded/`` before the run is redone.
"""

from __future__ import annotations

import collections
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from mitolib.config import project_root
from mitolib.rundir import METRICS, STATUS_DONE, STATUS_FAILED, atomic_write_json, is_complete, read_metrics

LOCK_SUFFIX = ".lock"
DISCARDED_DIR = ".discarded"
OTHER_DATA_DIR = ".other-data"  # finished runs whose data or parameters differ from the plan's, kept
HEARTBEAT_S = 60.0
STALE_AFTER_S = 600.0
EMPTY_LOCK_GRACE_S = 60.0
STATES = ("done", "failed", "running", "missing")
OK_OUTCOMES = ("done", "skipped", "busy")
SIGNAL_EXIT_BASE = 128  # the shell's exit status for a process ended by a signal
STUDY_SCRIPT = "pbs/pbs_study.sh"
COLLECT_SCRIPT = "pbs/pbs_collect.sh"
LOGS_DIR = "logs"
PATH_ENV = ("MITOLIB_VENV", "MITOLIB_DATA", "MITOLIB_RUNS", "MITOLIB_RESULTS", "MITOLIB_CONFIG")
NAME_ENV = ("MITOLIB_CONDA_ENV",)


class SchedulerError(RuntimeError):
    """A batch-system command failed or cannot be formed; the message says why."""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- locks ----------------------------------------------------------------------------------


def lock_path(run_dir: Path) -> Path:
    """The lock file of a run folder: ``<run_id>.lock`` beside it."""
    return run_dir.with_name(run_dir.name + LOCK_SUFFIX)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_holder(path: Path) -> str | None:
    """``"pid N on HOST"`` when a live process holds the lock at ``path``, else None (absent or stale)."""
    text = _read(path)
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return None
    fields = (text or "").split()
    if len(fields) != 2 or not fields[0].isdigit():
        return "being written" if age < EMPTY_LOCK_GRACE_S else None
    pid, host = int(fields[0]), fields[1]
    if host == socket.gethostname():
        return f"pid {pid} on {host}" if _pid_alive(pid) else None
    return f"pid {pid} on {host}" if age < STALE_AFTER_S else None


class RunLock:
    """An exclusive, heartbeated lock file; ``acquire()`` returns False when someone else holds it."""

    def __init__(self, path: Path):
        self.path = path
        self.text = f"{os.getpid()} {socket.gethostname()}\n"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _create(self) -> bool:
        try:
            handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(self.text)
        return True

    def _take_over(self) -> bool:
        """Move a stale lock aside; False if it turned out to be live (then it is put back)."""
        seen = _read(self.path)
        if lock_holder(self.path) is not None:
            return False
        aside = self.path.with_name(f"{self.path.name}.stale.{os.getpid()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return True
        if _read(aside) != seen:  # another executor took the lock between our read and rename
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
            aside.unlink(missing_ok=True)
            return False
        aside.unlink(missing_ok=True)
        _log(f"took over the stale lock {self.path.name} ({(seen or '').strip() or 'empty'})")
        return True

    def acquire(self) -> bool:
        """Create the lock (taking over a stale one) and start the heartbeat; True on success."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._create() and not (self._take_over() and self._create()):
            return False
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()
        return True

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        """Stop the heartbeat and remove the lock if it is still ours."""
        self._stop.set()
        if _read(self.path) == self.text:
            self.path.unlink(missing_ok=True)


# --- one run ------------------------------------------------------------------------------


def discard(run_dir: Path, into: str = DISCARDED_DIR) -> Path:
    """Move a leftover run folder into ``.discarded/`` (or ``into``) beside it; returns the new path."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    bin_dir = run_dir.parent / into
    bin_dir.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix=f"{run_dir.name}-{stamp}-", dir=bin_dir))
    os.replace(run_dir, target)  # a folder may replace an empty one
    return target


def _run_once(run, runner: Callable | None) -> dict:
    if runner is None:
        from mitolib.runner import run_notebook as runner

    try:
        return runner(dict(run.params), run.run_dir) or {}
    except Exception as error:  # the runner itself broke: record it as the run's failure
        metrics = {"status": STATUS_FAILED, "error": f"{type(error).__name__}: {error}",
                   "traceback": traceback.format_exc()}
        atomic_write_json(run.run_dir / METRICS, metrics)
        return metrics


def is_done(run) -> bool:
    """Done: the run folder is complete and was run with the planned parameters on the same data, or the
    folder is absent and the run was collected earlier with the same parameters and data
    (``results/<profile>/<study>/runs.csv``, see :mod:`mitolib.results`).  A complete folder whose
    ``params.json`` records other parameters (``studies.yml`` changed since) or another data identity (another
    ``MITOLIB_DATA``) is not done: it runs again, and the finished folder is kept aside (``.other-data/``)."""
    from mitolib.results import collected_identities, collected_runs, data_differs, params_differ, params_hash

    if is_complete(run.run_dir):
        return not params_differ(run.run_dir, run.params) and not data_differs(run.run_dir, current_identity(run))
    if run.run_dir.exists():
        return False
    if collected_runs(run.study, run.profile).get(run.run_id) != params_hash(run.params):
        return False
    identity = collected_identities(run.study, run.profile).get(run.run_id, "")
    return not identity or identity == current_identity(run)


def preflight(runs: Sequence) -> None:
    """Read and check the data of every distinct data setting among ``runs`` that are not done, before any of
    them starts: a broken split stops the study once, with the file and the fix (``DataError``)."""
    from mitolib.numerics import detect_device

    if any(run.params.get("require_gpu") for run in runs) and detect_device().kind != "gpu":
        raise SchedulerError("this study's profile is sized for a GPU (require_gpu) and this machine has none; "
                             "submit it to GPU nodes (mitolib study submit), or pass -p require_gpu false")
    checked = set()
    for run in runs:
        key = tuple(run.params.get(k) for k in ("data_source", "data_root", "synthetic_slices", "synthetic_height",
                                                  "synthetic_width", "evaluate_test"))
        if key not in checked:
            checked.add(key)
            current_identity(run)


def current_identity(run) -> str:
    """The identity of the data ``run`` would train on now (:func:`mitolib.data.data_identity`; cached)."""
    from mitolib.data import data_identity

    return data_identity(run.params)


def execute_run(run, attempts: int = 1, runner: Callable | None = None) -> str:
    """Run one planned run unless done: ``done``, ``failed``, ``skipped`` (already done) or ``busy`` (locked).

    ``runner(params, run_dir) -> metrics`` defaults to ``mitolib.runner.run_notebook``.
    """
    if is_done(run):
        return "skipped"
    lock = RunLock(lock_path(run.run_dir))
    if not lock.acquire():
        _log(f"[{run.index}] {run.run_id}: running elsewhere ({lock_holder(lock.path)}); skipped")
        return "busy"
    try:
        if is_done(run):
            return "skipped"
        if is_complete(run.run_dir):  # finished on other data or parameters: keep it, never overwrite it
            _log(f"[{run.index}] {run.run_id}: kept the run finished on other data or parameters in "
                 f"{discard(run.run_dir, OTHER_DATA_DIR)}")
        for attempt in range(1, max(attempts, 1) + 1):
            if run.run_dir.exists():
                _log(f"[{run.index}] {run.run_id}: moved the previous attempt to {discard(run.run_dir)}")
            metrics = _run_once(run, runner)
            if metrics.get("status") == STATUS_DONE:
                return "done"
            _log(f"[{run.index}] {run.run_id}: attempt {attempt}/{attempts} failed: {metrics.get('error')}")
        return "failed"
    finally:
        lock.release()


def run_state(run) -> tuple[str, str]:
    """``(state, detail)`` of a planned run; state is one of ``STATES``."""
    from mitolib.results import params_differ

    from mitolib.results import data_differs

    metrics = read_metrics(run.run_dir) or {}
    if metrics.get("status") == STATUS_DONE and params_differ(run.run_dir, run.params):
        return "missing", "done with other parameters (studies.yml changed since); will run again"
    if metrics.get("status") == STATUS_DONE and data_differs(run.run_dir, current_identity(run)):
        return "missing", "done on other data (the data identity differs); will run again, the old run kept"
    if metrics.get("status") == STATUS_DONE:
        numbers = [f"{key} {metrics[key]:.3f}" for key in ("best_val_iou", "test_iou") if isinstance(metrics.get(key), (int, float))]
        return "done", ", ".join(numbers)
    if is_done(run):
        return "done", "collected earlier; run folder not here"
    holder = lock_holder(lock_path(run.run_dir))
    if holder:
        return "running", holder
    if metrics.get("status") == STATUS_FAILED:
        lines = str(metrics.get("error") or "").splitlines()
        return "failed", lines[0] if lines else ""
    if run.run_dir.exists():
        return "missing", "partial folder of an interrupted run"
    return "missing", ""


def handle_sigterm() -> None:
    """Turn SIGTERM (a scheduler's kill, walltime) into ``SystemExit`` so locks are released."""

    def stop(signum, frame):
        raise SystemExit(SIGNAL_EXIT_BASE + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


# --- the local executor -------------------------------------------------------------------


def run_local(runs: Sequence, jobs: int = 1, attempts: int = 1, runner: Callable | None = None) -> collections.Counter:
    """Execute ``runs`` here, ``jobs`` at a time (processes), with a progress bar; returns outcome counts."""
    from tqdm import tqdm

    handle_sigterm()
    counts: collections.Counter = collections.Counter()
    todo = [run for run in runs if not is_done(run)]
    counts["skipped"] = len(runs) - len(todo)
    failed = []
    _log(f"{len(runs)} runs: {counts['skipped']} already done, {len(todo)} to run, {jobs} at a time")
    with tqdm(total=len(runs), initial=counts["skipped"], unit="run", desc=runs[0].study if runs else "") as bar:

        def record(run, outcome: str) -> None:
            counts[outcome] += 1
            if outcome == "failed":
                failed.append(run.run_id)
            bar.update()
            bar.set_postfix_str(", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v))

        if jobs <= 1:
            for run in todo:
                record(run, execute_run(run, attempts, runner))
        else:
            with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=handle_sigterm) as pool:
                futures = {pool.submit(execute_run, run, attempts, runner): run for run in todo}
                try:
                    for future in as_completed(futures):
                        try:
                            outcome = future.result()
                        except Exception as error:  # a worker died (killed, out of memory)
                            _log(f"{futures[future].run_id}: executor error {type(error).__name__}: {error}")
                            outcome = "failed"
                        record(futures[future], outcome)
                except KeyboardInterrupt:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    _log(", ".join(f"{v} {k}" for k, v in sorted(counts.items()) if v) + (f"; failed: {', '.join(failed)}" if failed else ""))
    return counts


# --- PBS ----------------------------------------------------------------------------------


def qsub_variables(study: str, profile: str, overrides: Mapping[str, Any] | None = None) -> str:
    """The ``qsub -v`` list: STUDY, PROFILE, OVERRIDES (``key=value`` words) and the MITOLIB_* settings set here."""
    values = {"STUDY": study, "PROFILE": profile}
    if overrides:
        values["OVERRIDES"] = " ".join(f"{key}={value}" for key, value in overrides.items())
    for name in PATH_ENV:
        if os.environ.get(name):
            values[name] = str(Path(os.environ[name]).resolve())
    for name in NAME_ENV:
        if os.environ.get(name):
            values[name] = os.environ[name]
    for name, value in values.items():
        if any(char in value for char in ",'\"") or (name == "OVERRIDES" and any(" " in str(v) for v in overrides.values())):
            raise SchedulerError(f"{name}={value!r} cannot travel through qsub -v (no commas, quotes, or spaces in override values)")
    return ",".join(f"{name}={value}" for name, value in values.items())


def qsub_commands(study: str, profile: str, n_runs: int, overrides=None, qsub_args: str = "") -> tuple[list[str], list[str]]:
    """The array job's and the collection job's ``qsub`` argument lists; the latter holds ``{array_id}``."""
    if n_runs < 2:
        raise SchedulerError(f"study {study!r} has {n_runs} run; PBS arrays need two or more: run it with 'mitolib study run'")
    variables = qsub_variables(study, profile, overrides)
    extra = shlex.split(qsub_args)
    array = ["qsub", "-J", f"0-{n_runs - 1}", "-v", variables, *extra, STUDY_SCRIPT]
    collect = ["qsub", "-W", "depend=afterany:{array_id}", "-v", variables, *extra, COLLECT_SCRIPT]
    return array, collect


# Native Slurm: the same job scripts (sbatch reads their #PBS lines as comments), with the resources that
# Slurm's own options name, so a GPU is requested as --gres (Slurm's PBS wrapper drops `ngpus`).
SLURM_RESOURCES = {"gpu": ["--gres=gpu:1", "--cpus-per-task=8", "--mem=32G", "--time=04:00:00"],
                   "cpu": ["--cpus-per-task=2", "--mem=16G", "--time=04:00:00"]}
SLURM_COLLECT = ["--cpus-per-task=1", "--mem=4G", "--time=00:30:00"]


def sbatch_commands(study: str, profile: str, n_runs: int, overrides=None, sbatch_args: str = "",
                    gpu: bool = True) -> tuple[list[str], list[str]]:
    """The array job's and the collection job's ``sbatch`` argument lists (native Slurm); the latter holds
    ``{array_id}``.  ``gpu`` requests one GPU per run (``--gres=gpu:1``)."""
    if n_runs < 1:
        raise SchedulerError(f"study {study!r} has no run")
    exports = "ALL," + qsub_variables(study, profile, overrides)
    extra = shlex.split(sbatch_args)
    logs = f"--output={LOGS_DIR}/%x.o%A.%a"
    array = ["sbatch", "--parsable", f"--array=0-{n_runs - 1}", "--job-name=mitolib-study", logs,
             f"--export={exports}", *SLURM_RESOURCES["gpu" if gpu else "cpu"], *extra, STUDY_SCRIPT]
    collect = ["sbatch", "--parsable", "--dependency=afterany:{array_id}", "--job-name=mitolib-collect",
               f"--output={LOGS_DIR}/%x.o%j", f"--export={exports}", *SLURM_COLLECT, *extra, COLLECT_SCRIPT]
    return array, collect


def submit_pbs(study: str, profile: str, n_runs: int, overrides=None, *, dry_run: bool = False, qsub_args: str = "",
               scheduler: str = "pbs", gpu: bool = True) -> str | None:
    """Submit the study's array job and the dependent collection job (or print them); returns the array job id.

    ``scheduler``: ``pbs`` (qsub, PBS Pro) or ``slurm`` (sbatch, native: the GPU as ``--gres``)."""
    if scheduler == "slurm":
        array, collect = sbatch_commands(study, profile, n_runs, overrides, qsub_args, gpu)
    else:
        array, collect = qsub_commands(study, profile, n_runs, overrides, qsub_args)
    root = project_root()
    if dry_run:
        print(f"cd {shlex.quote(str(root))}")
        print(shlex.join(array))
        print(shlex.join(collect).replace("{array_id}", "<array job id>"))
        return None
    (root / LOGS_DIR).mkdir(exist_ok=True)  # the scripts' "#PBS -o logs/" and sbatch's --output need it
    array_id = _qsub(array, root)
    collect_id = _qsub([arg.replace("{array_id}", array_id) for arg in collect], root)
    print(f"array job {array_id} ({n_runs} runs); collection job {collect_id} after it")
    return array_id


def _qsub(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise SchedulerError(f"{shlex.join(command)} failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")
    return lines[-1].strip().split(";")[0]  # sbatch --parsable prints "<id>[;<cluster>]"
