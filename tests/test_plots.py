"""The figure functions on small generated frames: they return figures with the expected artists."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from mitolib.figures import curve_plots, image_plots, plots  # noqa: E402

ARCHS = ["unet", "attention_unet", "attention_resunet"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def history_frame(seeds=(0, 1), epochs=4) -> pd.DataFrame:
    rows = []
    for arch in ARCHS:
        for seed in seeds:
            run = f"{arch}-{seed}"
            for e in range(1, epochs + 1):
                for metric in ("loss", "iou"):
                    rows.append((run, e, metric, "val", 0.1 * e, arch))
                    rows.append((run, e, metric, "train", 0.1 * e, arch))
                rows.append((run, e, "learning_rate", "", 1e-3, arch))
    return pd.DataFrame(rows, columns=["run_id", "epoch", "metric", "split", "value", "architecture"])


def runs_frame() -> pd.DataFrame:
    rows = []
    for arch in ARCHS:
        for lr in (1e-4, 1e-3):
            for bs in (8, 16):
                rows.append({"run_id": f"{arch}-{lr}-{bs}", "architecture": arch, "learning_rate": lr,
                             "batch_size": bs, "status": "done", "best_val_iou": lr * 100 + bs / 100,
                             "best_epoch": 3, "test_iou": 0.7, "seed": 0})
    frame = pd.DataFrame(rows)
    frame.loc[0, "status"] = "failed"
    frame.loc[0, "best_val_iou"] = np.nan
    return frame


def test_metric_lines_one_line_per_hue_plus_references():
    frame = pd.DataFrame({"x": [0, 1, 0, 1], "metric": ["a", "a", "b", "b"], "value": [0, 1, 1, 0]})
    fig = plots.metric_lines(frame, "x", reference=0.5, diagonal=True, band=(0.1, 0.2))
    (ax,) = fig.axes
    assert len(ax.lines) == 2 + 2  # two metrics, the reference and the diagonal
    assert len(ax.patches) == 1  # the band
    assert ax.get_title() == ""


def test_metric_lines_draws_on_a_given_axis():
    fig, axes = plt.subplots(1, 2)
    frame = pd.DataFrame({"x": [0, 1], "metric": ["a", "a"], "value": [0, 1]})
    returned = plots.metric_lines(frame, "x", ax=axes[1])
    assert returned is fig and len(axes[1].lines) == 1 and not axes[0].lines



def test_ablation_bars_one_bar_per_variant_and_metric():
    frame = pd.DataFrame({"variant": ["v1", "v1", "v2", "v2", "v3"], "metric": ["m1", "m2", "m1", "m2", "m1"],
                          "value": [0.5, 0.6, 0.1, 0.2, 0.3]})
    fig = plots.ablation_bars(frame, order=["v1", "v2", "v3"], band=(0.07, 0.09))
    (ax,) = fig.axes
    bars = [p for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)]
    assert len(bars) == 5 + 1  # five values and the band
    assert [t.get_text() for t in ax.get_yticklabels()] == ["v1", "v2", "v3"]
    assert any(t.get_text() == "failed" for t in ax.texts)  # v3 has no m2


def test_heatmaps_one_panel_per_group_with_failures_crossed():
    fig = plots.heatmaps(runs_frame())
    assert len(fig.axes) == len(ARCHS) + 1  # plus the colour bar
    first = fig.axes[0]
    assert len(first.images) == 1 and first.images[0].get_array().shape == (2, 2)
    assert len(first.lines) == 1  # the cross of the failed run
    assert len(first.texts) == 3  # annotated completed cells


def test_dot_plot_points_and_means():
    frame = runs_frame()
    fig = plots.dot_plot(frame, x="learning_rate", y="best_epoch", hue="architecture")
    (ax,) = fig.axes
    assert len(ax.get_xticks()) == 2
    assert len(ax.get_legend().get_texts()) == len(ARCHS)


def test_score_summary_rows_for_ours_and_published():
    ours = runs_frame().assign(test_iou=lambda f: 0.7 + 0.01 * f.index)
    published = pd.DataFrame({"label": ["paper A", "paper B"], "value": [0.85, 0.9]})
    fig = plots.score_summary(ours, published)
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [*ARCHS, "paper A", "paper B"]


def test_slice_scores_one_line_per_group():
    slices = pd.DataFrame({"slice": [0, 1] * 4, "iou": np.linspace(0.5, 0.9, 8), "run_id": list("aabbccdd"),
                           "architecture": ["unet"] * 4 + ["attention_unet"] * 4})
    fig = plots.slice_scores(slices)
    (ax,) = fig.axes
    assert len(ax.lines) == 2 and len(ax.collections) == 2


def test_error_overlay_and_gallery():
    image = np.random.default_rng(0).integers(0, 255, (16, 16), dtype=np.uint8)
    truth = np.zeros((16, 16), bool)
    truth[4:8, 4:8] = True
    pred = np.roll(truth, 2, axis=1)
    fig = image_plots.error_overlay(image, truth, pred)
    (ax,) = fig.axes
    assert len(ax.images) == 2
    image_plots.error_legend(ax)
    assert len(ax.get_legend().get_texts()) == 3
    gallery = image_plots.slice_gallery([image, image], [truth, pred], titles=["a", "b"])
    assert len(gallery.axes) == 2


def test_histogram_one_step_per_group():
    frame = pd.DataFrame({"v": np.arange(20.0), "g": ["a", "b"] * 10})
    fig = plots.histogram(frame, value="v", hue="g", bins=5)
    (ax,) = fig.axes
    assert len(ax.patches) == 2


def test_colours_are_stable_and_distinct():
    few = plots.colours(["a", "b", "c"])
    assert few == plots.colours(["a", "b", "c"]) and len(set(few.values())) == 3
    many = plots.colours([str(i) for i in range(12)])
    assert len(set(many.values())) == 12


def test_paired_intervals_draws_measured_rows_filled_when_resolved():
    from mitolib.figures import plots

    table = pd.DataFrame({"group": ["a", "b", "c"], "difference": [0.02, -0.01, float("nan")],
                          "low": [0.01, -0.03, float("nan")], "high": [0.03, 0.01, float("nan")],
                          "resolved": [True, False, False]})
    fig = plots.paired_intervals(table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]  # the unmeasured row is left out
    dots = [line for line in ax.lines if line.get_marker() == "o" and len(line.get_xdata())]
    assert [line.get_markerfacecolor() for line in dots] == [plots.OKABE_ITO[0], "white"]


def test_variant_panels_one_panel_per_variant_lettered():
    rows = [{"run_id": f"{v}_{s}", "variant": v, "epoch": e, "metric": "iou", "split": "val", "value": 0.1 * e}
            for v in ("corrected", "x", "y") for s in (0, 1) for e in (1, 2, 3)]
    fig = curve_plots.variant_panels(pd.DataFrame(rows), reference="corrected", variants=["corrected", "x", "y"])
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_visible()]
    assert titles == ["(a) x", "(b) y"]
    assert len(fig.axes[0].lines) == 4 + 2  # two runs each of corrected and x, plus two legend handles


def test_curves_by_group_one_column_per_group_lettered():
    rows = [{"run_id": f"{g}{s}", "architecture": g, "epoch": e, "metric": m, "split": sp, "value": 0.1 * e}
            for g in ("unet", "attention_unet") for s in (0, 1) for e in (1, 2, 3)
            for m in ("loss", "iou") for sp in ("train", "val")]
    best = pd.DataFrame({"run_id": ["unet0"], "best_epoch": [2]})
    fig = curve_plots.curves_by_group(pd.DataFrame(rows), metrics=["loss", "iou"], best_epochs=best)
    axes = fig.axes
    assert [ax.get_title(loc="left") for ax in axes] == ["(a) unet", "(b) attention_unet", "(c)", "(d)"]
    assert len(axes[0].lines) == 2 + 2 + 1  # two train and two val lines, one best-epoch circle


def test_ablation_bars_label_bars_too_short_to_see():
    frame = pd.DataFrame({"variant": ["a", "a", "b", "b"], "metric": ["iou", "soft", "iou", "soft"],
                          "value": [0.0, 0.02, 0.8, 0.5]})
    fig = plots.ablation_bars(frame)
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["0.000", "0.020"]


def test_logged_beside_reproduced_draws_a_line_per_run_and_the_reference():
    rows = []
    for column in ("unet", "attention_unet"):
        for source, units in (("logged", ["main"]), ("faithful", ["s0", "s1"])):
            for unit in units:
                for epoch in (1, 2, 3):
                    rows.append({"column": column, "source": source, "unit": unit, "epoch": epoch,
                                 "metric": "accuracy", "value": 0.3 * epoch})
                    rows.append({"column": column, "source": source, "unit": unit, "epoch": epoch,
                                 "metric": "val_original_jaccard", "value": 10.0 ** -epoch})
    fig = curve_plots.logged_beside_reproduced(
        pd.DataFrame(rows), metrics=["accuracy", "val_original_jaccard"], columns=["unet", "attention_unet"],
        sources=["logged", "faithful"], reference_lines={("accuracy", "unet"): 0.92}, reference_label="empty mask",
        log_metrics=["val_original_jaccard"])
    axes = fig.axes
    assert len(axes) == 4  # 2 metrics x 2 architectures, row by row
    assert len(axes[0].lines) == 3 + 1  # three runs and the reference line
    assert len(axes[1].lines) == 3  # no reference line for attention_unet
    assert axes[2].get_yscale() == "log" and axes[0].get_yscale() == "linear"
    assert axes[0].lines[-2].get_color() == "#000000"  # the logged run drawn last (on top), in black
    plt.close(fig)
