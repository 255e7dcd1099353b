"""Measured numbers against the targets of studies.yml: test IoU (seeds, minutes) and benchmark ratios."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mitolib.report import targets, verdicts


def test_target_check_waits_for_the_seeds_the_target_is_a_mean_over():
    goal = {"test_iou": 0.85, "seeds": 3}
    one = targets.target_check([0.856], [], goal)
    assert (one.seeds, one.wanted, one.judged, one.met, one.verdict) == (1, 3, False, False, verdicts.TARGET_NOT_JUDGED)
    assert one.gap == pytest.approx(0.006)
    assert targets.target_check([0.856, 0.857, 0.855], [], goal).verdict == verdicts.TARGET_MET
    short = targets.target_check([0.848, 0.848, 0.848], [], goal)
    assert short.verdict == verdicts.TARGET_MISSED and short.gap == pytest.approx(-0.002)
    assert targets.target_check([0.848], [], {"test_iou": 0.85}).verdict == verdicts.TARGET_MISSED  # one seed wanted


def test_target_check_needs_the_seeds_the_mean_and_every_runs_time():
    goal = {"test_iou": 0.85, "train_minutes": 15, "seeds": 3}
    met = targets.target_check([0.851, 0.854, 0.849], [10.3, 11.6, 10.9], goal)
    assert met.met and met.verdict == verdicts.TARGET_MET
    assert (met.slowest_minutes, met.limit_minutes) == (11.6, 15.0) and met.gap == pytest.approx(0.004 / 3)
    slow = targets.target_check([0.851, 0.854, 0.849], [10.3, 16.0, 10.9], goal)
    assert not slow.met and slow.over_time and slow.verdict == verdicts.TARGET_OVER_TIME
    short = targets.target_check([0.84, 0.85, 0.845], [10, 11, 12], goal)
    assert not short.met and not short.over_time and short.verdict == verdicts.TARGET_MISSED
    assert targets.target_check([0.86], [10], goal).met is False  # one seed of three: not judged
    alone = targets.target_check([0.86], [], {"test_iou": 0.85})
    assert alone.met and math.isnan(alone.limit_minutes) and math.isnan(alone.slowest_minutes)
    empty = targets.target_check([], [], goal)
    assert not empty.met and empty.verdict == verdicts.TARGET_NOT_JUDGED and math.isnan(empty.mean)


def _long_runs(values, architecture="unet", improving=(False, False, False)):
    return pd.DataFrame({"architecture": architecture, "seed": [0, 1, 2][:len(values)], "test_iou": values,
                         "train_seconds": [3000.0, 3100.0, 3200.0][:len(values)],
                         "best_epoch": [72 if still else 60 for still in improving][:len(values)],
                         "epochs_run": [72] * len(values)})


def test_longer_recipe_table_judges_the_target_and_pairs_with_the_shorter_recipe():
    goal = {"test_iou": 0.87, "train_minutes": 60, "seeds": 3}
    longer = pd.concat([_long_runs([0.870, 0.875, 0.880], improving=(True, False, False)),
                        _long_runs([0.860, 0.865, 0.862], "attention_unet")])
    shorter = pd.concat([_long_runs([0.850, 0.853, 0.857]), _long_runs([0.9], "resunet")])
    table = targets.longer_recipe_table(longer, shorter, goal).set_index("architecture")
    unet = table.loc["unet"]
    assert (unet["seeds"], unet["verdict"], unet["still_improving"], unet["pairs"]) == (3, verdicts.TARGET_MET, 1, 3)
    assert unet["mean"] == pytest.approx(0.875) and unet["gap"] == pytest.approx(0.005)
    # paired differences 0.020, 0.022, 0.023: the interval excludes zero
    assert unet["difference"] == pytest.approx(0.065 / 3) and unet["low"] > 0 and unet["effect"] == "raises"
    attention = table.loc["attention_unet"]  # no shorter run of this architecture to pair with
    assert attention["verdict"] == verdicts.TARGET_MISSED and attention["pairs"] == 0
    assert attention["effect"] == verdicts.NO_INTERVAL and math.isnan(attention["difference"])
    assert math.isnan(unet["object_f1"]) and math.isnan(unet["count_ratio"])  # the runs recorded no objects


def test_longer_recipe_table_judges_the_objects_the_target_asks_for():
    goal = {"test_iou": 0.87, "train_minutes": 60, "seeds": 3, "object_f1_50": 0.85, "count_error": 0.10}
    runs = _long_runs([0.880, 0.885, 0.890]).assign(object_f1_50=[0.80, 0.84, 0.82],
                                                    count_ratio=[40 / 47, 42 / 47, 44 / 47])
    row = targets.longer_recipe_table(runs, runs.iloc[:0], goal).iloc[0]
    assert row["object_f1"] == pytest.approx(0.82) and row["count_ratio"] == pytest.approx(42 / 47)
    assert row["gap"] == pytest.approx(0.015) and row["verdict"] == verdicts.TARGET_MISSED  # IoU met, F1 short
    fine = runs.assign(object_f1_50=[0.86, 0.88, 0.87], count_ratio=[45 / 47, 47 / 47, 49 / 47])
    assert targets.longer_recipe_table(fine, runs.iloc[:0], goal).iloc[0]["verdict"] == verdicts.TARGET_MET


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




def test_an_object_target_needs_the_object_numbers_and_meets_them():
    goal = {"test_iou": 0.87, "seeds": 3, "object_f1_50": 0.85, "count_error": 0.10}
    scores = [0.88, 0.89, 0.90]
    unrecorded = targets.target_check(scores, [], goal, objects=pd.DataFrame({"test_iou": scores}))
    assert unrecorded.verdict == verdicts.TARGET_NOT_JUDGED and not unrecorded.met and math.isnan(unrecorded.object_f1)
    good = pd.DataFrame({"object_f1_50": [0.86, 0.88, 0.87], "count_ratio": [1.05, 0.95, 1.06]})
    met = targets.target_check(scores, [], goal, objects=good)
    assert met.met and met.verdict == verdicts.TARGET_MET
    assert met.object_f1 == pytest.approx(0.87) and met.count_ratio == pytest.approx(1.02)
    fragments = good.assign(count_ratio=[1.9, 1.8, 2.0])  # twice the true count: the fragments of a 2-D model
    assert targets.target_check(scores, [], goal, objects=fragments).verdict == verdicts.TARGET_MISSED
    low_iou = targets.target_check([0.85, 0.85, 0.85], [], goal)  # the IoU misses: no object numbers needed
    assert low_iou.verdict == verdicts.TARGET_MISSED
