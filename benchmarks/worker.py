"""Run one benchmark task in this (fresh) process: ``python -m benchmarks.worker SPEC.json RESULT.json``.

Thread counts are applied before TensorFlow runs anything, and GPUs get on-demand memory
growth, so each task sees only its own settings.  The result file holds the task's measurements
and ``"ok": true``, or ``"ok": false`` with the error and traceback (exit status 1).

Task kinds: ``probe`` (devices, versions, FLOP counts), ``peak`` (matrix-product FLOP/s),
``train`` (:mod:`benchmarks.training`), ``eval`` (:mod:`benchmarks.evaluation`).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

LOG_LEVEL = "2"  # TensorFlow C++ logging: warnings and errors only


def configure(spec: dict) -> None:
    """Thread counts (``spec["threads"] = [intra, inter]``) and GPU memory growth, before any TensorFlow op."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", LOG_LEVEL)
    import tensorflow as tf

    threads = spec.get("threads")
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads[0]))
        tf.config.threading.set_inter_op_parallelism_threads(int(threads[1]))
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)


def probe(spec: dict) -> dict:
    """Devices, TensorFlow build facts and the FLOPs of every model in ``spec["models"]``.

    ``spec["models"]`` lists ``[architecture, width, base_filters, channels]``; ``spec["params"]`` is
    the profile's parameters (depth, batch norm, patch size ...).
    """
    import keras
    import tensorflow as tf

    from benchmarks import flops
    from mitolib.training.train import model_from_params

    gpus = tf.config.list_physical_devices("GPU")
    details = [tf.config.experimental.get_device_details(gpu) for gpu in gpus]
    params = spec["params"]
    side = params["patch_size"]
    rows = []
    for architecture, width, base_filters, channels in spec["models"]:
        model = model_from_params({**params, "architecture": architecture, "base_filters": base_filters},
                                  input_shape=(side, side, channels))
        forward = flops.forward_flops(model)
        rows.append({"architecture": architecture, "width": width, "base_filters": base_filters,
                     "channels": channels, "patch_size": side, "parameters": int(model.count_params()),
                     "forward_flops_per_image": forward, "training_flops_per_image": flops.TRAINING_FACTOR * forward,
                     "profiler_forward_flops_per_image": flops.profiler_forward_flops(model) if spec["profiler"]
                     else None})
        keras.backend.clear_session()
    return {
        "gpus": [{"name": d.get("device_name", gpu.name), "compute_capability": d.get("compute_capability")}
                 for gpu, d in zip(gpus, details)],
        "tensorflow": tf.__version__, "keras": keras.__version__,
        "built_with_cuda": tf.test.is_built_with_cuda(),
        "tensor_float_32": tf.config.experimental.tensor_float_32_execution_enabled(),
        "default_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "default_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "flops": rows,
    }


def run_task(spec: dict) -> dict:
    """Configure this process for ``spec`` and run it; the measurements as a dict."""
    configure(spec)
    kind = spec["kind"]
    if kind == "probe":
        return probe(spec)
    if kind == "peak":
        from benchmarks.peak import matmul_peak

        return matmul_peak(spec["size"], spec["dtype"], repeats=spec["repeats"], chain=spec["chain"])
    if kind == "train":
        from benchmarks.training import measure_training

        return measure_training(spec)
    if kind == "eval":
        from benchmarks.evaluation import measure_evaluation

        return measure_evaluation(spec)
    raise ValueError(f"unknown task kind {kind!r}")


def main(argv: list[str] | None = None) -> int:
    """Read the spec, run it, write the result; 0 on success, 1 on failure (recorded in the result)."""
    spec_path, result_path = (Path(arg) for arg in (argv if argv is not None else sys.argv[1:]))
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    try:
        result, status = {"ok": True, **run_task(spec)}, 0
    except Exception as error:  # noqa: BLE001 - reported to the parent, which carries on
        result = {"ok": False, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        status = 1
    result_path.write_text(json.dumps(result, default=float), encoding="utf-8")
    return status


if __name__ == "__main__":
    sys.exit(main())
