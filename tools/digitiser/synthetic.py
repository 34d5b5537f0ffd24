"""Synthetic charts in the style of RC2020's W&B exports, with known values, to measure the digitiser's error.

:func:`render_wandb_like` draws, with matplotlib, what :mod:`digitiser.chart` reads: a white picture,
light grey horizontal grid lines at known values, tick marks above the x tick labels, per series a band
(``alpha`` over-composite of the series colour) and then its opaque 1.75 px line (one solid and one dashed line
may share a colour), a dot on the last point, and a one-row legend of coloured swatches and labels on top.
:func:`wandb_like_curves` makes curves that look like RC2020's: steep and crowded at first, then noisy and
overlapping, with symmetric bands (mean +- spread), and with deliberate hard cases (two lines on top of each
other for a few points, a line hidden under another one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PT = 72.0 / 100.0  # points per pixel at 100 dpi


@dataclass(frozen=True)
class ChartLayout:
    """Pixel geometry (continuous coordinates from the top-left corner) of a synthetic chart."""

    width: int = 1200
    height: int = 800
    left: float = 32.0  # x of the first point
    right: float = 1180.0  # x of the last point
    top: float = 41.0  # y of the axis' upper limit
    bottom: float = 770.0  # y of its lower limit
    legend_y: float = 29.875
    tick_top: float = 764.0
    tick_bottom: float = 776.0
    label_y: float = 788.0


def wandb_like_curves(kind: str, keys, n_points: int = 50, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per series key (mean, half band width) curves like RC2020's ``acc`` (top-1 %) or ``loss``.

    ``keys`` are in the order (solid twin, other, other, dashed twin, baseline): the first and fourth share a
    colour in the chart; the fourth is made equal to the second for the first two points (hidden under it) and
    to the first for three points in the middle (lying on it).
    """
    rng = np.random.default_rng(seed)
    e = np.arange(n_points, dtype=float)
    tau = max(n_points / 12.0, 1.0)
    curves = {}
    for i, key in enumerate(keys):
        late = rng.normal(0.0, 0.6, n_points) * (1 - np.exp(-e / tau))
        if kind == "acc":
            start = 50.5 + rng.normal(0, 0.7) if i < 4 else 44.0
            end = 75.0 + rng.normal(0, 0.5)
            mean = end - (end - start) * np.exp(-e / (tau * (1.3 if i == 4 else 1.0))) + late
            half = 0.4 + 1.2 * rng.random(n_points) + 2.0 * np.exp(-e / tau)
        else:
            start = 1.38 + rng.normal(0, 0.02) if i < 4 else 1.55
            end = 0.74 + rng.normal(0, 0.01)
            mean = end + (start - end) * np.exp(-e / (tau * (1.3 if i == 4 else 1.0))) + late * 0.03
            half = 0.01 + 0.03 * rng.random(n_points) + 0.05 * np.exp(-e / tau)
        curves[key] = (mean, half)
    solid, other, dashed = keys[0], keys[1], keys[3]
    mean, half = curves[dashed]
    mean = mean.copy()
    mean[:2] = curves[other][0][:2]  # hidden under another series' line
    mid = n_points // 2
    mean[mid : mid + 3] = curves[solid][0][mid : mid + 3]  # lying on its same-coloured twin
    curves[dashed] = (mean, half)
    return curves


def render_wandb_like(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    spec,
    colours: dict[str, str],
    ylim: tuple[float, float],
    draw_order,
    layout: ChartLayout = ChartLayout(),
    alpha: float = 0.1,
    title: str = "",
) -> np.ndarray:
    """Render the chart; returns float RGB (H, W, 3) in 0..255 like :func:`digitiser.chart.read_rgb`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.transforms import Affine2D

    W, H = layout.width, layout.height
    fig = Figure(figsize=(W / 100.0, H / 100.0), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes(
        (layout.left / W, 1 - layout.bottom / H, (layout.right - layout.left) / W, (layout.bottom - layout.top) / H)
    )
    ax.set_axis_off()
    n = spec.n_points
    ax.set_xlim(0, n - 1)
    ax.set_ylim(*ylim)
    x = np.arange(n)
    for value in spec.grid_values:
        ax.axhline(value, color="#f3f3f4", lw=1.0 * PT, snap=False, zorder=0)
    dashes = (4.5 * PT, 2.5 * PT)
    # Agg draws filled polygons half a pixel right of and below strokes with the same coordinates; W&B's
    # renderer does not (RC2020's bands are centred on their lines to 0.1 px), so the fills are moved back.
    fill_shift = ax.transData + Affine2D().translate(-0.5, 0.5)
    by_key = {s.key: s for s in spec.series}
    for key in draw_order:
        mean, half = curves[key]
        colour = colours[key]
        ax.fill_between(x, mean - half, mean + half, color=colour, alpha=alpha, lw=0, snap=False, transform=fill_shift)
        style = {"dashes": dashes} if by_key[key].dashed else {}
        ax.plot(x, mean, color=colour, lw=1.75 * PT, snap=False, solid_joinstyle="miter", **style)
        ax.plot(x[-1:], mean[-1:], "o", color=colour, ms=6 * PT, mew=0, snap=False)

    def fig_xy(px, py):  # continuous pixel coordinates -> figure fraction
        return px / W, 1 - py / H

    tick_colour, text_colour = "#e7e7ea", "#6b6b76"
    for tick in spec.x_ticks:
        px = layout.left + (layout.right - layout.left) * tick / (n - 1)
        (xa, ya), (_, yb) = fig_xy(px, layout.tick_top), fig_xy(px, layout.tick_bottom)
        fig.add_artist(Line2D([xa, xa], [ya, yb], color=tick_colour, lw=1.0 * PT, snap=False))
        fig.text(*fig_xy(px, layout.label_y), f"{tick:g}", ha="center", va="center", fontsize=8, color=text_colour)
    for value in spec.grid_values:
        py = layout.top + (layout.bottom - layout.top) * (ylim[1] - value) / (ylim[1] - ylim[0])
        fig.text(*fig_xy(16, py), f"{value:g}", ha="right", va="center", fontsize=8, color=text_colour)
    fig.text(*fig_xy(layout.right - 8, layout.tick_top - 3), "epoch", ha="right", fontsize=8, color=text_colour)
    if title:
        fig.text(*fig_xy(W / 2, 8), title, ha="center", va="center", fontsize=9, color="#333333")
    # legend: swatch, then the label in the series colour, entries spread over the middle of the top row
    px = W * 0.22
    for series in spec.series:
        colour = colours[series.key]
        (xa, y), (xb, _) = fig_xy(px, layout.legend_y), fig_xy(px + 10, layout.legend_y)
        style = {"dashes": (4 * PT, 2 * PT)} if series.dashed else {}
        fig.add_artist(Line2D([xa, xb], [y, y], color=colour, lw=1.75 * PT, solid_capstyle="butt", snap=False, **style))
        label = f"group: {series.group}"
        fig.text(*fig_xy(px + 18, layout.legend_y), label, va="center", fontsize=8, color=colour)
        px += 24 + 6.5 * len(label) + 30
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba(), dtype=float)
    return rgba[..., :3] * rgba[..., 3:] / 255.0 + 255.0 * (1 - rgba[..., 3:] / 255.0)


# RC2020's legend colours and drawing order (as digitiser.chart finds them in acc.png / loss.png)
RC2020_COLOURS = {"triplet": "#da4c4c", "cbam": "#c565c7", "se": "#229487", "eca": "#da4c4c", "none": "#5387dd"}
RC2020_DRAW_ORDER = ("none", "triplet", "se", "cbam", "eca")
RC2020_YLIM = {"top1": (40.0, 80.0), "loss": (0.5, 1.58)}


def rc2020_like_errors(metric: str, seed: int = 0):
    """Render an RC2020-like chart with known curves, digitise it; per (mechanism, epoch) the signed errors.

    Returns a DataFrame with columns mechanism, epoch, read_out, err_mean, err_low, err_high (read - true,
    axis units).
    """
    import pandas as pd

    from .chart import digitise_chart
    from .rc2020 import chart_spec

    spec = chart_spec(metric)
    keys = [s.key for s in spec.series]
    curves = wandb_like_curves("acc" if metric == "top1" else "loss", keys, spec.n_points, seed)
    rgb = render_wandb_like(curves, spec, RC2020_COLOURS, RC2020_YLIM[metric], RC2020_DRAW_ORDER)
    points = digitise_chart(rgb, spec).points
    rows = []
    for key in keys:
        got = points[points["series"] == key]
        mean, half = curves[key]
        rows.append(
            pd.DataFrame(
                {
                    "mechanism": key,
                    "epoch": got["point"].to_numpy(),
                    "read_out": got["mean_source"].to_numpy(),
                    "err_mean": got["mean"].to_numpy() - mean,
                    "err_low": got["band_low"].to_numpy() - (mean - half),
                    "err_high": got["band_high"].to_numpy() - (mean + half),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)
