"""One full-volume evaluation measurement (runs inside a :mod:`benchmarks.worker` subprocess).

The model is an untrained ``unet`` of the ``cpu`` profile (timing does not depend on the weights),
built fully convolutional (input ``(None, None, 1)``) so that ``evaluate_volume`` uses it as is.
One slice is evaluated first to trace every window shape (untimed); then the whole volume is,
with ``mitolib.training.evaluate.evaluate_volume`` at the profile's scale, window, overlap and batch size.
"""

from __future__ import annotations

import numpy as np

from benchmarks import memory

WARMUP_SLICES = 1
EPFL_VOLUME = "epfl"  # ``volume`` value meaning: the EPFL test volume from $MITOLIB_DATA


def load_volume(volume: str):
    """uint8 ``(S, H, W)`` images and masks: the EPFL test volume, or the arrays saved at path ``volume``."""
    if volume == EPFL_VOLUME:
        from mitolib.data.volumes import resolve_volumes

        return resolve_volumes({"data_source": "epfl", "data_root": ""}, "test")
    with np.load(volume) as data:
        return data["images"], data["masks"]


def measure_evaluation(spec: dict) -> dict:
    """Seconds and slices per second of ``evaluate_volume`` on the volume of ``spec``."""
    from mitolib.training.evaluate import evaluate_volume
    from mitolib.training.train import model_from_params, seed_everything

    params = spec["params"]
    seed_everything(params["seed"])
    model = model_from_params(params, input_shape=(None, None, params["channels"]))
    images, masks = load_volume(spec["volume"])
    options = {"scale": spec["scale"], "window": spec["window"], "overlap": spec["overlap"], "tta": spec["tta"],
               "batch_size": spec["batch_size"], "threshold": params["threshold"], "progress": False}
    evaluate_volume(model, images[:WARMUP_SLICES], masks[:WARMUP_SLICES], **options)
    summary, _ = evaluate_volume(model, images, masks, **options)
    seconds = summary["eval_seconds"]
    return {"seconds": seconds, "slices": int(images.shape[0]), "slices_per_second": images.shape[0] / seconds,
            "volume_shape": list(images.shape), "peak_rss_bytes": memory.peak_rss_bytes(),
            "peak_gpu_bytes": memory.peak_gpu_bytes(), "parameters": int(model.count_params())}
