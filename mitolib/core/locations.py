"""Where things are on disk, and the environment variables that move them: the one home of both.

=====================  ==========================  ==================================================
variable               what it sets                default
=====================  ==========================  ==================================================
``MITOLIB_CONFIG``     the ``studies.yml`` in use  ``studies.yml`` in the project root
``MITOLIB_DATA``       the EPFL data folder        ``../shared/data/epfl_mito`` beside the project where it
                                                   exists, else the verified download cache
                                                   (``mitolib data fetch``)
``MITOLIB_CACHE``      the download cache          ``<project root>/data/cache``
``MITOLIB_RUNS``       the run folders' root       ``<project root>/runs``
``MITOLIB_RESULTS``    the collected results root  ``<project root>/results``
``MITOLIB_PROFILE``    every command's profile     ``cpu`` (``studies.yml``)
``MITOLIB_BOOK_PROFILE`` the profile the book shows ``cpu``
=====================  ==========================  ==================================================

The project root is the folder of ``$MITOLIB_CONFIG``, else the nearest folder above the working directory
holding ``studies.yml``, else the package's parent folder.  Relative paths in these variables and in
``data_root`` are read from the project root (runs, results) or the working directory (data).
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_NAME = "studies.yml"
CONFIG_ENV = "MITOLIB_CONFIG"
DATA_ENV = "MITOLIB_DATA"
CACHE_ENV = "MITOLIB_CACHE"
RUNS_ENV = "MITOLIB_RUNS"
RESULTS_ENV = "MITOLIB_RESULTS"
PROFILE_ENV = "MITOLIB_PROFILE"
BOOK_PROFILE_ENV = "MITOLIB_BOOK_PROFILE"
# What a batch job needs to find the same places as the command that submitted it.
PATH_ENV = ("MITOLIB_VENV", DATA_ENV, RUNS_ENV, RESULTS_ENV, CONFIG_ENV)
NAME_ENV = ("MITOLIB_CONDA_ENV",)

RUNS_DIR = "runs"
RESULTS_DIR = "results"
CACHE_DIR = Path("data") / "cache"
BENCHMARK_RESULTS_DIR = Path("benchmarks") / "results"
NOTEBOOK_SOURCE = Path("notebooks") / "train.py"
LOGS_DIR = "logs"


def _setting(name: str) -> str:
    return os.environ.get(name, "").strip()


SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the checkout this package was imported from
REGISTRY_PATH = SOURCE_ROOT / "data" / "registry.txt"  # the EPFL files' pixel checksums


def project_root(start: Path | None = None) -> Path:
    """The folder holding ``studies.yml`` (see the module docstring)."""
    if _setting(CONFIG_ENV):
        return Path(_setting(CONFIG_ENV)).resolve().parent
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    return SOURCE_ROOT


def config_path() -> Path:
    """The active ``studies.yml``: ``$MITOLIB_CONFIG``, else the project root's."""
    return Path(_setting(CONFIG_ENV)).resolve() if _setting(CONFIG_ENV) else project_root() / CONFIG_NAME


def data_setting() -> str:
    """``$MITOLIB_DATA`` as given (empty when unset: :func:`shared_data`, else the download cache)."""
    return _setting(DATA_ENV)


SHARED_DATA = Path("..") / "shared" / "data" / "epfl_mito"  # a group's copy beside the project, from its root


def shared_data() -> Path | None:
    """The EPFL data folder at :data:`SHARED_DATA` from the project root, where that folder exists."""
    folder = (project_root() / SHARED_DATA).resolve()
    return folder if folder.is_dir() else None


def cache_dir(given: str | Path | None = None) -> Path:
    """The download cache: ``given``, else ``$MITOLIB_CACHE``, else ``<project root>/data/cache``."""
    return Path(given or _setting(CACHE_ENV) or project_root() / CACHE_DIR)


def runs_root() -> Path:
    """Root of all run folders: ``$MITOLIB_RUNS``, else ``<project root>/runs``."""
    return Path(_setting(RUNS_ENV)).expanduser().resolve() if _setting(RUNS_ENV) else project_root() / RUNS_DIR


def results_root() -> Path:
    """Root of the collected results: ``$MITOLIB_RESULTS``, else ``<project root>/results``."""
    value = _setting(RESULTS_ENV)
    return Path(value).expanduser().resolve() if value else project_root() / RESULTS_DIR


def profile_setting() -> str:
    """``$MITOLIB_PROFILE`` as given (empty when unset)."""
    return _setting(PROFILE_ENV)


def book_profile_setting() -> str:
    """``$MITOLIB_BOOK_PROFILE`` as given (empty when unset)."""
    return _setting(BOOK_PROFILE_ENV)


def benchmark_results_dir() -> Path:
    """``<project root>/benchmarks/results``: the committed benchmark reports."""
    return project_root() / BENCHMARK_RESULTS_DIR


def batch_environment() -> dict[str, str]:
    """The ``MITOLIB_*`` settings of this shell a batch job must see (paths made absolute)."""
    values = {name: str(Path(_setting(name)).resolve()) for name in PATH_ENV if _setting(name)}
    values.update({name: os.environ[name] for name in NAME_ENV if os.environ.get(name)})
    return values
