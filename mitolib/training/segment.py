"""Segment your own stack: :func:`predict` on arrays and :func:`predict_stack` from file to file.

Both use the evaluation's own steps (``mitolib.training.evaluate``): the slices are resampled to the model's pixel
size, cut into overlapping windows, predicted (optionally with 8-fold test-time augmentation), blended,
resampled back, median-filtered over ``z_median`` neighbouring slices and thresholded.  So a stack
predicted here scores what ``mitolib evaluate`` reports with the same settings.

A *model source* is a run directory (``params.json`` and ``model.keras``: the settings and the pixel size
it was trained at come with it) or a ``.keras`` file (its folder's ``params.json`` is used when there is
one; otherwise give the model's pixel size).
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mitolib.core import rundir, schema
from mitolib.core.config import load_config
from mitolib.data.epfl import EPFL_PIXEL_SIZE_NM
from mitolib.core.errors import DataError
from mitolib.data.stacks import check_output, open_stack, write_stack
from mitolib.model import objects
from mitolib.model.architectures import load_saved_model


MASK_FOREGROUND = 255     # value of mitochondria in written mask stacks (0 elsewhere)
PROBABILITY_SCALE = 255   # probabilities are written as uint8, p * 255 rounded
CHUNK_SLICES = 8          # slices predicted at a time by predict_stack (plus the z-median's halo)
OPTION_KEYS = {"window": "eval_window", "overlap": "eval_overlap", "tta": "tta", "batch_size": "eval_batch_size",
               "threshold": "threshold", "z_median": "z_median"}


@dataclass
class ModelSpec:
    """Where a model is and how it predicts: its file, its pixel size (nm) and its prediction settings."""

    path: Path
    pixel_size_nm: float | None
    options: dict = field(default_factory=dict)
    source: str = ""
    data_pixel_size_nm: float | None = None  # the training data's own pixel size (before the run's rescaling)
    context: int = 0  # 2.5D models: neighbouring slices on each side given as channels
    # the object steps the run chose on its validation slices (min_object_voxels, split_depth; voxels of its data)
    object_steps: dict = field(default_factory=dict)


TEMPORARY_BYTES_PER_VOXEL = 4  # the float32 probabilities predict_stack keeps on disk beside the output
SPACE_MARGIN = 1.05  # free space asked for beyond the exact need (file system overhead)


def space_needed(shape: tuple, outputs: int) -> int:
    """Bytes of disk ``predict_stack`` needs for a stack of ``shape``: its temporary float32 probabilities and
    ``outputs`` uint8 stacks (the masks, and the probabilities when asked for)."""
    return math.prod(shape) * (TEMPORARY_BYTES_PER_VOXEL + outputs)


def check_free_space(shape: tuple, output_path, probabilities_path=None) -> None:
    """Refuse, before any work, to predict into a folder without the space :func:`space_needed` asks for."""
    folder = Path(output_path).resolve().parent
    need = space_needed(shape, 1 + (probabilities_path is not None)) * SPACE_MARGIN
    free = shutil.disk_usage(folder if folder.exists() else folder.parent).free
    if free < need:
        raise DataError(f"{folder}: {free / 1e9:.2f} GB free, and predicting this stack needs {need / 1e9:.2f} GB "
                        f"there ({TEMPORARY_BYTES_PER_VOXEL} bytes per voxel of temporary probabilities, removed "
                        "afterwards, plus the outputs); free space or write the output elsewhere")


def check_pixel_size(value: float | None, what: str) -> float | None:
    """``value`` (nm per pixel) when it is a positive finite number or ``None``; anything else is refused."""
    if value is not None and not (math.isfinite(float(value)) and float(value) > 0):
        raise DataError(f"{what} {value!r} is not a pixel size: give nanometres per pixel, a positive number")
    return None if value is None else float(value)


def check_one_channel(model, source) -> None:
    """Refuse a model whose output is not one channel of foreground probabilities (a 2-class softmax, say)."""
    channels = model.output_shape[-1]
    if channels != 1:
        raise DataError(f"{source}: the model outputs {channels} channels; mitolib predicts with models whose output "
                        "is one sigmoid channel of mitochondria probability (as `mitolib train` makes them)")


def model_spec(source: str | Path, *, model_pixel_size: float | None = None) -> ModelSpec:
    """Read a model source (run directory or ``.keras`` file) without loading the network.  Its pixel size and
    settings come from the run's ``params.json``; a model without one needs ``model_pixel_size`` (and then
    predicts with the defaults of ``studies.yml``, which the returned ``source`` says)."""
    model_pixel_size = check_pixel_size(model_pixel_size, "--model-pixel-size")
    source = Path(source)
    if source.is_dir():
        folder, path = source, source / rundir.MODEL
        if not path.is_file():
            raise DataError(f"{source}: no {rundir.MODEL} here; give a finished run directory or a .keras file")
    elif source.suffix == ".keras" and source.is_file():
        folder, path = source.parent, source
    else:
        raise DataError(f"{source}: not a run directory or a .keras file")
    defaults = load_config()["defaults"]
    params = dict(defaults)
    record = rundir.read_json(folder / rundir.PARAMS) if (folder / rundir.PARAMS).is_file() else None
    where = "the defaults of studies.yml"
    pixel, data_pixel = model_pixel_size, model_pixel_size
    if isinstance(record, dict) and isinstance(record.get("params"), dict):
        params.update(record["params"])
        where = f"{folder / rundir.PARAMS}"
        data_pixel = EPFL_PIXEL_SIZE_NM
        if pixel is None:
            pixel = EPFL_PIXEL_SIZE_NM / float(params["scale"])
    elif model_pixel_size is None:
        raise DataError(f"{path}: no {rundir.PARAMS} beside it, so the pixel size it was trained at and its settings "
                        "are unknown; predict with its run directory, or give --model-pixel-size NM (nanometres per "
                        "pixel of its training data; the settings are then the defaults of studies.yml)")
    else:
        where = f"the defaults of studies.yml ({path.name} has no {rundir.PARAMS}; pixel size from --model-pixel-size)"
    metrics = rundir.read_metrics(folder) or {}
    from mitolib.training import evaluate

    derived = evaluate.options_from_params(params)
    options = {**{name: derived[name] for name in ("window", "overlap", "tta", "batch_size")},
               "threshold": params["threshold"], "z_median": evaluate.z_median_size(params)}
    options["threshold"] = rundir.run_threshold(params, metrics)
    steps = {key: float(metrics.get(key, 0)) for key in ("min_object_voxels", "split_depth")} \
        if "min_object_voxels" in metrics else {}
    return ModelSpec(path, pixel, options, where, data_pixel, derived["context"], steps)


def _check_options(options: dict) -> dict:
    """``options`` when the schema's ranges allow them (the rules `train` and `evaluate` check), else a
    ``ConfigError`` naming the setting; checked before any model loads."""
    schema.validate({key: options[name] for name, key in OPTION_KEYS.items()})
    return options


def predict(volume: np.ndarray, model, *, pixel_size: float | None = None, scale: float | None = None,
            assume_model_pixel_size: bool = False, output: str = "mask", progress: bool = False,
            **options) -> np.ndarray:
    """Segment a uint8 EM slice ``(H, W)`` or stack ``(S, H, W)`` held in memory.

    ``model`` is a run directory or a ``.keras`` file (its settings are the defaults), or a Keras model.
    The input is resampled to the model's pixel size by ``scale`` if given, else by ``pixel_size`` (nm per
    pixel of ``volume``) over the model's.  An array carries no pixel size, so one of the two is required,
    unless ``assume_model_pixel_size=True`` says the volume has the training data's pixel size (5 nm for the
    EPFL data: a ``cpu``-profile model, trained at scale 0.5, then resamples by 0.5).  ``options``:
    ``window``, ``overlap``, ``tta``, ``batch_size``, ``z_median``, ``threshold``.  Returns an array of the
    input's shape: ``output="mask"`` uint8 in {0, 1}, ``output="probabilities"`` float32 in [0, 1]
    (after the z-median). The mask is the thresholded probabilities, without the run's object steps (which
    :func:`predict_stack` applies, knowing the stack's voxel size).
    """
    from mitolib.training import evaluate

    array = np.asarray(volume)
    if array.ndim not in (2, 3):
        raise ValueError(f"volume must be (H, W) or (S, H, W), got shape {array.shape}")
    if array.dtype != np.uint8:
        raise ValueError(f"volume must be uint8 (8-bit EM), got {array.dtype}; rescale it to 0-255 first")
    if output not in ("mask", "probabilities"):
        raise ValueError(f"output must be 'mask' or 'probabilities', got {output!r}")
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; choose from {', '.join(OPTION_KEYS)}")
    pixel_size = check_pixel_size(pixel_size, "pixel_size")
    if pixel_size is None and scale is None and not assume_model_pixel_size:
        raise ValueError("an array carries no pixel size: give pixel_size=NM (nanometres per pixel of this volume), "
                         "or assume_model_pixel_size=True to take it as the training data's (a 10 nm volume taken as "
                         "5 nm is segmented at the wrong scale)")
    if isinstance(model, (str, Path)):
        spec = model_spec(model)
        model = load_saved_model(spec.path)
    else:
        defaults = load_config()["defaults"]
        spec = ModelSpec(Path(""), None, {name: defaults[key] for name, key in OPTION_KEYS.items()}, "defaults")
        spec.options["window"] = spec.options["window"] or defaults["patch_size"]
    check_one_channel(model, spec.path if spec.source != "defaults" else "the model")
    settings = _check_options({**spec.options, **{k: v for k, v in options.items() if v is not None}})
    if scale is None:
        given = pixel_size or spec.data_pixel_size_nm
        scale = given / spec.pixel_size_nm if given and spec.pixel_size_nm else 1.0
    stack = array[None] if array.ndim == 2 else array
    probs = evaluate.predict_probabilities(model, stack, scale=scale, window=settings["window"],
                                           overlap=settings["overlap"], tta=settings["tta"],
                                           batch_size=settings["batch_size"], context=spec.context, progress=progress)
    probs = evaluate.z_median(probs, settings["z_median"])
    result = probs if output == "probabilities" else (probs >= settings["threshold"]).astype(np.uint8)
    return result[0] if array.ndim == 2 else result


def predict_stack(model_source: str | Path, input_path: str | Path, output_path: str | Path, *,
                  probabilities_path: str | Path | None = None, pixel_size: float | None = None,
                  model_pixel_size: float | None = None, convert: bool = False, overwrite: bool = False,
                  objects_path: str | Path | None = None, object_steps: bool = True, progress: bool = True,
                  **options) -> dict:
    """Segment the stack at ``input_path`` into a uint8 mask stack at ``output_path`` (0 / 255).

    Everything that can be wrong with the input, the outputs or the options is checked before the model is
    loaded.  The stack is read, predicted and written ``CHUNK_SLICES`` at a time (with the z-median's halo
    of neighbouring slices), probabilities pass through a temporary file on disk, so memory does not grow
    with the stack.  ``options`` (``window``, ``overlap``, ``tta``, ``batch_size``, ``z_median``,
    ``threshold``) default to the run's own evaluation settings.  With ``objects_path``, the per-mitochondrion
    table of :func:`mitolib.model.objects.object_table` (3-D components of the written masks, volumes at the
    input's pixel size) is written there as CSV.  Where the run chose object steps on its validation slices
    (:mod:`mitolib.model.objects`: components below a size removed, holes filled, touching objects split) and
    ``object_steps`` is true, the masks are written and counted after them, the size and depth converted to the
    input's voxels; that needs the whole mask in memory (one byte per voxel, plus the labels).  Returns a report:
    slices, the pixel sizes used and where each came from, the resampling factor, the settings, the object steps
    applied (or None), seconds, the foreground fraction and the object count.
    """
    from mitolib.training import evaluate

    stack = open_stack(input_path, convert=convert)
    if objects_path is not None:
        objects_path = Path(objects_path)
        if objects_path.suffix.lower() != ".csv" or objects_path.is_dir():
            raise DataError(f"{objects_path}: write the object table as a .csv file")
        if objects_path.exists() and not overwrite:
            raise DataError(f"{objects_path}: already exists; pass --overwrite to replace it, or choose another name")
        for other in (input_path, output_path, probabilities_path):
            if other is not None and Path(other).resolve() == objects_path.resolve():
                raise DataError(f"{objects_path}: this is {other}; choose another name for the object table")
    check_output(output_path, overwrite=overwrite, reads=(input_path, probabilities_path))
    if probabilities_path is not None:
        check_output(probabilities_path, overwrite=overwrite, reads=(input_path, output_path))
    pixel_size = check_pixel_size(pixel_size, "--pixel-size")
    spec = model_spec(model_source, model_pixel_size=model_pixel_size)
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; choose from {', '.join(OPTION_KEYS)}")
    settings = _check_options({**spec.options, **{k: v for k, v in options.items() if v is not None}})
    if pixel_size is not None:
        input_pixel, input_from = float(pixel_size), "--pixel-size"
    elif stack.pixel_size_nm:
        input_pixel, input_from = float(stack.pixel_size_nm), f"the file's metadata: {stack.pixel_size_from}"
    elif spec.data_pixel_size_nm:
        input_pixel = spec.data_pixel_size_nm
        input_from = (f"assumed: the training data's (the file states none: {stack.pixel_size_from}; "
                      "give --pixel-size)")
    else:
        input_pixel, input_from = None, "unknown"
    assumed = input_from.startswith("assumed")
    # slice spacing for volumes: the file's (anisotropic stacks: ssTEM, most FIB-SEM), else the pixel size
    z_spacing, z_from = ((stack.z_spacing_nm, stack.z_spacing_from) if stack.z_spacing_nm
                         else (input_pixel, "none stated: taken equal to the pixel size (isotropic voxels)"))
    stamped = None if assumed else input_pixel  # an output states a pixel size only where the input did
    model_pixel = spec.pixel_size_nm or input_pixel
    scale = input_pixel / model_pixel if input_pixel and model_pixel else 1.0
    if not 0.05 <= scale <= 20:
        raise DataError(f"{input_path}: pixel size {input_pixel:g} nm against the model's {model_pixel:g} nm means "
                        f"resampling by {scale:g}; check --pixel-size (nanometres per pixel)")

    check_free_space(stack.shape, output_path, probabilities_path)
    applied = None
    if object_steps and spec.object_steps and input_pixel and spec.data_pixel_size_nm:
        min_voxels, depth, sampling = objects.steps_at(spec.object_steps["min_object_voxels"],
                                                       spec.object_steps["split_depth"], spec.data_pixel_size_nm,
                                                       input_pixel, z_spacing)
        applied = {"min_voxels": min_voxels, "split_depth": depth, "sampling": sampling}
    started = time.perf_counter()
    loaded = load_saved_model(spec.path)
    check_one_channel(loaded, spec.path)
    model = evaluate.fully_convolutional(loaded)  # once, not per chunk
    halo = settings["z_median"] // 2
    slices, height, width = stack.shape
    foreground = 0
    with tempfile.TemporaryDirectory(dir=Path(output_path).parent or None, prefix=".mitolib-predict-") as tmp:
        probs = np.lib.format.open_memmap(Path(tmp) / "probabilities.npy", mode="w+", dtype=np.float32,
                                          shape=stack.shape)
        for index, plane in evaluate.predict_volume(  # reads the stack CHUNK_SLICES at a time (with 2.5D halos)
                model, stack, scale=scale, window=settings["window"], overlap=settings["overlap"], tta=settings["tta"],
                batch_size=settings["batch_size"], chunk=CHUNK_SLICES, context=spec.context, progress=progress):
            probs[index] = plane

        def filtered():
            for first in range(0, slices, CHUNK_SLICES):
                last = min(slices, first + CHUNK_SLICES)
                low, high = max(0, first - halo), min(slices, last + halo)
                block = evaluate.z_median(np.asarray(probs[low:high], dtype=np.float32), settings["z_median"])
                yield from block[first - low:first - low + (last - first)]

        planes = (plane >= settings["threshold"] for plane in filtered())
        if applied is not None:  # 3-D steps: the whole mask at once
            planes = objects.cleanup_masks(np.stack(list(planes)), applied["min_voxels"], applied["split_depth"],
                                           applied["sampling"])[objects.CLEANUP_STEPS[-1]]

        def masks():
            nonlocal foreground
            for mask in planes:
                foreground += int(mask.sum())
                yield np.where(mask, MASK_FOREGROUND, 0).astype(np.uint8)

        # outputs state what the input did: its pixel size and slice spacing, as OME-Zarr where it was one
        written = {"pixel_size_nm": stamped, "zarr_chunks": stack.zarr_chunks, "overwrite": overwrite,
                   "ngff": stack.ngff, "z_spacing_nm": stack.z_spacing_nm}
        write_stack(output_path, masks(), stack.shape, **written)
        if probabilities_path is not None:
            write_stack(probabilities_path, (np.rint(p * PROBABILITY_SCALE).astype(np.uint8) for p in filtered()),
                        stack.shape, **written)
        del probs
    count = None
    if objects_path is not None:
        table = objects.object_table(open_stack(output_path).read(0, slices) > 0, pixel_size_nm=input_pixel,
                             slice_thickness_nm=z_spacing)
        rundir.atomic_write_csv(objects_path, table)
        count = len(table)
    return {"pixel_size_assumed": assumed, "z_spacing_nm": z_spacing, "z_spacing_from": z_from, "objects": count, "objects_path": str(objects_path) if objects_path is not None else None,"input": str(input_path), "output": str(output_path), "slices": slices, "shape": [slices, height, width],
            "intensity": stack.intensity, "input_pixel_size_nm": input_pixel, "input_pixel_size_from": input_from,
            "model_pixel_size_nm": model_pixel, "model_settings_from": spec.source, "resampling": scale,
            **settings, "object_steps": applied, "seconds": time.perf_counter() - started,
            "foreground_fraction": foreground / max(1, math.prod(stack.shape))}
