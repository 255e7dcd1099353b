"""The one rule for a run's state: done, failed, running, missing; stale or collected.

A run is its parameters and its data.  It is **done** when its folder is complete (``metrics.json`` says
``done``, see :mod:`mitolib.rundir`) and was run with the planned parameters (:func:`params_hash`) on the
same data (:func:`mitolib.data.data_identity`), or when its folder is absent and the run was collected earlier
with the same parameters and data (``results/<profile>/<study>/runs.csv``).  A complete folder made with
other parameters (``studies.yml`` changed since) or on other data is **stale**: it runs again and is kept.
A parameter added to ``studies.yml`` after a run is read at its default, which by the rule for new
parameters reproduces the earlier behaviour.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from mitolib.config import cast_value, load_config
from mitolib.data import data_identity
from mitolib.locations import results_root
from mitolib.locks import lock_holder, lock_path
from mitolib.rundir import PARAMS, RUNS_TABLE, STATUS_DONE, STATUS_FAILED, is_complete, read_json, read_metrics

STATES = ("done", "failed", "running", "missing")
NOT_PARAMETERS = ("profile", "out_dir")  # a column already, and a machine-specific path
HASH_DIGITS = 16


def params_hash(params: dict) -> str:
    """A short SHA-256 of a run's parameters (without ``profile`` and ``out_dir``)."""
    kept = {key: value for key, value in params.items() if key not in NOT_PARAMETERS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:HASH_DIGITS]


def params_differ(run_dir: Path, params: dict) -> bool:
    """True when ``run_dir/params.json`` records parameters whose :func:`params_hash` differs from
    ``params``'s (a folder run before ``studies.yml`` changed); False when they agree or none are recorded.

    A parameter added to ``studies.yml`` after the run is read at its default, which by the rule for new
    parameters reproduces the earlier behaviour; so the run still matches a plan that leaves it at the
    default, and differs from one that sets it otherwise."""
    record = read_json(Path(run_dir) / PARAMS)
    recorded = record.get("params") if isinstance(record, dict) else None
    if not isinstance(recorded, dict):
        return False
    defaults = load_config()["defaults"]
    completed = {**{key: value for key, value in defaults.items() if key not in recorded}, **recorded}
    return params_hash(completed) != params_hash(params)


def row_params_hash(row: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> str:
    """:func:`params_hash` of a collected row's parameter columns (text, as ``runs.csv`` holds them), each cast
    to its default's type; a parameter the row lacks (added to ``studies.yml`` later) reads at its default."""
    defaults = defaults if defaults is not None else load_config()["defaults"]
    params = {}
    for key, default in defaults.items():
        value = row.get(key)
        if value is None or (isinstance(value, float) and value != value):
            params[key] = default
            continue
        try:
            params[key] = cast_value(key, value, default)
        except ValueError:
            params[key] = value
    return params_hash(params)


def collected_runs(study: str, profile: str, root: Path | None = None) -> dict[str, str]:
    """``{run_id: params_hash}`` of the runs collected as done in ``results/<profile>/<study>/runs.csv``, the hash
    recomputed from each row's parameter columns (:func:`row_params_hash`), so a parameter added since reads at
    its default rather than making every earlier row look different."""
    path = (root or results_root()) / profile / study / RUNS_TABLE
    if not path.is_file():
        return {}
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "params_hash" not in table.columns:
        return {}
    done = table[table["status"] == STATUS_DONE]
    defaults = load_config()["defaults"]
    return {row["run_id"]: row_params_hash(row, defaults) for row in done.to_dict("records")}


def recorded_identity(run_dir: Path) -> str:
    """The data identity a run folder's ``params.json`` records (``""`` for runs from before it was recorded)."""
    record = read_json(Path(run_dir) / PARAMS)
    return str(record.get("data_identity") or "") if isinstance(record, dict) else ""


def data_differs(run_dir: Path, identity: str) -> bool:
    """True when the run folder records a data identity other than ``identity`` (the same parameters, other
    data); runs from before the identity was recorded count as made with the current data."""
    recorded = recorded_identity(run_dir)
    return bool(recorded) and recorded != identity


def collected_identities(study: str, profile: str, root: Path | None = None) -> dict[str, str]:
    """``{run_id: data_identity}`` of the collected runs (``""`` where ``runs.csv`` has none)."""
    path = (root or results_root()) / profile / study / RUNS_TABLE
    if not path.is_file():
        return {}
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    column = table["data_identity"] if "data_identity" in table.columns else [""] * len(table)
    return dict(zip(table["run_id"], column))


def current_identity(run) -> str:
    """The identity of the data ``run`` would train on now (:func:`mitolib.data.data_identity`; cached)."""
    return data_identity(run.params)


def is_done(run) -> bool:
    """Done: the run folder is complete and was run with the planned parameters on the same data, or the
    folder is absent and the run was collected earlier with the same parameters and data
    (``results/<profile>/<study>/runs.csv``, see :mod:`mitolib.results`).  A complete folder whose
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
