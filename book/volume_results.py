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

from mitolib.report import evaluations, pages, levers, notices, object_steps, predictions, summaries, targets, verdicts
from mitolib.core import claims, rundir
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
pages.glue("protocol", summaries.protocol_label(done))
pages.markdown_table(pd.DataFrame(rows))

# %% tags=["remove-cell"]
tiers = claims.resolved_order(done, "test_iou", "architecture")
pairs = summaries.architecture_pairs(done)
pages.glue("arch_pairs", int(len(pairs)))
pages.glue("arch_resolved", int(pairs["resolved"].sum()))
pages.glue("arch_resolved_same_machine", int((pairs["resolved"] & pairs["same_machine"]).sum()))

# %% [markdown]
# Mean ± standard deviation over seeds; IoU and Dice count every pixel of the test volume
# (foreground class only), by the protocol of the runs: {glue:md}`protocol`.
#
# **Which architecture is best?** The claims rule names one only where its difference to every other
# excludes zero, from runs on one machine. The table pairs each architecture with the next lower
# mean over the same seeds, with the {glue:md}`confidence` interval of the difference.
# Differences whose interval excludes zero: {glue:text}`arch_resolved` of {glue:text}`arch_pairs`.
# Of those, from runs trained on the same machine: {glue:text}`arch_resolved_same_machine`. A
# difference between architectures trained on different machines mixes the machine's arithmetic
# into it, so the book does not credit it to the architecture.

# %% tags=["remove-input"]
pages.markdown_table(verdicts.effect_cells(pairs).assign(
    group=pairs["group"].map(pages.arch_label), reference=pairs["reference"].map(pages.arch_label),
    same_machine=pairs["same_machine"].map({True: "yes", False: "no"}))
    [["group", "reference", "pairs", "interval", "verdict", "same_machine"]]
    .rename(columns={"group": "architecture", "reference": "minus", "pairs": "seeds paired",
                     "interval": "test IoU difference [interval]", "same_machine": "same machine"}))
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

# %% tags=["remove-input"]
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
# Test-volume foreground IoU of every run of the `seeds` study (dots) and the mean ± one standard
# deviation per architecture. Each run appears twice: with its own post-processing, and raw (no
# z-median, threshold one half), like for like with the benchmark's plain row. Below the rule are
# published figures (diamonds), with the protocols of the table above; a mean IoU of both classes
# is left out, because the background lifts it. A published value compares with ours only where
# its protocol matches: a threshold fixed or chosen on validation data, never on the test volume,
# and the same post-processing.
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
from mitolib.model import objects as objects_module  # noqa: E402

object_rows, object_note, lucchipp = [], "", None
for run_id in sorted(results.provenance.get("predictions") or {}):
    if run_id not in set(done["run_id"]):
        continue
    saved = predictions.saved_predictions(results, run_id)
    try:
        params = predictions.run_params(results, run_id)
        _, truth = data_module.resolve_volumes(params, "test")
        predicted = scores.saved_volume(saved, truth.shape)
    except (data_module.DataError, OSError, ValueError) as missing:
        object_note = str(missing)
        break
    row = {"architecture": pages.arch_label(done.set_index("run_id").loc[run_id, "architecture"]), "run": f"`{run_id}`",
           **scores.object_scores(predicted, truth)}
    try:
        if lucchipp is None:  # the re-annotation of the test volume, read once
            lucchipp = lucchipp_masks(data_module.resolve_root(params))
        row["IoU against Lucchi++"] = scores.iou_against(predicted, lucchipp)
    except (data_module.DataError, OSError) as missing:
        row["IoU against Lucchi++"] = float("nan")
        object_note = str(missing)
    row["IoU against EPFL labels"] = scores.iou_against(predicted, truth)
    sizes = objects_module.object_sizes(predicted, truth)
    false_sizes = sizes[(sizes["kind"] == "predicted") & ~sizes["matched"]]["voxels"]
    row["false median voxels"] = float(false_sizes.median())
    row["true median voxels"] = float(sizes[sizes["kind"] == "true"]["voxels"].median())
    row["false voxel share"] = float(false_sizes.sum() / sizes[sizes["kind"] == "predicted"]["voxels"].sum())
    object_rows.append(row)
labels = {"labels_iou": float("nan"), "epfl_foreground": float("nan"), "lucchipp_foreground": float("nan")}
if lucchipp is not None:  # the two label sets of the test volume against each other: how far apart they are
    labels = {"labels_iou": scores.iou_against(lucchipp, truth), "epfl_foreground": float((truth > 0).mean()),
              "lucchipp_foreground": float((lucchipp > 0).mean())}
pages.glue("labels_iou", labels["labels_iou"])
pages.glue("epfl_foreground", labels["epfl_foreground"])
pages.glue("lucchipp_foreground", labels["lucchipp_foreground"])
objects_frame = pd.DataFrame(object_rows) if object_rows else pd.DataFrame(
    columns=["predicted_objects", "true_objects", "detected", "false", "IoU against Lucchi++", "IoU against EPFL labels",
             "false median voxels", "true median voxels", "false voxel share"])
for name, column in (("predicted", "predicted_objects"), ("detected", "detected"), ("false", "false"),
                     ("iou_lucchipp", "IoU against Lucchi++"), ("iou_epfl", "IoU against EPFL labels"),
                     ("false_median", "false median voxels"), ("true_median", "true median voxels"),
                     ("false_share", "false voxel share")):
    pages.glue(f"objects_{name}_low", float(objects_frame[column].min()) if object_rows else float("nan"))
    pages.glue(f"objects_{name}_high", float(objects_frame[column].max()) if object_rows else float("nan"))
pages.glue("objects_ratio", float((objects_frame["predicted_objects"] / objects_frame["true_objects"]).mean())
           if object_rows else float("nan"))
pages.glue("eval_seconds", float(done["eval_seconds"].mean()) if "eval_seconds" in done else float("nan"))
pages.glue("predicted_objects_mean", float(objects_frame["predicted_objects"].mean()) if object_rows
           else float("nan"))
pages.glue("true_objects", float(object_rows[0]["true_objects"]) if object_rows else float("nan"))
if object_rows:
    objects_table = pd.DataFrame(object_rows).rename(columns={
        "true_objects": "true objects", "predicted_objects": "predicted objects",
        "object_recall": "object recall", "object_precision": "object precision"})
    display(pages.markdown_table(objects_table.drop(columns="true median voxels"),
                                 formats={"false median voxels": ",.0f", "false voxel share": ".1%"}))
if object_note or not object_rows:
    display(pages.not_drawn("The object table", object_note or "No run saved its test masks."))

# %% [markdown]
# **What the object table means for a biologist.** The models find the mitochondrion voxels well
# (IoU {glue:text}`objects_iou_epfl_low:.2f`–{glue:text}`objects_iou_epfl_high:.2f` on these runs) but
# cut the volume into too many pieces: {glue:text}`objects_predicted_low:.0f`–{glue:text}`objects_predicted_high:.0f`
# predicted objects where the test volume holds {glue:text}`true_objects:.0f`, about
# {glue:text}`objects_ratio:.1f` times too many. The {glue:text}`objects_false_low:.0f`–{glue:text}`objects_false_high:.0f`
# false objects are small fragments: their median size is
# {glue:text}`objects_false_median_low:,.0f`–{glue:text}`objects_false_median_high:,.0f` voxels, against
# {glue:text}`objects_true_median_low:,.0f` for a true mitochondrion, and together they hold
# {glue:text}`objects_false_share_low:.1%`–{glue:text}`objects_false_share_high:.1%` of the predicted
# voxels. So they cost little IoU, but a count taken from these masks would be far too high, and a
# size distribution would gain a tail of tiny "mitochondria". Only {glue:text}`objects_detected_low:.0f`–{glue:text}`objects_detected_high:.0f`
# true mitochondria are matched at IoU one half. One split in two, or merged with a neighbour, fails
# the match even where its voxels are right. And some true components are slivers and specks too
# small for a cleaned prediction to match; {doc}`recipe` counts them ("What the test labels allow").
# Count and measure mitochondria only after removing the fragments. Newer runs score that step on the test volume (`object_postprocessing.csv`), with two more:
# holes filled, and touching objects split by a watershed. Each run chooses the smallest kept size and
# the split's depth on its validation slices. `mitolib predict --objects` writes the per-object table
# to check.
#
# Against the Lucchi++ labels the same masks score
# {glue:text}`objects_iou_lucchipp_low:.2f`–{glue:text}`objects_iou_lucchipp_high:.2f`, against
# {glue:text}`objects_iou_epfl_low:.2f`–{glue:text}`objects_iou_epfl_high:.2f` on the EPFL labels they
# were trained on. The masks did not change; the labels did. The two label sets agree with each other
# at an IoU of only {glue:text}`labels_iou:.2f`, and Lucchi++ marks
# {glue:text}`lucchipp_foreground:.1%` of the test volume as mitochondrion where the EPFL labels mark
# {glue:text}`epfl_foreground:.1%`: its outlines are drawn wider. A score is only comparable with
# another on the same labels, which is why the table of published figures names them.
#
# ## Slice by slice

# %% tags=["remove-input"]
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
# %% tags=["remove-input"]
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

# %% tags=["remove-input"]
example = predictions.example_run(results.runs)
run_id = example["run_id"].iloc[0]
saved = predictions.saved_predictions(results, run_id)
volumes, slice_scores, picks = None, pd.Series(dtype=float), []
try:
    if not saved:
        raise FileNotFoundError(f"run `{run_id}` saved no test masks (`-p save_predictions true` saves them).")
    volumes = data_module.resolve_volumes(predictions.run_params(results, run_id), "test")
except (data_module.DataError, OSError) as missing:
    display(pages.not_drawn("Figure fig-predictions", missing))
    pages.glue_placeholder("fig-predictions")
if volumes is not None:
    images, masks = volumes
    picks = predictions.example_slices(results, run_id)
    fig, axes = plots.plt.subplots(1, len(picks), figsize=(3.6 * len(picks), 3.2), layout="constrained",
                                   squeeze=False)
    slice_scores = results.test_slices[results.test_slices["run_id"] == run_id].set_index("slice")["iou"]
    for ax, index in zip(axes[0], picks):
        image_plots.error_overlay(images[index], masks[index], rundir.read_mask_png(saved[index]), ax=ax)
        ax.set_axis_on()
        ax.set(xticks=[], yticks=[], xlabel=f"slice {index}, IoU {slice_scores.get(index, float('nan')):.2f}")
    image_plots.error_legend(axes[0][-1])
    pages.glue_figure("fig-predictions", fig)
pages.glue("example_run", f"`{run_id}`")
pages.glue("example_arch", pages.arch_label(example["architecture"].iloc[0]))
pages.glue("example_seed", int(example["seed"].iloc[0]))
pages.glue("example_low", float(slice_scores.reindex(picks).min()) if len(picks) else float("nan"))
pages.glue("example_high", float(slice_scores.reindex(picks).max()) if len(picks) else float("nan"))

# %% [markdown]
# ```{glue:figure} fig-predictions
# :name: fig-predictions
#
# Three test slices of run {glue:md}`example_run` ({glue:md}`example_arch`, seed
# {glue:text}`example_seed`), the run with the best test IoU of the study: its worst, median and
# best saved slice. Green: true positives; orange: false positives; blue: false negatives.
# **Conclusion:** even within one run, the slice IoU ranges from {glue:text}`example_low:.2f` to
# {glue:text}`example_high:.2f`.
# ```

# %% [markdown]
# ## The images a biologist looks at
#
# The saved test masks of the best run of each architecture (chosen on validation), on the same
# crops, at native resolution: one pixel of the EM image is one pixel of the figure. The slices
# are chosen by a rule (`mitolib.report.predictions.gallery_slices`): the slice whose IoU, averaged over
# the three runs, is the median, and the one where it is lowest; each crop is centred on the
# slice's largest true mitochondrion.

# %% tags=["remove-input"]
from mitolib.data.epfl import EPFL_PIXEL_SIZE_NM  # noqa: E402
from mitolib.results.scores import saved_volume  # noqa: E402

saved_runs = sorted(r for r in done["run_id"] if predictions.saved_predictions(results, r))
volumes = {}
try:
    if not saved_runs:
        raise FileNotFoundError("No run saved its test masks (`-p save_predictions true` saves them).")
    first = predictions.run_params(results, saved_runs[0])
    test_images, test_truth = data_module.resolve_volumes(first, "test")
    volumes = {pages.arch_label(done.set_index("run_id").loc[r, "architecture"]):
               saved_volume(predictions.saved_predictions(results, r), test_truth.shape) for r in saved_runs}
except (data_module.DataError, OSError, ValueError) as missing:
    display(pages.not_drawn("Figures fig-gallery and fig-failures", missing))
gallery = {"typical": float("nan"), "hardest": float("nan")}
ranges = {f"{kind}_{end}": float("nan") for kind in gallery for end in ("low", "high")}
worst = {"false": None, "missed": None}
best_run, best_label = "", ""
if volumes:
    picks = predictions.gallery_slices(results.test_slices, saved_runs)
    rows = [{"image": test_images[z], "truth": test_truth[z], "center": predictions.largest_object_center(test_truth[z]),
             "predictions": {label: volume[z] for label, volume in volumes.items()},
             "title": f"{kind} slice {z}"} for kind, z in picks.items()]
    pages.glue_figure("fig-gallery", image_plots.outline_crops(rows, pixel_nm=EPFL_PIXEL_SIZE_NM))
    best_run = done[done["run_id"].isin(saved_runs)].sort_values("best_val_iou", ascending=False)["run_id"].iloc[0]
    best_label = pages.arch_label(done.set_index("run_id").loc[best_run, "architecture"])
    worst = objects_module.largest_unmatched(volumes[best_label], test_truth)
    failure_rows = [{"image": test_images[found["z"]], "truth": test_truth[found["z"]],
                     "center": (found["y"], found["x"]), "predictions": {best_label: volumes[best_label][found["z"]]},
                     "title": f"largest {kind} object ({found['voxels']:,} voxels), slice {found['z']}"}
                    for kind, found in worst.items() if found is not None]
    if failure_rows:
        pages.glue_figure("fig-failures", image_plots.outline_crops(failure_rows, pixel_nm=EPFL_PIXEL_SIZE_NM))
    else:
        pages.glue_placeholder("fig-failures")
    at_picks = results.test_slices[results.test_slices["run_id"].isin(saved_runs)].set_index("slice")["iou"]
    gallery = {kind: int(z) for kind, z in picks.items()}
    ranges = {f"{kind}_{end}": float(getattr(at_picks.loc[[z]], end_fn)())
              for kind, z in picks.items() for end, end_fn in (("low", "min"), ("high", "max"))}
else:
    pages.glue_placeholder("fig-gallery")
    pages.glue_placeholder("fig-failures")
for kind, z in gallery.items():
    pages.glue(f"gallery_{kind}", z)
for name, value in ranges.items():
    pages.glue(f"gallery_{name}", value)
for kind, found in worst.items():
    pages.glue(f"failure_{kind}_voxels", int(found["voxels"]) if found is not None else float("nan"))
pages.glue("failure_run", f"`{best_run}`")
pages.glue("failure_arch", best_label)

# %% [markdown]
# ```{glue:figure} fig-gallery
# :name: fig-gallery
#
# Test slices {glue:text}`gallery_typical` (typical) and {glue:text}`gallery_hardest` (hardest).
# Left: the whole slice with the true outlines (green) and the crop (yellow). Then the crop with
# the truth (green) and each architecture's prediction (magenta). Scale bars come from the 5 nm
# pixel size. Where magenta follows green, the model has the membrane; where they part, look at
# the image to judge which is right.
# **Conclusion:** on the typical slice the saved runs score IoU
# {glue:text}`gallery_typical_low:.2f`–{glue:text}`gallery_typical_high:.2f`, on the hardest
# {glue:text}`gallery_hardest_low:.2f`–{glue:text}`gallery_hardest_high:.2f`.
# ```
#
# The errors that change an object count most are whole objects: a false one (predicted, matching
# no true mitochondrion at IoU one half) or a missed one. A mitochondrion predicted with the wrong
# extent (overlap below one half) counts as both, so the two rows below can show the same place.
#
# ```{glue:figure} fig-failures
# :name: fig-failures
#
# The largest false object and the largest missed one of run {glue:md}`failure_run`
# ({glue:md}`failure_arch`, the best validation IoU of the saved runs), on the slice through each
# object's centre (the rule of `mitolib.model.objects.largest_unmatched`).
# **Conclusion:** the largest false object has {glue:text}`failure_false_voxels:,.0f` voxels and the
# largest missed one {glue:text}`failure_missed_voxels:,.0f`.
# ```

# %% [markdown]
# ## With a GPU: the full-width recipe
#
# The `gpu_short` profile of `studies.yml` trains the original width (base 64) at the `cpu`
# profile's resolution, for one short GPU session: the `architectures` study (one seed per
# architecture) on one GPU. These runs are a separate result: another machine, another Keras
# backend and another budget than the `cpu` runs above (how they were run:
# `results/gpu_short/README.md`).

# %% tags=["remove-input"]
nan = float("nan")
try:
    gpu = pages.load_study("architectures", "gpu_short")
except pages.ResultsMissing:
    gpu = None
    display(pages.missing("architectures", "gpu_short", "GPU runs of the `architectures` study"))
gpu_done = gpu.done if gpu is not None else done.iloc[:0]
if gpu is not None:
    display(notices.notice(gpu))
    display(pages.markdown_table(summaries.gpu_summary(gpu)))
gpu_best = gpu_done.loc[gpu_done["test_iou"].idxmax()] if len(gpu_done) else None
gpu_gains = evaluations.tta_gains(gpu).set_index("run_id") if gpu is not None else pd.DataFrame(columns=["with"])
gpu_means = gpu_done.groupby("architecture")["test_iou"].mean().sort_values(ascending=False)
pages.glue("gpu_done", int(len(gpu_done)))
pages.glue("gpu_planned", int(len(gpu.runs)) if gpu is not None else 0)
pages.glue("gpu_seeds", int(gpu_done.groupby("architecture")["seed"].nunique().min()) if len(gpu_done) else 0)
pages.glue("gpu_best_arch", pages.arch_label(gpu_best["architecture"]) if gpu_best is not None else "–")
for name, column, unit in (("iou", "test_iou", 1), ("minutes", "train_seconds", 60), ("width", "base_filters", 1),
                           ("patch", "patch_size", 1), ("scale", "scale", 1), ("epochs", "epochs", 1)):
    pages.glue(f"gpu_best_{name}", float(gpu_best[column]) / unit if gpu_best is not None else nan)
pages.glue("gpu_best_patches", float(gpu_best["epochs"] * gpu_best["samples_per_epoch"]) if gpu_best is not None
           else nan)
pages.glue("gpu_best_tta", float(gpu_gains.loc[gpu_best["run_id"], "with"])
           if gpu_best is not None and gpu_best["run_id"] in gpu_gains.index else nan)
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
# epoch" is the epoch whose model was kept (highest validation IoU) and the last one trained.
# Early stopping ends a run once the validation IoU has not improved for
# `early_stopping_patience` epochs. "Test IoU, TTA" is the same saved model evaluated again with
# 8-fold test-time augmentation (`mitolib evaluate --tta`), where that was done. Runs that trained
# at the same time on one GPU are slower than a run alone; `results/gpu_short/README.md` says which
# did.

# %% tags=["remove-cell"]
goal = target(results.profile) or target("cpu")  # studies.yml: targets
means = done.groupby("architecture")["test_iou"].mean()
leader = means.idxmax()  # the highest mean; whether it is resolved from the others is stated above
lead_runs = done[done["architecture"] == leader]
pages.glue_record("lead", targets.target_check(lead_runs["test_iou"], lead_runs["train_seconds"] / 60, goal,
                                               objects=object_steps.with_final_objects(results, lead_runs)))
pages.glue("lead_arch", pages.arch_label(leader))
pages.glue("lead_best", float(lead_runs["test_iou"].max()))
for name, column in (("width", "base_filters"), ("patch", "patch_size"), ("scale", "scale"), ("epochs", "epochs"),
                     ("per_epoch", "samples_per_epoch")):
    pages.glue(f"lead_{name}", float(lead_runs[column].iloc[0]))
pages.glue("lead_minutes", float(lead_runs["train_seconds"].mean() / 60))

# %% [markdown]
# ## How far from the target
#
# The `cpu` profile aims at a mean test IoU of {glue:text}`lead_target:.2f` over
# {glue:text}`lead_wanted` seeds, within {glue:text}`lead_limit_minutes:g` minutes of training per
# run (`targets` in `studies.yml`). The architecture with the highest mean, {glue:md}`lead_arch`,
# reaches {glue:text}`lead_mean:.3f` (best run {glue:text}`lead_best:.3f`; slowest run
# {glue:text}`lead_slowest_minutes:.1f` minutes). That is {glue:text}`lead_gap:+.4f` from the
# target: **{glue:md}`lead_verdict`**. Whether that architecture is better than the others is the
# question of the table above, not of this one.
#
# The recipe is small: base width {glue:text}`lead_width:.0f`, {glue:text}`lead_patch:.0f`-pixel
# patches at scale {glue:text}`lead_scale:g`, {glue:text}`lead_epochs:.0f` epochs of
# {glue:text}`lead_per_epoch:,.0f` patches, {glue:text}`lead_minutes:.1f` minutes of training on
# average. The training levers measured against this target are in {doc}`recipe`: the recipe study,
# and the `quality_levers` study (a moving average of the weights, a larger field of view, a network
# twice as wide and an ensemble of two runs).
#
# The full-width GPU run above, {glue:md}`gpu_best_arch` at base width
# {glue:text}`gpu_best_width:.0f` and scale {glue:text}`gpu_best_scale:g`
# ({glue:text}`gpu_best_patches:,.0f` training patches), reached {glue:text}`gpu_best_iou:.3f`, and
# {glue:text}`gpu_best_tta:.3f` with test-time augmentation. It changes width and training length
# together, so it shows what the two give together, not each alone; and it ran on another machine.
# Published 2D and 3D networks, trained for hours on GPUs, are in the table of published figures
# above.
#
# Test-time augmentation is part of the `cpu_long` recipe below; its cost in time is in the
# benchmarks appendix.

# %% [markdown]
# ## The longer recipe
#
# The `long_training` study trains the `seeds` study's recipe four times longer, under the `cpu_long`
# profile: 72 epochs instead of 18, and 8-fold test-time augmentation. It is judged against that
# profile's own target. It trains two architectures: U-Net, the architecture of {doc}`recipe`, and
# Attention U-Net, whose 18-epoch runs are set against the others above.

# %% tags=["remove-input"]
long_profile = pages.long_profile(results.profile)
long_goal = target(long_profile) or {"test_iou": nan}
try:
    longer = pages.load_study("long_training", long_profile)
except ResultsMissing:
    longer = None
    display(pages.missing("long_training", long_profile))
long_done = longer.done if longer is not None else done.iloc[:0]


def schedule_columns(runs: pd.DataFrame) -> pd.DataFrame:
    """How each of ``runs`` (with its ``floor`` epoch) used its epochs, as this page's longer tables show it."""
    return pd.DataFrame({
        "best / last epoch": [f"{b:.0f} / {e:.0f}" for b, e in zip(runs["best_epoch"], runs["epochs_run"])],
        "still improving": claims.still_improving(runs).map({True: "yes", False: "no"}).tolist(),
        "learning rate at its floor from epoch": [
            "never" if pd.isna(epoch) else f"{epoch:.0f}" for epoch in runs["floor"]],
        "training minutes": (runs["train_seconds"] / 60).map("{:.1f}".format).tolist()})


long_table = long_done.assign(floor=long_done["run_id"].map(summaries.floor_epochs(long_done, longer.history))
                              if longer is not None else nan)
trained = list(dict.fromkeys(long_done["architecture"]))
by_recipe = targets.longer_recipe_table(object_steps.with_final_objects(longer, long_done) if longer is not None
                                        else long_done, done, long_goal)  # objects after each run's object steps
if longer is not None:
    display(notices.notice(longer))
    display(pages.markdown_table(pd.concat([pd.DataFrame({
        "architecture": long_table["architecture"].map(pages.arch_label).tolist(),
        "seed": long_table["seed"].astype(int).tolist(),
        "test IoU": long_table["test_iou"].map("{:.3f}".format).tolist()}), schedule_columns(long_table)], axis=1)))
    display(pages.markdown_table(verdicts.effect_cells(by_recipe).assign(
        architecture=by_recipe["architecture"].map(pages.arch_label),
        mean=[claims.Summary(r.seeds, r.mean, r.sd).text() for r in by_recipe.itertuples()])
        [["architecture", "seeds", "mean", "gap", "object_f1", "count_ratio", "verdict", "still_improving", "pairs",
          "interval", "effect"]]
        .rename(columns={"mean": "test IoU", "gap": "mean minus target", "object_f1": "object F1",
                         "count_ratio": "predicted / true objects", "verdict": "target",
                         "still_improving": "runs still improving", "pairs": "seeds paired",
                         "interval": f"minus `{results.profile}` [interval]", "effect": "longer training"}),
        formats={"mean minus target": "+.4f", "object F1": ".2f", "predicted / true objects": ".2f"}))
long_tiers = claims.resolved_order(long_done, "test_iou", "architecture") if len(long_done) else []
floored = long_table[long_table["lr_schedule"] == "plateau"].dropna(subset=["floor"]) if len(long_table) else long_table
long_machines = summaries.machines(pd.concat([long_done.assign(profile=long_profile),
                                              done[done["architecture"].isin(trained)].assign(profile=results.profile)]),
                                   side="profile")
pages.glue("long_target", float(long_goal["test_iou"]))
pages.glue("long_minutes", float(long_goal.get("train_minutes", nan)))
pages.glue("long_f1_target", float(long_goal.get(targets.OBJECT_F1, nan)))
pages.glue("long_count_error", float(long_goal.get("count_error", nan)))
pages.glue("long_met", int((by_recipe["verdict"] == verdicts.TARGET_MET).sum()))
pages.glue("long_archs", int(len(by_recipe)))
pages.glue("long_raised", int((by_recipe["effect"] == "raises").sum()))
pages.glue("long_order", "resolved" if len(long_tiers) > 1 else claims.NOT_RESOLVED)
pages.glue("long_leader_trained", "yes" if leader in trained else "no")
pages.glue("long_floored", int(len(floored)))
pages.glue("long_runs", int(len(long_table)))
pages.glue("long_epochs", float(long_done["epochs_run"].max()) if len(long_done) else nan)
for name, column in (("floor", "floor"), ("best", "best_epoch")):
    pages.glue(f"long_{name}_first", float(floored[column].min()) if len(floored) else nan)
    pages.glue(f"long_{name}_last", float(floored[column].max()) if len(floored) else nan)
pages.glue_record("long_machines", long_machines)

# %% [markdown]
# The first table gives each run. The second judges the target per architecture, on the mean over
# seeds, and pairs each architecture's longer runs with its `cpu` runs of the same seeds: that
# difference measures the longer training and its test-time steps together.
#
# The `cpu_long` target asks for a mean test IoU of {glue:text}`long_target:.2f` within
# {glue:text}`long_minutes:g` minutes of training, a mean object F1 of
# {glue:text}`long_f1_target:.2f` (objects matched at IoU one half) and a predicted count within
# {glue:text}`long_count_error:.0%` of the true one. Architectures that meet it:
# {glue:text}`long_met` of {glue:text}`long_archs`. Objects are counted after the object steps each
# run chose on its validation slices; the second table gives their mean object F1 and their mean
# ratio of predicted to true objects. Where the runs did not record their objects, a target reached
# on IoU is "not judged yet". Read the count beside the ceiling the test labels set: even a perfect
# prediction, cleaned by the same steps, cannot match their smallest components ({doc}`recipe`,
# "What the test labels allow"). Longer training raises the test IoU, with an interval that excludes
# zero, for {glue:text}`long_raised` of the architectures. An order between them under `cpu_long`
# is **{glue:md}`long_order`** by the claims rule. {glue:md}`lead_arch`, the architecture with the
# highest `cpu` mean, is among those trained longer: {glue:md}`long_leader_trained`.
#
# The plateau schedule reached its floor in {glue:text}`long_floored` of {glue:text}`long_runs`
# runs, between epochs {glue:text}`long_floor_first:.0f` and {glue:text}`long_floor_last:.0f` of
# {glue:text}`long_epochs:.0f`. The epochs after that trained at the floor; those runs' best epochs
# came between epochs {glue:text}`long_best_first:.0f` and {glue:text}`long_best_last:.0f`.
# Kinds of machine these runs and their `cpu` partners trained on: {glue:text}`long_machines_kinds`
# ({glue:md}`long_machines_devices`). For {glue:text}`long_machines_pairs_on_one_machine` of the
# {glue:text}`long_machines_pairs` seeds, every run of the seed trained on one machine.
# Where a seed's runs trained on two machines, their difference holds the machines' arithmetic as
# well as the longer training.
#
# ## A schedule matched to the longer budget
#
# The plateau schedule halves the learning rate after a few epochs without a better validation IoU.
# How long it trains at each rate therefore depends on the run, not on the budget; the table above
# gives the epoch at which each run's learning rate reached the floor. The `long_schedule` study
# trains Attention U-Net under the same profile with a schedule matched to the budget instead. It
# decays the learning rate along a cosine to the same floor over all the epochs, after one epoch of
# linear warm-up ({doc}`recipe` measures this lever over 18 epochs). Each of its runs is paired with
# the `long_training` run of the same architecture and seed.

# %% tags=["remove-input"]
try:
    scheduled = pages.load_study("long_schedule", long_profile) if longer is not None else None
except ResultsMissing:
    scheduled = None
if scheduled is None:
    display(pages.missing("long_schedule", long_profile))
    pages.glue_placeholder("fig-long-schedule")
    schedule_check = targets.target_check([], [], long_goal)
    effects, reference, lever_runs, changed = {}, long_done.iloc[:0], long_done.iloc[:0], {}
    plateau, cosine = "plateau", "cosine"
else:
    display(notices.notice(scheduled))
    schedule = levers.lever_against(long_done, scheduled.done, "lr_schedule")
    lever_runs, reference, changed, effects = schedule.lever, schedule.reference, schedule.changed, schedule.effects
    plateau, cosine = schedule.names
    both_history = pd.concat([longer.history, scheduled.history])
    both = schedule.both.assign(floor=lambda t: t["run_id"].map(summaries.floor_epochs(t, both_history)))
    display(pages.markdown_table(pd.concat([pd.DataFrame({
        "schedule": both["group"].tolist(), "study": both["study"].map("`{}`".format).tolist(),
        "seed": both["seed"].astype(int).tolist(), "test IoU": both["test_iou"].map("{:.3f}".format).tolist(),
        "best validation IoU": both["best_val_iou"].map("{:.3f}".format).tolist()}), schedule_columns(both)], axis=1)))
    display(pages.markdown_table(levers.differences_table(changed)))
    schedule_check = targets.target_check(lever_runs["test_iou"], lever_runs["train_seconds"] / 60, long_goal,
                                          objects=object_steps.with_final_objects(scheduled, lever_runs))
    curves = both_history.merge(both[["run_id", "group"]], on="run_id")
    fig = curve_plots.curves_by_group(curves, metrics=["iou", "learning_rate"], group="group", compare=None,
                                      labels=pages.METRIC_LABELS, best_epochs=both[["run_id", "best_epoch"]],
                                      order=[plateau, cosine])
    pages.glue_figure("fig-long-schedule", fig)
    pages.glue_record("schedule_machines", summaries.machines(both, side="group"))
for value in ("test_iou", "best_val_iou"):
    row = effects.get(value)
    pages.glue(f"schedule_{value}_interval", verdicts.difference(row).text() if row is not None else "–")
    pages.glue(f"schedule_{value}_verdict", row["verdict"] if row is not None else verdicts.NO_INTERVAL)
for name, runs in (("plateau", reference), ("cosine", lever_runs)):
    summary = claims.summarize(runs["test_iou"])
    pages.glue(f"schedule_{name}_mean", summary.mean)
    pages.glue(f"schedule_{name}_sd", summary.sd)
    pages.glue(f"schedule_{name}_best_first", float(runs["best_epoch"].min()) if len(runs) else nan)
    pages.glue(f"schedule_{name}_best_last", float(runs["best_epoch"].max()) if len(runs) else nan)
pages.glue_record("schedule_target", schedule_check)
pages.glue("schedule_epochs", float(long_done["epochs_run"].max()) if len(long_done) else nan)
if scheduled is None:
    pages.glue_record("schedule_machines", summaries.machines(long_done.iloc[:0]))

# %% [markdown]
# Paired by seed, cosine against plateau: test IoU {glue:text}`schedule_cosine_mean:.3f` ±
# {glue:text}`schedule_cosine_sd:.3f` against {glue:text}`schedule_plateau_mean:.3f` ±
# {glue:text}`schedule_plateau_sd:.3f`; paired difference {glue:md}`schedule_test_iou_interval`
# (**{glue:md}`schedule_test_iou_verdict`**). On the best validation IoU the difference is
# {glue:md}`schedule_best_val_iou_interval` (**{glue:md}`schedule_best_val_iou_verdict`**).
# Against the `cpu_long` target, the cosine runs' mean is {glue:text}`schedule_target_gap:+.4f`
# from it: **{glue:md}`schedule_target_verdict`**.
#
# The second table lists every setting in which the two sets of runs differ, the schedule
# included. Should the batch-norm kernel be among them, read the pairs with care:
# `mitolib.model.fused_bn` computes the function of Keras' layer (its tests match the outputs, the
# moving statistics and the gradients) with another order of rounding, so the two runs of a seed
# would not share one trajectory, and the pairing would remove less of the seed's noise. Kinds of machine
# the runs trained on: {glue:text}`schedule_machines_kinds`; for
# {glue:text}`schedule_machines_pairs_on_one_machine` of the {glue:text}`schedule_machines_pairs`
# seeds, both runs trained on one machine.
#
# ```{glue:figure} fig-long-schedule
# :name: fig-long-schedule
#
# Validation IoU (top) and learning rate (bottom) per epoch of the plateau runs (`long_training`,
# left) and the cosine runs (`long_schedule`, right), Attention U-Net, one line per seed; open
# circles mark the best epoch, whose checkpoint is tested.
# **Conclusion:** the plateau runs' best epochs came between epochs
# {glue:text}`schedule_plateau_best_first:.0f` and {glue:text}`schedule_plateau_best_last:.0f`, the
# cosine runs' between {glue:text}`schedule_cosine_best_first:.0f` and
# {glue:text}`schedule_cosine_best_last:.0f` of {glue:text}`schedule_epochs:.0f`; the effect of the
# cosine schedule on the test IoU is **{glue:md}`schedule_test_iou_verdict`**.
# ```
#
# ## The GPU target
#
# The `gpu` profile trains the corrected recipe at the original width (base 64) and full resolution on
# a GPU node, against its own target.

# %% tags=["remove-input"]
gpu_goal = target("gpu") or {"test_iou": nan}
try:
    full = pages.load_study("seeds", "gpu")
except ResultsMissing:
    full = None
    display(pages.missing("seeds", "gpu", "`seeds` runs of the `gpu` profile"))
if full is not None:
    display(notices.notice(full))
    display(pages.markdown_table(summaries.gpu_summary(full)))
full_done = full.done if full is not None else done.iloc[:0]
pages.glue_record("gpu_target", targets.target_check(full_done["test_iou"], full_done["train_seconds"] / 60, gpu_goal,
                                                     objects=full_done))
pages.glue("gpu_short_gap", float(gpu_best["test_iou"] - gpu_goal["test_iou"]) if gpu_best is not None else nan)

# %% [markdown]
# The `gpu` target is a mean test IoU of {glue:text}`gpu_target_target:.2f` over
# {glue:text}`gpu_target_wanted` seeds: **{glue:md}`gpu_target_verdict`**, with
# {glue:text}`gpu_target_seeds` seeds measured so far (their runs, when there are any, are in the box
# and table above). On a PBS cluster,
# `mitolib study submit seeds --profile gpu` runs them (`mitolib study run seeds --profile gpu` on
# a GPU machine), then `mitolib study collect seeds --profile gpu`. The nearest measured recipe is
# the `gpu_short` run above, {glue:text}`gpu_short_gap:+.3f` from the target's level with one seed
# at scale {glue:text}`gpu_best_scale:g` and {glue:text}`gpu_best_epochs:.0f` epochs. It is
# another recipe, so it does not judge the target.

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
# * Segment a stack with a finished run and count its mitochondria:
#   `mitolib predict runs/cpu/seeds/<run_id> stack.tif -o mask.tif --objects objects.csv`. The runs
#   above scored the whole test volume (165 slices of 768 by 1024) in {glue:text}`eval_seconds:.0f`
#   seconds on average on two cores. On that volume, `objects.csv` should list about
#   {glue:text}`predicted_objects_mean:.0f` objects where the truth has {glue:text}`true_objects:.0f`:
#   the fragments of the object table above.
# * Evaluate a finished run again with 8-fold test-time augmentation:
#   `mitolib evaluate runs/cpu/seeds/<run_id> --tta`. It predicts eight flipped and rotated copies
#   of every slice, so it takes several times as long (the benchmarks appendix measures it). On the
#   `gpu_short` run above it raised the test IoU from
#   {glue:text}`gpu_best_iou:.3f` to {glue:text}`gpu_best_tta:.3f`.
# * Open the model in Fiji or another tool of the BioImage Model Zoo:
#   `mitolib export runs/cpu/seeds/<run_id> -o mito.zip`. The package holds Keras, TensorFlow and
#   ONNX weights and passes the zoo's own model test. The README's "Segment your own stack" says how
#   to check it and open it in Fiji.
# * Look at the saved predictions of the best runs slice by slice with
#   `notebooks/view_predictions.py`.
# * Train one longer run with the cosine schedule (about half an hour on two cores; expect a test IoU
#   near {glue:text}`schedule_cosine_mean:.2f`):
#   `mitolib train --profile cpu_long -p architecture attention_unet -p lr_schedule cosine -p warmup_epochs 1`.
