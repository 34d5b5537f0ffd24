"""Serve the figures' JavaScript from the book itself, once per page that has a figure.

The figures of ``ecalib.reports.figures`` are Vega-Lite specs with their static SVG inline. This
extension writes two files into ``_static/`` when the HTML is built, and adds them to every page whose
body holds a figure (and to no other page):

- ``vega-<versions>.js``: Vega, Vega-Lite and vega-embed, bundled by vl-convert (the same versions that
  drew the static SVGs), ~0.9 MB, cached by the browser across pages;
- ``ecalib-figures.js``: draws every figure of the page when it has loaded;

and ``ecalib.css`` (every page): code that wraps, compact output tables with their captions above.

Nothing is loaded from another host when the book is read.
"""

from __future__ import annotations

from pathlib import Path

FIGURES_JS = "ecalib-figures.js"
BOOK_CSS = "ecalib.css"
# Readable at the column's width (~690 px): code wraps instead of running off the right edge, output
# tables are compact with their caption (what, and the source) above them, figures never wider.
CSS = """
div.highlight pre, .cell_output pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.cell_output table { font-size: 0.78rem; margin: 0.3rem 0 1rem 0; min-width: 60%; }
.cell_output table th, .cell_output table td { padding: 0.15rem 0.4rem; }
.cell_output table caption { caption-side: top; text-align: left; font-size: 0.85rem; padding: 0.2rem 0;
  color: var(--pst-color-text-muted); }
.ecalib-figure, .ecalib-figure svg { max-width: 100%; }
.ecalib-figure .ecalib-static svg { height: auto; }
.ecalib-figure figcaption { font-size: 0.85rem; color: var(--pst-color-text-muted); }
.ecalib-figure .vega-embed { display: block; }
"""


def vega_bundle_name() -> str:
    import vl_convert as vlc

    from ecalib.reports.figures import _vegalite_version

    return f"vega-{vlc.get_vega_version()}-lite-{_vegalite_version()}-embed-{vlc.get_vega_embed_version()}.js"


def figures_js() -> str:
    from ecalib.reports.figures import RENDER_JS

    return (
        RENDER_JS
        + "window.ecalibFigures.inBook = true;\n"
        + 'document.addEventListener("DOMContentLoaded", function () { window.ecalibFigures.renderAll(); });\n'
    )


def _write_static(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    import vl_convert as vlc

    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    bundle = static / vega_bundle_name()
    if not bundle.exists():
        # in a function scope: the bundle's top-level names (e.g. `_`) would clash with the page's globals;
        # it publishes vegaEmbed, vega and vegaLite on window itself
        bundle.write_text("(function () {\n" + vlc.javascript_bundle() + "\n})();\n")
    (static / FIGURES_JS).write_text(figures_js())
    (static / BOOK_CSS).write_text(CSS)


def _on_page(app, pagename, templatename, context, doctree):
    if 'class="ecalib-figure"' in context.get("body", ""):
        # synchronous, in the head: defined before the figures' own inline scripts run
        app.add_js_file(vega_bundle_name(), priority=300)
        app.add_js_file(FIGURES_JS, priority=301)


def setup(app):
    app.add_css_file(BOOK_CSS)
    app.connect("html-page-context", _on_page)
    app.connect("build-finished", _write_static)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
