"""Study planning: sizes, ids, order, overrides, errors, and the ``plan`` command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from mitolib.core.config import compute_budget, load_config, resolve_params
from mitolib.core.errors import ConfigError
from mitolib.core.locations import config_path
from mitolib.core.locations import runs_root
from mitolib.studies.plan import ID_MAX_LENGTH, format_value, plan

SAFE_ID = re.compile(r"^[A-Za-z0-9._+-]+$")


@pytest.fixture(autouse=True)
def temporary_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("MITOLIB_RUNS", str(tmp_path / "runs"))


def test_study_sizes():
    assert len(plan("hyperparameter_optimization", "cpu")) == 36
    assert len(plan("bug_ablation", "cpu")) == 33  # 11 variants x 3 seeds
    assert len(plan("recipe", "cpu")) == 18
    assert len(plan("architectures", "smoke")) == 3
    assert len(plan("seeds", "cpu")) == 9  # 3 architectures x 3 seeds
    long = plan("long_training", "cpu_long")
    assert len(long) == 6  # 2 architectures x 3 seeds
    assert sorted({run.params["architecture"] for run in long}) == ["attention_unet", "unet"]
    assert {run.params["epochs"] for run in long} == {72}


def test_grid_order_and_ids():
    runs = plan("hyperparameter_optimization", "cpu")
    assert [run.index for run in runs] == list(range(36))
    assert runs[0].run_id == "architecture-unet_learning_rate-0.0001_batch_size-8"
    assert runs[1].run_id == "architecture-unet_learning_rate-0.0001_batch_size-16"
    assert runs[-1].run_id == "architecture-attention_resunet_learning_rate-0.005_batch_size-32"
    assert runs[5].params["learning_rate"] == 0.0005 and runs[5].params["batch_size"] == 32
    assert runs[5].varying == {"architecture": "unet", "learning_rate": 0.0005, "batch_size": 32}
    ids = [run.run_id for run in runs]
    assert len(set(ids)) == len(ids)
    assert all(SAFE_ID.match(run_id) for run_id in ids)


def test_ids_are_stable_and_folders_follow_the_profile(tmp_path):
    first = plan("hyperparameter_optimization", "gpu")
    again = plan("hyperparameter_optimization", "gpu")
    assert [r.run_id for r in first] == [r.run_id for r in again]
    assert [r.params for r in first] == [r.params for r in again]
    run = first[7]
    assert run.run_dir == tmp_path / "runs" / "gpu" / "hyperparameter_optimization" / run.run_id
    assert runs_root() == tmp_path / "runs"


def test_runs_study_with_seeds_pairs_every_variant_on_the_same_seeds():
    runs = plan("bug_ablation", "smoke")
    assert [run.run_id for run in runs][:4] == ["corrected_seed-0", "corrected_seed-1", "corrected_seed-2",
                                                 "mispaired_seed-0"]
    assert all(run.run_id == f"{run.variant}_seed-{run.params['seed']}" for run in runs)
    seeds = {}
    for run in runs:
        seeds.setdefault(run.variant, []).append(run.params["seed"])
    assert all(found == [0, 1, 2] for found in seeds.values()) and len(seeds) == 11
    by_id = {run.run_id: run for run in runs}
    assert by_id["mispaired_seed-1"].params["mispair"] is True
    assert by_id["corrected_seed-0"].params["mispair"] is False
    assert by_id["original_recipe_seed-0"].params["learning_rate"] == 0.001  # what Adam(lr=1e-2) applied
    assert by_id["original_recipe_lr_1e-2_seed-0"].params["learning_rate"] == 0.01
    assert by_id["original_recipe_seed-0"].params["data_source"] == "synthetic"  # the profile still applies


def test_variant_profile_settings_apply_under_their_profile_only():
    smoke = {run.run_id: run for run in plan("bug_ablation", "smoke")}["original_recipe_seed-0"].params
    cpu = {run.run_id: run for run in plan("bug_ablation", "cpu")}["original_recipe_seed-0"].params
    assert (cpu["patch_size"], cpu["epochs"], cpu["scale"]) == (256, 3, 1.0)
    assert smoke["patch_size"] == resolve_params("smoke")["patch_size"]


def test_seeds_key_is_checked():
    config = load_config()
    config["studies"]["bad"] = {"runs": {"a": {"seed": 1}}, "seeds": [0, 1]}
    with pytest.raises(ConfigError, match="set 'seed', which 'seeds' varies"):
        plan("bad", "smoke", config=config)
    config["studies"]["bad"] = {"runs": {"a": {}}, "seeds": [0, 0]}
    with pytest.raises(ConfigError, match="list of distinct integers"):
        plan("bad", "smoke", config=config)
    config["studies"]["bad"] = {"grid": {"seed": [0]}, "seeds": [0]}
    with pytest.raises(ConfigError, match="repeats named runs"):
        plan("bad", "smoke", config=config)


def test_profile_and_overrides_apply():
    plain = plan("architectures", "smoke")
    changed = plan("architectures", "smoke", {"epochs": "3", "seed": 1})
    assert all(run.params["epochs"] == 3 and run.params["seed"] == 1 for run in changed)
    assert changed[0].run_id == "architecture-unet+epochs-3+seed-1"
    assert {r.run_id for r in changed}.isdisjoint({r.run_id for r in plain})
    assert changed[0].varying == {"architecture": "unet", "epochs": 3, "seed": 1}
    # an override equal to the value the run has anyway changes nothing, so the id is the same
    same = plan("architectures", "smoke", {"epochs": plain[0].params["epochs"]})
    assert [r.run_id for r in same] == [r.run_id for r in plain]


def test_override_of_a_varied_key_is_rejected():
    with pytest.raises(ConfigError, match="varies architecture"):
        plan("architectures", "smoke", {"architecture": "unet"})


def test_unknown_study_lists_valid_ones():
    with pytest.raises(ConfigError) as error:
        plan("no_such_study", "smoke")
    for name in load_config()["studies"]:
        assert name in str(error.value)


def test_unknown_parameter_and_bad_value_are_reported():
    with pytest.raises(ConfigError, match="learning_rat"):
        plan("architectures", "smoke", {"learning_rat": 0.1})
    with pytest.raises(ConfigError, match="epochs"):
        plan("architectures", "smoke", {"epochs": "many"})


def _config_with(study: dict) -> dict:
    config = load_config()
    return {**config, "studies": {"custom": study}}


def test_settings_apply_before_grid_values():
    config = _config_with({"settings": {"seed": 5, "epochs": 4}, "grid": {"epochs": [1, 2]}})
    runs = plan("custom", "smoke", config=config)
    assert [run.params["epochs"] for run in runs] == [1, 2]
    assert all(run.params["seed"] == 5 for run in runs)
    assert [run.run_id for run in runs] == ["epochs-1", "epochs-2"]


def test_malformed_studies_are_rejected():
    with pytest.raises(ConfigError, match="exactly one"):
        plan("custom", "smoke", config=_config_with({"grid": {"seed": [1]}, "runs": {"a": {}}}))
    with pytest.raises(ConfigError, match="non-empty list"):
        plan("custom", "smoke", config=_config_with({"grid": {"seed": 1}}))
    with pytest.raises(ConfigError, match="share the id"):
        plan("custom", "smoke", config=_config_with({"grid": {"seed": [1, 1]}}))


def test_value_formatting_is_short_and_safe():
    assert format_value(True) == "true"
    assert format_value(0.0005) == "0.0005"
    assert format_value(1e-05) == "1e-05"
    assert format_value(32) == "32"
    assert format_value("") == "none"
    assert format_value("a/b c") == "a-b-c"


def test_long_ids_are_cut_with_a_hash():
    config = _config_with({"grid": {"data_root": ["x" * 200, "x" * 199 + "y"]}})
    ids = [run.run_id for run in plan("custom", "smoke", config=config)]
    assert all(len(run_id) == ID_MAX_LENGTH for run_id in ids)
    assert len(set(ids)) == 2


def test_plan_command_prints_runs_and_array_size(capsys):
    from mitolib.cli import main

    assert main(["study", "plan", "hyperparameter_optimization", "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "36 runs; array size 36 (qsub -J 0-35)" in out
    assert "architecture-unet_learning_rate-0.0001_batch_size-8" in out
    assert main(["study", "plan", "no_such_study"]) == 2
    assert "choose one of" in capsys.readouterr().err


def test_out_dir_cannot_be_overridden():
    with pytest.raises(ConfigError, match="out_dir"):
        plan("architectures", "smoke", {"out_dir": "elsewhere"})


def test_profile_settings_apply_under_their_profile_only():
    config = load_config()
    config["studies"]["longer"] = {
        "grid": {"seed": [0, 1]},
        "settings": {"epochs": 5},
        "profile_settings": {"cpu": {"epochs": 7, "evaluate_test": False}},
    }
    cpu = plan("longer", "cpu", config=config)
    smoke = plan("longer", "smoke", config=config)
    assert [r.params["epochs"] for r in cpu] == [7, 7]
    assert cpu[0].params["evaluate_test"] is False
    assert [r.params["epochs"] for r in smoke] == [5, 5]
    assert smoke[0].params["evaluate_test"] is True
    config["studies"]["longer"]["profile_settings"] = {"laptop": {"epochs": 3}}
    with pytest.raises(ConfigError, match="unknown profile 'laptop'"):
        plan("longer", "cpu", config=config)


def test_compute_budgets_are_read_and_checked(tmp_path):
    text = Path(config_path()).read_text(encoding="utf-8")
    assert compute_budget("cpu") == yaml.safe_load(text)["compute_budgets"]["cpu"]  # the file's entry, as written
    assert compute_budget("smoke") is None
    cases = {"cpu: {hours: 6, machine: a 2-core CPU}": None,
             "laptop: {hours: 6, machine: a 2-core CPU}": "compute_budgets.laptop: unknown profile",
             "cpu: {hours: -1, machine: a 2-core CPU}": "'hours' must be a positive number, got -1",
             "cpu: {hours: 6}": "'machine' must say which machine",
             "cpu: 6": "compute_budgets.cpu: write it as {hours: <number>, machine: <text>}, got 6"}
    for entry, message in cases.items():
        path = tmp_path / "studies.yml"
        path.write_text(re.sub(r"\bcpu: \{hours: [0-9.]+, machine: a 2-core CPU\}", lambda _: entry, text, count=1),
                        encoding="utf-8")
        if message is None:
            assert load_config(path)["compute_budgets"]["cpu"]["hours"] == 6
        else:
            with pytest.raises(ConfigError, match=re.escape(message)):
                load_config(path)
    without = tmp_path / "without.yml"
    without.write_text(text.split("compute_budgets:")[0] + "studies:" + text.split("\nstudies:", 1)[1],
                       encoding="utf-8")
    assert load_config(without)["compute_budgets"] == {} and load_config(without)["targets"] == {}


def test_targets_are_read_and_checked(tmp_path):
    from mitolib.core.config import target

    assert target("cpu") == {"test_iou": 0.87, "train_minutes": 15, "seeds": 3} and target("smoke") is None
    assert target("cpu_long")["object_f1_50"] == 0.85 and target("cpu_long")["count_error"] == 0.10
    text = Path(config_path()).read_text(encoding="utf-8")
    for entry, message in {"cpu: {test_iou: 1.5}": "targets.cpu: write it as {test_iou: <number between 0 and 1>}",
                           "laptop: {test_iou: 0.8}": "targets.laptop: unknown profile",
                           "cpu: {test_iou: 0.8, train_minutes: 0}": "'train_minutes' must be a positive number",
                           "cpu: {test_iou: 0.8, seeds: 2.5}": "'seeds' (how many seeds the target's mean is over) "
                                                               "must be a whole number of at least 1, got 2.5",
                           "cpu: {test_iou: 0.8, count_error: 10}": "'count_error' (the allowed",
                           "cpu: {test_iou: 0.8, object_f1: 0.9}": "unknown key(s) object_f1"}.items():
        path = tmp_path / "studies.yml"
        path.write_text(text.replace("cpu: {test_iou: 0.87, train_minutes: 15, seeds: 3}", entry), encoding="utf-8")
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_config(path)


def test_speed_targets_are_read_and_checked(tmp_path):
    from mitolib.core.config import speed_targets

    assert speed_targets() == {"best": 1.5, "plain": 1.0}
    text = Path(config_path()).read_text(encoding="utf-8")
    line = "speed_targets: {best: 1.5, plain: 1.0}"
    for entry, message in {"speed_targets: 1.5": "section 'speed_targets' must be a mapping",
                           "speed_targets: {best: 1.5, fast: 2}": "speed_targets: unknown key(s) fast",
                           "speed_targets: {best: 0}": "speed_targets.best must be a positive ratio, got 0"}.items():
        path = tmp_path / "studies.yml"
        path.write_text(text.replace(line, entry), encoding="utf-8")
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_config(path)
    path.write_text(text.replace(line, ""), encoding="utf-8")
    assert speed_targets(load_config(path)) == {}


def _collect_by_hand(runs, values, results_dir: Path, drop: int = 0) -> None:
    """A runs.csv as `collect` writes it (parameters, status, the chosen column) for the first runs."""
    import pandas as pd

    from mitolib.core.rundir import RUNS_TABLE
    from mitolib.core.identity import NOT_PARAMETERS, params_hash

    rows = [{"run_id": run.run_id, **{k: v for k, v in run.params.items() if k not in NOT_PARAMETERS},
             "status": "done", "best_val_iou": value, "params_hash": params_hash(run.params)}
            for run, value in zip(runs, values)]
    folder = results_dir / runs[0].profile / runs[0].study
    folder.mkdir(parents=True)
    pd.DataFrame(rows[: len(rows) - drop]).to_csv(folder / RUNS_TABLE, index=False)


def _reruns_config(**from_best) -> dict:
    config = load_config()
    config["studies"] = {"grid": {"grid": {"learning_rate": [0.0001, 0.001, 0.01], "batch_size": [4, 8]}},
                         "reruns": {"from_best": {"study": "grid", "top": 2, "by": "best_val_iou", **from_best},
                                    "seeds": [1, 2]}}
    return config


def test_from_best_reruns_the_best_grid_points_with_more_seeds(tmp_path, monkeypatch):
    from mitolib.studies.plan import best_of

    monkeypatch.setenv("MITOLIB_RESULTS", str(tmp_path / "results"))
    config = _reruns_config()
    grid = plan("grid", "smoke", config=config)
    # the best two: lr 0.001 batch 8 (0.9), then a tie at 0.8 broken by the earlier plan index (lr 0.0001, batch 8)
    _collect_by_hand(grid, [0.5, 0.8, 0.7, 0.9, 0.8, 0.1], tmp_path / "results")
    assert [run.run_id for run in best_of("reruns", "smoke", config)] == [
        "learning_rate-0.001_batch_size-8", "learning_rate-0.0001_batch_size-8"]
    runs = plan("reruns", "smoke", config=config)
    assert [run.run_id for run in runs] == [
        "learning_rate-0.001_batch_size-8_seed-1", "learning_rate-0.001_batch_size-8_seed-2",
        "learning_rate-0.0001_batch_size-8_seed-1", "learning_rate-0.0001_batch_size-8_seed-2"]
    assert [(r.params["learning_rate"], r.params["batch_size"], r.params["seed"]) for r in runs] == [
        (0.001, 8, 1), (0.001, 8, 2), (0.0001, 8, 1), (0.0001, 8, 2)]
    # apart from the seed, a rerun trains exactly like the grid run it repeats
    same = {k: v for k, v in grid[3].params.items() if k not in ("seed", "out_dir")}
    assert {k: v for k, v in runs[0].params.items() if k not in ("seed", "out_dir")} == same


def test_from_best_waits_for_the_whole_grid(tmp_path, monkeypatch):
    from mitolib.core.errors import ResultsMissing

    monkeypatch.setenv("MITOLIB_RESULTS", str(tmp_path / "results"))
    config = _reruns_config()
    _collect_by_hand(plan("grid", "smoke", config=config), [0.5] * 6, tmp_path / "results", drop=1)
    with pytest.raises(ResultsMissing, match=r"holds 5 of its 6 current runs: run `mitolib study run grid "
                                              r"--profile smoke` and `mitolib study collect grid"):
        plan("reruns", "smoke", config=config)


def test_from_best_is_checked():
    with pytest.raises(ConfigError, match="exactly the keys by, study, top"):
        plan("reruns", "smoke", config=_reruns_config(order="max"))
    with pytest.raises(ConfigError, match="positive integer"):
        plan("reruns", "smoke", config=_reruns_config(top=0))
    with pytest.raises(ConfigError, match="needs another grid study, got 'nowhere'"):
        plan("reruns", "smoke", config=_reruns_config(study="nowhere"))
    config = _reruns_config()
    config["studies"]["reruns"]["settings"] = {"epochs": 3}
    with pytest.raises(ConfigError, match="trains like 'grid'; set 'settings' there"):
        plan("reruns", "smoke", config=config)


def test_from_best_refuses_the_grids_own_seed(tmp_path, monkeypatch):
    monkeypatch.setenv("MITOLIB_RESULTS", str(tmp_path / "results"))
    config = _reruns_config()
    config["studies"]["reruns"]["seeds"] = [0, 1]
    _collect_by_hand(plan("grid", "smoke", config=config), [0.5] * 6, tmp_path / "results")
    with pytest.raises(ConfigError, match="seed\\(s\\) 0 already trained the chosen runs of 'grid'"):
        plan("reruns", "smoke", config=config)
