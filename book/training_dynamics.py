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
import numpy as np
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
# test volume. {glue:md}`lr_note`

# %% tags=["hide-input"]
history = pages.by_architecture(results.history_with("architecture", "seed"))
rates = history[history["metric"] == "learning_rate"]["value"]
flat = len(rates) and np.isclose(rates.min(), rates.max())
metrics = ["loss", *pages.JACCARD_METRICS] + ([] if flat else ["learning_rate"])
pages.glue("lr_note", (f"The learning rate never changed in these runs (it stayed at {rates.min():g}; no plateau "
                      "lasted long enough to halve it), so it has no panel." if flat else
                      "The last row shows the learning rate."))
fig = curve_plots.curves_by_group(history, metrics=metrics, group="architecture", labels=labels,
                            best_epochs=results.done[["run_id", "best_epoch"]],
                            order=pages.ordered_architectures(history["architecture"]))
pages.glue_figure("fig-curves", fig)
still = results.done[claims.still_improving(results.done)]
pages.glue("curves_conclusion", (f"{len(still)} of the {len(results.done)} runs peaked at their last epoch: "
                                "those were still improving." if len(still) else
                                f"all {len(results.done)} runs peaked before their last epoch."))

# %% [markdown]
# ```{glue:figure} fig-curves
# :name: fig-curves
#
# Loss and the three Jaccard variants per epoch for every run of the `seeds` study, one column
# per architecture, one line per seed (validation solid, training dashed, open circles at each
# run's best epoch). Where the circles sit on the last epoch the runs were still improving, and
# their numbers are not converged results.
# **Conclusion:** {glue:md}`curves_conclusion`
# ```

# %% tags=["remove-cell"]
at_best = pages.metrics_at_best_epoch(results).merge(results.runs[["run_id", "architecture"]], on="run_id")
gap = at_best.pivot_table(index="run_id", columns="metric", values="value")
gap = (gap["iou"] - gap["soft_jaccard"]).agg(["min", "max"])
pages.glue("gap_min", f"{gap['min']:.2f}")
pages.glue("gap_max", f"{gap['max']:.2f}")
pages.glue("n_runs", f"{len(results.done)}")
pages.glue("n_seeds", f"{results.runs['seed'].nunique()}")

# %% [markdown]
# At the best epoch of the {glue:md}`n_runs` completed runs ({glue:md}`n_seeds` seeds per
# architecture), the whole-set IoU minus the soft Jaccard of the same predictions ranges from
# {glue:md}`gap_min` to {glue:md}`gap_max`. The corrected recipe has no batch normalisation
# before the sigmoid and uses cross-entropy, so this difference is what is left of the soft
# metric's bias once the head and the loss no longer hold probabilities near one half.
#
# ## Best epochs and spread over seeds

# %% tags=["hide-input"]
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

# %% tags=["hide-input"]
fig, axes = plots.plt.subplots(1, 2, figsize=(8, 3.2), layout="constrained")
order = pages.ordered_architectures(results.done["architecture"])
plots.dot_plot(results.done, x="architecture", y="best_epoch", order=order, labels=labels,
               ylabel="best epoch", ax=axes[0])
plots.dot_plot(results.done, x="architecture", y="best_val_iou", order=order, labels=labels,
               ylabel="best validation IoU", ax=axes[1])
pages.glue_figure("fig-best-epochs", fig)
pages.glue("best_epochs_conclusion", "by best validation IoU, " + claims.order_text(
    claims.resolved_order(results.done, "best_val_iou", "architecture"), label=pages.arch_label) + ".")

# %% [markdown]
# ```{glue:figure} fig-best-epochs
# :name: fig-best-epochs
#
# Best epoch (left) and validation IoU at that epoch (right) per architecture; one dot per
# seed, the bar is the mean.
# **Conclusion:** {glue:md}`best_epochs_conclusion`
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
#   `mitolib study run seeds --profile cpu && mitolib study collect seeds --profile cpu`.
# * Change the schedule of one run: `mitolib train --profile cpu -p reduce_lr_patience 0`
#   (no learning-rate halving) or `-p early_stopping_patience 0` (no early stop).
