"""Every page of the built book in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Per page of _toc.yml: HTTP 200, no console errors or uncaught exceptions, no failed local requests,
no broken images, the figures and tables that the executed notebook's outputs hold, and on
notebook chapters the Binder, Colab and edit buttons of the source notebook (notebooks/<name>.ipynb/.py).
A full-page screenshot of each page goes to _build/screenshots/. The check runs offline: requests
to other hosts (a CDN's script, say) are answered with an empty body and listed, not judged.
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
EXECUTED = "book/executed/"
# the order in which myst-nb picks one representation of an output for HTML
MIME_PRIORITY = ["text/html", "image/svg+xml", "image/png", "image/jpeg", "image/gif", "text/markdown", "text/plain"]
# a Markdown table's delimiter row: only pipes, dashes, colons and blanks, with a pipe and a dash
MARKDOWN_TABLE_RULE = re.compile(r"^(?=[^\n]*\|)(?=[^\n]*-)[ \t]*[|:\- \t]+$", re.MULTILINE)


def expected_outputs(nb: dict) -> dict[str, int]:
    """Images and tables that the rendered outputs of an executed notebook must show."""
    images = tables = 0
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
            elif mime == "text/markdown":
                tables += len(MARKDOWN_TABLE_RULE.findall(text))
    return {"images": images, "tables": tables}


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
    assert expected_outputs(nb) == {"images": 2, "tables": 2}


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


# Collected from _toc.yml, so new chapters are visited without editing this file.
@pytest.mark.browser
@pytest.mark.parametrize("docname", toc_docnames())
def test_page_renders_cleanly(docname, book_url, browser):
    from playwright.sync_api import expect

    html = BUILT_HTML / f"{docname}.html"
    assert html.is_file(), f"{docname} is in _toc.yml but {html} was not built"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    external: list[str] = []

    def route(r):
        if r.request.url.startswith(book_url):
            r.continue_()
        else:
            external.append(r.request.url)
            r.fulfill(status=200, body="")

    page.route("**/*", route)
    console_errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and console_errors.append(f"{m.text} ({m.location})"))
    page.on("pageerror", lambda exc: problems.append(f"uncaught exception: {exc}"))
    page.on(
        "response",
        lambda r: r.status >= 400 and r.url.startswith(book_url) and problems.append(f"HTTP {r.status}: {r.url}"),
    )
    page.on(
        "requestfailed",
        lambda r: r.url.startswith(book_url) and problems.append(f"request failed: {r.url} ({r.failure})"),
    )
    try:
        response = page.goto(f"{book_url}/{docname}.html", wait_until="load")
        assert response is not None and response.status == 200, f"{docname}: HTTP {response and response.status}"
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
        counts = page.evaluate(
            """() => ({outputTables: document.querySelectorAll('.cell_output table').length,
                       text: (document.querySelector('article') || document.body).innerText.trim().length,
                       title: document.title,
                       hrefs: Array.from(document.querySelectorAll('a[href]')).map(a => a.href)})"""
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / f"{docname.replace('/', '__')}.png"
        page.screenshot(path=str(shot), full_page=True)

        # A resource from another host was answered empty here (no network), so an error that names
        # it (e.g. the integrity check of the widgets' require.js from a CDN) is this test's doing.
        stubbed = [e for e in console_errors if any(url in e for url in external)]
        problems += [f"console error: {e}" for e in console_errors if e not in stubbed]
        if stubbed:
            print(f"{docname}: console errors caused by the offline stubs, not the page: {stubbed}")
        broken = [i["src"] for i in images if i["width"] == 0 and i["src"].startswith(book_url)]
        assert not broken, f"{docname}: broken images {broken}"
        assert not problems, f"{docname}:\n" + "\n".join(problems)
        assert counts["title"] and counts["text"] > 200, f"{docname}: page looks empty ({counts['text']} characters)"
        assert shot.stat().st_size > 10_000, f"{docname}: screenshot {shot} is suspiciously small"

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
            shown = {"images": sum(i["output"] for i in images), "tables": counts["outputTables"]}
            assert shown == expected, f"{docname}: outputs shown {shown}, executed notebook has {expected}"
            assert expected["images"] + expected["tables"] > 0, f"{docname}: a chapter without a figure or table"
        else:
            launch = [h for h in hrefs if "mybinder.org" in h or "colab.research.google.com" in h]
            assert not launch, f"{docname} is not a notebook but has launch buttons: {launch}"
        if external:
            print(f"{docname}: answered {len(external)} requests to other hosts empty: {sorted(set(external))}")
    finally:
        context.close()
