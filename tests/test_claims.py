"""The claims rule on hand-made tables: means, paired intervals computed by hand, resolved or not, bands."""

import math

import pandas as pd
import pytest

from mitolib.core import claims

T_975_2 = 4.302652729911275  # Student t, 97.5 % quantile, 2 degrees of freedom (tables)


def table(values: dict) -> pd.DataFrame:
    """One row per run: ``{variant: [value of seed 0, seed 1, ...]}``."""
    return pd.DataFrame([{"variant": name, "seed": seed, "test_iou": value}
                         for name, seeds in values.items() for seed, value in enumerate(seeds)])


def test_summary_of_three_values():
    summary = claims.summarize([0.70, 0.80, 0.90])
    assert summary.n == 3 and summary.mean == pytest.approx(0.80) and summary.sd == pytest.approx(0.10)
    assert summary.text() == "0.800 ± 0.100"
    assert claims.summarize([0.5]).text() == "0.500" and claims.summarize([]).text() == "n/a"


def test_interval_containing_zero_is_not_resolved():
    # differences 0.01, 0.02, 0.03: mean 0.02, sd 0.01, half width t * 0.01 / sqrt(3) = 0.02484
    diff = claims.paired_difference({0: 0.81, 1: 0.82, 2: 0.83}, {0: 0.80, 1: 0.80, 2: 0.80})
    half = T_975_2 * 0.01 / math.sqrt(3)
    assert diff.pairs == 3 and diff.mean == pytest.approx(0.02)
    assert diff.low == pytest.approx(0.02 - half) and diff.high == pytest.approx(0.02 + half)
    assert diff.low < 0 < diff.high and not diff.resolved
    assert diff.verdict() == claims.NOT_RESOLVED


def test_interval_excluding_zero_is_resolved():
    diff = claims.paired_difference({0: 0.82, 1: 0.83, 2: 0.84}, {0: 0.80, 1: 0.80, 2: 0.80})
    assert diff.low == pytest.approx(0.03 - T_975_2 * 0.01 / math.sqrt(3)) and diff.low > 0
    assert diff.resolved and diff.verdict("better", "worse") == "better"
    assert diff.text() == "+0.030 [+0.005, +0.055]"


def test_pairs_only_on_shared_seeds_and_one_pair_has_no_interval():
    diff = claims.paired_difference({0: 0.9, 1: 0.8}, {1: 0.7, 2: 0.6})
    assert diff.pairs == 1 and diff.mean == pytest.approx(0.1) and math.isnan(diff.low) and not diff.resolved
    assert claims.paired_difference({0: 1.0}, {1: 1.0}).pairs == 0


def test_compare_against_a_reference():
    runs = table({"corrected": [0.80, 0.80, 0.80], "focal": [0.77, 0.77, 0.78], "lr_1e-2": [0.81, 0.78, 0.80]})
    result = claims.compare(runs, "test_iou", "variant", reference="corrected", higher="raises", lower="lowers")
    by = result.set_index("group")
    assert by.loc["corrected", "verdict"] == "" and by.loc["corrected", "pairs"] == 0
    assert by.loc["focal", "difference"] == pytest.approx(-0.08 / 3) and by.loc["focal", "resolved"]
    assert by.loc["focal", "verdict"] == "lowers"
    assert by.loc["lr_1e-2", "verdict"] == claims.NOT_RESOLVED  # differences +0.01, -0.02, 0.00
    with pytest.raises(ValueError, match="reference 'nope' is not a variant"):
        claims.compare(runs, "test_iou", "variant", reference="nope")


def test_compare_refuses_two_runs_of_one_seed():
    runs = pd.concat([table({"a": [0.8], "b": [0.7]}), table({"a": [0.9]})])
    with pytest.raises(ValueError, match="more than one run for a seed"):
        claims.compare(runs, "test_iou", "variant", reference="b")


def test_resolved_order_groups_what_is_not_resolved():
    runs = table({"unet": [0.77, 0.75, 0.80], "attention_unet": [0.79, 0.79, 0.80],
                  "attention_resunet": [0.90, 0.91, 0.92]})
    tiers = claims.resolved_order(runs, "test_iou", "variant")
    assert tiers == [["attention_resunet"], ["attention_unet", "unet"]]
    flat = claims.resolved_order(table({"a": [0.8, 0.7, 0.9], "b": [0.7, 0.8, 0.8]}), "test_iou", "variant")
    assert flat == [["a", "b"]]
    alone = claims.resolved_order(table({"unet": [0.8, 0.7, 0.9]}), "test_iou", "variant")
    assert alone == [["unet"]]


def test_contradictions_are_resolved_pairs_another_ranking_reverses():
    tiers = [["attention_unet"], ["unet", "attention_resunet"]]  # attention_unet above both; those two tied
    assert claims.contradictions(["attention_unet", "attention_resunet", "unet"], tiers) == []
    assert claims.contradictions(["unet", "attention_unet", "attention_resunet"], tiers) == [
        ("attention_unet", "unet")]
    assert claims.contradictions(["attention_resunet", "unet", "attention_unet"], tiers) == [
        ("attention_unet", "unet"), ("attention_unet", "attention_resunet")]
    assert claims.contradictions(["unet", "attention_unet"], [["a", "b"]]) == []  # nothing resolved, names apart


def test_band_inside_and_outside():
    inside = claims.band([0.080, 0.085, 0.095], 0.076, 0.093)
    assert inside == {"n": 3, "inside": 2, "mean": pytest.approx(0.0866667), "sd": pytest.approx(0.0076376, abs=1e-7),
                      "mean_inside": True}
    outside = claims.band([0.0, 0.051, 0.06], 0.076, 0.093)
    assert outside["inside"] == 0 and not outside["mean_inside"]
    with pytest.raises(ValueError, match="above high"):
        claims.band([0.1], 0.2, 0.1)


def test_a_run_whose_best_epoch_is_its_last_is_still_improving():
    from mitolib.core.claims import still_improving

    runs = pd.DataFrame({"best_epoch": [6, 4, 72], "epochs_run": [6, 6, 72]})
    assert still_improving(runs).tolist() == [True, False, True]


def test_no_effect_needs_the_whole_interval_inside_the_margin():
    inside = claims.paired_difference({0: 0.801, 1: 0.800, 2: 0.8005}, {0: 0.8, 1: 0.8, 2: 0.8})
    wide = claims.paired_difference({0: 0.5, 1: 0.9, 2: 0.1}, {0: 0.8, 1: 0.8, 2: 0.8})  # -0.3, +0.1, -0.7
    assert inside.verdict(margin=0.01) == claims.NO_EFFECT and inside.verdict() == claims.NOT_RESOLVED
    assert wide.verdict(margin=0.01) == claims.NOT_RESOLVED  # a wide interval is never "no effect"
    assert claims.equivalence_margin() == claims.equivalence_margin({"claims": {"equivalence_margin": 0.01}})
    with pytest.raises(Exception, match="equivalence_margin must be a number between 0 and 1"):
        claims.equivalence_margin({"claims": {"equivalence_margin": 2}})
