"""Markdown tables of DataFrames: the one table format of the book and the README."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd


def markdown_table_source(frame: pd.DataFrame, floatfmt: str = ".3f", index: bool = False,
                        formats: Mapping[str, str] | None = None) -> str:
    """Markdown source of ``frame``: floats as ``floatfmt`` (or ``formats[column]``), missing
    values as an en dash, pipes escaped."""
    if index:
        frame = frame.reset_index()
    formats = dict(formats or {})

    def cell(value, column) -> str:
        if isinstance(value, (float, np.floating)):
            return "–" if not np.isfinite(value) else format(value, formats.get(column, floatfmt))
        return str(value).replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v, c) for v, c in zip(row, frame.columns)) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def span(values) -> str:
    """The range of whole numbers ``values`` as a table cell: ``"6,400"`` when they are all one, else ``"20–34"``."""
    values = [int(round(float(v))) for v in values]
    low, high = min(values), max(values)
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"
