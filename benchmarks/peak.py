"""The machine's attainable FLOP/s: a large square matrix product, timed.

``C = A @ B`` for ``n x n`` matrices costs ``2 n^3`` FLOPs.  On a GPU several products are chained
in one call (``C = (A @ B) @ B ...``) so that kernel-launch overhead does not count; the result is
reduced to one number and read back, which waits for the device to finish.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

FLOPS_PER_MAC = 2
WARMUP_CALLS = 1


def matmul_peak(size: int, dtype: str = "float32", *, repeats: int = 5, chain: int = 1, seed: int = 0) -> dict:
    """Best and median FLOP/s of ``chain`` chained ``size x size`` products of ``dtype`` (TensorFlow).

    Returns ``{"dtype", "size", "chain", "repeats", "device", "best_seconds", "flops_per_second",
    "median_flops_per_second"}``; ``flops_per_second`` is the best of ``repeats`` timed calls.
    """
    import tensorflow as tf

    generator = tf.random.Generator.from_seed(seed)
    a = tf.cast(generator.normal((size, size)), dtype)
    b = tf.cast(generator.normal((size, size)) / np.sqrt(size), dtype)  # keeps chained products finite

    @tf.function
    def products(a, b):
        c = a
        for _ in range(chain):
            c = tf.matmul(c, b)
        return tf.reduce_sum(tf.cast(c, tf.float32))

    for _ in range(WARMUP_CALLS):
        products(a, b).numpy()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        products(a, b).numpy()
        seconds.append(time.perf_counter() - started)
    work = FLOPS_PER_MAC * chain * float(size) ** 3
    return {"dtype": dtype, "size": size, "chain": chain, "repeats": repeats, "device": a.device,
            "best_seconds": min(seconds), "flops_per_second": work / min(seconds),
            "median_flops_per_second": work / statistics.median(seconds)}
