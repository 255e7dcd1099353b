"""Page tables from hand-made runs: this book's rows beside the published figures."""

from __future__ import annotations

import pandas as pd

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
