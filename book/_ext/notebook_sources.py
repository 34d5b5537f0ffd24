"""Point the launch and edit buttons of executed chapters at their source notebooks.

``make book`` executes ``notebooks/<name>.ipynb`` into ``book/executed/<name>.ipynb`` (ignored by
git) and the book renders those. The theme derives button URLs from the page path, which would
send Binder, Colab and "edit" to a file that does not exist in the repository; this rewrites
``book/executed/<name>.ipynb`` to ``notebooks/<name>.ipynb`` in every absolute header-button URL
of those pages, and sends "edit" to the text source ``notebooks/<name>.py`` that jupytext pairs with
the notebook. Relative URLs (the "download .ipynb" button, which serves the executed copy from
``_sources/``) and the issue link (which names the page) are left alone.
"""

from __future__ import annotations

import re

EXECUTED = "book/executed/"
SOURCES = "notebooks/"


def rewrite_url(url: str, old: str = EXECUTED, new: str = SOURCES) -> str:
    if not url.startswith(("http://", "https://")):
        return url
    return re.sub(re.escape(old) + r"([^/?#&]+\.ipynb)", lambda m: new + m.group(1), url)


def rewrite_urls(node, old: str = EXECUTED, new: str = SOURCES):
    """Apply ``rewrite_url`` to every ``url`` of a nested list/dict of header buttons."""
    if isinstance(node, dict):
        return {
            k: (rewrite_url(v, old, new) if k == "url" and isinstance(v, str) else rewrite_urls(v, old, new))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [rewrite_urls(item, old, new) for item in node]
    return node


def edit_text_source(url: str) -> str:
    """The edit button opens the notebook's text source, ``notebooks/<name>.py`` (py:percent, paired by jupytext)."""
    if "/edit/" not in url:
        return url
    return re.sub(re.escape(SOURCES) + r"([^/?#&]+)\.ipynb", lambda m: SOURCES + m.group(1) + ".py", url)


def _edit_buttons(node):
    if isinstance(node, dict):
        return {
            k: (edit_text_source(v) if k == "url" and isinstance(v, str) else _edit_buttons(v)) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_edit_buttons(item) for item in node]
    return node


def _on_page(app, pagename, templatename, context, doctree):
    if pagename.startswith(EXECUTED) and "header_buttons" in context:
        context["header_buttons"] = _edit_buttons(rewrite_urls(context["header_buttons"]))


def setup(app):
    # after sphinx-book-theme adds its buttons (priority 501)
    app.connect("html-page-context", _on_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
