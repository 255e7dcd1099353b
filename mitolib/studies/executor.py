"""Executing planned runs here: one run under its lock, the local executor with its progress bar.

A run already done (:func:`mitolib.studies.runstate.is_done`) is skipped.  A leftover folder of an interrupted or
failed run is moved into ``<study folder>/.discarded/`` before the run is redone; a finished folder made
with other parameters or on other data is kept in ``.other-data/``.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Sequence

from mitolib.core.errors import SchedulerError
from mitolib.studies.locks import RunLock, lock_holder, lock_path
from mitolib.core.rundir import METRICS, STATUS_DONE, STATUS_FAILED, atomic_write_json, is_complete
from mitolib.studies.runstate import current_identity, is_done

DISCARDED_DIR = ".discarded"
DISCARDED_DROPS = ("*.keras", "predictions", "*.npy", "*.zip")  # a discarded attempt's large files, removed
OTHER_DATA_DIR = ".other-data"  # finished runs whose data or parameters differ from the plan's, kept
OK_OUTCOMES = ("done", "skipped", "busy")
SIGNAL_EXIT_BASE = 128  # the shell's exit status for a process ended by a signal
SIGTERM_MESSAGE = ("mitolib: stopped by SIGTERM (a batch system's kill or walltime); finished runs are kept, "
                   "partial ones are not marked complete: run the same command again to resume")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def discard(run_dir: Path, into: str = DISCARDED_DIR) -> Path:
    """Move a leftover run folder into ``.discarded/`` (or ``into``) beside it; returns the new path.

    A discarded attempt (failed or interrupted) keeps its records (parameters, metrics, history, the
    executed notebook) but not its large files (:data:`DISCARDED_DROPS`: the model checkpoint, saved masks,
    probability maps): the next attempt needs the room, and a full disk is a common reason to fail."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    bin_dir = run_dir.parent / into
    bin_dir.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix=f"{run_dir.name}-{stamp}-", dir=bin_dir))
    os.replace(run_dir, target)  # a folder may replace an empty one
    if into == DISCARDED_DIR:
        for pattern in DISCARDED_DROPS:
            for path in target.glob(pattern):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    return target


def _run_once(run, runner: Callable | None) -> dict:
    if runner is None:
        from mitolib.studies.runner import run_notebook as runner

    try:
        return runner(dict(run.params), run.run_dir) or {}
    except Exception as error:  # the runner itself broke: record it as the run's failure
        metrics = {"status": STATUS_FAILED, "error": f"{type(error).__name__}: {error}",
                   "traceback": traceback.format_exc()}
        atomic_write_json(run.run_dir / METRICS, metrics)
        return metrics


def preflight(runs: Sequence) -> None:
    """Read and check the data of every distinct data setting among ``runs`` that are not done, before any of
    them starts: a broken split stops the study once, with the file and the fix (``DataError``)."""
    from mitolib.core.numerics import detect_device

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


def execute_run(run, attempts: int = 1, runner: Callable | None = None) -> str:
    """Run one planned run unless done: ``done``, ``failed``, ``skipped`` (already done) or ``busy`` (locked).

    ``runner(params, run_dir) -> metrics`` defaults to ``mitolib.studies.runner.run_notebook``.
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


def handle_sigterm(announce: bool = True) -> None:
    """Turn SIGTERM (a scheduler's kill, walltime) into ``SystemExit`` with the shell's status 143, so locks
    are released and partial runs stay unmarked; ``announce`` says so in one line (the executor's process,
    not its workers)."""

    def stop(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM (group and parent) must not cut the cleanup
        if announce:
            print(SIGTERM_MESSAGE, file=sys.stderr, flush=True)
        # The kernel got the signal too: the notebook client's pending reply then fails ("Kernel died", an
        # asyncio task's traceback) while the process winds down; the line above has said all there is.
        logging.disable(logging.CRITICAL)
        raise SystemExit(SIGNAL_EXIT_BASE + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


def _start_worker() -> None:
    """A worker leaves Ctrl-C to the parent (the terminal sends it to the whole process group), which stops
    the workers with SIGTERM; so no worker takes another run after Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    handle_sigterm(announce=False)


def _execute_in_worker(run, attempts: int, runner: Callable | None) -> str:
    """:func:`execute_run` in a worker process.  On SIGTERM the run's lock is released on the way out
    (``execute_run``'s ``finally``) and the worker ends at once: the pool's loop would otherwise catch the
    ``SystemExit`` and start the next queued run."""
    try:
        return execute_run(run, attempts, runner)
    except SystemExit as stop:
        sys.stderr.flush()
        os._exit(stop.code if isinstance(stop.code, int) else SIGNAL_EXIT_BASE + signal.SIGTERM)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and send SIGTERM to every worker (each ends its run, lock released).

    The workers are this process's live ``multiprocessing`` children (the pool is the only thing here that
    starts any)."""
    processes = multiprocessing.active_children()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join()


def seed_major(runs: Sequence) -> list:
    """``runs`` seed by seed: every variant at the first seed, then every variant at the next, each seed's runs
    in plan order.  A study stopped part way then holds complete sets of paired seeds, which is what its
    comparisons need, instead of every seed of its first variants and none of the last."""
    return sorted(runs, key=lambda run: (run.params.get("seed", 0), run.index))


def run_local(runs: Sequence, jobs: int = 1, attempts: int = 1, runner: Callable | None = None) -> collections.Counter:
    """Execute ``runs`` here, ``jobs`` at a time (processes), seed by seed (:func:`seed_major`), with a progress
    bar; returns outcome counts."""
    from tqdm import tqdm

    handle_sigterm()
    counts: collections.Counter = collections.Counter()
    todo = [run for run in seed_major(runs) if not is_done(run)]
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
            with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_start_worker) as pool:
                futures = {pool.submit(_execute_in_worker, run, attempts, runner): run for run in todo}
                try:
                    for future in as_completed(futures):
                        try:
                            outcome = future.result()
                        except Exception as error:  # a worker died (killed, out of memory)
                            _log(f"{futures[future].run_id}: executor error {type(error).__name__}: {error}")
                            outcome = "failed"
                        record(futures[future], outcome)
                except (KeyboardInterrupt, SystemExit):  # Ctrl-C, or SIGTERM (handle_sigterm)
                    _stop_workers(pool)
                    raise
    _log(", ".join(f"{v} {k}" for k, v in sorted(counts.items()) if v) + (f"; failed: {', '.join(failed)}" if failed else ""))
    return counts
