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
# # Results on the test volume
#
# What the three architectures reach on the official EPFL test volume: foreground IoU and
# Dice over the whole volume at full resolution, as the mean and spread over seeds, next to
# published figures for this dataset with their protocols. The runs are those of the `seeds`
# study; each run's best checkpoint (chosen on validation data) is evaluated once.
#
# **What you need:** the results of the `seeds` study for the book's profile; for the example
# predictions, runs that saved their test masks (`-p save_predictions true`) and the test data
# (`$MITOLIB_DATA` for the EPFL volume; the synthetic volume is rebuilt).

# %% tags=["remove-cell"]
import pandas as pd
from IPython.display import Markdown, display

from mitolib.report import pages, levers, notices, predictions, summaries, targets, verdicts
from mitolib.core import claims, rundir, tables
from mitolib.figures import curve_plots, image_plots, plots
from mitolib.results import scores
from mitolib.core.config import target
from mitolib.core.errors import ResultsMissing

results = pages.load_study("seeds")
pages.glue("confidence", f"{claims.CONFIDENCE:.0%}")
published = pages.load_csv("published")
labels = pages.ARCHITECTURE_LABELS

# %% tags=["remove-input"]
notices.notice(results)

# %% [markdown]
# ## Foreground IoU and Dice per architecture

# %% tags=["remove-input"]
done = pages.by_architecture(results.done)
order = pages.ordered_architectures(done["architecture"])
rows = []
for arch in order:
    part = done[done["architecture"] == arch]
    rows.append({"architecture": pages.arch_label(arch), "runs (seeds)": len(part),
                 "test IoU": claims.summarize(part["test_iou"]).text(),
                 "test Dice": claims.summarize(part["test_dice"]).text(),
                 "min–max IoU": f"{part['test_iou'].min():.3f}–{part['test_iou'].max():.3f}"})
pages.glue("protocol", summaries.protocol_text(done))
pages.markdown_table(pd.DataFrame(rows))

# %% tags=["remove-cell"]
tiers = claims.resolved_order(done, "test_iou", "architecture")
pairs = claims.compare(done.assign(order=done["architecture"].map(
    {a: i for i, a in enumerate(done.groupby("architecture")["test_iou"].mean().sort_values(ascending=False).index)}))
    .sort_values(["order", "seed"]), "test_iou", "architecture")
pairs = pairs[pairs["reference"].notna()]
devices = done.groupby("architecture")["device"].agg(lambda d: frozenset(d.astype(str))) if "device" in done else {}
pairs = pairs.assign(same_machine=[bool(len(devices)) and devices[g] == devices[r] and len(devices[g]) == 1
                                   for g, r in zip(pairs["group"], pairs["reference"])])
pages.glue("arch_pairs", int(len(pairs)))
pages.glue("arch_resolved", int(pairs["resolved"].sum()))
pages.glue("arch_resolved_same_machine", int((pairs["resolved"] & pairs["same_machine"]).sum()))

# %% [markdown]
# Mean ± standard deviation over seeds; IoU and Dice count every pixel of the test volume
# (foreground class only), by the protocol of the runs: {glue:md}`protocol`.
#
# **Which architecture is best?** None, yet. The table pairs each architecture with the next lower
# mean over the same seeds, with the {glue:md}`confidence` interval of the difference.
# Differences whose interval excludes zero: {glue:text}`arch_resolved` of {glue:text}`arch_pairs`.
# Of those, from runs trained on the same machine: {glue:text}`arch_resolved_same_machine`. A
# difference between architectures trained on different machines mixes the machine's arithmetic
# into it, so the book does not credit it to the architecture.

# %% tags=["remove-input"]
pages.markdown_table(pairs.assign(group=pairs["group"].map(pages.arch_label),
                                  reference=pairs["reference"].map(pages.arch_label),
                                  interval=[verdicts.effect_text(r) for _, r in pairs.iterrows()],
                                  same_machine=pairs["same_machine"].map({True: "yes", False: "no"}))
                     [["group", "reference", "interval", "same_machine"]]
                     .rename(columns={"group": "architecture", "reference": "minus", "interval":
                                      "test IoU difference [interval]", "same_machine": "same machine"}))
#
# ## Next to published figures
#
# Published numbers on this dataset come from different protocols (2D or 3D networks,
# post-processing, the original or the re-annotated Lucchi++ labels, whole-volume or averaged
# scores). The table states each one's protocol, this book's rows first (measured here, their
# protocol read from the runs' parameters); the others are citations, not measurements of this book.
# A figure is listed only once its value and its protocol have been checked in its source. Casser et al.
# (2020, on the Lucchi++ labels) and Franco-Barranco et al. (2022, the same three architecture families,
# several runs each) are not listed for that reason: their abstracts give no per-dataset value with its
# protocol, and their result tables have not been checked.

# %% tags=["hide-input"]
shown = published[["label", "method", "dataset", "metric", "value", "protocol", "source"]].copy()
shown["source"] = "<" + shown["source"] + ">"
post_path = results.path / "postprocessing.csv"
ours = summaries.own_rows(done, results.study, results.profile,
                          pd.read_csv(post_path) if post_path.is_file() else None
                          ).assign(source=lambda t: "`" + t["source"] + "`")
display(pages.markdown_table(pd.concat([ours, shown], ignore_index=True), formats={"value": ""}))
foreground = published[~published["metric"].str.startswith("mean IoU")]  # like with like: foreground only
pub = foreground.assign(label=foreground["label"] + " (" + foreground["metric"] + ")")[["label", "value"]]
plain_rows = published[published["label"] == "PyTorch Connectomics benchmark"]["value"]
pages.glue("benchmark_plain", float(plain_rows.iloc[0]) if len(plain_rows) else float("nan"))
post = pd.read_csv(post_path) if post_path.is_file() else pd.DataFrame(columns=["run_id", "z_median",
                                                                              "threshold_source", "test_iou"])
raw = post[(post["z_median"] == summaries.RAW_STEP["z_median"])
           & (post["threshold_source"] == summaries.RAW_STEP["threshold_source"])].merge(
    done[["run_id", "architecture"]], on="run_id")
drawn = pd.concat([done[["architecture", "test_iou"]].assign(group=done["architecture"].map(pages.arch_label)),
                   raw[["architecture", "test_iou"]].assign(group=raw["architecture"].map(pages.arch_label) + ", raw")],
                  ignore_index=True)
pages.glue("raw_best", float(raw.groupby("architecture")["test_iou"].mean().max()) if len(raw) else float("nan"))
pages.glue("processed_best", float(done.groupby("architecture")["test_iou"].mean().max()))
fig = plots.score_summary(pages.by_architecture(drawn), pub, value="test_iou", by="group",
                          xlabel="foreground IoU (ours: test volume; published: as stated)")
pages.glue_figure("fig-test-scores", fig)

# %% [markdown]
# ```{glue:figure} fig-test-scores
# :name: fig-test-scores
#
# Test-volume foreground IoU of every run of the `seeds` study (dots), with the mean ± one
# standard deviation per architecture, with the run's own post-processing and raw (", raw": no
# z-median, the fixed threshold, like for like with the benchmark's plain row); below the rule, published figures (diamonds) with the
# protocols of the table above (a mean IoU of both classes is in the table, not drawn: the
# background lifts it). A published value compares with ours only where its protocol matches
# (a threshold fixed or chosen on validation data, never on the test volume; the same
# post-processing) and only on a real-data profile (see the box at the top).
# **Conclusion:** like for like (no post-processing, threshold one half), this book's best
# architecture scores {glue:text}`raw_best:.3f` against the benchmark's {glue:text}`benchmark_plain:.3f`.
# With its own post-processing it reaches {glue:text}`processed_best:.3f`. The benchmark's rows with
# another threshold chose it on the test volume itself: they are optimistic, and compare with neither
# of our numbers.
# ```
#
# Full citations:

# %% tags=["remove-input"]
Markdown("\n".join(f"* {row.citation}" for row in published.itertuples()))

# %% [markdown]
# ## What a biologist reads
#
# Precision (the share of predicted mitochondrion pixels that are mitochondrion) and recall (the
# share of mitochondrion pixels found), over the whole test volume at threshold one half, mean ±
# sd over seeds:

# %% tags=["remove-input"]
pixel = scores.pixel_scores(results.test_slices).merge(done[["run_id", "architecture"]], on="run_id")
pages.markdown_table(pd.DataFrame([
    {"architecture": pages.arch_label(arch), "runs": int((pixel["architecture"] == arch).sum()),
     **{name: claims.summarize(pixel.loc[pixel["architecture"] == arch, column]).text()
        for column, name in (("precision", "precision"), ("recall", "recall"))}} for arch in order]))

# %% [markdown]
# Objects: mitochondria as 3-D connected components of the predicted and the true masks; a true
# mitochondrion is *detected* when one predicted object overlaps it with a voxel IoU of at least
# one half, *missed* otherwise, and a predicted object matching none is *false*. These need the
# saved test masks (the best run of each architecture by validation keeps them) and the test
# volume's ground truth. The same saved masks are also scored against the Lucchi++ re-annotation
# of the test volume (Casser et al. 2020), the labels some published figures use.

# %% tags=["remove-input"]
from mitolib.data import volumes as data_module  # noqa: E402
from mitolib.data.epfl import lucchipp_masks  # noqa: E402

object_rows, object_note = [], ""
for run_id in sorted(results.provenance.get("predictions") or {}):
    if run_id not in set(done["run_id"]):
        continue
    saved = predictions.saved_predictions(results, run_id)
    try:
        params = predictions.run_params(results, run_id)
        _, truth = data_module.resolve_volumes(params, "test")
        predicted = scores.saved_volume(saved, truth.shape)
    except (data_module.DataError, OSError, ValueError) as missing:
        object_note = f"Not computed in this build: {missing}"
        break
    row = {"architecture": pages.arch_label(done.set_index("run_id").loc[run_id, "architecture"]), "run": f"`{run_id}`",
           **scores.object_scores(predicted, truth)}
    try:
        row["IoU against Lucchi++"] = scores.iou_against(predicted, lucchipp_masks(data_module.resolve_root(params)))
    except (data_module.DataError, OSError) as missing:
        row["IoU against Lucchi++"] = float("nan")
        object_note = f"Lucchi++ labels not found: {missing}"
    row["IoU against EPFL labels"] = scores.iou_against(predicted, truth)
    object_rows.append(row)
if object_rows:
    objects_table = pd.DataFrame(object_rows).rename(columns={
        "true_objects": "true objects", "predicted_objects": "predicted objects",
        "object_recall": "object recall", "object_precision": "object precision"})
    display(pages.markdown_table(objects_table))
if object_note or not object_rows:
    display(Markdown(f":::{{note}}\n{object_note or 'No saved test masks in this build.'}\n:::"))

# %% [markdown]
# ## Slice by slice

# %% tags=["hide-input"]
slices = pages.by_architecture(results.test_slices.merge(done[["run_id", "architecture"]], on="run_id"))
fig = plots.slice_scores(slices, value="iou", hue="architecture", labels=labels)
pages.glue_figure("fig-slices", fig)
per_slice = slices.groupby("slice")["iou"].mean()
pages.glue("worst_slice", int(per_slice.idxmin()))
pages.glue("worst_slice_iou", float(per_slice.min()))

# %% [markdown]
# ```{glue:figure} fig-slices
# :name: fig-slices
#
# IoU of each test slice: the mean over seeds per architecture (line) and the range over
# seeds (band).
# **Conclusion:** the hardest slice, number {glue:text}`worst_slice`, scores
# {glue:text}`worst_slice_iou:.2f` on average over all runs.
# ```
#
# %% tags=["hide-input"]
fig = plots.histogram(slices, value="iou", hue="architecture", labels=labels, bins=25,
                      xlabel="IoU of one test slice (all seeds)")
pages.glue_figure("fig-slice-distribution", fig)
quantiles = slices["iou"].quantile([0.1, 0.5])
pages.glue("slice_median", float(quantiles[0.5]))
pages.glue("slice_tenth", float(quantiles[0.1]))

# %% [markdown]
# ```{glue:figure} fig-slice-distribution
# :name: fig-slice-distribution
#
# How slice IoUs are distributed over the test volume, per architecture, pooled over seeds. A long
# tail to the left means a few slices fail badly while most are fine; the gallery and the
# slice-by-slice figure show which.
# **Conclusion:** half the slices score above {glue:text}`slice_median:.2f` and one in ten below
# {glue:text}`slice_tenth:.2f` (all architectures and seeds pooled).
# ```
#
# Averaged over all runs, the hardest slice is number {glue:text}`worst_slice` (IoU
# {glue:text}`worst_slice_iou:.2f`). A slice IoU is not the volume IoU: slices with little
# foreground weigh as much as full ones in a mean of slice values, and not at all in the
# volume count.
#
# ## Example predictions

# %% tags=["hide-input"]
example = predictions.example_run(results.runs)
run_id = example["run_id"].iloc[0]
saved = predictions.saved_predictions(results, run_id)
volumes = None
if not saved:
    display(Markdown(
        f":::{{note}}\nRun `{run_id}` (the best test IoU of the study) saved no test predictions, so no "
        "example is drawn. Re-run the study with `-p save_predictions true` to get them.\n:::"))
else:
    from mitolib.data import volumes as data
    from mitolib.core import errors

    try:
        volumes = data.resolve_volumes(predictions.run_params(results, run_id), "test")
    except (errors.DataError, OSError) as missing:
        display(Markdown(f":::{{note}}\nThe test volume is not available to this build, so the saved "
                         f"predictions of run `{run_id}` are not drawn. {missing}\n:::"))
if volumes is not None:
    images, masks = volumes
    picks = predictions.example_slices(results, run_id)
    fig, axes = plots.plt.subplots(1, len(picks), figsize=(3.6 * len(picks), 3.2), layout="constrained",
                                   squeeze=False)
    scores = results.test_slices[results.test_slices["run_id"] == run_id].set_index("slice")["iou"]
    for ax, index in zip(axes[0], picks):
        image_plots.error_overlay(images[index], masks[index], rundir.read_mask_png(saved[index]), ax=ax)
        ax.set_axis_on()
        ax.set(xticks=[], yticks=[], xlabel=f"slice {index}, IoU {scores.get(index, float('nan')):.2f}")
    image_plots.error_legend(axes[0][-1])
    pages.glue_figure("fig-predictions", fig)
    arch = pages.arch_label(example["architecture"].iloc[0])
    display(Markdown(
        "```{glue:figure} fig-predictions\n:name: fig-predictions\n\n"
        f"Test slices of run `{run_id}` ({arch}, seed {example['seed'].iloc[0]}, the best test IoU of the "
        "study): its worst, median and best saved slice by IoU. Green: true positives; orange: false "
        "positives; blue: false negatives.\n**Conclusion:** within one run the slice IoU ranges from "
        f"{scores.reindex(picks).min():.2f} to {scores.reindex(picks).max():.2f} over these slices.\n```"))

# %% [markdown]
# ## The images a biologist looks at
#
# The saved test masks of the best run of each architecture (chosen on validation), on the same
# crops, at native resolution: one pixel of the EM image is one pixel of the figure. The slices
# are chosen by a rule (`mitolib.report.predictions.gallery_slices`): the slice whose IoU, averaged over
# the three runs, is the median, and the one where it is lowest; each crop is centred on the
# slice's largest true mitochondrion.

# %% tags=["hide-input"]
from mitolib.model import objects as objects_module  # noqa: E402
from mitolib.data.epfl import EPFL_PIXEL_SIZE_NM  # noqa: E402
from mitolib.results.scores import saved_volume  # noqa: E402

saved_runs = sorted(r for r in done["run_id"] if predictions.saved_predictions(results, r))
gallery, failure_rows = None, []
try:
    first = predictions.run_params(results, saved_runs[0])
    test_images, test_truth = data_module.resolve_volumes(first, "test")
    volumes = {pages.arch_label(done.set_index("run_id").loc[r, "architecture"]):
               saved_volume(predictions.saved_predictions(results, r), test_truth.shape) for r in saved_runs}
except (IndexError, data_module.DataError, OSError, ValueError) as missing:
    display(Markdown(f":::{{note}}\nThe gallery needs the saved test masks and the test volume: {missing}\n:::"))
    volumes = {}
if volumes:
    picks = predictions.gallery_slices(results.test_slices, saved_runs)
    rows = [{"image": test_images[z], "truth": test_truth[z], "center": predictions.largest_object_center(test_truth[z]),
             "predictions": {label: volume[z] for label, volume in volumes.items()},
             "title": f"{kind} slice {z}"} for kind, z in picks.items()]
    fig = image_plots.outline_crops(rows, pixel_nm=EPFL_PIXEL_SIZE_NM)
    pages.glue_figure("fig-gallery", fig)
    best_run = done[done["run_id"].isin(saved_runs)].sort_values("best_val_iou", ascending=False)["run_id"].iloc[0]
    best_label = pages.arch_label(done.set_index("run_id").loc[best_run, "architecture"])
    worst = objects_module.largest_unmatched(volumes[best_label], test_truth)
    for kind, found in worst.items():
        if found is not None:
            failure_rows.append({"image": test_images[found["z"]], "truth": test_truth[found["z"]],
                                 "center": (found["y"], found["x"]),
                                 "predictions": {best_label: volumes[best_label][found["z"]]},
                                 "title": f"largest {'false' if kind == 'false' else 'missed'} object "
                                          f"({found['voxels']:,} voxels), slice {found['z']}"})
    if failure_rows:
        pages.glue_figure("fig-failures", image_plots.outline_crops(failure_rows, pixel_nm=EPFL_PIXEL_SIZE_NM))
    pages.glue("gallery_picks", f"slices {picks['typical']} (typical) and {picks['hardest']} (hardest)")
    at_picks = results.test_slices[results.test_slices["run_id"].isin(saved_runs)].set_index("slice")["iou"]
    pages.glue("gallery_conclusion", "; ".join(
        f"on the {kind} slice the saved runs score IoU {at_picks.loc[[z]].min():.2f}–{at_picks.loc[[z]].max():.2f}"
        for kind, z in picks.items()) + ".")
    pages.glue("failure_conclusion", "; ".join(
        f"the largest {'false' if kind == 'false' else 'missed'} object has {found['voxels']:,} voxels"
        for kind, found in worst.items() if found is not None) + ".")
    pages.glue("failure_run", f"`{best_run}` ({best_label}, the best validation IoU of the saved runs)")
    display(Markdown(
        "```{glue:figure} fig-gallery\n:name: fig-gallery\n\n"
        "Test {glue:md}`gallery_picks`: the whole slice with the true outlines (green) and the crop (yellow), then "
        "the crop with the truth (green) and each architecture's prediction (magenta); scale bars from the 5 nm "
        "pixel size. Where magenta follows green, the model has the membrane; where they part, look at the image "
        "to judge which is right.\n**Conclusion:** {glue:md}`gallery_conclusion`\n```"))
    if failure_rows:
        display(Markdown(
            "```{glue:figure} fig-failures\n:name: fig-failures\n\n"
            "The largest false object (predicted, matching no true mitochondrion at IoU one half) and the largest "
            "missed one of run {glue:md}`failure_run`, by the rule of `mitolib.model.objects.largest_unmatched`, on the "
            "slice through each object's centre. A mitochondrion predicted with the wrong extent (overlap below one "
            "half) counts both as false and as missed, so the two rows can show the same place. These are the "
            "errors that change an object count most.\n**Conclusion:** {glue:md}`failure_conclusion`\n```"))

# %% [markdown]
# ## With a GPU: the full-width recipe
#
# The `gpu_short` profile of `studies.yml` trains the original width (base 64) at the `cpu`
# profile's resolution, for one short GPU session: the `architectures` study (one seed per
# architecture) on one GPU. These runs are a separate result: another machine, another Keras
# backend and another budget than the `cpu` runs above (how they were run:
# `results/gpu_short/README.md`).

# %% tags=["remove-input"]
try:
    gpu = pages.load_study("architectures", "gpu_short")
except pages.ResultsMissing as missing:
    gpu = None
    display(Markdown(f":::{{note}}\nNo GPU results in this build: {missing}\n:::"))
    pages.glue("gpu_best_arch", "none")
    for name in ("gpu_done", "gpu_planned", "gpu_seeds", "gpu_disagree"):
        pages.glue(name, 0)
    for name in ("gpu_best_iou", "gpu_best_minutes"):
        pages.glue(name, float("nan"))
if gpu is not None:
    display(Markdown(notices.notice_text(gpu)))
    display(pages.markdown_table(summaries.gpu_summary(gpu)))
    best = gpu.done.loc[gpu.done["test_iou"].idxmax()]
    gpu_means = gpu.done.groupby("architecture")["test_iou"].mean().sort_values(ascending=False)
    pages.glue("gpu_done", int(len(gpu.done)))
    pages.glue("gpu_planned", int(len(gpu.runs)))
    pages.glue("gpu_seeds", int(gpu.done.groupby("architecture")["seed"].nunique().min()))
    pages.glue("gpu_best_arch", pages.arch_label(best["architecture"]))
    pages.glue("gpu_best_iou", float(best["test_iou"]))
    pages.glue("gpu_best_minutes", float(best["train_seconds"] / 60))
    pages.glue("gpu_disagree", int(len(claims.contradictions(list(gpu_means.index), tiers))))
pages.glue("book_best_iou", float(done["test_iou"].max()))

# %% [markdown]
# {glue:text}`gpu_done` of {glue:text}`gpu_planned` planned runs finished, with
# {glue:text}`gpu_seeds` seed per architecture. The highest, {glue:md}`gpu_best_arch`, reaches a
# test IoU of {glue:text}`gpu_best_iou:.3f` after {glue:text}`gpu_best_minutes:.1f` minutes of
# training (compilation included). The best `seeds` run above reaches
# {glue:text}`book_best_iou:.3f`. One seed per architecture resolves no order: a paired interval
# needs two seeds or more, so the table ranks values, not architectures. Of the orders the `cpu`
# runs above resolve, the GPU values contradict {glue:text}`gpu_disagree`.
#
# "Steady images/s" leaves out the first epoch, which includes the compilation. "Best / last
# epoch" is the epoch whose model was kept (highest validation IoU) and the last one trained:
# early stopping ends a run once the validation IoU has not improved for
# `early_stopping_patience` epochs. "Test IoU, TTA" is the same saved model evaluated again
# with 8-fold test-time augmentation (`mitolib evaluate --tta`), where that was done. Runs that
# trained at the same time on one GPU have longer training times and lower throughput than a run
# alone; `results/gpu_short/README.md` says which did.

# %% tags=["remove-cell"]
TARGET_IOU = (target(results.profile) or target("cpu"))["test_iou"]  # studies.yml: targets
means = done.groupby("architecture")["test_iou"].mean()
leader = means.idxmax()  # the highest mean; whether it is resolved from the others is stated above
lead_runs = done[done["architecture"] == leader]
per_epoch = int(lead_runs["samples_per_epoch"].iloc[0])
training = (f"at most {lead_runs['epochs'].iloc[0] * per_epoch} training patches ({lead_runs['epochs'].iloc[0]} "
            f"epochs of {per_epoch})" if per_epoch else f"at most {lead_runs['epochs'].iloc[0]} passes over the "
            "training patches")
pages.glue("target", f"{TARGET_IOU:.2f}")
pages.glue("lead_arch", pages.arch_label(leader))
pages.glue("lead_mean", f"{means[leader]:.3f}")
pages.glue("lead_best", f"{lead_runs['test_iou'].max():.3f}")
pages.glue("lead_gap", "which " + targets.target_check(lead_runs["test_iou"], lead_runs["train_seconds"] / 60,
                                                        target(results.profile) or target("cpu"))[1])
pages.glue("lead_recipe", f"base width {lead_runs['base_filters'].iloc[0]}, {lead_runs['patch_size'].iloc[0]}-pixel "
                         f"patches at scale {lead_runs['scale'].iloc[0]:g}, {training}, "
                         f"{lead_runs['train_seconds'].mean() / 60:.1f} minutes of training on average")
if gpu is not None and len(gpu.done):
    gpu_gains = summaries.tta_gains(gpu).set_index("run_id")

    def gpu_tta(run_id: str) -> str:
        if run_id not in gpu_gains.index:
            return ""
        value = gpu_gains.loc[run_id, "with"]
        side = "above" if value >= TARGET_IOU else "below"
        return f", and {value:.3f} with test-time augmentation ({side} the target, on another machine's budget)"

    g = gpu.done.loc[gpu.done["test_iou"].idxmax()]
    where = ("At the same resolution" if g["scale"] == lead_runs["scale"].iloc[0]
             else f"At scale {g['scale']:g} (not this build's resolution)")
    pages.glue("gpu_recipe", f"{where}, the `gpu_short` {pages.arch_label(g['architecture'])} (base width "
                            f"{g['base_filters']}, {g['patch_size']}-pixel patches, "
                            f"{g['epochs'] * g['samples_per_epoch']} training patches) reached {g['test_iou']:.3f}"
                            f"{gpu_tta(g['run_id'])}. It differs from the run above in width and in training length "
                            "together, so it shows what the two levers give together, not each one alone.")
else:
    pages.glue("gpu_recipe", "No full-width run is collected in this build.")
tta_text = ("Test-time augmentation is not measured on the test volume in this build; its cost is in "
            "the benchmarks appendix.")
gains = summaries.tta_gains(results)
if len(gains):
    measured = "; ".join(f"run `{g.run_id}` ({pages.arch_label(g.architecture)}): {g.without:.3f} without, "
                         f"{g['with']:.3f} with ({g.gain:+.3f})" for _, g in gains.iterrows())
    tta_text = ("Test-time augmentation is measured by evaluating saved models again with "
                f"`mitolib evaluate --tta` (`{rundir.EVALUATIONS}` beside `runs.csv`), test IoU for "
                f"{measured}. Its cost in time is measured in the benchmarks appendix.")
pages.glue("tta_text", tta_text)

# %% [markdown]
# ## How far from the target
#
# The project's goal under the `cpu` profile is a test IoU of {glue:md}`target` (`targets` in
# `studies.yml`). The architecture with the highest mean in this build, {glue:md}`lead_arch`
# (whether that order is resolved is stated above), reaches {glue:md}`lead_mean` on average over
# seeds (best run {glue:md}`lead_best`), {glue:md}`lead_gap`. The
# {doc}`recipe` chapter measures what closes the gap. Its recipe is small: {glue:md}`lead_recipe`.
# {glue:md}`gpu_recipe` Published 2D and 3D networks, trained for hours on GPUs, are in the
# table of published figures above.
# {glue:md}`tta_text`

# %% [markdown]
# ## The longer recipe
#
# The `long_training` study trains the `seeds` study's recipe four times longer, under the profile
# named after this one with `_long` (`cpu_long` beside `cpu`: 72 epochs instead of 18, and 8-fold test-time
# augmentation), against that profile's own target: U-Net, the {doc}`recipe` chapter's architecture, and
# Attention U-Net, whose 18-epoch runs are set against the others above.

# %% tags=["remove-input"]
long_profile = pages.long_profile(results.profile)
long_goal = target(long_profile)
try:
    longer = pages.load_study("long_training", long_profile) if long_goal else None
except ResultsMissing:
    longer = None
if longer is None:
    display(Markdown(
        f"No `long_training` run of the `{long_profile}` profile is collected in this build, so its target "
        + (f"({long_goal['test_iou']:.2f} within {long_goal.get('train_minutes', float('nan')):g} minutes of "
           "training) is not measured yet. " if long_goal else "is not defined. ")
        + f"Run it with `mitolib study run long_training --profile {long_profile}`, then "
        f"`mitolib study collect long_training --profile {long_profile}`."))
else:
    display(Markdown(notices.notice_text(longer)))

    def schedule_columns(runs: pd.DataFrame) -> pd.DataFrame:
        """How each of ``runs`` (with its ``floor`` epoch) used its epochs, as this page's longer tables show it."""
        return pd.DataFrame({
            "best / last epoch": [f"{b:.0f} / {e:.0f}" for b, e in zip(runs["best_epoch"], runs["epochs_run"])],
            "still improving": claims.still_improving(runs).map({True: "yes", False: "no"}).tolist(),
            "learning rate at its floor from epoch": [
                "never" if pd.isna(epoch) else f"{epoch:.0f}" for epoch in runs["floor"]],
            "training minutes": (runs["train_seconds"] / 60).map("{:.1f}".format).tolist()})

    long_done = longer.done
    long_table = long_done.assign(floor=long_done["run_id"].map(summaries.floor_epochs(long_done, longer.history)))
    display(pages.markdown_table(pd.concat([pd.DataFrame({
        "architecture": long_table["architecture"].map(pages.arch_label).tolist(),
        "seed": long_table["seed"].astype(int).tolist(),
        "test IoU": long_table["test_iou"].map("{:.3f}".format).tolist()}), schedule_columns(long_table)], axis=1)))
    trained = list(dict.fromkeys(long_done["architecture"]))
    which = ("" if leader in trained else
             f" The study trains {', '.join(pages.arch_label(a) for a in trained)}; the highest `{results.profile}` mean "
             f"above is {pages.arch_label(leader)}'s, whose longer training is not measured, so the target is judged "
             "here on another architecture than the best one.")
    same_machine = summaries.machines_text(pd.concat([
        long_done.assign(recipe=long_profile),
        done[done["architecture"].isin(trained)].assign(recipe=results.profile)]), "recipe")
    floored = long_table[long_table["lr_schedule"] == "plateau"].dropna(subset=["floor"])
    schedule = "" if floored.empty else (
        f"The plateau schedule (the learning rate cut by {floored['reduce_lr_factor'].iloc[0]:g} after "
        f"{floored['reduce_lr_patience'].iloc[0]:.0f} epochs without a better validation IoU) reached its floor of "
        f"{floored['min_learning_rate'].iloc[0]:g} in {len(floored)} of {len(long_table)} run(s), at epoch "
        + tables.span_text(floored["floor"]) + f" of {long_done['epochs_run'].max():.0f}: the epochs after it "
        "trained at the floor, and those runs' best epochs came at " + tables.span_text(floored["best_epoch"]) + ".")
    display(Markdown(" ".join(part for part in (
        targets.longer_recipe_text(long_done, done, (long_profile, results.profile), long_goal,
                                   label=pages.arch_label), which.strip(),
        schedule, same_machine) if part)))

# %% [markdown]
# ## A schedule matched to the longer budget
#
# The plateau schedule halves the learning rate after a few epochs without a better validation IoU, so how
# long it trains at each rate depends on the run, not on the budget; the table above gives the epoch at which
# each run's learning rate reached the floor. The `long_schedule` study trains Attention U-Net under the same profile with the
# schedule matched to the budget instead: cosine decay from the learning rate to the same floor over all
# the epochs, after one epoch of linear warm-up (the {doc}`recipe` chapter measures this lever over 18
# epochs). Each of its runs is paired with the `long_training` run of the same architecture and seed.

# %% tags=["remove-input"]
try:
    scheduled = pages.load_study("long_schedule", long_profile) if longer is not None else None
except ResultsMissing:
    scheduled = None
if scheduled is None:
    display(Markdown(
        f"No `long_schedule` run of the `{long_profile}` profile "
        + ("is" if longer is not None else "is, nor a `long_training` run to pair it with,")
        + f" collected in this build. Run it with `{pages.produce_command('long_schedule', long_profile)}`."))
else:
    display(Markdown(notices.notice_text(scheduled)))
    schedule = levers.lever_against(long_done, scheduled.done, "lr_schedule")
    lever, reference, changed, effects = schedule.lever, schedule.reference, schedule.changed, schedule.effects
    plateau, cosine = schedule.names
    both_history = pd.concat([longer.history, scheduled.history])
    both = schedule.both.assign(floor=lambda t: t["run_id"].map(summaries.floor_epochs(t, both_history)))
    display(pages.markdown_table(pd.concat([pd.DataFrame({
        "schedule": both["group"].tolist(), "study": both["study"].map("`{}`".format).tolist(),
        "seed": both["seed"].astype(int).tolist(), "test IoU": both["test_iou"].map("{:.3f}".format).tolist(),
        "best validation IoU": both["best_val_iou"].map("{:.3f}".format).tolist()}), schedule_columns(both)], axis=1)))
    kernel = levers.NOT_RECORDED in changed.get("resolved_batch_norm_kernel", ("",))[0] and (
        "The batch-norm kernel differs because the `long_training` runs predate the fused one: "
        "`mitolib.model.fused_bn` computes the function of Keras' layer (its tests match the outputs, the moving "
        "statistics and the gradients), with another order of rounding, so the two runs of a seed do not "
        "share one trajectory and the pairing removes less of the seed's noise.")
    display(Markdown(" ".join(part for part in (
        f"{pages.arch_label(lever['architecture'].iloc[0])}, {cosine} against {plateau}, paired by seed: test IoU "
        f"{claims.summarize(lever['test_iou']).text()} against {claims.summarize(reference['test_iou']).text()}, "
        f"paired difference {verdicts.effect_text(effects['test_iou'])}; best validation IoU, paired difference "
        f"{verdicts.effect_text(effects['best_val_iou'])}.",
        f"The runs differ in {levers.differences_text(changed)}." if changed else "",
        kernel or "",
        f"Against the `{long_profile}` target, the {cosine} runs' mean "
        + targets.target_check(lever["test_iou"], lever["train_seconds"] / 60, long_goal)[1] + ".",
        summaries.machines_text(both, "group")) if part)))
    curves = both_history.merge(both[["run_id", "group"]], on="run_id")
    fig = curve_plots.curves_by_group(curves, metrics=["iou", "learning_rate"], group="group", compare=None,
                                      labels=pages.METRIC_LABELS, best_epochs=both[["run_id", "best_epoch"]],
                                      order=[plateau, cosine])
    pages.glue_figure("fig-long-schedule", fig)
    display(Markdown(
        "```{glue:figure} fig-long-schedule\n:name: fig-long-schedule\n\n"
        f"Validation IoU (top) and learning rate (bottom) per epoch of the {plateau} runs (`long_training`, "
        f"left) and the {cosine} runs (`long_schedule`, right), {pages.arch_label(lever['architecture'].iloc[0])}, "
        "one line per seed; open circles mark the best epoch, whose checkpoint is tested.\n**Conclusion:** the "
        f"{plateau} runs' best epochs came at {tables.span_text(reference['best_epoch'])} and the {cosine} runs' "
        f"at {tables.span_text(lever['best_epoch'])} of {both['epochs_run'].max():.0f}; against {plateau}, the "
        f"{cosine} schedule " + (f"{effects['test_iou']['verdict']} the test IoU" if effects["test_iou"]["resolved"]
                                 else f"has {effects['test_iou']['verdict']} on the test IoU") + ".\n```"))

# %% [markdown]
# ## The GPU target
#
# The `gpu` profile trains the corrected recipe at the original width (base 64) and full resolution on
# a GPU node, against its own target.

# %% tags=["remove-input"]
gpu_goal = target("gpu")
try:
    full = pages.load_study("seeds", "gpu") if gpu_goal else None
except ResultsMissing:
    full = None
if full is not None and len(full.done):
    display(Markdown(notices.notice_text(full)))
    display(Markdown(f"Test IoU {claims.summarize(full.done['test_iou']).text()} over "
                     f"{full.done['seed'].nunique()} seed(s) against the `gpu` target of {gpu_goal['test_iou']:.2f}: "
                     "the mean " + targets.target_check(full.done["test_iou"], full.done["train_seconds"] / 60,
                                                          gpu_goal)[1] + "."))
elif gpu_goal:
    nearest = ""
    if gpu is not None and len(gpu.done):
        g = gpu.done.loc[gpu.done["test_iou"].idxmax()]
        gap = gpu_goal["test_iou"] - g["test_iou"]
        nearest = (f" The nearest measured recipe is the `gpu_short` run above: {pages.arch_label(g['architecture'])} "
                   f"at {g['test_iou']:.3f}, " + (f"{gap:.3f} below" if gap > 0 else f"{-gap:.3f} above")
                   + f" the target's level with one seed, at scale {g['scale']:g} and {g['epochs']} epochs. It is another recipe, so it does "
                   "not judge the target.")
    display(Markdown(
        f"The `gpu` target ({gpu_goal['test_iou']:.2f}, the mean over {gpu_goal.get('seeds', 1)} seed(s)) is not "
        "measured in this build: no `seeds` run of the `gpu` profile is collected. Those runs need a GPU node: "
        "`mitolib study submit seeds --profile gpu` on a PBS cluster, or `mitolib study run seeds --profile gpu` "
        "on a GPU machine, then `mitolib study collect seeds --profile gpu`." + nearest))

# %% [markdown]
# ## Summary
#
# * The table gives the test IoU and Dice of each architecture with the spread over seeds;
#   {numref}`fig-test-scores` puts them next to published figures and their protocols.
# * {numref}`fig-slices` shows where in the volume the errors are.
# * The best architecture's distance to the target, and what the full-width GPU run shows about
#   it, are computed above from the same runs.
# * The longer recipe is set against its own target, and its schedule against one matched to
#   its budget, paired by seed.
#
# ## Try it yourself
#
# * Evaluate a finished run again with test-time augmentation:
#   `mitolib evaluate runs/cpu/seeds/<run_id> --tta`, or train with it: `-p tta true`.
# * Look at the saved predictions of the best runs slice by slice with
#   `notebooks/view_predictions.py`.
# * Train one longer run with the cosine schedule yourself (about half an hour on two cores):
#   `mitolib train --profile cpu_long -p architecture attention_unet -p lr_schedule cosine -p warmup_epochs 1`.
