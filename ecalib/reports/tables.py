"""Reference tables (paper, official README) as DataFrames, pivoted the way the paper prints them."""

from __future__ import annotations

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
