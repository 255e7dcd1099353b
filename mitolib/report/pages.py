"""What the book's pages call: where results live, loading them, labels, notices, glue and tables.

The book reads ``results/<profile>/<study>/`` (written by ``mitolib study collect``):
``runs.csv`` (one row per run), ``history.csv`` (tidy: ``run_id, epoch, metric, split,
value``), ``test_slices.csv`` (``run_id, slice, iou, dice``), ``provenance.json`` and,
optionally, ``predictions/<run_id>/test_XXX.png``.  The results root is
``$MITOLIB_RESULTS`` (default ``<project root>/results``) and the profile
``$MITOLIB_BOOK_PROFILE`` (default ``cpu``, the reference study on the EPFL data).

A page that needs a study's results calls :func:`load_study`; when they are missing it
raises :class:`ResultsMissing` naming the commands that produce them, so the build fails.
The metric chapter's lessons are computed live on controlled inputs by :mod:`mitolib.report.lesson`.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd

from mitolib.core.config import DEFAULT_PROFILE
from mitolib.core.errors import ResultsMissing
from mitolib.core.locations import BOOK_PROFILE_ENV, RESULTS_ENV, book_profile_setting, project_root, results_root
from mitolib.results.collect import HISTORY_COLUMNS, METRIC_FIELDS
from mitolib.core.rundir import (HISTORY_TABLE, PLAN_TABLE, PREDICTIONS, PROVENANCE, RUNS_TABLE, SLICES_TABLE,
                            STATUS_DONE)
from mitolib.core.tables import markdown_table_source

BOOK_DATA = project_root() / "book" / "data"
ADMONITIONS = project_root() / "book" / "_admonitions.md"  # the words of the boxes the pages share

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


# --------------------------------------------------------------------------- locations
def book_profile() -> str:
    """The profile whose results the book shows: ``$MITOLIB_BOOK_PROFILE``, default ``cpu``."""
    return book_profile_setting() or DEFAULT_PROFILE


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
    plan: pd.DataFrame | None = None  # plan.csv: the runs studies.yml plans (parameters and hash), when recorded

    @property
    def done(self) -> pd.DataFrame:
        """Runs whose status is ``done``."""
        return self.runs[self.runs["status"] == STATUS_DONE]

    @property
    def failed(self) -> pd.DataFrame:
        """Runs whose status is not ``done``."""
        return self.runs[self.runs["status"] != STATUS_DONE]

    def history_with(self, *columns: str) -> pd.DataFrame:
        """``history`` joined with run parameters ``columns`` (e.g. ``architecture``, ``seed``)."""
        return self.history.merge(self.runs[["run_id", *columns]], on="run_id", how="left")

    def predictions_dir(self, run_id: str) -> Path:
        """Folder of a run's saved test predictions (may not exist)."""
        return self.path / PREDICTIONS / run_id


def _missing(study: str, profile: str, what: str) -> ResultsMissing:
    return ResultsMissing(
        f"{what} for study {study!r}, profile {profile!r} (looked in {study_dir(study, profile)}). "
        f"Produce them with:\n    {produce_command(study, profile)}\n"
        f"or build the book from another profile: {BOOK_PROFILE_ENV}=smoke jupyter-book build book/ "
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


# The columns a page may rely on (runs collected before a field existed lack the newer ones).
METRIC_FIELDS_READ = tuple(f for f in METRIC_FIELDS if f != "eval_seconds")
SLICE_COLUMNS_READ = ("run_id", "slice", "iou", "dice")


def load_study(study: str, profile: str | None = None, *, min_done: int = 1) -> StudyResults:
    """Read ``results/<profile>/<study>/``; raise :class:`ResultsMissing` if absent or empty.

    ``min_done`` is the number of runs with status ``done`` the page needs.
    """
    profile = profile or book_profile()
    path = study_dir(study, profile)
    runs = _read_csv(path / RUNS_TABLE, ("run_id", *METRIC_FIELDS_READ), study, profile)
    history = _read_csv(path / HISTORY_TABLE, HISTORY_COLUMNS, study, profile)
    slices = _read_csv(path / SLICES_TABLE, SLICE_COLUMNS_READ, study, profile)
    history["split"] = history["split"].fillna("")
    provenance = {}
    if (path / PROVENANCE).is_file():
        provenance = json.loads((path / PROVENANCE).read_text(encoding="utf-8"))
    plan = recorded_plan(study, profile)
    runs = _with_incomplete(runs, provenance, plan, study, profile)
    results = StudyResults(study, profile, path, runs, history, slices, provenance, plan)
    if len(results.done) < min_done:
        raise _missing(study, profile, f"{len(results.done)} completed run(s), {min_done} needed,")
    return results


def recorded_plan(study: str, profile: str | None = None) -> pd.DataFrame | None:
    """The study's recorded plan (``plan.csv``: index, run id, variant, parameter hash, parameters), or None
    where none is recorded (``mitolib study plan STUDY --record`` writes it)."""
    path = study_dir(study, profile) / PLAN_TABLE
    return pd.read_csv(path, dtype={"variant": str, "params_hash": str}, keep_default_na=False) if path.is_file() else None


def _with_incomplete(runs: pd.DataFrame, provenance: Mapping, plan: pd.DataFrame | None, study: str,
                     profile: str) -> pd.DataFrame:
    """``runs`` plus one row per run the provenance lists as incomplete (``status`` failed or
    unfinished), with its parameters from the recorded plan (``plan.csv``) when it has that run."""
    incomplete = provenance.get("incomplete") or {}
    rows = [{"run_id": run_id, "status": status} for status, ids in incomplete.items() for run_id in ids or []]
    rows = [r for r in rows if r["run_id"] not in set(runs["run_id"])]
    if not rows:
        return runs
    planned = {}
    if plan is not None:
        kept = [c for c in plan.columns if c not in ("index", "params_hash")]
        planned = {row["run_id"]: {k: v for k, v in row.items() if k != "variant" or v}
                   for row in plan[kept].to_dict("records")}
    extra = pd.DataFrame([{**planned.get(r["run_id"], {}), "study": study, "profile": profile, **r} for r in rows])
    extra = extra[[c for c in extra.columns if c in runs.columns or c in ("run_id", "status")]]
    return pd.concat([runs, extra], ignore_index=True)


def collected_studies(profile: str | None = None) -> list[str]:
    """Names of the studies collected for ``profile`` (folders holding a ``runs.csv``)."""
    root = results_root() / (profile or book_profile())
    return sorted(p.parent.name for p in root.glob(f"*/{RUNS_TABLE}"))


LONG_SUFFIX = "_long"  # the profile that trains a profile's recipe longer: cpu_long beside cpu


def long_profile(profile: str | None = None) -> str:
    """The name of ``profile``'s longer profile (``cpu_long`` for ``cpu``)."""
    return (profile or book_profile()) + LONG_SUFFIX


def budget_studies(profile: str | None = None) -> list[StudyResults]:
    """Every collected study whose runs count against ``profile``'s compute budget: those of the profile and of
    its longer profile (:func:`long_profile`), completed runs or not."""
    profile = profile or book_profile()
    return [load_study(study, name, min_done=0) for name in (profile, long_profile(profile))
            for study in collected_studies(name)]


def compute_seconds(results: StudyResults) -> pd.Series:
    """Per completed run of ``results``: training plus test-volume evaluation seconds (0 where not recorded)."""
    done = results.done
    evaluation = done["eval_seconds"] if "eval_seconds" in done else pd.Series(0.0, index=done.index)
    return done["train_seconds"].fillna(0) + evaluation.fillna(0)


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


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".3f", index: bool = False,
                   formats: Mapping[str, str] | None = None):
    """A Markdown display object for ``frame`` (see :func:`markdown_table_source`)."""
    from IPython.display import Markdown

    return Markdown(markdown_table_source(frame, floatfmt, index, formats))


def glue(name: str, value, display: bool = False) -> None:
    """``myst_nb.glue``: numbers are glued as numbers, strings as inline Markdown (``{glue:md}``)."""
    from myst_nb import glue as _glue

    if isinstance(value, str):
        from IPython.display import Markdown

        value = Markdown(value)
    _glue(name, value, display=display)


@functools.lru_cache(maxsize=None)
def admonition_templates(path: Path = ADMONITIONS) -> dict[str, str]:
    """``{name: MyST source}`` of the shared boxes: the ``## name`` sections of ``book/_admonitions.md`` (read
    once per process)."""
    text = path.read_text(encoding="utf-8")
    parts = re.split(r"^## (\w+)\n", text, flags=re.M)
    return {name: body.strip("\n") for name, body in zip(parts[1::2], parts[2::2])}


FIELD = re.compile(r"\{\{(\w+)\}\}")  # {{name}}: single braces are MyST's (:::{note}, {doc}`x`)


def box_fields(name: str) -> set[str]:
    """The fields the shared box ``name`` is filled with."""
    return set(FIELD.findall(_template(name)))


def _template(name: str) -> str:
    templates = admonition_templates()
    if name not in templates:
        raise KeyError(f"no box {name!r} in {ADMONITIONS}; it has: {', '.join(templates)}")
    return templates[name]


def fill(name: str, **fields) -> str:
    """The shared box (or box part) ``name`` of ``book/_admonitions.md`` with its ``{{fields}}`` filled; a
    missing field or template raises ``KeyError`` naming it."""
    template = _template(name)
    absent = set(FIELD.findall(template)) - set(fields)
    if absent:
        raise KeyError(f"the box {name!r} needs the field(s) {', '.join(sorted(absent))}")
    return FIELD.sub(lambda match: str(fields[match.group(1)]), template)


def admonition(name: str, **fields):
    """:func:`fill` as a Markdown display object, for a page's code cell to show."""
    from IPython.display import Markdown

    return Markdown(fill(name, **fields))


def missing(study: str, profile: str, what: str | None = None):
    """The shared box saying that ``study`` of ``profile`` is not collected in this build, with the commands
    that produce it."""
    return admonition("missing", what=what or f"`{study}` ({profile})", command=produce_command(study, profile))


def not_drawn(what: str, reason) -> object:
    """The shared box saying that ``what`` (a figure or table) is not drawn in this build, and why."""
    return admonition("not_drawn", what=what, reason=reason)


def glue_placeholder(name: str) -> None:
    """Glue an empty figure under ``name``, so a page's ``{glue:figure}`` still resolves in a build that lacks
    the data to draw it (the page then shows :func:`not_drawn`)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 0.4))
    ax.set_axis_off()
    glue_figure(name, fig)


def glue_record(prefix: str, record: Mapping) -> None:
    """Glue every number, flag and name of ``record`` (a mapping or dataclass) as ``<prefix>_<field>``, so a
    page's Markdown quotes and formats them (``{glue:text}`prefix_mean:.3f```)."""
    from dataclasses import asdict, is_dataclass

    fields = asdict(record) if is_dataclass(record) else dict(record)
    for key, value in fields.items():
        if isinstance(value, bool) or value is None:
            value = "–" if value is None else ("yes" if value else "no")
        if isinstance(value, (int, float, str)):
            glue(f"{prefix}_{key}", value)


def glue_figure(name: str, fig) -> None:
    """Glue a Matplotlib figure for ``{glue:figure}`` and close it (so it is shown once)."""
    import matplotlib.pyplot as plt

    glue(name, fig)
    plt.close(fig)
