"""Reference tables (paper, official README) as DataFrames, pivoted the way the paper prints them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ecalib.errors import UsageError
from ecalib.reference import paper_table


def reference_table(source: str, table: str, task: str | None = None) -> pd.DataFrame:
    """One printed table: rows (backbone, method), one column per metric, values as printed."""
    df = paper_table()
    df = df[(df["source"] == source) & (df["table"] == table)]
    if task:
        df = df[df["task"] == task]
    if df.empty:
        raise UsageError(f"no reference table {table!r} from {source!r}")
    order = list(dict.fromkeys(df["metric"]))
    rows = list(dict.fromkeys(zip(df["backbone"], df["method"])))
    wide = df.pivot_table(index=["backbone", "method"], columns="metric", values="value", aggfunc="first")
    return wide.loc[rows, order]


def imagenet_reference_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The official README's ImageNet table and the paper's Table 3."""
    return reference_table("official README", "ImageNet results"), reference_table("paper", "Table 3")


def format_number(value, digits: int = 3) -> str:
    """A table cell as a reader wants it: whole numbers with thousands separators, others rounded to
    ``digits`` decimals (small ones to 2 significant digits), missing values as a dash, text as is."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return str(value)
    if float(value).is_integer():
        return f"{int(value):,}"
    if 0 < abs(value) < 10**-digits:
        return f"{value:.2g}"
    return f"{value:,.{digits}f}"


def captioned(table: pd.DataFrame, caption: str, source: str, digits: int = 3):
    """``table`` for the book: its caption (what it shows, then ``Source: ...``) above it, numbers
    formatted by :func:`format_number`. Every table of the book is shown this way, so each one names
    its own source (the browser test checks it)."""
    return (
        table.style.format(lambda v: format_number(v, digits))
        .format_index(lambda v: format_number(v, digits), axis=0)
        .set_caption(caption_text(caption, source))
        .set_table_attributes('class="dataframe ecalib-table"')
    )


def caption_text(caption: str, source: str) -> str:
    """A table's caption as the book writes it: what the table shows, then ``Source: ...``."""
    return caption.rstrip(". ") + ". Source: " + source.rstrip(".") + "."
