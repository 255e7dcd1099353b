"""The package's layers: one sub-package a layer, arrows pointing down, checked against every import.

ARCHITECTURE.md's layer table is the one statement of the rule: its rows name the sub-packages bottom to top
and the modules each holds.  A module may import modules of its own package or of packages below it, never
above; no two modules import each other (directly or in a circle); ``cli.py`` and ``__init__.py`` sit on top.
The book's pages import only the packages a page may use (report, figures, core), and never reach training
or planning.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mitolib"
LAYER_ROW = re.compile(r"^\| *`([a-z_]+)/` *\| *((?:`[A-Za-z_]+`[, ]*)+)\|")
TOP = "top"  # cli.py, __init__.py, __main__.py
PAGE_PACKAGES = {"report", "figures", "core"}
# Pages that still reach below the results to draw from the data itself; each entry names what it reads and
# shrinks as those numbers move into the collected tables.
PAGE_EXCEPTIONS = {
    "volume_results.py": {"data", "model", "results"},  # object counts and Lucchi++ IoU from saved masks
    "metric_lesson.py": {"model"},  # the lesson shows the library's metric functions at work
    "introduction.py": {"results"},  # the README headline table
}
NOT_FOR_THE_BOOK = {"training", "studies"}


def layers() -> dict[str, tuple[int, list[str]]]:
    """``{package: (rank, modules)}`` from ARCHITECTURE.md's layer table (rank 0 = the bottom layer)."""
    found = {}
    for line in (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8").splitlines():
        match = LAYER_ROW.match(line.strip())
        if match:
            assert match.group(1) not in found, f"{match.group(1)} is listed twice in ARCHITECTURE.md"
            found[match.group(1)] = (len(found), re.findall(r"`([A-Za-z_]+)`", match.group(2)))
    return found


def module_of(path: Path, package_root: Path) -> str:
    """``package.module`` of a file of the package (``top.cli`` for the modules at its top)."""
    relative = path.relative_to(package_root)
    return f"{TOP}.{path.stem}" if len(relative.parts) == 1 else f"{relative.parts[0]}.{path.stem}"


def imports(path: Path, package_root: Path) -> set[str]:
    """The ``package.module`` names a file imports from mitolib (function-level imports count); an import of a
    package itself (``from mitolib.report import pages``) counts as each module it names, or as the package's
    ``__init__`` for other names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "mitolib":
                continue
            if len(parts) == 1:
                found |= {f"{alias.name}.__init__" if (package_root / alias.name).is_dir() else f"{TOP}.{alias.name}"
                          for alias in node.names}
            elif len(parts) == 2:
                found |= {f"{parts[1]}.{alias.name}" if (package_root / parts[1] / f"{alias.name}.py").is_file()
                          else (f"{parts[1]}.__init__" if (package_root / parts[1]).is_dir() else f"{TOP}.{parts[1]}")
                          for alias in node.names}
            else:
                found.add(f"{parts[1]}.{parts[2]}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "mitolib" and len(parts) >= 3:
                    found.add(f"{parts[1]}.{parts[2]}")
    return found


def graph(package_root: Path = PACKAGE) -> dict[str, set[str]]:
    return {module_of(path, package_root): imports(path, package_root) - {module_of(path, package_root)}
            for path in sorted(package_root.rglob("*.py"))}


def upward(package_root: Path = PACKAGE) -> list[str]:
    ranks = {package: rank for package, (rank, _) in layers().items()}
    ranks[TOP] = len(ranks)
    return [f"{module} imports {other}" for module, others in graph(package_root).items() for other in sorted(others)
            if ranks[other.split(".")[0]] > ranks[module.split(".")[0]]]


def test_the_table_is_the_tree():
    listed = {package: sorted(modules) for package, (_, modules) in layers().items()}
    on_disk = {folder.name: sorted(path.stem for path in folder.glob("*.py") if path.stem != "__init__")
               for folder in sorted(PACKAGE.iterdir()) if folder.is_dir() and (folder / "__init__.py").is_file()}
    assert listed == on_disk
    assert sorted(path.name for path in PACKAGE.glob("*.py")) == ["__init__.py", "__main__.py", "cli.py"]


def test_imports_point_down_only():
    assert upward() == []


def test_the_check_sees_an_upward_import(tmp_path):
    """The rule is not vacuous: a copy of the package in which the foundation imports the report, or the data
    layer imports training, fails it."""
    fake = tmp_path / "mitolib"
    shutil.copytree(PACKAGE, fake, ignore=shutil.ignore_patterns("__pycache__"))
    assert upward(fake) == []
    errors = fake / "core" / "errors.py"
    errors.write_text(errors.read_text(encoding="utf-8") + "\nfrom mitolib.report import pages\n", encoding="utf-8")
    patches = fake / "data" / "patches.py"
    patches.write_text(patches.read_text(encoding="utf-8") + "\nfrom mitolib.training.train import train\n",
                       encoding="utf-8")
    assert upward(fake) == ["core.errors imports report.pages", "data.patches imports training.train"]


def test_no_import_circle():
    edges = graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    circles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for other in sorted(edges.get(module, ())):
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


PAGES = sorted((ROOT / "book").glob("*.py"))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_book_pages_import_what_a_page_may_use(page):
    packages = {name.split(".")[0] for name in imports(page, PACKAGE)}
    allowed = PAGE_PACKAGES | PAGE_EXCEPTIONS.get(page.name, set())
    assert packages - allowed == set()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_book_pages_never_reach_training_or_planning(page):
    assert {name.split(".")[0] for name in reachable(imports(page, PACKAGE))} & NOT_FOR_THE_BOOK == set()


def test_the_page_exceptions_are_still_needed():
    """An exception that a page no longer uses is removed from PAGE_EXCEPTIONS."""
    for name, extra in PAGE_EXCEPTIONS.items():
        used = {module.split(".")[0] for module in imports(ROOT / "book" / name, PACKAGE)}
        assert extra <= used, f"{name} no longer imports {sorted(extra - used)}: shrink PAGE_EXCEPTIONS"


def test_report_never_reaches_training_or_planning():
    report = {module for module in graph() if module.startswith("report.")}
    assert {name.split(".")[0] for name in reachable(report)} & NOT_FOR_THE_BOOK == set()

