"""Drop the second copy of inline scripts that Sphinx 7.4 writes into every page.

An inline script (``app.add_js_file(None, body=...)``) added after the builder started, as
sphinx-togglebutton and sphinx-thebe do, reaches the page twice: once as added, and once more
when the builder re-reads the registry with the file name ``''`` instead of ``None``. Twice
``const THEBE_JS_URL = ...`` is a SyntaxError in the browser ("Identifier 'THEBE_JS_URL' has
already been declared"), which the browser test reports. Keep the first of equal scripts.
"""

from __future__ import annotations


def script_key(js) -> tuple:
    attributes = getattr(js, "attributes", {}) or {}
    return (getattr(js, "filename", js) or "", getattr(js, "priority", 500), tuple(sorted(attributes.items())))


def unique_scripts(scripts: list) -> list:
    seen, out = set(), []
    for js in scripts:
        key = script_key(js)
        if key not in seen:
            seen.add(key)
            out.append(js)
    return out


def _on_page(app, pagename, templatename, context, doctree):
    if "script_files" in context:
        # a new list: the builder's own one is restored after each page anyway
        context["script_files"] = unique_scripts(context["script_files"])


def setup(app):
    app.connect("html-page-context", _on_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
