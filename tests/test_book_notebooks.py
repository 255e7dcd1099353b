"""The exploration notebooks run end to end offline: on the synthetic volume and on fixture results."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

from test_book_fixtures import write_fixture_results

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def execute(name: str, parameters: dict, env: dict, monkeypatch, tmp_path) -> nbformat.NotebookNode:
    """Execute ``notebooks/<name>`` with its parameters cell replaced by ``parameters``."""
    notebook = jupytext.read(NOTEBOOKS / name)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += "\n" + "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    return notebook


@pytest.mark.slow
def test_explore_data_on_synthetic_data(monkeypatch, tmp_path):
    monkeypatch.delenv("MITOLIB_DATA", raising=False)
    notebook = execute("explore_data.py", {"profile": "smoke", "split": "test"}, {}, monkeypatch, tmp_path)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any(o.get("output_type") == "display_data" for o in outputs)  # figures were drawn
    assert not any(o.get("output_type") == "error" for o in outputs)


@pytest.mark.slow
def test_view_predictions_on_fixture_results(monkeypatch, tmp_path):
    write_fixture_results(tmp_path / "results", studies=("seeds",))
    notebook = execute("view_predictions.py", {"profile": "smoke", "study": "seeds", "max_slices": 3},
                       {"MITOLIB_RESULTS": str(tmp_path / "results")}, monkeypatch, tmp_path)
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the slice scores and at least one row of overlays


@pytest.mark.slow
def test_segment_your_stack_with_a_smoke_model(monkeypatch, tmp_path, smoke_run):
    import tifffile

    from mitolib.data.volumes import resolve_volumes

    images, _ = resolve_volumes(smoke_run.params, "test")
    tifffile.imwrite(tmp_path / "stack.tif", images)
    notebook = execute("segment_your_stack.py", {"model": str(smoke_run.run_dir), "stack": str(tmp_path / "stack.tif"),
                                                 "output": str(tmp_path / "masks.tif")}, {}, monkeypatch, tmp_path)
    text = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "mitochondria" in text and "pixel size used: 5 nm" in text
    assert tifffile.imread(tmp_path / "masks.tif").shape == images.shape
    warned = [o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("name") == "stderr"]
    assert not warned, f"the notebook's output carries warnings: {warned}"
