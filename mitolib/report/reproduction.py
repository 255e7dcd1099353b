"""The rule "a run reproduces the original's logged runs", applied alike to logged and reproduced histories.

The rule lives in ``studies.yml`` (``reproduction_rule``), written down before the ``original_logs`` study
ran.  Over a run's last ``last_epochs`` epochs:

* **collapse** — ``|mean training accuracy − (1 − f)| <= accuracy_gap``, where ``f`` is the foreground
  fraction of the run's training patches (``logged_train_foreground`` for the logged runs, whose own split
  is not recorded): on its own training patches the model predicts (almost) only background;
* **no fit** — mean training ``jacard_coef`` (the original's thresholded formula) ``<= train_jaccard_max``;
* **the band** — the best validation ``jacard_coef`` over the whole run ``<= best_val_jaccard_max``.

A run reproduces when all three hold.  A setting (a recipe on one architecture) reproduces when every one
of its runs does, does not when none does, and is mixed otherwise (:func:`setting_table`).  A candidate
cause is judged by the two settings with and without it (:func:`explanation_table`).  Everything here
returns records and tables; the words a page prints are its own.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from mitolib.core.rundir import STATUS_DONE
from mitolib.core import claims
from mitolib.core.config import load_config
from mitolib.core.errors import ConfigError

RULE_SECTION = "reproduction_rule"

# Setting verdicts and explanation verdicts: the closed vocabulary of the reproduction tables.
REPRODUCES, MIXED, DOES_NOT = "reproduces", "mixed", "does not reproduce"
SUPPORTED, REFUTED, NOT_RESOLVED = "supported", "refuted", "not resolved"

# The logged columns (book/data/original_histories.csv) and their names in this project's history.csv.
LOGGED_TO_PROJECT = {"accuracy": "accuracy", "jacard_coef": "original_jaccard",
                     "val_jacard_coef": "val_original_jaccard", "val_accuracy": "val_accuracy", "loss": "loss",
                     "val_loss": "val_loss"}

# The candidate causes of the logged curves: the recipe with the cause, and the one without it.  ``added``
# marks a defect that the with-recipe adds to the faithful one (mispairing); the others remove one part of
# the faithful recipe.
EXPLANATIONS = (
    {"explanation": "mispairing", "with": "mispaired", "without": "faithful", "added": True},
    {"explanation": "focal_head", "with": "faithful", "without": "bce_plain_head", "added": False},
    {"explanation": "momentum_0.99", "with": "faithful", "without": "momentum_0.9", "added": False},
    {"explanation": "stop_by_jaccard", "with": "faithful", "without": "stop_by_iou", "added": False},
    {"explanation": "twelve_slices", "with": "faithful", "without": "all_slices", "added": False},
    {"explanation": "mispairing_base64", "with": "base64_mispaired", "without": "base64", "added": True},
)


@dataclass(frozen=True)
class Rule:
    """The thresholds of ``studies.yml``'s ``reproduction_rule``."""

    last_epochs: int
    accuracy_gap: float
    train_jaccard_max: float
    best_val_jaccard_max: float
    logged_train_foreground: float


def load_rule(config: Mapping | None = None) -> Rule:
    """The reproduction rule of ``studies.yml``; a missing or malformed section is a :class:`ConfigError`."""
    config = config if config is not None else load_config()
    section = config.get(RULE_SECTION)
    fields = list(Rule.__dataclass_fields__)
    if not isinstance(section, dict) or sorted(section) != sorted(fields):
        raise ConfigError(f"studies.yml: section {RULE_SECTION!r} must set exactly {', '.join(fields)}; "
                          f"got {section!r}")
    rule = Rule(int(section["last_epochs"]), *(float(section[key]) for key in fields[1:]))
    if rule.last_epochs < 1 or not all(0 < value < 1 for value in asdict(rule).values() if isinstance(value, float)):
        raise ConfigError(f"studies.yml: {RULE_SECTION}: last_epochs must be >= 1 and the other values between "
                          f"0 and 1, got {section!r}")
    return rule


def run_statistics(history: pd.DataFrame, train_foreground: float, rule: Rule) -> dict:
    """The rule's statistics of one run's wide history (columns ``epoch``, ``accuracy``, ``original_jaccard``,
    ``val_original_jaccard``; one row per epoch) whose training patches hold ``train_foreground``
    mitochondria: the three tests, whether the run reproduces, and the numbers behind them."""
    history = history.sort_values("epoch")
    last = history.tail(rule.last_epochs)
    background_accuracy = 1.0 - float(train_foreground)
    accuracy = float(last["accuracy"].mean())
    train_jaccard = float(last["original_jaccard"].mean())
    best = history.loc[history["val_original_jaccard"].idxmax()]
    record = {"epochs": int(len(history)), "final_accuracy": accuracy, "background_accuracy": background_accuracy,
              "accuracy_gap": accuracy - background_accuracy, "final_train_jaccard": train_jaccard,
              "best_val_jaccard": float(best["val_original_jaccard"]), "best_epoch": int(best["epoch"]),
              "max_train_accuracy": float(history["accuracy"].max())}
    record["collapse"] = abs(record["accuracy_gap"]) <= rule.accuracy_gap
    record["no_fit"] = train_jaccard <= rule.train_jaccard_max
    record["in_band"] = record["best_val_jaccard"] <= rule.best_val_jaccard_max
    record["reproduces"] = record["collapse"] and record["no_fit"] and record["in_band"]
    return record


def logged_table(histories: pd.DataFrame, rule: Rule) -> pd.DataFrame:
    """The rule applied to every logged run of ``book/data/original_histories.csv``: one row per run with its
    ``study``, ``run``, ``architecture``, ``batch_size`` and :func:`run_statistics`."""
    rows = []
    keys = ["study", "run", "architecture", "batch_size"]
    for key, history in histories.groupby(keys, sort=False):
        wide = history.rename(columns=LOGGED_TO_PROJECT)
        rows.append({**dict(zip(keys, key)), **run_statistics(wide, rule.logged_train_foreground, rule)})
    return pd.DataFrame(rows)


def wide_history(long: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """One run's collected long history (``run_id, epoch, metric, split, value``) as one row per epoch with
    ``val_`` prefixed validation columns, as the run wrote its ``history.csv``."""
    rows = long[long["run_id"] == run_id]
    names = np.where(rows["split"] == "val", "val_" + rows["metric"], rows["metric"])
    return rows.assign(column=names).pivot_table(index="epoch", columns="column", values="value").reset_index()


def recipe_of(variant: str, architecture: str) -> str:
    """The recipe of an ``original_logs`` variant without its architecture suffix (``faithful_attention_unet``
    -> ``faithful``)."""
    return variant.removesuffix(f"_{architecture}")


def reproduced_table(runs: pd.DataFrame, history: pd.DataFrame, rule: Rule) -> pd.DataFrame:
    """The rule applied to every finished run of a collected ``original_logs`` study (``runs``: its runs table
    with ``variant``, ``architecture``, ``seed``, ``train_foreground``, ``best_val_iou``, ``test_iou``;
    ``history``: its long history table).  One row per run: ``recipe``, ``architecture``, ``seed``,
    ``base_filters``, the runs' own IoU numbers and :func:`run_statistics`."""
    rows = []
    for run in runs.itertuples(index=False):
        if getattr(run, "status", STATUS_DONE) != STATUS_DONE or not isinstance(run.train_foreground, (int, float)) \
                or math.isnan(run.train_foreground):
            continue
        stats = run_statistics(wide_history(history, run.run_id), run.train_foreground, rule)
        rows.append({"run_id": run.run_id, "recipe": recipe_of(run.variant, run.architecture),
                     "architecture": run.architecture, "seed": int(run.seed), "base_filters": int(run.base_filters),
                     "best_val_iou": float(run.best_val_iou), "test_iou": float(run.test_iou), **stats})
    return pd.DataFrame(rows)


def progress_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per setting (``recipe``, ``architecture``) of an ``original_logs`` study's planned runs (``runs``: its runs
    table with the incomplete planned rows, each with ``variant``, ``architecture`` and ``status``): ``planned``
    and ``done``, in the order the settings first appear in ``runs``."""
    table = runs.assign(recipe=[recipe_of(v, a) for v, a in zip(runs["variant"], runs["architecture"])],
                        finished=runs["status"] == STATUS_DONE)
    grouped = table.groupby(["recipe", "architecture"], sort=False)["finished"]
    return pd.DataFrame({"planned": grouped.size(), "done": grouped.sum().astype(int)}).reset_index()


def _verdict(flags: pd.Series) -> str:
    return REPRODUCES if flags.all() else DOES_NOT if not flags.any() else MIXED


def setting_table(reproduced: pd.DataFrame) -> pd.DataFrame:
    """One row per setting (``recipe``, ``architecture``): runs, runs that reproduce, the verdict
    (:data:`REPRODUCES`, :data:`MIXED`, :data:`DOES_NOT`) and mean ± sd of the rule's statistics and of the
    best validation and test IoU over its seeds."""
    rows = []
    for (recipe, architecture), group in reproduced.groupby(["recipe", "architecture"], sort=False):
        row = {"recipe": recipe, "architecture": architecture, "runs": len(group),
               "reproducing": int(group["reproduces"].sum()), "verdict": _verdict(group["reproduces"])}
        for column in ("final_accuracy", "accuracy_gap", "final_train_jaccard", "best_val_jaccard", "best_val_iou",
                       "test_iou", "epochs"):
            summary = claims.summarize(group[column])
            row[f"{column}_mean"], row[f"{column}_sd"] = summary.mean, summary.sd
        rows.append(row)
    return pd.DataFrame(rows)


def explanation_table(reproduced: pd.DataFrame) -> pd.DataFrame:
    """Each candidate cause of :data:`EXPLANATIONS` on each architecture that ran both of its settings: the two
    settings' verdicts, the paired difference in best validation IoU (with minus without) with its interval,
    and the explanation's verdict (:data:`SUPPORTED`, :data:`REFUTED`, :data:`NOT_RESOLVED`)."""
    settings = setting_table(reproduced).set_index(["recipe", "architecture"]) if len(reproduced) else None
    rows = []
    for spec in EXPLANATIONS:
        for architecture in dict.fromkeys(reproduced.get("architecture", [])):
            if settings is None or (spec["with"], architecture) not in settings.index \
                    or (spec["without"], architecture) not in settings.index:
                continue
            with_, without = (reproduced[(reproduced["recipe"] == spec[key]) & (reproduced["architecture"] == architecture)]
                              for key in ("with", "without"))
            diff = claims.paired_difference(dict(zip(with_["seed"], with_["best_val_iou"])),
                                            dict(zip(without["seed"], without["best_val_iou"])))
            verdict_with = settings.loc[(spec["with"], architecture), "verdict"]
            verdict_without = settings.loc[(spec["without"], architecture), "verdict"]
            if verdict_with == REPRODUCES and verdict_without == DOES_NOT and diff.resolved:
                verdict = SUPPORTED
            elif verdict_without == REPRODUCES:
                # a removed part: the collapse stays without it; an added defect: the recipe collapses without it
                verdict = REFUTED
            else:
                verdict = NOT_RESOLVED
            rows.append({"explanation": spec["explanation"], "architecture": architecture, "with": spec["with"],
                         "without": spec["without"], "added": spec["added"], "verdict_with": verdict_with,
                         "verdict_without": verdict_without, "pairs": diff.pairs, "difference": diff.mean,
                         "low": diff.low, "high": diff.high, "resolved": diff.resolved, "verdict": verdict})
    return pd.DataFrame(rows)
