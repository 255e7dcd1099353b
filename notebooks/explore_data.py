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
# # Explore the data
#
# Slices, masks, training patches and foreground statistics of one split, as a run of the
# study sees them. Works offline on the synthetic volume; with `$MITOLIB_DATA` pointing at
# the EPFL data it shows the real volume. All loading and tiling is done by `mitolib`
# (`data.resolve_volumes`, `patches.tile`); this notebook only looks.

# %%

import numpy as np
import pandas as pd

from mitolib.core import config, locations
from mitolib.data import volumes as data, patches
from mitolib.figures import image_plots, plots

# %% tags=["parameters"]
profile = "cpu"  # profile of studies.yml whose data settings are used
data_source = ""  # "" = epfl when $MITOLIB_DATA is set, else synthetic
split = "train"  # train | test
patch_size = 0  # 0 = the profile's patch size
shown = 3  # slices shown side by side

# %% [markdown]
# ## The volume

# %%
source = data_source or ("epfl" if locations.data_setting() else "synthetic")
params = config.resolve_params(profile, {"data_source": source})
images, masks = data.resolve_volumes(params, split)
size = patch_size or params["patch_size"]
pd.Series({"data": source, "split": split, "slices x height x width": " x ".join(map(str, images.shape)),
           "image dtype": str(images.dtype), "mask values": str(np.unique(masks).tolist()),
           "foreground fraction": float(masks.mean())}, name="value").to_frame()

# %% [markdown]
# ## Slices and masks
# Evenly spaced slices with the mitochondria outlined.

# %%
picks = np.linspace(0, len(images) - 1, shown).round().astype(int)
fig = image_plots.slice_gallery([images[i] for i in picks], [masks[i] for i in picks],
                          titles=[f"{split} slice {i}" for i in picks])

# %% [markdown]
# ## Foreground along the stack
# The share of mitochondrion pixels per slice.

# %%
per_slice = pd.DataFrame({"slice": np.arange(len(masks)), "metric": "foreground fraction",
                          "value": masks.mean(axis=(1, 2))})
fig = plots.metric_lines(per_slice, "slice", ylabel="foreground fraction")

# %% [markdown]
# ## Patches
# The patches a run trains on (non-overlapping tiles of the profile's size, at full scale),
# and how many of them contain no mitochondrion at all: those are the patches whose
# per-batch Jaccard is inflated by the smoothing term (see the book's metric lesson).

# %%
mask_patches = patches.tile(masks, size)
image_patches = patches.tile(images, size)
fractions = pd.DataFrame({"foreground fraction": mask_patches.mean(axis=(1, 2))})
pd.Series({"patches": len(mask_patches), "patch side": size,
           "empty patches": int((fractions["foreground fraction"] == 0).sum()),
           "share empty": float((fractions["foreground fraction"] == 0).mean())}, name="value").to_frame()

# %%
fig = plots.histogram(fractions, value="foreground fraction", bins=30)

# %%
order = np.argsort(fractions["foreground fraction"].to_numpy())
examples = order[np.linspace(0, len(order) - 1, shown).round().astype(int)]
fig = image_plots.slice_gallery([image_patches[i] for i in examples], [mask_patches[i] for i in examples],
                          titles=[f"patch {i}: {fractions['foreground fraction'][i]:.1%}" for i in examples])

# %% [markdown]
# ## Intensities inside and outside mitochondria
# A random sample of pixels; mitochondria are darker than the cytoplasm around them.

# %%
rng = np.random.default_rng(0)
sample = rng.choice(images.size, size=min(images.size, 200_000), replace=False)
pixels = pd.DataFrame({"intensity": images.reshape(-1)[sample],
                       "class": np.where(masks.reshape(-1)[sample] > 0, "mitochondrion", "background")})
fig = plots.histogram(pixels, value="intensity", hue="class", bins=50)
pixels.groupby("class")["intensity"].describe()

# %% [markdown]
# ## Summary
# The volume's shape, its foreground fraction per slice and per patch, and the contrast
# between mitochondria and background. Change `split`, `patch_size` or `profile` above, or
# set `$MITOLIB_DATA` to look at the EPFL volume.
