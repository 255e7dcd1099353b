"""The book's figure registry: every figure, the page that draws it and the runs it is drawn from.

The "Reproduce it" chapter renders :func:`figure_sources` as a table; a test checks that
the figure labels in the pages and :data:`FIGURES` agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from mitolib.core.rundir import STATUS_DONE
from mitolib.report.pages import StudyResults, book_profile, load_study, long_profile
from mitolib.core.errors import ResultsMissing
from mitolib.report.predictions import example_run, run_params, saved_predictions


@dataclass(frozen=True)
class FigureSource:
    """A figure of the book and the results it is drawn from."""

    name: str  # the figure's MyST label
    page: str  # the page (document name) that draws it
    study: str | None  # None: computed live, from no study
    runs: Callable[[pd.DataFrame], pd.DataFrame] | None = None  # selects the runs drawn (default: all done)
    what: str = ""
    needs_predictions: bool = False  # drawn only when the selected run saved test predictions
    longer: bool = False  # the study runs under the longer profile (cpu_long beside cpu); drawn once collected
    profile: str | None = None  # the study runs under this profile whatever the book's; drawn once collected
    table: str | None = None  # drawn from a table shipped with the book (book/data/), not from a study


def _all_done(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == STATUS_DONE]


def _all_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs


FIGURES: tuple[FigureSource, ...] = (
    FigureSource("fig-speed", "appendix_benchmarks", None, what="training speed against the original pipeline (benchmarks/results/latest.json)"),
    FigureSource("fig-soft-vs-threshold", "metric_lesson", None, what="Jaccard variants vs confidence"),
    FigureSource("fig-empty-patches", "metric_lesson", None, what="per-batch means vs empty patches"),
    FigureSource("fig-reliability", "metric_lesson", None, what="reliability of focal and BCE heads"),
    FigureSource("fig-bn-head", "metric_lesson", None, what="a batch-normalised head on rare foreground"),
    FigureSource("fig-original-logs", "what_broke", None, what="the original's logged curves, 3 main runs",
                 table="book/data/original_histories.csv"),
    FigureSource("fig-logs-reproduced", "what_broke", "original_logs", _all_done,
                 "the logged curves beside the reproduction under both pairings", profile="original_0926"),
    FigureSource("fig-ablation", "what_broke", "bug_ablation", _all_done, "each defect alone"),
    FigureSource("fig-ablation-curves", "what_broke", "bug_ablation", _all_done, "validation curves per variant"),
    FigureSource("fig-recipe-levers", "recipe", "recipe", _all_done, "each lever as a paired difference"),
    FigureSource("fig-reproduction", "what_broke", "bug_ablation", _all_done,
                 "the original recipe's soft Jaccard and IoU against the report"),
    FigureSource("fig-curves", "training_dynamics", "seeds", _all_done, "curves per architecture"),
    FigureSource("fig-best-epochs", "training_dynamics", "seeds", _all_done, "best epochs"),
    FigureSource("fig-heatmaps", "hyperparameters", "hyperparameter_optimization", _all_runs,
                 "validation IoU over learning rate x batch size"),
    FigureSource("fig-lr-batch", "hyperparameters", "hyperparameter_optimization", _all_done,
                 "validation IoU over learning rate per batch size, equal samples"),
    FigureSource("fig-test-scores", "volume_results", "seeds", _all_done, "test IoU per architecture"),
    FigureSource("fig-slices", "volume_results", "seeds", _all_done, "per-slice test IoU"),
    FigureSource("fig-slice-distribution", "volume_results", "seeds", _all_done, "distribution of slice IoUs"),
    FigureSource("fig-gallery", "volume_results", "seeds", _all_done, "native-resolution crops, all architectures",
                 needs_predictions=True),
    FigureSource("fig-failures", "volume_results", "seeds", _all_done, "largest false and missed objects",
                 needs_predictions=True),
    FigureSource("fig-predictions", "volume_results", "seeds", example_run, "predictions with errors",
                 needs_predictions=True),
    FigureSource("fig-long-schedule", "volume_results", "long_schedule", _all_done,
                 "validation IoU and learning rate per epoch, cosine against the long_training plateau runs",
                 longer=True),
)


def _test_volume_available(results: StudyResults, run_id: str) -> bool:
    """Whether this build can read the test volume a run was evaluated on (the predictions figure needs it)."""
    from mitolib.data.volumes import resolve_volumes
    from mitolib.core.errors import DataError

    try:
        resolve_volumes(run_params(results, run_id), "test")
    except (DataError, OSError):
        return False
    return True


def figure_sources(profile: str | None = None) -> pd.DataFrame:
    """``figure, page, study, runs, results``: what every registered figure is drawn from.

    Studies not collected for ``profile`` raise :class:`ResultsMissing`; a study of its longer profile
    (``longer``) that is not collected is listed as not drawn.
    """
    profile = profile or book_profile()
    cache: dict[tuple[str, str], StudyResults] = {}
    rows = []
    for fig in FIGURES:
        if fig.study is None:
            rows.append({"figure": f"{{numref}}`{fig.name}`", "shows": fig.what, "page": f"{{doc}}`{fig.page}`",
                         "study": "(transcribed)" if fig.table else "(computed live)",
                         "runs": "the original's logged runs" if fig.table else "none (controlled inputs)",
                         "results": f"`{fig.table}`" if fig.table else "–"})
            continue
        where = fig.profile or (long_profile(profile) if fig.longer else profile)
        if (fig.study, where) not in cache:
            try:
                cache[fig.study, where] = load_study(fig.study, where, min_done=0)
            except ResultsMissing:
                if not (fig.longer or fig.profile):
                    raise
                rows.append({"figure": f"`{fig.name}` (not drawn: not collected)", "shows": fig.what,
                             "page": f"{{doc}}`{fig.page}`", "study": f"`{fig.study}`", "runs": "none",
                             "results": f"`results/{where}/{fig.study}/`"})
                continue
        res = cache[fig.study, where]
        ids = list((fig.runs or _all_done)(res.runs)["run_id"])
        listed = ", ".join(f"`{i}`" for i in ids) if len(ids) <= 3 else f"{len(ids)} runs"
        saved = [i for i in ids if saved_predictions(res, i)]
        drawn = not fig.needs_predictions or (bool(saved) and _test_volume_available(res, saved[0]))
        why = "no saved predictions" if not saved else "the test volume is not available to this build"
        rows.append({"figure": f"{{numref}}`{fig.name}`" if drawn else f"`{fig.name}` (not drawn: {why})",
                     "shows": fig.what, "page": f"{{doc}}`{fig.page}`",
                     "study": f"`{fig.study}`", "runs": listed,
                     "results": f"`results/{where}/{fig.study}/`"})
    return pd.DataFrame(rows)
