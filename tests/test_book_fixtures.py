"""Fixture results in the collector's format, to develop and test the book without training.

    python tests/test_book_fixtures.py OUT [PROFILE]

writes ``OUT/<PROFILE>/<study>/{runs,history,test_slices}.csv`` and ``provenance.json`` (with
``"fixture": true``, so every page says the numbers are not measurements) for the studies the
book reads.  Build the book from them with
``MITOLIB_RESULTS=OUT MITOLIB_BOOK_PROFILE=PROFILE jupyter-book build book/``.
Nothing here is written into ``results/``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mitolib.report import pages
from mitolib.core import locations, rundir
from mitolib.core.config import load_config
from mitolib.results.collect import plan_table
from mitolib.studies.plan import plan

STUDIES = ("bug_ablation", "seeds", "hyperparameter_optimization", "architectures", "recipe", "quality_levers")
EPOCHS = 8
FAILED = {"hyperparameter_optimization": 5}  # index of a run recorded as failed


def _curve(rng, final: float, epochs: int, noise: float = 0.02) -> np.ndarray:
    steps = np.arange(1, epochs + 1)
    return np.clip(final * (1 - np.exp(-steps / 2.5)) + rng.normal(0, noise, epochs), 0, 1)


def _save_predictions(out: Path, run_id: str, params: dict, quality: float, rng) -> None:
    """Test masks a run would save: the truth with pixels flipped at random, as 0/255 PNGs."""
    from PIL import Image

    from mitolib.data.volumes import resolve_volumes

    _, masks = resolve_volumes(params, "test")
    folder = out / "predictions" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    for index, mask in enumerate(masks):
        flip = rng.random(mask.shape) < (1 - quality) * 0.1
        Image.fromarray(np.where(mask.astype(bool) ^ flip, 255, 0).astype(np.uint8)).save(folder / f"test_{index:03d}.png")


def write_study(root: Path, study: str, profile: str, seed: int = 0, predictions: bool = True) -> Path:
    """Write one study's fixture tables under ``root/<profile>/<study>``; returns the folder.

    Like the collector, ``runs.csv`` holds completed runs only; the failed run is listed in
    ``provenance.json``.
    """
    rng = np.random.default_rng([seed, len(study)])
    out = root / profile / study
    out.mkdir(parents=True, exist_ok=True)
    runs, history, slices, failed = [], [], [], []
    planned = plan(study, profile)
    for run in planned:
        params = run.params
        if FAILED.get(study) == run.index:
            failed.append(run.run_id)
            continue
        quality = 0.75 + 0.05 * (params["architecture"] != "unet") + rng.normal(0, 0.02)
        if params["mispair"]:
            quality = 0.06
        soft_scale = 0.15 if params["head_batch_norm"] else 0.85
        val = {"iou": _curve(rng, quality, EPOCHS)}
        val["thresholded_jaccard"] = np.clip(val["iou"] + rng.normal(0.03, 0.01, EPOCHS), 0, 1)
        val["soft_jaccard"] = val["iou"] * soft_scale
        val["loss"] = 0.6 * np.exp(-np.arange(EPOCHS) / 3) + 0.05
        monitor = val[params["monitor"]]
        best = int(np.argmax(monitor)) + 1
        row = {"run_id": run.run_id, "study": study, "profile": profile}
        if run.variant is not None:
            row["variant"] = run.variant
        row.update({k: v for k, v in params.items() if k not in ("profile", "out_dir")})
        row.update(status="done", best_epoch=best, best_val_iou=val["iou"][best - 1],
                   best_val_monitor=monitor[best - 1], test_iou=quality - 0.03,
                   test_dice=2 * (quality - 0.03) / (1 + quality - 0.03), train_seconds=30 + rng.uniform(0, 10),
                   eval_seconds=2.0, epochs_run=EPOCHS, images_per_second=40.0, device="CPU: fixture",
                   object_f1_50=float(np.clip(quality - 0.3 + rng.normal(0, 0.02), 0, 1)),
                   count_ratio=float(1.9 + rng.normal(0, 0.1)),
                   optimizer_steps=EPOCHS * 10, samples_seen=EPOCHS * 10 * params["batch_size"])
        runs.append(row)
        for e in range(EPOCHS):
            for metric, values in val.items():
                history.append((run.run_id, e + 1, metric, "val", float(values[e])))
                history.append((run.run_id, e + 1, metric, "train", float(np.clip(values[e] * 1.05, 0, 1))))
            history.append((run.run_id, e + 1, "learning_rate", "", params["learning_rate"]))
            history.append((run.run_id, e + 1, "epoch_seconds", "", 3.0))
        for s in range(params["synthetic_slices"]):
            iou = float(np.clip(quality - 0.03 + rng.normal(0, 0.04), 0, 1))
            tp = 1000
            errors = tp / max(iou, 1e-3) - tp  # fp + fn for this IoU, split evenly
            slices.append((run.run_id, s, iou, 2 * iou / (1 + iou), tp, int(errors / 2), int(errors - errors // 2)))
        if predictions and study == "seeds" and params["data_source"] == "synthetic":
            _save_predictions(out, run.run_id, params, quality, rng)
    pd.DataFrame(runs).to_csv(out / rundir.RUNS_TABLE, index=False)
    if study == "quality_levers":
        _write_ensembles(out, pd.DataFrame(runs))
        _write_object_steps(out, pd.DataFrame(runs), rng)
    pd.DataFrame(history, columns=pages.HISTORY_COLUMNS).to_csv(out / rundir.HISTORY_TABLE, index=False)
    pd.DataFrame(slices, columns=[*pages.SLICE_COLUMNS_READ, "tp", "fp", "fn"]).to_csv(out / rundir.SLICES_TABLE, index=False)
    provenance = {"study": study, "profile": profile, "fixture": True, "git_commit": "fixture",
                  "collected_at": "fixture", "counts": {"planned": len(runs) + len(failed), "collected": len(runs),
                                                        "failed": len(failed), "unfinished": 0},
                  "incomplete": {"failed": failed, "unfinished": []}}
    (out / rundir.PROVENANCE).write_text(json.dumps(provenance, indent=2), encoding="utf-8")
    plan_table(planned).to_csv(out / rundir.PLAN_TABLE, index=False)
    return out


def _write_ensembles(out: Path, runs: pd.DataFrame) -> None:
    """What ``mitolib evaluate reference_seed-K --ensemble reference_seed-(K+1) --out .../evaluations.csv`` appends
    for K = 0, 1, 2: the pair a little better than the run alone, with fewer false objects."""
    from mitolib.model.objects import CLEANUP_STEPS

    reference = runs[runs["variant"] == "reference"].sort_values("seed")
    rows = []
    for index, (_, run) in enumerate(reference.iterrows()):
        other = reference.iloc[(index + 1) % len(reference)]
        rows.append({"run_id": run["run_id"], "ensemble": other["run_id"],
                     **{key: run[key] for key in rundir.EVAL_PARAMS}, "threshold": rundir.run_threshold(run, run),
                     "test_iou": run["test_iou"] + 0.01 + 0.002 * index,
                     # counted after the run's object steps, as _write_object_steps scores them
                     "object_f1_50": run["object_f1_50"] + 0.17, "count_ratio": run["count_ratio"] - 0.52 - 0.01 * index,
                     "object_step": CLEANUP_STEPS[-1], "eval_seconds": 4.0})
    pd.DataFrame(rows).to_csv(out / rundir.EVALUATIONS, index=False)


def _write_object_steps(out: Path, runs: pd.DataFrame, rng) -> None:
    """What each run writes to ``object_postprocessing.csv``: the steps of mitolib.model.objects in turn, each
    removing false fragments (fewer objects, a higher object F1) and barely moving the IoU."""
    from mitolib.model.objects import CLEANUP_STEPS

    rows = []
    for _, run in runs.iterrows():
        for index, step in enumerate(CLEANUP_STEPS):
            rows.append({"run_id": run["run_id"], "step": step, "min_voxels": 1000 * (index > 0),
                         "split_depth": 4 * (index == 3), "test_iou": run["test_iou"] + 0.001 * index,
                         "test_dice": run["test_dice"], "true_objects": 47,
                         "predicted_objects": round(47 * run["count_ratio"]) - 15 * (index > 0),
                         "count_ratio": run["count_ratio"] - 0.32 * (index > 0),
                         "object_f1_50": run["object_f1_50"] + (0.15 + rng.normal(0, 0.01)) * (index > 0)})
    pd.DataFrame(rows).to_csv(out / rundir.OBJECT_CLEANUP, index=False)


def write_fixture_results(root: str | Path, profile: str = "smoke", studies=STUDIES, predictions: bool = True) -> Path:
    """Write every study the book reads; returns ``root``."""
    root = Path(root)
    for study in studies:
        write_study(root, study, profile, predictions=predictions)
    return root


def test_fixture_studies_load(tmp_path, monkeypatch):
    write_fixture_results(tmp_path)
    monkeypatch.setenv(locations.RESULTS_ENV, str(tmp_path))
    monkeypatch.setenv(locations.BOOK_PROFILE_ENV, "smoke")
    assert pages.collected_studies() == sorted(STUDIES)
    grid = pages.load_study("hyperparameter_optimization")
    assert len(grid.runs) == 36 and len(grid.failed) == 1
    assert grid.failed["learning_rate"].notna().all()  # parameters of the failed run come from the plan
    ablation = pages.load_study("bug_ablation")
    assert set(ablation.runs["variant"]) == set(load_config()["studies"]["bug_ablation"]["runs"])


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    target = write_fixture_results(sys.argv[1], *(sys.argv[2:3] or ["smoke"]))
    print(f"fixture results written under {target}")
