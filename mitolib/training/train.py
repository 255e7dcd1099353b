"""Training one run: from flat parameters to a complete run directory.

``train(params)`` builds the data, the model and the callbacks, trains, keeps
the best checkpoint by the monitored validation metric, evaluates it on the
whole test volume and writes the run directory of ARCHITECTURE.md.  Every epoch
logs, for train and validation, the loss, the legacy soft Jaccard, the
per-batch thresholded Jaccard and the dataset-level IoU side by side.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import traceback
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

# Imported here, not inside the functions: a training that runs for many minutes then evaluates with the
# modules it started with, even if the code on disk changes meanwhile.
from mitolib.training import evaluate
from mitolib.model import metrics, objects
from mitolib.core import numerics, rundir, schema
from mitolib.core.locations import project_root, runs_root
from mitolib.core.errors import DataError
from mitolib.data.volumes import (data_identity, describe_training_data, foreground_problem, resolve_root,
                                  resolve_volumes)
from mitolib.model.architectures import build_model
from mitolib.data.patches import first_slices, split_official, training_arrays
from mitolib.data.pipeline import make_dataset
from mitolib.core.provenance import array_fingerprint, environment, git_commit

MONITORS = schema.MONITORS
CHECKPOINT = "checkpoint.keras"
HISTORY_COLUMNS = ["epoch", "loss", "val_loss", "soft_jaccard", "val_soft_jaccard", "thresholded_jaccard",
                   "val_thresholded_jaccard", "iou", "val_iou", "original_jaccard", "val_original_jaccard",
                   "accuracy", "val_accuracy", "learning_rate", "epoch_seconds"]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and TensorFlow's random generators."""
    keras.utils.set_random_seed(int(seed))


def default_run_dir(params: dict) -> Path:
    """``<runs root>/<profile>/adhoc/<architecture>-<hash of the parameters and the data identity>`` (runs root:
    ``$MITOLIB_RUNS`` or ``runs/``): the same parameters on other data get another folder."""
    identity = {"params": params, "data_identity": data_identity(params)}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    return runs_root() / (params.get("profile") or "default") / "adhoc" / f"{params['architecture']}-{digest}"


class EpochLog(keras.callbacks.Callback):
    """Writes ``history.csv`` atomically after every epoch and shows an epoch progress bar."""

    def __init__(self, path: Path, epochs: int, progress: bool = True):
        super().__init__()
        self.path, self.rows = path, []
        self.bar = tqdm(total=epochs, desc="train", unit="epoch", disable=not progress)

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        row = {key: logs.get(key, math.nan) for key in HISTORY_COLUMNS}
        row.update(epoch=epoch + 1, epoch_seconds=time.perf_counter() - self.started,
                   learning_rate=float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        self.rows.append(row)
        rundir.atomic_write_csv(self.path, pd.DataFrame(self.rows, columns=HISTORY_COLUMNS))
        self.bar.set_postfix(loss=f"{row['loss']:.4f}", val_iou=f"{row['val_iou']:.4f}")
        self.bar.update(1)

    def on_train_end(self, logs=None):
        self.bar.close()


def make_callbacks(params: dict, run_dir: Path, progress: bool) -> list:
    """Checkpoint, early stopping and learning-rate schedule on ``val_<monitor>``, NaN guard, log."""
    monitor = f"val_{params['monitor']}"
    # With a moving average of the weights, validation, checkpoints and the test all see the averaged
    # weights: the swap comes before every callback that reads them.
    averaged = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if params["ema_momentum"] > 0 else []
    callbacks = [
        *averaged,
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.ModelCheckpoint(run_dir / CHECKPOINT, monitor=monitor, mode="max", save_best_only=True),
        EpochLog(run_dir / rundir.HISTORY, params["epochs"], progress),
    ]
    if params["select_by_all_monitors"]:  # the same training, the best checkpoint of every other monitor too
        callbacks += [keras.callbacks.ModelCheckpoint(run_dir / monitor_checkpoint(other), monitor=f"val_{other}",
                                                      mode="max", save_best_only=True)
                      for other in schema.SELECTION_MONITORS if other != params["monitor"]]
    if params["early_stopping_patience"] > 0:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode="max",
                                                       patience=params["early_stopping_patience"]))
    if params["lr_schedule"] == "plateau" and params["reduce_lr_patience"] > 0:
        on_loss = params["reduce_lr_monitor"] == "loss"  # the original's plateau watched the validation loss
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss" if on_loss else monitor, mode="min" if on_loss else "max",
            factor=params["reduce_lr_factor"],
            patience=params["reduce_lr_patience"], min_lr=params["min_learning_rate"]))
    return callbacks




def monitor_checkpoint(monitor: str) -> str:
    """File name of the best checkpoint by ``monitor`` kept beside the run's own (``select_by_all_monitors``)."""
    return f"checkpoint.{monitor}.keras"


def learning_rate(params: dict, steps_per_epoch: int):
    """Adam's learning rate: a float (``plateau``, ``constant``) or, for ``cosine``, a linear warm-up from
    ``min_learning_rate`` to ``learning_rate`` over ``warmup_epochs`` and a cosine decay to
    ``min_learning_rate`` over the remaining steps of the run (Keras' ``CosineDecay``)."""
    if params["lr_schedule"] == "cosine":
        total = max(1, params["epochs"] * steps_per_epoch)
        warmup = min(total - 1, max(0, round(params["warmup_epochs"] * steps_per_epoch)))
        floor = params["min_learning_rate"]
        if not warmup:
            return keras.optimizers.schedules.CosineDecay(
                params["learning_rate"], decay_steps=total, alpha=floor / params["learning_rate"])
        return keras.optimizers.schedules.CosineDecay(
            floor, decay_steps=total - warmup, alpha=floor / params["learning_rate"],
            warmup_target=params["learning_rate"], warmup_steps=warmup)
    return params["learning_rate"]


def fused_batch_norm(params: dict) -> bool:
    """Whether the model of ``params`` uses the fused batch-norm kernel: ``params["batch_norm_kernel"]`` where
    given (``fused`` or ``keras``, as resolved numerics carry it), else the backend's
    (:func:`mitolib.core.numerics.batch_norm_kernel`)."""
    kernel = params.get("batch_norm_kernel") or numerics.batch_norm_kernel()
    if kernel not in numerics.BATCH_NORM_KERNELS:
        raise ValueError(f"batch_norm_kernel {kernel!r} is not one of {', '.join(numerics.BATCH_NORM_KERNELS)}: "
                         f"write {numerics.FUSED!r} (TensorFlow's fused kernel) or {numerics.KERAS!r} (Keras 3's "
                         "composite ops), or leave it out for the backend's choice")
    return kernel == numerics.FUSED


def model_from_params(params: dict, input_shape: tuple | None = None) -> keras.Model:
    """The uncompiled architecture of ``params`` (its width, depth, batch-norm settings and kernel of
    :func:`fused_batch_norm`) for ``input_shape``, by default the training patch with the run's channels."""
    if input_shape is None:
        input_shape = (params["patch_size"], params["patch_size"], schema.input_channels(params))
    return build_model(params["architecture"], input_shape=input_shape, base_filters=params["base_filters"],
                       depth=params["depth"], batch_norm=params["batch_norm"], dropout=params["dropout"],
                       head_batch_norm=params["head_batch_norm"], bn_momentum=params["bn_momentum"],
                       fused_batch_norm=fused_batch_norm(params))


def compile_model(params: dict, steps_per_epoch: int = 1) -> keras.Model:
    """The architecture of ``params`` (:func:`model_from_params`), compiled with Adam (keeping a moving average
    of the weights where ``ema_momentum`` > 0), the loss and the three metric variants."""
    model = model_from_params(params)
    averaged = {"use_ema": True, "ema_momentum": params["ema_momentum"]} if params["ema_momentum"] > 0 else {}
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate(params, steps_per_epoch), **averaged)
    model.compile(optimizer=optimizer,
                  loss=metrics.make_loss(params["loss"], params["gamma"]),
                  metrics=metrics.training_metrics(params["threshold"]),
                  jit_compile=numerics.resolve_numerics(params)["jit_compile"])
    return model


def _best_epoch(history: pd.DataFrame, monitor: str) -> tuple[int, float, float]:
    column = f"val_{monitor}"
    valid = history.dropna(subset=[column])
    if valid.empty:
        return 0, math.nan, math.nan
    best = valid.loc[valid[column].idxmax()]
    return int(best["epoch"]), float(best["val_iou"]), float(best[column])


def train(params: dict, run_dir: str | Path | None = None, *, finalize: bool = True, progress: bool = True) -> Path:
    """Train and evaluate one run; return its run directory.

    ``params`` is the flat dict of :func:`mitolib.core.config.resolve_params`.  With
    ``finalize=False`` the metrics are written as ``metrics.pending.json`` (the
    notebook runner renames it after saving the executed notebook).  On failure
    the metrics record ``status: failed`` with the error and traceback, the
    partial history is kept, and the exception is raised again.
    """

    run_dir = Path(run_dir or params.get("out_dir") or default_run_dir(params))
    if rundir.is_complete(run_dir):
        raise FileExistsError(f"{run_dir} holds a finished run; a finished run is never overwritten: remove or move "
                              "it, or give another out_dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics_name = rundir.METRICS if finalize else rundir.PENDING_METRICS
    (run_dir / rundir.METRICS).unlink(missing_ok=True)
    result = {"status": "running"}
    try:
        schema.validate(params)
        device = numerics.detect_device()
        if params["require_gpu"] and device.kind != "gpu":
            raise RuntimeError(f"profile {params.get('profile') or '(none)'!r} is sized for a GPU and this machine has "
                               f"none ({device.describe()}); run it on a GPU node, or pass -p require_gpu false to "
                               "train it on the CPU anyway (hours to days)")
        seed_everything(params["seed"])
        resolved = numerics.resolve_numerics(params, device)
        keras.mixed_precision.set_global_policy(resolved["mixed_precision"])
        result.update(resolved_mixed_precision=resolved["mixed_precision"], resolved_jit_compile=resolved["jit_compile"],
                      resolved_batch_norm_kernel=resolved["batch_norm_kernel"], device=resolved["device"])
        # Read once and passed down: training, validation-slice thresholds and the test evaluation all use them.
        train_volume = resolve_volumes(params, "train")
        test_volume = resolve_volumes(params, "test") if params["evaluate_test"] else None
        for split, volume in (("train", train_volume), ("test", test_volume)):
            problem = volume is not None and foreground_problem(float(volume[1].mean()), f"the {split} masks")
            if problem and not params["allow_implausible_masks"]:  # the rule `mitolib data check` reports
                raise DataError(f"{problem}; training stops here (pass -p allow_implausible_masks true for a "
                                "deliberate experiment)")
        record = {"params": params, "resolved": resolved, "data_fingerprint": array_fingerprint(*train_volume),
                  "data_description": describe_training_data(params, *train_volume),
                  # the folder the data came from, for evaluate and export outside this shell
                  "data_root_resolved": str(resolve_root(params).resolve()) if params["data_source"] == "epfl" else "",
                  "data_identity": data_identity(params),  # reads the test split too: a broken one fails now
                  "git_commit": git_commit(project_root()), **environment()}
        rundir.atomic_write_json(run_dir / rundir.PARAMS, record)

        arrays = training_arrays(*train_volume, params)
        (x_train, y_train), (x_val, y_val) = arrays["train"], arrays["val"]
        steps = schema.steps_per_epoch(params, len(x_train))
        common = {"channels": params["channels"], "seed": params["seed"]}
        if params["sample_order"] == "fixed":  # one seeded order, kept every epoch (fit(..., shuffle=False))
            order = np.random.default_rng(params["seed"]).permutation(len(x_train))
            x_train, y_train = x_train[order], y_train[order]
        train_ds = make_dataset(x_train, y_train, params["batch_size"], shuffle=params["sample_order"] == "shuffled",
                                augment=params["augmentation"], repeat=True, **common)
        val_ds = make_dataset(x_val, y_val, params["batch_size"], **common)

        model = compile_model({**params, **resolved}, steps)
        started = time.perf_counter()
        model.fit(train_ds, validation_data=val_ds, epochs=params["epochs"], steps_per_epoch=steps,
                  callbacks=make_callbacks(params, run_dir, progress), shuffle=False, verbose=0)
        train_seconds = time.perf_counter() - started
        history = pd.read_csv(run_dir / rundir.HISTORY)
        best_epoch, best_val_iou, best_val_monitor = _best_epoch(history, params["monitor"])
        result |= {"best_epoch": best_epoch, "best_val_iou": best_val_iou, "best_val_monitor": best_val_monitor,
                  "monitor": params["monitor"], "epochs_run": len(history), "train_seconds": train_seconds,
                  "images_per_second": len(history) * steps * params["batch_size"] / train_seconds,
                  "train_patches": len(x_train), "val_patches": len(x_val),
                  "train_foreground": float(np.mean(y_train)), "val_foreground": float(np.mean(y_val)),
                  "optimizer_steps": len(history) * steps, "samples_seen": len(history) * steps * params["batch_size"],
                  "still_improving": best_epoch == len(history)}
        checkpoint = run_dir / CHECKPOINT
        if not checkpoint.exists():
            raise RuntimeError(f"no checkpoint was saved: {result['monitor']} was never finite on validation")
        best = keras.models.load_model(checkpoint)
        os.replace(checkpoint, run_dir / rundir.MODEL)

        if params["evaluate_test"]:
            result.update(evaluate_test(best, params, run_dir, train_volume, test_volume, progress))
        if params["select_by_all_monitors"]:
            rows = [{"monitor": params["monitor"], "best_epoch": best_epoch, "best_val_monitor": best_val_monitor,
                     "best_val_iou": best_val_iou, "test_iou": result.get("test_iou", math.nan),
                     "test_dice": result.get("test_dice", math.nan)}]
            rows += [select_checkpoint(params, run_dir, history, other, test_volume, progress)
                     for other in schema.SELECTION_MONITORS if other != params["monitor"]]
            rundir.atomic_write_csv(run_dir / rundir.SELECTION, pd.DataFrame(rows))
        result["status"] = rundir.STATUS_DONE
        return run_dir
    except BaseException as error:  # noqa: BLE001 - recorded, then raised again
        result.update(status=rundir.STATUS_FAILED, error=f"{type(error).__name__}: {error}",
                      traceback=traceback.format_exc())
        raise
    finally:
        rundir.atomic_write_json(run_dir / metrics_name, result)


def validation_slices(params: dict, train_volume) -> tuple[np.ndarray, np.ndarray] | None:
    """The validation block of ``train_volume`` (the run's uint8 ``(S, H, W)`` images and masks, of which it
    trains on the first ``train_slices``) at full resolution under the ``official`` split; ``None`` under
    ``random_patches``, whose validation patches are not slices."""

    if params["split"] != "official":
        return None
    images, masks = first_slices(*train_volume, int(params.get("train_slices", 0) or 0))
    return split_official(images, masks, params["val_fraction"])[1]


def evaluate_test(model, params: dict, run_dir: Path, train_volume, test_volume, progress: bool = True) -> dict:
    """Test-volume IoU and Dice of ``model`` with the run's evaluation settings, and the post-processing table.

    The threshold for each z-median size of ``evaluate.Z_MEDIAN_SIZES`` is chosen on the validation slices
    (never on the test volume); ``postprocessing.csv`` scores each size at ``threshold`` and at the chosen
    one, from one prediction of the test volume.  The run's own result uses ``z_median`` and, with
    ``tune_threshold``, the threshold chosen for it.  Writes ``test_slices.csv`` (and the test masks with
    ``save_predictions``); returns the fields for ``metrics.json``.
    """

    options = evaluate.options_from_params(params)
    started = time.perf_counter()
    chosen, val_mask = {}, None
    validation = validation_slices(params, train_volume)
    if validation is not None:
        val_probs = evaluate.predict_probabilities(model, validation[0], progress=False, **options)
        sizes = sorted({*evaluate.Z_MEDIAN_SIZES, evaluate.z_median_size(params)})
        chosen = {size: evaluate.best_threshold(evaluate.z_median(val_probs, size), validation[1])[0]
                  for size in sizes}
        own = evaluate.z_median_size(params)
        val_threshold = chosen[own] if params["tune_threshold"] else params["threshold"]
        val_mask = evaluate.z_median(val_probs, own) >= val_threshold  # the run's own rule, for object steps
        del val_probs
    test_images, test_masks = test_volume
    probs = evaluate.predict_probabilities(model, test_images, progress=progress, **options,
                                           on_slices=lambda done, total: rundir.write_progress(run_dir, done, total))
    (run_dir / rundir.EVALUATION_PROGRESS).unlink(missing_ok=True)  # every slice predicted
    if chosen:
        table = evaluate.postprocessing_table(probs, test_masks, chosen, params["threshold"])
        rundir.atomic_write_csv(run_dir / rundir.POSTPROCESSING, table)
    size = evaluate.z_median_size(params)
    threshold = chosen.get(size, params["threshold"]) if params["tune_threshold"] else params["threshold"]
    probs = evaluate.z_median(probs, size)  # filtered once: scored here and by the object steps below
    summary, per_slice = evaluate.evaluate_volume(
        model, test_images, test_masks, probs=probs, threshold=threshold,
        predictions_dir=run_dir / "predictions" if params["save_predictions"] else None,
        objects_path=run_dir / rundir.TEST_OBJECTS)
    rundir.atomic_write_csv(run_dir / rundir.TEST_SLICES, per_slice)
    if val_mask is not None:  # object-level steps, their parameter chosen on the validation slices
        min_voxels = objects.choose_min_voxels(val_mask, validation[1])
        filled = objects.fill_holes(objects.remove_small(val_mask, min_voxels))
        split_depth = objects.choose_by_object_f1(objects.split_touching, filled, validation[1], objects.SPLIT_DEPTHS)
        steps = objects.cleanup_masks(probs >= threshold, min_voxels, split_depth)
        rows = []
        for step, mask in steps.items():
            scored, _ = evaluate.score_volume(mask.astype(np.float32), test_masks, 0.5)
            rows.append({"step": step, **objects.parameters_at(step, {"min_voxels": min_voxels,
                                                                       "split_depth": split_depth}),
                         "test_iou": scored["test_iou"], "test_dice": scored["test_dice"],
                         **objects.object_metrics(mask, test_masks)})
        rundir.atomic_write_csv(run_dir / rundir.OBJECT_CLEANUP, pd.DataFrame(rows, columns=objects.CLEANUP_COLUMNS))
        summary["min_object_voxels"] = min_voxels
        summary["split_depth"] = split_depth
    summary["eval_seconds"] = time.perf_counter() - started
    return {**summary, "threshold_used": threshold, "val_threshold": chosen.get(size, math.nan)}


def select_checkpoint(params: dict, run_dir: Path, history: pd.DataFrame, monitor: str, test_volume,
                      progress: bool) -> dict:
    """The best checkpoint by another ``monitor`` of the same training, scored on the test volume with the run's
    settings (no post-processing table, no masks), then deleted: one row of ``selection.csv``."""

    epoch, val_iou, val_monitor = _best_epoch(history, monitor)
    row = {"monitor": monitor, "best_epoch": epoch, "best_val_monitor": val_monitor, "best_val_iou": val_iou,
           "test_iou": math.nan, "test_dice": math.nan}
    path = run_dir / monitor_checkpoint(monitor)
    if params["evaluate_test"] and path.exists():
        model = keras.models.load_model(path)
        images, masks = test_volume
        summary, _ = evaluate.evaluate_volume(
            model, images, masks, threshold=params["threshold"], z_median_size=evaluate.z_median_size(params),
            progress=progress, **evaluate.options_from_params(params))
        row.update(test_iou=summary["test_iou"], test_dice=summary["test_dice"])
    path.unlink(missing_ok=True)
    return row
