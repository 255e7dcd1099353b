"""Where a result came from: git commit, library versions, host, data fingerprint."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

LIBRARIES = ("mitolib", "tensorflow", "tensorflow-cpu", "jax", "jaxlib", "keras", "numpy", "pandas", "papermill",
             "jupytext")


def git_commit(root: str | Path | None = None) -> str:
    """The checked-out commit (with ``+dirty`` when the tree has changes), or ``unknown``."""
    try:
        cwd = str(root) if root else None
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape a result."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def array_fingerprint(*arrays: np.ndarray) -> str:
    """SHA-256 (first 16 hex digits) over the shapes, dtypes and bytes of the arrays."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def environment() -> dict:
    """Host, platform, Python, Keras backend, versions and the current UTC time."""
    import keras

    return {
        "host": platform.node(),
        "keras_backend": keras.backend.backend(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": library_versions(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
