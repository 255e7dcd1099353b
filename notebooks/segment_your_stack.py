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
# # Segment your own stack
#
# Apply a trained model to an EM stack of your own: predict mitochondria slice by slice, look at the
# outlines, then count the mitochondria in 3-D and measure their volumes.
#
# **What you need:** a trained model (a run directory from `mitolib train` or `mitolib study run`, or a
# `.keras` file) and a stack: a multi-page TIFF or OME-TIFF, a folder of PNG/TIFF slices or a Zarr array,
# 8-bit grayscale. Set `model` and `stack` below. For stacks larger than memory use the command line,
# which streams: `mitolib predict MODEL STACK -o masks.tif`.

# %%
import numpy as np

from mitolib.figures import image_plots
from mitolib.model import objects
from mitolib.data.epfl import EPFL_PIXEL_SIZE_NM
from mitolib.training.segment import model_spec, predict, predict_stack
from mitolib.data.stacks import open_stack

# %% tags=["parameters"]
model = ""  # a run directory or a .keras file
stack = ""  # a TIFF/OME-TIFF stack, a folder of slices or a .zarr array
output = "masks.tif"  # where the mask stack is written (0 / 255)
pixel_size = 0.0  # nm per pixel of the stack; 0 = from the file's metadata, else the model's
slice_thickness = 0.0  # nm between slices; 0 = the file's PhysicalSizeZ or ImageJ spacing, else the pixel size
tta = False  # 8-fold test-time augmentation (8 times slower, usually a little better)
shown = 3  # slices shown with their outlines

# %% [markdown]
# ## The stack and the model
# The stack is opened lazily and checked; the model's pixel size comes from its run.

# %%
volume = open_stack(stack)
spec = model_spec(model)
print(f"stack: {volume.shape[0]} slices of {volume.shape[1]} x {volume.shape[2]} pixels, {volume.intensity}; "
      f"pixel size in the file: {volume.pixel_size_nm or 'not stated'} nm")
print(f"model: {spec.path}, trained at {spec.pixel_size_nm or EPFL_PIXEL_SIZE_NM:g} nm per pixel; "
      f"settings from {spec.source}")

# %% [markdown]
# ## Predict
# The whole stack goes through the same sliding-window prediction as the book's evaluation and is
# written to `output`, slice by slice.

# %%
report = predict_stack(model, stack, output, pixel_size=pixel_size or None, tta=tta, overwrite=True, progress=False)
print(f"pixel size used: {report['input_pixel_size_nm']:g} nm ({report['input_pixel_size_from']}); "
      f"resampled by {report['resampling']:g} for the model; {report['foreground_fraction']:.1%} of the voxels "
      f"are mitochondria; {report['seconds']:.1f} s")
masks = open_stack(output).read(0, volume.shape[0]) > 0

# %% [markdown]
# ## Look at it
# A few slices with the predicted outlines.

# %%
picks = np.linspace(0, volume.shape[0] - 1, min(shown, volume.shape[0])).round().astype(int)
fig = image_plots.slice_gallery([volume[i] for i in picks], [masks[i] for i in picks],
                          titles=[f"slice {i}" for i in picks])

# %% [markdown]
# ## Count and measure
# Mitochondria are the 3-D connected components of the mask; a volume is its voxel count times the voxel
# volume (pixel size² x slice thickness).

# %%
size = report["input_pixel_size_nm"]
spacing = slice_thickness or report["z_spacing_nm"]  # given here, else the file's (or the pixel size: isotropic)
print(f"voxels of {size:g} x {size:g} x {spacing:g} nm (slice spacing: "
      f"{'the slice_thickness parameter' if slice_thickness else report['z_spacing_from']})")
table = objects.object_table(masks, pixel_size_nm=size, slice_thickness_nm=spacing)
print(f"{len(table)} mitochondria; median volume {table['volume_um3'].median():.4f} µm³" if len(table)
      else "no mitochondria found")
table.head(10)

# %% [markdown]
# ## Summary
# The mask stack is in `output`, at the stack's own size and pixel size. Where the run chose object steps
# on its validation slices, the masks are written after them: fragments below a size removed, holes
# filled, touching objects split (`report["object_steps"]` gives the size and depth used, in this stack's
# voxels; `object_steps=False` writes the thresholded probabilities as they are). Objects that touch the
# stack's border are cut by it, so their volumes are lower bounds.
