"""Peak memory of the current process: RSS from ``resource.getrusage`` and, on a GPU, TensorFlow's peak.

``ru_maxrss`` is the largest resident set size the process has had since it started; each
configuration runs in its own fresh subprocess, so it is that configuration's peak (the
interpreter, TensorFlow, the data and the model included).
"""

from __future__ import annotations

import resource
import sys

KIB = 1024


def peak_rss_bytes() -> int:
    """Peak resident set size of this process in bytes (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * KIB


def peak_gpu_bytes() -> int | None:
    """TensorFlow's peak allocated memory on the first GPU in bytes, or ``None`` without a GPU."""
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
