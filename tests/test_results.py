"""Collection on hand-made run folders: tidy shapes, idempotence, incomplete runs left out and counted."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from mitolib.core.errors import ResultsError
from mitolib.results.collect import METRIC_FIELDS, collect, long_history
from mitolib.core.identity import params_differ
from mitolib.studies.plan import plan

EPOCHS = 3
SLICES = 4
WIDE_COLUMNS = ["epoch", "loss", "val_loss", "soft_jaccard", "val_soft_jaccard", "thresholded_jaccard",
                "val_thresholded_jaccard", "iou", "val_iou", "learning_rate", "epoch_seconds"]


def make_run_dir(run, status="done", fingerprint="abc123"):
    """Write a run folder following the contract, with made-up numbers."""
    run.run_dir.mkdir(parents=True)
    (run.run_dir / "params.json").write_text(json.dumps(
        {"params": run.params, "data_fingerprint": fingerprint, "git_commit": "0" * 40}))
    wide = pd.DataFrame({column: [i / 10 + run.index for i in range(EPOCHS)] for column in WIDE_COLUMNS})
    wide["epoch"] = range(1, EPOCHS + 1)
    wide.to_csv(run.run_dir / "history.csv", index=False)
    pd.DataFrame({"slice": range(SLICES), "iou": 0.5, "dice": 0.6, "tp": 1, "fp": 2, "fn": 3}).to_csv(
        run.run_dir / "test_slices.csv", index=False)
    metrics = {key: run.index + 0.25 for key in METRIC_FIELDS} | {"status": status, "best_epoch": 2}
    if status == "failed":
        metrics = {"status": "failed", "error": "ValueError: boom"}
    (run.run_dir / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture
def roots(tmp_path, monkeypatch):
    monkeypatch.setenv("MITOLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MITOLIB_RESULTS", str(tmp_path / "results"))
    return tmp_path


def test_long_history_splits_metrics():
    wide = pd.DataFrame({column: [1.0, 2.0] for column in WIDE_COLUMNS} | {"epoch": [1, 2]})
    long = long_history(wide, "r")
    assert list(long.columns) == ["run_id", "epoch", "metric", "split", "value"]
    assert len(long) == 2 * (len(WIDE_COLUMNS) - 1)
    pairs = set(zip(long["metric"], long["split"]))
    assert {("iou", "val"), ("iou", "train"), ("loss", "train"), ("loss", "val"),
            ("soft_jaccard", "val"), ("thresholded_jaccard", "train")} <= pairs
    assert ("learning_rate", "") in pairs and ("epoch_seconds", "") in pairs


def test_collect_tidy_tables(roots):
    runs = plan("architectures", "smoke")
    for run in runs:
        make_run_dir(run)
    summary = collect(runs)
    out = roots / "results" / "smoke" / "architectures"
    assert summary.out_dir == out and summary.collected == 3
    table = pd.read_csv(out / "runs.csv", keep_default_na=False)
    assert len(table) == 3 and table["run_id"].is_monotonic_increasing
    assert list(table.columns[:3]) == ["run_id", "study", "profile"]
    assert "variant" not in table.columns
    for column in ("architecture", "learning_rate", "seed", *METRIC_FIELDS):
        assert column in table.columns
    assert "out_dir" not in table.columns
    assert set(table["status"]) == {"done"}
    history = pd.read_csv(out / "history.csv", keep_default_na=False)
    assert list(history.columns) == ["run_id", "epoch", "metric", "split", "value"]
    assert len(history) == 3 * EPOCHS * (len(WIDE_COLUMNS) - 1)
    slices = pd.read_csv(out / "test_slices.csv")
    assert list(slices.columns) == ["run_id", "slice", "iou", "dice", "tp", "fp", "fn"]
    assert len(slices) == 3 * SLICES
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["counts"] == {"planned": 3, "collected": 3, "kept": 0, "failed": 0, "unfinished": 0,
                                    "stale": 0}
    assert provenance["data_fingerprints"] == ["abc123"]
    assert provenance["study"] == "architectures" and provenance["profile"] == "smoke"
    assert "pandas" in provenance["libraries"] and provenance["collected_at"]


def test_collect_is_idempotent(roots):
    runs = plan("architectures", "smoke")
    for run in runs:
        make_run_dir(run)
    out = collect(runs).out_dir
    first = {path.name: path.read_bytes() for path in out.iterdir()}
    collect(list(reversed(runs)))
    assert {path.name: path.read_bytes() for path in out.iterdir()} == first


def test_incomplete_runs_are_left_out_and_counted(roots):
    runs = plan("bug_ablation", "smoke")
    make_run_dir(runs[0])
    make_run_dir(runs[1], status="failed")
    runs[2].run_dir.mkdir(parents=True)  # interrupted: no metrics.json
    (runs[2].run_dir / "history.csv").write_text("epoch,loss\n1,0.5\n")
    summary = collect(runs)
    assert (summary.collected, len(summary.failed), len(summary.unfinished)) == (1, 1, 31)
    assert "ignored 32 incomplete (1 failed, 31 not finished)" in summary.describe()
    table = pd.read_csv(summary.out_dir / "runs.csv")
    assert list(table["run_id"]) == ["corrected_seed-0"] and list(table["variant"]) == ["corrected"]
    history = pd.read_csv(summary.out_dir / "history.csv")
    assert set(history["run_id"]) == {"corrected_seed-0"}
    provenance = json.loads((summary.out_dir / "provenance.json").read_text())
    assert provenance["incomplete"]["failed"] == ["corrected_seed-1"]


def test_collect_with_no_complete_run_writes_empty_tables(roots):
    runs = plan("architectures", "smoke")
    summary = collect(runs)
    assert summary.collected == 0 and len(summary.unfinished) == 3
    assert pd.read_csv(summary.out_dir / "runs.csv").empty


def test_collect_command(roots, capsys):
    from mitolib.cli import main

    runs = plan("architectures", "smoke")
    make_run_dir(runs[1])
    assert main(["study", "collect", "architectures", "--profile", "smoke"]) == 0
    assert "collected 1 of 3 runs" in capsys.readouterr().out


def test_collect_readme_names_the_markers_it_needs_and_the_studies_it_serves(roots, tmp_path, capsys):
    from mitolib.cli import main

    readme = tmp_path / "README.md"
    readme.write_text("# Title\n")
    make_run_dir(plan("architectures", "smoke")[0])
    assert main(["study", "collect", "architectures", "--profile", "smoke", "--readme", str(readme)]) == 0
    assert "the headline tables come from the studies seeds, long_training; README left as it is" in \
        capsys.readouterr().out
    make_run_dir(plan("seeds", "smoke")[0])
    assert main(["study", "collect", "seeds", "--profile", "smoke", "--readme", str(readme)]) == 0
    assert ("has no seeds headline markers, so it is left as it is; put the lines <!-- headline:start --> and "
            "<!-- headline:end --> where the table belongs") in capsys.readouterr().err
    assert readme.read_text() == "# Title\n"


def test_predictions_of_the_best_run_per_architecture_are_copied(roots):
    runs = [run for run in plan("seeds", "smoke") if run.params["seed"] <= 2]  # 3 architectures x seeds 0-2
    for run in runs:
        make_run_dir(run)
        if run.params["seed"] != 2:  # seed 2 has the highest best_val_iou but saved no masks
            (run.run_dir / "predictions").mkdir()
            (run.run_dir / "predictions" / "test_000.png").write_bytes(f"mask of {run.run_id}".encode())
    collect(runs)
    out = roots / "results" / "smoke" / "seeds"
    chosen = sorted(p.name for p in (out / "predictions").iterdir())
    # per architecture, the highest best_val_iou among runs with predictions: seed 1 (made-up index order)
    expected = sorted(run.run_id for run in runs if run.params["seed"] == 1)
    assert chosen == expected
    for run_id in chosen:
        assert (out / "predictions" / run_id / "test_000.png").read_bytes() == f"mask of {run_id}".encode()
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["predictions"] == {run_id: 1 for run_id in expected}


def test_collected_runs_survive_the_loss_of_their_folders(roots):
    import shutil

    from mitolib.studies.runstate import is_done, run_state

    runs = plan("architectures", "smoke")
    for run in runs:
        make_run_dir(run)
    collect(runs)
    out = roots / "results" / "smoke" / "architectures"
    before = {name: (out / name).read_bytes() for name in ("runs.csv", "history.csv", "test_slices.csv")}
    shutil.rmtree(roots / "runs")  # a fresh clone: the run folders are gone, the results are committed
    assert all(is_done(run) for run in runs)
    assert run_state(runs[0]) == ("done", "collected earlier; run folder not here")
    summary = collect(runs)
    assert summary.collected == 3 and sorted(summary.kept) == sorted(run.run_id for run in runs)
    assert {name: (out / name).read_bytes() for name in before} == before
    changed = plan("architectures", "smoke", {"epochs": 3})  # other parameters: not the same runs
    assert not any(is_done(run) for run in changed)


def test_a_run_folder_made_with_other_parameters_is_not_collected(roots):
    runs = plan("architectures", "smoke")
    for run in runs:
        make_run_dir(run)
    changed = dataclasses.replace(runs[0], params={**runs[0].params, "epochs": runs[0].params["epochs"] + 1})
    assert params_differ(runs[0].run_dir, changed.params) and not params_differ(runs[0].run_dir, runs[0].params)
    summary = collect([changed, *runs[1:]])
    assert (summary.collected, summary.unfinished, summary.stale) == (2, [], [changed.run_id])
    assert "ignored 1 made with other parameters than the plan's" in summary.describe()
    assert json.loads((summary.out_dir / "provenance.json").read_text())["incomplete"]["stale"] == [changed.run_id]
    assert changed.run_id not in set(pd.read_csv(summary.out_dir / "runs.csv")["run_id"])


def test_recollecting_at_another_commit_keeps_the_provenance_unless_a_table_changes(roots, monkeypatch):
    import mitolib.results.collect as results

    runs = plan("architectures", "smoke")
    make_run_dir(runs[0])
    runs_csv = roots / "results" / "smoke" / "architectures" / "runs.csv"
    seen = []  # whether runs.csv existed when the commit was read

    def commit(name):
        def fake(root):
            seen.append(runs_csv.is_file())
            return name
        return fake

    monkeypatch.setattr(results, "git_commit", commit("a" * 40))
    out = collect(runs).out_dir
    assert seen == [False]  # read before the collection writes anything
    before = (out / "provenance.json").read_bytes()
    monkeypatch.setattr(results, "git_commit", commit("b" * 40))
    collect(runs)
    assert (out / "provenance.json").read_bytes() == before  # same tables: the recorded commit stays
    make_run_dir(runs[1])
    collect(runs)
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["git_commit"] == "b" * 40 and provenance["counts"]["collected"] == 2


def test_a_parameter_added_later_reads_at_its_default(roots, tmp_path):
    from mitolib.core.identity import params_differ

    run = plan("architectures", "smoke")[0]
    run.run_dir.mkdir(parents=True)
    older = {key: value for key, value in run.params.items() if key != "sample_order"}  # before the key existed
    (run.run_dir / "params.json").write_text(json.dumps({"params": older}))
    assert not params_differ(run.run_dir, run.params)  # the plan keeps the default: same run
    assert params_differ(run.run_dir, {**run.params, "sample_order": "fixed"})  # the plan sets it otherwise


def test_collect_refuses_a_metric_that_is_not_a_number(roots):
    runs = plan("architectures", "smoke")
    for run in runs:
        make_run_dir(run)
    damaged = runs[1].run_dir / "metrics.json"
    damaged.write_text(json.dumps({**json.loads(damaged.read_text()), "test_iou": "abc"}))
    with pytest.raises(ResultsError, match=rf"{runs[1].run_id}.*test_iou is 'abc', not a number"):
        collect(runs)
    assert not (roots / "results" / "smoke" / "architectures" / "runs.csv").exists()  # nothing half-written
