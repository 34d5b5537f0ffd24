"""Every page of the built book in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Per page of _toc.yml: HTTP 200, no console errors or uncaught exceptions, no failed local requests,
no broken images, the figures and tables that the executed notebook's outputs hold, and on
notebook chapters the Binder, Colab and edit buttons of the source notebook (notebooks/<name>.ipynb/.py).
Readable at the book's width: no table or code block wider than the text column, no figure wider
than it (unless a link opens it full size), every output table with a caption that names its source.
Every interactive figure (ecalib.reports.figures) is drawn and driven: a hovered point's tooltip is
read against the figure's data, a legend click fades the other series, the Eq. 12 explorer's slider
changes k to what ecalib.layers.eca_kernel_size gives; without JavaScript each figure's static SVG
shows instead. A full-page screenshot of each page goes to _build/screenshots/ (and, for pages with
figures, one without JavaScript to _build/screenshots/no-js/), the page weights to
_build/screenshots/page-weights.json. The check runs offline: requests to other hosts are answered
with an empty body and listed; a figure's script requested from another host fails the page.
`make browser-test` runs this after `make book`; it skips when the book, Playwright or Chromium is
missing, and fails instead under ECALIB_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from helpers import BUILT_HTML, ROOT, needs, toc_docnames

CHROMIUM = Path(os.environ.get("ECALIB_CHROMIUM", "/usr/bin/chromium"))
# Headless as root on a machine without network: no sandbox, no GPU, no background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = ROOT / "_build" / "screenshots"
# a figure library or widget loader from another host: the book must serve its figures' scripts itself
FIGURE_SCRIPT = re.compile(r"vega|plotly|bokeh|require(\.min)?\.js|jupyter-widgets|html-manager", re.IGNORECASE)
EXECUTED = "book/executed/"
# the order in which myst-nb picks one representation of an output for HTML
MIME_PRIORITY = ["text/html", "image/svg+xml", "image/png", "image/jpeg", "image/gif", "text/markdown", "text/plain"]
# a Markdown table's delimiter row: only pipes, dashes, colons and blanks, with a pipe and a dash
MARKDOWN_TABLE_RULE = re.compile(r"^(?=[^\n]*\|)(?=[^\n]*-)[ \t]*[|:\- \t]+$", re.MULTILINE)


def expected_outputs(nb: dict) -> dict[str, int]:
    """Images, tables and interactive figures that the rendered outputs of an executed notebook must show."""
    images = tables = figures = 0
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] != "code" or {"remove-cell", "remove-output"} & set(tags):
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            mime = next((m for m in MIME_PRIORITY if m in data), None)
            if mime is None:
                continue
            text = data[mime] if isinstance(data[mime], str) else "".join(data[mime])
            if mime.startswith("image/"):
                images += 1
            elif mime == "text/html":
                tables += len(re.findall(r"<table\b", text, re.IGNORECASE))
                images += len(re.findall(r"<img\b", text, re.IGNORECASE))
                figures += len(re.findall(r'<figure class="ecalib-figure"', text))
            elif mime == "text/markdown":
                tables += len(MARKDOWN_TABLE_RULE.findall(text))
    return {"images": images, "tables": tables, "figures": figures}


def expected_buttons(name: str) -> dict[str, str]:
    """The launch URLs of the source notebook notebooks/<name>.ipynb and the edit URL of its text source
    notebooks/<name>.py, as _config.yml configures them."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo, launch = config["repository"], config["launch_buttons"]
    org_repo = urlsplit(repo["url"]).path.strip("/")
    source = f"notebooks/{name}.ipynb"
    interface = "tree" if launch.get("notebook_interface", "classic") == "classic" else "lab/tree"
    binder = f"{launch['binderhub_url'].rstrip('/')}/v2/gh/{org_repo}/{repo['branch']}"
    return {
        "Binder": f"{binder}?urlpath={interface}/{source}",
        "Colab": f"{launch['colab_url'].rstrip('/')}/github/{org_repo}/blob/{repo['branch']}/{source}",
        "edit": f"{repo['url'].rstrip('/')}/edit/{repo['branch']}/notebooks/{name}.py",
    }


def test_expected_outputs_follow_the_rendered_representation():
    png = {"output_type": "display_data", "data": {"image/png": "iVBO", "text/plain": "<Figure>"}}
    frame = {"output_type": "execute_result", "data": {"text/html": "<table><tr><td>1</td></tr></table>"}}
    md_table = {"output_type": "display_data", "data": {"text/markdown": "| a | b |\n|---|:--:|\n| 1 | 2 |"}}
    text = {"output_type": "stream", "name": "stdout", "text": "<table>"}
    nb = {
        "cells": [
            {"cell_type": "code", "metadata": {}, "outputs": [png, frame, md_table, text]},
            {"cell_type": "code", "metadata": {"tags": ["remove-output"]}, "outputs": [png, frame]},
            {"cell_type": "code", "metadata": {"tags": ["remove-input"]}, "outputs": [png]},
            {"cell_type": "markdown", "metadata": {}, "source": "| a |\n|---|"},
        ]
    }
    assert expected_outputs(nb) == {"images": 2, "tables": 2, "figures": 0}
    figure = {
        "output_type": "display_data",
        "data": {"text/html": '<figure class="ecalib-figure" id="x">', "image/png": "iVBO"},
    }
    assert expected_outputs({"cells": [{"cell_type": "code", "metadata": {}, "outputs": [figure]}]})["figures"] == 1


def test_expected_buttons_follow_the_config():
    urls = expected_buttons("cifar10")
    assert urls["Binder"] == "https://mybinder.org/v2/gh/ecalib/ecalib/main?urlpath=tree/notebooks/cifar10.ipynb"
    assert urls["Colab"] == "https://colab.research.google.com/github/ecalib/ecalib/blob/main/notebooks/cifar10.ipynb"
    assert urls["edit"] == "https://github.com/ecalib/ecalib/edit/main/notebooks/cifar10.py"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def book_url():
    needs((BUILT_HTML / "index.html").is_file(), f"no built book in {BUILT_HTML} (run `make book`)")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(BUILT_HTML)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        needs(False, "Playwright is not installed (pip install -r requirements.txt)")
    needs(os.access(CHROMIUM, os.X_OK), f"no Chromium at {CHROMIUM} (apt-get install chromium, or set ECALIB_CHROMIUM)")
    with sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        except Exception as exc:  # a browser that does not start is a broken setup, reported as such
            needs(False, f"{CHROMIUM} did not start under Playwright: {exc}")
        yield chromium
        chromium.close()


# Checks run in the page: layout at the book's width, captions, figures (JavaScript, in the page).
LAYOUT_JS = """() => {
    const article = document.querySelector('article') || document.body;
    const box = article.getBoundingClientRect();
    const name = e => (e.closest('[id]') || {}).id || e.tagName;
    const wide = [];
    for (const e of article.querySelectorAll('pre, table')) {
        const r = e.getBoundingClientRect();
        if (r.width === 0) continue;  // collapsed output
        if (e.scrollWidth > e.clientWidth + 1 || r.right > box.right + 1)
            wide.push(`${e.tagName.toLowerCase()} in #${name(e)}: ${Math.round(r.width)} px (scroll ${e.scrollWidth}) `
                      + `in a ${Math.round(box.width)} px column: ${e.innerText.slice(0, 60)}`);
    }
    const uncaptioned = Array.from(article.querySelectorAll('.cell_output table'))
        .filter(t => !(t.querySelector('caption') && /Source:/.test(t.querySelector('caption').innerText)))
        .map(t => `table in #${name(t)}: ${t.innerText.slice(0, 60)}`);
    const oversized = Array.from(article.querySelectorAll('.cell_output img'))
        .filter(i => i.naturalWidth > box.width + 1 && !i.closest('a'))
        .map(i => `image ${i.src.slice(0, 60)}: ${i.naturalWidth} px wide`);
    const figures = Array.from(article.querySelectorAll('.ecalib-figure')).map(f => {
        const svg = f.querySelector('.ecalib-chart svg');
        return {name: f.dataset.ecalibFigure, rendered: f.dataset.rendered || 'no',
                width: svg ? svg.getBoundingClientRect().width : 0,
                right: f.getBoundingClientRect().right, column: box.right};
    });
    return {wide, uncaptioned, oversized, figures, column: box.width};
}"""


def open_page(browser, book_url, docname, javascript=True):
    """A fresh page of ``docname`` with its problems recorded: (context, page, log)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=javascript)
    page = context.new_page()
    log = {"problems": [], "external": [], "console": [], "bytes": {}}

    def route(r):
        if r.request.url.startswith(book_url):
            r.continue_()
        else:
            log["external"].append((r.request.resource_type, r.request.url))
            r.fulfill(status=200, body="")

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and log["console"].append(f"{m.text} ({m.location})"))
    page.on("pageerror", lambda exc: log["problems"].append(f"uncaught exception: {exc}"))
    page.on(
        "response",
        lambda r: (
            r.status >= 400 and r.url.startswith(book_url) and log["problems"].append(f"HTTP {r.status}: {r.url}")
        ),
    )
    page.on(
        "requestfinished",
        lambda r: r.url.startswith(book_url) and log["bytes"].setdefault(r.resource_type, []).append(r.url),
    )
    page.on(
        "requestfailed",
        lambda r: r.url.startswith(book_url) and log["problems"].append(f"request failed: {r.url} ({r.failure})"),
    )
    response = page.goto(f"{book_url}/{docname}.html", wait_until="load")
    assert response is not None and response.status == 200, f"{docname}: HTTP {response and response.status}"
    return context, page, log


def wait_for_figures(page, docname):
    """Every figure of the page drawn by Vega (data-rendered="yes"), or the reason it was not."""
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.ecalib-figure'))"
        ".every(f => ['yes', 'failed'].includes(f.dataset.rendered))",
        timeout=60_000,
    )
    failed = page.evaluate(
        "() => Array.from(document.querySelectorAll('.ecalib-figure'))"
        ".filter(f => f.dataset.rendered !== 'yes').map(f => f.dataset.ecalibFigure)"
    )
    assert not failed, f"{docname}: figures not drawn: {failed}"


def page_weight(log, book_url) -> dict:
    """Bytes this page loaded from the book, by kind, read from the built files."""

    def size(url):
        path = BUILT_HTML / urlsplit(url).path.lstrip("/")
        return path.stat().st_size if path.is_file() else 0

    weight = {kind: sum(size(u) for u in urls) for kind, urls in log["bytes"].items()}
    scripts = log["bytes"].get("script", [])
    weight["vega bundle loads"] = sum("/_static/vega-" in u for u in scripts)
    return weight


# Collected from _toc.yml, so new chapters are visited without editing this file.
@pytest.mark.browser
@pytest.mark.parametrize("docname", toc_docnames())
def test_page_renders_cleanly(docname, book_url, browser):
    from playwright.sync_api import expect

    html = BUILT_HTML / f"{docname}.html"
    assert html.is_file(), f"{docname} is in _toc.yml but {html} was not built"
    context, page, log = open_page(browser, book_url, docname)
    problems, external, console_errors = log["problems"], log["external"], log["console"]
    try:
        # every image decoded (lazy ones forced to load), then measured
        images = page.evaluate(
            """async () => {
                const imgs = Array.from(document.images);
                imgs.forEach(i => { i.loading = 'eager'; });
                await Promise.all(imgs.map(i => i.decode().catch(() => null)));
                return imgs.map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth,
                                       output: !!i.closest('.cell_output')}));
            }"""
        )
        page.wait_for_load_state("networkidle")
        wait_for_figures(page, docname)
        counts = page.evaluate(
            """() => ({outputTables: document.querySelectorAll('.cell_output table').length,
                       figures: document.querySelectorAll('.cell_output .ecalib-figure').length,
                       text: (document.querySelector('article') || document.body).innerText.trim().length,
                       title: document.title,
                       hrefs: Array.from(document.querySelectorAll('a[href]')).map(a => a.href)})"""
        )
        layout = page.evaluate(LAYOUT_JS)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / f"{docname.replace('/', '__')}.png"
        page.screenshot(path=str(shot), full_page=True)
        weights = SCREENSHOTS / "page-weights"
        weights.mkdir(exist_ok=True)
        weight = {**page_weight(log, book_url), "figures": counts["figures"]}
        (weights / f"{docname.replace('/', '__')}.json").write_text(json.dumps(weight, indent=1))

        # A resource from another host was answered empty here (no network), so an error that names
        # it is this test's doing; a script from another host is the page's fault (no CDN at read time).
        urls = [url for _, url in external]
        stubbed = [e for e in console_errors if any(url in e for url in urls)]
        problems += [f"console error: {e}" for e in console_errors if e not in stubbed]
        problems += [f"figure script from another host: {url}" for kind, url in external if FIGURE_SCRIPT.search(url)]
        if stubbed:
            print(f"{docname}: console errors caused by the offline stubs, not the page: {stubbed}")
        broken = [i["src"] for i in images if i["width"] == 0 and i["src"].startswith(book_url)]
        assert not broken, f"{docname}: broken images {broken}"
        assert not problems, f"{docname}:\n" + "\n".join(problems)
        assert counts["title"] and counts["text"] > 200, f"{docname}: page looks empty ({counts['text']} characters)"
        assert shot.stat().st_size > 10_000, f"{docname}: screenshot {shot} is suspiciously small"
        assert not layout["wide"], f"{docname}: wider than the column:\n" + "\n".join(layout["wide"])
        assert not layout["uncaptioned"], f"{docname}: tables without a caption naming the source:\n" + "\n".join(
            layout["uncaptioned"]
        )
        assert not layout["oversized"], f"{docname}: images wider than the column:\n" + "\n".join(layout["oversized"])
        too_wide = [f for f in layout["figures"] if f["width"] > layout["column"] + 1 or f["right"] > f["column"] + 1]
        assert not too_wide, f"{docname}: figures wider than the {layout['column']} px column: {too_wide}"
        if counts["figures"]:
            assert weight["vega bundle loads"] == 1, f"{docname}: the Vega bundle loaded {weight['vega bundle loads']}x"

        hrefs = counts["hrefs"]
        if docname.startswith(EXECUTED):
            name = docname.removeprefix(EXECUTED)
            assert (ROOT / "notebooks" / f"{name}.ipynb").is_file(), f"{docname}: no source notebooks/{name}.ipynb"
            buttons = expected_buttons(name)
            for label, url in buttons.items():
                assert url in hrefs, f"{docname}: no {label} button for the source notebook; expected {url}"
            # the rocket menu opens and shows both launch links
            page.click(".dropdown-launch-buttons .dropdown-toggle")
            for label in ("Binder", "Colab"):
                link = page.locator(".dropdown-launch-buttons a", has_text=label)
                expect(link).to_be_visible()
                assert link.get_attribute("href") == buttons[label], f"{docname}: {label} menu entry"
            stray = [h for h in hrefs if h.startswith("http") and not h.startswith(book_url) and EXECUTED in h]
            stray = [h for h in stray if ".ipynb" in h]
            assert not stray, f"{docname}: buttons point at the executed copy, which is not in the repository: {stray}"

            executed = ROOT / f"{docname}.ipynb"
            assert executed.is_file(), f"{docname}: {executed} is missing; the book was not built by `make book` here"
            expected = expected_outputs(json.loads(executed.read_text()))
            shown = {
                "images": sum(i["output"] for i in images),
                "tables": counts["outputTables"],
                "figures": counts["figures"],
            }
            assert shown == expected, f"{docname}: outputs shown {shown}, executed notebook has {expected}"
            assert sum(expected.values()) > 0, f"{docname}: a chapter without a figure or table"
        else:
            launch = [h for h in hrefs if "mybinder.org" in h or "colab.research.google.com" in h]
            assert not launch, f"{docname} is not a notebook but has launch buttons: {launch}"
        if external:
            print(f"{docname}: answered {len(external)} requests to other hosts empty: {sorted(set(urls))}")
    finally:
        context.close()


def figure_pages() -> list[str]:
    """The pages whose executed notebook shows an interactive figure (none before the book is built)."""
    pages = []
    for docname in toc_docnames():
        executed = ROOT / f"{docname}.ipynb"
        if docname.startswith(EXECUTED) and executed.is_file():
            if expected_outputs(json.loads(executed.read_text()))["figures"]:
                pages.append(docname)
    return pages or ["(no built book with figures)"]


# The page's own tooltip, legend and slider, read back the way a reader sees them.
TOOLTIP = "#vg-tooltip-element"
MARKS = ["g.mark-symbol.role-mark path", "g.mark-rect.role-mark path", "g.mark-rule.role-mark line"]


def read_tooltip(page) -> dict[str, str]:
    page.wait_for_selector(f"{TOOLTIP}.visible", timeout=5_000)
    return page.evaluate(
        f"""() => Object.fromEntries(Array.from(document.querySelectorAll('{TOOLTIP} tr')).map(
                 r => [r.querySelector('.key').innerText.replace(/:$/, ''), r.querySelector('.value').innerText]))"""
    )


def hover(page, mark) -> dict[str, str] | None:
    """Move the pointer onto ``mark`` as a reader would (a few steps from beside it); its tooltip, if any."""
    mark.scroll_into_view_if_needed()
    box = mark.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 8, y)
    page.mouse.move(x, y, steps=4)
    try:
        return read_tooltip(page)
    except Exception:  # Playwright's TimeoutError: no tooltip came up
        return None


def value_matches(shown: str, value) -> bool:
    """A tooltip's text against a data value: equal text, or the number as formatted (to its last digit)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return shown == str(value)
    text = shown.replace(",", "").replace("\u2212", "-")
    try:
        number = float(text)
    except ValueError:
        return False
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return abs(number - value) <= 0.5 * 10 ** (int(exponent or 0) - decimals) * 1.0001


def record_for(tooltip: dict[str, str], datasets: dict[str, list[dict]]) -> dict | None:
    """The data record whose values show every value of the tooltip, if any."""
    for records in datasets.values():
        for record in records:
            if all(any(value_matches(v, x) for x in record.values()) for v in tooltip.values()):
                return record
    return None


def test_a_tooltip_is_matched_to_its_record():
    data = {"d": [{"epoch": 3, "mean": 75.4321, "mechanism": "eca"}, {"epoch": 4, "mean": 76.0, "mechanism": "se"}]}
    assert record_for({"mechanism": "eca", "epoch": "3", "top1 mean": "75.43"}, data) == data["d"][0]
    assert record_for({"mechanism": "eca", "epoch": "3", "top1 mean": "75.45"}, data) is None
    assert record_for({"mechanism": "se", "epoch": "4", "mean": "1.2e+3"}, data) is None
    assert value_matches("27,850", 27850) and value_matches("0.3410", 0.341) and not value_matches("0.35", 0.341)


@pytest.mark.browser
@pytest.mark.parametrize("docname", figure_pages())
def test_figures_respond_to_the_reader(docname, book_url, browser):
    """Hover, legend and sliders of every interactive figure on the page, without a kernel."""
    import math

    from ecalib.layers import eca_kernel_size
    from ecalib.reference import rc2020_cifar10_curves

    needs((ROOT / f"{docname}.ipynb").is_file(), "no built book with figures (run `make book`)")
    context, page, log = open_page(browser, book_url, docname)
    try:
        page.wait_for_load_state("networkidle")
        wait_for_figures(page, docname)
        names = page.evaluate("() => Array.from(document.querySelectorAll('.ecalib-figure')).map(f => f.id)")
        assert names, f"{docname}: no figure on the page"
        for ident in names:
            figure = page.locator(f"#{ident}")
            figure.scroll_into_view_if_needed()
            spec = json.loads(figure.locator("script.ecalib-spec").text_content())
            name = figure.get_attribute("data-ecalib-figure")
            if name == "eq12-explorer":
                check_explorer(page, figure, eca_kernel_size)
                continue
            # hover: a mark in the middle of the first kind that has marks; its tooltip is a record of the data
            tooltip = None
            for selector in MARKS:
                marks = figure.locator(f".ecalib-chart svg {selector}")
                if marks.count():
                    tooltip = hover(page, marks.nth(marks.count() // 2)) or hover(page, marks.first)
                    break
            assert tooltip, f"{docname}: figure {name} shows no tooltip on hover"
            record = record_for(tooltip, spec.get("datasets", {}))
            assert record is not None, f"{docname}: figure {name}: tooltip {tooltip} matches no record of its data"
            if name == "rc2020-cifar10-curves":  # and against the shipped reference data itself
                curves = rc2020_cifar10_curves()
                row = curves[
                    (curves["mechanism"] == tooltip["mechanism"])
                    & (curves["epoch"] == int(tooltip["epoch"]))
                    & (curves["metric"] == next(k for k in tooltip if k.endswith(" mean")).split()[0])
                ]
                mean = float(row["mean"].iloc[0])
                shown = float(next(v for k, v in tooltip.items() if k.endswith(" mean") and not k.startswith("none")))
                assert math.isclose(shown, mean, abs_tol=0.006), (tooltip, mean)
            page.mouse.move(0, 0)
            # legend: a click on the first entry fades the other series
            # the first legend is the colour legend, the one a click selects by
            entries = figure.locator(".ecalib-chart g.role-legend").first.locator("g.role-legend-label text")
            if '"bind": "legend"' in json.dumps(spec) and entries.count() > 1:  # one series: nothing to hide
                faded = f"""() => Array.from(document.querySelectorAll('#{ident} .ecalib-chart g.role-mark path'))
                    .map(p => parseFloat(p.getAttribute('opacity') ?? p.style.opacity ?? '1'))
                    .filter(o => !isNaN(o) && o <= 0.2).length"""
                before = page.evaluate(faded)
                entries.first.click(force=True)
                page.wait_for_timeout(300)
                after = page.evaluate(faded)
                assert after > before, f"{docname}: figure {name}: a legend click hid no series ({before} -> {after})"
                page.mouse.click(2, 2)
        assert not [url for _, url in log["external"] if FIGURE_SCRIPT.search(url)], log["external"]
        assert not log["problems"], log["problems"]
    finally:
        context.close()


def check_explorer(page, figure, kernel_size):
    """Move the explorer's sliders and read C, γ, b and k where the reader reads them, and count the band."""
    sliders = figure.locator(".vega-bindings input[type=range]")
    assert sliders.count() == 3, "the explorer has sliders for C, γ and b"
    readout = figure.locator(".ecalib-chart svg text", has_text="→ k =")

    def state():
        text = readout.first.text_content()
        match = re.search(r"C = (\d+), γ = (\d+), b = (\d+)\s+→\s+k = (\d+)", text)
        assert match, f"explorer readout {text!r}"
        return tuple(int(g) for g in match.groups())

    def set_slider(index, value):
        sliders.nth(index).evaluate(
            "(e, v) => { e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); }", str(value)
        )
        page.wait_for_timeout(200)

    seen = set()
    for c, gamma, b in ((8, 1, 0), (int(sliders.nth(0).get_attribute("max")), 1, 4), (96, 2, 1), (128, 2, 1)):
        set_slider(0, c)
        set_slider(1, gamma)
        set_slider(2, b)
        channels, shown_gamma, shown_b, k = state()
        assert (channels, shown_gamma, shown_b) == (c, gamma, b)
        assert k == kernel_size(channels, gamma, b), f"explorer: C={channels}, γ={gamma}, b={b} shows k={k}"
        window = min(channels, 24)
        expected = sum(abs(c - r) <= (k - 1) // 2 for r in range(window) for c in range(window))
        band = figure.locator(".ecalib-chart svg g.mark-rect.role-mark").nth(1).locator("path")
        assert band.count() == expected, f"explorer: C={channels}, k={k}: {band.count()} band cells, not {expected}"
        seen.add(k)
    assert len(seen) > 1, "the sliders never changed k"


@pytest.mark.browser
@pytest.mark.parametrize("docname", figure_pages())
def test_figures_without_javascript_show_their_static_image(docname, book_url, browser):
    needs((ROOT / f"{docname}.ipynb").is_file(), "no built book with figures (run `make book`)")
    context, page, _ = open_page(browser, book_url, docname, javascript=False)
    try:
        static = page.evaluate(
            """() => Array.from(document.querySelectorAll('.ecalib-figure')).map(f => {
                const svg = f.querySelector('.ecalib-static svg');
                const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
                return {name: f.dataset.ecalibFigure, width: r.width, height: r.height,
                        marks: svg ? svg.querySelectorAll('path, rect, line').length : 0};
            })"""
        )
        assert static and all(f["width"] > 100 and f["height"] > 50 and f["marks"] > 5 for f in static), static
        shots = SCREENSHOTS / "no-js"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"{docname.replace('/', '__')}.png"), full_page=True)
    finally:
        context.close()
