"""One training-throughput measurement (runs inside a :mod:`benchmarks.worker` subprocess).

The model is ``mitolib.training.train.compile_model(params)`` (Adam, the profile's loss and metrics).  The
data are ``N`` uint8 patches ``(N, P, P)`` with masks in {0, 1}, fed either

* ``numpy`` (the original pipeline): the whole set as float64 ``(N, P, P, 3)`` images in [0, 1] and
  float64 ``(N, P, P, 1)`` masks, passed to ``model.fit(x, y, batch_size=B, shuffle=True)``; or
* ``tfdata`` (the project pipeline): ``mitolib.data.pipeline.make_dataset`` (uint8 until batching, one
  channel, the profile's augmentation, prefetch), passed to ``model.fit(dataset, steps_per_epoch=...)``; or
* ``fixed`` (no input work: the ceiling of any input pipeline): the project pipeline's first batch, held as a
  tensor and repeated, so that every step trains on the same batch and nothing is read, shuffled or augmented.

``warmup`` steps (tracing, first allocations) are run and not timed; the next ``steps`` steps are.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from benchmarks import flops, memory

PIXEL_SCALE = 255.0
BASELINE_CHANNELS = 3


class StepTimer(keras.callbacks.Callback):
    """Records the time at the end of every training step; stops training after ``total`` steps."""

    def __init__(self, total: int):
        super().__init__()
        self.total, self.ends = total, []

    def on_train_batch_end(self, batch, logs=None):
        if logs and "loss" in logs:
            float(logs["loss"])  # waits for the step's result (asynchronous devices)
        self.ends.append(time.perf_counter())
        if len(self.ends) >= self.total:
            self.model.stop_training = True


def baseline_arrays(images: np.ndarray, masks: np.ndarray):
    """The original pipeline's arrays: float64 ``(N, P, P, 3)`` images / 255 and float64 ``(N, P, P, 1)`` masks."""
    x = np.repeat(images[..., None], BASELINE_CHANNELS, axis=-1).astype(np.float64) / PIXEL_SCALE
    return x, masks[..., None].astype(np.float64)


def fit_arguments(spec: dict, images: np.ndarray, masks: np.ndarray) -> tuple[dict, int]:
    """``(keyword arguments of model.fit, bytes the training data occupy in memory)`` for ``spec``."""
    from mitolib.data.pipeline import make_dataset

    params, batch = spec["params"], spec["batch_size"]
    total = spec["warmup"] + spec["steps"]
    if spec["pipeline"] == "numpy":
        x, y = baseline_arrays(images, masks)
        epochs = math.ceil(total / math.ceil(len(x) / batch))
        return {"x": x, "y": y, "batch_size": batch, "epochs": epochs, "shuffle": True}, x.nbytes + y.nbytes
    if spec["pipeline"] == "tfdata":
        dataset = make_dataset(images, masks, batch, channels=params["channels"], shuffle=True,
                               augment=params["augmentation"], seed=params["seed"], repeat=True)
        return {"x": dataset, "epochs": 1, "steps_per_epoch": total}, images.nbytes + masks.nbytes
    if spec["pipeline"] == "fixed":
        import tensorflow as tf

        arguments, data_bytes = fit_arguments({**spec, "pipeline": "tfdata"}, images, masks)
        batch = next(iter(arguments["x"]))
        return {**arguments, "x": tf.data.Dataset.from_tensors(batch).repeat()}, data_bytes
    raise ValueError(f"unknown pipeline {spec['pipeline']!r}; use 'numpy', 'tfdata' or 'fixed'")


def measure_training(spec: dict) -> dict:
    """Train ``warmup + steps`` steps and return throughput, step times, memory and FLOP rates."""
    import tensorflow as tf

    from mitolib.core.numerics import detect_device, resolve_jit, resolve_policy
    from mitolib.training.train import compile_model, seed_everything

    params = spec["params"]
    seed_everything(params["seed"])
    keras.mixed_precision.set_global_policy(resolve_policy(params["mixed_precision"], detect_device()))
    with np.load(spec["patches"]) as data:
        images, masks = data["images"], data["masks"]

    started = time.perf_counter()
    arguments, data_bytes = fit_arguments(spec, images, masks)
    data_seconds = time.perf_counter() - started
    model = compile_model(params)
    total = spec["warmup"] + spec["steps"]
    timer = StepTimer(total)
    fit_started = time.perf_counter()
    model.fit(**arguments, callbacks=[timer], verbose=0)
    if len(timer.ends) < total:
        raise RuntimeError(f"training stopped after {len(timer.ends)} of {total} steps")

    ends = timer.ends[:total]
    elapsed = ends[-1] - ends[spec["warmup"] - 1]
    images_per_second = spec["steps"] * spec["batch_size"] / elapsed
    forward = flops.forward_flops(model)
    training = flops.TRAINING_FACTOR * forward
    return {
        "images_per_second": images_per_second,
        "pixels_per_second": images_per_second * params["patch_size"] ** 2,
        "timed_seconds": elapsed,
        "step_seconds": [float(s) for s in np.diff(ends[spec["warmup"] - 1:])],
        "first_step_seconds": ends[0] - fit_started,
        "data_seconds": data_seconds,
        "data_bytes": int(data_bytes),
        "peak_rss_bytes": memory.peak_rss_bytes(),
        "peak_gpu_bytes": memory.peak_gpu_bytes(),
        "parameters": int(model.count_params()),
        "forward_flops_per_image": forward,
        "training_flops_per_image": training,
        "achieved_flops_per_second": training * images_per_second,
        "policy": keras.mixed_precision.global_policy().name,
        "batch_norm_kernel": params["batch_norm_kernel"],
        "jit_compile": resolve_jit(params["jit_compile"], detect_device(), params["mixed_precision"] or "float32"),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    }
