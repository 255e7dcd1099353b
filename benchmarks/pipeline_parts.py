"""Which part of the project pipeline costs what at the ``cpu`` width: a quick diagnostic, not the benchmark.

``python -m benchmarks.pipeline_parts > benchmarks/results/pipeline-parts.jsonl`` trains the ``cpu``-profile
unet (XLA off) for 2 + 20 steps of batch 8 on 256 EPFL patches (``$MITOLIB_DATA``) in one process, in two
rounds (the second in reverse order): the original pipeline (float64 NumPy, 3 channels, no augmentation) and
the project pipeline with and without augmentation, with 1 and 3 channels.  One JSON line per measurement.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.training import measure_training
from mitolib.config import resolve_params
from mitolib.data import resolve_volumes
from mitolib.patches import training_arrays

PATCHES, BATCH, WARMUP, STEPS = 256, 8, 2, 20
CONFIGS = [("numpy", 3, False), ("tfdata", 1, True), ("tfdata", 1, False), ("tfdata", 3, False)]


def main() -> None:
    params = resolve_params("cpu") | {"jit_compile": False}
    images, masks = training_arrays(*resolve_volumes(params, "train"), params)["train"]
    with tempfile.TemporaryDirectory() as folder:
        patches = Path(folder) / "patches.npz"
        np.savez(patches, images=images[:PATCHES], masks=masks[:PATCHES])
        for round_ in range(2):
            for pipeline, channels, augmentation in (CONFIGS if round_ == 0 else CONFIGS[::-1]):
                spec = {"params": params | {"channels": channels, "augmentation": augmentation}, "batch_size": BATCH,
                        "warmup": WARMUP, "steps": STEPS, "pipeline": pipeline, "patches": str(patches)}
                result = measure_training(spec)
                print(json.dumps({"round": round_, "pipeline": pipeline, "channels": channels,
                                  "augmentation": augmentation,
                                  "images_per_second": round(result["images_per_second"], 2)}), flush=True)


if __name__ == "__main__":
    main()
