"""Figures shared by the notebooks (matplotlib only)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

MECHANISM_COLOURS = {"none": "#7f7f7f", "se": "#1f77b4", "cbam": "#2ca02c", "triplet": "#9467bd", "eca": "#d62728"}


def band_plot(history: pd.DataFrame, metric: str, ax=None, label: str = "", legend: bool = True):
    """Mean +- std over seeds of ``metric`` per epoch, one band per attention mechanism (``legend``:
    one beside the axes, off the data; False leaves it to the figure)."""
    ax = ax or plt.gca()
    for attention, group in history.groupby("attention"):
        stats = group.groupby("epoch")[metric].agg(["mean", "std", "count"])
        colour = MECHANISM_COLOURS.get(attention)
        ax.plot(stats.index, stats["mean"], color=colour, label=f"{attention} (n={int(stats['count'].max())})")
        ax.fill_between(
            stats.index,
            stats["mean"] - stats["std"].fillna(0),
            stats["mean"] + stats["std"].fillna(0),
            color=colour,
            alpha=0.2,
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel(label or metric)
    if legend:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    return ax


def parallel_coordinates(table: pd.DataFrame, columns: list[str], metric: str, ax=None, lower_is_better=True):
    """One line per trial across ``columns`` (categorical values spread on each axis), coloured by ``metric``."""
    ax = ax or plt.gca()
    axes = columns + [metric]
    positions = {}
    for col in axes:
        values = table[col]
        if pd.api.types.is_numeric_dtype(values) and col == metric:
            lo, hi = float(values.min()), float(values.max())
            positions[col] = (values - lo) / ((hi - lo) or 1.0)
        else:
            unique = values.unique()
            ordered = sorted(unique) if pd.api.types.is_numeric_dtype(values) else sorted(unique, key=str)
            cats = [str(v) for v in ordered]
            positions[col] = values.astype(str).map({c: i / max(len(cats) - 1, 1) for i, c in enumerate(cats)})
            for c, y in zip(cats, [i / max(len(cats) - 1, 1) for i in range(len(cats))]):
                ax.annotate(c, (axes.index(col), y), xytext=(4, 0), textcoords="offset points", fontsize="small")
    scores = table[metric].astype(float)
    norm = plt.Normalize(scores.min(), scores.max())
    cmap = plt.get_cmap("viridis_r" if lower_is_better else "viridis")
    for i in range(len(table)):
        ax.plot(range(len(axes)), [positions[c].iloc[i] for c in axes], color=cmap(norm(scores.iloc[i])), alpha=0.8)
    for x in range(len(axes)):
        ax.axvline(x, color="black", linewidth=0.8)
    ax.annotate(f"{scores.min():.3g}", (len(axes) - 1, 0), xytext=(4, 0), textcoords="offset points", fontsize="small")
    ax.annotate(f"{scores.max():.3g}", (len(axes) - 1, 1), xytext=(4, 0), textcoords="offset points", fontsize="small")
    ax.set_xticks(range(len(axes)), axes)
    ax.set_yticks([])
    ax.figure.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=metric)
    return ax


def run_curves(history: pd.DataFrame, title: str = ""):
    """Test top-1, test and train loss, and lr per epoch for each run in ``history``; one legend, right of
    the three axes."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), layout="constrained")
    for run, group in history.groupby("run"):
        colour = MECHANISM_COLOURS.get(group["attention"].iloc[0])
        axes[0].plot(group["epoch"], group["test_top1"], color=colour, label=run)
        axes[1].plot(group["epoch"], group["test_loss"], color=colour)
        axes[1].plot(group["epoch"], group["train_loss"], color=colour, linestyle="--")
        axes[2].plot(group["epoch"], group["lr"], color=colour)
    axes[0].set_ylabel("test top-1 (%)")
    axes[1].set_ylabel("loss (solid: test, dashed: train)")
    axes[2].set_ylabel("learning rate")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize="x-small")
    fig.suptitle(title)
    return fig


__all__ = ["band_plot", "parallel_coordinates", "run_curves"]
