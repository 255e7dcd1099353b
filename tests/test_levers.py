"""A lever against another study's runs: what else differs, and the paired difference (hand-made runs)."""

from __future__ import annotations

import math
from io import StringIO

import pandas as pd
import pytest

from mitolib.core import claims
from mitolib.report import levers
from mitolib.core.config import load_config


def _recipe_runs(**over) -> pd.DataFrame:
    """Three seeds of one recipe as ``runs.csv`` reads them back (the defaults of studies.yml, then ``over``: a
    value, or a list of one per seed)."""
    rows = pd.DataFrame([{**load_config()["defaults"], "seed": seed, "out_dir": f"runs/seed-{seed}"}
                         for seed in (0, 1, 2)]).assign(**over)
    return pd.read_csv(StringIO(rows.to_csv(index=False)))


def test_setting_differences_name_what_a_lever_changes():
    reference = _recipe_runs(resolved_mixed_precision="mixed_bfloat16", device="CPU: A")
    lever = _recipe_runs(lr_schedule="cosine", warmup_epochs=1.0, resolved_mixed_precision="mixed_bfloat16",
                         resolved_batch_norm_kernel="fused", device="CPU: A")
    changed = levers.setting_differences(reference, lever)
    assert changed == {"lr_schedule": ("plateau", "cosine"), "warmup_epochs": ("0", "1"),
                       "resolved_batch_norm_kernel": ("keras (not recorded)", "fused")}
    assert levers.differences_table(changed).values.tolist() == [
        ["`lr_schedule`", "plateau", "cosine"], ["`warmup_epochs`", "0", "1"],
        ["`resolved_batch_norm_kernel`", "keras (not recorded)", "fused"]]
    assert levers.setting_differences(reference, reference) == {}  # the empty mixed_precision reads back alike


def test_setting_differences_join_machines_and_refuse_two_recipes():
    reference = _recipe_runs().assign(device=["CPU: A", "CPU: A", "CPU: B"])
    assert levers.setting_differences(reference, _recipe_runs(device="CPU: A")) == {
        "device": ("CPU: A / CPU: B", "CPU: A")}
    with pytest.raises(ValueError, match=r"the lever runs take more than one value of loss \(bce, dice_bce\)"):
        levers.setting_differences(_recipe_runs(), pd.concat([_recipe_runs(), _recipe_runs(loss="dice_bce")]))


def test_lever_against_pairs_the_lever_with_the_reference_runs_of_its_architecture_and_seeds():
    plateau = pd.concat([_recipe_runs(architecture="attention_unet", test_iou=[0.870, 0.880, 0.860],
                                      best_val_iou=[0.86, 0.87, 0.85]),
                         _recipe_runs(architecture="unet", test_iou=0.5, best_val_iou=0.5)])
    cosine = _recipe_runs(architecture="attention_unet", lr_schedule="cosine", test_iou=[0.880, 0.892, 0.874],
                          best_val_iou=[0.86, 0.88, 0.85])
    lever = levers.lever_against(plateau, cosine, "lr_schedule")
    assert lever.names == ("plateau", "cosine") and list(lever.changed) == ["lr_schedule"]
    assert list(lever.reference["architecture"]) == ["attention_unet"] * 3  # the unet runs are not paired
    test = lever.effects["test_iou"]
    assert test["pairs"] == 3 and test["difference"] == pytest.approx(0.012)  # +0.010, +0.012, +0.014
    assert test["low"] == pytest.approx(0.012 - 4.302653 * 0.002 / math.sqrt(3), abs=1e-6)  # t(0.975, 2) * sd/√n
    assert test["resolved"] and test["verdict"] == "raises"
    assert lever.effects["best_val_iou"]["verdict"] == claims.NOT_RESOLVED  # [-0.011, +0.018] leaves the margin
    assert list(lever.both["group"]) == ["plateau"] * 3 + ["cosine"] * 3
    with pytest.raises(ValueError, match="the lever runs do not change loss against the reference runs; they "
                                         "change lr_schedule"):
        levers.lever_against(plateau, cosine, "loss")
