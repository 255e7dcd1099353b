"""TensorFlow's start-up lines (oneDNN, CPU features, absl) kept off the terminal when the user has not asked
for them.

The ``mitolib`` command sets the log-level variables below unless they are set already; its training kernel
inherits them.  TensorFlow's C++ start-up lines ignore those variables, so the import itself runs with the
process's stderr pointed at /dev/null.  Set ``TF_CPP_MIN_LOG_LEVEL=0`` to see everything.
"""

from __future__ import annotations

import os
import sys

QUIET_LOGS = {"TF_CPP_MIN_LOG_LEVEL": "3", "ABSL_MIN_LOG_LEVEL": "3"}


def set_quiet_defaults() -> None:
    """Set :data:`QUIET_LOGS` where the environment does not set them (before TensorFlow is imported)."""
    for name, value in QUIET_LOGS.items():
        os.environ.setdefault(name, value)


def quiet_requested() -> bool:
    """Whether the environment asks for TensorFlow's quietest logging."""
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL") == QUIET_LOGS["TF_CPP_MIN_LOG_LEVEL"]


def import_tensorflow_quietly() -> None:
    """Import TensorFlow (through Keras) with stderr pointed at /dev/null, where :func:`quiet_requested`.
    An import error still raises, after stderr is back, so it is seen."""
    if not quiet_requested():
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import keras  # noqa: F401
            import tensorflow as tf

            tf.config.list_physical_devices()  # device discovery prints its lines now, not during the work
    finally:
        os.dup2(saved, 2)
        os.close(saved)
