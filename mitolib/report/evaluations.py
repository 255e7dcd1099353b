"""Saved models evaluated again: the rows of a collected study's ``evaluations.csv`` beside the runs they evaluate.

``mitolib evaluate RUN_DIR --out results/<profile>/<study>/evaluations.csv`` appends one row per evaluation (with
``--tta``, other windows, or ``--ensemble OTHER_RUN``). :func:`evaluations` joins those rows with the done runs
and names the evaluation settings in which each row differs from the run's own test evaluation; the pages pick
the rows they compare from it: :func:`tta_gains` (test-time augmentation only) and :func:`ensemble_lever` (the
mean of two models' probabilities, every other setting the run's own).
"""

from __future__ import annotations

import pandas as pd

from mitolib.core.rundir import EVAL_PARAMS, EVALUATIONS, run_threshold
from mitolib.model.objects import OBJECT_FIELDS
from mitolib.report import verdicts
from mitolib.report.object_steps import RAW_STEP, with_final_objects
from mitolib.report.pages import StudyResults

COMPARED = tuple(key for key in EVAL_PARAMS if key != "eval_batch_size")  # the batch size changes no prediction
RUN_COLUMNS = ("architecture", "seed", "variant")  # of the evaluated run, beside each row
SINGLE, ENSEMBLE = "single model", "ensemble"  # the two groups of :func:`ensemble_lever`
ENSEMBLE_VALUES = ("test_iou", "object_f1_50", "count_ratio")  # what an ensemble is judged on, where recorded


def _same(row_value, run_value) -> bool:
    if isinstance(run_value, (bool, float, int)) and not isinstance(row_value, str):
        return float(row_value) == float(run_value)  # 0.5 and 0.50, True and 1.0 read back from csv
    return str(row_value).lower() == str(run_value).lower()


def evaluations(results: StudyResults) -> pd.DataFrame:
    """Every row of the study's ``evaluations.csv`` whose run is done, in file order, with the run's
    :data:`RUN_COLUMNS`, ``ensemble`` ("" for one model) and ``changed``: the settings of :data:`COMPARED` in which
    the row differs from the run's own test evaluation, joined by ``,`` ("" where none does). The threshold is
    compared with the one the run used (:func:`mitolib.core.rundir.run_threshold`); a setting the file does not
    record counts as the run's (older tables lack ``z_median``). Empty, with those columns, where the study
    has no ``evaluations.csv``."""
    path = results.path / EVALUATIONS
    table = pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.is_file() else pd.DataFrame()
    if table.empty:
        return pd.DataFrame(columns=["run_id", "ensemble", "test_iou", *RUN_COLUMNS, "changed"])
    table["ensemble"] = table["ensemble"].fillna("").astype(str) if "ensemble" in table else ""
    columns = [*table.columns, *RUN_COLUMNS, "changed"]
    runs = results.done.set_index("run_id")
    rows = []
    for _, row in table[table["run_id"].isin(runs.index)].iterrows():
        run = runs.loc[row["run_id"]]
        own = {key: run[key] for key in COMPARED if key in run.index}
        if "threshold" in own:
            own["threshold"] = run_threshold(run, run)
        changed = [key for key, value in own.items()
                   if key in row.index and not pd.isna(row[key]) and not _same(row[key], value)]
        rows.append({**row.to_dict(), **{key: run.get(key) for key in RUN_COLUMNS}, "changed": ",".join(changed)})
    return pd.DataFrame(rows, columns=list(dict.fromkeys(columns)))


def tta_gains(results: StudyResults) -> pd.DataFrame:
    """Test IoU of done runs without and with test-time augmentation.

    "without" is the run's own test IoU (``runs.csv``, runs trained with ``tta`` off); "with" is the latest
    ``mitolib evaluate --tta`` row of one model whose other settings are the run's own. Columns ``run_id,
    architecture, without, with, gain``; empty when nothing was evaluated again.
    """
    columns = ["run_id", "architecture", "without", "with", "gain"]
    table = evaluations(results)
    table = table[(table["ensemble"] == "") & (table["changed"] == "tta")] if len(table) else table
    if table.empty:
        return pd.DataFrame(columns=columns)
    runs = results.done.set_index("run_id")
    table = table.drop_duplicates("run_id", keep="last")
    out = pd.DataFrame({"run_id": table["run_id"].to_numpy(), "architecture": table["architecture"].to_numpy(),
                        "without": runs.loc[table["run_id"], "test_iou"].astype(float).to_numpy(),
                        "with": table["test_iou"].astype(float).to_numpy()})
    return out.assign(gain=out["with"] - out["without"]).reset_index(drop=True)


def ensemble_runs(results: StudyResults, variant: str) -> pd.DataFrame:
    """The ensembles evaluated on the done runs of ``variant`` (``mitolib evaluate RUN --ensemble OTHER``, every
    other setting the run's own): one row per run, the latest, with the run's ``seed`` and ``architecture``,
    ``members`` (the run and the others, joined by ``+``) and the evaluated values; ``group`` is
    :data:`ENSEMBLE`."""
    table = evaluations(results)
    if len(table):
        table = table[(table["ensemble"] != "") & (table["changed"] == "") & (table["variant"] == variant)]
    table = table.drop_duplicates("run_id", keep="last")
    return table.assign(members=table["run_id"] + "+" + table["ensemble"], group=ENSEMBLE).reset_index(drop=True)


def ensemble_lever(results: StudyResults, variant: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(pairs, effects)``: each ensemble of :func:`ensemble_runs` beside its run alone (the run's own test
    evaluation, its objects counted after its object steps as the ensemble's are, ``group`` :data:`SINGLE`), and
    per value of :data:`ENSEMBLE_VALUES` that both record (the object values only where both sides were counted
    after the same step), the paired
    difference ensemble minus single model by seed (a row of :func:`mitolib.report.verdicts.effects_table`, with
    ``value``). The ensembles of seed K and K+1 share a member, so their pairs are not independent; an
    ensemble also trains twice as long."""
    ensembles = ensemble_runs(results, variant)
    if "object_step" not in ensembles:
        ensembles["object_step"] = RAW_STEP  # rows from before the column: the raw prediction's objects
    ensembles["object_step"] = ensembles["object_step"].fillna(RAW_STEP)
    singles = with_final_objects(results, results.done[results.done["run_id"].isin(ensembles["run_id"])])
    pairs = pd.concat([singles.assign(group=SINGLE), ensembles], ignore_index=True)
    same_steps = singles.set_index("run_id")["object_step"].sort_index().equals(
        ensembles.set_index("run_id")["object_step"].sort_index())  # objects counted alike on both sides
    effects = []
    for value in ENSEMBLE_VALUES:
        if len(ensembles) == 0 or value not in pairs or pairs[value].isna().any() or (
                value in OBJECT_FIELDS and not same_steps):
            continue
        effects.append(verdicts.effects_table(pairs, value, SINGLE, group="group").assign(value=value))
    return pairs, (pd.concat(effects, ignore_index=True) if effects else pd.DataFrame())
