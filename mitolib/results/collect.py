"""Collecting a study's complete runs into tidy tables under ``<results root>/<profile>/<study>/``.

* ``runs.csv`` — one row per complete run: ``run_id``, ``study``, ``profile``,
  ``variant`` (``runs`` studies only), every resolved parameter, then the
  ``metrics.json`` fields of ``METRIC_FIELDS``; sorted by ``run_id``.
* ``history.csv`` — long: ``run_id, epoch, metric, split, value``.  A run's wide
  column ``val_X`` becomes metric ``X``, split ``val``; ``X`` in ``TRAIN_METRICS``
  becomes split ``train``; any other column (``learning_rate``,
  ``epoch_seconds``) gets split ``""``.
* ``test_slices.csv`` — ``run_id`` and the run's per-slice rows.
* ``provenance.json`` — git commit, study, profile, data fingerprints and git
  commits found in the runs' ``params.json``, library versions, collection time,
  counts and the ids of the incomplete runs.
* ``predictions/<run_id>/test_XXX.png`` — the binary test masks of the best run
  (highest ``best_val_iou``, a validation choice) of each architecture among the
  runs that saved predictions, so anyone can recompute the test IoU.

Only complete runs (``metrics.json`` with status done) are collected; the others
are counted.  A run collected earlier whose folder is no longer here (a fresh
clone, another machine) keeps its rows, provided its parameters are unchanged
(``params_hash``): the collected tables are the durable record of a study, and
``mitolib study run`` treats such a run as done.  Files are written atomically and only when their content changes
(``provenance.json`` ignores the collection time in that comparison, and also the
collecting commit when no table changed), so the same runs give byte-identical
outputs, at any later commit too.  The results root is ``$MITOLIB_RESULTS`` or
``<project root>/results``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from mitolib.core.errors import ResultsError
from mitolib.model.objects import OBJECT_FIELDS
from mitolib.core.locations import project_root, results_root
from mitolib.core.provenance import git_commit, library_versions
from mitolib.core.rundir import (HISTORY, HISTORY_TABLE, PARAMS, POSTPROCESSING, PREDICTIONS, PROVENANCE, RUNS_TABLE,
                            PLAN_TABLE, SELECTION, SLICES_TABLE, TEST_OBJECTS, OBJECT_CLEANUP, STATUS_DONE, STATUS_FAILED, TEST_SLICES, atomic_write_str,
                            METRICS, read_json, read_metrics)
from mitolib.core.identity import NOT_PARAMETERS, collected_runs, params_differ, params_hash, recorded_identity

METRIC_FIELDS = ("status", "best_epoch", "best_val_iou", "best_val_monitor", "test_iou", "test_dice",
                 "train_seconds", "eval_seconds", "epochs_run", "images_per_second")
# Written by newer runs only; a column appears in runs.csv when a collected run has it.
OPTIONAL_METRIC_FIELDS = ("optimizer_steps", "samples_seen", "still_improving", "threshold_used", "val_threshold",
                          "resolved_mixed_precision", "resolved_jit_compile", "resolved_batch_norm_kernel",
                          "device", "train_patches", "val_patches", "train_foreground", "val_foreground",
                          *OBJECT_FIELDS, "min_object_voxels", "split_depth")
NUMERIC_METRIC_FIELDS = ("best_epoch", "best_val_iou", "best_val_monitor", "test_iou", "test_dice", "train_seconds",
                         "eval_seconds", "epochs_run", "images_per_second")  # a number or absent, never text
POSTPROCESSING_TABLE = POSTPROCESSING
SELECTION_TABLE = SELECTION
# Per-run tables that only some runs write (newer runs; select_by_all_monitors); collected when present.
OPTIONAL_TABLES = {POSTPROCESSING_TABLE: ["z_median", "threshold_source"], SELECTION_TABLE: ["monitor"],
                   TEST_OBJECTS: ["true_label"], OBJECT_CLEANUP: ["step"]}
TRAIN_METRICS = ("loss", "soft_jaccard", "thresholded_jaccard", "iou", "original_jaccard", "accuracy")
VAL_PREFIX = "val_"
SPLIT_TRAIN, SPLIT_VAL, SPLIT_NONE = "train", "val", ""
EPOCH = "epoch"
HISTORY_COLUMNS = ["run_id", EPOCH, "metric", "split", "value"]
SLICE_COLUMNS = ["run_id", "slice", "iou", "dice", "tp", "fp", "fn"]
VOLATILE = ("collected_at",)  # ignored when comparing provenance
UNCHANGED_TABLES_VOLATILE = VOLATILE + ("git_commit",)  # also ignored when no table changed


@dataclass
class Collection:
    """What ``collect`` wrote: the folder, the counts and the ids of runs left out."""

    out_dir: Path
    planned: int
    collected: int
    failed: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for the command line."""
        ignored = len(self.failed) + len(self.unfinished)
        text = f"collected {self.collected} of {self.planned} runs into {self.out_dir}"
        if self.kept:
            text += f" ({len(self.kept)} kept from an earlier collection, their folders being absent)"
        if ignored:
            text += f"; ignored {ignored} incomplete ({len(self.failed)} failed, {len(self.unfinished)} not finished)"
        if self.stale:
            text += (f"; ignored {len(self.stale)} made with other parameters than the plan's"
                     " (`mitolib study run` runs them again)")
        return text


def _read_run_table(path: Path) -> pd.DataFrame:
    """A run folder's CSV, or :class:`ResultsError` naming the file."""
    try:
        return pd.read_csv(path)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ResultsError(f"{path}: unreadable ({type(error).__name__}: {str(error).splitlines()[0]}); the run "
                           f"folder is damaged: move {path.parent} away and run the study again "
                           "(`mitolib study run` redoes that run)") from None


def _previous(out_dir: Path, name: str) -> pd.DataFrame | None:
    """An earlier collected table, read so that its rows are written back byte for byte: every column as text,
    then the columns that are all numbers as numbers (``true``/``false`` stay text, not booleans)."""
    path = out_dir / name
    if not path.is_file():
        return None
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in table.columns:
        try:
            table[column] = pd.to_numeric(table[column])
        except (ValueError, TypeError):
            table[column] = table[column].replace("", float("nan")) if (table[column] == "").all() else table[column]
    return table


def long_history(wide: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """A run's wide ``history.csv`` (one row per epoch) as long rows ``run_id, epoch, metric, split, value``."""
    rows = []
    for column in wide.columns:
        if column == EPOCH:
            continue
        if column.startswith(VAL_PREFIX):
            metric, split = column[len(VAL_PREFIX):], SPLIT_VAL
        else:
            metric, split = column, SPLIT_TRAIN if column in TRAIN_METRICS else SPLIT_NONE
        part = pd.DataFrame({"run_id": run_id, EPOCH: wide[EPOCH], "metric": metric, "split": split, "value": wide[column]})
        rows.append(part.dropna(subset=["value"]))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=HISTORY_COLUMNS)


def _run_row(run, metrics: dict) -> dict:
    row = {"run_id": run.run_id, "study": run.study, "profile": run.profile}
    if run.variant is not None:
        row["variant"] = run.variant
    row |= {key: value for key, value in run.params.items() if key not in NOT_PARAMETERS}
    row |= {key: metrics.get(key) for key in METRIC_FIELDS}
    row |= {key: metrics[key] for key in OPTIONAL_METRIC_FIELDS if key in metrics}
    for key in NUMERIC_METRIC_FIELDS:
        value = row.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ResultsError(f"{run.run_dir / METRICS}: {key} is {value!r}, not a number; the run's metrics are "
                               "damaged: run it again (remove its folder) before collecting")
    identity = recorded_identity(run.run_dir)
    if identity:
        row["data_identity"] = identity
    row["params_hash"] = params_hash(run.params)
    return row


def _find(obj: Any, wanted) -> list:
    """Values of every key (at any depth) for which ``wanted(key)`` is true."""
    found = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if wanted(str(key)):
                found.append(value if isinstance(value, str) else json.dumps(value, sort_keys=True))
            else:
                found += _find(value, wanted)
    return found


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


def _write_if_changed(path: Path, text: str, same=lambda old, new: old == new) -> bool:
    """Write ``text`` atomically unless ``path`` holds the same; True when written."""
    try:
        old = path.read_text(encoding="utf-8")
    except OSError:
        old = None
    if old is None or not same(old, text):
        atomic_write_str(path, text)
        return True
    return False


def _same_provenance(old: str, new: str, volatile: Sequence[str] = VOLATILE) -> bool:
    try:
        old_obj, new_obj = json.loads(old), json.loads(new)
    except json.JSONDecodeError:
        return False
    for key in volatile:
        old_obj.pop(key, None)
        new_obj.pop(key, None)
    return old_obj == new_obj


def collect(runs: Sequence, out_root: Path | None = None) -> Collection:
    """Write the tidy tables of the complete ``runs`` (one study, one profile); see the module docstring."""
    if not runs:
        raise ValueError("no runs to collect")
    study, profile = runs[0].study, runs[0].profile
    out_dir = (out_root or results_root()) / profile / study
    summary = Collection(out_dir, planned=len(runs), collected=0)
    rows, histories, slices, fingerprints, commits = [], [], [], set(), set()
    optional = {name: [] for name in OPTIONAL_TABLES}
    earlier = collected_runs(study, profile, out_root)
    previous = {name: _previous(out_dir, name) for name in (RUNS_TABLE, HISTORY_TABLE, SLICES_TABLE, *optional)}
    for run in sorted(runs, key=lambda r: r.run_id):
        metrics = read_metrics(run.run_dir) or {}
        if metrics.get("status") != STATUS_DONE and earlier.get(run.run_id) == params_hash(run.params):
            summary.collected += 1
            summary.kept.append(run.run_id)
            for name, target in ((RUNS_TABLE, rows), (HISTORY_TABLE, histories), (SLICES_TABLE, slices),
                                 *optional.items()):
                table = previous[name]
                if table is not None:
                    part = table[table["run_id"].astype(str) == run.run_id]
                    target.extend(part.to_dict("records") if name == RUNS_TABLE else [part])
            continue
        if metrics.get("status") == STATUS_DONE and params_differ(run.run_dir, run.params):
            summary.stale.append(run.run_id)
            continue
        if metrics.get("status") != STATUS_DONE:
            (summary.failed if metrics.get("status") == STATUS_FAILED else summary.unfinished).append(run.run_id)
            continue
        summary.collected += 1
        rows.append(_run_row(run, metrics))
        if (run.run_dir / HISTORY).is_file():
            histories.append(long_history(_read_run_table(run.run_dir / HISTORY), run.run_id))
        for name, target in ((TEST_SLICES, slices), *optional.items()):
            if (run.run_dir / name).is_file():
                table = _read_run_table(run.run_dir / name)
                target.append(table.drop(columns="run_id", errors="ignore").assign(run_id=run.run_id))
        params_file = read_json(run.run_dir / PARAMS) or {}
        fingerprints.update(_find(params_file, lambda key: "fingerprint" in key))
        commits.update(_find(params_file, lambda key: key == "git_commit"))

    columns = list(dict.fromkeys(key for row in rows for key in row))
    runs_table = pd.DataFrame(rows, columns=columns or ["run_id", "study", "profile", *METRIC_FIELDS, "params_hash"])
    runs_table = runs_table.sort_values("run_id", kind="stable")
    history = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame(columns=HISTORY_COLUMNS)
    history = history.sort_values(["run_id", "metric", "split", EPOCH], kind="stable")
    slice_table = pd.concat(slices, ignore_index=True) if slices else pd.DataFrame(columns=SLICE_COLUMNS)
    slice_table = slice_table[["run_id", *[c for c in slice_table.columns if c != "run_id"]]]
    if "slice" in slice_table.columns:
        slice_table = slice_table.sort_values(["run_id", "slice"], kind="stable")

    tables = [(RUNS_TABLE, runs_table), (HISTORY_TABLE, history), (SLICES_TABLE, slice_table)]
    for name, parts in optional.items():
        if parts:  # only studies whose runs wrote this table have it
            table = pd.concat(parts, ignore_index=True)
            table = table[["run_id", *[c for c in table.columns if c != "run_id"]]]
            tables.append((name, table.sort_values(["run_id", *OPTIONAL_TABLES[name]], kind="stable")))
    commit = git_commit(project_root())  # before this collection's own writes make the tree dirty
    out_dir.mkdir(parents=True, exist_ok=True)
    tables_changed = [_write_if_changed(out_dir / name, _csv(table)) for name, table in tables]
    provenance = {
        "study": study,
        "profile": profile,
        "git_commit": commit,
        "run_git_commits": sorted(commits),
        "data_fingerprints": sorted(fingerprints),
        "libraries": library_versions(),
        "collected_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "counts": {"planned": summary.planned, "collected": summary.collected, "kept": len(summary.kept),
                   "failed": len(summary.failed), "unfinished": len(summary.unfinished),
                   "stale": len(summary.stale)},
        "incomplete": {"failed": summary.failed, "unfinished": summary.unfinished, "stale": summary.stale},
        "tables": [name for name, _ in tables],
    }
    provenance["predictions"] = copy_best_predictions(runs_table, {run.run_id: run.run_dir for run in runs}, out_dir)
    volatile = VOLATILE if any(tables_changed) else UNCHANGED_TABLES_VOLATILE
    _write_if_changed(out_dir / PROVENANCE, json.dumps(provenance, indent=2, sort_keys=True) + "\n",
                      lambda old, new: _same_provenance(old, new, volatile))
    record_plan(runs, out_root)
    return summary




def plan_table(runs: Sequence) -> pd.DataFrame:
    """The plan of a study as a table: ``index``, ``run_id``, ``variant`` (``""`` in a grid), the
    :func:`~mitolib.core.identity.params_hash` of each planned run's parameters, then the parameters."""
    rows = [{"index": run.index, "run_id": run.run_id, "variant": run.variant or "", "params_hash": params_hash(run.params),
             **{key: value for key, value in run.params.items() if key not in NOT_PARAMETERS}}
            for run in sorted(runs, key=lambda r: r.index)]
    return pd.DataFrame(rows)


def record_plan(runs: Sequence, out_root: Path | None = None) -> Path:
    """Write ``plan.csv`` (:func:`plan_table`) beside the collected tables of the study ``runs`` plan, so the
    book can tell the current design's runs from earlier ones without planning (``mitolib study plan STUDY
    --record``; ``collect`` writes it too).  Written only when it changes."""
    if not runs:
        raise ValueError("no runs to record")
    out_dir = (out_root or results_root()) / runs[0].profile / runs[0].study
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_if_changed(out_dir / PLAN_TABLE, _csv(plan_table(runs)))
    return out_dir / PLAN_TABLE


def copy_best_predictions(runs_table: pd.DataFrame, run_dirs: dict, out_dir: Path) -> dict[str, int]:
    """Copy the saved test masks of the best run per architecture into ``out_dir/predictions/<run_id>``.

    The best run is the one with the highest ``best_val_iou`` among the complete
    runs that saved predictions.  Folders of runs no longer chosen are removed.
    Returns ``{run_id: number of PNG files}``.
    """
    target_root = out_dir / PREDICTIONS

    def source(run_id: str) -> Path | None:
        for folder in (run_dirs[run_id] / PREDICTIONS, target_root / run_id):
            if folder.is_dir() and any(folder.glob("*.png")):
                return folder
        return None

    chosen = {}
    if not runs_table.empty and "architecture" in runs_table.columns:
        saved = runs_table[[source(r) is not None for r in runs_table["run_id"]]]
        saved = saved.sort_values(["best_val_iou", "run_id"], ascending=[False, True], kind="stable")
        for run_id in saved.drop_duplicates("architecture")["run_id"]:
            chosen[run_id] = sorted(source(run_id).glob("*.png"))
    if target_root.is_dir():
        for folder in target_root.iterdir():
            if folder.name not in chosen:
                shutil.rmtree(folder)
    for run_id, files in chosen.items():
        folder = target_root / run_id
        folder.mkdir(parents=True, exist_ok=True)
        for png in files:
            target = folder / png.name
            if png != target and (not target.exists() or target.read_bytes() != png.read_bytes()):
                tmp = folder / f".{png.name}.tmp"
                shutil.copyfile(png, tmp)
                os.replace(tmp, target)
    return {run_id: len(files) for run_id, files in sorted(chosen.items())}
