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
# # View a run's predictions
#
# One run's saved test masks against the ground truth, slice by slice: true positives,
# false positives and false negatives coloured, with each slice's IoU. The run comes from a
# collected study (`results/<profile>/<study>/`); its predictions exist when it was run with
# `-p save_predictions true`. The test volume is rebuilt (synthetic) or read from
# `$MITOLIB_DATA` (EPFL).

# %%
import numpy as np
import pandas as pd

from mitolib.report import pages, predictions
from mitolib.data import volumes as data
from mitolib.figures import image_plots, plots
from mitolib.core import rundir

# %% tags=["parameters"]
profile = "smoke"  # profile of the collected results
study = "seeds"  # collected study holding the run
run_id = ""  # "" = the run with the best test IoU
per_row = 3  # slices per figure row
max_slices = 12  # at most this many slices, evenly spaced
include_runs = True  # also look in the run folder when the results hold no predictions

# %% [markdown]
# ## The run

# %%
results = pages.load_study(study, profile)
run_id = run_id or predictions.example_run(results.runs)["run_id"].item()
params = predictions.run_params(results, run_id)
saved = predictions.saved_predictions(results, run_id, include_runs=include_runs)
if not saved:
    raise FileNotFoundError(f"run {run_id!r} saved no test predictions; re-run it with -p save_predictions true")
row = results.runs.set_index("run_id").loc[run_id]
pd.Series({"run": run_id, "architecture": row["architecture"], "seed": row["seed"], "data": params["data_source"],
           "test IoU": row["test_iou"], "test Dice": row["test_dice"], "saved slices": len(saved)},
          name="value").to_frame()

# %% [markdown]
# ## Slice scores
# IoU of every test slice; the slices shown below are spread over this range.

# %%
scores = results.test_slices[results.test_slices["run_id"] == run_id].assign(architecture=row["architecture"])
fig = plots.slice_scores(scores, value="iou", hue="architecture", labels=pages.ARCHITECTURE_LABELS)

# %% [markdown]
# ## Predictions against the ground truth

# %%
images, masks = data.resolve_volumes(params, "test")
picks = sorted(saved)[:: max(1, len(saved) // max_slices)][:max_slices]
by_slice = scores.set_index("slice")["iou"]
for start in range(0, len(picks), per_row):
    chunk = picks[start:start + per_row]
    fig, axes = plots.plt.subplots(1, len(chunk), figsize=(3.6 * len(chunk), 3.2), squeeze=False,
                                   layout="constrained")
    for ax, index in zip(axes[0], chunk):
        image_plots.error_overlay(images[index], masks[index], rundir.read_mask_png(saved[index]), ax=ax)
        ax.set_title(f"slice {index}, IoU {by_slice.get(index, np.nan):.2f}", fontsize="small")
    image_plots.error_legend(axes[0][-1])
    plots.plt.show()

# %% [markdown]
# ## Summary
# Green pixels are right, orange ones are predicted but not in the ground truth, blue ones
# are missed. Set `run_id` to another run of the study (see `results.runs`), or `study` and
# `profile` to another collected study.
