"""Grid claims on hand-made tables: budgets, region comparisons over cells, stability, linear scaling, reruns."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mitolib.core import claims
from mitolib.report import grid_claims


def _grid(values: dict) -> pd.DataFrame:
    """``{(architecture, learning_rate): value}`` at one batch size as grid rows."""
    return pd.DataFrame([{"architecture": a, "learning_rate": lr, "batch_size": 8, "best_val_iou": v}
                         for (a, lr), v in values.items()])


def test_a_region_is_paired_over_the_cells_it_holds_fixed():
    done = _grid({("a", 1e-4): 0.5, ("a", 1e-3): 0.8, ("a", 1e-2): 0.6,    # inside 0.8, outside 0.55: +0.25
                  ("b", 1e-4): 0.4, ("b", 1e-3): 0.6, ("b", 1e-2): 0.5,    # +0.15
                  ("c", 1e-4): 0.3, ("c", 1e-3): 0.6, ("c", 1e-2): 0.3})   # +0.30
    row = grid_claims.region_comparison(done, "best_val_iou", "learning_rate", lambda lr: lr == 1e-3)
    assert row["pairs"] == 3
    assert row["difference"] == pytest.approx(0.7 / 3)
    # sd of (0.25, 0.15, 0.30) = 0.07638; t(0.975, 2) = 4.3027; half width 4.3027 * 0.07638 / sqrt(3) = 0.1897
    assert row["low"] == pytest.approx(0.7 / 3 - 0.1897, abs=2e-4)
    assert row["resolved"] and row["verdict"] == "higher"
    two = grid_claims.region_comparison(done[done["architecture"] != "c"], "best_val_iou", "learning_rate",
                                        lambda lr: lr == 1e-3)
    assert two["pairs"] == 2 and two["difference"] == pytest.approx(0.2)
    assert not two["resolved"] and two["verdict"] == claims.NOT_RESOLVED


def test_a_region_without_both_sides_in_a_cell_is_not_resolved():
    done = _grid({("a", 1e-3): 0.8, ("b", 1e-4): 0.4})
    row = grid_claims.region_comparison(done, "best_val_iou", "learning_rate", lambda lr: lr == 1e-3)
    assert row["pairs"] == 0 and not row["resolved"] and math.isnan(row["difference"])


def test_largest_fall_between_consecutive_epochs():
    rows = [("r", e, "val", v) for e, v in enumerate([0.1, 0.5, 0.4, 0.45, 0.2], start=1)]
    rows += [("r", e, "train", 0.9 - e / 10) for e in range(1, 6)]  # falls on the training split do not count
    rows += [("s", e, "val", 0.1 * e) for e in range(1, 4)]
    history = pd.DataFrame(rows, columns=["run_id", "epoch", "split", "value"]).assign(metric="iou")
    falls = grid_claims.largest_fall(history.sample(frac=1, random_state=0))  # epoch order restored
    assert falls.to_dict() == {"r": pytest.approx(0.25), "s": 0.0}


def test_best_learning_rates_and_the_linear_scaling_question():
    rows = [("a", 8, 1e-4, 0.7), ("a", 8, 1e-3, 0.6), ("a", 32, 1e-4, 0.5), ("a", 32, 1e-3, 0.8),
            ("b", 8, 1e-4, 0.7), ("b", 8, 1e-3, 0.6), ("b", 32, 1e-4, 0.9), ("b", 32, 1e-3, 0.8)]
    done = pd.DataFrame(rows, columns=["architecture", "batch_size", "learning_rate", "best_val_iou"])
    best = grid_claims.best_learning_rates(done)
    assert best[["architecture", "batch_size", "best_learning_rate"]].values.tolist() == [
        ["a", 8, 1e-4], ["a", 32, 1e-3], ["b", 8, 1e-4], ["b", 32, 1e-4]]
    assert grid_claims.rises_with_batch(best) == {"a": True, "b": False}
    shuffled = grid_claims.best_learning_rates(done.iloc[[6, 1, 3, 4, 0, 7, 2, 5]])  # as a collected runs.csv lies
    assert shuffled[["architecture", "batch_size"]].values.tolist() == [["b", 8], ["b", 32], ["a", 8], ["a", 32]]


def test_complete_architectures_are_those_with_every_planned_cell():
    plan = pd.DataFrame([(a, lr, b) for a in ("unet", "attention_unet") for lr in (1e-4, 1e-3) for b in (8, 16)],
                        columns=["architecture", "learning_rate", "batch_size"])
    done = pd.concat([plan.iloc[:4], plan.iloc[4:7]]).assign(best_val_iou=0.5)  # one attention_unet cell missing
    assert grid_claims.complete_architectures(done, plan) == ["unet"]
    assert grid_claims.complete_architectures(done.iloc[:0], plan) == []
    assert grid_claims.complete_architectures(plan, plan) == ["unet", "attention_unet"]


def test_budget_table_reads_recorded_steps_and_works_out_older_runs():
    done = pd.DataFrame([
        {"batch_size": 8, "epochs_run": 8, "samples_per_epoch": 800, "optimizer_steps": 800, "samples_seen": 6400},
        {"batch_size": 8, "epochs_run": 4, "samples_per_epoch": 800, "optimizer_steps": float("nan"),
         "samples_seen": float("nan")},  # an older run without the columns: 4 x 100 steps
        {"batch_size": 32, "epochs_run": 8, "samples_per_epoch": 800, "optimizer_steps": 200, "samples_seen": 6400},
    ])
    table = grid_claims.budget_table(done)
    assert table.to_dict("records") == [
        {"batch size": 8, "runs": 2, "optimizer steps per run": "400–800", "samples seen per run": "3,200–6,400"},
        {"batch size": 32, "runs": 1, "optimizer steps per run": "200", "samples seen per run": "6,400"}]


def test_configuration_seeds_joins_the_grid_run_with_its_reruns():
    grid = pd.DataFrame({"run_id": ["A", "B", "C"], "seed": 0, "best_val_iou": [0.80, 0.82, 0.70]})
    reruns = pd.DataFrame({"run_id": ["A_seed-1", "A_seed-2", "B_seed-1", "B_seed-2"], "variant": ["A", "A", "B", "B"],
                           "seed": [1, 2, 1, 2], "best_val_iou": [0.84, 0.83, 0.78, 0.79]})
    table = grid_claims.configuration_seeds(grid, reruns)
    # A: mean 0.8233 above B: 0.7967; C was not rerun and is left out
    assert table[["configuration", "seed"]].values.tolist() == [["A", 0], ["A", 1], ["A", 2],
                                                                ["B", 0], ["B", 1], ["B", 2]]


def test_the_reports_insights_are_tested_cell_by_cell():
    import itertools

    from mitolib.report import pages

    rates, batches, archs = (1e-4, 5e-4, 1e-3, 5e-3), (8, 16, 32), ("unet", "attention_unet")
    rows, history = [], []
    for arch, lr, batch in itertools.product(archs, rates, batches):
        # 5e-4 and 1e-3 are better by 0.1 (plus a little that differs by cell), attention_unet by 0.02 in
        # every cell; batch 8 runs fall by 0.2 once, larger batches never fall
        run_id = f"{arch}_{lr}_{batch}"
        score = 0.6 + (0.1 if lr in (5e-4, 1e-3) else 0.0) + (0.02 if arch != "unet" else 0.0) + batch * 1e-4 \
            + (lr * 3 if lr > 1e-3 else 0.0)
        rows.append({"run_id": run_id, "architecture": arch, "learning_rate": lr, "batch_size": batch, "seed": 0,
                     "best_val_iou": score})
        curve = [0.3, 0.5, 0.3, 0.6] if batch == 8 else [0.3, 0.4, 0.5, 0.6]
        history += [{"run_id": run_id, "epoch": e, "metric": "iou", "split": "val", "value": v}
                    for e, v in enumerate(curve, start=1)]
    checks = grid_claims.insight_checks(pd.DataFrame(rows), pd.DataFrame(history), pages.load_csv("original_report"),
                                        label=pages.arch_label).set_index("the report says")
    verdicts = checks["verdict"].to_dict()
    assert verdicts == {
        "learning rates from 0.0005 to 0.001 are the optimal range": "supported",
        "larger batches (16–32) generally improve stability": "supported",
        "attention mechanisms show slight advantages (Attention U-Net over U-Net)": "supported",
        "each architecture benefits from different configurations": claims.NOT_RESOLVED}
    assert checks["measured here"].iloc[0].endswith("over 6 cells (architecture x batch size)")
    assert "+0.020 [+0.020, +0.020] over 12 cells" in checks["measured here"].iloc[2]
    # the same grid with the attention runs 0.02 worse contradicts the claim
    worse = pd.DataFrame(rows).assign(best_val_iou=lambda t: t["best_val_iou"]
                                      - (t["architecture"] != "unet") * 0.04)
    checks = grid_claims.insight_checks(worse, pd.DataFrame(history), pages.load_csv("original_report"))
    assert checks["verdict"].iloc[2] == "contradicted"
