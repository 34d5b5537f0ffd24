"""ecalib.reports.figures: one spec, two versions (interactive HTML, static SVG/PNG), and the book's tables."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

alt = pytest.importorskip("altair")
pytest.importorskip("vl_convert")

from ecalib.reports import figures  # noqa: E402
from ecalib.reports.tables import captioned, format_number  # noqa: E402


def paper_rule(channels: int, gamma: int, b: int) -> int:
    """Eq. 12 read off the paper: t = |(log2 C + b) / gamma|, then the odd number t or t + 1."""
    t = int(abs((math.log(channels, 2) + b) / gamma))
    return t if t % 2 else t + 1


def test_the_explorer_ships_eq12_for_every_slider_position_and_indexes_it_right():
    from ecalib.layers import eca_kernel_size

    figure = figures.kernel_explorer(eca_kernel_size, channels=range(8, 2049, 8))
    params = {p["name"]: p for p in figure.spec["params"]}
    table = json.loads(re.match(r"(\[[^\]]*\])", params["k"]["expr"]).group(1))
    index = params["k"]["expr"][len(json.dumps(table)) + 1 : -1]
    for channels, gamma, b in [(8, 1, 0), (96, 2, 1), (128, 2, 1), (2048, 1, 4), (2048, 4, 0), (1000, 3, 2)]:
        position = eval(index, {}, {"C": channels, "gamma": gamma, "b": b})  # the browser's expression
        assert table[int(position)] == paper_rule(channels, gamma, b), (channels, gamma, b)
    for name, low, high in (("C", 8, 2048), ("gamma", 1, 4), ("b", 0, 4)):
        assert (params[name]["bind"]["min"], params[name]["bind"]["max"]) == (low, high)


def test_html_holds_the_spec_and_its_static_svg_with_ids_of_its_own():
    data = pd.DataFrame({"epoch": [0, 1, 2, 0, 1, 2], "top1": [50, 60, np.nan, 52, np.inf, 70], "run": list("aaabbb")})
    one = figures.Figure(figures.curves(data, "epoch", "top1", "run"), "one", "first")
    two = figures.Figure(figures.curves(data.assign(top1=data["top1"] + 1), "epoch", "top1", "run"), "two", "second")
    html_one, html_two = one.html(), two.html()
    spec = json.loads(re.search(r'class="ecalib-spec">(.*?)</script>', html_one).group(1))
    assert spec == json.loads(json.dumps(one.spec)) and "NaN" not in json.dumps(one.spec)  # gaps are null
    values = [r["top1"] for rows in spec["datasets"].values() for r in rows]
    assert values.count(None) == 2 and 70 in values
    ids = lambda h: set(re.findall(r'\bid="([^"]+)"', h))  # noqa: E731
    assert not ids(html_one) & ids(html_two), "two figures on one page share SVG ids"
    assert '<div class="ecalib-static" role="img" aria-label="first"><svg' in html_one
    bundle = one._repr_mimebundle_()
    assert set(bundle) == {"text/html", "image/png", "text/plain"} and bundle["image/png"].startswith("iVBOR")
    assert "cdn.jsdelivr.net/npm/vega@" in html_one  # outside the book only, and only the libraries
    width, height = one.size()
    assert 0 < width <= figures.COLUMN_PX and height > 100


def test_the_coco_figure_marks_where_each_log_went_nan():
    from ecalib.reference import rc2020_maskrcnn_logs
    from ecalib.reports.mmdet_logs import parse_mmdet_log

    run1, run2 = (parse_mmdet_log(p) for p in rc2020_maskrcnn_logs())
    figure = figures.mmdet_logs({"run 1": run1, "run 2": run2})
    marks = [r for rows in figure.data().values() for r in rows if "non-finite lines" in r]
    bad = run1.first_nonfinite
    assert [(m["log"], m["epoch"], m["iter"]) for m in marks] == [("run 1", bad["epoch"], bad["iter"])]
    assert marks[0]["non-finite lines"] == int((~np.isfinite(run1.train["loss"])).sum())
    assert "iteration 27850" in figure.caption
    assert figure.size()[0] <= figures.COLUMN_PX


def test_timm_ecaresnets_are_not_coloured_as_eca():
    assert figures.attention_family("eca_resnet50") == "ECA"
    assert figures.attention_family("ecaresnet50d") != "ECA"
    assert figures.FAMILY_COLOURS["ECA"] != figures.FAMILY_COLOURS[figures.attention_family("ecaresnetlight")]


def test_rc2020_small_multiples_show_every_digitised_point():
    from ecalib.reference import rc2020_cifar10_curves

    curves = rc2020_cifar10_curves()
    figure = figures.rc2020_curves(curves)
    rows = [r for rows in figure.data().values() for r in rows]
    for mechanism in ("se", "cbam", "triplet", "eca"):
        expected = curves[curves["mechanism"] == mechanism]
        shown = [r for r in rows if r.get("mechanism") == mechanism]
        assert len(shown) == len(expected)
        for r in shown:  # top-1 and loss rows: the value is the digitised mean of one of them at that epoch
            means = expected.loc[expected["epoch"] == r["epoch"], "mean"].tolist()
            assert (r["mean"] is None and any(map(math.isnan, means))) or r["mean"] in means, (mechanism, r)
    assert figure.size()[0] <= figures.COLUMN_PX


def test_tables_name_their_source_and_print_numbers_for_readers():
    assert format_number(27850.0) == "27,850" and format_number(float("nan")) == "–"
    assert format_number(0.00012) == "0.00012" and format_number(3.14159, 2) == "3.14" and format_number("x") == "x"
    html = captioned(pd.DataFrame({"v": [1.0, np.nan]}), "What it shows", "where it is from").to_html()
    assert "<caption>What it shows. Source: where it is from.</caption>" in html and "nan" not in html.lower()
