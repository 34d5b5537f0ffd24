"""One path policy for what users name: plain names stay inside their folder, outputs never replace inputs.

- A name that becomes part of a path (a recipe, a profile, a run name, a protocol) is a plain name:
  letters, digits and ``. _ + -``, no separators, no ``..``; so it cannot reach outside the results
  or configs folders.
- A folder to write into (results, benchmark output) must be creatable: no part of it is a file, and
  the nearest existing folder is writable; checked before any work starts.
- An output file or folder is never empty, never one of the command's inputs, never a folder where a
  file goes (or the reverse); an export folder must be new or empty, so nothing is silently replaced.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from ecalib.errors import UsageError

# Where generated runs go unless told otherwise: ignored by git (results/ holds the runs chosen to be committed).
DEFAULT_RESULTS_DIR = "runs"

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")
NAME_RULE = "a plain name: letters, digits and . _ + - (no '/', no '..', at most 200 characters)"


def plain_name(text: object, what: str) -> str:
    """``text`` if it is a plain name (``NAME_RULE``), else a UsageError naming ``what``."""
    if not isinstance(text, str) or not NAME.fullmatch(text) or ".." in text:
        from ecalib.limits import quoted

        raise UsageError(f"{what} {quoted(text)} is not allowed: it must be {NAME_RULE}")
    return text


def _nearest_existing(path: Path) -> Path:
    return next((p for p in (path, *path.parents) if p.exists() or p.is_symlink()), Path("."))


def writable_folder(text: str | os.PathLike, what: str, writable: bool = True) -> Path:
    """A folder that exists or can be created (no part of the path is a file) and, with ``writable``,
    written: the nearest existing folder is writable. Checked before work starts (CLI options, notebook
    parameters, :func:`ecalib.tasks.training.train`)."""
    if str(text).strip() == "":
        raise UsageError(f"{what} is empty; give a folder")
    path = Path(text)
    existing = _nearest_existing(path.absolute())
    if not existing.is_dir():
        inside = "" if existing == path.absolute() else f": {existing}"
        raise UsageError(f"{what} {path}{inside} is a file, not a folder")
    if writable and not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path}: {existing} is not writable")
    return path


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(
    path: str | os.PathLike, what: str, inputs: Iterable[str | os.PathLike] = (), folder: bool = False
) -> Path:
    """``path`` as a place to write one output (a file, or with ``folder`` a new or empty folder).

    Refused in one line: an empty name; a path that is one of ``inputs`` (or inside one, or holding
    one); a folder where a file goes or the reverse; a non-empty folder for ``folder`` outputs; a
    parent that is a file or not writable. An existing output file that is no input is replaced
    (atomically), as ``cp`` would.
    """
    if str(path).strip() == "":
        raise UsageError(f"{what} is empty; give a {'folder' if folder else 'file'} name")
    path = Path(path)
    for source in map(Path, inputs):
        resolved, source_resolved = path.resolve(), source.resolve()
        if (
            _same(path, source)
            or resolved == source_resolved
            or source_resolved in resolved.parents
            or (folder and resolved in source_resolved.parents)
        ):
            raise UsageError(f"{what} {path} would overwrite the input {source}; write somewhere else")
    if folder:
        if path.exists() and not path.is_dir():
            raise UsageError(f"{what} {path} is a file; give a new or empty folder")
        if path.is_dir() and any(path.iterdir()):
            raise UsageError(
                f"{what} {path} is a folder that is not empty; give a new or empty folder (nothing is overwritten)"
            )
    elif path.is_dir():
        raise UsageError(f"{what} {path} is a folder; give a file name")
    writable_folder(path.parent, what)
    return path
