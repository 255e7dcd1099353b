"""The reproduction rule on hand-made histories, and on the original's transcribed logs."""

import math

import pandas as pd
import pytest

from mitolib.report import reproduction
from mitolib.core.errors import ConfigError
from mitolib.core.locations import project_root

RULE = reproduction.Rule(last_epochs=2, accuracy_gap=0.02, train_jaccard_max=0.05, best_val_jaccard_max=0.15,
                         logged_train_foreground=0.08)


def history(accuracy, jaccard, val_jaccard):
    return pd.DataFrame({"epoch": range(1, len(accuracy) + 1), "accuracy": accuracy, "original_jaccard": jaccard,
                         "val_original_jaccard": val_jaccard})


def test_a_collapsed_run_reproduces():
    stats = reproduction.run_statistics(history([0.3, 0.91, 0.93], [0.08, 0.01, 0.0], [2e-12, 0.09, 2e-12]),
                                        0.08, RULE)
    assert stats["final_accuracy"] == pytest.approx(0.92)
    assert stats["accuracy_gap"] == pytest.approx(0.0)
    assert stats["final_train_jaccard"] == pytest.approx(0.005)
    assert (stats["best_val_jaccard"], stats["best_epoch"]) == (pytest.approx(0.09), 2)
    assert stats["collapse"] and stats["no_fit"] and stats["in_band"] and stats["reproduces"]


@pytest.mark.parametrize("accuracy, jaccard, val_jaccard, failed", [
    ([0.9, 0.97, 0.98], [0.1, 0.01, 0.01], [0.0, 0.1, 0.1], "collapse"),  # fits: accuracy above the background's
    ([0.9, 0.92, 0.92], [0.1, 0.2, 0.2], [0.0, 0.1, 0.1], "no_fit"),
    ([0.9, 0.92, 0.92], [0.1, 0.0, 0.0], [0.0, 0.6, 0.1], "in_band"),
])
def test_each_test_can_fail_alone(accuracy, jaccard, val_jaccard, failed):
    stats = reproduction.run_statistics(history(accuracy, jaccard, val_jaccard), 0.08, RULE)
    assert not stats[failed] and not stats["reproduces"]
    assert all(stats[name] for name in ("collapse", "no_fit", "in_band") if name != failed)


def reproduced(rows):
    return pd.DataFrame(rows, columns=["recipe", "architecture", "seed", "reproduces", "best_val_iou", "test_iou",
                                       "final_accuracy", "accuracy_gap", "final_train_jaccard", "best_val_jaccard",
                                       "epochs"])


def test_setting_and_explanation_verdicts():
    rows = []
    for seed in range(3):
        rows.append(["faithful", "unet", seed, False, 0.5 + 0.01 * seed, 0.4, 0.97, 0.05, 0.5, 0.6, 20])
        rows.append(["mispaired", "unet", seed, True, 0.01 + 0.001 * seed, 0.0, 0.92, 0.0, 0.0, 0.09, 18])
        rows.append(["momentum_0.9", "unet", seed, seed == 0, 0.5, 0.4, 0.97, 0.05, 0.5, 0.6, 20])
    table = reproduced(rows)
    settings = reproduction.setting_table(table).set_index("recipe")
    assert settings.loc["faithful", "verdict"] == reproduction.DOES_NOT
    assert settings.loc["mispaired", ["runs", "reproducing", "verdict"]].tolist() == [3, 3, reproduction.REPRODUCES]
    assert settings.loc["momentum_0.9", "verdict"] == reproduction.MIXED
    assert settings.loc["faithful", "best_val_iou_mean"] == pytest.approx(0.51)
    explanations = reproduction.explanation_table(table).set_index("explanation")
    mispairing = explanations.loc["mispairing"]
    assert mispairing["verdict"] == reproduction.SUPPORTED
    assert mispairing["difference"] == pytest.approx(0.011 - 0.51)
    assert mispairing["high"] < 0
    # the faithful recipe does not reproduce, so a part removed from it cannot explain a collapse
    assert explanations.loc["momentum_0.99", "verdict"] == reproduction.NOT_RESOLVED
    assert "focal_head" not in explanations.index  # its second setting never ran


def test_a_part_whose_removal_keeps_the_collapse_is_refuted():
    rows = [[recipe, "unet", seed, True, 0.01, 0.0, 0.92, 0.0, 0.0, 0.09, 18]
            for recipe in ("faithful", "bce_plain_head") for seed in range(3)]
    explanations = reproduction.explanation_table(reproduced(rows)).set_index("explanation")
    assert explanations.loc["focal_head", "verdict"] == reproduction.REFUTED
    assert explanations.loc["focal_head", "pairs"] == 3 and not explanations.loc["focal_head", "resolved"]


def test_the_rule_comes_from_studies_yml():
    rule = reproduction.load_rule()
    assert rule.last_epochs >= 1 and 0 < rule.accuracy_gap < 1
    with pytest.raises(ConfigError, match="reproduction_rule"):
        reproduction.load_rule({"reproduction_rule": {"last_epochs": 5}})


def test_the_logged_main_runs_reproduce_by_the_rule():
    # The logged runs themselves must pass the rule written from their description (book/data, transcribed).
    histories = pd.read_csv(project_root() / "book" / "data" / "original_histories.csv")
    table = reproduction.logged_table(histories, reproduction.load_rule()).set_index("run")
    assert (table["study"] != "follow_up").sum() == 39  # the runs of 2025-09-26: 3 main, 36 grid
    assert not table.loc[table["study"] == "follow_up", "reproduces"].any()  # the next day's 1,980-patch runs learned
    main = table[table["study"] == "main"]
    assert main["reproduces"].all()
    assert main["best_val_jaccard"].round(4).tolist() == [0.0761, 0.0897, 0.0926]
    assert main["epochs"].tolist() == [19, 25, 17]
    assert math.isclose(main.loc["unet", "final_accuracy"], (0.91672 + 0.91958 + 0.91503 + 0.92005 + 0.91164) / 5,
                        abs_tol=1e-4)


def test_wide_history_restores_the_run_columns():
    long = pd.DataFrame({"run_id": ["a"] * 4 + ["b"], "epoch": [1, 1, 2, 2, 1],
                         "metric": ["accuracy", "original_jaccard", "accuracy", "original_jaccard", "accuracy"],
                         "split": ["train", "val", "train", "val", "train"], "value": [0.5, 0.1, 0.6, 0.2, 0.9]})
    wide = reproduction.wide_history(long, "a")
    assert wide["epoch"].tolist() == [1, 2]
    assert wide["accuracy"].tolist() == [0.5, 0.6] and wide["val_original_jaccard"].tolist() == [0.1, 0.2]


def test_recipe_of_strips_the_architecture():
    assert reproduction.recipe_of("faithful_attention_unet", "attention_unet") == "faithful"
    assert reproduction.recipe_of("momentum_0.9", "unet") == "momentum_0.9"


def test_progress_table_counts_each_settings_planned_and_done_runs():
    runs = pd.DataFrame({"variant": ["faithful", "faithful", "mispaired_attention_unet", "mispaired_attention_unet"],
                         "architecture": ["unet", "unet", "attention_unet", "attention_unet"],
                         "status": ["done", "unfinished", "done", "done"]})
    table = reproduction.progress_table(runs)
    assert table.values.tolist() == [["faithful", "unet", 2, 1], ["mispaired", "attention_unet", 2, 2]]


def test_in_the_committed_reproduction_only_mispaired_runs_reproduce_the_logs(monkeypatch):
    # "What actually broke" says so in words: a collected run that breaks it must change the page.
    from mitolib.report import pages

    monkeypatch.setenv("MITOLIB_RESULTS", str(project_root() / "results"))
    results = pages.load_study("original_logs", "original_0926")
    table = reproduction.reproduced_table(results.done, results.history, reproduction.load_rule())
    table = table.merge(results.done[["run_id", "mispair"]], on="run_id")
    assert table["mispair"].any() and (~table["mispair"].astype(bool)).any()
    assert not table.loc[~table["mispair"].astype(bool), "reproduces"].any()
    assert table.loc[table["mispair"].astype(bool), "reproduces"].mean() > 0.5


def test_in_the_committed_reproduction_mispairing_on_unet_is_not_resolved(monkeypatch):
    # The introduction and the Summary of "What actually broke" call mispairing the one candidate left
    # standing, not a proven cause: a collected run that resolves it must change their words.
    from mitolib.report import pages

    monkeypatch.setenv("MITOLIB_RESULTS", str(project_root() / "results"))
    results = pages.load_study("original_logs", "original_0926")
    explanations = reproduction.explanation_table(
        reproduction.reproduced_table(results.done, results.history, reproduction.load_rule()))
    unet = explanations[(explanations["explanation"] == "mispairing") & (explanations["architecture"] == "unet")]
    assert len(unet) == 1
    assert unet["verdict"].iloc[0] == reproduction.NOT_RESOLVED
    assert unet["low"].iloc[0] < 0 < unet["high"].iloc[0]
