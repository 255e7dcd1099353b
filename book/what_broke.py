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
# # What actually broke
#
# The original code had several defects at once, so its stuck Jaccard cannot tell which one
# mattered. The `bug_ablation` study answers that: it trains the corrected recipe, then the
# corrected recipe with exactly one of the original's defects put back, each on the same seeds,
# and the original recipe as its training script wrote it. Every run logs the three metric
# variants side by side and is evaluated on the official test volume.
#
# **What you need:** the three metrics of {doc}`metric_lesson`; the results of the
# `bug_ablation` study (`mitolib study run bug_ablation && mitolib study collect bug_ablation`,
# with the book's profile).

# %% tags=["remove-cell"]
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from mitolib import book, claims, curve_plots, notices, plots, summaries, verdicts
from mitolib.config import load_config
from mitolib.listing import listing_agreement

results = book.load_study("bug_ablation")
report = book.load_csv("original_report")
reported = report[(report["table"] == "reported_jaccard") & (report["quantity"] == "best_jaccard")]["value"]
band = (reported.min(), reported.max())
planned = verdicts.planned_hashes(results.plan)
current, earlier = verdicts.split_by_plan(results.done, planned)
shown = current if len(current) else earlier
design = "current" if len(current) else "earlier"
history = results.history_with("variant")
history = history[history["run_id"].isin(shown["run_id"])]
best_soft = (history.query("metric == 'soft_jaccard' and split == 'val'").groupby("run_id")["value"].max()
             .rename("best_soft_jaccard"))
shown = shown.merge(best_soft, on="run_id", how="left")
seeds_per_variant = shown.groupby("variant")["run_id"].count()
book.glue("planned_runs", f"{len(planned)}")
book.glue("current_runs", f"{len(current)}")
book.glue("earlier_runs", f"{len(earlier)}")
book.glue("band_text", f"{band[0]:.3f}–{band[1]:.3f}")
book.glue("confidence", f"{claims.CONFIDENCE:.0%}")

# %% [markdown]
# ## The verdict

# %% tags=["remove-cell"]
in_band = verdicts.band_table(shown, "best_soft_jaccard", *band)
inside = in_band[in_band["inside"] > 0]
nearest = verdicts.nearest_to_band(in_band)
if design == "current" and "corrected" in set(shown["variant"]):
    effects = verdicts.effects_table(shown, "test_iou", "corrected")
    verdict = (f"On the current design ({len(current)} of {len(planned)} planned runs collected), "
               + verdicts.ablation_verdict(shown, band))
else:
    effects = None
    one_seed = int((seeds_per_variant == 1).sum())
    verdict = (f"**Not settled yet.** The redesigned ablation has {len(current)} of its {len(planned)} planned runs "
               f"(every variant on the same seeds) collected. The runs shown below are the earlier design: "
               f"{one_seed} of its {len(seeds_per_variant)} variants have one seed each, so no difference between "
               "them can be resolved, and its `original_recipe` combined every defect with a mispairing the "
               "original most likely did not have (see the listing measurement below). In that design the "
               "variants whose best validation soft Jaccard falls in the original band are: "
               + (", ".join(f"`{r.variant}` ({r.mean:.3f})" for r in inside.itertuples()) or "none"))
    verdict += (f"; the nearest is `{nearest['variant']}` at {nearest['mean']:.3f}, a single run." if
                nearest is not None and not len(inside) else ".")
book.glue("verdict", verdict)

# %% [markdown]
# {glue:md}`verdict`

# %% tags=["remove-input"]
if effects is not None:
    display(book.markdown_table(pd.DataFrame({
        "variant": [f"`{g}`" for g in effects["group"]],
        "test IoU minus `corrected`, 95 % interval over paired seeds": [
            verdicts.effect_text(row) for _, row in effects.iterrows()]})))
learned = shown[shown["best_val_iou"] > 0]  # a run that never predicted foreground has no best epoch to read
improving = learned[claims.still_improving(learned)]
book.glue("improving_text", (
    f"{len(improving)} of the {len(learned)} runs shown that learned anything had their best epoch at their last "
    f"({', '.join(sorted(set(improving['variant'])))}): they were still improving when their budget ended, so "
    "the differences on this page hold at this budget and may shrink or grow with longer training."
    if len(improving) else
    f"Every one of the {len(learned)} runs shown that learned anything peaked before its last epoch."))

# %% [markdown]
# {glue:md}`improving_text`

# %% tags=["remove-input"]
notices.notice(results)

# %% [markdown]
# ## What the original code did
#
# Three facts about the original training script
# (`224_225_226_mito_segm_using_various_unet_models_original.py` of the public repository
# Zhao-Xiaodan/unet-HPC) decide what a faithful reproduction is.
#
# **The pairing.** The script lists the patch folders with two unsorted calls,
# `images = os.listdir(image_directory)` and `masks = os.listdir(mask_directory)`, and pairs the
# i-th image with the i-th mask. Its dataset script had written each patch and its mask under
# the same name (`patch_000000.tif`, …) into the two folders. Whether two listings of folders
# holding the same names agree is a property of the file system, so it is measured here, on the
# machine that builds this book:

# %% tags=["remove-cell"]
listing = listing_agreement()
book.glue("listing_count", f"{listing['count']:,}")
book.glue("listing_same", "agree" if listing["same_names_agree"] else "do not agree")
book.glue("listing_sorted", "sorted" if listing["same_names_sorted"] else "not sorted (hash order)")
book.glue("listing_pairs", f"{listing['different_names_pairs']}")

# %% [markdown]
# two folders of {glue:md}`listing_count` identically named files, the masks written in another
# order than the images, list in orders that {glue:md}`listing_same`; the order itself is
# {glue:md}`listing_sorted`. With differing names (`img_…` against `mask_…`) only
# {glue:md}`listing_pairs` positions hold a matching pair. So the original's pairing was most
# likely correct; unsorted listing is a hazard (it breaks as soon as the names differ, or the two
# folders live on different file systems), not a measured cause. `mitolib.listing` runs this
# check; `tests/test_listing.py` tests it.
#
# **The learning rate.** Every model is compiled with `optimizer=Adam(lr = 1e-2)`, imported
# as `from tensorflow.keras.optimizers import Adam`. What that call applies depends on the
# Keras inside TensorFlow; `audits/adam_lr.py` makes the call in separate environments:

# %% tags=["remove-input"]
adam = book.load_csv("original_adam_lr", keep_default_na=False)
book.markdown_table(adam.rename(columns={"applied_learning_rate": "learning rate applied"}))

# %% tags=["remove-cell"]
applied = sorted({row for row in adam["applied_learning_rate"] if row})
book.glue("adam_applied", " and ".join(f"`{value}`" for value in applied))

# %% [markdown]
# With Keras 2 (TensorFlow `2.15`, or `2.16` with the legacy Keras) the `lr` argument is logged as
# deprecated and dropped, and Adam keeps its default: the learning rate applied is
# {glue:md}`adam_applied`, not the one written. With Keras 3 the call raises, so the original
# cannot have run there. The faithful `original_recipe` therefore trains at the applied rate;
# `original_recipe_lr_1e-2` keeps the written one as a separate variant.
#
# **The rest of the recipe**, read from the same script: focal loss with gamma 2
# (`BinaryFocalLoss(gamma=2)`), a batch normalisation between the final convolution and the
# sigmoid (momentum `0.99`, Keras' default), grayscale patches read as three identical channels
# (`cv2.imread(..., 1)`), a random patch split (`train_test_split(..., test_size = 0.10,
# random_state = 0)`), no augmentation, `fit(..., shuffle=False)` (one fixed sample order),
# no schedule and no early stopping, and the soft Jaccard `jacard_coef` as its only Jaccard.
#
# ## The variants
#
# Each variant changes only the settings listed (from `studies.yml`); everything else is the
# corrected recipe of the book's profile. The original recipe runs at full resolution on
# non-overlapping 256-pixel patches, as written, but narrower and shorter than the original, which
# a 2-core machine allows: {glue:md}`scaled_text`.

# %% tags=["remove-cell"]
original_profile = load_config()["profiles"]["original"]  # the original script's settings, full size
faithful = current[current["variant"] == "original_recipe"]
if len(faithful):
    run = faithful.iloc[0]
    per_epoch = int(run["optimizer_steps"]) // int(run["epochs_run"])
    original_per_epoch = per_epoch * int(run["batch_size"]) // int(original_profile["batch_size"])  # same patches
    original_steps = original_per_epoch * int(original_profile["epochs"])
    book.glue("scaled_text", (
        f"{int(run['base_filters'])} filters in the first layer instead of {original_profile['base_filters']}, and "
        f"{int(run['epochs'])} epochs instead of {original_profile['epochs']}: {int(run['optimizer_steps']):,} optimizer "
        f"steps of batch {int(run['batch_size'])} instead of about {original_steps:,}, on the same patches; "
        f"{claims.summarize(faithful['train_seconds'] / 60).text(1)} minutes of training per run here"))
else:
    book.glue("scaled_text", (f"the profile's width instead of {original_profile['base_filters']} filters and its "
                              f"epochs instead of {original_profile['epochs']} (no run of it is collected yet)"))

# %% tags=["remove-input"]
settings = summaries.variant_settings("bug_ablation")
counts = current.groupby("variant")["run_id"].count().rename("current runs")
listed = settings.merge(counts, on="variant", how="left").fillna({"current runs": 0})
book.markdown_table(listed.astype({"current runs": int}))

# %% [markdown]
# ## Each defect alone
#
# For every variant shown (the {glue:md}`design_text`): the best validation soft Jaccard over all
# epochs (what the original report quoted), the validation IoU at the run's best epoch and the
# foreground IoU on the whole test volume, as mean ± sd over its seeds with their number.

# %% tags=["remove-cell"]
book.glue("design_text", "current design" if design == "current" else
          "earlier single-seed design, until the current one is collected")
table = (shown.groupby("variant", sort=False)
         .agg(seeds=("run_id", "count"),
              best_val_soft_jaccard=("best_soft_jaccard", lambda v: claims.summarize(v).text()),
              best_val_iou=("best_val_iou", lambda v: claims.summarize(v).text()),
              test_iou=("test_iou", lambda v: claims.summarize(v).text()))
         .reset_index())
if design == "earlier":
    recorded = shown.set_index("variant")
    table["recorded settings"] = [", ".join(f"{key} {recorded.loc[v, key]}" for key in
                                            ("mispair", "learning_rate", "loss", "head_batch_norm", "monitor")
                                            if key in recorded.columns) for v in table["variant"]]

# Variants whose runs are identical to corrected's (same training, another checkpoint rule, same best epoch).
key = ["best_soft_jaccard", "best_val_iou", "test_iou"]
reference = shown[shown["variant"] == "corrected"].set_index("seed")[key]
identical = sorted(v for v, runs in shown[shown["variant"] != "corrected"].groupby("variant")
                   if len(reference) and runs.set_index("seed")[key].reindex(reference.index).equals(reference))
book.glue("identical", ("The runs of " + ", ".join(f"`{v}`" for v in identical) + " are identical to those of "
                        "`corrected` (the same training; only the checkpoint rule differed, and it chose the same "
                        "epoch), so the figures draw them once, as `corrected`.") if identical else
          "No variant's runs are identical to those of `corrected`.")

# %% [markdown]
# {glue:md}`identical`

# %% tags=["remove-input"]
book.markdown_table(table.rename(columns={"best_val_soft_jaccard": "best val soft Jaccard",
                                          "best_val_iou": "val IoU (best epoch)", "test_iou": "test IoU"}))

# %% tags=["hide-input"]
at_best = book.metrics_at_best_epoch(results).merge(shown[["run_id", "variant"]], on="run_id")
test = shown[["variant", "test_iou"]].rename(columns={"test_iou": "value"}).assign(metric="test_iou")
frame = pd.concat([at_best[["variant", "metric", "value"]], test], ignore_index=True)
labels = {**book.METRIC_LABELS, "test_iou": "test IoU (whole volume)",
          **{m: f"validation {book.METRIC_LABELS[m]}" for m in book.JACCARD_METRICS}}
order = [v for v in settings["variant"] if v in set(shown["variant"])] + sorted(
    set(shown["variant"]) - set(settings["variant"]))
order = [v for v in order if v not in identical]
fig = plots.ablation_bars(frame, order=order, metrics=[*book.JACCARD_METRICS, "test_iou"], labels=labels,
                          band=band, band_label="original report's values")
book.glue_figure("fig-ablation", fig)
book.glue("ablation_conclusion", (
    "the variants whose soft Jaccard falls in the band: " + ", ".join(
        f"`{r.variant}` ({claims.Summary(r.runs, r.mean, r.sd).text()})" for r in inside.itertuples())
    + "; the IoU bars beside them show what those models really reach." if len(inside) else
    "no variant's soft Jaccard falls in the band; the nearest is "
    + (f"`{nearest['variant']}` ({nearest['mean']:.3f})." if nearest is not None else "none.")))

# %% [markdown]
# ```{glue:figure} fig-ablation
# :name: fig-ablation
#
# The `bug_ablation` study ({glue:md}`design_text`). Bars: the validation soft Jaccard,
# thresholded Jaccard (both averaged per batch) and IoU (whole validation set) at each run's
# best epoch, and the foreground IoU on the test volume, averaged over seeds. The grey band
# spans the Jaccard values of the original report. Only a variant with a soft Jaccard bar in
# the band reproduces the report's number, and its IoU bars show what the same model really
# reaches.
# **Conclusion:** {glue:md}`ablation_conclusion`
# ```
#
# ## The same model, measured two ways
#
# The report's "improvement factor" divided a corrected model's score by the soft Jaccard of
# another run. The meaningful comparison is within one model: the soft Jaccard it was judged
# by, against the thresholded IoU of the same checkpoint on validation and on the test volume.

# %% tags=["remove-cell"]
two_ways = shown.groupby("variant", sort=False).agg(
    soft=("best_soft_jaccard", "mean"), val_iou=("best_val_iou", "mean"), test_iou=("test_iou", "mean"))
distance = np.maximum(band[0] - two_ways["soft"], two_ways["soft"] - band[1]).clip(lower=0)
reproducing = [v for v in inside["variant"]] or ([distance.idxmin()] if len(distance) else [])
two_ways_text = "; ".join(
    f"`{v}`: soft Jaccard {two_ways.loc[v, 'soft']:.3f}, validation IoU {two_ways.loc[v, 'val_iou']:.3f}, "
    f"test IoU {two_ways.loc[v, 'test_iou']:.3f}" for v in reproducing)
book.glue("two_ways", two_ways_text or "no runs")

# %% [markdown]
# {glue:md}`two_ways`.
#
# ## One training, three checkpoint rules
#
# Choosing the checkpoint by the soft Jaccard, by the per-batch thresholded Jaccard or by the
# IoU changes only which epoch is kept, not the training. The current design therefore keeps
# the best checkpoint by each rule during the `corrected` runs (`select_by_all_monitors`) and
# scores all three on the test volume, instead of training three times.

# %% tags=["remove-input"]
selection_path = results.path / "selection.csv"
if selection_path.is_file():
    selection = pd.read_csv(selection_path)
    selection = selection[selection["run_id"].isin(current["run_id"])]
    display(book.markdown_table(selection.groupby("monitor")[["best_epoch", "best_val_iou", "test_iou"]]
                                .agg(lambda v: claims.summarize(v).text()).reset_index()))
else:
    display(Markdown(":::{note}\nNo `corrected` run of the current design has been collected yet, so "
                          "there is no table of the three checkpoint rules in this build.\n:::"))

# %% [markdown]
# ## How the variants train
#
# Each panel shows one variant's validation IoU curves (one line per seed) against those of
# `corrected` in grey. What to look for: whether a variant learns at all (mispairing breaks the
# link between an image and its mask); whether validation runs ahead of the test volume (a split
# that puts neighbouring slices on both sides); whether a variant is still rising at its last
# epoch.

# %% tags=["hide-input"]
variants_drawn = [v for v in order if v != "corrected"]
fig = curve_plots.variant_panels(history, reference="corrected", variants=variants_drawn, metric="iou",
                           labels={v: v for v in order})
book.glue_figure("fig-ablation-curves", fig)
by_variant = shown.groupby("variant")["best_val_iou"].mean()
lowest = by_variant.drop("corrected", errors="ignore")
book.glue("curves_conclusion", (
    f"the lowest curves are those of `{lowest.idxmin()}` (best validation IoU {lowest.min():.3f} on average, "
    f"`corrected` {by_variant['corrected']:.3f}); which gaps exceed the seed spread is in the table of paired "
    "differences above." if len(lowest) and "corrected" in by_variant else "there is no pair of curves to compare yet."))

# %% [markdown]
# ```{glue:figure} fig-ablation-curves
# :name: fig-ablation-curves
#
# Validation IoU per epoch of every `bug_ablation` variant (colour, one line per seed) against
# the `corrected` runs (grey), {glue:md}`design_text`. A panel whose lines stay below the grey
# ones names a defect that costs accuracy; one that overlaps them, a defect that does not.
# **Conclusion:** {glue:md}`curves_conclusion`
# ```
#
# ## The reproduction, soft and thresholded

# %% tags=["hide-input"]
original = shown[shown["variant"] == "original_recipe"]["run_id"]
fig = curve_plots.reproduction_curves(history[history["run_id"].isin(original)], reported=list(reported),
                                reported_label="original report", metrics={
                                    "soft_jaccard": "soft Jaccard (the original's metric)",
                                    "iou": "IoU (whole validation set)"})
book.glue_figure("fig-reproduction", fig)
peaks = history[history["run_id"].isin(original) & (history["split"] == "val")].groupby("metric")["value"].max()
book.glue("reproduction_conclusion", (
    f"the soft Jaccard of these runs peaks at {peaks['soft_jaccard']:.3f} (the report: {band[0]:.3f}–{band[1]:.3f}) "
    f"and their IoU at {peaks['iou']:.3f}." if {"soft_jaccard", "iou"} <= set(peaks.index) else
    "no `original_recipe` run is collected in this build."))
book.glue("original_settings", "the faithful recipe" if design == "current" else
          "the earlier design's `original_recipe`, which also mispaired its masks")

# %% [markdown]
# ```{glue:figure} fig-reproduction
# :name: fig-reproduction
#
# Validation soft Jaccard and IoU per epoch of the `original_recipe` runs
# ({glue:md}`original_settings`), with the original report's three values as dotted lines.
# Where the soft Jaccard sits on those lines and the IoU far above them, the report's number
# was the metric; where both stay low, the model did not learn.
# **Conclusion:** {glue:md}`reproduction_conclusion`
# ```
#
# ## Summary
#
# * The verdict at the top is computed from the runs of the current design; until they are
#   collected it says so and shows the earlier design with the warning it deserves.
# * The original's pairing was most likely correct, and its written learning rate was not the
#   one applied; both are measured above.
# * Every effect is a paired difference over the same seeds with a {glue:md}`confidence`
#   interval (`mitolib.claims`); an interval containing zero reads "no measurable effect at this
#   budget".
#
# ## Try it yourself
#
# * Run the whole ablation: `mitolib study run bug_ablation --profile cpu` then
#   `mitolib study collect bug_ablation --profile cpu`.
# * Put one defect back by hand: `mitolib train --profile cpu -p mispair true`, or
#   `-p split random_patches`, `-p channels 3`, `-p learning_rate 0.01`,
#   `-p monitor soft_jaccard`.
# * Repeat the learning-rate audit: `audits/run_adam_lr.sh`.
