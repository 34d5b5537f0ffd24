"""Where generated data sets live: one folder per generator spec, under a shared base folder.

Every synthetic set (CIFAR-10 look-alike, ImageNet-style folder, COCO scenes) is written by a
generator ``writer(folder, **spec)`` that leaves a ``SYNTHETIC.json`` marker with its arguments.
A set goes into ``base/<kind>-<arg><value>-...`` named by its complete spec (the writer's
defaults filled in), so sets of different specs (smoke and full profiles) share a base folder
without clashing, and asking again for the same spec reuses the folder.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from ecalib.errors import UsageError

MARKER = "SYNTHETIC.json"


def write_marker(folder: str | Path, generator: str, **spec) -> None:
    """The ``SYNTHETIC.json`` marker of a generated set: its generator (format version 1) and arguments."""
    (Path(folder) / MARKER).write_text(json.dumps({"generator": generator, "version": 1, **spec}, indent=2))


def full_spec(writer: Callable, spec: dict | None) -> dict:
    """``spec`` with the writer's defaults for every argument it leaves out; unknown names are refused."""
    params = list(inspect.signature(writer).parameters.values())[1:]  # after the target folder
    allowed = {p.name: p.default for p in params}
    unknown = sorted(set(spec or {}) - set(allowed))
    if unknown:
        raise UsageError(f"{writer.__name__} has no argument(s) {unknown}; allowed: {', '.join(allowed)}")
    return {**allowed, **(spec or {})}


def _value(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def set_name(kind: str, writer: Callable, spec: dict | None) -> str:
    """The folder name of one set: ``kind`` and every argument of its complete spec, in signature order."""
    return "-".join([kind, *(f"{k}{_value(v)}" for k, v in full_spec(writer, spec).items())])


def recorded_spec(folder: str | Path) -> dict | None:
    """The generator record of a synthetic set, or None when ``folder`` holds none."""
    marker = Path(folder) / MARKER
    return json.loads(marker.read_text()) if marker.exists() else None


def synthetic_dir(base: str | Path, kind: str, writer: Callable, spec: dict | None = None) -> Path:
    """The folder of the set ``writer(**spec)`` under ``base`` (nothing is written).

    ``base`` itself is used when it already is a synthetic set (written there directly) that
    agrees with every argument ``spec`` names; a set that disagrees is refused.
    """
    base = Path(base)
    recorded = recorded_spec(base)
    if recorded is None:
        return base / set_name(kind, writer, spec)
    full_spec(writer, spec)
    differs = {k: v for k, v in (spec or {}).items() if recorded.get(k) != v}
    if differs:
        raise UsageError(
            f"the synthetic set in {base} was generated with {recorded}, not {differs}; give its parent "
            f"folder (or another data_dir) to get a set of its own"
        )
    return base


def ensure_synthetic(folder: str | Path, writer: Callable, spec: dict | None = None) -> Path:
    """Generate the set into ``folder`` unless it is there; written beside it and renamed, so a
    killed generation never leaves a half-written set behind."""
    folder = Path(folder)
    if (folder / MARKER).exists():
        return folder
    if folder.exists() and any(folder.iterdir()):
        raise UsageError(f"{folder} is not empty and not a synthetic set (no {MARKER}); use another data_dir")
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.parent / f".{folder.name}.{os.getpid()}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        writer(partial, **(spec or {}))
        if folder.exists():
            folder.rmdir()  # empty, checked above
        os.replace(partial, folder)
    except FileExistsError:  # another process finished first
        pass
    except OSError:
        if not (folder / MARKER).exists():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def synthetic_set(base: str | Path, kind: str, writer: Callable, spec: dict | None = None) -> Path:
    """:func:`synthetic_dir` of the spec, generated there if needed."""
    return ensure_synthetic(synthetic_dir(base, kind, writer, spec), writer, spec)
