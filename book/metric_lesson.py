# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The metric lesson
#
# The original study watched a "Jaccard coefficient" that stayed in a narrow low band and
# concluded that its formula was wrong. This page shows, on inputs whose answer we know, what
# the three Jaccard variants logged by every run of this book (soft, thresholded per batch,
# whole-set IoU) actually measure, and why the original model's head and loss push the soft
# one down. Nothing here is trained and nothing is read from results: every value is computed
# with `mitolib.model.metrics` when the page is built, in seconds.
#
# **What you need:** the three definitions in {doc}`the introduction <introduction>`; the code cells can be
# opened to see each computation.

# %% tags=["remove-cell"]
import numpy as np
import pandas as pd

from mitolib.report import pages, lesson, notices
from mitolib.model import metrics
from mitolib.figures import plots

report = pages.load_csv("original_report")
reported = report[(report["table"] == "reported_jaccard") & (report["quantity"] == "best_jaccard")]["value"]
band = (reported.min(), reported.max())
labels = pages.METRIC_LABELS

# %% tags=["remove-input"]
notices.notice(lesson=True)

# %% [markdown]
# ## Same masks, less confidence
#
# We draw 32 patches of random disks and a probability map whose thresholded mask is a
# slightly shifted copy of the truth (`lesson.disk_masks`). Then we squeeze every probability
# toward one half by a factor (1 keeps the map, 0 makes every probability one half). The
# thresholded mask does not change, so neither the thresholded Jaccard nor the IoU can
# change; only the soft Jaccard, which multiplies probabilities, moves.

# %% tags=["hide-input"]
truth, prob = lesson.disk_masks(32, 64, shift=2.0, seed=0)
sweep = lesson.confidence_sweep(truth, prob, np.linspace(0.02, 1.0, 25))
at = sweep.pivot(index="factor", columns="metric", values="value")
pages.glue("sq_soft_full", float(at['soft_jaccard'].iloc[-1]))
pages.glue("sq_soft_low", float(at['soft_jaccard'].iloc[0]))
pages.glue("sq_iou", float(at['iou'].iloc[-1]))
pages.glue("sq_iou_range", float(at['iou'].max() - at['iou'].min()))

# %% [markdown]
# A model that predicts nothing but the foreground rate is the other extreme: the same
# probability everywhere. On the EPFL training volume ({glue:text}`fg_percent:.1f` % foreground;
# the test volume has {glue:text}`fg_test_percent:.1f` %), its soft Jaccard can never exceed the
# foreground fraction, whatever the constant.

# %% tags=["hide-input"]
volumes = pages.load_csv("epfl_foreground").set_index("split")  # measured by audits/first_slices.py
foreground = float(volumes.loc["train", "foreground"])
pages.glue("fg_test_percent", 100 * float(volumes.loc["test", "foreground"]))
masks = lesson.mask_with_fraction(foreground)  # a constant prediction's scores depend on the fraction alone
constant = lesson.constant_prediction_sweep(masks, np.linspace(0.05, 1.0, 20))
best_constant = constant[constant["metric"] == "soft_jaccard"]["value"].max()
pages.glue("fg_percent", 100 * foreground)
pages.glue("const_soft_max", float(best_constant))
pages.glue("orig_low", float(band[0]))
pages.glue("orig_high", float(band[1]))

fig, axes = plots.plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
plots.metric_lines(sweep, "factor", labels=labels, ylabel="Jaccard variant",
                   xlabel="confidence factor (1: as predicted; 0: all probabilities one half)", ax=axes[0])
plots.metric_lines(constant[constant["metric"] == "soft_jaccard"], "prediction", labels=labels,
                   ylabel="soft Jaccard", xlabel="constant predicted probability", band=band,
                   band_label="original report's values", ax=axes[1])
pages.glue_figure("fig-soft-vs-threshold", fig)

# %% [markdown]
# ```{glue:figure} fig-soft-vs-threshold
# :name: fig-soft-vs-threshold
#
# Left: the three metrics of one fixed set of masks as its probabilities are squeezed toward
# one half; thresholded Jaccard and IoU do not move. Right: the soft Jaccard of predicting one
# constant probability everywhere on a mask with the EPFL training volume's foreground fraction; the grey band spans the
# values the original report quotes.
# **Conclusion:** squeezed, the soft Jaccard falls from {glue:text}`sq_soft_full:.2f` to {glue:text}`sq_soft_low:.2f`
# while the IoU stays at {glue:text}`sq_iou:.2f`: the soft Jaccard measures confidence as well as overlap.
# ```
#
# With the probabilities as predicted the soft Jaccard is {glue:text}`sq_soft_full:.2f`; squeezed,
# it falls to {glue:text}`sq_soft_low:.2f`, while the IoU stays at {glue:text}`sq_iou:.2f` (it varies by
# {glue:text}`sq_iou_range:.3f` over the sweep). On the training volume's foreground fraction, a
# constant prediction reaches a soft Jaccard of at most {glue:text}`const_soft_max:.3f`. Compare
# the original band, {glue:text}`orig_low:.3f`–{glue:text}`orig_high:.3f`. On this metric, a value
# near the foreground fraction is what a model that has learned almost nothing scores. A good
# model whose probabilities stay near one half can score little more.
#
# ## Empty patches and batch averaging
#
# Keras averages a function metric over batches. The original formula adds one to its
# numerator and denominator, so a batch with no foreground in the truth and none in the
# prediction scores exactly one, and a batch with no foreground in the truth and a single
# false-positive pixel scores one half:

# %% tags=["hide-input"]
empty = np.zeros((4, 32, 32, 1), np.float32)
one_pixel = empty.copy()
one_pixel[0, 0, 0, 0] = 1.0
print("empty vs empty:", float(metrics.thresholded_jaccard(empty, empty)))
print("empty vs one false positive:", float(metrics.thresholded_jaccard(empty, one_pixel)))

# %% [markdown]
# So the share of empty patches changes the mean of per-batch values without any change in
# segmentation quality. Below, the same disk predictions are mixed with a growing share of
# empty patches (predicted empty, correctly) and averaged over batches of four; and a fixed set
# with half its patches empty is averaged over batches of different sizes.

# %% tags=["hide-input"]
empties = lesson.empty_patch_sweep(np.linspace(0.0, 0.9, 10), n=64, size=32, batch_size=4, shift=2.0)
truth_half, prob_half = lesson.disk_masks(64, 32, empty_fraction=0.5, shift=2.0, seed=1)
order = np.random.default_rng(1).permutation(len(truth_half))
batches = lesson.batch_size_sweep(truth_half[order], prob_half[order], [1, 2, 4, 8, 16, 32, 64])
high = empties[empties["empty_fraction"] == empties["empty_fraction"].max()].set_index("metric")["value"]
pages.glue("empty_percent", 100 * float(empties["empty_fraction"].max()))
pages.glue("empty_batch_mean", float(high['thresholded_jaccard']))
pages.glue("empty_iou", float(high['iou']))
per_size = batches.pivot(index="batch_size", columns="metric", values="value")
pages.glue("bs_small", float(per_size['thresholded_jaccard'].iloc[0]))
pages.glue("bs_large", float(per_size['thresholded_jaccard'].iloc[-1]))
pages.glue("bs_iou", float(per_size['iou'].iloc[0]))

fig, axes = plots.plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
plots.metric_lines(empties, "empty_fraction", labels=labels, ylabel="value",
                   xlabel="share of empty patches", ax=axes[0])
plots.metric_lines(batches, "batch_size", labels=labels, ylabel="value", xlabel="batch size",
                   logx=True, ax=axes[1])
pages.glue_figure("fig-empty-patches", fig)

# %% [markdown]
# ```{glue:figure} fig-empty-patches
# :name: fig-empty-patches
#
# Left: per-batch means (soft and thresholded Jaccard, batches of four) and whole-set IoU as
# the share of empty patches grows; the predictions of the non-empty patches are the same
# kind throughout. Right: one set of predictions with half its patches empty, averaged over
# batches of different sizes; the IoU does not depend on the batch size.
# **Conclusion:** with {glue:text}`empty_percent:.0f` % of the patches empty, the per-batch mean reads
# {glue:text}`empty_batch_mean:.2f` where the IoU of the same predictions is {glue:text}`empty_iou:.2f`: a
# per-batch mean depends on how the data are cut.
# ```
#
# With {glue:text}`empty_percent:.0f` % of the patches empty, the mean of per-batch thresholded Jaccard
# is {glue:text}`empty_batch_mean:.2f` while the IoU of the same predictions is {glue:text}`empty_iou:.2f`.
# For a fixed set, the per-batch mean goes from {glue:text}`bs_small:.2f` (one patch per batch) to
# {glue:text}`bs_large:.2f` (the whole set in one batch), which is where it meets the IoU
# ({glue:text}`bs_iou:.2f`). The report's fix, thresholding, therefore still does not give the number
# the literature reports: only counts accumulated over the whole set do
# (`keras.metrics.BinaryIoU`, logged as `iou`).

# %% tags=["remove-cell"]
gaps = []
for name in pages.collected_studies():
    study = pages.load_study(name, min_done=0)
    best = pages.metrics_at_best_epoch(study)
    wide = best.pivot_table(index="run_id", columns="metric", values="value")
    if {"thresholded_jaccard", "iou"} <= set(wide.columns):
        gaps.append((wide["thresholded_jaccard"] - wide["iou"]).abs().rename(name))
gap = pd.concat(gaps) if gaps else pd.Series(dtype=float)
gap = gap[np.isfinite(gap)]
pages.glue("gap_runs", int(len(gap)))
pages.glue("gap_studies", int(len(gaps)))
pages.glue("gap_max", float(gap.max()) if len(gap) else float("nan"))
pages.glue("gap_median", float(gap.median()) if len(gap) else float("nan"))

# %% [markdown]
# On the real runs of this build ({glue:text}`gap_runs` runs of {glue:text}`gap_studies` collected
# studies), at each run's best epoch, the validation per-batch thresholded Jaccard and the
# whole-set IoU differ by at most {glue:text}`gap_max:.3f` (median {glue:text}`gap_median:.3f`).
# With 128-pixel patches few batches are empty, so on these data thresholding alone would nearly
# have fixed the original's number. The aggregation matters where batches are small or often empty.
#
# ## Why focal loss with a batch-normalised head stays away from 0 and 1
#
# **The loss.** For pixels that are foreground with frequency $q$, the expected loss of
# predicting $p$ is $q\,L(1,p) + (1-q)\,L(0,p)$. Binary cross-entropy is minimised at $p=q$: a
# model trained with it is calibrated. Focal loss down-weights pixels that are already well
# classified, and its minimum lies closer to one half. The curves below are the minimisers, found
# on a grid with the library's own losses (`mitolib.model.metrics.make_loss`). Read them as a
# reliability diagram: they show what a perfectly trained model predicts (horizontal axis) for
# pixels whose true foreground frequency is on the vertical axis.

# %% tags=["hide-input"]
frequencies = np.linspace(0.01, 0.99, 50)
optima = [lesson.loss_optimum(frequencies, "bce").assign(condition="binary cross-entropy")]
for gamma in (1.0, 2.0, 5.0):
    optima.append(lesson.loss_optimum(frequencies, "focal", gamma).assign(condition=f"focal, gamma {gamma:g}"))
optima = pd.concat(optima, ignore_index=True)
focal2 = optima[optima["condition"] == "focal, gamma 2"].set_index("frequency")["prediction"]
near = lambda q: focal2.iloc[int(np.argmin(np.abs(focal2.index - q)))]  # noqa: E731
pages.glue("focal_q_high", float(focal2.index[-1]))
pages.glue("focal_p_high", float(near(focal2.index[-1])))
pages.glue("focal_q_low", float(focal2.index[0]))
pages.glue("focal_p_low", float(near(focal2.index[0])))

fig = plots.metric_lines(optima, "prediction", y="frequency", hue="condition", diagonal=True,
                         xlabel="probability that minimises the expected loss",
                         ylabel="true foreground frequency")
pages.glue_figure("fig-reliability", fig)

# %% [markdown]
# ```{glue:figure} fig-reliability
# :name: fig-reliability
#
# Reliability of a model trained to the minimum of each loss: the probability it predicts
# (horizontal) for pixels with a given true foreground frequency (vertical). The dotted
# diagonal is perfect calibration; the original study used focal loss with gamma 2.
# **Conclusion:** focal loss predicts {glue:text}`focal_p_high:.2f` for pixels that are foreground
# {glue:text}`focal_q_high:.2f` of the time: it asks for under-confident probabilities.
# ```
#
# With focal loss and gamma 2, pixels that are foreground {glue:text}`focal_q_high:.2f` of the time
# are best predicted at {glue:text}`focal_p_high:.2f`, and pixels that are foreground
# {glue:text}`focal_q_low:.2f` of the time at {glue:text}`focal_p_low:.2f`. The loss itself asks for
# under-confident probabilities, which the soft Jaccard then punishes.
#
# **The head.** The original model put a batch normalisation between the last 1x1 convolution
# and the sigmoid. Batch normalisation standardises the logits over the batch, whatever their
# spread, and then applies a learned scale and shift (initially 1 and 0). Take the best
# possible logits, one value on every mitochondrion pixel and a lower one everywhere else. If
# a fraction $f$ of the pixels is foreground, standardisation maps them to $\sqrt{(1-f)/f}$
# and $-\sqrt{f/(1-f)}$: with rare foreground the background lands just below zero, that is,
# just below a probability of one half.

# %% tags=["hide-input"]
fractions = np.geomspace(0.01, 0.5, 30)
head = lesson.bn_head_sweep(np.append(fractions, foreground), scales=(1.0, 2.0, 4.0))
head["condition"] = "scale " + head["scale"].map("{:g}".format)
at_fg = head[(head["foreground"] == foreground) & (head["scale"] == 1.0)].set_index("metric")["value"]
pages.glue("bn_p_bg", float(at_fg['p_background']))
pages.glue("bn_p_fg", float(at_fg['p_foreground']))
pages.glue("bn_soft", float(at_fg['soft_jaccard']))
pages.glue("bn_iou", float(head[head['metric'] == 'iou']['value'].min()))

curve = head[head["foreground"] != foreground]
fig, axes = plots.plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
plots.metric_lines(curve[curve["metric"] == "soft_jaccard"], "foreground", hue="condition", logx=True,
                   xlabel="foreground fraction", ylabel="soft Jaccard", band=band,
                   band_label="original report's values", ax=axes[0])
plots.metric_lines(curve[curve["metric"] == "p_background"], "foreground", hue="condition", logx=True,
                   xlabel="foreground fraction", ylabel="background probability", reference=0.5, ax=axes[1])
pages.glue_figure("fig-bn-head", fig)

# %% [markdown]
# ```{glue:figure} fig-bn-head
# :name: fig-bn-head
#
# A batch-normalised head on perfectly separating logits, for three values of the learned
# scale (shift 0). Left: the soft Jaccard of these perfect masks against the foreground
# fraction; the grey band spans the original report's values. Right: the probability given
# to every background pixel (dotted: one half, the threshold).
# **Conclusion:** a perfect mask (IoU {glue:text}`bn_iou:g`) scores a soft Jaccard of only
# {glue:text}`bn_soft:.2f` behind this head: a low soft Jaccard alone does not show bad masks.
# ```
#
# At the foreground fraction of the EPFL training volume and the initial scale, background pixels
# get {glue:text}`bn_p_bg:.2f` and mitochondria {glue:text}`bn_p_fg:.2f`. Thresholded, the mask is perfect
# (IoU {glue:text}`bn_iou:g` on every point of the sweep), yet the soft Jaccard is
# {glue:text}`bn_soft:.2f`. Training can grow the scale and lower the shift, but focal loss gives
# little reward for doing so, as the previous figure shows. Whether this, rather than the
# data defects, produced the original band is measured in {doc}`what_broke`.
#
# ## Summary
#
# * The soft Jaccard falls when probabilities move toward one half even if every thresholded
#   pixel is right; the original's band is what a barely confident model scores on it.
# * Per-batch averaging, with or without thresholding, depends on the batch size and on how
#   many patches are empty; only counts accumulated over a whole set give the IoU.
# * Focal loss asks for under-confident probabilities, and a batch-normalised head maps rare
#   foreground's background pixels to just below one half: together they depress the soft
#   metric without saying anything about the masks.
#
# ## Try it yourself
#
# * Open the code cells and change `shift=2.0` in `lesson.disk_masks`. A larger shift makes
#   worse masks: the IoU drops, and so does the soft Jaccard at the confident end of the sweep.
# * Change the `batch_size` of `lesson.empty_patch_sweep`. Smaller batches put more batches with
#   no foreground at all into the mean, so the per-batch value moves further from the IoU.
# * Train with the original head and loss and compare the logged `soft_jaccard` and `iou`
#   curves in the run's `history.csv`:
#   `mitolib train --profile cpu -p loss focal -p head_batch_norm true`. Compare the `iou` and
#   `soft_jaccard` columns epoch by epoch; {doc}`what_broke` measures how far apart this head and
#   loss put them.
