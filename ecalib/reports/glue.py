"""Values for the book's prose: myst-nb ``glue`` when the book is built, a no-op elsewhere (Colab, plain Jupyter)."""

from __future__ import annotations


def glue(name: str, value, display: bool = False) -> None:
    """Store ``value`` under ``name`` for ``{glue:text}`` roles; silently skipped without myst-nb."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    myst_glue(name, value, display=display)
