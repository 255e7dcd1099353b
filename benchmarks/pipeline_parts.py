"""Which part of the project pipeline costs what at the ``cpu`` width: a quick diagnostic, not the benchmark.

``python -m benchmarks.pipeline_parts > benchmarks/results/pipeline-parts.jsonl`` trains the ``cpu``-profile
unet (XLA off) for 2 + 20 steps of batch 8 on 256 EPFL patches (``$MITOLIB_DATA``) in one process, in two
rounds (the second in reverse order): the original pipeline (float64 NumPy, 3 channels, no augmentation) and
the project pipeline with and without augmentation, with 1 and 3 channels.  One JSON line per measurement.

It first measures what the project pipeline alone costs: the CPU time (``time.process_time``, so other work on
the machine inflates it little) to serve one batch, with and without augmentation, with no model, over
``SERVED`` batches.  ``--serving-only`` stops there, which is what can be measured on a busy machine; set beside
a training step's time (the benchmark's images/s), it says what share of a step feeding the model takes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import describe, load_average
from benchmarks.training import measure_training
from mitolib.core.config import resolve_params
from mitolib.data.volumes import resolve_volumes
from mitolib.data.patches import training_arrays
from mitolib.data.pipeline import make_dataset

PATCHES, BATCH, WARMUP, STEPS = 256, 8, 2, 20
CONFIGS = [("numpy", 3, False), ("tfdata", 1, True), ("tfdata", 1, False), ("tfdata", 3, False)]
SERVED, SERVING_ROUNDS = 400, 3


def serving_cost(images, masks, params: dict) -> list[dict]:
    """CPU milliseconds per batch of ``BATCH`` that ``make_dataset`` takes to serve, with and without
    augmentation, in ``SERVING_ROUNDS`` interleaved rounds of ``SERVED`` batches (after one untimed batch)."""
    rows = []
    for round_ in range(SERVING_ROUNDS):
        for augmentation in ((True, False) if round_ % 2 == 0 else (False, True)):
            batches = iter(make_dataset(images, masks, BATCH, shuffle=True, augment=augmentation,
                                        seed=params["seed"], repeat=True))
            next(batches)
            started = time.process_time()
            for _ in range(SERVED):
                next(batches)
            rows.append({"kind": "serving", "round": round_, "augmentation": augmentation, "batch": BATCH,
                         "patch": int(images.shape[1]),
                         "cpu_ms_per_batch": round((time.process_time() - started) / SERVED * 1e3, 3)})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serving-only", action="store_true",
                        help="measure only what serving batches costs (no training): valid on a busy machine")
    args = parser.parse_args(argv)
    params = resolve_params("cpu") | {"jit_compile": False}
    images, masks = training_arrays(*resolve_volumes(params, "train"), params)["train"]
    print(json.dumps({"kind": "machine", **describe(), "load_average": load_average()}), flush=True)
    for row in serving_cost(images[:PATCHES], masks[:PATCHES], params):
        print(json.dumps(row), flush=True)
    if args.serving_only:
        return
    with tempfile.TemporaryDirectory() as folder:
        patches = Path(folder) / "patches.npz"
        np.savez(patches, images=images[:PATCHES], masks=masks[:PATCHES])
        for round_ in range(2):
            for pipeline, channels, augmentation in (CONFIGS if round_ == 0 else CONFIGS[::-1]):
                spec = {"params": params | {"channels": channels, "augmentation": augmentation}, "batch_size": BATCH,
                        "warmup": WARMUP, "steps": STEPS, "pipeline": pipeline, "patches": str(patches)}
                result = measure_training(spec)
                print(json.dumps({"kind": "training", "round": round_, "pipeline": pipeline, "channels": channels,
                                  "augmentation": augmentation,
                                  "images_per_second": round(result["images_per_second"], 2)}), flush=True)


if __name__ == "__main__":
    main()
