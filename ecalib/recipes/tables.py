"""The book's recipe tables, read from the recipe files in ``configs/`` (never restated by hand)."""

from __future__ import annotations

import pandas as pd

from ecalib.recipes.resolve import read_recipe, recipe_file, shown

# Keys that name the recipe rather than set it
NOT_SETTINGS = ("task", "recipe")


def flatten(values: dict, prefix: str = "") -> dict:
    """``{'optimizer': {'lr': 0.1}}`` -> ``{'optimizer.lr': 0.1}`` (lists and short mappings kept as values)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, dict) and value and key not in ("synthetic", "network_kwargs"):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def recipe_source(name: str) -> str:
    """The comment a recipe file opens with: where its settings come from."""
    lines = recipe_file(name).read_text().splitlines()
    comment = []
    for line in lines:
        if not line.startswith("#"):
            break
        comment.append(line.lstrip("# ").rstrip())
    return " ".join(comment)


def recipe_table(names: list[str], skip: tuple[str, ...] = ("data.synthetic",)) -> pd.DataFrame:
    """The settings of ``names`` (shipped recipes or files) side by side: one row per key, as written."""
    columns = {}
    for name in names:
        values = flatten(read_recipe(recipe_file(name)))
        columns[name] = {k: v for k, v in values.items() if k not in NOT_SETTINGS and k not in skip}
    table = pd.DataFrame(columns)
    return table.map(lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))


def recipe_sources(names: list[str]) -> str:
    """One line per recipe: its file and its source comment (printed under a recipe table)."""
    return "\n".join(f"{shown(recipe_file(n))}: {recipe_source(n)}" for n in names)


def recipes_shown(names: list[str], caption: str):
    """:func:`recipe_table` with its caption, naming the recipe files as its source (each file's own
    source comment is :func:`recipe_sources`, printed under the table)."""
    from ecalib.reports.tables import captioned

    files = ", ".join(str(shown(recipe_file(n))) for n in names)
    return captioned(recipe_table(names), caption, f"the recipe files {files} (where their values come from: below)")
