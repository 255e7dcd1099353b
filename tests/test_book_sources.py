"""Static checks of the book's sources: no hand-typed numbers in prose, a consistent table of
contents and configuration, every figure registered, every glued name defined.

These run in well under a second; the build itself (``jupyter-book build book/ -W -n``) checks
the rest.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import pytest
import yaml

from mitolib.report import pages, figure_sources

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
PAGES = sorted(p for p in BOOK.iterdir()
               if p.suffix in (".py", ".md") and not p.name.startswith("_") and p.name != "README.md")

# A decimal number (0.85, .5, 3.10) or a percentage (85 %, 7.5%) outside code, math and roles.
TYPED_NUMBER = re.compile(r"(?<![\w.\-/])(\d+(?:\.\d+)?\s?%|\d*\.\d+)(?![\w.])")
CODE_FENCE = re.compile(r"^(`{3,}|~{3,})(.*)$")


def markdown_of(page: Path) -> list[str]:
    """The Markdown cells of a page (the whole file for a plain .md page)."""
    if page.suffix == ".md" and not page.read_text(encoding="utf-8").startswith("---\njupytext"):
        return [page.read_text(encoding="utf-8")]
    notebook = jupytext.read(page)
    return [cell.source for cell in notebook.cells if cell.cell_type == "markdown"]


def code_of(page: Path) -> str:
    notebook = jupytext.read(page)
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")


def prose(markdown: str) -> str:
    """``markdown`` without code blocks, directive options, inline code, roles, math and links."""
    kept, fence = [], None
    for line in markdown.splitlines():
        match = CODE_FENCE.match(line.strip())
        if fence is None and match:
            directive = match.group(2).strip().startswith("{")
            fence = (match.group(1), directive)
            continue
        if fence is not None and line.strip().startswith(fence[0][:3]) and line.strip().strip("`~") == "":
            fence = None
            continue
        if fence is not None and not fence[1]:
            continue  # code block: not prose
        if fence is not None and line.strip().startswith(":"):
            continue  # directive option (":name: ...")
        kept.append(line)
    text = "\n".join(kept)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", " ", text)  # roles, glue included
    text = re.sub(r"`[^`]*`", " ", text)  # inline code
    text = re.sub(r"\$[^$\n]+\$", " ", text)  # inline math
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
    text = re.sub(r"<https?://[^>]+>|https?://\S+", " ", text)
    return text


def typed_numbers(markdown: str) -> list[str]:
    return TYPED_NUMBER.findall(prose(markdown))


def test_detector_flags_typed_numbers_and_spares_code_roles_and_math():
    assert typed_numbers("The IoU is 0.85 on the test volume.") == ["0.85"]
    assert typed_numbers("It reaches 85 % of pixels, and 7.5% more.") == ["85 %", "7.5%"]
    assert typed_numbers("Stuck at .09 for weeks.") == [".09"]
    clean = ("Use `learning_rate: 0.001`, {glue:md}`iou_unet` and $p \\ge 0.5$; three seeds, epoch 12;\n"
             "```bash\nmitolib train -p learning_rate 0.01\n```\n"
             "```{glue:figure} fig-x\n:name: fig-x\n\nCaption without numbers.\n```\n"
             "See [the docs](https://example.org/v1.2) and https://example.org/0.5.")
    assert typed_numbers(clean) == []
    assert typed_numbers("```{glue:figure} fig-x\n:name: fig-x\n\nA caption with 0.9 typed.\n```") == ["0.9"]


# Calls whose string arguments reach the reader: glued values and Markdown or printed output.
OUTPUT_CALLS = {"glue", "glue_record", "Markdown", "display", "print"}
PROSE_WORDS = 8  # a literal string this long passed to output is a sentence written in Python



def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def output_literals(source: str) -> list[str]:
    """Literal strings (an f-string's fixed parts joined) passed to an output call in ``source``."""
    found, seen = [], set()
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and _call_name(node) in OUTPUT_CALLS):
            continue
        arguments = node.args[1:] if _call_name(node).startswith("glue") else node.args
        for argument in arguments:
            for sub in ast.walk(argument):
                if id(sub) in seen:
                    continue
                if isinstance(sub, ast.JoinedStr):
                    for part in sub.values:
                        seen.update(id(node) for node in ast.walk(part)  # format specs are not prose
                                    if isinstance(node, (ast.JoinedStr, ast.Constant)))
                    found.append("".join(p.value for p in sub.values if isinstance(p, ast.Constant)))
                elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    found.append(sub.value)
                seen.add(id(sub))
    return found


FORMAT_SPEC = re.compile(r"[,+ ]?\.?\d*[dfeg%]")  # a number format (".1%", ",.0f"), not a number


def prose_in_code(source: str) -> list[str]:
    """Sentences (eight words or more) and typed numbers that code cells send to the reader."""
    flagged = []
    for text in output_literals(source):
        if FORMAT_SPEC.fullmatch(text):
            continue
        if len(re.findall(r"[A-Za-z]+", text)) >= PROSE_WORDS or typed_numbers(text):
            flagged.append(text.strip()[:70])
    return flagged


def test_prose_detector_flags_sentences_and_numbers_sent_to_output():
    source = ('pages.glue("a", f"The model reached {x:.3f} on the whole test volume today")\n'
              'pages.glue("c", f"{share:.0%}")\n'
              'pages.glue("b", 0.85)\n'
              'display(Markdown("IoU 0.85"))\n'
              'display(pages.markdown_table(t.rename(columns={"n": "seeds"}), formats={"share": ".1%"}))\n'
              'label = "a long sentence that is not sent to output by any call"\n')
    assert prose_in_code(source) == ["The model reached  on the whole test volume today", "IoU 0.85"]


@pytest.mark.parametrize("page", [p for p in PAGES if p.suffix == ".py"], ids=lambda p: p.name)
def test_code_cells_send_no_sentences_to_the_reader(page):
    source = "\n".join(line for line in code_of(page).splitlines() if not line.lstrip().startswith(("%", "!")))
    found = prose_in_code(source)
    assert not found, f"{page.name}: sentences built in code (write them in Markdown): {found}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_hand_typed_numbers_in_prose(page):
    found = [(i, n) for i, cell in enumerate(markdown_of(page)) for n in typed_numbers(cell)]
    assert not found, f"{page.name}: typed numbers in prose (glue them from results): {found}"


def test_toc_lists_every_page_and_only_existing_ones():
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    stems = {p.stem for p in PAGES}
    assert sorted(files) == sorted(stems), "book/_toc.yml and the pages in book/ differ"
    assert "appendix_benchmarks" in files


def test_config_builds_strictly():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["only_build_toc_files"] is True
    execute = config["execute"]
    assert execute["execute_notebooks"] in ("force", "cache")
    assert execute["raise_on_error"] is True and execute["allow_errors"] is False
    assert execute["stderr_output"] == "remove" and execute["timeout"] > 0
    sphinx = config["sphinx"]["config"]
    assert sphinx["nb_custom_formats"][".py"][1]["fmt"] == "py:percent"
    assert sphinx["nb_render_markdown_format"] == "myst"  # notices and tables printed by pages are MyST
    extensions = config["sphinx"]["local_extensions"]
    assert (ROOT / extensions["always_reread"] / "always_reread.py").is_file()  # pages re-run on every build


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_open_with_a_title_and_end_with_try_it_yourself(page):
    cells = markdown_of(page)
    assert cells[0].lstrip().startswith("# "), f"{page.name} must open with its title"
    assert any(re.search(r"^## Try it yourself", c, re.M) for c in cells), f"{page.name} lacks 'Try it yourself'"
    last_heading = [h for c in cells for h in re.findall(r"^## (.+)$", c, re.M)][-1]
    assert last_heading == "Try it yourself", f"{page.name}: 'Try it yourself' must be the last section"


def test_every_figure_is_registered_on_its_page():
    named = {}
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for name in re.findall(r":name: (fig-[\w-]+)", text):
            named[name] = page.stem
    registered = {fig.name: fig.page for fig in figure_sources.FIGURES}
    assert named == registered, "figure labels in the pages and figure_sources.FIGURES differ"


@pytest.mark.parametrize("page", [p for p in PAGES if p.suffix == ".py"], ids=lambda p: p.name)
def test_every_glued_name_is_defined_on_its_page(page):
    used = set()
    for cell in markdown_of(page):
        used |= set(re.findall(r"\{glue:(?:md|text|)\}`([\w-]+)", cell))
        used |= set(re.findall(r"\{glue:figure\}\s+([\w-]+)", cell))
    code = code_of(page) + "\n" + "\n".join(markdown_of(page))
    literal = set(re.findall(r"glue(?:_figure|_placeholder)?\(\s*f?\"([\w-]+)\"", code))
    prefixes = set(re.findall(r"glue(?:_figure)?\(\s*f\"([\w-]*)\{", code))
    prefixes |= {f"{prefix}_" for prefix in re.findall(r"glue_record\(\s*\"(\w+)\"", code)}  # a record's fields
    missing = [k for k in used if k not in literal and not any(k.startswith(p) for p in prefixes)]
    assert not missing, f"{page.name}: glued names used but never glued: {missing}"


def test_book_data_tables_have_their_columns():
    report = pages.load_csv("original_report")
    assert list(report.columns) == ["table", "architecture", "quantity", "value", "source"]
    assert report["source"].notna().all() and report["value"].notna().all()
    published = pages.load_csv("published")
    for column in ("label", "citation", "protocol", "metric", "value", "source"):
        assert published[column].notna().all(), column


def test_introduction_answers_the_four_questions_with_computed_paragraphs():
    text = "\n".join(markdown_of(BOOK / "introduction.py"))
    for question in ("What really broke?", "What do the three architectures reach on the test volume?",
                     "Which hyperparameters matter?", "How do I reproduce it?"):
        found = re.search(rf"\*\*{re.escape(question)}\*\*(.*?)(\n\n|$)", text, flags=re.S)
        assert found, question
        assert "{glue:" in found.group(1), f"{question}: the answer quotes no computed value"
    assert "{glue:md} headline" in text  # the README's headline table


FIRST_SCREEN_WORDS = 60  # an answer this short keeps all four on a 1280x800 screen under the title


def test_introduction_opens_with_the_four_short_answers():
    """The page's first cell is the title and the four answers, each short: the first screen answers."""
    first = markdown_of(BOOK / "introduction.py")[0]
    paragraphs = [p.strip() for p in first.split("\n\n") if p.strip()]
    assert paragraphs[0].startswith("# ")
    questions = ("What really broke?", "What do the three architectures reach on the test volume?",
                 "Which hyperparameters matter?", "How do I reproduce it?")
    for question, paragraph in zip(questions, paragraphs[1:5]):
        assert paragraph.startswith(f"**{question}**"), paragraph[:60]
        words = re.sub(r"\{glue:\w*\}`[^`]*`", "N", paragraph)
        assert len(re.findall(r"[A-Za-z0-9]+", words)) <= FIRST_SCREEN_WORDS, question


CAPTION = re.compile(r"```\{glue:figure\} (fig-[\w-]+)\n:name: \1\n\n(?P<caption>.*?)\n```", re.S)
CONCLUSION = "**Conclusion:** "


def captions() -> dict[str, str]:
    """``{figure name: caption text}`` of every ``{glue:figure}`` in the pages: markdown cells (comment marks
    removed) and captions a code cell writes (the escaped newlines of its strings read as newlines)."""
    found = {}
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        text = re.sub(r"^# ?", "", text, flags=re.M).replace("\\n", "\n")
        for match in CAPTION.finditer(text):
            found[match.group(1)] = match.group("caption")
    return found


@pytest.mark.parametrize("figure", figure_sources.FIGURES, ids=lambda f: f.name)
def test_every_caption_ends_with_a_computed_conclusion(figure):
    """What to conclude closes every caption, as its last sentence, and is computed (glued or formatted from
    the data), so it cannot outlive the numbers it reads."""
    caption = captions().get(figure.name)
    assert caption is not None, f"{figure.name}: no caption found on {figure.page}"
    _, marker, last = caption.strip().rpartition(CONCLUSION)
    assert marker, f"{figure.name}: the caption has no '{CONCLUSION}' sentence"
    assert "\n\n" not in last.strip(), f"{figure.name}: text follows the conclusion: {last}"
    assert "{glue:md}" in last or re.search(r"\{[^}]+\}", last), \
        f"{figure.name}: the conclusion is typed, not computed: {last}"


SHOWN_BY_DISPLAY = {"notice", "missing", "not_drawn", "admonition", "markdown_table", "Markdown"}  # return a display


def unshown_displays(cell: str) -> list[str]:
    """Calls in ``cell`` that build something to show but are neither passed to ``display`` nor the cell's last
    expression: Jupyter shows only the last one, so these show nothing."""
    tree = ast.parse(cell)
    last = tree.body[-1] if tree.body else None
    return [ast.unparse(node.value)[:60] for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and _call_name(node.value) in SHOWN_BY_DISPLAY and node is not last]


def test_unshown_display_detector():
    assert unshown_displays("notices.notice(r)\nx = 1\n") == ["notices.notice(r)"]
    assert unshown_displays("if r:\n    notices.notice(r)\n    y = 2\n") == ["notices.notice(r)"]
    assert unshown_displays("x = 1\nnotices.notice(r)\n") == []
    assert unshown_displays("display(notices.notice(r))\nx = 1\n") == []


@pytest.mark.parametrize("page", [p for p in PAGES if p.suffix == ".py"], ids=lambda p: p.name)
def test_every_box_and_table_a_cell_builds_is_shown(page):
    notebook = jupytext.read(page)
    found = [call for cell in notebook.cells if cell.cell_type == "code"
             for call in unshown_displays("\n".join(line for line in cell.source.splitlines()
                                                    if not line.lstrip().startswith(("%", "!"))))]
    assert not found, f"{page.name}: built but never shown (wrap them in display()): {found}"
