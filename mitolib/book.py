"""What the book's pages call: where results live, loading them, labels, notices, glue and tables.

The book reads ``results/<profile>/<study>/`` (written by ``mitolib study collect``):
``runs.csv`` (one row per run), ``history.csv`` (tidy: ``run_id, epoch, metric, split,
value``), ``test_slices.csv`` (``run_id, slice, iou, dice``), ``provenance.json`` and,
optionally, ``predictions/<run_id>/test_XXX.png``.  The results root is
``$MITOLIB_RESULTS`` (default ``<project root>/results``) and the profile
``$MITOLIB_BOOK_PROFILE`` (default ``cpu``, the reference study on the EPFL data).

A page that needs a study's results calls :func:`load_study`; when they are missing it
raises :class:`ResultsMissing` naming the commands that produce them, so the build fails.
The metric chapter's lessons are computed live on controlled inputs by :mod:`mitolib.lesson`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from mitolib.config import load_config, project_root

RESULTS_ENV = "MITOLIB_RESULTS"
PROFILE_ENV = "MITOLIB_BOOK_PROFILE"
DEFAULT_PROFILE = "cpu"
BOOK_DATA = Path(__file__).resolve().parent.parent / "book" / "data"

RUNS_FILE, HISTORY_FILE, SLICES_FILE, PROVENANCE_FILE = (
    "runs.csv", "history.csv", "test_slices.csv", "provenance.json")
RUN_METRICS = ("status", "best_epoch", "best_val_iou", "best_val_monitor", "test_iou", "test_dice",
               "train_seconds", "epochs_run", "images_per_second")
HISTORY_COLUMNS = ("run_id", "epoch", "metric", "split", "value")
SLICE_COLUMNS = ("run_id", "slice", "iou", "dice")

ARCHITECTURE_LABELS = {
    "unet": "U-Net",
    "attention_unet": "Attention U-Net",
    "attention_resunet": "Attention ResU-Net",
}
METRIC_LABELS = {
    "loss": "loss",
    "soft_jaccard": "soft Jaccard (legacy, per batch)",
    "thresholded_jaccard": "thresholded Jaccard (per batch)",
    "iou": "IoU (whole set)",
    "learning_rate": "learning rate",
    "epoch_seconds": "seconds per epoch",
}
JACCARD_METRICS = ("soft_jaccard", "thresholded_jaccard", "iou")


class ResultsMissing(FileNotFoundError):
    """A study's collected results are absent or incomplete; the message names the fix."""


# --------------------------------------------------------------------------- locations
def results_root() -> Path:
    """``$MITOLIB_RESULTS`` if set, else ``<project root>/results`` (the collector's root)."""
    from mitolib.results import results_root as collected_root

    return collected_root()


def book_profile() -> str:
    """The profile whose results the book shows: ``$MITOLIB_BOOK_PROFILE``, default ``cpu``."""
    return os.environ.get(PROFILE_ENV, "").strip() or DEFAULT_PROFILE


def study_dir(study: str, profile: str | None = None) -> Path:
    """``<results root>/<profile>/<study>``."""
    return results_root() / (profile or book_profile()) / study


def produce_command(study: str, profile: str) -> str:
    """The shell commands that run a study and collect its results."""
    return f"mitolib study run {study} --profile {profile} && mitolib study collect {study} --profile {profile}"


# --------------------------------------------------------------------------- loading
@dataclass
class StudyResults:
    """One collected study: its tables, its provenance and where it was read from."""

    study: str
    profile: str
    path: Path
    runs: pd.DataFrame
    history: pd.DataFrame
    test_slices: pd.DataFrame
    provenance: dict = field(default_factory=dict)

    @property
    def done(self) -> pd.DataFrame:
        """Runs whose status is ``done``."""
        return self.runs[self.runs["status"] == "done"]

    @property
    def failed(self) -> pd.DataFrame:
        """Runs whose status is not ``done``."""
        return self.runs[self.runs["status"] != "done"]

    def history_with(self, *columns: str) -> pd.DataFrame:
        """``history`` joined with run parameters ``columns`` (e.g. ``architecture``, ``seed``)."""
        return self.history.merge(self.runs[["run_id", *columns]], on="run_id", how="left")

    def predictions_dir(self, run_id: str) -> Path:
        """Folder of a run's saved test predictions (may not exist)."""
        return self.path / "predictions" / run_id


def _missing(study: str, profile: str, what: str) -> ResultsMissing:
    return ResultsMissing(
        f"{what} for study {study!r}, profile {profile!r} (looked in {study_dir(study, profile)}). "
        f"Produce them with:\n    {produce_command(study, profile)}\n"
        f"or build the book from another profile: {PROFILE_ENV}=smoke jupyter-book build book/ "
        f"(results root: ${RESULTS_ENV}, default <project root>/results)"
    )


def _read_csv(path: Path, columns: Sequence[str], study: str, profile: str) -> pd.DataFrame:
    if not path.is_file():
        raise _missing(study, profile, f"no {path.name}")
    frame = pd.read_csv(path, keep_default_na=True)
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise _missing(study, profile, f"{path.name} lacks column(s) {', '.join(absent)}")
    return frame


def load_study(study: str, profile: str | None = None, *, min_done: int = 1) -> StudyResults:
    """Read ``results/<profile>/<study>/``; raise :class:`ResultsMissing` if absent or empty.

    ``min_done`` is the number of runs with status ``done`` the page needs.
    """
    profile = profile or book_profile()
    path = study_dir(study, profile)
    runs = _read_csv(path / RUNS_FILE, ("run_id", *RUN_METRICS), study, profile)
    history = _read_csv(path / HISTORY_FILE, HISTORY_COLUMNS, study, profile)
    slices = _read_csv(path / SLICES_FILE, SLICE_COLUMNS, study, profile)
    history["split"] = history["split"].fillna("")
    provenance = {}
    if (path / PROVENANCE_FILE).is_file():
        provenance = json.loads((path / PROVENANCE_FILE).read_text(encoding="utf-8"))
    runs = _with_incomplete(runs, provenance, study, profile)
    results = StudyResults(study, profile, path, runs, history, slices, provenance)
    if len(results.done) < min_done:
        raise _missing(study, profile, f"{len(results.done)} completed run(s), {min_done} needed,")
    return results


def _with_incomplete(runs: pd.DataFrame, provenance: Mapping, study: str, profile: str) -> pd.DataFrame:
    """``runs`` plus one row per run the provenance lists as incomplete (``status`` failed or
    unfinished), with its parameters from the study's plan when the plan still has that run."""
    incomplete = provenance.get("incomplete") or {}
    rows = [{"run_id": run_id, "status": status} for status, ids in incomplete.items() for run_id in ids or []]
    rows = [r for r in rows if r["run_id"] not in set(runs["run_id"])]
    if not rows:
        return runs
    try:
        from mitolib.study import plan

        planned = {run.run_id: {**run.params, **({"variant": run.variant} if run.variant else {})}
                   for run in plan(study, profile)}
    except Exception:  # the plan may have changed since the runs; keep the ids and statuses
        planned = {}
    extra = pd.DataFrame([{**planned.get(r["run_id"], {}), "study": study, "profile": profile, **r} for r in rows])
    extra = extra[[c for c in extra.columns if c in runs.columns or c in ("run_id", "status")]]
    return pd.concat([runs, extra], ignore_index=True)


def collected_studies(profile: str | None = None) -> list[str]:
    """Names of the studies collected for ``profile`` (folders holding a ``runs.csv``)."""
    root = results_root() / (profile or book_profile())
    return sorted(p.parent.name for p in root.glob(f"*/{RUNS_FILE}"))


def load_csv(name: str, **kwargs) -> pd.DataFrame:
    """A table shipped with the book (``book/data/<name>.csv``); ``kwargs`` go to ``pandas.read_csv``."""
    return pd.read_csv(BOOK_DATA / f"{name}.csv", **kwargs)


# --------------------------------------------------------------------------- labels and summaries
def arch_label(name: str) -> str:
    """Display name of an architecture."""
    return ARCHITECTURE_LABELS.get(name, name)



def by_architecture(frame: pd.DataFrame, column: str = "architecture") -> pd.DataFrame:
    """``frame`` with rows in the study's architecture order (stable), so colours match across figures."""
    rank = {name: i for i, name in enumerate(ordered_architectures(frame[column].dropna().unique()))}
    return frame.sort_values(column, key=lambda s: s.map(rank), kind="stable")


def ordered_architectures(names: Iterable[str]) -> list[str]:
    """Architectures in the study's order (unknown names last, sorted)."""
    names = set(names)
    known = [n for n in ARCHITECTURE_LABELS if n in names]
    return known + sorted(names - set(known))



def metrics_at_best_epoch(results: StudyResults, split: str = "val",
                          metrics: Sequence[str] = JACCARD_METRICS) -> pd.DataFrame:
    """Tidy ``run_id, metric, value``: each Jaccard variant at the run's best epoch."""
    done = results.done[["run_id", "best_epoch"]]
    hist = results.history[(results.history["split"] == split) & results.history["metric"].isin(metrics)]
    merged = hist.merge(done, on="run_id")
    return merged[merged["epoch"] == merged["best_epoch"]][["run_id", "metric", "value"]].reset_index(drop=True)


def format_mean_sd(mean: float, sd: float, digits: int = 3) -> str:
    """``0.812 ± 0.014``; the spread is omitted when it is undefined (one run)."""
    if sd is None or not np.isfinite(sd):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".3f", index: bool = False,
                   formats: Mapping[str, str] | None = None):
    """A Markdown display object for ``frame`` (see :func:`markdown_table_text`)."""
    from IPython.display import Markdown

    return Markdown(markdown_table_text(frame, floatfmt, index, formats))


def markdown_table_text(frame: pd.DataFrame, floatfmt: str = ".3f", index: bool = False,
                        formats: Mapping[str, str] | None = None) -> str:
    """Markdown source of ``frame``: floats as ``floatfmt`` (or ``formats[column]``), missing
    values as an en dash, pipes escaped."""
    if index:
        frame = frame.reset_index()
    formats = dict(formats or {})

    def cell(value, column) -> str:
        if isinstance(value, (float, np.floating)):
            return "–" if not np.isfinite(value) else format(value, formats.get(column, floatfmt))
        return str(value).replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v, c) for v, c in zip(row, frame.columns)) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def glue(name: str, value, display: bool = False) -> None:
    """``myst_nb.glue``: numbers are glued as numbers, strings as inline Markdown (``{glue:md}``)."""
    from myst_nb import glue as _glue

    if isinstance(value, str):
        from IPython.display import Markdown

        value = Markdown(value)
    _glue(name, value, display=display)


def glue_figure(name: str, fig) -> None:
    """Glue a Matplotlib figure for ``{glue:figure}`` and close it (so it is shown once)."""
    import matplotlib.pyplot as plt

    glue(name, fig)
    plt.close(fig)
