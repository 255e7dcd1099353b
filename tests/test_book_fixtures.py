"""Fixture results in the collector's format, to develop and test the book without training.

    python tests/test_book_fixtures.py OUT [PROFILE]

writes ``OUT/<PROFILE>/<study>/{runs,history,test_slices}.csv`` and ``provenance.json`` (with
``"fixture": true``, so every page says the numbers are not measurements) for the studies the
book reads.  Build the book from them with
``MITOLIB_RESULTS=OUT MITOLIB_BOOK_PROFILE=PROFILE jupyter-book build book/``.
Nothing here is written into ``results/``.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mitolib import book
from mitolib.config import load_config, resolve_params

STUDIES = ("bug_ablation", "seeds", "hyperparameter_optimization", "architectures")
EPOCHS = 8
FAILED = {"hyperparameter_optimization": 5}  # index of a run recorded as failed


def study_points(study: str) -> list[tuple[str | None, dict]]:
    """``(variant, settings)`` per run of a study, from ``studies.yml``."""
    spec = load_config()["studies"][study]
    if "runs" in spec:
        return [(name, dict(over or {})) for name, over in spec["runs"].items()]
    grid = spec["grid"]
    return [(None, dict(zip(grid, values))) for values in itertools.product(*grid.values())]


def _curve(rng, final: float, epochs: int, noise: float = 0.02) -> np.ndarray:
    steps = np.arange(1, epochs + 1)
    return np.clip(final * (1 - np.exp(-steps / 2.5)) + rng.normal(0, noise, epochs), 0, 1)


def write_study(root: Path, study: str, profile: str, seed: int = 0) -> Path:
    """Write one study's fixture tables under ``root/<profile>/<study>``; returns the folder."""
    rng = np.random.default_rng([seed, len(study)])
    out = root / profile / study
    out.mkdir(parents=True, exist_ok=True)
    runs, history, slices = [], [], []
    for i, (variant, settings) in enumerate(study_points(study)):
        params = resolve_params(profile, extra=settings)
        run_id = f"{study[:4]}-{i:03d}"
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
        row = {"run_id": run_id, "study": study, "profile": profile, **params}
        if variant is not None:
            row["variant"] = variant
        failed = FAILED.get(study) == i
        row.update(status="failed" if failed else "done", best_epoch=np.nan if failed else best,
                   best_val_iou=np.nan if failed else val["iou"][best - 1],
                   best_val_monitor=np.nan if failed else monitor[best - 1],
                   test_iou=np.nan if failed else quality - 0.03, test_dice=np.nan if failed else
                   2 * (quality - 0.03) / (1 + quality - 0.03), train_seconds=30 + rng.uniform(0, 10),
                   epochs_run=0 if failed else EPOCHS, images_per_second=np.nan if failed else 40.0)
        runs.append(row)
        if failed:
            continue
        for e in range(EPOCHS):
            for metric, values in val.items():
                history.append((run_id, e + 1, metric, "val", float(values[e])))
                history.append((run_id, e + 1, metric, "train", float(np.clip(values[e] * 1.05, 0, 1))))
            history.append((run_id, e + 1, "learning_rate", "", params["learning_rate"]))
            history.append((run_id, e + 1, "epoch_seconds", "", 3.0))
        for s in range(params["synthetic_slices"]):
            iou = float(np.clip(quality - 0.03 + rng.normal(0, 0.04), 0, 1))
            slices.append((run_id, s, iou, 2 * iou / (1 + iou)))
    pd.DataFrame(runs).to_csv(out / book.RUNS_FILE, index=False)
    pd.DataFrame(history, columns=book.HISTORY_COLUMNS).to_csv(out / book.HISTORY_FILE, index=False)
    pd.DataFrame(slices, columns=book.SLICE_COLUMNS).to_csv(out / book.SLICES_FILE, index=False)
    provenance = {"study": study, "profile": profile, "fixture": True, "data_source": "synthetic",
                  "git_commit": "fixture", "collected_at": "fixture", "runs": len(runs)}
    (out / book.PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2), encoding="utf-8")
    return out


def write_fixture_results(root: str | Path, profile: str = "smoke", studies=STUDIES) -> Path:
    """Write every study the book reads; returns ``root``."""
    root = Path(root)
    for study in studies:
        write_study(root, study, profile)
    return root


def test_fixture_studies_load(tmp_path, monkeypatch):
    write_fixture_results(tmp_path)
    monkeypatch.setenv(book.RESULTS_ENV, str(tmp_path))
    monkeypatch.setenv(book.PROFILE_ENV, "smoke")
    assert book.collected_studies() == sorted(STUDIES)
    grid = book.load_study("hyperparameter_optimization")
    assert len(grid.runs) == 36 and len(grid.failed) == 1
    ablation = book.load_study("bug_ablation")
    assert set(ablation.runs["variant"]) == set(load_config()["studies"]["bug_ablation"]["runs"])


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    target = write_fixture_results(sys.argv[1], *(sys.argv[2:3] or ["smoke"]))
    print(f"fixture results written under {target}")
