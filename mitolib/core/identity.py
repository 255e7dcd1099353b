"""Run identity: the parameter-hash rule that says whether two runs are the same run, and what a collected
study recorded of its runs' parameters and data.

A run is its parameters and its data.  :func:`params_hash` hashes the parameters (without ``profile`` and
``out_dir``); a parameter added to ``studies.yml`` after a run is read at its default, which by the rule for
new parameters reproduces the earlier behaviour (:func:`params_differ`, :func:`row_params_hash`).  The data
side is the identity a run folder or a collected row records (:func:`recorded_identity`,
:func:`collected_identities`); computing the identity of data on disk is the data layer's
(:func:`mitolib.data.volumes.data_identity`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from mitolib.core.config import cast_value, load_config
from mitolib.core.locations import results_root
from mitolib.core.rundir import PARAMS, RUNS_TABLE, STATUS_DONE, read_json

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


def collected_identities(study: str, profile: str, root: Path | None = None) -> dict[str, str]:
    """``{run_id: data_identity}`` of the collected runs (``""`` where ``runs.csv`` has none)."""
    path = (root or results_root()) / profile / study / RUNS_TABLE
    if not path.is_file():
        return {}
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    column = table["data_identity"] if "data_identity" in table.columns else [""] * len(table)
    return dict(zip(table["run_id"], column))
