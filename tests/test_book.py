"""mitolib.report.pages and its neighbours: loading results, notices, tables, the figure registry, saved predictions, the lessons."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mitolib.report import evaluations, pages, figure_sources, lesson, notices, predictions, summaries
from mitolib.core import locations, rundir, tables
from test_book_fixtures import write_fixture_results



@pytest.fixture
def fixture_root(tmp_path, monkeypatch):
    write_fixture_results(tmp_path, predictions=False)
    monkeypatch.setenv(locations.RESULTS_ENV, str(tmp_path))
    monkeypatch.setenv(locations.BOOK_PROFILE_ENV, "smoke")
    return tmp_path


def test_defaults_for_profile_and_results_root(monkeypatch, tmp_path):
    monkeypatch.delenv(locations.BOOK_PROFILE_ENV, raising=False)
    monkeypatch.delenv(locations.RESULTS_ENV, raising=False)
    assert pages.book_profile() == "cpu"
    assert pages.results_root().name == "results"
    monkeypatch.setenv(locations.RESULTS_ENV, str(tmp_path))
    assert pages.study_dir("seeds", "smoke") == tmp_path.resolve() / "smoke" / "seeds"


def test_missing_results_name_the_commands(monkeypatch, tmp_path):
    monkeypatch.setenv(locations.RESULTS_ENV, str(tmp_path))
    with pytest.raises(pages.ResultsMissing) as error:
        pages.load_study("seeds", "cpu")
    message = str(error.value)
    assert "mitolib study run seeds --profile cpu && mitolib study collect seeds --profile cpu" in message
    with pytest.raises(pages.ResultsMissing):
        notices.notice("cpu")


def test_missing_columns_are_reported(fixture_root):
    path = fixture_root / "smoke" / "seeds" / rundir.HISTORY_TABLE
    pd.read_csv(path).drop(columns="split").to_csv(path, index=False)
    with pytest.raises(pages.ResultsMissing, match="lacks column"):
        pages.load_study("seeds")


def test_too_few_completed_runs_fail(fixture_root):
    path = fixture_root / "smoke" / "seeds" / rundir.RUNS_TABLE
    pd.read_csv(path).head(0).to_csv(path, index=False)
    with pytest.raises(pages.ResultsMissing, match="0 completed"):
        pages.load_study("seeds")


def test_failed_runs_come_back_with_their_parameters(fixture_root):
    grid = pages.load_study("hyperparameter_optimization")
    assert len(grid.done) == 35 and len(grid.failed) == 1
    failed = grid.failed.iloc[0]
    assert failed["status"] == "failed" and failed["architecture"] == "unet" and failed["batch_size"] == 32


def test_notices(fixture_root):
    results = pages.load_study("seeds")
    assert notices.provenance(results).kind == notices.FIXTURE
    results.provenance.pop("fixture")
    assert notices.provenance(results).kind == notices.SYNTHETIC
    real = pages.StudyResults("seeds", "cpu", results.path, results.runs.assign(data_source="epfl"),
                             results.history, results.test_slices, {"git_commit": "abc"})
    record = notices.provenance(real)
    assert (record.kind, record.data, record.commit, record.partial, record.dirty) == (
        notices.MEASURED, "epfl", "abc", False, 0)
    real.provenance["counts"] = {"planned": 9, "collected": 7}
    record = notices.provenance(real)
    assert record.partial and (record.collected, record.planned) == (7, 9)
    real.provenance["run_git_commits"] = ["a" * 40, "b" * 40 + "+dirty"]
    assert notices.uncommitted_code(real) == (1, 2)
    assert (notices.provenance(real).dirty, notices.provenance(real).versions) == (1, 2)
    box = notices.notice(real).data  # the shared box, filled: every field of the record that the state needs
    assert box.startswith(":::{note}") and "`results/cpu/seeds`" in box and "7" in box and "9" in box
    assert not pages.FIELD.search(box)  # no field left unfilled


def test_every_shared_box_fills_from_its_fields():
    templates = pages.admonition_templates()
    assert {notices.MEASURED, notices.SYNTHETIC, notices.FIXTURE, "missing", "not_drawn", "lesson"} <= set(templates)
    assert pages.box_fields("missing") == {"what", "command"}
    for name in templates:
        filled = pages.fill(name, **{field: "<x>" for field in pages.box_fields(name)})
        assert not pages.FIELD.search(filled)
    assert pages.fill("partial", collected=7, planned=9).count("7") == 1
    with pytest.raises(KeyError, match="no box"):
        pages.fill("no_such_box")
    with pytest.raises(KeyError, match="planned"):
        pages.fill("partial", collected=7)


def test_lesson_notice_without_results(monkeypatch, tmp_path):
    monkeypatch.setenv(locations.RESULTS_ENV, str(tmp_path))
    assert notices.notice("cpu", lesson=True).data.startswith(pages.fill("lesson"))


def test_metrics_at_best_epoch_picks_the_best_epoch(fixture_root):
    results = pages.load_study("bug_ablation")
    at_best = pages.metrics_at_best_epoch(results)
    assert set(at_best["metric"]) == set(pages.JACCARD_METRICS)
    assert len(at_best) == 3 * len(results.done)
    run = results.done.iloc[0]
    iou = at_best[(at_best["run_id"] == run["run_id"]) & (at_best["metric"] == "iou")]["value"].item()
    assert iou == pytest.approx(run["best_val_iou"])


def test_markdown_table_formats_and_escapes():
    frame = pd.DataFrame({"a": ["x|y"], "b": [0.12345], "c": [np.nan], "lr": [0.0005]})
    text = tables.markdown_table_source(frame, formats={"lr": "g"})
    assert text.splitlines()[0] == "| a | b | c | lr |"
    assert "x\\|y" in text and "0.123" in text and "–" in text and "0.0005" in text



def test_figure_sources_cover_the_registry(fixture_root):
    table = figure_sources.figure_sources()
    assert len(table) == len(figure_sources.FIGURES)
    row = table[table["figure"].str.contains("fig-predictions")].iloc[0]
    assert "not drawn" in row["figure"]  # no predictions were written for this fixture
    longer = table["figure"].str.contains("fig-long-schedule")
    fixed = table["figure"].str.contains("fig-logs-reproduced")  # its study runs under its own profile
    transcribed = table["study"] == "(transcribed)"
    assert table.loc[transcribed, "results"].tolist() == ["`book/data/original_histories.csv`"]
    assert table.loc[fixed, "figure"].tolist() == ["`fig-logs-reproduced` (not drawn: not collected)"]
    assert table.loc[fixed, "results"].tolist() == ["`results/original_0926/original_logs/`"]
    assert all(table.loc[(table["study"] != "(computed live)") & ~longer & ~fixed & ~transcribed, "results"]
               .str.startswith("`results/smoke/"))
    assert table.loc[longer, "figure"].tolist() == ["`fig-long-schedule` (not drawn: not collected)"]
    assert table.loc[longer, "results"].tolist() == ["`results/smoke_long/long_schedule/`"]  # the longer profile


def test_predictions_are_found_and_picked(tmp_path, monkeypatch):
    write_fixture_results(tmp_path, studies=("seeds",))
    monkeypatch.setenv(locations.RESULTS_ENV, str(tmp_path))
    results = pages.load_study("seeds", "smoke")
    run_id = predictions.example_run(results.runs)["run_id"].item()
    saved = predictions.saved_predictions(results, run_id)
    assert len(saved) == results.runs["synthetic_slices"].iloc[0]
    picks = predictions.example_slices(results, run_id)
    assert len(picks) == 3 and set(picks) <= set(saved)
    assert rundir.read_mask_png(saved[picks[0]]).dtype == bool
    assert predictions.run_params(results, run_id)["data_root"] == ""


def test_benchmark_report(tmp_path):
    assert summaries.benchmark_report(tmp_path).data.startswith(":::{note} Not drawn")
    (tmp_path / "latest.json").write_text(json.dumps({"results": [{"case": "a", "images_per_second": 6.2}]}))
    assert "| case | images_per_second |" in summaries.benchmark_report(tmp_path).data
    (tmp_path / "latest.md").write_text("# Benchmarks\n\ntext\n")
    assert summaries.benchmark_report(tmp_path).data.startswith("## Benchmarks")


def test_variant_settings_read_the_configuration():
    settings = summaries.variant_settings("bug_ablation").set_index("variant")
    assert settings.loc["mispaired", "settings"] == "`mispair: True`"
    assert settings.loc["corrected", "settings"] == ("(the corrected recipe) (`select_by_all_monitors: True` measures "
                                                     "more, trains the same)")
    assert "under `cpu`: `patch_size: 256`" in settings.loc["original_recipe", "settings"]


# --- the metric lesson ------------------------------------------------------------------------

def test_squeezing_keeps_the_thresholded_mask():
    truth, prob = lesson.disk_masks(8, 32, shift=1.0, seed=3)
    assert truth.dtype == np.uint8 and set(np.unique(truth)) <= {0, 1}
    for factor in (1.0, 0.5, 0.05):
        assert np.array_equal(lesson.squeeze(prob, factor) >= 0.5, prob >= 0.5)


def test_confidence_sweep_moves_only_the_soft_jaccard():
    truth, prob = lesson.disk_masks(8, 32, shift=1.0, seed=3)
    sweep = lesson.confidence_sweep(truth, prob, [1.0, 0.5, 0.1]).pivot(index="factor", columns="metric", values="value")
    assert sweep["iou"].nunique() == 1
    assert sweep["soft_jaccard"].is_monotonic_increasing  # index ascending: more confidence, higher


def test_empty_patches_inflate_per_batch_means_only():
    sweep = lesson.empty_patch_sweep([0.0, 0.9], n=32, size=32, batch_size=4, shift=2.0)
    table = sweep.pivot(index="empty_fraction", columns="metric", values="value")
    assert table.loc[0.9, "thresholded_jaccard"] > table.loc[0.0, "thresholded_jaccard"] + 0.1
    assert abs(table.loc[0.9, "iou"] - table.loc[0.0, "iou"]) < 0.1


def test_one_batch_of_everything_matches_the_iou_up_to_smoothing():
    truth, prob = lesson.disk_masks(8, 32, shift=1.0, seed=4)
    sweep = lesson.batch_size_sweep(truth, prob, [8]).set_index("metric")["value"]
    assert sweep["thresholded_jaccard"] == pytest.approx(sweep["iou"], abs=1e-3)


def test_loss_optimum_bce_is_calibrated_and_focal_is_not():
    q = [0.1, 0.5, 0.9]
    bce = lesson.loss_optimum(q, "bce")["prediction"].to_numpy()
    focal = lesson.loss_optimum(q, "focal", 2.0)["prediction"].to_numpy()
    assert np.allclose(bce, q, atol=1e-3)
    assert focal[0] > 0.15 and focal[2] < 0.85 and focal[1] == pytest.approx(0.5, abs=1e-3)


def test_bn_head_on_rare_foreground():
    p_fg, p_bg = lesson.bn_head_probabilities(0.05)
    assert p_bg == pytest.approx(1 / (1 + np.exp(np.sqrt(0.05 / 0.95))))
    assert 0.4 < p_bg < 0.5 < p_fg
    sweep = lesson.bn_head_sweep([0.05, 0.5]).pivot(index="foreground", columns="metric", values="value")
    assert (sweep["iou"] == 1.0).all() and sweep.loc[0.05, "soft_jaccard"] < 0.2


def test_constant_predictions_stay_below_the_foreground_fraction():
    truth, _ = lesson.disk_masks(8, 32, seed=5)
    sweep = lesson.constant_prediction_sweep(truth, [0.2, 0.6, 1.0])
    soft = sweep[sweep["metric"] == "soft_jaccard"]["value"]
    assert (soft <= truth.mean() + 1e-3).all()



def test_by_architecture_orders_rows_canonically():
    frame = pd.DataFrame({"architecture": ["attention_resunet", "unet", "other", "attention_unet", "unet"],
                          "v": range(5)})
    assert list(pages.by_architecture(frame)["architecture"]) == [
        "unet", "unet", "attention_unet", "attention_resunet", "other"]


def test_build_notice_is_empty_without_results(monkeypatch, tmp_path):
    monkeypatch.setenv(locations.RESULTS_ENV, str(tmp_path))
    assert notices.notice("cpu", required=False).data == ""


def test_option_check_pairs_runs_by_architecture_and_seed(tmp_path):
    before = tmp_path / "before.csv"
    pd.DataFrame({"architecture": ["unet", "unet", "unet"], "seed": [0, 1, 2], "status": ["done", "done", "failed"],
                  "jit_compile": [False] * 3, "test_iou": [0.80, 0.76, 0.70],
                  "train_seconds": [600.4, 610.6, 1.0]}).to_csv(before, index=False)
    after = pd.DataFrame({"architecture": ["unet", "unet", "unet", "attention_unet"], "seed": [0, 1, 2, 0],
                          "status": ["done"] * 4, "jit_compile": [True, False, True, True],
                          "test_iou": [0.79, 0.76, 0.72, 0.75], "train_seconds": [500.2, 600.0, 2.0, 3.0]})
    check = summaries.option_check(before, after, "jit_compile")
    # seed 1 kept the setting, seed 2 failed before, attention_unet has no earlier run: one pair is left
    assert check.to_dict("records") == [{
        "architecture": "unet", "seed": 0, "jit_compile before": False, "jit_compile after": True,
        "test IoU before": 0.80, "test IoU after": 0.79, "difference": pytest.approx(-0.01),
        "training s before": 600, "training s after": 500}]


def test_tta_gains_pair_each_run_with_its_latest_tta_evaluation(tmp_path):
    runs = pd.DataFrame({"run_id": ["a", "b", "c"], "architecture": ["unet", "unet", "attention_unet"],
                         "status": ["done", "done", "failed"], "test_iou": [0.80, 0.70, float("nan")],
                         "tta": [False, False, False], "eval_window": [512] * 3, "eval_overlap": [0.25] * 3,
                         "eval_batch_size": [8] * 3, "threshold": [0.5] * 3})
    results = pages.StudyResults("seeds", "cpu", tmp_path, runs, pd.DataFrame(), pd.DataFrame())
    assert evaluations.tta_gains(results).empty  # no evaluations.csv
    pd.DataFrame({"run_id": ["a", "a", "a", "b", "c"], "tta": [False, True, True, True, True],
                  "eval_window": [512, 512, 512, 256, 512], "eval_overlap": 0.25, "eval_batch_size": 8,
                  "threshold": 0.5, "test_iou": [0.80, 0.81, 0.83, 0.90, 0.5]}).to_csv(
        tmp_path / rundir.EVALUATIONS, index=False)
    gains = evaluations.tta_gains(results)
    # a: the later TTA row wins; b: another window is not the same evaluation; c: not done
    assert gains["run_id"].tolist() == ["a"]
    assert gains.loc[0, "without"] == 0.80 and gains.loc[0, "with"] == 0.83
    assert gains.loc[0, "gain"] == pytest.approx(0.03)


def test_span_gives_one_number_or_a_range():
    assert tables.span([6400, 6400.0]) == "6,400"
    assert tables.span([34.0, 20, 27]) == "20–34"


def test_budget_studies_count_the_longer_profile_too(fixture_root):
    import shutil

    assert pages.long_profile() == "smoke_long" and pages.long_profile("cpu") == "cpu_long"
    shutil.copytree(fixture_root / "smoke" / "seeds", fixture_root / "smoke_long" / "long_training")
    studies = pages.budget_studies()
    assert [(s.profile, s.study) for s in studies][-1] == ("smoke_long", "long_training")
    assert len(studies) == len(pages.collected_studies()) + 1
    seeds = pages.load_study("seeds")
    expected = seeds.done["train_seconds"].fillna(0) + seeds.done["eval_seconds"].fillna(0)
    assert pages.compute_seconds(seeds).tolist() == pytest.approx(expected.tolist())
    assert pages.compute_seconds(seeds).sum() > 0


def test_a_constant_prediction_scores_the_foreground_fraction():
    """On the controlled mask, predicting 1 everywhere gives a soft Jaccard equal to the foreground fraction."""
    mask = lesson.mask_with_fraction(0.0563, pixels=100_000)
    assert mask.shape == (1, 1, 100_000) and int(mask.sum()) == 5630
    sweep = lesson.constant_prediction_sweep(mask, [1.0]).set_index("metric")["value"]
    assert sweep["soft_jaccard"] == pytest.approx(5631 / 100_001, rel=1e-5)  # (sum y + 1) / (N + 1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        lesson.mask_with_fraction(1.5)


def test_glue_record_glues_each_field_under_its_prefix(monkeypatch):
    from mitolib.report import targets

    glued = {}
    monkeypatch.setattr(pages, "glue", lambda name, value, display=False: glued.__setitem__(name, value))
    pages.glue_record("lead", targets.target_check([0.86, 0.85, 0.87], [10, 11, 12], {"test_iou": 0.85, "seeds": 3}))
    assert glued["lead_mean"] == pytest.approx(0.86) and glued["lead_seeds"] == 3
    assert glued["lead_met"] == "yes" and glued["lead_verdict"] == "met"
    assert np.isnan(glued["lead_limit_minutes"])  # no limit in the target: NaN, not a made-up number


def test_the_smoke_profiles_studies_box_warns(fixture_root):
    assert notices.notice("smoke").data.startswith(":::{warning}")


def test_ensemble_lever_pairs_each_ensemble_with_its_run_alone(tmp_path):
    runs = pd.DataFrame({"run_id": [f"reference_seed-{k}" for k in range(3)] + ["ema_seed-0"],
                         "variant": ["reference"] * 3 + ["ema"], "architecture": "attention_unet",
                         "seed": [0, 1, 2, 0], "status": "done", "tta": True, "eval_window": 512,
                         "eval_overlap": 0.25, "eval_batch_size": 8, "z_median": 5, "threshold": 0.5,
                         "tune_threshold": True, "threshold_used": [0.45, 0.55, float("nan"), 0.5],
                         "test_iou": [0.85, 0.86, 0.84, 0.9], "object_f1_50": [0.6, 0.7, 0.5, 0.9],
                         "count_ratio": [2.0, 1.8, 1.9, 1.0]})
    results = pages.StudyResults("quality_levers", "cpu", tmp_path, runs, pd.DataFrame(), pd.DataFrame())
    pairs, effects = evaluations.ensemble_lever(results, "reference")
    assert pairs.empty and effects.empty  # nothing evaluated again yet
    pd.DataFrame({"run_id": ["reference_seed-0", "reference_seed-1", "reference_seed-2", "reference_seed-2",
                             "reference_seed-0", "ema_seed-0"],
                  "ensemble": ["reference_seed-1", "reference_seed-2", "reference_seed-0", "reference_seed-0", "",
                               "reference_seed-0"],
                  "tta": True, "eval_window": 512, "eval_overlap": 0.25, "eval_batch_size": [8, 8, 8, 4, 8, 8],
                  # each run's own threshold (seed 2 recorded none: its parameter), but seed 1's last row
                  "threshold": [0.45, 0.55, 0.5, 0.5, 0.45, 0.5], "z_median": [5, 5, 5, 5, 5, 5],
                  "test_iou": [0.87, 0.87, 0.85, 0.86, 0.855, 0.91], "object_f1_50": [0.7, 0.8, 0.5, 0.55, 0.6, 0.9],
                  "count_ratio": [1.5, 1.5, 1.6, 1.7, 2.0, 1.0]}).to_csv(tmp_path / rundir.EVALUATIONS, index=False)
    table = evaluations.evaluations(results)
    assert table["changed"].tolist() == ["", "", "", "", "", ""]  # the batch size changes no prediction
    pairs, effects = evaluations.ensemble_lever(results, "reference")
    ensembles = pairs[pairs["group"] == evaluations.ENSEMBLE].sort_values("seed")
    # seed 2's later row wins; the single-model row and the other variant's ensemble are not ensembles of it
    assert ensembles["members"].tolist() == ["reference_seed-0+reference_seed-1", "reference_seed-1+reference_seed-2",
                                             "reference_seed-2+reference_seed-0"]
    assert ensembles["test_iou"].tolist() == [0.87, 0.87, 0.86]
    iou = effects.set_index("value").loc["test_iou"]
    assert iou["pairs"] == 3 and iou["difference"] == pytest.approx((0.02 + 0.01 + 0.02) / 3)
    assert effects.set_index("value").loc["count_ratio", "difference"] == pytest.approx((-0.5 - 0.3 - 0.2) / 3)
    # another z-median is another evaluation, not the ensemble of the run's own
    table = pd.read_csv(tmp_path / rundir.EVALUATIONS)
    table.loc[0, "z_median"] = 1
    table.to_csv(tmp_path / rundir.EVALUATIONS, index=False)
    assert evaluations.evaluations(results).loc[0, "changed"] == "z_median"
    assert evaluations.ensemble_runs(results, "reference")["seed"].tolist() == [1, 2]


def test_object_steps_are_paired_levers_and_give_the_final_object_numbers(tmp_path):
    from mitolib.model.objects import CLEANUP_STEPS
    from mitolib.report import object_steps

    runs = pd.DataFrame({"run_id": ["a", "b", "c"], "architecture": "unet", "seed": [0, 1, 2], "status": "done",
                         "test_iou": [0.85, 0.86, 0.84], "object_f1_50": [0.4, 0.5, 0.45],
                         "count_ratio": [2.0, 1.8, 1.9]})
    results = pages.StudyResults("quality_levers", "cpu", tmp_path, runs, pd.DataFrame(), pd.DataFrame())
    assert object_steps.step_effects(results).empty
    assert object_steps.with_final_objects(results)["object_step"].eq(object_steps.RAW_STEP).all()
    rows = []
    for run, f1, ratio, depth in (("a", 0.4, 2.0, 0), ("b", 0.5, 1.8, 4)):  # c recorded no steps (an older run)
        for index, step in enumerate(CLEANUP_STEPS):
            rows.append({"run_id": run, "step": step, "min_voxels": 1000 * (index > 0),
                         "split_depth": depth * (index == 3), "test_iou": 0.85 + 0.001 * index,
                         "object_f1_50": f1 + 0.1 * index, "count_ratio": ratio - 0.3 * index,
                         "predicted_objects": 90 - 10 * index, "true_objects": 47})
    pd.DataFrame(rows).sample(frac=1, random_state=0).to_csv(tmp_path / rundir.OBJECT_CLEANUP, index=False)
    effects = object_steps.step_effects(results)
    f1 = effects[effects["value"] == "object_f1_50"].set_index("group")["difference"]
    assert f1.to_dict() == pytest.approx({CLEANUP_STEPS[1]: 0.1, CLEANUP_STEPS[2]: 0.2, CLEANUP_STEPS[3]: 0.3})
    assert effects["pairs"].eq(2).all()
    final = object_steps.with_final_objects(results).set_index("run_id")
    assert final.loc["b", "object_f1_50"] == pytest.approx(0.8) and final.loc["b", "predicted_objects"] == 60
    assert final.loc["b", "object_step"] == CLEANUP_STEPS[-1]
    assert final.loc["c", "object_f1_50"] == 0.45 and final.loc["c", "object_step"] == object_steps.RAW_STEP
    chosen = object_steps.chosen_parameters(results).set_index("run_id")
    assert chosen.loc["b", "split_depth"] == 4 and chosen.loc["a", "min_voxels"] == 1000


def test_detections_count_the_runs_that_found_each_true_object(tmp_path):
    from mitolib.report import object_steps

    runs = pd.DataFrame({"run_id": ["a", "b", "c"], "status": ["done", "done", "failed"]})
    results = pages.StudyResults("quality_levers", "cpu", tmp_path, runs, pd.DataFrame(), pd.DataFrame())
    assert object_steps.detections(results).empty
    nan = float("nan")
    pd.DataFrame({"run_id": ["a", "a", "b", "b", "c", "c"], "true_label": [1, 2, 1, 2, 1, 2],
                  "true_voxels": [500, 9, 500, 9, 500, 9], "predicted_label": [3, nan, nan, nan, 1, 2],
                  "predicted_voxels": [480, nan, nan, nan, 500, 9], "iou": [0.9, nan, nan, nan, 1, 1]}
                 ).to_csv(tmp_path / rundir.TEST_OBJECTS, index=False)
    found = object_steps.detections(results).set_index("true_label")
    assert found.loc[1, "detected_by"] == 1 and found.loc[2, "detected_by"] == 0  # the failed run c is left out
    assert found["runs"].tolist() == [2, 2] and found.loc[2, "true_voxels"] == 9


def test_label_ceiling_reads_the_runs_test_labels_at_their_largest_chosen_size(tmp_path):
    from mitolib.core.errors import DataError
    from mitolib.data.volumes import resolve_volumes
    from mitolib.model.objects import CLEANUP_STEPS, object_ceiling
    from mitolib.report import object_steps

    data = {"data_source": "synthetic", "synthetic_slices": 8, "synthetic_height": 64, "synthetic_width": 96}
    runs = pd.DataFrame([{"run_id": run, "architecture": "unet", "seed": seed, "status": "done", **data}
                         for seed, run in enumerate(("a", "b"))])
    results = pages.StudyResults("quality_levers", "cpu", tmp_path, runs, pd.DataFrame(), pd.DataFrame())
    assert object_steps.label_ceiling(results) == {}  # nothing recorded yet
    pd.DataFrame([{"run_id": run, "step": CLEANUP_STEPS[1], "min_voxels": size, "split_depth": 0}
                  for run, size in (("a", 100), ("b", 400))]).to_csv(tmp_path / rundir.OBJECT_CLEANUP, index=False)
    nan = float("nan")
    pd.DataFrame({"run_id": ["a", "a", "b", "b"], "true_label": [1, 2, 1, 2], "true_voxels": [150, 900, 150, 900],
                  "predicted_label": [1, 2, nan, 1], "predicted_voxels": [160, 880, nan, 870],
                  "iou": [0.9, 0.9, nan, 0.9]}).to_csv(tmp_path / rundir.TEST_OBJECTS, index=False)
    ceiling = object_steps.label_ceiling(results)
    truth = resolve_volumes(data, "test")[1]
    assert ceiling["min_voxels"] == 400  # the larger of the two runs' choices
    assert {k: ceiling[k] for k in object_ceiling(truth, 400)} == pytest.approx(object_ceiling(truth, 400), nan_ok=True)
    assert (ceiling["found_any"], ceiling["runs"]) == (1, 2)  # the 150-voxel object (< 200) was matched by run a
    runs["data_source"] = "epfl"
    runs["data_root"] = str(tmp_path / "no-data-here")
    with pytest.raises((DataError, OSError)):
        object_steps.label_ceiling(pages.StudyResults("quality_levers", "cpu", tmp_path, runs, pd.DataFrame(),
                                                      pd.DataFrame()))
