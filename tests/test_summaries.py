"""Page tables from hand-made runs: this book's rows beside the published figures."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mitolib.core import claims
from mitolib.report import summaries


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

    (tmp_path / "plain.json").write_text(json.dumps({**run, "created": "2026-11-20", "training_summary": [
        summary("unet", "baseline", None, 40), summary("unet", "project", 1.04, 41),
        summary("unet", "fixed", 1.10, 43)]}))  # no input work: a bound, not an option
    plain = summaries.benchmark_machines(tmp_path).iloc[2]  # the two pipelines alone: no fastest option
    assert plain["benchmark"] == "`plain.json`" and plain["project / original"] == "1.04x (lowest 1.04x)"
    assert plain["fastest configuration"] == plain["fastest / original"] == "– (no option measured)"


def test_pipeline_comparison_pairs_the_rounds_on_log_speed(tmp_path):
    import json

    def rounds(width, arch, variant, speeds):
        return [{"width": width, "architecture": arch, "variant": variant, "round": r, "images_per_second": v}
                for r, v in enumerate(speeds)]

    run = {"training": rounds("cpu", "unet", "baseline", [10.0, 10.0]) + rounds("cpu", "unet", "project", [10.0, 12.1])
           + rounds("cpu", "unet", "mixed", [20.0, 20.0])  # an option: not part of the comparison
           + rounds("original", "unet", "baseline", [2.0, 2.0, 4.0]) + rounds("original", "unet", "project",
                                                                              [2.2, 2.2, 4.4])
           + rounds("original", "attention_unet", "project", [1.0])}  # no baseline: skipped
    (tmp_path / "run.json").write_text(json.dumps(run))
    (tmp_path / "latest.json").write_text(json.dumps(run))  # a copy of the newest: not listed twice
    table = summaries.pipeline_comparison(tmp_path)
    assert table[["width", "architecture", "rounds"]].values.tolist() == [["cpu", "U-Net", 2], ["original", "U-Net", 3]]
    cpu, original = table.iloc[0], table.iloc[1]
    # ratios 1.0 and 1.21: geometric mean 1.1; log interval 0.0953 +- 12.706 * 0.1348 / sqrt(2)
    assert cpu["project / original"] == "1.10x" and cpu["95% interval"] == "0.33x–3.69x"
    assert cpu["verdict"] == claims.NOT_RESOLVED
    # ratios 1.1, 1.1, 1.1: no spread, so the interval is the point and excludes 1
    assert original["project / original"] == "1.10x" and original["95% interval"] == "1.10x–1.10x"
    assert original["verdict"] == "faster"

    fixed = {"training": rounds("cpu", "unet", "fixed", [11.0, 12.1]) + run["training"]}
    (tmp_path / "run.json").write_text(json.dumps(fixed))
    cost = summaries.pipeline_comparison(tmp_path, variant="project", reference="fixed")
    assert cost[["width", "rounds", "project / fixed"]].values.tolist() == [["cpu", 2, "0.95x"]]  # sqrt(10/11 * 1)
    ceiling = summaries.pipeline_comparison(tmp_path, variant="fixed")
    assert ceiling["fixed / original"].tolist() == ["1.15x"]  # sqrt(1.1 * 1.21)


def test_same_training_pairs_compare_the_validation_curves_of_identical_trainings(tmp_path):
    from mitolib.report.pages import StudyResults
    from mitolib.core.config import load_config

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
    assert summaries.same_training_pairs({"recipe": a}).empty


def test_machines_count_the_kinds_and_the_pairs_on_one_machine():
    done = pd.DataFrame({"configuration": ["a", "b", "a", "b", "a", "b"], "seed": [0, 0, 1, 1, 2, 2],
                         "device": ["CPU: A", "CPU: A", "CPU: B", "CPU: B", "CPU: B", "CPU: B"]})
    record = summaries.machines(done)
    assert (record.kinds, record.pairs, record.pairs_on_one_machine, record.devices) == (2, 3, 3, "CPU: A / CPU: B")
    assert not record.one_machine
    mixed = summaries.machines(done.assign(device=["CPU: A", "CPU: B", "CPU: B", "CPU: B", "CPU: B", "CPU: B"]))
    assert (mixed.kinds, mixed.pairs_on_one_machine) == (2, 2)
    alike = summaries.machines(done.assign(device="CPU: A"))
    assert alike.one_machine and alike.pairs_on_one_machine == 3
    unrecorded = summaries.machines(done.drop(columns="device"))
    assert (unrecorded.kinds, unrecorded.pairs, unrecorded.devices) == (0, 3, "")


def test_machines_count_only_the_pairs_with_every_side():
    done = pd.DataFrame({"profile": ["long", "short", "long", "short", "short"], "seed": [0, 0, 1, 1, 2],
                         "device": ["CPU: A", "CPU: B", "CPU: A", "CPU: A", "CPU: C"]})
    record = summaries.machines(done, side="profile")  # seed 2 has a short run only: no pair, its machine unread
    assert (record.kinds, record.pairs, record.pairs_on_one_machine, record.devices) == (2, 2, 1, "CPU: A / CPU: B")
    assert summaries.machines(done).pairs == 3
    assert summaries.machines(done.iloc[:0], side="profile").pairs == 0


def test_floor_epochs_find_where_the_schedule_reached_its_floor():
    done = pd.DataFrame({"run_id": ["a", "b"], "min_learning_rate": [1e-5, 1e-5]})
    rates = {"a": [1e-3, 5e-4, 1.0000000656873453e-05, 1e-5], "b": [1e-3, 1e-3, 5e-4, 2.5e-4]}  # a: float32 floor
    history = pd.DataFrame([(run, epoch + 1, "learning_rate", "", value) for run, values in rates.items()
                            for epoch, value in enumerate(values)] + [("a", 1, "val_iou", "val", 1e-6)],
                           columns=["run_id", "epoch", "metric", "split", "value"])
    floors = summaries.floor_epochs(done, history)
    assert floors["a"] == 3 and math.isnan(floors["b"])


def test_own_rows_add_the_raw_prediction_beside_the_post_processed_one():
    """Like for like with published figures that use no post-processing: the raw row is read from
    postprocessing.csv (z-median 1, threshold 0.5)."""
    runs = pd.DataFrame({"run_id": ["a", "b"], "architecture": "unet", "seed": [0, 1], "test_iou": [0.85, 0.86],
                         "base_filters": 16, "scale": 0.5, "tta": False, "z_median": 5, "tune_threshold": True,
                         "threshold": 0.5})
    post = pd.DataFrame({"run_id": ["a", "a", "b", "b"], "z_median": [1, 5, 1, 5],
                         "threshold_source": ["fixed", "validation", "fixed", "validation"],
                         "test_iou": [0.84, 0.85, 0.84, 0.86]})
    rows = summaries.own_rows(runs, "seeds", "cpu", post).set_index("label")
    raw = rows.loc["this book: U-Net (2 seeds), raw"]
    assert raw["value"] == "0.840 ± 0.000" and "no post-processing" in raw["protocol"]
    assert raw["source"] == "results/cpu/seeds/postprocessing.csv"
    assert rows.loc["this book: U-Net (2 seeds)", "value"] == "0.855 ± 0.007"


def test_architecture_pairs_rank_by_mean_and_flag_the_machine():
    done = pd.DataFrame({"architecture": ["unet"] * 3 + ["attention_unet"] * 3 + ["attention_resunet"] * 3,
                         "seed": [0, 1, 2] * 3,
                         "test_iou": [0.850, 0.852, 0.851, 0.855, 0.857, 0.856, 0.840, 0.845, 0.838],
                         "device": ["A"] * 3 + ["B"] * 3 + ["A"] * 3})
    pairs = summaries.architecture_pairs(done)
    assert pairs[["group", "reference"]].values.tolist() == [["attention_unet", "unet"], ["unet", "attention_resunet"]]
    assert pairs["difference"].tolist() == pytest.approx([0.005, (0.010 + 0.007 + 0.013) / 3])
    assert pairs["resolved"].tolist() == [True, True]  # differences 0.005 each: zero spread
    assert pairs["same_machine"].tolist() == [False, True]  # B against A; A against A
