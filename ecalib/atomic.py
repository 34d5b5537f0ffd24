"""Files that are either completely written or not there: write a temporary file, then rename it.

Every output of ecalib goes through here (checkpoints, result files, exports, converted weights), so
a crash, a full disk or a read-only target never leaves a partial file and never harms the file
already there. Files get the permissions the user's umask gives any new file (not mkstemp's 0600),
so results on a shared machine stay readable as the user intends.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ecalib.errors import UserError

# errno values that mean "no room for this file" (disk full, quota, file-size limit)
NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# errno values that mean "this place cannot be written" (permissions, read-only disk, a file in the way)
NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ENOENT}
TEMP_SUFFIX = ".tmp"


class WriteError(UserError, OSError):
    """A file could not be written (no space, no permission, read-only); whatever was there before is intact."""


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")  # how writers in Rust (safetensors) report an OS error


def _os_cause(err: BaseException, errnos: set[int]) -> OSError | None:
    """The OSError with one of ``errnos`` behind ``err`` (torch.save wraps it in a RuntimeError; safetensors
    reports it in its message as ``(os error 28)``)."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in errnos:
            return err
        found = _RUST_OS_ERROR.search(str(err))
        if found and int(found.group(1)) in errnos:
            return OSError(int(found.group(1)), os.strerror(int(found.group(1))))
        err = err.__cause__ or err.__context__
    return None


def umask() -> int:
    """The process's umask, read without changing it (Linux: /proc; elsewhere set and restored at once)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
        if orphan.is_dir() and not orphan.is_symlink():
            shutil.rmtree(orphan, ignore_errors=True)
        else:
            orphan.unlink(missing_ok=True)
    return orphans


def _write_error(err: BaseException, path: Path, size_hint: int | None) -> WriteError | None:
    """The one-line :class:`WriteError` for a write of ``path`` that failed with ``err`` (None: not a
    failure of the place or the space, e.g. a bug, which keeps its traceback)."""
    if isinstance(err, WriteError):
        return err
    cause = _os_cause(err, NO_SPACE)
    if cause is not None:
        free = shutil.disk_usage(_existing_parent(path)).free
        needed = f"; it needs about {_human(size_hint)}" if size_hint else ""
        return WriteError(
            f"could not write {path}: {cause.strerror or os.strerror(cause.errno)} "
            f"({_human(free)} free on that disk{needed}). Nothing was replaced: any earlier {path.name} is intact."
        )
    cause = _os_cause(err, NOT_WRITABLE)
    if cause is not None:
        where = f" ({cause.filename})" if cause.filename and str(cause.filename) != str(path) else ""
        return WriteError(
            f"could not write {path}: {cause.strerror or os.strerror(cause.errno)}{where}. "
            f"Nothing was replaced: any earlier {path.name} is intact."
        )
    return None


def _existing_parent(path: Path) -> Path:
    return next((p for p in path.parents if p.exists()), Path("."))


def _make_parent(path: Path, size_hint: int | None = None) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise (_write_error(err, path, size_hint) or err) from None


@contextmanager
def atomic_path(path: str | os.PathLike, size_hint: int | None = None) -> Iterator[Path]:
    """A fresh empty temporary file next to ``path`` for a writer that wants a file name (an exporter); on
    success it replaces ``path``, on any error it is removed and an existing ``path`` is left untouched.

    A write that fails for lack of space or permission raises :class:`WriteError` naming the file (and,
    for space, the free space and, with ``size_hint`` in bytes, about how much the file needed).
    """
    path = Path(path)
    _make_parent(path, size_hint)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temporary_name(path), suffix=TEMP_SUFFIX, dir=path.parent)
        os.fchmod(fd, 0o666 & ~umask())  # as open() would create it (mkstemp: 0600)
        os.close(fd)
    except OSError as err:
        raise (_write_error(err, path, size_hint) or err) from None
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        failure = _write_error(err, path, size_hint)
        if failure is None:
            raise
        raise failure from err


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", size_hint: int | None = None) -> Iterator:
    """Open a temporary file next to ``path``; on success it replaces ``path``, on any error it is removed
    and an existing ``path`` is left untouched (see :func:`atomic_path`)."""
    with atomic_path(path, size_hint) as tmp, open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_file(path, "w") as f:
        f.write(text)
    return Path(path)


@contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder next to ``path`` to fill; on success it becomes ``path`` (which must be missing or an
    empty folder), on any error it is removed. A half-written folder is never left at ``path``."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise WriteError(f"{path} exists and is not an empty folder; nothing was written")
    _make_parent(path)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=temporary_name(path), suffix=TEMP_SUFFIX, dir=path.parent))
        tmp.chmod(0o777 & ~umask())
    except OSError as err:
        raise (_write_error(err, path, None) or err) from None
    try:
        yield tmp
        os.replace(tmp, path)  # an empty folder at ``path`` is replaced; a non-empty one fails
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        failure = _write_error(err, path, None)
        if failure is None:
            raise
        raise failure from err
