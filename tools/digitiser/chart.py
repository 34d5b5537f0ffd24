"""Digitise W&B line charts with shaded bands, such as RC2020's CIFAR-10 training curves.

The 2020 reproduction (github.com/digantamisra98/Reproducibilty-Challenge-ECANET, ``figures/acc.png`` and
``figures/loss.png``) shows its curves as Weights & Biases chart exports: per run group an opaque polyline
(the mean over runs) over a translucent band of the same colour, light grey horizontal grid lines, tick marks
above the x tick labels, and a legend with a line swatch per group. ``digitise_chart`` turns such a picture
into numbers and takes every calibration from the picture itself; what it is told is only what the figure's
text says (the grid lines' values, the tick labels' values, the groups in legend order and which is dashed).

1. Legend: swatches are the thin (at most 3 px tall) coloured marks of the topmost band of coloured pixels;
   one made of several pieces is dashed. A swatch's core colour is its series' colour.
2. Axes: a grid row is darker than the rows two above and two below by a grey amount (equal in R, G and B),
   which stays true under translucent bands; its sub-pixel row is the darkness-weighted mean. A least-squares
   line through the known grid values gives value(row). The x of every point comes from the tick marks above
   the x tick labels (sub-pixel centres, straight-line fit against the label values).
3. Colour model: each band is an "over" composite of its series' colour with one opacity ``alpha``, drawn just
   before its series' line, series after series. ``alpha`` is the most common single-band tint and the drawing
   order the one whose composites explain most of the picture's colours. A pixel is then a *plateau* (a set
   of covering bands), a *line pixel* (a line of one colour covering a fraction f >= 0.3 of it, between the bands
   drawn before and after that line) or unknown (crossings, markers, text).
4. Lines: between two consecutive points every line is straight. In each such segment a Hough transform finds
   the lines of each colour among its line pixels, refined by a total-least-squares fit; columns next to the
   points (and the end markers) are left out. The fraction of the visible length a line covers tells dashed
   (regular gaps) from solid; where several series share a colour (the solid Triplet and dashed ECA reds), a
   Viterbi pass over the segments chooses the assignment that joins consecutive segments at their shared point
   and agrees with the dash styles. A series hidden in a segment (under other lines) is left unassigned there.
5. Bands: down each column, runs of one band set are plateaus; the anti-aliased pixels between two plateaus
   give the sub-pixel position of the band edges that differ between them. An edge hidden under a line gives no
   sample. Per segment and colour, the upper and lower band edges are straight lines fitted to these samples;
   each series' band must contain its own line, which with continuity pairs the edges of same-coloured bands.
6. A point's reading is the mean of the segment to its left and the segment to its right (their difference is
   kept as a consistency measure); a point seen by neither is interpolated between read points and flagged,
   or left NaN before the first / after the last read point (no extrapolation).

Pixel coordinates are pixel centres (row ``y``, column ``x`` of the array); values grow upwards.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

LINE_MIN_COVERAGE = 0.3  # a pixel counts as a line pixel when the line covers at least this fraction of it
BAND_TOL = 3.5  # max channel difference (0-255) between a pixel and a modelled plateau colour
LINE_TOL = 4.0  # same for line pixels
MIX_TOL = 4.0  # same for an anti-aliased pixel between two plateaus
POINT_MARGIN = 2.0  # px left out next to every point when fitting a segment
END_MARKER_MARGIN = 5.0  # px left out before the last point (W&B marks it with a dot)
DASHED_MAX_COVERAGE = 0.88  # dashed lines cover about 0.8 of their visible length (W&B: 0.7-0.9)
SOLID_MIN_COVERAGE = 0.97  # solid ones all of it


@dataclass(frozen=True)
class Series:
    """One chart series: a short key, the legend's group name, and whether its line is dashed."""

    key: str
    group: str
    dashed: bool = False


@dataclass(frozen=True)
class ChartSpec:
    """What the figure states in text: series in legend order, grid values top to bottom, x tick values."""

    series: tuple[Series, ...]
    grid_values: tuple[float, ...]
    x_ticks: tuple[float, ...]
    n_points: int  # points per series, at x = 0, 1, ..., n_points - 1


@dataclass
class Swatch:
    """A legend swatch: columns, row, core colour, number of pieces (more than one: dashed), label colour."""

    x0: int
    x1: int
    y: float
    colour: tuple[float, float, float]
    pieces: int
    text_colour: tuple[float, float, float] | None = None

    @property
    def dashed(self) -> bool:
        return self.pieces > 1


@dataclass
class ChartReading:
    """The result of :func:`digitise_chart`: one row per series and point, plus what was found on the way."""

    points: object  # pandas DataFrame
    calibration: dict
    legend: list[dict]
    colour_model: dict
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- picture basics


def read_rgb(path) -> np.ndarray:
    """The picture as float RGB (H, W, 3) in 0..255, transparent pixels composited over white."""
    from PIL import Image

    with Image.open(path) as image:
        rgba = np.asarray(image.convert("RGBA"), dtype=float)
    alpha = rgba[..., 3:] / 255.0
    return rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)


def _chroma(rgb: np.ndarray) -> np.ndarray:
    return rgb.max(axis=-1) - rgb.min(axis=-1)


def _blocks(indices: np.ndarray, gap: int = 1) -> list[np.ndarray]:
    """Split sorted integers into runs whose steps are at most ``gap``."""
    if indices.size == 0:
        return []
    return np.split(indices, np.flatnonzero(np.diff(indices) > gap) + 1)


def _core_colour(pixels: np.ndarray, frac: float = 0.95) -> tuple[float, float, float]:
    """Median colour of the most saturated pixels (the fully covered core of an anti-aliased mark)."""
    chroma = _chroma(pixels)
    core = pixels[chroma >= frac * chroma.max()]
    return tuple(float(v) for v in np.median(core, axis=0))


def hue_name(colour) -> str:
    """Coarse hue name of an RGB colour (red, orange, yellow, green, teal, blue, purple, magenta; grey)."""
    import colorsys

    r, g, b = (float(c) / 255.0 for c in colour)
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    if s < 0.2:
        return "grey"
    deg = h * 360.0
    for limit, name in ((15, "red"), (45, "orange"), (70, "yellow"), (150, "green"), (195, "teal"), (255, "blue")):
        if deg < limit:
            return name
    return "purple" if deg < 285 else "magenta" if deg < 335 else "red"


# ---------------------------------------------------------------------------------------------- legend and axes


def find_legend(rgb: np.ndarray, min_chroma: float = 60.0) -> list[Swatch]:
    """Swatches of the legend (the topmost band of coloured rows), left to right."""
    sat = _chroma(rgb) > min_chroma
    rows = np.flatnonzero(sat.any(axis=1))
    if rows.size == 0:
        raise ValueError("no coloured pixels: no legend")
    block = _blocks(rows)[0]
    y0, y1 = int(block[0]), int(block[-1])
    band = sat[y0 : y1 + 1]
    marks = []  # runs of coloured columns at most 3 rows tall and at least 3 columns wide (text is taller)
    for cols in _blocks(np.flatnonzero(band.any(axis=0))):
        r = np.flatnonzero(band[:, cols].any(axis=1))
        if r[-1] - r[0] < 3 and cols.size >= 3:
            marks.append((int(cols[0]), int(cols[-1]) + 1, y0 + (r[0] + r[-1]) / 2.0))
    if not marks:
        raise ValueError("no legend swatches found")
    row = float(np.median([m[2] for m in marks]))
    marks = sorted(m for m in marks if abs(m[2] - row) <= 1.0)
    groups: list[list[tuple]] = []
    for mark in marks:
        if groups and mark[0] - groups[-1][-1][1] <= 3:
            groups[-1].append(mark)
        else:
            groups.append([mark])
    swatches = []
    for group in groups:
        x0, x1 = group[0][0], group[-1][1]
        box = rgb[y0 : y1 + 1, x0:x1]
        pixels = box[sat[y0 : y1 + 1, x0:x1]]
        swatches.append(Swatch(x0, x1 - 1, float(np.mean([m[2] for m in group])), _core_colour(pixels), len(group)))
    for i, swatch in enumerate(swatches):
        end = swatches[i + 1].x0 if i + 1 < len(swatches) else rgb.shape[1]
        text = rgb[y0 : y1 + 1, swatch.x1 + 1 : end]
        text_sat = sat[y0 : y1 + 1, swatch.x1 + 1 : end]
        if text_sat.any():
            swatch.text_colour = _core_colour(text[text_sat], 0.9)
    return swatches


def find_grid_rows(rgb: np.ndarray, n: int, y_min: int, y_max: int, x_min: int, x_max: int) -> np.ndarray:
    """Sub-pixel rows of the ``n`` horizontal grid lines between ``y_min`` and ``y_max``, top to bottom.

    A grid pixel is darker than the pixels two rows above and below by a grey amount; under a translucent band
    the difference is scaled but stays grey. The rows where most columns show this are the grid lines.
    """
    sub = rgb[:, x_min:x_max]
    centre, up, down = sub[2:-2], sub[:-4], sub[4:]
    dip = (up + down) / 2.0 - centre
    depth = dip.mean(axis=-1)
    grey = (np.ptp(dip, axis=-1) <= 2.0) & (depth >= 1.0) & (depth <= 40.0) & (np.abs(up - down).max(axis=-1) <= 2.0)
    score = np.zeros(rgb.shape[0])
    score[2:-2] = grey.sum(axis=1)
    score[: max(y_min, 0)] = 0
    score[y_max:] = 0
    width = x_max - x_min
    candidates = _blocks(np.flatnonzero(score >= 0.2 * width))
    if len(candidates) < n:
        raise ValueError(f"found {len(candidates)} grid lines, expected {n}")
    candidates = sorted(candidates, key=lambda rows: -score[rows].max())[:n]
    weight = np.zeros(rgb.shape[0])
    weight[2:-2] = np.where(grey, depth, 0.0).sum(axis=1)
    found = []
    for rows in candidates:
        window = np.arange(rows[0] - 1, rows[-1] + 2)
        w = weight[window]
        found.append(float((window * w).sum() / w.sum()))
    return np.array(sorted(found))


def find_x_ticks(rgb: np.ndarray, n: int, below_row: float) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel x of the ``n`` tick marks above the x tick labels (and the labels' box centres).

    The labels are the bottom-most rows of dark text below ``below_row``; a tick mark is the thin light vertical
    mark right above a label, its x the darkness-weighted mean over the rows where it stands on white.
    """
    top = int(np.ceil(below_row)) + 2
    dark = rgb[top:].mean(axis=-1) < 160
    rows = np.flatnonzero(dark.any(axis=1))
    if rows.size == 0:
        raise ValueError("no x tick labels found")
    label_rows = _blocks(rows)[-1] + top
    r0, r1 = int(label_rows[0]), int(label_rows[-1])
    cols = np.flatnonzero((rgb[r0 : r1 + 1].mean(axis=-1) < 160).any(axis=0))
    labels = [(c[0] + c[-1]) / 2.0 for c in _blocks(cols, gap=6)]
    if len(labels) != n:
        raise ValueError(f"found {len(labels)} x tick labels, expected {n}")
    ticks = []
    for centre in labels:
        c0, c1 = int(round(centre)) - 8, int(round(centre)) + 9
        darkness = 255.0 - rgb[top : r0 - 2, c0:c1].mean(axis=-1)
        thin = (darkness > 1.0).sum(axis=1) <= 3
        clean = (darkness[:, 0] < 0.5) & (darkness[:, -1] < 0.5) & (darkness.max(axis=1) > 2.0) & thin
        if not clean.any():
            raise ValueError(f"no tick mark above the x tick label at x={centre}")
        profile = darkness[clean].sum(axis=0)
        ticks.append(float((np.arange(c0, c1) * profile).sum() / profile.sum()))
    return np.array(ticks), np.array(labels)


def _linear_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares y = a + b x; returns (a, b, max |residual|)."""
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b), float(np.abs(y - (a + b * x)).max())


# ---------------------------------------------------------------------------------------------- colour model


def _over(colour: np.ndarray, layers, colours: np.ndarray, alpha: float) -> np.ndarray:
    for s in layers:
        colour = (1.0 - alpha) * colour + alpha * colours[s]
    return colour


def estimate_band_alpha(pixels: np.ndarray, colours: np.ndarray) -> float:
    """The most common opacity of a single band over white, from pixels (N, 3) and series colours."""
    depth = 255.0 - colours  # (S, 3)
    dark = 255.0 - pixels  # (N, 3)
    a = (dark @ depth.T) / (depth * depth).sum(axis=1)  # (N, S) best opacity per colour
    model = 255.0 - a[..., None] * depth[None]
    ok = (np.abs(model - pixels[:, None]).max(axis=-1) <= 1.5) & (a > 0.02) & (a < 0.6)
    values = a[ok]
    if values.size == 0:
        raise ValueError("no single-band tints found")
    hist, edges = np.histogram(values, bins=np.arange(0.02, 0.6, 0.0025))
    mode = (edges[hist.argmax()] + edges[hist.argmax() + 1]) / 2
    return float(values[np.abs(values - mode) <= 0.01].mean())


def _palette(base: np.ndarray, colours: np.ndarray, order: tuple[int, ...], alpha: float):
    """Model colours over one background: plateaus (one per band set) and line entries (A + f B, f in 0..1).

    Returns (plateau colours (P, 3), plateau band sets (P, S) bool, line A (L, 3), line B (L, 3), line series (L,)).
    """
    n = len(order)
    plateau, plateau_sets, line_a, line_b, line_series = [], [], [], [], []
    for bits in itertools.product((False, True), repeat=n):
        drawn = [order[i] for i in range(n) if bits[i]]
        plateau.append(_over(base.copy(), drawn, colours, alpha))
        members = np.zeros(n, bool)
        members[drawn] = True
        plateau_sets.append(members)
        for j, s in enumerate(order):
            before = [order[i] for i in range(j + 1) if bits[i]]
            after = [order[i] for i in range(j + 1, n) if bits[i]]
            a0 = _over(_over(base.copy(), before, colours, alpha), after, colours, alpha)
            a1 = _over(colours[s].copy(), after, colours, alpha)
            line_a.append(a0)
            line_b.append(a1 - a0)
            line_series.append(s)
    return (np.array(plateau), np.array(plateau_sets), np.array(line_a), np.array(line_b), np.array(line_series))


def _unique_colours(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keys = np.round(pixels).astype(np.int64)
    keys = (keys[..., 0] << 16) | (keys[..., 1] << 8) | keys[..., 2]
    uniq, inverse, counts = np.unique(keys.ravel(), return_inverse=True, return_counts=True)
    colours = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=-1).astype(float)
    return colours, inverse.reshape(pixels.shape[:-1]), counts


def _explain(colours: np.ndarray, palette) -> dict:
    """Best plateau and best line entry (coverage >= LINE_MIN_COVERAGE) of each colour, with residuals."""
    plateau, _, line_a, line_b, line_series = palette
    d_plateau = np.abs(colours[:, None] - plateau[None]).max(axis=-1)
    best_plateau = d_plateau.argmin(axis=1)
    diff = colours[:, None] - line_a[None]
    bb = (line_b * line_b).sum(axis=1)
    f = np.clip((diff * line_b[None]).sum(axis=-1) / np.where(bb > 0, bb, 1.0), 0.0, 1.0)
    d_line = np.abs(diff - f[..., None] * line_b[None]).max(axis=-1)
    best_faint = d_line.argmin(axis=1)
    rows = np.arange(len(colours))
    faint_res = d_line[rows, best_faint]
    d_line = np.where(f >= LINE_MIN_COVERAGE, d_line, np.inf)
    best_line = d_line.argmin(axis=1)
    return {
        "plateau": best_plateau,
        "plateau_res": d_plateau[rows, best_plateau],
        "line_series": line_series[best_line],
        "line_f": f[rows, best_line],
        "line_res": d_line[rows, best_line],
        "faint_series": line_series[best_faint],
        "faint_f": f[rows, best_faint],
        "faint_res": faint_res,
    }


def estimate_draw_order(colours_u: np.ndarray, counts: np.ndarray, colours: np.ndarray, alpha: float):
    """The drawing order (band then line, series after series) whose model explains most of the colours."""
    n = len(colours)
    seen, best = set(), None
    for order in itertools.permutations(range(n)):
        signature = tuple(tuple(colours[s]) for s in order)
        if signature in seen:  # same-coloured series are interchangeable here
            continue
        seen.add(signature)
        palette = _palette(np.full(3, 255.0), colours, order, alpha)
        plateau, _, line_a, line_b, _ = palette
        model = np.concatenate([plateau, line_a + line_b])  # plateaus and fully covered line pixels
        d = np.abs(colours_u[:, None] - model[None]).max(axis=-1).min(axis=1)
        score = float(counts[d <= 2.0].sum())
        if best is None or score > best[0]:
            best = (score, order)
    return best[1], best[0] / float(counts.sum())


# ---------------------------------------------------------------------------------------------- pixel classes


@dataclass
class _Classified:
    """Per-pixel classes of the plot area (rows y0.., columns x0..)."""

    y0: int
    x0: int
    plateau: np.ndarray  # band-set index per pixel, -1 where not a plateau
    sets: np.ndarray  # (P, S) band sets of the plateau indices
    line: np.ndarray  # colour class of the line pixel (coverage >= LINE_MIN_COVERAGE), -1 where none
    line_f: np.ndarray  # coverage of that line pixel
    faint: np.ndarray  # colour class of the best line explanation at any coverage (line edges), -1 where none
    faint_f: np.ndarray  # its coverage
    rgb: np.ndarray  # the plot area's pixels


def _row_backgrounds(rgb: np.ndarray) -> np.ndarray:
    """Per row, the colour under everything: white, or the grid line's grey (the commonest grey of the row)."""
    backgrounds = np.full((rgb.shape[0], 3), 255.0)
    for y in range(rgb.shape[0]):
        row = rgb[y]
        grey = row[(_chroma(row) <= 2.0) & (row.mean(axis=-1) >= 200.0)]
        if grey.size:
            values, counts = np.unique(np.round(grey), axis=0, return_counts=True)
            backgrounds[y] = values[counts.argmax()]
    return backgrounds


def _classify(rgb, y0, y1, x0, x1, colours, classes, order, alpha) -> _Classified:
    area = rgb[y0:y1, x0:x1]
    backgrounds = _row_backgrounds(area)
    plateau = np.full(area.shape[:2], -1)
    line = np.full(area.shape[:2], -1)
    line_f = np.zeros(area.shape[:2])
    faint = np.full(area.shape[:2], -1)
    faint_f = np.zeros(area.shape[:2])
    sets = None
    for base in np.unique(backgrounds, axis=0):
        rows = np.flatnonzero((backgrounds == base).all(axis=1))
        palette = _palette(base, colours, order, alpha)
        sets = palette[1]
        uniq, inverse, _ = _unique_colours(area[rows])
        e = _explain(uniq, palette)
        is_plateau = e["plateau_res"] <= BAND_TOL
        is_line = ~is_plateau & (e["line_res"] <= LINE_TOL)
        plateau[rows] = np.where(is_plateau, e["plateau"], -1)[inverse]
        line[rows] = np.where(is_line, classes[e["line_series"]], -1)[inverse]
        line_f[rows] = np.where(is_line, e["line_f"], 0.0)[inverse]
        is_faint = ~is_plateau & (e["faint_res"] <= LINE_TOL)
        faint[rows] = np.where(is_faint, classes[e["faint_series"]], -1)[inverse]
        faint_f[rows] = np.where(is_faint, e["faint_f"], 0.0)[inverse]
    return _Classified(y0, x0, plateau, sets, line, line_f, faint, faint_f, area)


# ---------------------------------------------------------------------------------------------- band edges


def _class_counts(cl: _Classified, classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Per pixel and colour class, how many bands of that colour cover it (-1 where not a plateau)."""
    per_set = np.zeros((len(cl.sets), n_classes), int)
    for c in range(n_classes):
        per_set[:, c] = cl.sets[:, classes == c].sum(axis=1)
    counts = per_set[np.maximum(cl.plateau, 0)]
    counts[cl.plateau < 0] = -1
    return counts


def _edge_samples(cl: _Classified, counts: np.ndarray, n_classes: int) -> list[np.ndarray]:
    """Sub-pixel band-edge samples, per colour class, along every column and every row.

    A scan line is cut into plateaus (runs of one band set; a one-pixel run lying on the mixture of its
    neighbours is an anti-aliased pixel). Between two plateaus whose band counts differ, the pixels in
    between must be mixtures of the two plateau colours; their fractions give the edge's sub-pixel position
    (where a column meets a straight edge, the covered area equals the distance). Edges next to line or
    unknown pixels are hidden and give no sample. Columns give good samples of flat edges, rows of steep ones.
    Returns per class an array of (x, y, number of bands that change).
    """
    out = [[] for _ in range(n_classes)]
    for transpose in (False, True):
        ids = cl.plateau.T if transpose else cl.plateau
        pixels = cl.rgb.transpose(1, 0, 2) if transpose else cl.rgb
        lines = cl.line.T if transpose else cl.line
        cnt = counts.transpose(1, 0, 2) if transpose else counts
        for i in range(ids.shape[1]):
            col = ids[:, i]
            change = np.flatnonzero(np.diff(col)) + 1
            starts = np.concatenate([[0], change])
            stops = np.concatenate([change, [col.size]]) - 1
            keep = col[starts] >= 0
            runs = list(zip(starts[keep], stops[keep], col[starts[keep]]))
            kept = []
            for j, run in enumerate(runs):
                if run[0] == run[1] and 0 < j < len(runs) - 1 and runs[j - 1][2] != runs[j + 1][2]:
                    a, b = pixels[runs[j - 1][1], i], pixels[runs[j + 1][0], i]
                    if _mix_residual(pixels[run[0], i], a, b)[0] <= MIX_TOL:
                        continue
                kept.append(run)
            for prev, nxt in zip(kept[:-1], kept[1:]):
                ya, yb = prev[1], nxt[0]
                delta = cnt[yb, i] - cnt[ya, i]
                if not delta.any():
                    continue
                a, b = pixels[ya, i], pixels[yb, i]
                pos = ya + 0.5
                for y in range(ya + 1, yb):
                    res, f = _mix_residual(pixels[y, i], a, b)
                    if res > MIX_TOL or lines[y, i] >= 0:
                        pos = np.nan
                        break
                    pos += 1.0 - f
                if np.isnan(pos):
                    continue
                along = pos + (cl.x0 if transpose else cl.y0)
                across = i + (cl.y0 if transpose else cl.x0)
                for c in np.flatnonzero(delta):
                    out[c].append(
                        (along, across, abs(int(delta[c]))) if transpose else (across, along, abs(int(delta[c])))
                    )
    return [np.array(v, float).reshape(-1, 3) for v in out]


def _mix_residual(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """How far ``p`` is from the segment a-b (max channel difference) and its fraction f towards b."""
    d = b - a
    dd = float(d @ d)
    f = 0.0 if dd == 0 else float(np.clip((p - a) @ d / dd, 0.0, 1.0))
    return float(np.abs(p - a - f * d).max()), f


# ---------------------------------------------------------------------------------------------- straight pieces


def _hough_line(x: np.ndarray, y: np.ndarray, w: np.ndarray, xc: float):
    """Strongest straight line through weighted points (Hough transform: 0.5 degree bins, 3 px wide rho window).

    Returns a point on the line and its unit direction.
    """
    theta = np.deg2rad(np.arange(-90.0, 90.0, 0.5))
    rho = (x - xc)[:, None] * np.cos(theta)[None] + y[:, None] * np.sin(theta)[None]
    r0 = np.floor(rho.min()) - 2
    low = np.floor(rho - r0).astype(int)
    frac = rho - r0 - low
    n_rho = int(low.max()) + 3
    rows = np.arange(len(theta))[None, :] * n_rho
    weights = np.repeat(w, len(theta)).reshape(rho.shape)
    size = len(theta) * n_rho
    acc = np.bincount((rows + low).ravel(), (weights * (1 - frac)).ravel(), size)
    acc += np.bincount((rows + low + 1).ravel(), (weights * frac).ravel(), size)
    acc = acc.reshape(len(theta), n_rho)
    window = acc[:, :-2] + acc[:, 1:-1] + acc[:, 2:]
    i, j = np.unravel_index(window.argmax(), window.shape)
    normal = np.array([np.cos(theta[i]), np.sin(theta[i])])
    return np.array([xc, 0.0]) + (j + 1 + r0) * normal, np.array([-normal[1], normal[0]])


def _tls(x, y, w, point, direction, tol, rounds=3):
    """Weighted total-least-squares refinement of a line using the points within ``tol`` px of it."""
    inliers = np.zeros(len(x), bool)
    for _ in range(rounds):
        normal = np.array([-direction[1], direction[0]])
        dist = np.abs((x - point[0]) * normal[0] + (y - point[1]) * normal[1])
        inliers = dist <= tol
        if inliers.sum() < 3:
            break
        ww = w[inliers]
        pts = np.stack([x[inliers], y[inliers]], axis=1)
        point = (pts * ww[:, None]).sum(0) / ww.sum()
        cov = ((pts - point) * ww[:, None]).T @ (pts - point)
        direction = np.linalg.eigh(cov)[1][:, -1]
    return point, direction, inliers


def _y_at(point, direction, x):
    if abs(direction[0]) < 1e-9:
        return np.nan
    return point[1] + (x - point[0]) * direction[1] / direction[0]


@dataclass
class _Piece:
    """A straight piece found in one segment: y at its left and right points, its samples and quality."""

    yl: float
    yr: float
    x: np.ndarray  # samples (pixels of a line, or column readings of a band edge) ...
    y: np.ndarray
    w: np.ndarray  # ... and their weights
    coverage: float = 1.0
    support: float = 0.0
    multiplicity: float = 1.0

    def at(self, t):
        return self.yl + (self.yr - self.yl) * t


def _line_pieces(cl: _Classified, klass: int, xl: float, xr: float, margin_r: float, n_max: int) -> list[_Piece]:
    """Straight lines of one colour class between the points at columns xl and xr."""
    c0 = int(np.ceil(xl + POINT_MARGIN)) - cl.x0
    c1 = int(np.floor(xr - margin_r)) - cl.x0
    if c1 < c0:
        return []
    sub = cl.line[:, c0 : c1 + 1] == klass
    ys, xs = np.nonzero(sub)
    if xs.size < 4:
        return []
    w = cl.line_f[:, c0 : c1 + 1][sub]
    xs = xs + c0 + cl.x0
    ys = ys + cl.y0
    pieces, lines = [], []
    found = _peeled_lines(xs, ys, w, (xl + xr) / 2, n_max, min_points=4, tol=1.5, drop=2.0, stop_at_bad=True)
    for point, direction, _, (x, y, ww) in found:
        coverage, support, visible = _coverage(cl, klass, point, direction, xl + POINT_MARGIN, xr - margin_r)
        if support < 6.0 or coverage < 0.3 or visible < 0.25:
            continue
        lines.append((point, direction))
        pieces.append(_Piece(_y_at(point, direction, xl), _y_at(point, direction, xr), x, y, ww, coverage, support))
    for i, piece in enumerate(pieces):  # keep the pixels of each line that lie clear of the others
        point, direction = lines[i]
        keep = _distance(xs, ys, point, direction) <= 1.5
        for j, other in enumerate(pieces):
            if j != i and abs(other.yl - piece.yl) + abs(other.yr - piece.yr) > 3.0:
                keep &= _distance(xs, ys, *lines[j]) > 1.5
        piece.x, piece.y, piece.w = xs[keep], ys[keep], w[keep]
    return pieces


def _peeled_lines(x, y, w, centre: float, n_max: int, min_points: int, tol: float, drop: float, stop_at_bad: bool):
    """Lines found one after another among weighted points: a Hough estimate refined by total least squares
    (``tol`` px), then the points within ``drop`` px of it are set aside for the next. Yields
    ``(point, direction, inliers, (x, y, w) searched)``; a line with fewer than ``min_points`` inliers, or
    vertical, ends the search (``stop_at_bad``) or is skipped."""
    remaining = np.ones(x.size, bool)
    for _ in range(n_max):
        if remaining.sum() < min_points:
            return
        xx, yy, ww = x[remaining], y[remaining], w[remaining]
        point, direction = _hough_line(xx, yy, ww, centre)
        point, direction, inl = _tls(xx, yy, ww, point, direction, tol=tol)
        bad = inl.sum() < min_points or abs(direction[0]) < 1e-6
        if bad and stop_at_bad:
            return
        remaining &= _distance(x, y, point, direction) > drop
        if not bad:
            yield point, direction, inl, (xx, yy, ww)


def _distance(x, y, point, direction):
    return np.abs((x - point[0]) * direction[1] - (y - point[1]) * direction[0])


def _coverage(cl: _Classified, klass: int, point, direction, xa: float, xb: float):
    """Fraction of a line's visible length that its colour covers; support (px); visible fraction.

    Every 0.5 px along the line, the strongest coverage of a pixel of that colour within 1 px across the line
    is read. A position is covered when it is at least one half, a gap when it is less and all those pixels are
    band plateaus or faint pixels of the line's colour (a dash end), and not visible otherwise (another line).
    """
    length = (xb - xa) / abs(direction[0])
    s = np.arange(0.0, length, 0.5)
    x = xa + s * abs(direction[0])
    y = _y_at(point, direction, x)
    normal = np.array([-direction[1], direction[0]])
    strength = np.zeros(s.size)
    visible = np.ones(s.size, bool)
    h, w = cl.line.shape
    for d in (-1.0, -0.5, 0.0, 0.5, 1.0):
        r = np.round(y + d * normal[1]).astype(int) - cl.y0
        c = np.round(x + d * normal[0]).astype(int) - cl.x0
        ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        r, c = np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)
        mine = ok & (cl.faint[r, c] == klass)
        strength = np.maximum(strength, np.where(mine, cl.faint_f[r, c], 0.0))
        visible &= ok & (mine | (cl.plateau[r, c] >= 0))
    hit = strength >= 0.5
    gap = ~hit & visible
    seen = hit.sum() + gap.sum()
    coverage = hit.sum() / seen if seen else 0.0
    return float(coverage), float(hit.sum() * 0.5), float(seen / max(s.size, 1))


def _edge_pieces(samples, counts, klass, cl, xl: float, xr: float, n_max: int) -> tuple[list, list]:
    """Straight band edges of one colour between two points: (upper edges, lower edges).

    Lines are found among the edge samples (Hough, then total least squares on the samples within 1.2 px);
    a line is an upper edge where the plateaus just below it hold more bands of the colour than just above,
    a lower edge where they hold fewer; the difference is its multiplicity (2: both bands' edges coincide).
    """
    sel = (samples[:, 0] >= xl + POINT_MARGIN) & (samples[:, 0] <= xr - POINT_MARGIN)
    x, y, k = samples[sel, 0], samples[sel, 1], samples[sel, 2]
    tops, bottoms = [], []
    found = _peeled_lines(x, y, k, (xl + xr) / 2, n_max, min_points=3, tol=1.2, drop=1.5, stop_at_bad=False)
    for point, direction, inl, (xx, yy, kk) in found:
        along = (xx[inl] - point[0]) * direction[0] + (yy[inl] - point[1]) * direction[1]
        if np.ptp(along) * abs(direction[0]) < 0.2 * (xr - xl):
            continue
        side = _side_counts(counts, klass, cl, point, direction, xl + POINT_MARGIN, xr - POINT_MARGIN)
        if side is None:
            continue
        piece = _Piece(_y_at(point, direction, xl), _y_at(point, direction, xr), xx[inl], yy[inl], kk[inl])
        piece.support = float(inl.sum())
        piece.multiplicity = abs(side)
        (tops if side > 0 else bottoms).append(piece)
    return tops, bottoms


def _side_counts(counts, klass, cl, point, direction, xa, xb) -> float | None:
    """Median (bands below - bands above) of one colour, a few px on either side of a line; None if unclear."""
    diffs = []
    for x in np.linspace(xa, xb, 9):
        y = _y_at(point, direction, x)
        c = int(round(x)) - cl.x0
        if not 0 <= c < counts.shape[1]:
            continue
        for d in (2, 3, 4):
            r_up, r_dn = int(round(y - d)) - cl.y0, int(round(y + d)) - cl.y0
            if 0 <= r_up and r_dn < counts.shape[0] and counts[r_up, c, klass] >= 0 and counts[r_dn, c, klass] >= 0:
                diffs.append(counts[r_dn, c, klass] - counts[r_up, c, klass])
                break
    if len(diffs) < 3:
        return None
    med = float(np.median(diffs))
    if med == 0 or np.mean(np.sign(diffs) == np.sign(med)) < 0.6:
        return None
    return med


# ---------------------------------------------------------------------------------------------- assignment


def _viterbi(costs: list[np.ndarray], ends: list[np.ndarray], starts: list[np.ndarray]) -> list[int]:
    """Cheapest path through per-segment states.

    ``costs[k]`` are the states' own costs; ``ends[k]`` / ``starts[k]`` (states x values) the heights each state
    gives at the segment's right / left point (NaN: nothing). Consecutive states pay min((gap / 1.5)^2, 16) for
    every height that both give at their shared point.
    """
    best, back = [costs[0]], []
    for k in range(1, len(costs)):
        gap = ends[k - 1][None, :, :] - starts[k][:, None, :]  # (next, previous, values)
        link = np.where(np.isnan(gap), 0.0, np.minimum((gap / 1.5) ** 2, 16.0)).sum(axis=-1)
        total = link + best[-1][None, :]
        back.append(total.argmin(axis=1))
        best.append(total.min(axis=1) + costs[k])
    path = [int(best[-1].argmin())]
    for k in range(len(costs) - 2, -1, -1):
        path.append(int(back[k][path[-1]]))
    return path[::-1]


def _heights(pieces: list[_Piece], choice: tuple, attr: str) -> list[float]:
    return [np.nan if c is None else getattr(pieces[c], attr) for c in choice]


def _assign_lines(pieces: list[list[_Piece]], dashed: list[bool]) -> list[tuple]:
    """Choice, per segment, of a line piece (or none) for every series of one colour (Viterbi, continuity).

    A piece costs nothing for a series with a colour of its own; where a solid and a dashed series share the
    colour, a piece costs what its coverage is away from the series' style. A series without a piece pays 2,
    two series on one piece (overlapping lines; gap-free pieces only) pay 0.5.
    """
    n = len(dashed)

    def style(i, piece):
        if n == 1:
            return 0.0
        if dashed[i]:
            return max(0.0, piece.coverage - DASHED_MAX_COVERAGE) * 30.0
        return max(0.0, SOLID_MIN_COVERAGE - piece.coverage) * 30.0

    states, costs, ends, starts = [], [], [], []
    for segment in pieces:
        seg_states, seg_costs = [], []
        for choice in itertools.product([None, *range(len(segment))], repeat=n):
            used = [c for c in choice if c is not None]
            shared = len(used) - len(set(used))
            if shared and any(segment[c].coverage < SOLID_MIN_COVERAGE for c in used):
                continue
            seg_states.append(choice)
            seg_costs.append(
                sum(2.0 if c is None else style(i, segment[c]) for i, c in enumerate(choice)) + 0.5 * shared
            )
        states.append(seg_states)
        costs.append(np.array(seg_costs))
        ends.append(np.array([_heights(segment, c, "yr") for c in seg_states]))
        starts.append(np.array([_heights(segment, c, "yl") for c in seg_states]))
    path = _viterbi(costs, ends, starts)
    return [states[k][j] for k, j in enumerate(path)]


def _assign_edges(tops: list[list[_Piece]], bottoms: list[list[_Piece]], means: list[list], symmetric: bool):
    """Choice, per segment, of (upper, lower) band-edge pieces (or None) for every series of one colour.

    ``means[k]`` holds each series' line heights at segment k's two points (None where unknown). A band must
    contain its series' line, in symmetric mode be centred on it, and upper edges must lie above lower ones;
    a missing edge costs 2, a detected edge left unused 1, one edge for two series is allowed only where the
    samples show both bands changing there at once; edges must join at the points (Viterbi).
    """
    states, costs, ends, starts = [], [], [], []
    ts = (0.0, 0.5, 1.0)
    for seg_tops, seg_bottoms, seg_means in zip(tops, bottoms, means):
        options = [(a, b) for a in [None, *range(len(seg_tops))] for b in [None, *range(len(seg_bottoms))]]
        seg_states, seg_costs = [], []
        for combo in itertools.product(options, repeat=len(seg_means)):
            cost = 0.0
            for (ti, bi), m in zip(combo, seg_means):
                top = None if ti is None else seg_tops[ti]
                bottom = None if bi is None else seg_bottoms[bi]
                cost += 2.0 * (top is None) + 2.0 * (bottom is None)
                if m is not None:
                    mid = [m[0] + (m[1] - m[0]) * t for t in ts]
                    if top is not None:
                        cost += _penalty(max(top.at(t) - mt for t, mt in zip(ts, mid)), 1.0, 1.5)
                    if bottom is not None:
                        cost += _penalty(max(mt - bottom.at(t) for t, mt in zip(ts, mid)), 1.0, 1.5)
                    if symmetric and top is not None and bottom is not None:
                        asym = max(abs((top.at(t) + bottom.at(t)) / 2 - mt) for t, mt in zip(ts, mid))
                        cost += _penalty(asym, 0.75, 1.0)
                elif top is not None and bottom is not None and any(top.at(t) >= bottom.at(t) for t in ts):
                    cost += 16.0
            for found, index in ((seg_tops, 0), (seg_bottoms, 1)):
                used = [c[index] for c in combo if c[index] is not None]
                for i in range(len(found)):
                    count = used.count(i)
                    cost += 1.0 if count == 0 else 0.0 if count == 1 else 0.5 if found[i].multiplicity >= 1.5 else 16.0
            seg_states.append(combo)
            seg_costs.append(cost)
        states.append(seg_states)
        costs.append(np.array(seg_costs))
        for attr, store in (("yr", ends), ("yl", starts)):
            store.append(
                np.array(
                    [
                        _heights(seg_tops, [c[0] for c in combo], attr)
                        + _heights(seg_bottoms, [c[1] for c in combo], attr)
                        for combo in seg_states
                    ]
                )
            )
    path = _viterbi(costs, ends, starts)
    return [states[k][j] for k, j in enumerate(path)]


def _penalty(excess: float, free: float, scale: float) -> float:
    return min((max(excess - free, 0.0) / scale) ** 2, 16.0)


def _fit_polyline(xs: np.ndarray, samples: list[tuple]) -> np.ndarray:
    """Heights at every point of the polyline best fitting ``samples`` [(segment, x, y, weight), ...].

    Weighted least squares over all segments at once, so a point is constrained by both of its segments;
    NaN at points that no sample's segment touches.
    """
    n = len(xs)
    normal = np.zeros((n, n))
    rhs = np.zeros(n)
    touched = np.zeros(n, bool)
    for k, x, y, w in samples:
        t = (x - xs[k]) / (xs[k + 1] - xs[k])
        basis = np.stack([1.0 - t, t])
        normal[k : k + 2, k : k + 2] += (basis * w) @ basis.T
        rhs[k : k + 2] += (basis * w) @ y
        touched[k : k + 2] = True
    heights = np.full(n, np.nan)
    idx = np.flatnonzero(touched)
    if idx.size:
        block = normal[np.ix_(idx, idx)] + 1e-9 * np.eye(idx.size)
        heights[idx] = np.linalg.solve(block, rhs[idx])
    return heights


def _piece_samples(k: int, piece: _Piece, xs: np.ndarray, transform=None) -> tuple:
    """A piece's samples for :func:`_fit_polyline`, weighted for perpendicular rather than vertical residuals."""
    slope = (piece.yr - piece.yl) / (xs[k + 1] - xs[k])
    y = piece.y if transform is None else transform(piece.x)
    return (k, piece.x, y, piece.w / (1.0 + slope**2))


def _left_right(pieces, chosen_index, n_points) -> np.ndarray:
    """Per point, how much the readings of the segment to its left and to its right differ (px)."""
    left, right = np.full(n_points, np.nan), np.full(n_points, np.nan)
    for k, c in enumerate(chosen_index):
        if c is not None:
            right[k], left[k + 1] = pieces[k][c].yl, pieces[k][c].yr
    return np.abs(left - right)


def _fill(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation over inner NaNs (NaNs before the first / after the last reading stay: no
    extrapolation); returns the filled values and the mask of points not read."""
    missing = np.isnan(values)
    if missing.all():
        raise ValueError("nothing read for a series")
    idx = np.arange(values.size)
    read = idx[~missing]
    inner = missing & (idx > read[0]) & (idx < read[-1])
    filled = values.copy()
    filled[inner] = np.interp(idx[inner], read, values[~missing])
    return filled, missing


def _interp_at(heights: np.ndarray, xs: np.ndarray, k: int, x: np.ndarray) -> np.ndarray:
    t = (x - xs[k]) / (xs[k + 1] - xs[k])
    return heights[k] + (heights[k + 1] - heights[k]) * t


# ---------------------------------------------------------------------------------------------- the digitiser


@dataclass
class _SeriesPx:
    """One series' readings in pixels (NaN: not read)."""

    mean: np.ndarray
    mean_lr: np.ndarray
    coverage: float
    top: np.ndarray | None = None
    bottom: np.ndarray | None = None
    top_lr: np.ndarray | None = None
    bottom_lr: np.ndarray | None = None
    mean_from_band: np.ndarray | None = None


def _read_lines(cl, classes, spec, xs) -> dict[int, _SeriesPx]:
    out = {}
    n_seg = len(xs) - 1
    for k in range(classes.max() + 1):
        members = list(np.flatnonzero(classes == k))
        dashed = [spec.series[i].dashed for i in members]
        pieces = []
        for seg in range(n_seg):
            margin_r = END_MARKER_MARGIN if seg == n_seg - 1 else POINT_MARGIN
            pieces.append(_line_pieces(cl, k, xs[seg], xs[seg + 1], margin_r, n_max=len(members) + 1))
        chosen = _assign_lines(pieces, dashed)
        for i, s in enumerate(members):
            mine = [(seg, pieces[seg][c[i]]) for seg, c in enumerate(chosen) if c[i] is not None]
            heights = _fit_polyline(xs, [_piece_samples(seg, p, xs) for seg, p in mine])
            coverage = float(np.median([p.coverage for _, p in mine])) if mine else np.nan
            out[s] = _SeriesPx(heights, _left_right(pieces, [c[i] for c in chosen], len(xs)), coverage)
    return out


def _read_bands(edges, counts, cl, classes, xs, lines: dict[int, _SeriesPx], symmetric: bool) -> None:
    """Band edges of every series, in place into ``lines`` (see :func:`_choose_edges`)."""
    n_seg = len(xs) - 1
    for k in range(classes.max() + 1):
        members = list(np.flatnonzero(classes == k))
        found = [_edge_pieces(edges[k], counts, k, cl, xs[g], xs[g + 1], 2 * len(members) + 2) for g in range(n_seg)]
        tops, bottoms = [f[0] for f in found], [f[1] for f in found]
        means = []
        for seg in range(n_seg):
            seg_means = []
            for s in members:
                m = lines[s].mean[seg : seg + 2]
                seg_means.append(None if np.isnan(m).any() else (m[0], m[1]))
            means.append(seg_means)
        chosen = _assign_edges(tops, bottoms, means, symmetric)
        for i, s in enumerate(members):
            px = lines[s]
            top_idx = [c[i][0] for c in chosen]
            bottom_idx = [c[i][1] for c in chosen]
            px.top = _fit_polyline(
                xs, [_piece_samples(g, tops[g][c], xs) for g, c in enumerate(top_idx) if c is not None]
            )
            px.bottom = _fit_polyline(
                xs, [_piece_samples(g, bottoms[g][c], xs) for g, c in enumerate(bottom_idx) if c is not None]
            )
            px.top_lr = _left_right(tops, top_idx, len(xs))
            px.bottom_lr = _left_right(bottoms, bottom_idx, len(xs))
            if not symmetric:
                continue
            # symmetric bands: a hidden line is the band's centre; the half-width is fitted to both edges
            centre = (px.top + px.bottom) / 2
            px.mean_from_band = np.isnan(px.mean) & ~np.isnan(centre)
            mean = np.where(px.mean_from_band, centre, px.mean)
            samples = []
            for g in range(n_seg):
                if np.isnan(mean[g : g + 2]).any():
                    continue
                for idx, found, sign in ((top_idx[g], tops[g], -1.0), (bottom_idx[g], bottoms[g], 1.0)):
                    if idx is not None:
                        piece = found[idx]
                        half = sign * (piece.y - _interp_at(mean, xs, g, piece.x))
                        samples.append(_piece_samples(g, piece, xs, transform=lambda x, h=half: h))
            half = _fit_polyline(xs, samples)
            px.mean = mean
            px.top, px.bottom = mean - half, mean + half


def _band_asymmetry(lines: dict[int, _SeriesPx], classes: np.ndarray) -> np.ndarray:
    """|band centre - line| (px) at points of single-colour series where line and both edges were read."""
    values = []
    for s, px in lines.items():
        if np.sum(classes == classes[s]) == 1:
            values.append(np.abs((px.top + px.bottom) / 2 - px.mean))
    values = np.concatenate(values) if values else np.array([])
    return values[~np.isnan(values)]


def digitise_chart(rgb: np.ndarray, spec: ChartSpec, symmetric_bands: bool | None = None) -> ChartReading:
    """Read every series' line and band at every point of a W&B-style chart (see the module docstring).

    ``symmetric_bands``: None decides from the picture whether bands are centred on their lines (W&B's
    standard deviation or standard error bands; not min/max) and, if so, uses it to pair same-coloured bands'
    edges, to fit one half-width to both edges and to read a hidden line as its band's centre.
    """
    import pandas as pd

    notes: list[str] = []
    swatches = find_legend(rgb)
    if len(swatches) != len(spec.series):
        raise ValueError(f"legend has {len(swatches)} swatches, the spec {len(spec.series)} series")
    for swatch, series in zip(swatches, spec.series):
        if swatch.dashed != series.dashed:
            raise ValueError(f"legend swatch of {series.group} is {'' if swatch.dashed else 'not '}dashed")
        if swatch.text_colour is not None and np.abs(np.subtract(swatch.text_colour, swatch.colour)).max() > 16:
            raise ValueError(f"legend label of {series.group} has another colour than its swatch")
    colours = np.array([s.colour for s in swatches])
    classes = np.zeros(len(colours), int)
    distinct: list[np.ndarray] = []
    for i, c in enumerate(colours):
        for j, d in enumerate(distinct):
            if np.abs(c - d).max() <= 6:
                classes[i] = j
                break
        else:
            distinct.append(c)
            classes[i] = len(distinct) - 1
    for k in range(len(distinct)):
        same = [spec.series[i] for i in np.flatnonzero(classes == k)]
        if len(same) > 2 or (len(same) == 2 and same[0].dashed == same[1].dashed):
            raise ValueError("same-coloured series must be one solid and one dashed")
    legend_bottom = int(np.ceil(max(s.y for s in swatches))) + 3

    # axes
    grid = find_grid_rows(rgb, len(spec.grid_values), legend_bottom, rgb.shape[0] - 5, 0, rgb.shape[1])
    a_val, b_val, grid_res = _linear_fit(grid, np.array(spec.grid_values, float))
    ticks, labels = find_x_ticks(rgb, len(spec.x_ticks), grid.max() + 1)
    x_a, x_b, tick_res = _linear_fit(np.array(spec.x_ticks, float), ticks)
    xs = x_a + x_b * np.arange(spec.n_points)

    # colour model and pixel classes
    y0 = legend_bottom
    y1 = min(int(np.floor(grid.max())) + int(round(0.15 * (grid.max() - grid.min()))), rgb.shape[0])
    x0, x1 = int(np.floor(xs[0])) - 3, int(np.ceil(xs[-1])) + 4
    plot = rgb[y0:y1, x0:x1]
    flat = plot.reshape(-1, 3)
    alpha = estimate_band_alpha(flat[np.abs(flat - 255).max(axis=1) > 0], colours)
    uniq, _, counts = _unique_colours(plot)
    keep = counts >= 3
    order, explained = estimate_draw_order(uniq[keep], counts[keep], colours, alpha)
    cl = _classify(rgb, y0, y1, x0, x1, colours, classes, order, alpha)
    counts = _class_counts(cl, classes, len(distinct))
    edges = _edge_samples(cl, counts, len(distinct))

    # lines, then bands (first without assuming symmetry, to find out)
    lines = _read_lines(cl, classes, spec, xs)
    _read_bands(edges, counts, cl, classes, xs, lines, symmetric=False)
    asym = _band_asymmetry(lines, classes)
    symmetric = bool(asym.size >= 10 and np.quantile(asym, 0.75) <= 1.0) if symmetric_bands is None else symmetric_bands
    if symmetric:
        _read_bands(edges, counts, cl, classes, xs, lines, symmetric=True)

    def value(px):
        return a_val + b_val * px

    rows = []
    for s, series in enumerate(spec.series):
        px = lines[s]
        mean_f, mean_i = _fill(px.mean)
        top_f, top_i = _fill(px.top)
        bot_f, bot_i = _fill(px.bottom)
        from_band = px.mean_from_band if px.mean_from_band is not None else np.zeros(spec.n_points, bool)
        for e in range(spec.n_points):
            v_top, v_bot = value(top_f[e]), value(bot_f[e])
            rows.append(
                {
                    "series": series.key,
                    "group": series.group,
                    "point": e,
                    "mean": value(mean_f[e]),
                    "band_low": np.minimum(v_top, v_bot),
                    "band_high": np.maximum(v_top, v_bot),
                    "mean_px": mean_f[e],
                    "top_px": top_f[e],
                    "bottom_px": bot_f[e],
                    "mean_source": "not read"
                    if np.isnan(mean_f[e])
                    else "interpolated"
                    if mean_i[e]
                    else "band centre"
                    if from_band[e]
                    else "line",
                    "band_interpolated": bool(top_i[e] or bot_i[e]),
                    "mean_lr_diff": abs(b_val) * px.mean_lr[e],
                    "top_lr_diff": abs(b_val) * px.top_lr[e],
                    "bottom_lr_diff": abs(b_val) * px.bottom_lr[e],
                    "line_coverage": px.coverage,
                }
            )
    points = pd.DataFrame(rows)
    points["interpolated"] = (points["mean_source"] != "line") | points["band_interpolated"]
    for s, series in enumerate(spec.series):
        cov = lines[s].coverage
        if series.dashed and not cov < DASHED_MAX_COVERAGE:
            notes.append(f"{series.group}: dashed in the legend but its line covers {cov:.2f} of its length")
        if not series.dashed and not cov >= SOLID_MIN_COVERAGE:
            notes.append(f"{series.group}: solid in the legend but its line covers only {cov:.2f} of its length")
    calibration = {
        "grid_rows_px": [round(float(g), 3) for g in grid],
        "grid_values": list(spec.grid_values),
        "grid_spacing_px": [round(float(d), 3) for d in np.diff(grid)],
        "value_per_px": b_val,
        "value_at_row_0": a_val,
        "grid_fit_max_residual": grid_res,
        "x_tick_px": [round(float(t), 3) for t in ticks],
        "x_tick_label_centre_px": [float(v) for v in labels],
        "x_tick_values": list(spec.x_ticks),
        "x_tick_fit_max_residual_px": tick_res,
        "x_first_point_px": float(xs[0]),
        "x_last_point_px": float(xs[-1]),
        "px_per_point": x_b,
    }
    legend = [
        {
            "group": series.group,
            "key": series.key,
            "colour_rgb": [round(v, 1) for v in sw.colour],
            "colour_hex": _hex(sw.colour),
            "hue": hue_name(sw.colour),
            "dashed_swatch": sw.dashed,
            "swatch_x_px": [sw.x0, sw.x1],
            "label_colour_rgb": None if sw.text_colour is None else [round(v, 1) for v in sw.text_colour],
        }
        for series, sw in zip(spec.series, swatches)
    ]
    colour_model = {
        "band_alpha": alpha,
        "drawing_order_colours": [_hex(colours[s]) for s in order],
        "colours_explained": explained,
        "band_centre_minus_line_px": {
            "points": int(asym.size),
            "median": float(np.median(asym)) if asym.size else None,
            "p90": float(np.quantile(asym, 0.9)) if asym.size else None,
        },
        "symmetric_bands": symmetric,
    }
    return ChartReading(points, calibration, legend, colour_model, notes)


def _hex(colour) -> str:
    return "#" + "".join(f"{int(round(v)):02x}" for v in colour)
