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


BOOK = NOTEBOOKS.parent / "book"


@pytest.mark.slow
@pytest.mark.parametrize("page", ["volume_results.py", "what_broke.py", "recipe.py"])
def test_pages_with_missing_studies_run_on_fixture_results(page, monkeypatch, tmp_path):
    """The branches a full build never takes: studies not collected, figures without their data. The page runs,
    shows the shared boxes with every field filled, and sends no error to the reader."""
    from mitolib.report import pages

    write_fixture_results(tmp_path / "results")
    monkeypatch.setenv("MITOLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("MITOLIB_BOOK_PROFILE", "smoke")
    monkeypatch.delenv("MITOLIB_DATA", raising=False)
    notebook = jupytext.read(BOOK / page)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(BOOK)}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not any(o.get("output_type") == "error" for o in outputs)
    boxes = ["".join(o["data"]["text/markdown"]) for o in outputs
             if "".join(o.get("data", {}).get("text/markdown", "")).startswith(":::")]
    assert any("Test fixture" in box for box in boxes)  # the page says its numbers are fixtures
    assert all(not pages.FIELD.search(box) for box in boxes)
