"""The package's layers, read from ARCHITECTURE.md, checked against the imports of every module.

A module may import modules of its own layer or of lower layers, never of a higher one; no import circle
exists; the book layer and the book's pages never import ``train``, ``study`` or ``evaluate``; no module of
the package is over ``MAX_LINES`` lines.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mitolib"
LAYER_ROW = re.compile(r"^\| *([a-z]+) *\| *((?:`[A-Za-z_]+`[, ]*)+)\|$")
MAX_LINES = 400
NOT_FOR_THE_BOOK = {"train", "study", "evaluate"}


def layers() -> dict[str, int]:
    """``{module: layer rank}`` from the layer table of ARCHITECTURE.md (rank 0 = foundation)."""
    ranks, rank = {}, 0
    for line in (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8").splitlines():
        match = LAYER_ROW.match(line.strip())
        if match:
            for name in re.findall(r"`([A-Za-z_]+)`", match.group(2)):
                assert name not in ranks, f"{name} is in two layers of ARCHITECTURE.md"
                ranks[name] = rank
            rank += 1
    return ranks


def imports(path: Path) -> set[str]:
    """The ``mitolib`` modules a file imports (at any depth of the file: function-level imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "mitolib":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("mitolib."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("mitolib.")}
    return {name for name in found if (PACKAGE / f"{name}.py").is_file()}


def graph() -> dict[str, set[str]]:
    return {path.stem: imports(path) - {path.stem} for path in sorted(PACKAGE.glob("*.py"))}


def test_every_module_has_a_layer():
    assert sorted(set(graph()) - set(layers())) == []
    assert sorted(set(layers()) - set(graph())) == []  # no layer lists a module that is gone


def test_imports_point_down_only():
    ranks = layers()
    upward = [f"{module} ({ranks[module]}) imports {other} ({ranks[other]})"
              for module, others in graph().items() for other in sorted(others) if ranks[other] > ranks[module]]
    assert upward == []


def test_no_import_circle():
    edges = graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    circles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for other in sorted(edges[module]):
            if state.get(other) == 1:
                circles.append(" -> ".join(path[path.index(other):] + [other]))
            elif other not in state:
                visit(other, [*path, other])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert circles == []


def reachable(start: set[str]) -> set[str]:
    edges, seen, todo = graph(), set(), list(start)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(edges.get(module, ()))
    return seen


@pytest.mark.parametrize("page", sorted((ROOT / "book").glob("*.py")), ids=lambda p: p.name)
def test_book_pages_never_reach_training_or_planning(page):
    assert reachable(imports(page)) & NOT_FOR_THE_BOOK == set()


def test_book_layer_never_reaches_training_or_planning():
    book = {name for name, rank in layers().items() if rank == layers()["book"]}
    assert reachable(book) & NOT_FOR_THE_BOOK == set()


def test_modules_are_small():
    sizes = {path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in PACKAGE.glob("*.py")}
    assert {name: size for name, size in sizes.items() if size > MAX_LINES} == {}


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The rule is not vacuous: a foundation module importing the book is caught."""
    fake = tmp_path / "mitolib"
    fake.mkdir()
    for path in PACKAGE.glob("*.py"):
        (fake / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (fake / "errors.py").write_text("from mitolib import book\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    ranks = layers()
    assert any(ranks[o] > ranks[m] for m, others in graph().items() for o in others)
