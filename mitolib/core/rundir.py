"""The run-directory contract: atomic writes, completion and metrics.

A run directory holds ``params.json``, ``history.csv``, ``test_slices.csv``,
``model.keras``, ``train.ipynb`` and, written last, ``metrics.json``.  A run is
complete when ``metrics.json`` exists with ``status: done``.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

PARAMS = "params.json"
HISTORY = "history.csv"
TEST_SLICES = "test_slices.csv"
POSTPROCESSING = "postprocessing.csv"
SELECTION = "selection.csv"
TEST_OBJECTS = "test_objects.csv"  # each true object of the test volume and the predicted object matched to it
OBJECT_CLEANUP = "object_postprocessing.csv"  # the test volume scored after each object-level step
MODEL = "model.keras"
NOTEBOOK = "train.ipynb"
METRICS = "metrics.json"
PENDING_METRICS = "metrics.pending.json"
EVALUATION_PROGRESS = ".evaluation_progress"  # "done total" test slices while the run evaluates; gone after

EVALUATIONS = "evaluations.csv"  # appended by `mitolib evaluate RUN_DIR`: the saved model evaluated again
EVAL_PARAMS = ("tta", "eval_window", "eval_overlap", "eval_batch_size", "threshold", "z_median")  # its settings

# A collected study, ``results/<profile>/<study>/`` (see :mod:`mitolib.results.collect`).
RUNS_TABLE = "runs.csv"
HISTORY_TABLE = "history.csv"
SLICES_TABLE = "test_slices.csv"
PLAN_TABLE = "plan.csv"
PROVENANCE = "provenance.json"
PREDICTIONS = "predictions"

PNG_FOREGROUND = 255  # saved test masks (predictions/test_XXX.png): 0 background, 255 mitochondria

STATUS_DONE = "done"
STATUS_FAILED = "failed"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tmp_path(path: Path) -> Path:
    """A new empty temporary file beside ``path``, readable as the umask allows (not mkstemp's 0600)."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    os.chmod(name, 0o666 & ~_umask())
    return Path(name)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_str(path: str | Path, text: str) -> Path:
    """Atomically write UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become None, NumPy scalars become Python scalars."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Atomically write ``obj`` as indented, key-sorted JSON."""
    return atomic_write_str(path, json.dumps(_clean(obj), indent=2, sort_keys=True) + "\n")


def atomic_write_csv(path: str | Path, frame) -> Path:
    """Atomically write a pandas DataFrame as CSV without its index."""
    return atomic_write_str(path, frame.to_csv(index=False))



def read_json(path: str | Path) -> dict | None:
    """Parsed JSON, or None if the file is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, json.JSONDecodeError):
        return None


def read_metrics(run_dir: str | Path) -> dict | None:
    """``metrics.json`` of a run, or None when the run has not finished."""
    return read_json(Path(run_dir) / METRICS)


def run_threshold(params, metrics) -> float:
    """The one threshold rule of a finished run, for evaluate, predict, the exported package and the pages: the
    threshold its training chose on the validation slices (``threshold_used``, with ``tune_threshold``), else its
    ``threshold`` parameter. ``params`` and ``metrics`` are mappings (a row of ``runs.csv`` serves as both)."""
    chosen = metrics.get("threshold_used")
    if params.get("tune_threshold") and isinstance(chosen, (int, float)) and not math.isnan(chosen):
        return float(chosen)
    return float(params["threshold"])


def is_complete(run_dir: str | Path) -> bool:
    """True when the run finished successfully (``metrics.json`` with status done)."""
    metrics = read_metrics(run_dir)
    return bool(metrics) and metrics.get("status") == STATUS_DONE


def write_progress(run_dir: str | Path, done: int, total: int) -> None:
    """Record that ``done`` of ``total`` test slices are predicted (read by the terminal view of a run)."""
    atomic_write_str(Path(run_dir) / EVALUATION_PROGRESS, f"{done} {total}\n")


def read_progress(run_dir: str | Path) -> tuple[int, int] | None:
    """``(done, total)`` of :func:`write_progress`, or None where there is none (or it cannot be read)."""
    try:
        done, total = (int(word) for word in (Path(run_dir) / EVALUATION_PROGRESS).read_text().split())
    except (OSError, ValueError):
        return None
    return done, total


def finalize(run_dir: str | Path) -> dict | None:
    """Rename a pending ``metrics.pending.json`` to ``metrics.json`` and drop the evaluation progress file;
    returns the metrics."""
    run_dir = Path(run_dir)
    (run_dir / EVALUATION_PROGRESS).unlink(missing_ok=True)
    pending = run_dir / PENDING_METRICS
    if pending.exists():
        os.replace(pending, run_dir / METRICS)
    return read_metrics(run_dir)


def save_mask_png(path: str | Path, mask: np.ndarray) -> None:
    """Write a binary mask ``(H, W)`` as an 8-bit PNG with values 0/255 (through a temporary file)."""
    buffer = io.BytesIO()
    Image.fromarray(np.where(mask, PNG_FOREGROUND, 0).astype("uint8")).save(buffer, format="PNG", optimize=True)
    atomic_write_bytes(path, buffer.getvalue())


def read_mask_png(path: str | Path) -> np.ndarray:
    """A mask written by :func:`save_mask_png` as a bool array ``(H, W)``."""
    with Image.open(path) as image:
        return np.asarray(image) > 0
