"""Shared fixtures.  Real-data tests use ``epfl_root`` and skip, with the reason, where the data are absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FALLBACK_EPFL = PROJECT_ROOT.parent / "shared" / "data" / "epfl_mito"


@pytest.fixture(scope="session")
def epfl_root() -> Path:
    """Folder of the EPFL data: ``$MITOLIB_DATA``, else ``../shared/data/epfl_mito`` beside the project."""
    setting = os.environ.get("MITOLIB_DATA")
    root = Path(setting) if setting else FALLBACK_EPFL
    if not root.is_absolute():
        root = PROJECT_ROOT / root
    if not root.is_dir():
        pytest.skip(f"EPFL data not found: set MITOLIB_DATA to the data folder (tried {root}); see data/README.md")
    return root


@pytest.fixture(scope="session")
def epfl_volumes(epfl_root):
    """``{"train": (images, masks), "test": (images, masks)}`` of the real data, loaded once (read-only)."""
    from mitolib.data.volumes import resolve_volumes

    params = {"data_source": "epfl", "data_root": str(epfl_root)}
    return {split: resolve_volumes(params, split) for split in ("train", "test")}


@pytest.fixture(autouse=True)
def _isolated_runs_and_results(tmp_path, monkeypatch):
    """Every test starts with its own empty runs and results roots, never the project's.

    Collected results count as done runs (``mitolib.results.collect``), so a test that plans a study must not
    see the committed ``results/``; tests that read committed results name their paths explicitly.
    """
    monkeypatch.setenv("MITOLIB_RUNS", str(tmp_path / "isolated-runs"))
    monkeypatch.setenv("MITOLIB_RESULTS", str(tmp_path / "isolated-results"))


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """One finished ``smoke`` run (synthetic data, seconds), trained once per test session: ``.run_dir``, ``.params``."""
    from types import SimpleNamespace

    from mitolib.core.config import resolve_params
    from mitolib.training.train import train

    run_dir = tmp_path_factory.mktemp("smoke-run") / "run"
    params = resolve_params("smoke", {"out_dir": str(run_dir)})
    train(params, run_dir, progress=False)
    return SimpleNamespace(run_dir=run_dir, params=params)
