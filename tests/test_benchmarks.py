"""The benchmark harness: FLOP counting, pairwise ratios, plans, reports, and a ``--quick`` run end to end.

No test asserts a timing: only that the numbers are computed as documented and written where expected.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from benchmarks import flops, machine, plan, report, stats, summary

PROJECT_ROOT = Path(__file__).resolve().parent.parent

QUICK_TIMEOUT_S = 900
CPUINFO_SAMPLE = """processor\t: 0
model name\t: Example CPU 9000 @ 2.0GHz
flags\t\t: fpu avx2 fma avx512f avx512_bf16
physical id\t: 0
core id\t\t: 0

processor\t: 1
model name\t: Example CPU 9000 @ 2.0GHz
flags\t\t: fpu avx2 fma avx512f avx512_bf16
physical id\t: 0
core id\t\t: 0

processor\t: 2
model name\t: Example CPU 9000 @ 2.0GHz
flags\t\t: fpu avx2 fma avx512f avx512_bf16
physical id\t: 0
core id\t\t: 1
"""


@pytest.fixture(autouse=True)
def _clear_session():
    yield
    keras.backend.clear_session()


# --------------------------------------------------------------------------- FLOPs
def test_flop_counter_matches_a_hand_count():
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(3, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)  # not counted
    x = keras.layers.Conv2DTranspose(4, 2, strides=2, name="up")(x)
    model = keras.Model(inputs, x)
    conv = 2 * 3 * 3 * 2 * 3 * 8 * 8  # 2 k k C_in C_out H_out W_out
    up = 2 * 2 * 2 * 3 * 4 * 8 * 8    # 2 k k C_in C_out H_in W_in (stride 2: 16 x 16 outputs)
    assert flops.count_forward_flops(model) == {"conv": conv, "up": up}
    assert flops.forward_flops(model) == conv + up
    assert flops.training_flops(model) == flops.TRAINING_FACTOR * (conv + up)


def test_flop_counter_counts_dense_layers_per_position():
    inputs = keras.Input((5, 7))
    model = keras.Model(inputs, keras.layers.Dense(4, name="dense")(inputs))
    assert flops.forward_flops(model) == 2 * 7 * 4 * 5


def test_flop_counter_needs_a_static_shape():
    inputs = keras.Input((None, None, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, padding="same")(inputs))
    with pytest.raises(ValueError, match="fixed input size"):
        flops.forward_flops(model)


def test_flop_counter_on_the_study_unet():
    from mitolib.model.architectures import build_model

    side, base = 32, 4
    model = build_model("unet", input_shape=(side, side, 1), base_filters=base, depth=2, batch_norm=True,
                        dropout=0.0, head_batch_norm=True, bn_momentum=0.99, fused_batch_norm=True)
    counts = flops.count_forward_flops(model)
    assert counts["unet_enc0_conv1"] == 2 * 3 * 3 * 1 * base * side * side
    assert counts["unet_head_conv"] == 2 * 1 * 1 * base * 1 * side * side
    assert sum(counts.values()) == flops.forward_flops(model)


# --------------------------------------------------------------------------- ratios
def test_ratio_is_the_median_of_pairwise_ratios():
    project, baseline = [2.0, 3.0, 8.0], [1.0, 1.0, 4.0]
    assert stats.paired_ratios(project, baseline) == [2.0, 3.0, 2.0]
    result = stats.ratio_summary(project, baseline)
    assert result == {"median": 2.0, "min": 2.0, "max": 3.0, "n": 3}
    assert result["median"] != stats.spread(project)["median"] / stats.spread(baseline)["median"]  # not 3 / 1


def test_ratios_skip_missing_pairs_and_check_lengths():
    assert stats.paired_ratios([1.0, None, math.nan, 4.0], [2.0, 1.0, 1.0, 0.0]) == [0.5]
    assert stats.ratio_summary([None], [1.0])["n"] == 0
    with pytest.raises(ValueError, match="as many"):
        stats.paired_ratios([1.0], [1.0, 2.0])


def _train_row(variant, round_, images_per_second, rss=2 * report.GIB):
    return {"kind": "train", "width": "cpu", "architecture": "unet", "variant": variant, "round": round_, "ok": True,
            "threads": None, "params": {"base_filters": 16}, "images_per_second": images_per_second,
            "pixels_per_second": images_per_second * 256**2, "peak_rss_bytes": rss, "peak_gpu_bytes": None,
            "data_bytes": 1024, "training_flops_per_image": 1e9, "achieved_flops_per_second": images_per_second * 1e9,
            "policy": "float32"}


def test_training_summary_pairs_by_round():
    rows = [_train_row("baseline", 0, 1.0), _train_row("project", 0, 2.0), _train_row("xla", 0, 4.0),
            _train_row("xla", 1, 3.0), _train_row("project", 1, 3.0), _train_row("baseline", 1, 1.0)]
    rows.append({**_train_row("baseline", 2, 0.0), "ok": False, "error": "boom"})
    rows.append(_train_row("project", 2, 9.0))  # its baseline failed: no pair
    rows = summary.summarize_training(rows, {"float32": 10e9})
    by_variant = {row["variant"]: row for row in rows}
    assert by_variant["baseline"]["failed"] == 1 and "speed_ratio_median" not in by_variant["baseline"]
    assert by_variant["project"]["speed_ratio_median"] == 2.5 and by_variant["project"]["speed_ratio_n"] == 2
    assert by_variant["xla"]["option_ratio_median"] == pytest.approx((2.0 + 1.0) / 2)
    assert by_variant["project"]["percent_of_peak"] == pytest.approx(100 * 3.0e9 / 10e9)


# --------------------------------------------------------------------------- report
def _results():
    training = [_train_row("baseline", 0, 1.0), _train_row("project", 0, 2.0),
                _train_row("project", 1, 3.0), _train_row("baseline", 1, 1.0)]
    described = machine.parse_cpuinfo(CPUINFO_SAMPLE)
    return {
        "label": "example", "device": "cpu", "created": "2000-01-01T00:00:00+00:00", "git_commit": "abc",
        "command": "python -m benchmarks.run", "wall_seconds": 60.0, "versions": {"keras": "3"},
        "machine": {"cpu_model": described["model"], "usable_cores": 2, "logical_cores": 2, "physical_cores": 2,
                    "cpu_flags": ["avx2"], "cpu_bf16": False, "memory_bytes": 2 * report.GIB, "python": "3",
                    "platform": "Linux"},
        "probe": {"gpus": []}, "load_average": {"start": [0.0, 0.0, 0.0], "end": [0.0, 0.0, 0.0]},
        "settings": {"quick": False, "profile": "cpu", "patches": 4, "patch_size": 256, "scale": 0.5,
                     "data_source": "synthetic", "batch_size": 8, "warmup": 2, "steps": {"cpu": 20}, "repeats": 2,
                     **{key: "text" for key in ("baseline", "project", "options", "memory", "flops", "peak",
                                                "evaluation")}},
        "flops": [{"architecture": "unet", "width": "cpu", "base_filters": 16, "channels": 1, "patch_size": 256,
                   "parameters": 1_950_000, "forward_flops_per_image": 1e9, "training_flops_per_image": 3e9,
                   "profiler_forward_flops_per_image": None}],
        "peak_flops_per_second": {"float32": 1e11},
        "training_summary": summary.summarize_training(training, {"float32": 1e11}),
        "evaluation_summary": summary.summarize_evaluation([
            {"tta": False, "round": 0, "ok": True, "seconds": 10.0, "slices_per_second": 16.5,
             "volume_shape": [165, 768, 1024], "peak_rss_bytes": report.GIB},
            {"tta": True, "round": 0, "ok": True, "seconds": 80.0, "slices_per_second": 2.0,
             "volume_shape": [165, 768, 1024], "peak_rss_bytes": report.GIB}]),
        "skipped": [{"what": "project + mixed precision", "reason": "no bf16"}], "failures": [],
    }


def test_markdown_has_the_ratio_column_and_values():
    text = report.render_markdown(_results())
    assert report.RATIO_COLUMN in text
    assert "| 2.5 [2–3] |" in text           # project / baseline, rounds 1 and 2
    assert "8 [8–8]" in text                 # TTA / no TTA time ratio
    assert "no bf16" in text and "Quick mode" not in text


def test_results_are_written_as_json_and_markdown(tmp_path):
    paths = report.write_results(_results(), tmp_path)
    assert {p.name for p in paths} == {"example.json", "example.md", "latest.json", "latest.md"}
    written = json.loads((tmp_path / "latest.json").read_text())
    assert written["training_summary"][1]["speed_ratio_median"] == 2.5


# --------------------------------------------------------------------------- machine and plan
def test_cpuinfo_parsing():
    info = machine.parse_cpuinfo(CPUINFO_SAMPLE)
    assert info["model"] == "Example CPU 9000 @ 2.0GHz"
    assert info["physical_cores"] == 2
    assert machine.has_bf16(info["flags"]) and not machine.has_bf16(["avx2"])
    label = machine.machine_label({"cpu_model": info["model"], "usable_cores": 3}, "cpu")
    assert label == "cpu-example-9000-3cores"
    xeon = {"cpu_model": "Intel(R) Xeon(R) Processor", "usable_cores": 2,
            "cpu_flags": ["avx2", "avx512_bf16", "amx_bf16"]}
    assert machine.machine_label(xeon, "cpu") == "cpu-intel-xeon-2cores-avx512-bf16-amx"
    epyc = {"cpu_model": "AMD EPYC 7B13 64-Core Processor", "usable_cores": 2, "cpu_flags": ["avx2", "fma"]}
    assert machine.machine_label(epyc, "cpu") == "cpu-amd-epyc-7b13-2cores"
    assert machine.machine_label({}, "gpu", ["NVIDIA H200"]) == "gpu-nvidia-h200"


def test_plan_interleaves_rounds_and_skips_what_the_machine_lacks():
    preset = plan.quick_preset()
    tasks = plan.training_tasks(preset, architectures=["unet"], widths=["cpu"], variants=["baseline", "project"],
                                device="cpu", threads=(2, 1), patches="patches.npz")
    assert [(t["variant"], t["round"]) for t in tasks] == [("baseline", 0), ("project", 0), ("project", 1),
                                                           ("baseline", 1)]
    assert tasks[0]["params"]["channels"] == 3 and tasks[1]["params"]["channels"] == 1
    assert plan.skip_reason(plan.VARIANTS["mixed"], "cpu", cpu_bf16=False)
    assert plan.skip_reason(plan.VARIANTS["mixed"], "cpu", cpu_bf16=True) is None
    assert plan.skip_reason(plan.VARIANTS["threads"], "gpu", cpu_bf16=False)
    mixed = plan.training_tasks(preset, architectures=["unet"], widths=["cpu"], variants=["mixed"], device="gpu",
                                threads=(2, 1), patches="p")
    assert mixed[0]["params"]["mixed_precision"] == "mixed_float16"
    with pytest.raises(ValueError, match="repeats"):
        plan.with_options(preset, repeats=0)
    assert plan.with_options(preset, steps=7).steps["cpu"] == 7


def test_full_preset_follows_the_cpu_profile():
    from mitolib.core.config import resolve_params

    cpu = resolve_params("cpu")
    preset = plan.full_preset()
    assert (preset.patch_size, preset.scale, preset.widths["cpu"]) == (cpu["patch_size"], cpu["scale"],
                                                                        cpu["base_filters"])
    assert preset.eval_window == cpu["eval_window"] and preset.eval_shape == (165, 768, 1024)
    assert set(preset.architectures) == set(plan.study_architectures())


# --------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_quick_run_writes_valid_results(tmp_path):
    command = [sys.executable, "-m", "benchmarks.run", "--quick", "--architectures", "unet",
               "--variants", "baseline,project", "--out", str(tmp_path), "--label", "test"]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=QUICK_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "test.json").read_text())
    assert json.loads((tmp_path / "latest.json").read_text()) == results
    for key in ("machine", "settings", "flops", "peaks", "training", "training_summary", "evaluation",
                "evaluation_summary", "results", "label", "device"):
        assert key in results
    assert results["settings"]["quick"] is True
    assert len(results["training"]) == 4 and all(row["ok"] for row in results["training"])
    assert {row["tta"] for row in results["evaluation"]} == {False, True}
    project = next(row for row in results["training_summary"] if row["variant"] == "project")
    assert project["speed_ratio_n"] == 2 and project["speed_ratio_median"] > 0
    assert results["flops"][0]["forward_flops_per_image"] > 0
    markdown = (tmp_path / "latest.md").read_text()
    assert report.RATIO_COLUMN in markdown and "Quick mode" in markdown


def test_serving_cost_times_each_pipeline_in_interleaved_rounds():
    import numpy as np

    from benchmarks import pipeline_parts

    images = np.zeros((6, 8, 8), np.uint8)
    masks = np.zeros((6, 8, 8), np.uint8)
    rows = pipeline_parts.serving_cost(images, masks, {"seed": 0})
    assert pipeline_parts.SERVING_ROUNDS == 3
    assert [row["augmentation"] for row in rows] == [True, False, False, True, True, False]  # order reversed each round
    assert all(row["kind"] == "serving" and row["patch"] == 8 and row["cpu_ms_per_batch"] >= 0 for row in rows)


def test_fit_arguments_of_each_pipeline():
    import numpy as np

    from benchmarks import training

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 8, 8), dtype=np.uint8)
    masks = (rng.random((6, 8, 8)) > 0.5).astype(np.uint8)
    params = {"channels": 1, "augmentation": True, "seed": 0}
    spec = {"params": params, "batch_size": 4, "warmup": 1, "steps": 4}

    numpy_args, numpy_bytes = training.fit_arguments({**spec, "pipeline": "numpy"}, images, masks)
    assert numpy_args["x"].shape == (6, 8, 8, 3) and numpy_args["x"].dtype == np.float64
    assert numpy_args["epochs"] == 3  # 5 steps of 2 batches per pass
    np.testing.assert_allclose(numpy_args["x"][..., 2], images / 255.0)
    assert numpy_bytes == 6 * 8 * 8 * 3 * 8 + 6 * 8 * 8 * 8

    fixed_args, fixed_bytes = training.fit_arguments({**spec, "pipeline": "fixed"}, images, masks)
    assert fixed_args["steps_per_epoch"] == 5 and fixed_bytes == images.nbytes + masks.nbytes
    batches = [b for _, b in zip(range(3), fixed_args["x"])]
    assert batches[0][0].shape == (4, 8, 8, 1)
    for image, mask in batches[1:]:  # the same batch every step: no input work
        np.testing.assert_array_equal(image.numpy(), batches[0][0].numpy())
        np.testing.assert_array_equal(mask.numpy(), batches[0][1].numpy())

    with pytest.raises(ValueError, match="use 'numpy', 'tfdata' or 'fixed'"):
        training.fit_arguments({**spec, "pipeline": "arrays"}, images, masks)
