"""The committed results agree with themselves: the saved test masks reproduce the test IoU of runs.csv.

Every ``results/<profile>/<study>/predictions/<run_id>/`` holds the binary test masks of one run;
the test recomputes that run's foreground IoU over the whole test volume from the PNG files and
the ground truth, independently of the library's evaluation code, and compares it with
``runs.csv``.  Runs on the EPFL data need ``$MITOLIB_DATA`` and are skipped, with the reason,
where it is absent; smoke runs regenerate their synthetic volume.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mitolib.core.config import load_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS = PROJECT_ROOT / "results"
TOLERANCE = 0.001


def prediction_sets() -> list[tuple[Path, str]]:
    """``(study folder, run_id)`` of every committed prediction set."""
    return [(folder.parent.parent, folder.name) for folder in sorted(RESULTS.glob("*/*/predictions/*"))
            if folder.is_dir()]


def ground_truth(row: pd.Series) -> np.ndarray:
    from mitolib.data.volumes import resolve_volumes

    defaults = load_config()["defaults"]
    params = {key: row[key] if key in row and not pd.isna(row[key]) else value for key, value in defaults.items()}
    if params["data_source"] == "epfl":
        root = os.environ.get("MITOLIB_DATA") or PROJECT_ROOT.parent / "shared" / "data" / "epfl_mito"
        if not Path(root).is_dir():
            pytest.skip("EPFL data not found: set MITOLIB_DATA to recompute the committed test IoU")
        params["data_root"] = str(root)
    for key in ("synthetic_slices", "synthetic_height", "synthetic_width"):
        params[key] = int(params[key])
    return resolve_volumes(params, "test")[1]


@pytest.mark.parametrize(("study_dir", "run_id"), prediction_sets(),
                         ids=[f"{s.parent.name}/{s.name}/{r}" for s, r in prediction_sets()])
def test_saved_masks_reproduce_the_reported_test_iou(study_dir, run_id):
    runs = pd.read_csv(study_dir / "runs.csv").set_index("run_id")
    row = runs.loc[run_id]
    truth = ground_truth(row) > 0
    files = sorted((study_dir / "predictions" / run_id).glob("test_*.png"))
    assert [f.name for f in files] == [f"test_{i:03d}.png" for i in range(len(truth))]
    predicted = np.stack([np.asarray(Image.open(f)) > 0 for f in files])
    assert predicted.shape == truth.shape
    tp = np.count_nonzero(predicted & truth)
    union = np.count_nonzero(predicted | truth)
    assert tp / union == pytest.approx(float(row["test_iou"]), abs=TOLERANCE)


def test_there_is_something_to_check():
    assert prediction_sets(), "no committed prediction sets under results/*/*/predictions/"


EVAL_SETTINGS = ("tta", "eval_window", "eval_overlap", "eval_batch_size", "threshold")


EVALUATION_FILES = sorted(RESULTS.glob("*/*/evaluations.csv"))


def same_settings(path: Path) -> pd.DataFrame:
    """The rows of ``path`` evaluated with their run's own evaluation settings (``runs.csv``), the run alone (an
    ``--ensemble`` row averages other runs' probabilities in)."""
    runs = pd.read_csv(path.parent / "runs.csv").set_index("run_id")
    evaluations = pd.read_csv(path)
    if "ensemble" in evaluations:
        evaluations = evaluations[evaluations["ensemble"].isna()]
    assert set(evaluations["run_id"]) <= set(runs.index), "evaluations of runs that runs.csv does not hold"
    same = evaluations[pd.Series([all(str(row[k]) == str(runs.loc[row["run_id"], k]) for k in EVAL_SETTINGS)
                                  for _, row in evaluations.iterrows()], index=evaluations.index, dtype=bool)]
    return same.assign(run_test_iou=[float(runs.loc[r, "test_iou"]) for r in same["run_id"]])


@pytest.mark.parametrize("path", EVALUATION_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_evaluations_again_with_the_runs_own_settings_reproduce_runs_csv(path):
    """``mitolib evaluate`` rows of committed runs: those with the run's own settings give its test IoU."""
    for _, row in same_settings(path).iterrows():
        assert row["test_iou"] == pytest.approx(row["run_test_iou"], abs=TOLERANCE)


def test_some_committed_evaluation_repeats_its_runs_own_settings():
    """At least one study anchors its other evaluations with a plain one that reproduces ``runs.csv``."""
    assert EVALUATION_FILES, "no committed evaluations.csv under results/*/*/"
    assert any(len(same_settings(path)) for path in EVALUATION_FILES), \
        "no evaluation with a run's own settings to check the others against"


def collected_folders() -> list[Path]:
    """Every committed study folder with collected tables."""
    return sorted(path.parent for path in RESULTS.glob("*/*/runs.csv"))


@pytest.mark.parametrize("folder", collected_folders(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recorded_plan_is_the_current_plan(folder, monkeypatch):
    """The book tells the current design's runs from earlier ones by ``plan.csv``; it must be what
    ``studies.yml`` plans now (after a change: ``mitolib study plan STUDY --profile P --record``).  A study planned
    from another's results (``from_best``) is planned from the committed ones."""
    from mitolib.results.collect import plan_table
    from mitolib.core.rundir import PLAN_TABLE
    from mitolib.studies.plan import plan

    study, profile = folder.name, folder.parent.name
    monkeypatch.setenv("MITOLIB_RESULTS", str(RESULTS))
    assert (folder / PLAN_TABLE).is_file(), f"{folder} has no {PLAN_TABLE}: run `mitolib study plan {study} " \
                                            f"--profile {profile} --record`"
    recorded = (folder / PLAN_TABLE).read_text(encoding="utf-8")
    current = plan_table(plan(study, profile)).to_csv(index=False)
    assert recorded == current, f"{folder / PLAN_TABLE} is not the current plan of studies.yml: run " \
                                f"`mitolib study plan {study} --profile {profile} --record`"
