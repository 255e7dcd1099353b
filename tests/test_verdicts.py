"""Verdicts on hand-made tables: runs of the plan told from earlier ones, bands, effects with and without 0."""

import pandas as pd
import pytest

from mitolib.core import claims
from mitolib.report import verdicts


def runs(values: dict, column: str = "test_iou") -> pd.DataFrame:
    return pd.DataFrame([{"variant": v, "seed": s, column: x, "run_id": f"{v}_seed-{s}", "params_hash": "h"}
                         for v, xs in values.items() for s, x in enumerate(xs)])


def test_split_by_plan_keeps_only_same_id_and_parameters():
    from mitolib.core.identity import params_hash
    from mitolib.studies.plan import plan

    runs_planned = plan("architectures", "smoke")
    planned = {run.run_id: params_hash(run.params) for run in runs_planned}
    rows = pd.DataFrame([{"run_id": run.run_id, **run.params} for run in runs_planned])
    rows.loc[1, "epochs"] = 99  # made with other settings
    rows = rows.drop(columns=["sample_order"])  # a parameter added later: read at its default
    current, earlier = verdicts.split_by_plan(rows, planned)
    assert list(earlier["run_id"]) == [runs_planned[1].run_id] and len(current) == 2
    current, earlier = verdicts.split_by_plan(rows, {})
    assert current.empty and len(earlier) == 3


def test_split_by_plan_reads_runs_as_the_book_reads_runs_csv(tmp_path):
    """Written to CSV and read back with pandas' type guessing, a text parameter spelled like a boolean
    (the smoke profile's ``jit_compile: "false"``) comes back as a bool; the runs are still the plan's."""
    from mitolib.core.identity import params_hash
    from mitolib.studies.plan import plan

    runs_planned = plan("architectures", "smoke")
    assert runs_planned[0].params["jit_compile"] == "false"
    planned = {run.run_id: params_hash(run.params) for run in runs_planned}
    pd.DataFrame([{"run_id": run.run_id, **run.params} for run in runs_planned]).to_csv(tmp_path / "runs.csv")
    rows = pd.read_csv(tmp_path / "runs.csv")
    assert rows["jit_compile"].dtype == bool
    current, earlier = verdicts.split_by_plan(rows, planned)
    assert len(current) == 3 and earlier.empty


def test_band_counts_runs_inside_and_outside():
    table = runs({"focal_head_bn": [0.080, 0.090, 0.100], "corrected": [0.40, 0.45, 0.50]}, "soft")
    band = verdicts.band_table(table, "soft", 0.076, 0.093).set_index("variant")
    assert band.loc["focal_head_bn", "inside"] == 2 and band.loc["focal_head_bn", "mean_inside"]
    assert band.loc["corrected", "inside"] == 0 and not band.loc["corrected", "mean_inside"]
    assert band.loc["focal_head_bn", "mean"] == pytest.approx(0.09)
    assert band.loc["focal_head_bn", "gap"] == 0 and band.loc["corrected", "gap"] == pytest.approx(0.45 - 0.093)


def test_the_nearest_variant_is_measured_from_the_nearer_edge_of_the_band():
    # 0.104 lies 0.011 above the band; 0.055 lies 0.021 below it (both far from the lower edge 0.076)
    table = runs({"below": [0.054, 0.055, 0.056], "above": [0.103, 0.104, 0.105]}, "soft")
    nearest = verdicts.nearest_to_band(verdicts.band_table(table, "soft", 0.076, 0.093))
    assert nearest["variant"] == "above" and nearest["gap"] == pytest.approx(0.011)
    assert verdicts.nearest_to_band(verdicts.band_table(table.iloc[:0], "soft", 0.076, 0.093)) is None


def test_effects_say_no_effect_only_inside_the_margin():
    table = runs({"corrected": [0.80, 0.80, 0.80], "mispaired": [0.10, 0.12, 0.11],
                  "three_channels": [0.81, 0.79, 0.80], "same": [0.801, 0.800, 0.8005]})
    effects = verdicts.effects_table(table, "test_iou", "corrected", margin=0.01).set_index("group")
    assert "corrected" not in effects.index
    assert effects.loc["mispaired", "verdict"] == "lowers" and effects.loc["mispaired", "difference"] == pytest.approx(-0.69)
    # differences +0.01, -0.01, 0: the interval [-0.025, +0.025] contains 0 and reaches past the margin
    assert effects.loc["three_channels", "verdict"] == claims.NOT_RESOLVED
    assert effects.loc["three_channels", "high"] == pytest.approx(4.302653 * 0.01 / 3 ** 0.5, abs=1e-6)
    # differences +0.001, 0, +0.0005: the whole interval lies inside +-0.01
    assert effects.loc["same", "verdict"] == claims.NO_EFFECT
    assert verdicts.effects_table(table, "test_iou", "corrected", margin=0.0001).set_index("group").loc[
        "same", "verdict"] == claims.NOT_RESOLVED


def test_one_pair_has_no_interval_and_no_verdict():
    table = runs({"corrected": [0.80, 0.80, 0.80], "original_recipe": [0.40]})
    effects = verdicts.effects_table(table, "test_iou", "corrected")
    assert effects.loc[0, "verdict"] == verdicts.NO_INTERVAL and effects.loc[0, "pairs"] == 1
    assert verdicts.difference(effects.iloc[0]).pairs == 1 and not verdicts.difference(effects.iloc[0]).resolved
    assert verdicts.effect_cells(effects)["interval"].iloc[0].startswith("-0.400")


def test_a_lever_pays_where_it_raises_the_primary_value_and_lowers_no_guarded_one():
    iou = runs({"reference": [0.80, 0.81, 0.82], "ema": [0.82, 0.83, 0.84], "wide": [0.83, 0.84, 0.85],
                "fov": [0.82, 0.83, 0.84]})
    f1 = runs({"reference": [0.60, 0.62, 0.64], "ema": [0.61, 0.62, 0.66], "wide": [0.50, 0.51, 0.52],
               "fov": [0.60, 0.62, 0.64]}, "object_f1_50")
    count = runs({"reference": [1.4, 1.5, 1.6], "ema": [1.4, 1.5, 1.6], "wide": [1.4, 1.5, 1.6],
                  "fov": [1.0, 1.1, 1.2]}, "count_ratio")  # fov: fewer false fragments, a fall towards one
    effects = pd.concat([verdicts.effects_table(frame, value, "reference").assign(value=value).rename(
        columns={"group": "lever"}) for frame, value in ((iou, "test_iou"), (f1, "object_f1_50"), (count, "count_ratio"))])
    assert set(effects.loc[effects["value"] == "test_iou", "verdict"]) == {verdicts.RAISES}
    assert effects.set_index(["lever", "value"]).loc[("wide", "object_f1_50"), "verdict"] == verdicts.LOWERS
    assert effects.set_index(["lever", "value"]).loc[("fov", "count_ratio"), "verdict"] == verdicts.LOWERS
    assert verdicts.paying(effects, "test_iou", guarded=("test_iou", "object_f1_50")) == ["ema", "fov"]
    assert verdicts.paying(effects, "test_iou", guarded=("test_iou", "object_f1_50", "count_ratio")) == ["ema"]
    assert verdicts.paying(effects.iloc[:0], "test_iou", guarded=("test_iou",)) == []
