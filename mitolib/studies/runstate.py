"""The one rule for a run's state: done, failed, running, missing; stale or collected.

A run is its parameters and its data.  It is **done** when its folder is complete (``metrics.json`` says
``done``, see :mod:`mitolib.core.rundir`) and was run with the planned parameters (:func:`params_hash`) on the
same data (:func:`mitolib.data.volumes.data_identity`), or when its folder is absent and the run was collected earlier
with the same parameters and data (``results/<profile>/<study>/runs.csv``).  A complete folder made with
other parameters (``studies.yml`` changed since) or on other data is **stale**: it runs again and is kept.
A parameter added to ``studies.yml`` after a run is read at its default, which by the rule for new
parameters reproduces the earlier behaviour.  The parameter-hash rule itself is :mod:`mitolib.core.identity`'s.
"""

from __future__ import annotations

from pathlib import Path

from mitolib.core.identity import (collected_identities, collected_runs, params_differ, params_hash,
                                   recorded_identity)
from mitolib.core.rundir import STATUS_DONE, STATUS_FAILED, is_complete, read_metrics
from mitolib.data.volumes import data_identity
from mitolib.studies.locks import lock_holder, lock_path

STATES = (STATUS_DONE, STATUS_FAILED, "running", "missing")


def data_differs(run_dir: Path, identity: str) -> bool:
    """True when the run folder records a data identity other than ``identity`` (the same parameters, other
    data); runs from before the identity was recorded count as made with the current data."""
    recorded = recorded_identity(run_dir)
    return bool(recorded) and recorded != identity


def current_identity(run) -> str:
    """The identity of the data ``run`` would train on now (:func:`mitolib.data.volumes.data_identity`; cached)."""
    return data_identity(run.params)


def is_done(run) -> bool:
    """Done: the run folder is complete and was run with the planned parameters on the same data, or the
    folder is absent and the run was collected earlier with the same parameters and data
    (``results/<profile>/<study>/runs.csv``, see :mod:`mitolib.results.collect`).  A complete folder whose
    ``params.json`` records other parameters (``studies.yml`` changed since) or another data identity (another
    ``MITOLIB_DATA``) is not done: it runs again, and the finished folder is kept aside (``.other-data/``)."""
    if is_complete(run.run_dir):
        return not params_differ(run.run_dir, run.params) and not data_differs(run.run_dir, current_identity(run))
    if run.run_dir.exists():
        return False
    if collected_runs(run.study, run.profile).get(run.run_id) != params_hash(run.params):
        return False
    identity = collected_identities(run.study, run.profile).get(run.run_id, "")
    return not identity or identity == current_identity(run)


def run_state(run) -> tuple[str, str]:
    """``(state, detail)`` of a planned run; state is one of ``STATES``."""
    metrics = read_metrics(run.run_dir) or {}
    if metrics.get("status") == STATUS_DONE and params_differ(run.run_dir, run.params):
        return "missing", "done with other parameters (studies.yml changed since); will run again"
    if metrics.get("status") == STATUS_DONE and data_differs(run.run_dir, current_identity(run)):
        return "missing", "done on other data (the data identity differs); will run again, the old run kept"
    if metrics.get("status") == STATUS_DONE:
        numbers = [f"{key} {metrics[key]:.3f}" for key in ("best_val_iou", "test_iou") if isinstance(metrics.get(key), (int, float))]
        return STATUS_DONE, ", ".join(numbers)
    if is_done(run):
        return STATUS_DONE, "collected earlier; run folder not here"
    holder = lock_holder(lock_path(run.run_dir))
    if holder:
        return "running", holder
    if metrics.get("status") == STATUS_FAILED:
        lines = str(metrics.get("error") or "").splitlines()
        return "failed", lines[0] if lines else ""
    if run.run_dir.exists():
        return "missing", "partial folder of an interrupted run"
    return "missing", ""
