"""Full-volume evaluation: sliding-window prediction over whole slices and volume IoU/Dice.

Slices are resampled to the training scale, cut into overlapping windows,
predicted (optionally with 8-fold flip/rotation test-time augmentation),
blended with a smooth weight map, resampled back to the original size and
thresholded.  Confusion counts are accumulated over the whole volume, so the
reported IoU is the foreground IoU of the volume, as the literature reports it.
:func:`evaluate_run` evaluates a finished run's saved model again with other
evaluation settings (``mitolib evaluate RUN_DIR --tta``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import keras
import numpy as np
import pandas as pd
from scipy import ndimage
from tqdm.auto import tqdm

from mitolib.model import blocks  # noqa: F401 - registers the custom layers, so saved attention models load
from mitolib.model import metrics, objects
from mitolib.core import rundir
from mitolib.model.architectures import load_saved_model
from mitolib.core import schema
from mitolib.core.config import cast_value, load_config
from mitolib.core.errors import ConfigError, DataError
from mitolib.core.locations import project_root
from mitolib.core.rundir import EVAL_PARAMS, EVALUATIONS, run_threshold
from mitolib.data.volumes import data_identity, recorded_params, resolve_volumes
from mitolib.data.patches import rescale, with_context
from mitolib.data.pipeline import PIXEL_SCALE, SYMMETRIES, dihedral, undo_dihedral
from mitolib.core.provenance import git_commit
from mitolib.core.rundir import save_mask_png

SLICE_COLUMNS = ["slice", "iou", "dice", "tp", "fp", "fn"]
POSTPROCESSING_COLUMNS = ["z_median", "threshold", "threshold_source", "test_iou", "test_dice"]
THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(4, 19))  # 0.20 ... 0.90, the validation search grid
Z_MEDIAN_SIZES = (1, 3, 5)  # slices in the z-median window measured after every run (1 = none)


def options_from_params(params) -> dict:
    """The prediction options of a run's parameters, for :func:`predict_probabilities` and
    :func:`evaluate_volume`: ``scale``, ``window`` (``eval_window``; 0 = the patch size), ``overlap``, ``tta``,
    ``batch_size`` and ``context`` (``context_slices``; runs from before it existed read 0).  The one place
    training, ``mitolib evaluate`` and ``mitolib predict`` derive them."""
    return {"scale": float(params["scale"]), "window": int(params["eval_window"] or params["patch_size"]),
            "overlap": float(params["eval_overlap"]), "tta": bool(params["tta"]),
            "batch_size": int(params["eval_batch_size"]), "context": int(params.get("context_slices", 0) or 0)}


def z_median_size(params) -> int:
    """The z-median window of a run's parameters (1 = none; runs from before it existed recorded 0)."""
    return max(1, int(params.get("z_median", 1) or 1))


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Start offsets of windows of ``window`` pixels covering ``size`` pixels with step ``stride``."""
    if size <= window:
        return [0]
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


def blend_weights(height: int, width: int) -> np.ndarray:
    """Separable tent weights ``(height, width)`` float32, highest at the centre, never zero."""
    def ramp(n):
        r = np.minimum(np.arange(1, n + 1), np.arange(n, 0, -1)).astype("float32")
        return r / r.max()
    return np.outer(ramp(height), ramp(width))


def fully_convolutional(model: keras.Model) -> keras.Model:
    """The same network accepting any ``(H, W)`` divisible by its pooling factor (weights shared)."""
    channels = model.input_shape[-1]
    if model.input_shape[1] is None and model.input_shape[2] is None:
        return model
    clone = keras.models.clone_model(model, input_tensors=keras.Input((None, None, channels)))
    clone.set_weights(model.get_weights())
    return clone


def _predict(model, batch: np.ndarray, tta: bool) -> np.ndarray:
    """Probabilities ``(B, h, w)`` for float32 windows ``(B, h, w, C)``."""
    draws = range(SYMMETRIES) if tta else [0]  # the 8 symmetries of the square (pipeline.dihedral)
    total = np.zeros(batch.shape[:3], dtype="float32")
    for draw in draws:
        x = np.ascontiguousarray(dihedral(batch, draw, axes=(1, 2)))
        y = np.asarray(model.predict_on_batch(x), dtype="float32")[..., 0]
        total += undo_dihedral(y, draw, axes=(1, 2))
    return total / len(draws)


def predict_slices(model, images: np.ndarray, *, window: int, overlap: float = 0.25,
                   channels: int = 1, tta: bool = False, batch_size: int = 8, multiple: int = 16) -> np.ndarray:
    """Blended probabilities ``(S, H, W)`` float32 for uint8 slices ``(S, H, W)`` at the model's scale.

    Windows are at most ``window`` pixels on a side (clipped to the slice, rounded
    up to ``multiple``, the model's pooling factor; slices are reflect-padded to fit).
    """
    slices, height, width = images.shape[:3]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    padded = np.pad(images, ((0, 0), (0, pad_h), (0, pad_w)) + ((0, 0),) * (images.ndim - 3), mode="reflect")
    full_h, full_w = padded.shape[1:3]
    win_h, win_w = min(window, full_h), min(window, full_w)
    stride_h = max(1, int(round(win_h * (1 - overlap))))
    stride_w = max(1, int(round(win_w * (1 - overlap))))
    boxes = [(r, c) for r in window_starts(full_h, win_h, stride_h) for c in window_starts(full_w, win_w, stride_w)]
    weights = blend_weights(win_h, win_w) if len(boxes) > 1 else np.ones((win_h, win_w), "float32")
    out = np.zeros((slices, full_h, full_w), dtype="float32")
    norm = np.zeros((full_h, full_w), dtype="float32")
    for r, c in boxes:
        norm[r:r + win_h, c:c + win_w] += weights
    jobs = [(s, r, c) for s in range(slices) for r, c in boxes]
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start:start + batch_size]
        batch = np.stack([padded[s, r:r + win_h, c:c + win_w] for s, r, c in chunk]).astype("float32") / PIXEL_SCALE
        if batch.ndim == 3:  # 2-D slices: one channel, or identical copies (the original's 3 channels)
            batch = np.repeat(batch[..., None], channels, axis=-1)
        probs = _predict(model, batch, tta)
        for (s, r, c), p in zip(chunk, probs):
            out[s, r:r + win_h, c:c + win_w] += p * weights
    out /= norm
    return out[:, :height, :width]


def predict_volume(model, images: np.ndarray, *, scale: float = 1.0, window: int = 256, overlap: float = 0.25,
                   tta: bool = False, batch_size: int = 8, chunk: int = 8, context: int = 0, progress: bool = True,
                   on_slices=None):
    """Yield ``(slice_index, probabilities (h, w) float32)`` at the original resolution, chunk by chunk.
    ``on_slices(done, total)``, where given, is called after each chunk.

    ``images`` is a uint8 volume ``(S, H, W)`` at the original resolution, or anything that slices like one
    (a lazily read :class:`mitolib.data.stacks.Stack`).  ``context`` > 0: the model is 2.5D and each slice is
    given with its ``context`` neighbours on each side as channels (read around every chunk).
    """
    model = fully_convolutional(model)
    channels = 1 if context else model.input_shape[-1]
    multiple = _pooling_factor(model)
    slices, height, width = images.shape[:3]
    bar = tqdm(total=slices, desc="predict", unit="slice", disable=not progress)
    for first in range(0, slices, chunk):
        last = min(slices, first + chunk)
        low, high = max(0, first - context), min(slices, last + context)
        block = np.asarray(images[low:high])
        if scale != 1.0:
            block = rescale(block, scale, "image")
        block = with_context(block, context)[first - low:first - low + (last - first)] if context else block
        probs = predict_slices(model, block, window=window, overlap=overlap, channels=channels,
                               tta=tta, batch_size=batch_size, multiple=multiple)
        if probs.shape[1:] != (height, width):
            probs = _resize(probs, (height, width))
        for offset, p in enumerate(probs):
            yield first + offset, p
        bar.update(last - first)
        if on_slices is not None:
            on_slices(last, slices)
    bar.close()


def _pooling_factor(model) -> int:
    pools = sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers)
    return 2**pools


def _resize(probs: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    resized = keras.ops.image.resize(probs[..., None], size, interpolation="bilinear", antialias=False)
    return np.clip(keras.ops.convert_to_numpy(resized)[..., 0], 0.0, 1.0)


def predict_probabilities(model, images: np.ndarray, *, scale: float = 1.0, window: int = 256, overlap: float = 0.25,
                          tta: bool = False, batch_size: int = 8, context: int = 0, progress: bool = True,
                          on_slices=None) -> np.ndarray:
    """Foreground probabilities float32 ``(S, H, W)`` of uint8 slices ``(S, H, W)`` at the original resolution
    (``on_slices``: see :func:`predict_volume`)."""
    probs = np.empty(images.shape[:3], dtype="float32")
    for index, p in predict_volume(model, images, scale=scale, window=window, overlap=overlap, tta=tta,
                                   batch_size=batch_size, context=context, progress=progress, on_slices=on_slices):
        probs[index] = p
    return probs


def z_median(probs: np.ndarray, size: int) -> np.ndarray:
    """The median over ``size`` neighbouring slices of a probability volume ``(S, H, W)`` (``size`` <= 1: unchanged);
    edge slices repeat the nearest slice (``scipy.ndimage.median_filter``, ``mode="nearest"``)."""
    if size <= 1:
        return probs
    if size % 2 == 0:
        raise ValueError(f"z_median must be odd (a window centred on its slice), got {size}")
    return ndimage.median_filter(probs, size=(size, 1, 1), mode="nearest")


def score_volume(probs: np.ndarray, masks: np.ndarray, threshold: float = 0.5) -> tuple[dict, pd.DataFrame]:
    """Volume foreground IoU and Dice of probabilities ``(S, H, W)`` against binary ``masks`` ``(S, H, W)``:
    ``({"test_iou", "test_dice", "tp", "fp", "fn"}, per-slice table)``, counts accumulated over every slice."""
    if probs.shape != masks.shape:
        raise ValueError(f"probabilities {probs.shape} and masks {masks.shape} differ in shape")
    rows = []
    for index, (truth, p) in enumerate(zip(masks, probs)):
        tp, fp, fn = metrics.confusion_counts(truth, p, threshold)
        rows.append({"slice": index, "iou": metrics.iou_from_counts(tp, fp, fn),
                     "dice": metrics.dice_from_counts(tp, fp, fn), "tp": tp, "fp": fp, "fn": fn})
    per_slice = pd.DataFrame(rows, columns=SLICE_COLUMNS)
    tp, fp, fn = (int(per_slice[c].sum()) for c in ("tp", "fp", "fn"))
    return {"test_iou": metrics.iou_from_counts(tp, fp, fn), "test_dice": metrics.dice_from_counts(tp, fp, fn),
            "tp": tp, "fp": fp, "fn": fn}, per_slice


def best_threshold(probs: np.ndarray, masks: np.ndarray, candidates=THRESHOLDS) -> tuple[float, float]:
    """``(threshold, IoU)``: the candidate threshold with the highest volume IoU on ``probs`` against ``masks``
    (the validation slices; never the test volume), the lowest threshold winning a tie."""
    scores = [(metrics.iou(masks, probs, t), -t) for t in candidates]
    iou, neg = max(scores)
    return -neg, iou


def postprocessing_table(probs: np.ndarray, masks: np.ndarray, thresholds: dict[int, float],
                         fixed_threshold: float = 0.5) -> pd.DataFrame:
    """Test IoU and Dice for each z-median size of ``thresholds`` (``{size: threshold chosen on validation}``),
    at ``fixed_threshold`` and at the chosen one: columns ``z_median, threshold, threshold_source, test_iou,
    test_dice``.  The test volume only scores; nothing is chosen on it."""
    rows = []
    for size, tuned in sorted(thresholds.items()):
        filtered = z_median(probs, size)
        for source, threshold in (("fixed", fixed_threshold), ("validation", tuned)):
            summary, _ = score_volume(filtered, masks, threshold)
            rows.append({"z_median": size, "threshold": threshold, "threshold_source": source,
                         "test_iou": summary["test_iou"], "test_dice": summary["test_dice"]})
    return pd.DataFrame(rows, columns=POSTPROCESSING_COLUMNS)


def evaluate_volume(model, images: np.ndarray, masks: np.ndarray, *, scale: float = 1.0, window: int = 256,
                    overlap: float = 0.25, tta: bool = False, batch_size: int = 8, threshold: float = 0.5,
                    z_median_size: int = 1, predictions_dir: str | Path | None = None, context: int = 0,
                    progress: bool = True, probs: np.ndarray | None = None,
                    objects_path: str | Path | None = None) -> tuple[dict, pd.DataFrame]:
    """Volume foreground IoU and Dice of ``model`` on uint8 ``images``/``masks`` ``(S, H, W)``.

    The probabilities (given as ``probs``, else predicted) are median-filtered over ``z_median_size``
    slices and thresholded.  Returns ``(summary, per_slice)``: ``summary`` has ``test_iou``, ``test_dice``,
    ``tp``, ``fp``, ``fn``, ``eval_seconds`` and the object-level scores of
    :func:`mitolib.model.objects.object_metrics` (3-D components, matched at IoU 0.5 and 0.75); ``per_slice``
    has one row per slice (``slice``, ``iou``, ``dice``, ``tp``, ``fp``, ``fn``).  With
    ``predictions_dir``, binary masks are written as ``test_XXX.png`` (0/255); with ``objects_path``, the table of
    :func:`mitolib.model.objects.matched_objects` as CSV.
    """
    if images.shape != masks.shape:
        raise ValueError(f"images {images.shape} and masks {masks.shape} differ in shape")
    started = time.perf_counter()
    if probs is None:
        probs = predict_probabilities(model, images, scale=scale, window=window, overlap=overlap, tta=tta,
                                      batch_size=batch_size, context=context, progress=progress)
    probs = z_median(probs, z_median_size)
    summary, per_slice = score_volume(probs, masks, threshold)
    scores, matched = objects.object_evaluation(probs >= threshold, masks)
    summary |= scores
    if objects_path is not None:  # each true object and the predicted one matched to it
        rundir.atomic_write_csv(objects_path, matched)
    if predictions_dir is not None:
        predictions_dir = Path(predictions_dir)
        predictions_dir.mkdir(parents=True, exist_ok=True)
        for index, p in enumerate(probs):
            save_mask_png(predictions_dir / f"test_{index:03d}.png", p >= threshold)
    summary["eval_seconds"] = time.perf_counter() - started
    return summary, per_slice


def _after_object_steps(mask: np.ndarray, masks: np.ndarray, metrics: dict) -> tuple[str, dict]:
    """``(step, scores)``: the object scores of the thresholded test ``mask`` after the object steps the run chose
    on its validation slices (``min_object_voxels`` and ``split_depth`` of its metrics; a run from before the split
    stops at holes filled), and the last step's name; ``("none", {})`` for a run that recorded no steps."""
    if "min_object_voxels" not in metrics:
        return objects.CLEANUP_STEPS[0], {}
    steps = objects.cleanup_masks(mask, int(metrics["min_object_voxels"]), float(metrics.get("split_depth", 0)))
    step = objects.CLEANUP_STEPS[-1] if "split_depth" in metrics else objects.CLEANUP_STEPS[2]
    return step, objects.object_metrics(steps[step], masks)


ENSEMBLE_SAME = ("data_source", "scale", "channels", "context_slices")  # what the members of an ensemble share


def _finished_run(run_dir: Path) -> tuple[dict, Path]:
    record = rundir.read_json(run_dir / rundir.PARAMS)
    model_path = run_dir / rundir.MODEL
    if not isinstance(record, dict) or not isinstance(record.get("params"), dict) or not model_path.exists():
        raise ConfigError(f"{run_dir} is not a finished run directory: it needs {rundir.PARAMS} and "
                          f"{rundir.MODEL} (train one with `mitolib train`)")
    return record, model_path


def evaluate_run(run_dir: str | Path, overrides: dict | None = None, *, out: str | Path | None = None,
                 data_root: str | Path | None = None, other_data: bool = False, progress: bool = True,
                 ensemble: Sequence[str | Path] = ()) -> dict:
    """Evaluate a finished run's saved model again on its test volume, with other evaluation settings.

    ``overrides`` may change only :data:`EVAL_PARAMS` (values are cast to the configured types);
    the model, data and scale are the run's own, from ``params.json`` and ``model.keras``; ``data_root``
    points at its data where they have moved.  Data whose identity differs from the one the run recorded
    are refused unless ``other_data``.  One row (the run id, every evaluation setting, the data identity,
    test IoU and Dice, seconds) is appended to ``out`` (default ``run_dir/evaluations.csv``, an evaluations
    table or a new file), rewritten atomically; the row is returned.  Everything is checked before the
    model loads.

    With ``ensemble`` (other finished runs on the same data, scale and input channels), the probabilities of
    this run's model and of theirs are averaged before the run's own test-time steps: its z-median and its
    threshold (chosen for its own model where it tunes one). The row's ``ensemble`` names the other members.
    The row's object scores are counted after the object steps the run chose on its validation slices
    (``object_step`` names the last; ``none`` for a run that recorded none), as the pages count a run's own.
    """
    run_dir = Path(run_dir)
    out = Path(out) if out else run_dir / EVALUATIONS
    if out.is_dir():
        raise ConfigError(f"{out}: is a folder; give --out a CSV file name")
    table = pd.read_csv(out) if out.is_file() else pd.DataFrame()
    if out.is_file() and not {"run_id", "test_iou"} <= set(table.columns):
        raise ConfigError(f"{out}: exists and is not an evaluations table (no run_id and test_iou columns); "
                          "give --out a new file or an earlier evaluations.csv")
    record, model_path = _finished_run(run_dir)
    params = recorded_params(record)  # the run's data folder where it names none
    members = []
    for other in map(Path, ensemble):
        other_record, other_model = _finished_run(other)
        other_params = recorded_params(other_record)
        for key in ENSEMBLE_SAME:
            if other_params.get(key) != params.get(key):
                raise ConfigError(f"{other.name} cannot join {run_dir.name}'s ensemble: its {key} is "
                                  f"{other_params.get(key)!r}, not {params.get(key)!r}; pick runs that share "
                                  f"{', '.join(ENSEMBLE_SAME)})")
        if str(other_record.get("data_identity") or "") != str(record.get("data_identity") or ""):
            raise ConfigError(f"{other.name} cannot join {run_dir.name}'s ensemble: it was trained on other data "
                              f"(identity {other_record.get('data_identity')}, not {record.get('data_identity')})")
        members.append((other.name, other_model))
    params["threshold"] = run_threshold(params, rundir.read_metrics(run_dir) or {})  # unless overridden below
    defaults = load_config()["defaults"]
    for key, value in (overrides or {}).items():
        if key not in EVAL_PARAMS:
            raise ConfigError(f"{key!r} is not an evaluation setting; a saved model can be evaluated again "
                              f"with other {', '.join(EVAL_PARAMS)} only (train a new run to change {key!r})")
        params[key] = cast_value(key, value, defaults[key])
    schema.validate(params)  # the schema's ranges, before the model loads or anything is predicted
    if data_root is not None:
        params["data_root"] = str(Path(data_root).resolve())
    identity, recorded = data_identity(params), str(record.get("data_identity") or "")
    if recorded and identity != recorded and not other_data:
        raise DataError(f"the data found now (identity {identity}) are not the data {run_dir.name} was trained and "
                        f"tested on ({recorded}); point --data-root at the run's data, or pass --other-data to score "
                        "these data anyway (the row records their identity)")
    images, masks = resolve_volumes(params, "test")
    model = load_saved_model(model_path)
    started, options = time.perf_counter(), options_from_params(params)
    # the mean of every member's probabilities, all predicted with this run's evaluation settings
    probs = predict_probabilities(model, images, progress=progress, **options)
    for _, other_model in members:
        probs += predict_probabilities(load_saved_model(other_model), images, progress=progress, **options)
    probs = z_median(probs / (len(members) + 1), z_median_size(params))  # filtered once: scored, then the steps
    summary, _ = evaluate_volume(model, images, masks, threshold=params["threshold"], progress=progress,
                                 probs=probs, **options)
    step, counted = _after_object_steps(probs >= params["threshold"], masks, rundir.read_metrics(run_dir) or {})
    summary["eval_seconds"] = time.perf_counter() - started  # every member's prediction included
    row = {"run_id": run_dir.name, "ensemble": "+".join(name for name, _ in members),
           **{key: params[key] for key in EVAL_PARAMS},
           "test_iou": summary["test_iou"], "test_dice": summary["test_dice"],
           **{key: counted.get(key, summary[key]) for key in objects.OBJECT_FIELDS}, "object_step": step,
           "data_identity": identity,
           "eval_seconds": summary["eval_seconds"], "git_commit": git_commit(project_root())}
    rundir.atomic_write_csv(out, pd.concat([table, pd.DataFrame([row])], ignore_index=True))
    return row
