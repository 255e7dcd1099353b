"""Page tables from hand-made runs: this book's rows beside the published figures."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mitolib import summaries


def test_own_rows_state_the_protocol_the_runs_used():
    runs = pd.DataFrame({"architecture": ["unet", "unet", "attention_unet"], "seed": [0, 1, 0],
                         "test_iou": [0.84, 0.86, 0.80], "base_filters": 16, "scale": 0.5, "tta": False,
                         "z_median": 5, "tune_threshold": True, "threshold": 0.5})
    rows = summaries.own_rows(runs, "seeds", "cpu").set_index("label")
    unet = rows.loc["this book: U-Net (2 seeds)"]
    assert unet["value"] == "0.850 ± 0.014"
    assert unet["method"] == "2D U-Net, base 16 filters, trained at scale 0.5"
    assert unet["protocol"] == ("foreground IoU over the whole test volume at full resolution, threshold chosen on "
                                "the validation slices, median over 5 slices of the probabilities; mean ± sd over seeds")
    assert unet["source"] == "results/cpu/seeds/runs.csv"
    plain = summaries.own_rows(runs.assign(z_median=1, tune_threshold=False, tta=True), "seeds", "cpu")
    assert plain["protocol"].iloc[0].startswith("foreground IoU over the whole test volume at full resolution, "
                                                "threshold 0.5, 8-fold TTA")
    assert list(plain["label"]) == ["this book: U-Net (2 seeds)", "this book: Attention U-Net (1 seed)"]


def test_benchmark_machines_summarise_each_committed_run(tmp_path):
    import json

    def summary(arch, variant, ratio, peak):
        return {"architecture": arch, "variant": variant, "width": "cpu", "speed_ratio_median": ratio,
                "percent_of_peak": peak}

    run = {"created": "2026-12-02T04:00:00+00:00",
           "machine": {"cpu_model": "AMD EPYC", "usable_cores": 2, "cpu_flags": ["avx2", "avx512_bf16"],
                       "cpu_bf16": True},
           "training_summary": [summary("unet", "baseline", None, 40), summary("unet", "project", 1.02, 41),
                                summary("unet", "mixed", 1.35, 46), summary("attention_unet", "project", 0.90, 35),
                                summary("attention_unet", "mixed", 1.20, 40)]}
    (tmp_path / "new.json").write_text(json.dumps(run))
    (tmp_path / "latest.json").write_text(json.dumps(run))  # a copy of the newest: not listed twice
    (tmp_path / "old.json").write_text(json.dumps({**run, "created": "2026-11-28", "training_summary": [
        summary("unet", "project", 0.8, 40), summary("unet", "xla", 1.2, 50)]}))
    table = summaries.benchmark_machines(tmp_path)
    assert list(table["benchmark"]) == ["`new.json`", "`old.json`"]
    new = table.iloc[0]
    assert new["machine"] == "AMD EPYC, 2 cores (avx2, avx512_bf16; bfloat16 unit: yes)"
    assert new["project / original"] == "0.96x (lowest 0.90x)"
    assert new["fastest configuration"] == "mixed" and new["fastest / original"] == "1.27x (lowest 1.20x)"
    assert new["% of peak (fastest)"] == "43"
    assert table.iloc[1]["fastest configuration"] == "xla"


def test_same_training_pairs_compare_the_validation_curves_of_identical_trainings(tmp_path):
    from mitolib.book import StudyResults
    from mitolib.config import load_config

    defaults = load_config()["defaults"]

    def study(name, runs, curves):
        table = pd.DataFrame([{**defaults, "device": "CPU: test", "status": "done", **run} for run in runs])
        history = pd.DataFrame([{"run_id": run_id, "epoch": epoch + 1, "metric": "iou", "split": "val", "value": v}
                                for run_id, values in curves.items() for epoch, v in enumerate(values)])
        return StudyResults(name, "cpu", tmp_path, table, history, pd.DataFrame())

    a = study("recipe", [{"run_id": "plain_seed-0", "seed": 0}, {"run_id": "plain_seed-1", "seed": 1}],
              {"plain_seed-0": [0.5, 0.7], "plain_seed-1": [0.4, 0.6]})
    b = study("seeds", [{"run_id": "unet_seed-0", "seed": 0, "z_median": 5, "tune_threshold": True},
                        {"run_id": "unet_seed-1", "seed": 1, "epochs": 99}],  # another training: not paired
              {"unet_seed-0": [0.5, 0.75], "unet_seed-1": [0.4, 0.6]})
    pairs = summaries.same_training_pairs({"recipe": a, "seeds": b})
    assert pairs[["run_a", "run_b", "epochs"]].values.tolist() == [["plain_seed-0", "unet_seed-0", 2]]
    assert pairs["max_difference"].iloc[0] == pytest.approx(0.05)
    assert summaries.same_training_text(pairs) == (
        "1 pair of runs in different studies (`recipe` and `seeds`) was trained with every training setting and "
        "the seed the same, and differs only in test-time settings. Their validation IoU curves (2 epochs each) "
        "are within 0.05 of each other at every epoch.")
    assert summaries.same_training_pairs({"recipe": a}).empty


def test_machines_text_names_which_group_trained_where():
    done = pd.DataFrame({"architecture": ["unet", "unet", "attention_unet", "attention_unet"],
                         "device": ["CPU: A", "CPU: A", "CPU: B", "CPU: B"]})
    text = summaries.machines_text(done, "architecture", str.upper)
    assert text.startswith("The runs did not all train on one machine: UNET on CPU: A; ATTENTION_UNET on CPU: B.")
    assert "not the compared setting's alone" in text


def test_machines_text_says_when_every_pair_trained_on_one_machine():
    done = pd.DataFrame({"configuration": ["a", "b", "a", "b", "a", "b"], "seed": [0, 0, 1, 1, 2, 2],
                         "device": ["CPU: A", "CPU: A", "CPU: B", "CPU: B", "CPU: B", "CPU: B"]})
    assert summaries.machines_text(done, "configuration") == (
        "The runs trained on more than one machine, but the runs of each seed on one: seed 0 on CPU: A; seeds 1, 2 "
        "on CPU: B. Every paired difference compares runs of one machine.")
    mixed = done.assign(device=["CPU: A", "CPU: B", "CPU: B", "CPU: B", "CPU: B", "CPU: B"])
    assert summaries.machines_text(mixed, "configuration").startswith("The runs did not all train on one machine")


def test_machines_text_is_empty_on_one_machine_or_without_the_column():
    done = pd.DataFrame({"architecture": ["unet", "attention_unet"], "device": ["CPU: A", "CPU: A"]})
    assert summaries.machines_text(done, "architecture") == ""
    assert summaries.machines_text(done.drop(columns="device"), "architecture") == ""


def test_target_verdict_waits_for_the_seeds_the_target_is_a_mean_over():
    goal = {"test_iou": 0.85, "seeds": 3}
    assert summaries.target_verdict(0.856, 1, goal) == ("is 0.0060 above it on 1 of the 3 seeds the target is a "
                                                        "mean over, so not judged yet")
    assert summaries.target_verdict(0.8475, 2, goal).startswith("is 0.0025 below it on 2 of the 3 seeds")
    assert summaries.target_verdict(0.856, 3, goal) == "meets it by 0.0060"
    assert summaries.target_verdict(0.848, 3, goal) == "is 0.0020 short of it"
    assert summaries.target_verdict(0.848, 1, {"test_iou": 0.85}) == "is 0.0020 short of it"
    assert summaries.target_verdict(0.8498, 3, goal) == "is 0.0002 short of it"  # not "0.000 short"


def test_target_check_needs_the_seeds_the_mean_and_every_runs_time():
    goal = {"test_iou": 0.85, "train_minutes": 15, "seeds": 3}
    assert summaries.target_check([0.851, 0.854, 0.849], [10.3, 11.6, 10.9], goal) == (
        True, "meets it by 0.0013; its slowest run trained 11.6 minutes against the 15 allowed")
    assert summaries.target_check([0.851, 0.854, 0.849], [10.3, 16.0, 10.9], goal) == (
        False, "meets it by 0.0013; its slowest run trained 16.0 minutes against the 15 allowed, over the limit, so "
               "the target is missed on time")
    assert summaries.target_check([0.84, 0.85, 0.845], [10, 11, 12], goal) == (
        False, "is 0.0050 short of it; its slowest run trained 12.0 minutes against the 15 allowed")
    assert summaries.target_check([0.86], [10], goal)[0] is False  # one seed of three: not judged
    assert summaries.target_check([0.86], [], {"test_iou": 0.85}) == (True, "meets it by 0.0100")
    assert summaries.target_check([], [], goal) == (False, "cannot be checked: no run has a test IoU")


def _long_runs(values, architecture="unet", improving=(False, False, False)):
    return pd.DataFrame({"architecture": architecture, "seed": [0, 1, 2][:len(values)], "test_iou": values,
                         "train_seconds": [3000.0, 3100.0, 3200.0][:len(values)],
                         "best_epoch": [72 if still else 60 for still in improving][:len(values)],
                         "epochs_run": [72] * len(values)})


def test_longer_recipe_text_judges_the_target_and_pairs_with_the_shorter_recipe():
    goal = {"test_iou": 0.87, "train_minutes": 60, "seeds": 3}
    longer = _long_runs([0.870, 0.875, 0.880], improving=(True, False, False))
    shorter = pd.concat([_long_runs([0.850, 0.853, 0.857]), _long_runs([0.9, 0.9, 0.9], "attention_unet")])
    text = summaries.longer_recipe_text(longer, shorter, ("cpu_long", "cpu"), goal)
    assert text.startswith("unet: test IoU 0.875 ± 0.005 over 3 seed(s) against the `cpu_long` target of 0.87: the mean "
                           "meets it by 0.0050; its slowest run trained 53.3 minutes against the 60 allowed; 1 of 3 "
                           "run(s) were still improving at their last epoch.")
    # paired with the unet runs only: differences 0.020, 0.022, 0.023
    assert "Paired with the `cpu` runs of the same architecture and seeds" in text
    assert "+0.022 [" in text and text.endswith("which raises the test IoU.")


def test_longer_recipe_text_without_a_shorter_run_to_pair_with():
    goal = {"test_iou": 0.87}
    text = summaries.longer_recipe_text(_long_runs([0.86]), _long_runs([0.85], "attention_unet"), ("cpu_long", "cpu"),
                                        goal)
    assert text.endswith("No `cpu` run of this architecture is collected to pair with.")
    assert "is 0.0100 short of it" in text


def test_longer_recipe_text_goes_architecture_by_architecture_and_orders_them():
    goal = {"test_iou": 0.87, "train_minutes": 60, "seeds": 3}
    longer = pd.concat([_long_runs([0.860, 0.865, 0.862]), _long_runs([0.875, 0.880, 0.878], "attention_unet")])
    shorter = _long_runs([0.850, 0.853, 0.857])
    text = summaries.longer_recipe_text(longer, shorter, ("cpu_long", "cpu"), goal, label=str.upper)
    unet, attention = text.split(" ATTENTION_UNET: ")
    assert unet.startswith("UNET: test IoU 0.862 ± 0.003") and "is 0.0077 short of it" in unet
    assert "Paired with the `cpu` runs" in unet
    assert "meets it by 0.0077" in attention and "No `cpu` run of this architecture" in attention
    assert text.endswith("Between the architectures under `cpu_long`, by the claims rule: ATTENTION_UNET, above UNET.")


def test_speed_target_text_names_the_architectures_below_each_target():
    table = pd.DataFrame({
        "width": ["cpu"] * 6 + ["original"] * 2,
        "architecture": ["unet", "unet", "unet", "attention_unet", "attention_unet", "attention_unet", "unet", "unet"],
        "variant": ["baseline", "project", "mixed"] * 2 + ["project", "mixed"],
        "speed_ratio_median": [None, 0.91, 1.43, None, 1.03, 1.62, 1.05, 2.48]})
    text = summaries.speed_target_text(table, {"best": 1.5, "plain": 1.0})
    assert text == ("cpu width: the fastest configuration of each architecture reaches 1.43x–1.62x, below the 1.5x "
                    "target for U-Net (1.43x); the plain project pipeline reaches 0.91x–1.03x, below the 1.0x target "
                    "for U-Net (0.91x); original width: the fastest configuration of each architecture reaches "
                    "2.48x–2.48x, every architecture at the 1.5x target; the plain project pipeline reaches "
                    "1.05x–1.05x, every architecture at the 1.0x target")
    assert summaries.speed_target_text(table, {}).startswith("cpu width: the fastest configuration of each "
                                                             "architecture reaches 1.43x–1.62x; the plain")
    assert summaries.speed_target_text(table.iloc[:0], {"best": 1.5}) == "the benchmark holds no training ratios"


def test_floor_epochs_find_where_the_schedule_reached_its_floor():
    done = pd.DataFrame({"run_id": ["a", "b"], "min_learning_rate": [1e-5, 1e-5]})
    rates = {"a": [1e-3, 5e-4, 1.0000000656873453e-05, 1e-5], "b": [1e-3, 1e-3, 5e-4, 2.5e-4]}  # a: float32 floor
    history = pd.DataFrame([(run, epoch + 1, "learning_rate", "", value) for run, values in rates.items()
                            for epoch, value in enumerate(values)] + [("a", 1, "val_iou", "val", 1e-6)],
                           columns=["run_id", "epoch", "metric", "split", "value"])
    floors = summaries.floor_epochs(done, history)
    assert floors["a"] == 3 and math.isnan(floors["b"])
