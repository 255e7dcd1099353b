# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Train one U-Net run
#
# This notebook trains one model of the study and evaluates it on the whole test
# volume.  papermill sets the parameters below (`mitolib train` or
# `mitolib study run`); all logic lives in `mitolib.training.train`.  The run directory
# holds the parameters, the per-epoch history, the best model, the per-slice
# test scores and this executed notebook.

# %%
from mitolib.core import quiet

quiet.import_tensorflow_quietly()  # TensorFlow's start-up lines, unless TF_CPP_MIN_LOG_LEVEL asks for them

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from mitolib.core import config, rundir  # noqa: E402
from mitolib.figures import image_plots  # noqa: E402
from mitolib.data.volumes import resolve_volumes  # noqa: E402
from mitolib.training.train import train  # noqa: E402

# %% tags=["parameters"]
architecture = "unet"
base_filters = 16
depth = 4
batch_norm = True
bn_momentum = 0.9
dropout = 0.0
head_batch_norm = False
data_source = "synthetic"
data_root = ""
synthetic_slices = 8
synthetic_height = 64
synthetic_width = 96
train_slices = 0
scale = 1.0
patch_size = 32
patch_stride = 0
channels = 1
context_slices = 0
split = "official"
val_fraction = 0.25
augmentation = True
mispair = False
mask_threshold = 0.0
convert_images = False
allow_implausible_masks = False
sample_order = "shuffled"
loss = "bce"
gamma = 2.0
learning_rate = 0.001
batch_size = 4
epochs = 2
samples_per_epoch = 12
monitor = "iou"
select_by_all_monitors = False
early_stopping_patience = 8
lr_schedule = "plateau"
reduce_lr_patience = 3
reduce_lr_monitor = "monitor"
reduce_lr_factor = 0.5
min_learning_rate = 1e-05
warmup_epochs = 0.0
ema_momentum = 0.0
mixed_precision = ""
jit_compile = "false"
require_gpu = False
seed = 0
evaluate_test = True
eval_window = 0
eval_overlap = 0.25
eval_batch_size = 16
tta = False
threshold = 0.5
tune_threshold = False
z_median = 1
save_predictions = False
profile = "smoke"
out_dir = ""

# %% [markdown]
# ## Parameters
# Every value, after papermill's injection, checked against `studies.yml`.

# %%
values = {key: globals()[key] for key in config.load_config()["defaults"]}
params = config.resolve_params(None, values)
params["profile"] = profile
pd.Series(params, name="value").to_frame()

# %% [markdown]
# ## Data
# A few training slices with their masks outlined.

# %%
images, masks = resolve_volumes(params, "train")
shown = [0, len(images) // 2, len(images) - 1]
fig = image_plots.slice_gallery([images[i] for i in shown], [masks[i] for i in shown],
                          titles=[f"training slice {i}" for i in shown])

# %% [markdown]
# ## Training
# Checkpointing, early stopping and the learning-rate schedule follow the
# validation metric named by `monitor`.

# %%
run_dir = train(params, out_dir or None, finalize=False)
history = pd.read_csv(run_dir / rundir.HISTORY)
history.tail()

# %% [markdown]
# ## Curves
# The legacy soft Jaccard, the per-batch thresholded Jaccard and the
# dataset-level IoU, for training and validation, from the same epochs.

# %%
fig, axes = plt.subplots(1, 4, figsize=(14, 3))
for ax, metric in zip(axes, ["loss", "soft_jaccard", "thresholded_jaccard", "iou"]):
    history.plot(x="epoch", y=[metric, f"val_{metric}"], ax=ax, marker="o", ylabel=metric)

# %% [markdown]
# ## Result
# Foreground IoU and Dice over the whole test volume (counts accumulated over
# every slice, threshold 0.5), with the best validation epoch.

# %%
result = rundir.read_json(run_dir / rundir.PENDING_METRICS)
pd.Series({key: result.get(key) for key in
           ("status", "best_epoch", "best_val_iou", "test_iou", "test_dice", "train_seconds")}, name="value")
