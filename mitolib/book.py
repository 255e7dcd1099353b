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


# --------------------------------------------------------------------------- provenance notice
def data_source(results: StudyResults) -> str:
    """``synthetic`` or ``epfl`` (from the provenance, else the runs' ``data_source`` column)."""
    for key in ("data_source",):
        if results.provenance.get(key):
            return str(results.provenance[key])
        params = results.provenance.get("params") or {}
        if params.get(key):
            return str(params[key])
    if "data_source" in results.runs and results.runs["data_source"].notna().any():
        return ", ".join(sorted(results.runs["data_source"].dropna().astype(str).unique()))
    return "unknown"


def short_commit(commit) -> str:
    """The first 12 hex digits of a commit, keeping a ``+dirty`` mark."""
    commit = str(commit)
    return commit[:12] + ("+dirty" if commit.endswith("+dirty") and len(commit) > 18 else "")


def notice_text(results: StudyResults) -> str:
    """The MyST admonition every results page opens with, generated from the provenance."""
    source = data_source(results)
    commit = results.provenance.get("git_commit") or results.provenance.get("commit") or "unknown"
    when = results.provenance.get("collected_at") or results.provenance.get("created") or "unknown"
    where = (f"`results/{results.profile}/{results.study}` ({len(results.runs)} runs, "
             f"code at commit `{short_commit(commit)}`, collected {when})")
    counts = results.provenance.get("counts") or {}
    if counts.get("planned") and counts.get("collected", 0) < counts["planned"]:
        where += (f". **Partial:** {counts.get('collected', 0)} of the {counts['planned']} planned runs are "
                  "complete; the others count in no number or figure of this page")
    current, planned = design_counts(results)
    if planned and current < len(results.done):
        where += (f". **Earlier design:** {len(results.done) - current} of these {len(results.done)} runs were made "
                  f"with settings that `studies.yml` has changed since (its plan has {planned} runs, {current} of "
                  "them collected); their numbers describe the earlier recipe, and `make reference` runs the "
                  "current one")
    if results.provenance.get("fixture"):
        return (":::{danger} Test fixture\nThese numbers are generated test fixtures, not measurements: "
                f"they only exercise the book's code. Source: {where}.\n:::")
    if source != "epfl" or results.profile == "smoke":
        return (f":::{{warning}} Not the science\nThese results come from the {results.profile} profile "
                f"on {source} data; they demonstrate the pipeline, not the science. Source: {where}.\n:::")
    return f":::{{note}} Provenance\nMeasured with the {results.profile} profile on the EPFL data. Source: {where}.\n:::"


def design_counts(results: StudyResults) -> tuple[int, int]:
    """``(collected runs of the current plan, planned runs)``: how much of a study's table is its current
    design (same run id and parameters as ``studies.yml`` plans now); ``(0, 0)`` where it cannot be planned."""
    from mitolib.verdicts import planned_hashes, split_by_plan

    try:
        planned = planned_hashes(results.study, results.profile)
    except Exception:  # a study or profile that studies.yml no longer has
        return 0, 0
    if "params_hash" not in results.done.columns:
        return 0, len(planned)
    current, _ = split_by_plan(results.done, planned)
    return len(current), len(planned)


def notice(results: StudyResults):
    """:func:`notice_text` as a Markdown display object (rendered by myst-nb)."""
    from IPython.display import Markdown

    return Markdown(notice_text(results))


def profile_notice(profile: str | None = None):
    """The notice of the first collected study of ``profile``; raises if none is collected."""
    profile = profile or book_profile()
    studies = collected_studies(profile)
    if not studies:
        raise _missing("seeds", profile, "no collected study")
    return notice(load_study(studies[0], profile, min_done=0))


def build_notice(profile: str | None = None):
    """The profile notice when ``profile`` has collected results, else nothing (pages that must
    build without results, such as the benchmarks appendix)."""
    from IPython.display import Markdown

    profile = profile or book_profile()
    studies = collected_studies(profile)
    return notice(load_study(studies[0], profile, min_done=0)) if studies else Markdown("")


def lesson_notice(profile: str | None = None):
    """The notice of a page computed from controlled inputs: it reads no study results, and
    the build's profile notice follows when that profile has collected results."""
    from IPython.display import Markdown

    text = (":::{note} Computed live\nEverything on this page is computed from controlled inputs "
            "when the book is built; it reads no study results and is the same for every profile.\n:::")
    profile = profile or book_profile()
    studies = collected_studies(profile)
    if studies:
        text += "\n\n" + notice_text(load_study(studies[0], profile, min_done=0))
    return Markdown(text)


# --------------------------------------------------------------------------- labels and summaries
def arch_label(name: str) -> str:
    """Display name of an architecture."""
    return ARCHITECTURE_LABELS.get(name, name)


def metric_label(name: str) -> str:
    """Display name of a history metric."""
    return METRIC_LABELS.get(name, name.replace("_", " "))


def by_architecture(frame: pd.DataFrame, column: str = "architecture") -> pd.DataFrame:
    """``frame`` with rows in the study's architecture order (stable), so colours match across figures."""
    rank = {name: i for i, name in enumerate(ordered_architectures(frame[column].dropna().unique()))}
    return frame.sort_values(column, key=lambda s: s.map(rank), kind="stable")


def ordered_architectures(names: Iterable[str]) -> list[str]:
    """Architectures in the study's order (unknown names last, sorted)."""
    names = set(names)
    known = [n for n in ARCHITECTURE_LABELS if n in names]
    return known + sorted(names - set(known))


def summarise(frame: pd.DataFrame, by: str | Sequence[str], value: str) -> pd.DataFrame:
    """Mean, standard deviation (ddof 1), min, max and count of ``value`` per group."""
    groups = frame.groupby(by, sort=False)[value]
    out = groups.agg(["mean", "std", "min", "max", "count"]).reset_index()
    return out.rename(columns={"count": "n"})


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


def _mean_by(done: pd.DataFrame, column: str, value: str) -> str:
    means = done.groupby(column)[value].agg(["mean", "size"])
    return ", ".join(f"{key:g}: {row['mean']:.3f} ({row['size']:.0f} runs)" for key, row in means.iterrows())


def grid_region_text(done: pd.DataFrame, value: str = "best_val_iou", label: str = "best validation IoU") -> str:
    """Where a learning-rate x batch-size grid works: its best run, the mean ``value`` per learning rate and
    per batch size over the completed runs ``done``, and the optimizer steps each batch size got."""
    if done.empty:
        return "No run of the grid has completed yet."
    top = done.loc[done[value].idxmax()]
    text = (f"The best completed run is {arch_label(top['architecture'])} at learning rate "
            f"{top['learning_rate']:g} and batch size {top['batch_size']:g} ({label} "
            f"{top[value]:.3f}). Mean {label} by learning rate: "
            f"{_mean_by(done, 'learning_rate', value)}; by batch size: {_mean_by(done, 'batch_size', value)}.")
    patches = done["epochs"] * done["samples_per_epoch"]
    if (done["samples_per_epoch"] > 0).all() and patches.nunique() == 1:
        from mitolib.train import steps_per_epoch  # here: mitolib.train imports Keras

        steps = sorted({int(run["batch_size"]): int(run["epochs"] * steps_per_epoch(run, 0))
                        for _, run in done.iterrows()}.items())
        text += (f" Every run saw the same {int(patches.iloc[0])} training patches, so a larger batch means fewer "
                 "optimizer steps: " + ", ".join(f"{n} steps at batch size {b}" for b, n in steps) + ".")
    return text


def budget_text(seconds: float, runs: int, profile: str, budget: Mapping | None) -> str:
    """The measured compute of ``runs`` completed runs (``seconds`` in all) against the profile's planned budget."""
    hours = seconds / 3600
    measured = f"{hours:.1f} hours over {runs} completed runs"
    if not budget:
        return f"In this build: {measured} (no compute budget is set for the `{profile}` profile)."
    planned = float(budget["hours"])
    share = hours / planned - 1
    verdict = "within it" if share <= 0 else f"{share:.0%} over it"
    return (f"The `{profile}` profile is sized for about {planned:g} hours of {budget['machine']} "
            f"(`compute_budgets` in `studies.yml`). In this build: {measured}, {verdict}.")


def tta_gains(results: StudyResults) -> pd.DataFrame:
    """Test IoU of done runs without and with test-time augmentation.

    "without" is the run's own test IoU (``runs.csv``, runs trained with ``tta`` off); "with" is the
    latest ``mitolib evaluate --tta`` row of ``evaluations.csv`` beside it that keeps the run's other
    evaluation settings.  Columns ``run_id, architecture, without, with, gain``; empty when nothing
    was evaluated again.
    """
    from mitolib.evaluate import EVAL_PARAMS, EVALUATIONS  # here: mitolib.evaluate imports Keras

    columns = ["run_id", "architecture", "without", "with", "gain"]
    path = results.path / EVALUATIONS
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    runs = results.done[~results.done["tta"].astype(str).str.lower().eq("true")].set_index("run_id")
    rows = []
    for _, row in pd.read_csv(path).iterrows():
        if row["run_id"] not in runs.index or str(row["tta"]).lower() != "true":
            continue
        run = runs.loc[row["run_id"]]
        shared = [key for key in EVAL_PARAMS if key != "tta" and key in row.index and key in run.index]
        if all(str(row[key]) == str(run[key]) for key in shared):  # settings older tables lack were off
            rows.append({"run_id": row["run_id"], "architecture": run["architecture"],
                         "without": float(run["test_iou"]), "with": float(row["test_iou"])})
    table = pd.DataFrame(rows, columns=columns[:-1]).drop_duplicates("run_id", keep="last")
    return table.assign(gain=table["with"] - table["without"]).reset_index(drop=True)


def gpu_summary(results: StudyResults) -> pd.DataFrame:
    """One row per planned run of a GPU study: status, test IoU (also with test-time augmentation where a
    saved model was evaluated again) and Dice, best and last epoch, training time, and the training
    throughput without the first epoch (which includes compilation)."""
    seconds = results.history[results.history["metric"] == "epoch_seconds"].sort_values("epoch")
    with_tta = tta_gains(results).set_index("run_id")["with"]
    rows = []
    for run in by_architecture(results.runs).itertuples():
        steady = seconds[seconds["run_id"] == run.run_id]["value"].iloc[1:]
        done = run.status == "done"
        row = {"architecture": arch_label(run.architecture), "status": run.status,
               "test IoU": run.test_iou if done else float("nan")}
        if len(with_tta):
            row["test IoU, TTA"] = with_tta.get(run.run_id, float("nan"))
        row |= {"test Dice": run.test_dice if done else float("nan"),
                "best / last epoch": f"{run.best_epoch:.0f} / {run.epochs_run:.0f}" if done else "",
                "training (s)": f"{run.train_seconds:.0f}" if done else "",
                "steady images/s": (f"{run.samples_per_epoch / steady.median():.0f}"
                                    if done and len(steady) else "")}
        rows.append(row)
    return pd.DataFrame(rows)


def option_check(before: Path, after: pd.DataFrame, option: str) -> pd.DataFrame:
    """Run by run (same architecture and seed), the test IoU and training time before and after a default
    ``option`` changed: ``before`` is a ``runs.csv`` collected with the old setting, ``after`` the runs collected
    with the new one.  Only runs done in both whose ``option`` differs are kept."""
    old = pd.read_csv(before)
    pairs = old[old["status"] == "done"].merge(after[after["status"] == "done"], on=["architecture", "seed"],
                                               suffixes=("_before", "_after"))
    pairs = pairs[pairs[f"{option}_before"].astype(str) != pairs[f"{option}_after"].astype(str)]
    return pd.DataFrame({
        "architecture": pairs["architecture"], "seed": pairs["seed"],
        f"{option} before": pairs[f"{option}_before"], f"{option} after": pairs[f"{option}_after"],
        "test IoU before": pairs["test_iou_before"], "test IoU after": pairs["test_iou_after"],
        "difference": pairs["test_iou_after"] - pairs["test_iou_before"],
        "training s before": pairs["train_seconds_before"].round().astype(int),
        "training s after": pairs["train_seconds_after"].round().astype(int),
    }).reset_index(drop=True)


MEASUREMENT_ONLY = ("select_by_all_monitors",)  # settings that change what a run measures, not how it trains


def variant_settings(study: str = "bug_ablation") -> pd.DataFrame:
    """``variant, settings``: each named run of a study and what it changes, from ``studies.yml``."""
    runs = load_config()["studies"][study].get("runs") or {}

    def text(over: Mapping) -> str:
        parts = [f"`{k}: {v}`" for k, v in over.items() if k not in ("profile_settings", *MEASUREMENT_ONLY)]
        for profile, values in (over.get("profile_settings") or {}).items():
            parts.append(f"under `{profile}`: " + ", ".join(f"`{k}: {v}`" for k, v in values.items()))
        notes = [f"(`{k}: {over[k]}` measures more, trains the same)" for k in MEASUREMENT_ONLY if k in over]
        return " ".join([", ".join(parts) or "(the corrected recipe)", *notes])

    return pd.DataFrame([{"variant": name, "settings": text(over or {})} for name, over in runs.items()])


# --------------------------------------------------------------------------- benchmarks
def benchmark_report(folder: Path | None = None):
    """``benchmarks/results/latest.md`` (headings demoted one level), else ``latest.json`` as a
    table, else a note that no benchmark has been run; a Markdown display object."""
    from IPython.display import Markdown

    folder = folder or project_root() / "benchmarks" / "results"
    md, js = folder / "latest.md", folder / "latest.json"
    if md.is_file():
        lines = md.read_text(encoding="utf-8").splitlines()
        return Markdown("\n".join("#" + line if line.startswith("#") else line for line in lines))
    if js.is_file():
        data = json.loads(js.read_text(encoding="utf-8"))
        records = data.get("results", data) if isinstance(data, dict) else data
        frame = pd.json_normalize(records if isinstance(records, list) else [records])
        return Markdown(f"From `{js.relative_to(project_root()) if js.is_relative_to(project_root()) else js}`:"
                        f"\n\n{markdown_table_text(frame, floatfmt='.4g')}")
    return Markdown(":::{note} No benchmark has been run\nThere is no `benchmarks/results/latest.md` or "
                    "`latest.json` yet, so this page has nothing to show. The chapters do not depend on it.\n:::")
