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
# # Training dynamics
#
# How the three architectures train under the corrected recipe: every metric variant per
# epoch, where each run peaks, and how much of that changes with the seed alone. The data are
# the `seeds` study: each architecture trained with several seeds, everything else equal.
#
# **What you need:** the metric definitions of {doc}`the introduction <introduction>`; the results of the `seeds`
# study for the book's profile.

# %% tags=["remove-cell"]
import pandas as pd

from mitolib.report import pages, notices
from mitolib.core import claims
from mitolib.figures import curve_plots, plots

results = pages.load_study("seeds")
labels = {**pages.ARCHITECTURE_LABELS, **pages.METRIC_LABELS}

# %% tags=["remove-input"]
notices.notice(results)

# %% [markdown]
# ## Curves per architecture
#
# One column per architecture and one row per quantity (the loss, the three Jaccard variants,
# and the learning rate when it changed): one line per run (seed), validation solid, training
# dashed. Open circles mark each run's best epoch, the one whose checkpoint is evaluated on the
# test volume. The last row shows the learning rate, which the plateau schedule halves when the
# validation IoU stops improving.

# %% tags=["remove-cell"]
history = pages.by_architecture(results.history_with("architecture", "seed"))
metrics = ["loss", *pages.JACCARD_METRICS, "learning_rate"]
fig = curve_plots.curves_by_group(history, metrics=metrics, group="architecture", labels=labels,
                            best_epochs=results.done[["run_id", "best_epoch"]],
                            order=pages.ordered_architectures(history["architecture"]))
pages.glue_figure("fig-curves", fig)
pages.glue("still_improving", int(claims.still_improving(results.done).sum()))
pages.glue("n_done", int(len(results.done)))

# %% [markdown]
# ```{glue:figure} fig-curves
# :name: fig-curves
#
# Loss and the three Jaccard variants per epoch for every run of the `seeds` study, one column
# per architecture, one line per seed (validation solid, training dashed, open circles at each
# run's best epoch). Where the circles sit on the last epoch the runs were still improving, and
# their numbers are not converged results.
# **Conclusion:** {glue:text}`still_improving` of the {glue:text}`n_done` runs peaked at their last
# epoch; the others had stopped improving before their budget ended.
# ```

# %% tags=["remove-cell"]
at_best = pages.metrics_at_best_epoch(results).merge(results.runs[["run_id", "architecture"]], on="run_id")
gap = at_best.pivot_table(index="run_id", columns="metric", values="value")
gap = (gap["iou"] - gap["soft_jaccard"]).agg(["min", "max"])
pages.glue("gap_min", float(gap["min"]))
pages.glue("gap_max", float(gap["max"]))
pages.glue("n_seeds", int(results.runs["seed"].nunique()))

# %% [markdown]
# At the best epoch of the {glue:text}`n_done` completed runs ({glue:text}`n_seeds` seeds per
# architecture), the whole-set IoU minus the soft Jaccard of the same predictions ranges from
# {glue:text}`gap_min:.2f` to {glue:text}`gap_max:.2f`. The corrected recipe has no batch normalisation
# before the sigmoid and uses cross-entropy, so this difference is what is left of the soft
# metric's bias once the head and the loss no longer hold probabilities near one half.
#
# ## Best epochs and spread over seeds

# %% tags=["remove-input"]
summary = []
for arch in pages.ordered_architectures(results.done["architecture"]):
    part = results.done[results.done["architecture"] == arch]
    row = {"architecture": pages.arch_label(arch), "runs": len(part)}
    for column, name in (("best_epoch", "best epoch"), ("epochs_run", "epochs run"),
                         ("best_val_iou", "best val IoU"), ("train_seconds", "train s")):
        digits = 3 if column == "best_val_iou" else 1
        row[name] = claims.summarize(part[column]).text(digits)
    summary.append(row)
pages.markdown_table(pd.DataFrame(summary))

# %% [markdown]
# Each cell is the mean ± the standard deviation over seeds.

# %% tags=["remove-cell"]
fig, axes = plots.plt.subplots(1, 2, figsize=(8, 3.2), layout="constrained")
order = pages.ordered_architectures(results.done["architecture"])
plots.dot_plot(results.done, x="architecture", y="best_epoch", order=order, labels=labels,
               ylabel="best epoch", ax=axes[0])
plots.dot_plot(results.done, x="architecture", y="best_val_iou", order=order, labels=labels,
               ylabel="best validation IoU", ax=axes[1])
pages.glue_figure("fig-best-epochs", fig)
pairs = claims.compare(results.done, "best_val_iou", "architecture")
pages.glue("val_pairs", int(pairs["reference"].notna().sum()))
pages.glue("val_resolved", int(pairs["resolved"].sum()))

# %% [markdown]
# ```{glue:figure} fig-best-epochs
# :name: fig-best-epochs
#
# Best epoch (left) and validation IoU at that epoch (right) per architecture; one dot per
# seed, the bar is the mean.
# **Conclusion:** {glue:text}`val_resolved` of the {glue:text}`val_pairs` neighbouring pairs of
# architectures differ by more than the seed spread allows (paired intervals over seeds): by
# validation IoU the three are not told apart.
# ```
#
# ## Summary
#
# * {numref}`fig-curves` shows every metric variant for every run, so a curve can always be
#   read against the IoU of the same predictions.
# * The table and {numref}`fig-best-epochs` give best epochs and validation IoU with their
#   spread over seeds: differences between architectures smaller than that spread are not
#   evidence of a difference.
#
# ## Try it yourself
#
# * Add seeds: edit the `seeds` grid in `studies.yml`, then
#   `mitolib study run seeds --profile cpu && mitolib study collect seeds --profile cpu`. Each
#   seed is one more run of the length shown in the tables above. With more seeds the bands in
#   {numref}`fig-curves` and the intervals on later pages narrow; the means move only by chance.
# * Change the schedule of one run: `mitolib train --profile cpu -p reduce_lr_patience 0`
#   (no learning-rate halving) or `-p early_stopping_patience 0` (no early stop). The run's
#   `history.csv` then shows a constant `learning_rate` column, or a run that uses all its
#   epochs. Put its validation IoU beside the curves of {numref}`fig-curves` to see what the
#   schedule did.
