"""Every `mitolib …` command written in README.md, ARCHITECTURE.md, pbs/README.md and the book's pages parses with
the command line as it is, so a documented command cannot rot."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from mitolib.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", ROOT / "pbs" / "README.md",
             *sorted((ROOT / "book").glob("*.py"))]
PLACEHOLDERS = {"RUN_DIR": "runs/x", "MODEL": "runs/x", "INPUT": "stack.tif", "OUTPUT": "masks.tif",
                "PACKAGE.zip": "p.zip", "PATH": "data", "STUDY": "seeds", "P": "cpu", "N": "1"}
SUBCOMMANDS = ("train", "evaluate", "predict", "export", "data", "study")


def _normalise(text: str) -> str:
    text = text.split(" #")[0].strip().rstrip(".,:")
    text = re.sub(r"<[^>]*>", "x", text)            # <run_id> and other placeholders
    text = re.sub(r"\[[^\]]*\]", "", text)          # [--dry-run]: optional parts
    text = re.sub(r"(\w[\w-]*)(?:\\?\|[\w-]+)+", r"\1", text)  # status|collect: the first alternative
    return re.sub(r"\s+", " ", text).strip()


def documented_commands() -> list[tuple[str, str]]:
    """``(document, command)`` for every `mitolib …` inline code span and every command line of a code block."""
    found = []
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".py":  # jupytext pages: markdown is in "# " comment lines
            text = "\n".join(line[2:] if line.startswith("# ") else line for line in text.splitlines())
        spans = re.findall(r"`(mitolib [^`]+)`", text)
        in_block = False
        for line in text.splitlines():
            if line.strip().startswith("```"):
                in_block = not in_block
                continue
            if in_block and line.strip().startswith("mitolib "):
                spans.append(line.strip())
        for span in spans:
            for part in re.split(r"\s*&&\s*mitolib\s+", span[len("mitolib "):]):
                command = _normalise(part)
                if command.split(" ")[0] in SUBCOMMANDS:
                    found.append((path.name, command))
    return sorted(set(found))


def test_the_documents_show_commands():
    assert len(documented_commands()) >= 15


def _subparser(parser, words):
    """The parser of the deepest sub-command named by ``words`` and the words after it."""
    import argparse

    while True:
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not actions or not words or words[0] not in actions[0].choices:
            return parser, words
        parser, words = actions[0].choices[words[0]], words[1:]


@pytest.mark.parametrize("where, text", documented_commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_documented_command_parses(where, text, capsys):
    """The sub-command exists (its --help runs), every option written is one of its options, and a command
    written with all its arguments parses as a whole."""
    words = [PLACEHOLDERS.get(word, word) for word in shlex.split(text.replace("$MITOLIB_DATA", "data"))]
    parser, rest = _subparser(build_parser(), words)
    path = words[:len(words) - len(rest)]
    assert path and path[0] in SUBCOMMANDS
    with pytest.raises(SystemExit) as helped:
        build_parser().parse_args([*path, "--help"])
    assert helped.value.code == 0, f"{where}: `mitolib {' '.join(path)} --help` fails"
    known = {option for action in parser._actions for option in action.option_strings}
    unknown = [w.split("=")[0] for w in rest if w.startswith("-") and w.split("=")[0] not in known]
    assert not unknown, f"{where}: `mitolib {text}` uses option(s) {unknown} that `mitolib {' '.join(path)}` lacks"
    required = [a for a in parser._actions if not a.option_strings and a.required and a.nargs != 0]
    positional = [w for w in rest if not w.startswith("-")]
    if len(positional) >= len(required) and not any(w.startswith("-") for w in rest[:1]):
        try:
            build_parser().parse_args(words)
        except SystemExit as exit_:
            pytest.fail(f"{where}: `mitolib {text}` does not parse (exit {exit_.code})")
    capsys.readouterr()
