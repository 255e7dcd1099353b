"""The object-level steps every newer run scores on its test volume (``object_postprocessing.csv``), as levers.

Each run chooses the steps' parameters on its validation slices (:mod:`mitolib.model.objects`: small components
removed, holes filled, touching objects split) and scores the test volume after each step in turn, from the same
prediction. So every step is a paired lever over the runs that record it: :func:`step_effects` gives each step's
difference from the raw prediction (step ``none``). :func:`with_final_objects` gives the runs' object numbers after
the last step, the numbers a target that counts objects is judged on (the steps are chosen on validation, so they
are test-time steps like the threshold).
"""

from __future__ import annotations

import pandas as pd

from mitolib.core.rundir import OBJECT_CLEANUP, TEST_OBJECTS
from mitolib.model.objects import CLEANUP_STEPS, MATCH_IOU, OBJECT_FIELDS, PARAMETER_STEPS, object_ceiling
from mitolib.report import verdicts
from mitolib.report.pages import StudyResults

RAW_STEP = CLEANUP_STEPS[0]  # the prediction as thresholded, before any object step
STEP_VALUES = ("test_iou", "object_f1_50", "count_ratio")  # what a step is judged on


def cleanup_table(results: StudyResults) -> pd.DataFrame:
    """The study's ``object_postprocessing.csv`` rows of its done runs, with each run's ``architecture`` and
    ``seed``; empty (with a ``step`` column) where no run recorded the steps."""
    path = results.path / OBJECT_CLEANUP
    if not path.is_file():
        return pd.DataFrame(columns=["run_id", "step", *STEP_VALUES, "architecture", "seed"])
    table = pd.read_csv(path)
    runs = results.done[["run_id", "architecture", "seed"]]
    return table.merge(runs, on="run_id", how="inner")


def step_effects(results: StudyResults) -> pd.DataFrame:
    """Each step's paired difference from :data:`RAW_STEP` in each of :data:`STEP_VALUES`, paired by run (rows of
    :func:`mitolib.report.verdicts.effects_table`, with ``value``); empty where no run recorded the steps."""
    table = cleanup_table(results)
    if table.empty:
        return pd.DataFrame()
    rows = []
    for value in STEP_VALUES:
        effects = verdicts.effects_table(table, value, RAW_STEP, group="step", pair="run_id")
        rows.append(effects.assign(value=value))
    return pd.concat(rows, ignore_index=True)


def chosen_parameters(results: StudyResults) -> pd.DataFrame:
    """Per run, the parameters its validation slices chose (``min_voxels``, ``split_depth`` where recorded: the
    largest value of each over the run's steps, the steps before it recording 0)."""
    table = cleanup_table(results)
    columns = [c for c in PARAMETER_STEPS if c in table.columns]
    return table.groupby(["run_id", "architecture", "seed"], as_index=False)[columns].max()


def with_final_objects(results: StudyResults, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """``runs`` (default: the done runs) with their object numbers (:data:`OBJECT_FIELDS`) after the last object
    step each recorded, and ``object_step``: the step they come from (:data:`RAW_STEP` for a run that recorded
    no steps, whose own numbers are kept)."""
    runs = (results.done if runs is None else runs).copy()
    runs["object_step"] = RAW_STEP
    table = cleanup_table(results)
    if table.empty:
        return runs
    order = table["step"].map({step: index for index, step in enumerate(CLEANUP_STEPS)})
    last = table.assign(order=order).sort_values("order").drop_duplicates("run_id", keep="last").set_index("run_id")
    recorded = runs["run_id"].isin(last.index)
    for field in (f for f in OBJECT_FIELDS if f in last.columns):
        runs.loc[recorded, field] = runs.loc[recorded, "run_id"].map(last[field])
    runs.loc[recorded, "object_step"] = runs.loc[recorded, "run_id"].map(last["step"])
    return runs


def detections(results: StudyResults) -> pd.DataFrame:
    """Per true object of the test volume (``true_label``, ``true_voxels``), how many of the study's done runs
    detected it in their raw prediction (``detected_by``, from ``test_objects.csv``) and how many runs recorded
    it (``runs``); empty (with those columns) where no run recorded its matched objects."""
    columns = ["true_label", "true_voxels", "detected_by", "runs"]
    path = results.path / TEST_OBJECTS
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    table = pd.read_csv(path)
    table = table[table["run_id"].isin(results.done["run_id"])].assign(detected=lambda t: t["predicted_label"].notna())
    grouped = table.groupby(["true_label", "true_voxels"], as_index=False)
    return grouped.agg(detected_by=("detected", "sum"), runs=("run_id", "nunique"))[columns]


def label_ceiling(results: StudyResults) -> dict:
    """The ceiling the test labels of the study's runs put on their object scores after the object steps
    (:func:`mitolib.model.objects.object_ceiling` at ``min_voxels``, the largest smallest-kept size the runs chose
    on validation), with ``min_voxels`` and ``found_any``: how many of the true objects out of reach after the
    steps the raw predictions matched in at least one run, of ``runs`` runs. Empty where no run recorded its
    matched objects or its object steps; :class:`mitolib.core.errors.DataError` or ``OSError`` where the test
    labels cannot be read."""
    from mitolib.data.volumes import resolve_volumes
    from mitolib.report.predictions import run_params

    found, chosen = detections(results), chosen_parameters(results)
    if found.empty or "min_voxels" not in chosen or chosen.empty:
        return {}
    min_voxels = int(chosen["min_voxels"].max())
    _, truth = resolve_volumes(run_params(results, str(chosen["run_id"].iloc[0])), "test")
    out_of_reach = found[found["true_voxels"] < MATCH_IOU * min_voxels]
    return {**object_ceiling(truth, min_voxels), "min_voxels": min_voxels,
            "found_any": int((out_of_reach["detected_by"] > 0).sum()), "runs": int(found["runs"].max())}
