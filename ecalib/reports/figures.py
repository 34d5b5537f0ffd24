"""The book's figures: one Vega-Lite spec per figure, interactive in the page and static from the same spec.

Every builder below takes the data a chapter already has (a DataFrame, a parsed log, a list of
kernels) and returns a :class:`Figure`: an Altair chart plus its name and a one-line caption. The
same spec gives

- the **interactive** figure: hover a mark for its values, click a legend entry to isolate its series
  (shift-click adds one, a click on empty space brings all back), drag or scroll to pan and zoom,
  double-click to reset, and sliders where a figure has parameters (the Eq. 12 explorer);
- the **static** figure, rendered by vl-convert without a browser: an SVG shown in the page until
  (or unless) JavaScript draws the interactive one, and a PNG for PDF/LaTeX and nbconvert.

Where the Vega libraries come from: in the book, ``_static/`` (``book/_ext/figures.py`` writes them
once per build from vl-convert's bundle and adds them to the pages that have a figure); anywhere
else (JupyterLab, Binder, Colab, VS Code) the output loads them once from a CDN, as Altair's own
HTML renderer does. No figure's output carries the library itself.
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from functools import cached_property

import altair as alt
import numpy as np
import pandas as pd

# The book's text column is ~690 px wide: every figure fits in it (the browser test checks).
COLUMN_PX = 690
WIDTH = 560  # one panel across the column, legend below
HEIGHT = 220
FADED = 0.1  # opacity of the series a legend click did not pick
MECHANISM_COLOURS = {"none": "#7f7f7f", "se": "#1f77b4", "cbam": "#2ca02c", "triplet": "#9467bd", "eca": "#d62728"}
# The script that draws every figure of a page (the book serves it from _static/ecalib-figures.js).
RENDER_JS = """window.ecalibFigures = window.ecalibFigures || {
  render: function (figure) {
    if (figure.dataset.rendered) { return; }
    figure.dataset.rendered = "pending";
    var spec = JSON.parse(figure.querySelector("script.ecalib-spec").textContent);
    var options = {renderer: "svg", actions: {export: true, source: false, compiled: false, editor: false}};
    return vegaEmbed(figure.querySelector(".ecalib-chart"), spec, options).then(function (result) {
      figure.ecalibView = result.view;
      figure.querySelector(".ecalib-static").style.display = "none";
      figure.dataset.rendered = "yes";
    }).catch(function (error) {
      figure.dataset.rendered = "failed";
      console.error("ecalib figure " + figure.dataset.ecalibFigure + ": " + error);
    });
  },
  renderAll: function () {
    document.querySelectorAll(".ecalib-figure").forEach(function (f) { window.ecalibFigures.render(f); });
  }
};
"""


def _loader(ident: str) -> str:
    """The inline script of one figure: nothing in the book (its pages draw their figures from _static);
    elsewhere it loads Vega, Vega-Lite and vega-embed once per page from a CDN (the versions vl-convert
    renders with), then draws the figure."""
    import vl_convert as vlc

    versions = {
        "vega": vlc.get_vega_version(),
        "vega-lite": _vegalite_version(),
        "vega-embed": vlc.get_vega_embed_version(),
    }
    urls = json.dumps([f"https://cdn.jsdelivr.net/npm/{lib}@{v}" for lib, v in versions.items()])
    return (
        "(function () { if (window.ecalibFigures && window.ecalibFigures.inBook) { return; }\n"
        + RENDER_JS
        + f"var figure = document.getElementById('{ident}');\n"
        "window.ecalibVega = window.ecalibVega || new Promise(function (resolve) {\n"
        "  if (window.vegaEmbed) { return resolve(); }\n"
        f"  var urls = {urls};\n"
        "  (function next() { if (!urls.length) { return resolve(); } var s = document.createElement('script');\n"
        "    s.src = urls.shift(); s.onload = next; document.head.appendChild(s); })();\n"
        "});\n"
        "window.ecalibVega.then(function () { window.ecalibFigures.render(figure); }); })();"
    )


_GEOMETRY = re.compile(r'\b(d|transform|x|y|x1|x2|y1|y2)="([^"]*)"')
_LONG_DECIMAL = re.compile(r"(-?\d+\.\d)\d+")


def compact_svg(svg: str) -> str:
    """Geometry rounded to 0.1 px (what a screen shows); labels and text untouched."""

    def rounded(match: re.Match) -> str:
        return match.group(1) + '="' + _LONG_DECIMAL.sub(r"\1", match.group(2)) + '"'

    return _GEOMETRY.sub(rounded, svg)


def _vegalite_version() -> str:
    return alt.SCHEMA_VERSION.lstrip("v")


@dataclass
class Figure:
    """A figure of the book: ``chart`` (Altair) with a stable ``name`` and a one-line ``caption``.

    Shown in a notebook it is both versions at once (``_repr_mimebundle_``): ``text/html`` holds the
    static SVG, the spec and a loader; ``image/png`` the static picture for PDF and nbconvert.
    """

    chart: alt.TopLevelMixin
    name: str
    caption: str = ""
    png_scale: float = 2.0
    _cache: dict = field(default_factory=dict, repr=False)

    @cached_property
    def spec(self) -> dict:
        """The Vega-Lite spec (data inline), identical for both versions."""
        return self.chart.to_dict()

    def data(self) -> dict[str, list[dict]]:
        """The records each named data set of the spec holds (what the tooltips show)."""
        return self.spec.get("datasets", {})

    def svg(self) -> str:
        """The static version as SVG, drawn by vl-convert from :attr:`spec`."""
        if "svg" not in self._cache:
            import vl_convert as vlc

            self._cache["svg"] = compact_svg(vlc.vegalite_to_svg(self.spec))
        return self._cache["svg"]

    def png(self) -> bytes:
        if "png" not in self._cache:
            import vl_convert as vlc

            self._cache["png"] = vlc.vegalite_to_png(self.spec, scale=self.png_scale)
        return self._cache["png"]

    def size(self) -> tuple[int, int]:
        """Width and height (px) of the static version, the same as the interactive one's."""
        head = self.svg()[:400]
        width, height = (float(head.split(f'{k}="')[1].split('"')[0]) for k in ("width", "height"))
        return round(width), round(height)

    def html(self) -> str:
        """The figure for an HTML page: the static SVG inline, replaced by the interactive chart when Vega runs."""
        spec = json.dumps(self.spec, separators=(",", ":")).replace("</", "<\\/")
        ident = f"ecalib-{self.name}-{hashlib.sha1(spec.encode()).hexdigest()[:8]}"
        caption = f"<figcaption>{html.escape(self.caption)}</figcaption>" if self.caption else ""
        # the SVG's own ids (clip paths, gradients) made unique on a page that holds several figures
        svg = re.sub(r'(\bid="|url\(#|href="#)', lambda m: f"{m.group(1)}{ident}-", self.svg())
        return (
            f'<figure class="ecalib-figure" id="{ident}" data-ecalib-figure="{html.escape(self.name)}" '
            'style="margin: 0.5em 0; max-width: 100%; overflow-x: auto;">'
            f'<div class="ecalib-static" role="img" aria-label="{html.escape(self.caption or self.name)}">{svg}</div>'
            '<div class="ecalib-chart"></div>'
            f'<script type="application/json" class="ecalib-spec">{spec}</script>{caption}'
            f"<script>{_loader(ident)}</script></figure>"
        )

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {
            "text/html": self.html(),
            "image/png": base64.b64encode(self.png()).decode(),
            "text/plain": f"<Figure {self.name}: {self.caption}>",
        }

    def save(self, path) -> None:
        """``.svg``, ``.png``, ``.html`` (self-contained apart from the Vega libraries) or ``.json`` (the spec)."""
        from pathlib import Path

        path = Path(path)
        writers = {
            ".svg": lambda: path.write_text(self.svg()),
            ".png": lambda: path.write_bytes(self.png()),
            ".html": lambda: path.write_text(self.html()),
            ".json": lambda: path.write_text(json.dumps(self.spec, indent=1)),
        }
        if path.suffix not in writers:
            raise ValueError(f"cannot save a figure as {path.suffix!r}; allowed: {', '.join(writers)}")
        writers[path.suffix]()


# --- building blocks -------------------------------------------------------------------------------------


def legend_pick(field_name: str) -> alt.Parameter:
    """Click a legend entry to isolate that series (shift-click adds one; a click elsewhere resets)."""
    return alt.selection_point(fields=[field_name], bind="legend", name=f"pick{next(_names)}")


def picked(pick: alt.Parameter, on: float = 1.0, off: float = FADED) -> alt.OpacityValue:
    return alt.condition(pick, alt.value(on), alt.value(off))


_names = itertools.count(1)


def zoom() -> alt.Parameter:
    """Drag to pan, scroll to zoom, double-click to reset (one per panel, so each has its own name)."""
    return alt.selection_interval(bind="scales", name=f"zoom{next(_names)}")


PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def colour_scale(values, colours: dict[str, str] | None = None) -> alt.Scale:
    """A colour per value, in the given order: ``colours`` where it names one, the palette for the rest."""
    values = [str(v) for v in dict.fromkeys(values)]
    colours = {k: v for k, v in (colours or {}).items() if v}
    spare = iter([c for c in PALETTE if c not in colours.values()] * 4)
    return alt.Scale(domain=values, range=[colours.get(v) or next(spare) for v in values])


def bottom_legend(columns: int = 5, title: str | None = None, label_limit: int = 320) -> alt.Legend:
    return alt.Legend(
        orient="bottom", title=title, columns=columns, labelLimit=label_limit, titleLimit=560, symbolOpacity=1
    )


def records(frame: pd.DataFrame) -> pd.DataFrame:
    """Infinite numbers as NaN, which Altair writes as JSON null (a gap in a line, never the token NaN)."""
    return frame.replace([np.inf, -np.inf], np.nan)


def curves(
    data: pd.DataFrame,
    x: str,
    y: str,
    series: str,
    *,
    low: str | None = None,
    high: str | None = None,
    x_title: str | None = None,
    y_title: str | None = None,
    log_y: bool = False,
    width: int = WIDTH,
    height: int = HEIGHT,
    colours: dict[str, str] | None = None,
    domain: list | None = None,
    dash: str | None = None,
    title: str = "",
    pick: alt.Parameter | None = None,
    tooltip: list | None = None,
    legend: alt.Legend | bool | None = None,
) -> alt.LayerChart:
    """A line per ``series`` (with a band ``low``..``high`` if given), points that show their values on
    hover, pan and zoom; the legend (``legend``, or one below the chart; False: none) isolates series.
    ``domain``: every series of the figure, in legend order (default: this chart's). ``pick``: the legend
    selection the lines fade by; None makes one bound to this chart's own legend (pass a shared one,
    defined on another panel, to link panels)."""
    own_legend = isinstance(legend, alt.Legend) or (legend is None and pick is None)
    own_pick = pick is None or isinstance(legend, alt.Legend)  # the panel with the legend holds its selection
    pick = pick or legend_pick(series)
    scale = alt.Scale(type="log") if log_y else alt.Scale(zero=False)
    y_axis = alt.Axis(values=decades(data[y]), format="~g") if log_y else alt.Axis()
    colour = alt.Color(
        f"{series}:N",
        scale=colour_scale(domain or data[series], MECHANISM_COLOURS if colours is None else colours),
        legend=(legend if isinstance(legend, alt.Legend) else bottom_legend()) if own_legend else None,
    )
    tips = tooltip or [
        alt.Tooltip(f"{series}:N"),
        alt.Tooltip(f"{x}:Q"),
        alt.Tooltip(f"{y}:Q", format=".4g"),
        *([alt.Tooltip(f"{low}:Q", format=".4g"), alt.Tooltip(f"{high}:Q", format=".4g")] if low else []),
        *([alt.Tooltip(f"{dash}:N")] if dash else []),
    ]
    base = alt.Chart(records(data)).encode(
        x=alt.X(f"{x}:Q", title=x if x_title is None else x_title, scale=alt.Scale(zero=False)), color=colour
    )
    detail = {"strokeDash": alt.StrokeDash(f"{dash}:N", legend=bottom_legend())} if dash else {}
    line = base.mark_line(strokeWidth=1.6).encode(
        y=alt.Y(f"{y}:Q", title=y if y_title is None else y_title, scale=scale, axis=y_axis),
        opacity=picked(pick),
        **detail,
    )
    layers = []
    if low and high:
        layers.append(
            base.mark_area(interpolate="linear").encode(
                y=alt.Y(f"{low}:Q", scale=scale), y2=f"{high}:Q", opacity=picked(pick, 0.2, 0.02)
            )
        )
    layers.append(line.add_params(zoom(), *([pick] if own_pick else [])))
    layers.append(
        base.mark_circle(size=24, aria=False).encode(
            y=alt.Y(f"{y}:Q", scale=scale),
            tooltip=tips,
            opacity=picked(pick),
        )
    )
    return alt.layer(*layers).properties(width=width, height=height, title=title)


def _title(text: str, subtitle: str = "") -> alt.TitleParams:
    return alt.TitleParams(text, subtitle=subtitle or alt.Undefined, anchor="start", fontSize=13)


# --- the book's figures -----------------------------------------------------------------------------------


def rc2020_curves(curves_table: pd.DataFrame, baseline: str = "none") -> Figure:
    """RC2020's digitised CIFAR-10 curves as small multiples: one column per mechanism, its mean and band,
    with the plain network's mean (grey, dashed) in every panel; top-1 above, test loss below."""
    mechanisms = [m for m in dict.fromkeys(curves_table["mechanism"]) if m != baseline]
    domain = mechanisms
    pick = legend_pick("mechanism")
    rows = []
    for metric, label in (("top1", "test top-1 (%)"), ("loss", "test loss")):
        table = curves_table[curves_table["metric"] == metric]
        base = table[table["mechanism"] == baseline][["epoch", "mean"]].rename(columns={"mean": "baseline"})
        cells = []
        for i, mechanism in enumerate(mechanisms):
            own = table[table["mechanism"] == mechanism].merge(base, on="epoch", how="left")
            own = own[["mechanism", "epoch", "mean", "band_low", "band_high", "baseline", "read_out"]]
            reference = (
                alt.Chart(records(own))
                .mark_line(strokeWidth=1.1, strokeDash=[4, 2])
                .encode(x="epoch:Q", y="baseline:Q", color=alt.value(MECHANISM_COLOURS[baseline]))
            )
            panel = curves(
                own,
                "epoch",
                "mean",
                "mechanism",
                low="band_low",
                high="band_high",
                width=112,
                height=110,
                y_title=label if i == 0 else "",
                x_title="epoch" if metric == "loss" else "",
                domain=domain,
                title=mechanism if metric == "top1" else "",
                pick=pick,
                legend=bottom_legend(5, f"click a mechanism to isolate it; dashed grey: {baseline}")
                if (metric, i) == ("top1", 0)
                else None,
                tooltip=[
                    alt.Tooltip("mechanism:N"),
                    alt.Tooltip("epoch:Q"),
                    alt.Tooltip("mean:Q", format=".2f", title=f"{metric} mean"),
                    alt.Tooltip("band_low:Q", format=".2f"),
                    alt.Tooltip("band_high:Q", format=".2f"),
                    alt.Tooltip("baseline:Q", format=".2f", title=f"{baseline} mean"),
                    alt.Tooltip("read_out:N", title="read as"),
                ],
            )
            panel.layer.insert(0, reference)
            cells.append(panel)
        rows.append(alt.hconcat(*cells, spacing=4).resolve_scale(y="shared"))
    chart = alt.vconcat(*rows, spacing=8)
    return Figure(
        chart,
        "rc2020-cifar10-curves",
        "RC2020's CIFAR-10 runs (ResNet-18, mean of 5 seeds per mechanism, band as drawn), digitised from its "
        "charts: each mechanism in its colour, the plain network's mean dashed grey in every panel.",
    )


def endpoint_plot(
    table: pd.DataFrame,
    value: str,
    low: str,
    high: str,
    *,
    label: str,
    name: str,
    caption: str,
    reference: str | None = "none",
) -> Figure:
    """One row per entry of ``table`` (its index), sorted by ``value``: the value and its interval
    ``low``..``high``; the ``reference`` entry's value as a dashed vertical line."""
    key = table.index.name or "entry"
    data = table[[value, low, high]].rename_axis("entry").reset_index().sort_values(value, ascending=False)
    data["entry"] = data["entry"].astype(str)
    pick = legend_pick("entry")
    colour = alt.Color(
        "entry:N", scale=colour_scale(data["entry"], MECHANISM_COLOURS), legend=bottom_legend(6, "click to isolate")
    )
    base = alt.Chart(records(data)).encode(
        y=alt.Y("entry:N", sort=None, title=None), color=colour, opacity=picked(pick)
    )
    tips = [
        alt.Tooltip("entry:N", title=key),
        alt.Tooltip(f"{value}:Q", format=".2f"),
        alt.Tooltip(f"{low}:Q", format=".2f"),
        alt.Tooltip(f"{high}:Q", format=".2f"),
    ]
    layers = [
        base.mark_rule(strokeWidth=3).encode(
            x=alt.X(f"{low}:Q", scale=alt.Scale(zero=False), title=label), x2=f"{high}:Q", tooltip=tips
        ),
        base.mark_point(filled=True, size=90).encode(x=f"{value}:Q", tooltip=tips).add_params(pick, zoom()),
    ]
    if reference is not None and reference in set(data["entry"]):
        at = float(data.loc[data["entry"] == reference, value].iloc[0])
        layers.append(
            alt.Chart(pd.DataFrame({"x": [at]})).mark_rule(color="#7f7f7f", strokeDash=[4, 3]).encode(x="x:Q")
        )
    chart = alt.layer(*layers).properties(width=WIDTH - 60, height=26 * len(data))
    return Figure(chart, name, caption)


def run_curves(history: pd.DataFrame, title: str = "", name: str = "run-curves") -> Figure:
    """Per epoch of every run in ``history`` (``collect_runs``): test top-1, test and train loss, and the lr."""
    data = history.copy()
    data["series"] = data["attention"].astype(str) + " | seed " + data["seed"].astype(str)
    colours = {s: MECHANISM_COLOURS.get(a) for s, a in zip(data["series"], data["attention"])}
    domain = list(dict.fromkeys(data["series"]))
    loss = data.melt(
        id_vars=["series", "epoch"], value_vars=["test_loss", "train_loss"], var_name="split", value_name="loss"
    )
    pick = legend_pick("series")
    panel = {"width": 168, "height": 140, "colours": colours, "domain": domain, "pick": pick}
    charts = [
        curves(
            data,
            "epoch",
            "test_top1",
            "series",
            y_title="test top-1 (%)",
            title="test top-1",
            legend=bottom_legend(4, "click to isolate"),
            **panel,
        ),
        curves(loss, "epoch", "loss", "series", dash="split", y_title="loss", title="loss", **panel),
        curves(data, "epoch", "lr", "series", y_title="learning rate", title="learning rate", **panel),
    ]
    return Figure(alt.hconcat(*charts, spacing=14).properties(title=_title(title)), name, title)


def seed_bands(history: pd.DataFrame, title: str = "", name: str = "seed-bands") -> Figure:
    """Mean +- standard deviation over seeds per mechanism and epoch: test top-1 and test loss (log)."""
    stats = []
    for metric in ("test_top1", "test_loss"):
        grouped = history.groupby(["attention", "epoch"])[metric].agg(["mean", "std", "count"]).reset_index()
        grouped["std"] = grouped["std"].fillna(0.0)
        stats.append(
            grouped.assign(
                metric=metric,
                low=grouped["mean"] - grouped["std"],
                high=grouped["mean"] + grouped["std"],
                runs=grouped["count"],
            )
        )
    domain = list(dict.fromkeys(history["attention"]))
    pick = legend_pick("attention")
    charts = [
        curves(
            stat,
            "epoch",
            "mean",
            "attention",
            low="low",
            high="high",
            y_title=label,
            log_y=log,
            width=260,
            height=170,
            domain=domain,
            pick=pick,
            legend=bottom_legend(5, "click to isolate") if i == 0 else None,
            tooltip=[
                alt.Tooltip("attention:N"),
                alt.Tooltip("epoch:Q"),
                alt.Tooltip("mean:Q", format=".4g"),
                alt.Tooltip("std:Q", format=".3g"),
                alt.Tooltip("runs:Q"),
            ],
        )
        for i, (stat, label, log) in enumerate(zip(stats, ("test top-1 (%)", "test loss (log scale)"), (False, True)))
    ]
    chart = alt.hconcat(*charts, spacing=14).properties(title=_title(title))
    return Figure(chart, name, f"{title}: mean and standard deviation over seeds, per mechanism.")


def parallel_coordinates(
    table: pd.DataFrame,
    columns: list[str],
    metric: str,
    *,
    lower_is_better: bool = True,
    name: str = "sweep",
    caption: str = "",
) -> Figure:
    """One line per trial across ``columns`` (each value's position on its axis) ending at ``metric``."""
    rows = []
    for trial, (_, row) in enumerate(table.iterrows()):
        for axis in [*columns, metric]:
            values = table[axis]
            if axis == metric:
                lo, hi = float(values.min()), float(values.max())
                position = (float(row[axis]) - lo) / ((hi - lo) or 1.0)
            else:
                ordered = [str(v) for v in sorted(values.unique(), key=lambda v: (isinstance(v, str), v))]
                position = ordered.index(str(row[axis])) / max(len(ordered) - 1, 1)
            rows.append(
                {
                    "trial": trial,
                    "axis": axis,
                    "position": position,
                    "value": str(row[axis]),
                    metric: float(row[metric]),
                }
            )
    data = pd.DataFrame(rows)
    order = [*columns, metric]
    colour = alt.Color(f"{metric}:Q", scale=alt.Scale(scheme="viridis", reverse=lower_is_better))
    base = alt.Chart(data).encode(x=alt.X("axis:N", sort=order, title=None), y=alt.Y("position:Q", axis=None))
    chart = alt.layer(
        base.mark_line(opacity=0.8).encode(detail="trial:N", color=colour),
        base.mark_circle(size=40).encode(
            color=colour, tooltip=["trial:N", "axis:N", "value:N", alt.Tooltip(f"{metric}:Q", format=".4g")]
        ),
        base.mark_text(dx=6, align="left", fontSize=10).encode(text="value:N", color=alt.value("#333")),
    ).properties(width=WIDTH - 60, height=220)
    return Figure(chart, name, caption)


def mmdet_logs(logs: dict[str, object], points: int = 240, name: str = "coco-logs") -> Figure:
    """MMDetection text logs (``MmdetLog`` per label): the loss terms and the lr per iteration (means of
    blocks of consecutive log lines, about ``points`` blocks in all), validation AP per epoch; the first
    non-finite loss of each log marked in red."""
    frames, nan_rows, val = [], [], []
    block = max(1, math.ceil(sum(len(log.train) for log in logs.values()) / points))
    for label, log in logs.items():
        train = log.train.sort_values("global_iter").reset_index(drop=True)
        terms = [c for c in train.columns if c.startswith("loss")]
        bad = ~np.isfinite(train["loss"].astype(float))
        if bad.any():
            first = train[bad].iloc[0]
            nan_rows.append(
                {
                    "log": label,
                    "epoch_x": first["global_iter"] / first["iters_per_epoch"],
                    "epoch": int(first["epoch"]),
                    "iter": int(first["iter"]),
                    "non-finite lines": int(bad.sum()),
                }
            )
        blocks = train.index // block
        means = train.groupby(blocks)[terms].mean()  # a block with a NaN line is NaN: the gap shows it
        means["lr"] = train.groupby(blocks)["lr"].first()
        means["epoch_x"] = train.groupby(blocks)["global_iter"].first() / train["iters_per_epoch"].iloc[0]
        means["iteration"] = train.groupby(blocks)["global_iter"].first()
        frames.append(means.assign(log=label))
        if not log.val.empty:
            val.append(
                log.val.melt(
                    id_vars="epoch", value_vars=["bbox_mAP", "segm_mAP"], var_name="metric", value_name="AP"
                ).assign(log=label)
            )
    data = pd.concat(frames, ignore_index=True)
    terms = [c for c in data.columns if c.startswith("loss")]
    long = data.melt(id_vars=["log", "epoch_x", "iteration"], value_vars=terms, var_name="term", value_name="value")
    pick = legend_pick("term")
    loss = curves(
        long,
        "epoch_x",
        "value",
        "term",
        dash="log",
        x_title="epochs trained",
        y_title=f"loss (mean of {block} log lines)",
        colours={},
        pick=pick,
        legend=bottom_legend(3, "click a term to isolate it"),
        width=WIDTH,
        height=190,
        title="loss terms",
        tooltip=[
            "log:N",
            "term:N",
            "iteration:Q",
            alt.Tooltip("epoch_x:Q", format=".2f", title="epoch"),
            alt.Tooltip("value:Q", format=".4g"),
        ],
    )
    lr = curves(
        data.assign(series="lr"),
        "epoch_x",
        "lr",
        "series",
        dash="log",
        x_title="epochs trained",
        y_title="logged lr",
        log_y=True,
        colours={"lr": "#333333"},
        width=WIDTH,
        height=110,
        title="learning rate",
        legend=False,
        tooltip=[
            "log:N",
            "iteration:Q",
            alt.Tooltip("epoch_x:Q", format=".2f", title="epoch"),
            alt.Tooltip("lr:Q", format=".3g"),
        ],
    )
    panels = [loss, lr]
    if nan_rows:
        marks = pd.DataFrame(nan_rows)
        rule = (
            alt.Chart(marks)
            .mark_rule(color="#d62728", strokeWidth=2)
            .encode(x="epoch_x:Q", tooltip=["log:N", "epoch:Q", "iter:Q", "non-finite lines:Q"])
        )
        text = (
            alt.Chart(marks)
            .mark_text(color="#d62728", align="left", dx=4, dy=-4, baseline="top")
            .encode(x="epoch_x:Q", y=alt.value(2), text=alt.Text("label:N"))
            .transform_calculate(label="'loss NaN from epoch ' + datum.epoch + ', iter ' + datum.iter")
        )
        panels = [alt.layer(loss, rule, text), alt.layer(lr, rule)]
    if val:
        ap = curves(
            pd.concat(val, ignore_index=True),
            "epoch",
            "AP",
            "metric",
            dash="log",
            colours={},
            x_title="epoch",
            y_title="COCO val AP",
            width=WIDTH,
            height=110,
            title="validation AP",
        )
        panels.append(ap)
    chart = alt.vconcat(*panels, spacing=10).resolve_scale(color="independent", strokeDash="shared")
    nan_text = "; ".join(
        f"{r['log']}: first non-finite loss at epoch {r['epoch']}, iteration {r['iter']}" for r in nan_rows
    )
    return Figure(
        chart,
        name,
        f"MMDetection logs ({', '.join(logs)}; solid, dashed): loss terms and lr per iteration, means of {block} log "
        "lines, and validation AP per epoch" + (f". Red line: {nan_text}." if nan_text else "."),
    )


def decades(values) -> list[float]:
    """The powers of ten that span ``values`` (ticks of a log axis, one per decade)."""
    positive = [float(v) for v in values if v and v > 0]
    low, high = math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
    return [10.0**e for e in range(low, high + 1)]


def attention_family(model: str) -> str:
    """The attention a model's name says it has; timm's ecaresnet* are other networks (deep or tiered stem)."""
    if model.startswith("ecaresnet"):
        return "ECA in timm's other ResNets"
    for prefix, family in (("eca", "ECA"), ("se_", "SE"), ("cbam", "CBAM"), ("triplet", "Triplet")):
        if model.startswith(prefix):
            return family
    return "none"


FAMILY_COLOURS = {
    "ECA": MECHANISM_COLOURS["eca"],
    "ECA in timm's other ResNets": "#ff9896",
    "SE": MECHANISM_COLOURS["se"],
    "CBAM": MECHANISM_COLOURS["cbam"],
    "Triplet": MECHANISM_COLOURS["triplet"],
    "none": MECHANISM_COLOURS["none"],
}


def attention_share(table: pd.DataFrame, input_size: int = 224) -> Figure:
    """Each attention mechanism's share of its network's parameters and of its MACs (the rows of
    ``complexity_table`` with attention), log scale, coloured by mechanism."""
    rows = table[table["attention params"] > 0].copy()
    rows["mechanism"] = rows["model"].map(attention_family)
    pick = legend_pick("mechanism")
    colour = alt.Color(
        "mechanism:N",
        scale=colour_scale(rows["mechanism"], FAMILY_COLOURS),
        legend=bottom_legend(3, "click to isolate"),
    )
    tips = [
        alt.Tooltip("model:N"),
        alt.Tooltip("mechanism:N"),
        alt.Tooltip("attention params:Q", format=","),
        alt.Tooltip("attention params %:Q", format=".4g"),
        alt.Tooltip("attention MACs %:Q", format=".4g"),
    ]
    panels = []
    for i, column in enumerate(("attention params %", "attention MACs %")):
        chart = (
            alt.Chart(records(rows))
            .mark_point(filled=True, size=90)
            .encode(  # dots: a log axis has no 0
                y=alt.Y("model:N", sort=None, title=None, axis=alt.Axis(labels=i == 0, ticks=i == 0)),
                x=alt.X(
                    f"{column}:Q",
                    scale=alt.Scale(type="log"),
                    title=f"{column.removeprefix('attention ')} (log)",
                    axis=alt.Axis(values=decades(rows[column]), format="~g"),
                ),
                color=colour,
                opacity=picked(pick),
                tooltip=tips,
            )
        )
        panels.append((chart.add_params(pick) if i == 0 else chart).properties(width=200, height=16 * len(rows)))
    return Figure(
        alt.hconcat(*panels, spacing=8),
        "attention-share",
        f"Attention modules' share of each network's parameters (left) and multiply-accumulates (right), "
        f"{input_size}x{input_size} input, counted by ecalib; timm's ECA-ResNets are other networks.",
    )


def kernel_explorer(
    kernel_size,
    *,
    channels: range = range(8, 2049, 8),
    gammas: range = range(1, 5),
    offsets: range = range(0, 5),
    start: tuple[int, int, int] = (256, 2, 1),
    window: int = 24,
) -> Figure:
    """Eq. 12 in the page: sliders for C, γ and b; the kernel size k and the top-left ``window`` x ``window``
    corner of the C x C band matrix follow them in the browser.

    k is not recomputed in the browser: ``kernel_size(C, gamma, b)`` (``ecalib.layers.eca_kernel_size``)
    is evaluated here for every slider position and shipped as a table the sliders index. The band is
    the definition of a 1-D convolution: row i holds the k weights w_j at columns i + j, j = -(k-1)/2 ..
    (k-1)/2, cut by the zero padding at the first and last channel.
    """
    table = [kernel_size(c, g, b) for c in channels for g in gammas for b in offsets]
    n_g, n_b = len(gammas), len(offsets)
    c_start, g_start, b_start = start

    def slider(name, values, value, label):
        return alt.param(
            name=name, value=value, bind=alt.binding_range(min=values[0], max=values[-1], step=values.step, name=label)
        )

    index = (
        f"((C - {channels[0]}) / {channels.step}) * {n_g * n_b} + (gamma - {gammas[0]}) * {n_b} + (b - {offsets[0]})"
    )
    params = [
        slider("C", channels, c_start, "C "),
        slider("gamma", gammas, g_start, "γ "),
        slider("b", offsets, b_start, "b "),
        alt.param(name="k", expr=f"{json.dumps(table)}[{index}]"),
    ]
    grid = pd.DataFrame([(r, c) for r in range(window) for c in range(window)], columns=["row", "column"])
    position = {
        "x": alt.X("column:O", title="input channel", axis=alt.Axis(values=list(range(0, window, 4)), labelAngle=0)),
        "y": alt.Y("row:O", title="output channel", axis=alt.Axis(values=list(range(0, window, 4)))),
    }
    background = alt.Chart(grid).mark_rect(color="white", stroke="#e5e5e5", strokeWidth=0.5).encode(**position)
    band = (
        alt.Chart(grid)
        .transform_calculate(j="datum.column - datum.row")
        .transform_filter("abs(datum.j) <= (k - 1) / 2 && datum.row < C && datum.column < C")
        .mark_rect(stroke="white", strokeWidth=0.5)
        .encode(
            **position,
            color=alt.Color(
                "j:O",
                title=["weight w_j", "(j = column - row)"],
                scale=alt.Scale(scheme="tableau20"),
                legend=alt.Legend(orient="right", columns=2),
            ),
            tooltip=[
                alt.Tooltip("row:O", title="output channel"),
                alt.Tooltip("column:O", title="input channel"),
                alt.Tooltip("j:O", title="weight w_j, j"),
            ],
        )
    )
    cells = alt.layer(background, band).properties(width=300, height=300)
    readout = (
        alt.Chart(pd.DataFrame({"x": [0]}))
        .transform_calculate(text="'C = ' + C + ', γ = ' + gamma + ', b = ' + b + '  →  k = ' + k")
        .mark_text(align="left", fontSize=15, fontWeight="bold")
        .encode(text="text:N", x=alt.value(0), y=alt.value(10))
        .properties(width=300, height=20)
    )
    chart = alt.vconcat(readout, cells, spacing=4).add_params(*params).configure_view(stroke=None)
    return Figure(
        chart,
        "eq12-explorer",
        f"Eq. 12 explorer: move the sliders; k is ecalib's eca_kernel_size for every position (computed when the "
        f"book was built), the matrix is the top-left {window} x {window} corner of the C x C band: the same k "
        f"weights w_j on every row, zero elsewhere.",
    )


def learned_kernels(kernels: pd.DataFrame, source: str) -> Figure:
    """The k weights of every ECA block (``kernels``: block, stage, k, j, weight), one line per
    block, coloured by stage: what a trained network's 1-D convolutions look like."""
    data = kernels.assign(stage=kernels["stage"].map(lambda s: f"stage {s}"))
    chart = curves(
        data,
        "j",
        "weight",
        "stage",
        x_title="tap j (input channel - output channel)",
        y_title="kernel weight",
        colours={},
        title="",
        tooltip=["block:N", "stage:N", "k:Q", "j:Q", alt.Tooltip("weight:Q", format=".4f")],
    )
    for layer in chart.layer:  # one line per block, not per stage
        layer.encoding.detail = alt.Detail("block:N")
    return Figure(chart, "learned-kernels", f"The 1-D kernel of every ECA block ({source}).")


def band_matrix(matrix: np.ndarray, title: str, name: str = "band-matrix") -> Figure:
    """A (corner of a) band matrix with a diverging colour bar centred on 0."""
    rows, cols = matrix.shape
    data = pd.DataFrame(
        [(r, c, float(matrix[r, c])) for r in range(rows) for c in range(cols)], columns=["row", "column", "weight"]
    )
    limit = float(np.abs(matrix).max()) or 1.0
    chart = (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X("column:O", title="input channel", axis=alt.Axis(values=list(range(0, cols, 4)), labelAngle=0)),
            y=alt.Y("row:O", title="output channel", axis=alt.Axis(values=list(range(0, rows, 4)))),
            color=alt.Color(
                "weight:Q",
                scale=alt.Scale(scheme="redblue", reverse=True, domain=[-limit, limit]),
                legend=alt.Legend(title="weight", orient="right", gradientLength=200),
            ),
            tooltip=["row:O", "column:O", alt.Tooltip("weight:Q", format=".4f")],
        )
        .properties(width=260, height=260, title=_title(title))
    )
    return Figure(chart, name, title)


def channel_weights(weights: pd.DataFrame, source: str, name: str = "channel-weights") -> Figure:
    """Attention weights per channel (``weights``: stage, channel, weight) of one image, a line per stage."""
    data = weights.assign(stage=weights["stage"].map(lambda s: f"stage {s}"))
    chart = curves(
        data,
        "channel",
        "weight",
        "stage",
        colours={},
        x_title="channel",
        y_title="attention weight",
        tooltip=["stage:N", "channel:Q", alt.Tooltip("weight:Q", format=".3f")],
    )
    return Figure(chart, name, f"ECA's weight on each channel at the last block of every stage ({source}).")


def speed_ratios(ratios: pd.DataFrame, name: str = "speed-ratios", caption: str = "") -> Figure:
    """Throughput relative to the plain network (``ratios``: backbone, mechanism, mode, ratio, source),
    a dot per source, training and inference side by side; 1.0 (free) as a black line."""
    data = ratios.assign(network=ratios["backbone"] + " | " + ratios["mechanism"])
    order = list(dict.fromkeys(data["network"]))
    pick = legend_pick("source")
    colour = alt.Color(
        "source:N", scale=colour_scale(data["source"], {}), legend=bottom_legend(1, "click to isolate", label_limit=560)
    )
    panels = []
    for i, mode in enumerate(("train", "infer")):
        rows = data[data["mode"] == mode]
        dots = (
            alt.Chart(records(rows))
            .mark_point(filled=True, size=70)
            .encode(
                y=alt.Y(
                    "network:N", sort=order, title=None, axis=alt.Axis(labels=i == 0, ticks=i == 0, labelLimit=200)
                ),
                x=alt.X("ratio:Q", title=f"{mode}: images/s vs plain", scale=alt.Scale(zero=False)),
                color=colour,
                opacity=picked(pick),
                tooltip=["network:N", "mode:N", "source:N", alt.Tooltip("ratio:Q", format=".3f")],
            )
        )
        one = alt.Chart(pd.DataFrame({"x": [1.0]})).mark_rule(color="black").encode(x="x:Q")
        layer = alt.layer(one, dots.add_params(pick) if i == 0 else dots)
        panels.append(layer.properties(width=230, height=18 * len(order)))
    return Figure(alt.hconcat(*panels, spacing=10), name, caption)
