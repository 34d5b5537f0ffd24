"""Files that are either completely written or not there: write a temporary file, then rename it."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ecalib.errors import UserError

# errno values that mean "no room for this file" (disk full, quota, file-size limit)
NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
TEMP_SUFFIX = ".tmp"


class WriteError(UserError, OSError):
    """A file could not be written (disk full, quota, size limit); whatever was there before is intact."""


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _no_space_cause(err: BaseException) -> OSError | None:
    """The OSError saying "no space" behind ``err`` (torch.save wraps it in a RuntimeError)."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in NO_SPACE:
            return err
        err = err.__cause__ or err.__context__
    return None


def temporary_name(path: Path) -> str:
    """Prefix of the temporaries written next to ``path`` (unique per write; see :func:`remove_orphans`)."""
    return f".{path.name}."


def remove_orphans(folder: str | os.PathLike) -> list[Path]:
    """Delete temporaries left in ``folder`` by writes that were killed; returns what was removed.

    Only call it while no other process can be writing there (e.g. holding the run's lock).
    """
    folder = Path(folder)
    orphans = sorted(folder.glob(f".*{TEMP_SUFFIX}")) if folder.is_dir() else []
    for orphan in orphans:
        orphan.unlink(missing_ok=True)
    return orphans


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", size_hint: int | None = None) -> Iterator:
    """Open a temporary file next to ``path``; on success it replaces ``path``, on any error it is removed
    and an existing ``path`` is left untouched.

    A write that fails for lack of space raises :class:`WriteError` naming the file, the free space
    and (with ``size_hint``, in bytes) about how much the file needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temporary_name(path), suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        cause = _no_space_cause(err)
        if cause is None:
            raise
        free = shutil.disk_usage(path.parent).free
        needed = f"; it needs about {_human(size_hint)}" if size_hint else ""
        raise WriteError(
            f"could not write {path}: {cause.strerror or os.strerror(cause.errno)} "
            f"({_human(free)} free on that disk{needed}). Nothing was replaced: any earlier {path.name} is intact."
        ) from err
