"""Measured numbers against the targets of studies.yml: test IoU (seeds, minutes) and benchmark ratios."""

from __future__ import annotations

import pandas as pd

from mitolib.report import targets


def test_target_verdict_waits_for_the_seeds_the_target_is_a_mean_over():
    goal = {"test_iou": 0.85, "seeds": 3}
    assert targets.target_verdict(0.856, 1, goal) == ("is 0.0060 above it on 1 of the 3 seeds the target is a "
                                                        "mean over, so not judged yet")
    assert targets.target_verdict(0.8475, 2, goal).startswith("is 0.0025 below it on 2 of the 3 seeds")
    assert targets.target_verdict(0.856, 3, goal) == "meets it by 0.0060"
    assert targets.target_verdict(0.848, 3, goal) == "is 0.0020 short of it"
    assert targets.target_verdict(0.848, 1, {"test_iou": 0.85}) == "is 0.0020 short of it"
    assert targets.target_verdict(0.8498, 3, goal) == "is 0.0002 short of it"  # not "0.000 short"


def test_target_check_needs_the_seeds_the_mean_and_every_runs_time():
    goal = {"test_iou": 0.85, "train_minutes": 15, "seeds": 3}
    assert targets.target_check([0.851, 0.854, 0.849], [10.3, 11.6, 10.9], goal) == (
        True, "meets it by 0.0013; its slowest run trained 11.6 minutes against the 15 allowed")
    assert targets.target_check([0.851, 0.854, 0.849], [10.3, 16.0, 10.9], goal) == (
        False, "meets it by 0.0013; its slowest run trained 16.0 minutes against the 15 allowed, over the limit, so "
               "the target is missed on time")
    assert targets.target_check([0.84, 0.85, 0.845], [10, 11, 12], goal) == (
        False, "is 0.0050 short of it; its slowest run trained 12.0 minutes against the 15 allowed")
    assert targets.target_check([0.86], [10], goal)[0] is False  # one seed of three: not judged
    assert targets.target_check([0.86], [], {"test_iou": 0.85}) == (True, "meets it by 0.0100")
    assert targets.target_check([], [], goal) == (False, "cannot be checked: no run has a test IoU")


def _long_runs(values, architecture="unet", improving=(False, False, False)):
    return pd.DataFrame({"architecture": architecture, "seed": [0, 1, 2][:len(values)], "test_iou": values,
                         "train_seconds": [3000.0, 3100.0, 3200.0][:len(values)],
                         "best_epoch": [72 if still else 60 for still in improving][:len(values)],
                         "epochs_run": [72] * len(values)})


def test_longer_recipe_text_judges_the_target_and_pairs_with_the_shorter_recipe():
    goal = {"test_iou": 0.87, "train_minutes": 60, "seeds": 3}
    longer = _long_runs([0.870, 0.875, 0.880], improving=(True, False, False))
    shorter = pd.concat([_long_runs([0.850, 0.853, 0.857]), _long_runs([0.9, 0.9, 0.9], "attention_unet")])
    text = targets.longer_recipe_text(longer, shorter, ("cpu_long", "cpu"), goal)
    assert text.startswith("unet: test IoU 0.875 ± 0.005 over 3 seed(s) against the `cpu_long` target of 0.87: the mean "
                           "meets it by 0.0050; its slowest run trained 53.3 minutes against the 60 allowed; 1 of 3 "
                           "run(s) were still improving at their last epoch.")
    # paired with the unet runs only: differences 0.020, 0.022, 0.023
    assert "Paired with the `cpu` runs of the same architecture and seeds" in text
    assert "+0.022 [" in text and text.endswith("which raises the test IoU.")


def test_longer_recipe_text_without_a_shorter_run_to_pair_with():
    goal = {"test_iou": 0.87}
    text = targets.longer_recipe_text(_long_runs([0.86]), _long_runs([0.85], "attention_unet"), ("cpu_long", "cpu"),
                                        goal)
    assert text.endswith("No `cpu` run of this architecture is collected to pair with.")
    assert "is 0.0100 short of it" in text


def test_longer_recipe_text_goes_architecture_by_architecture_and_orders_them():
    goal = {"test_iou": 0.87, "train_minutes": 60, "seeds": 3}
    longer = pd.concat([_long_runs([0.860, 0.865, 0.862]), _long_runs([0.875, 0.880, 0.878], "attention_unet")])
    shorter = _long_runs([0.850, 0.853, 0.857])
    text = targets.longer_recipe_text(longer, shorter, ("cpu_long", "cpu"), goal, label=str.upper)
    unet, attention = text.split(" ATTENTION_UNET: ")
    assert unet.startswith("UNET: test IoU 0.862 ± 0.003") and "is 0.0077 short of it" in unet
    assert "Paired with the `cpu` runs" in unet
    assert "meets it by 0.0077" in attention and "No `cpu` run of this architecture" in attention
    assert text.endswith("Between the architectures under `cpu_long`, by the claims rule: ATTENTION_UNET, above UNET.")


def test_speed_target_table_checks_each_architecture_against_each_target():
    table = pd.DataFrame({
        "width": ["cpu"] * 6 + ["original"] * 2,
        "architecture": ["unet", "unet", "unet", "attention_unet", "attention_unet", "attention_unet", "unet", "unet"],
        "variant": ["baseline", "project", "mixed"] * 2 + ["project", "mixed"],
        "speed_ratio_median": [None, 0.91, 1.43, None, 1.03, 1.62, 1.05, 2.48],
        "speed_ratio_min": [None, 0.85, 1.40, None, 1.00, 1.55, 1.00, 2.40]})
    checks = targets.speed_target_table(table, {"best": 1.5, "plain": 1.0})
    rows = {(r.width, r.architecture, r.configuration): r for r in checks.itertuples()}
    assert len(checks) == 6
    assert rows["cpu", "unet", "fastest"].variant == "mixed" and not rows["cpu", "unet", "fastest"].met
    assert rows["cpu", "unet", "plain"].ratio == 0.91 and rows["cpu", "unet", "plain"].lowest_round == 0.85
    assert rows["cpu", "attention_unet", "fastest"].met and rows["original", "unet", "fastest"].ratio == 2.48
    ceiling = pd.DataFrame({"width": ["original"], "architecture": ["unet"], "variant": [targets.CEILING_VARIANT],
                            "speed_ratio_median": [9.0]})  # no input work: a bound, never the fastest configuration
    with_ceiling = targets.speed_target_table(pd.concat([table, ceiling]), {"best": 1.5, "plain": 1.0})
    assert with_ceiling["ratio"].max() == 2.48
    assert targets.speed_target_table(table.iloc[:0], {"best": 1.5}).empty


