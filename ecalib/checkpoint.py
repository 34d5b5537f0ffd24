"""Checkpoint files, whatever model they hold: safe reading, checks, strict loading and atomic writing.

Reading never unpickles Python objects unless asked (``allow_pickle``); files ecalib writes carry a
digest of their tensors that every read checks. The official ECANet layout and its architecture
inference live beside the models (:mod:`ecalib.models.official`), resumable training state in
:mod:`ecalib.engine.training_state`.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import pickle
import pickletools
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from ecalib.atomic import atomic_file
from ecalib.errors import UsageError
from ecalib.limits import MAX_CHECKPOINT_DEPTH, quoted

ALLOW_PICKLE_HINT = (
    "Only if you trust the file, pass allow_pickle=True (CLI: --allow-pickle) to load it with full "
    "pickle, which can execute arbitrary code."
)
# A digest of every tensor in a file ecalib wrote, stored in the file under this extra key (the official
# loader reads only its own keys), checked whenever the file is read: bit flips never load silently.
CHECKSUM_KEY = "tensor_sha256"

MAX_ENTRIES = 10_000_000  # containers and values walked in one payload (shared references count each time)


class CheckpointError(UsageError):
    """A checkpoint that cannot be read or does not fit the requested model."""


def _strip_prefix(state_dict: dict[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    return {k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in state_dict.items()}


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _pickled_globals(path: Path) -> list[str]:
    """The Python objects a pickle refers to, read without executing it (legacy or zip-wrapped files)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                name = next(n for n in z.namelist() if n.endswith("data.pkl"))
                data = z.read(name)
        else:
            data = path.read_bytes()
        found, strings = [], []
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "STRING", "SHORT_BINSTRING", "BINSTRING"):
                strings.append(str(arg))
            elif op.name == "GLOBAL":
                found.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
        return list(dict.fromkeys(found))
    except Exception:  # not a pickle we can walk: the caller reports it as unreadable
        return []


_WARNED_PICKLES: set[Path] = set()


def _entries(obj: object) -> Iterator[tuple[tuple, object]]:
    """``(where, value)`` of every value inside ``obj`` (nested dicts, lists and tuples), depth first in
    stored order, without recursion; refuses payloads nested deeper than ``MAX_CHECKPOINT_DEPTH`` (or
    cyclic) or with more than ``MAX_ENTRIES`` values, so that no later walk can recurse or run away."""
    stack: list[tuple[tuple, object]] = [((), obj)]
    seen = 0
    while stack:
        where, value = stack.pop()
        seen += 1
        if len(where) > MAX_CHECKPOINT_DEPTH:
            raise CheckpointError(f"nested deeper than {MAX_CHECKPOINT_DEPTH} levels (at {_where(where[:4])}...)")
        if seen > MAX_ENTRIES:
            raise CheckpointError(f"holds more than {MAX_ENTRIES} values")
        yield where, value
        if isinstance(value, dict):
            stack.extend(((*where, k), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list | tuple):
            stack.extend(((*where, i), v) for i, v in reversed(list(enumerate(value))))


def _where(path: tuple) -> str:
    return "".join(f"[{quoted(part, 40)}]" for part in path) or "the top level"


def tensor_checksum(obj: object) -> str:
    """SHA-256 over every tensor of a payload (where it is, dtype, shape and bytes), ``CHECKSUM_KEY`` left out."""
    digest = hashlib.sha256()
    for where, value in _entries(obj):
        if where[:1] == (CHECKSUM_KEY,) or not isinstance(value, torch.Tensor):
            continue
        digest.update(f"{where}|{value.dtype}|{tuple(value.shape)}".encode())
        digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _check_payload(obj: object, path: Path) -> None:
    """Refuse a loaded payload that is too deep or too large to walk, or whose tensors do not match the
    checksum stored with them."""
    try:
        for _ in _entries(obj):
            pass
    except CheckpointError as err:
        raise CheckpointError(f"{path} is not a checkpoint ecalib can read: it is {err}") from None
    stored = obj.get(CHECKSUM_KEY) if isinstance(obj, dict) else None
    if stored is not None and stored != tensor_checksum(obj):
        raise CheckpointError(
            f"{path} is damaged: its tensors do not match the checksum stored with them ({CHECKSUM_KEY}); the "
            "file changed after it was written (a bad copy, disk or memory errors). Use another copy."
        )


def load_state_file(path: str | os.PathLike, allow_pickle: bool = False) -> object:
    """Read a weights file: ``.safetensors`` (no pickle at all) or ``torch.load`` with ``weights_only``.

    Failures become :class:`CheckpointError` messages that say what the file is. ``allow_pickle``
    falls back to full unpickling, which can execute code; it warns once per file.
    """
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise CheckpointError(f"{path} is a broken symbolic link (to {os.readlink(path)})")
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint path is not a file: {path}")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path, device="cpu")
        except (SafetensorError, OSError, ValueError) as err:
            raise CheckpointError(f"{path} is not a readable safetensors file ({_first_line(str(err))})") from None
    if allow_pickle and path.resolve() not in _WARNED_PICKLES:
        _WARNED_PICKLES.add(path.resolve())
        warnings.warn(
            f"loading {path} with full pickle (allow_pickle): unpickling can execute arbitrary code. "
            "Do this only for files you trust.",
            UserWarning,
            stacklevel=2,
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as err:
        message = str(err)
        if not allow_pickle:
            refused = [g for g in _pickled_globals(path) if not g.startswith(("torch.", "collections.OrderedDict"))]
            if "Unsupported global" in message or refused:
                found = next((line.strip() for line in message.splitlines() if "Unsupported global" in line), "")
                what = f"Python objects ({', '.join(refused[:4])})" if refused else "Python objects"
                raise CheckpointError(
                    f"{path} is an intact pickle that refers to {what} besides tensors and plain containers; "
                    f"the safe loader refuses those{f' ({found})' if found else ''}. {ALLOW_PICKLE_HINT}"
                ) from None
        detail = next((line.strip() for line in message.splitlines() if "Unsupported" in line), _first_line(message))
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint (truncated or corrupt? {detail})") from None
    except MemoryError:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint (it does not fit in memory)") from None
    except Exception as err:  # noqa: BLE001 - any failure of the loader on these bytes means an unreadable file
        with path.open("rb") as f:
            head = f.read(12)
        if not head:
            why = "the file is empty"
        elif not head.startswith((b"PK", b"\x80")):  # neither a zip archive (torch >= 1.6) nor a pickle
            why = f"it starts with {head!r}, which is neither a zip archive nor a pickle"
        else:
            why = f"truncated or corrupt? {type(err).__name__}: {_first_line(str(err))}"
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({why})") from None
    _check_payload(obj, path)
    return obj


def extract_state_dict(obj: object, path: str | os.PathLike = "<checkpoint>") -> dict[str, torch.Tensor]:
    """Unwrap ``{'state_dict': ...}`` (or a bare state dict) and strip ``module.`` prefixes."""
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        kind = type(obj).__name__
        keys = f" with keys {sorted(map(str, obj))[:8]}" if isinstance(obj, dict) else ""
        raise CheckpointError(
            f"{path} is a {kind}{keys}, not a state dict nor a dict with a 'state_dict' entry of tensors"
        )
    return _strip_prefix(obj)


def stored_number(value: object) -> float | int | None:
    """A stored scalar as a Python number (0-d or one-element tensors too), or None if it is not one."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def checkpoint_meta(obj: object, where: str | os.PathLike) -> dict:
    """The official layout's ``epoch``, ``arch`` and ``best_prec1`` of a loaded file, checked: a whole number
    >= 0, a short text, and a number (not NaN). Absent fields are left out; a malformed one is refused in
    one line starting with ``where`` (the file)."""
    if not isinstance(obj, dict):
        return {}
    meta = {}
    if "epoch" in obj:
        epoch = stored_number(obj["epoch"])
        if epoch is None or not math.isfinite(epoch) or epoch != int(epoch) or epoch < 0:
            raise CheckpointError(f"{where}: its epoch is {quoted(obj['epoch'])} (a whole number >= 0 is expected)")
        meta["epoch"] = int(epoch)
    if "arch" in obj:
        if not isinstance(obj["arch"], str) or len(obj["arch"]) > 200:
            raise CheckpointError(f"{where}: its arch is {quoted(obj['arch'])} (a model name is expected)")
        meta["arch"] = obj["arch"]
    if "best_prec1" in obj:
        best = stored_number(obj["best_prec1"])
        if best is None or math.isnan(best):
            raise CheckpointError(f"{where}: its best_prec1 is {quoted(obj['best_prec1'])} (a number is expected)")
        meta["best_prec1"] = float(best)
    return meta


def plain_values(meta: dict) -> dict:
    """Stored checkpoint metadata with 0-d tensors (e.g. ``best_prec1``) as Python numbers."""
    return {k: (v.item() if isinstance(v, torch.Tensor) and v.numel() == 1 else v) for k, v in meta.items()}


def first_few(items: list[str], limit: int = 5) -> str:
    return f"{items[:limit]}{' ...' if len(items) > limit else ''}"


def state_dict_problems(expected: dict[str, torch.Tensor], state_dict: dict[str, torch.Tensor]) -> list[str]:
    """What keeps ``state_dict`` from loading strictly into a model whose ``state_dict()`` is ``expected``.

    Missing, unexpected and mis-shaped keys, and non-finite weights, each naming the first tensors.
    ``expected`` may live on the meta device (only names and shapes are read). BN ``num_batches_tracked``
    counters may be absent (old files); they start at 0.
    """
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = [k for k in expected if k not in state_dict and k not in optional]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f"{k}: checkpoint {list(state_dict[k].shape)} vs model {list(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    non_finite = [
        k for k, v in state_dict.items() if v.is_floating_point() and v.numel() and not torch.isfinite(v).all()
    ]
    labels = ("missing", "unexpected", "size mismatch", "non-finite (NaN or inf)")
    return [
        f"{len(items)} {label} key(s): {first_few(items)}"
        for label, items in zip(labels, (missing, unexpected, shapes, non_finite), strict=True)
        if items
    ]


def with_batch_counters(
    state_dict: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """``state_dict`` with the BatchNorm ``num_batches_tracked`` counters of ``expected`` that it lacks (files
    written before PyTorch 0.4.1 have none) set to 0, as a new dict."""
    missing = {
        k: torch.zeros_like(v) for k, v in expected.items() if k.endswith("num_batches_tracked") and k not in state_dict
    }
    return {**state_dict, **missing} if missing else dict(state_dict)


def load_weights_strict(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """``load_state_dict(strict=True)`` after :func:`state_dict_problems` found nothing; else a readable error."""
    expected = model.state_dict()
    problems = state_dict_problems(expected, state_dict)
    if problems:
        raise CheckpointError(f"{source} does not fit {type(model).__name__}: " + "; ".join(problems))
    model.load_state_dict(with_batch_counters(state_dict, expected), strict=True)


def _tensor_bytes(obj: object) -> int:
    """Bytes of the tensors inside ``obj`` (nested dicts and lists): about the size of its file."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def atomic_torch_save(obj: object, path: str | os.PathLike, legacy_format: bool = False, checksum: bool = True) -> Path:
    """Write ``obj`` to a temporary file in the target folder, then rename it over ``path``.

    A crash or a failing ``torch.save`` leaves any existing ``path`` untouched. ``legacy_format``
    writes the pre-1.6 (non-zip) serialization that the 2019 official files use. ``checksum`` adds
    ``CHECKSUM_KEY`` to a dict payload (a copy): the digest of its tensors, checked by
    :func:`load_state_file` whenever the file is read back; the official code ignores that key.
    """
    if checksum and isinstance(obj, dict):
        obj = {k: v for k, v in obj.items() if k != CHECKSUM_KEY}
        obj[CHECKSUM_KEY] = tensor_checksum(obj)
    with atomic_file(path, size_hint=_tensor_bytes(obj)) as f:
        torch.save(obj, f, _use_new_zipfile_serialization=not legacy_format)
    return Path(path)
