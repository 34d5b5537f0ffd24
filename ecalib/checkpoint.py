"""Read and write checkpoints in the official ECANet layout (``main.py``'s ``save_checkpoint``).

An official file is ``{'epoch', 'arch', 'state_dict', 'best_prec1', 'optimizer'}`` saved from
``nn.DataParallel``, so every key starts with ``module.``; its ``arch`` may be wrong (the R50
release says ``se_resnet50``). The architecture and ECA kernel sizes are therefore read from
the weights themselves, never from ``arch``. Files that ecalib wrote carry a trustworthy record of
the model (``'ecalib': {'version', 'model'}``, or a trainer's ``'config'``); it is used where the
weights cannot tell (circular vs zero ECA padding), when it fits them.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import pickle
import pickletools
import re
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ecalib.atomic import atomic_file
from ecalib.errors import UsageError
from ecalib.limits import MAX_CHECKPOINT_DEPTH, quoted
from ecalib.models.zoo import CIFAR_RESNET_LAYOUTS, PREFIX, RESNET_LAYOUTS

ALLOW_PICKLE_HINT = (
    "Only if you trust the file, pass allow_pickle=True (CLI: --allow-pickle) to load it with full "
    "pickle, which can execute arbitrary code."
)
_RESNET_KEY = re.compile(r"^layer(\d+)\.(\d+)\.")
_ECA_KEY = re.compile(r"^(layer(\d+)\.(\d+)|features\.(\d+)\.conv\.\d+)\.conv\.weight$")
# A digest of every tensor in a file ecalib wrote, stored in the file under this extra key (the official
# loader reads only its own keys), checked whenever the file is read: bit flips never load silently.
CHECKSUM_KEY = "tensor_sha256"
MAX_ENTRIES = 10_000_000  # containers and values walked in one payload (shared references count each time)


class CheckpointError(UsageError):
    """A checkpoint that cannot be read or does not fit the requested model."""


@dataclass
class OfficialCheckpoint:
    """A state dict (prefixes stripped) and what its weights say about the architecture."""

    path: Path
    state_dict: dict[str, torch.Tensor]
    model_name: str
    num_classes: int
    k_per_stage: tuple[int, ...] | None
    build_kwargs: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)  # epoch, arch, best_prec1 as stored
    padding: str | None = None  # ECA channel padding: 'zero' | 'circular' (None: no ECA layers)
    padding_source: str | None = None  # how ``padding`` was decided
    notes: list[str] = field(default_factory=list)


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


def _resnet_layout(state_dict: dict[str, torch.Tensor]) -> tuple[str, tuple[int, ...]]:
    blocks: dict[int, int] = {}
    for key in state_dict:
        m = _RESNET_KEY.match(key)
        if m:
            stage, block = int(m.group(1)), int(m.group(2))
            blocks[stage] = max(blocks.get(stage, 0), block + 1)
    block_type = "bottleneck" if "layer1.0.conv3.weight" in state_dict else "basic"
    return block_type, tuple(blocks[s] for s in sorted(blocks))


def _attention_of(state_dict: dict[str, torch.Tensor], scope: str) -> str:
    for attn in ("eca", "se", "cbam", "triplet"):
        if any(k.startswith(f"{scope}.{attn}.") for k in state_dict):
            return attn
    return "none"


def _kernel_sizes_per_stage(state_dict: dict[str, torch.Tensor]) -> tuple[int, ...]:
    by_stage: dict[int, set[int]] = {}
    for key, value in state_dict.items():
        m = _RESNET_KEY.match(key)
        if m and key.endswith(".eca.conv.weight"):
            by_stage.setdefault(int(m.group(1)), set()).add(int(value.shape[-1]))
    mixed = {s: sorted(ks) for s, ks in by_stage.items() if len(ks) > 1}
    if mixed:
        raise CheckpointError(f"ECA kernel sizes vary inside a stage {mixed}; ecalib builds one k per stage")
    return tuple(by_stage[s].pop() for s in sorted(by_stage))


def _other_architecture(state_dict: dict[str, torch.Tensor]) -> str | None:
    """What a ResNet-like state dict is when it is not one of the official ECA-Net layouts, or None."""
    if "layer1.0.conv1.weight" not in state_dict or "conv1.weight" in state_dict:
        return None
    if "conv1.0.weight" in state_dict:
        attn = " with ECA layers" if any(".se.conv.weight" in k for k in state_dict) else ""
        return (
            f"a ResNet with a deep stem (conv1.0/conv1.3/conv1.6{attn}), like timm's ResNet-D "
            "(e.g. ecaresnet50d), not one of the official ECA-Net models; load it with timm.create_model"
        )
    return "a ResNet without the official single-convolution stem ('conv1.weight'); ecalib builds the official models"


def infer_architecture(
    state_dict: dict[str, torch.Tensor], path: str | os.PathLike = "<checkpoint>"
) -> OfficialCheckpoint:
    """Find the registered model, ECA kernel sizes and class count that fit ``state_dict``."""
    other = _other_architecture(state_dict)
    if other:
        raise CheckpointError(f"{path} holds another architecture: {other}")
    try:
        return _infer(state_dict, path)
    except IndexError:  # a tensor with fewer dimensions than its name promises
        odd = [f"{k} {list(v.shape)}" for k, v in state_dict.items() if k.endswith("weight") and v.dim() < 2]
        raise CheckpointError(f"{path}: weights with impossible shapes for their names ({_listed(odd)})") from None


def _infer(state_dict: dict[str, torch.Tensor], path: str | os.PathLike) -> OfficialCheckpoint:
    if "layer1.0.conv1.weight" in state_dict and "fc.weight" in state_dict:
        block, layers = _resnet_layout(state_dict)
        stem = "cifar" if state_dict["conv1.weight"].shape[-1] == 3 else "imagenet"
        layouts = {
            d: (b, lay) for d, (b, lay, *_rest) in (CIFAR_RESNET_LAYOUTS if stem == "cifar" else RESNET_LAYOUTS).items()
        }
        depth = next((d for d, layout in layouts.items() if layout == (block, layers)), None)
        if depth is None:
            raise CheckpointError(
                f"{path}: a {block} ResNet with {list(layers)} blocks per stage and a {stem} stem "
                f"is not a registered depth ({', '.join(map(str, layouts))})"
            )
        attn = _attention_of(state_dict, "layer1.0")
        name = f"{PREFIX[attn]}resnet{depth}{'_cifar' if stem == 'cifar' else ''}"
        k = _kernel_sizes_per_stage(state_dict) if attn == "eca" else None
        kwargs = {"k_size": k} if k else {}
        num_classes = int(state_dict["fc.weight"].shape[0])
    elif "features.0.0.weight" in state_dict and "classifier.1.weight" in state_dict:
        eca = sorted(
            (int(m.group(4)), int(v.shape[-1]))
            for key, v in state_dict.items()
            if (m := _ECA_KEY.match(key)) and m.group(4) is not None
        )
        attn = "eca" if eca else ("se" if "features.1.conv.3.fc1.weight" in state_dict else "none")
        name = {"eca": "eca_mobilenet_v2", "none": "mobilenet_v2"}.get(attn, f"{attn}_mobilenet_v2")
        kwargs, k = {}, None
        if eca:
            from ecalib.models.mobilenetv2 import INVERTED_RESIDUAL_SETTINGS, official_mobilenet_k

            official = [official_mobilenet_k(c) for _, c, n, _ in INVERTED_RESIDUAL_SETTINGS for _ in range(n)]
            found = [ks for _, ks in eca]
            if found != official:
                if len(set(found)) != 1:
                    raise CheckpointError(
                        f"{path}: MobileNetV2 ECA kernels {found} follow neither the official "
                        "rule (1 if c < 96 else 3) nor a single k"
                    )
                kwargs = {"k_size": found[0]}
            k = tuple(dict.fromkeys(found))
        num_classes = int(state_dict["classifier.1.weight"].shape[0])
    else:
        sample = sorted(state_dict)[:6]
        raise CheckpointError(
            f"{path} is not an ECA-ResNet or (ECA-)MobileNetV2 state dict: expected keys such as "
            f"'layer1.0.conv1.weight' + 'fc.weight' or 'features.0.0.weight' + 'classifier.1.weight'; "
            f"found {sample}{' ...' if len(state_dict) > 6 else ''}"
        )
    return OfficialCheckpoint(Path(path), state_dict, name, num_classes, k, kwargs)


def _recorded_model(obj: object) -> tuple[str, str] | None:
    """The model name ecalib recorded when it wrote ``obj``, and where (official files have none we trust)."""
    if not isinstance(obj, dict):
        return None
    record, config = obj.get("ecalib"), obj.get("config")
    if isinstance(record, dict) and isinstance(record.get("model"), str):
        return record["model"], "ecalib's record in the file"
    if isinstance(config, dict) and isinstance(config.get("model"), str):
        return config["model"], "the training config in the file"
    return None


def _apply_record(ckpt: OfficialCheckpoint, recorded: tuple[str, str] | None) -> None:
    """Use the recorded model where it fits the weights (same family, depth, stem; ECA vs circular ECA)."""
    from ecalib.models.registry import list_models, model_info, same_weights_layout

    if ckpt.model_name not in list_models():
        return
    inferred = model_info(ckpt.model_name)
    if recorded is not None:
        name, where = recorded
        if name not in list_models():
            ckpt.notes.append(f"recorded model {name!r} is not registered here; built from the weights instead")
        else:
            info = model_info(name)
            if same_weights_layout(info, inferred):
                ckpt.model_name, inferred = name, info
                if info.attention in ("eca", "ceca"):
                    ckpt.padding_source = f"recorded ({where})"
            else:
                ckpt.notes.append(f"recorded model {name!r} does not fit the weights ({ckpt.model_name}); ignored")
    if inferred.attention in ("eca", "ceca"):
        ckpt.padding = "circular" if inferred.attention == "ceca" else "zero"
        ckpt.padding_source = ckpt.padding_source or "assumed: the weights cannot tell zero from circular padding"


def _number(value: object) -> float | int | None:
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
        epoch = _number(obj["epoch"])
        if epoch is None or not math.isfinite(epoch) or epoch != int(epoch) or epoch < 0:
            raise CheckpointError(f"{where}: its epoch is {quoted(obj['epoch'])} (a whole number >= 0 is expected)")
        meta["epoch"] = int(epoch)
    if "arch" in obj:
        if not isinstance(obj["arch"], str) or len(obj["arch"]) > 200:
            raise CheckpointError(f"{where}: its arch is {quoted(obj['arch'])} (a model name is expected)")
        meta["arch"] = obj["arch"]
    if "best_prec1" in obj:
        best = _number(obj["best_prec1"])
        if best is None or math.isnan(best):
            raise CheckpointError(f"{where}: its best_prec1 is {quoted(obj['best_prec1'])} (a number is expected)")
        meta["best_prec1"] = float(best)
    return meta


def _history_problem(history: object, epoch: int) -> str | None:
    """Why ``history`` is not the per-epoch record of a run at ``epoch``: one mapping of numbers per epoch,
    for consecutive epochs ending at ``epoch`` (a run started from an official file records only its own)."""
    if not isinstance(history, list):
        return f"its history is a {type(history).__name__}, not a list of epoch records"
    if len(history) > epoch:
        return f"its history has {len(history)} epoch records at epoch {epoch}"
    first = epoch - len(history) + 1
    for i, row in enumerate(history):
        if not isinstance(row, dict) or not all(isinstance(k, str) for k in row):
            return f"its history record {i + 1} is {quoted(row)}, not a mapping of metric names to numbers"
        bad = next((k for k, v in row.items() if _number(v) is None), None)
        if bad is not None:
            return f"its history record {i + 1} holds {bad}={quoted(row[bad])}, not a number"
        if row.get("epoch") != first + i:
            return f"its history record {i + 1} says epoch {quoted(row.get('epoch'))}, not {first + i}"
    return None


def _same_kind(saved: object, live: object) -> bool:
    """Whether an optimizer hyper-parameter read from a file has the kind of the live optimizer's value."""
    if isinstance(live, bool) or live is None:
        return saved is None or isinstance(saved, bool)
    if isinstance(live, int | float):
        number = _number(saved)
        return number is not None and math.isfinite(number)
    if isinstance(live, tuple | list):
        same_length = isinstance(saved, tuple | list) and len(saved) == len(live)
        return same_length and all(_same_kind(a, b) for a, b in zip(saved, live))
    return True


def optimizer_state_problems(saved: object, optimizer: torch.optim.Optimizer) -> list[str]:
    """What keeps ``saved`` (an ``optimizer.state_dict()`` read from a file) from loading into ``optimizer``
    and stepping: its layout, the parameter groups and counts, hyper-parameter kinds, and the shape and
    finiteness of every per-parameter tensor (torch checks only the counts, and a wrong shape fails later)."""
    if not isinstance(saved, dict):
        return [f"its optimizer state is {quoted(saved)}, not a mapping with 'state' and 'param_groups'"]
    if not isinstance(saved.get("state"), dict):
        return [f"its optimizer's state is {quoted(saved.get('state'))}, not a mapping of per-parameter states"]
    groups, live = saved.get("param_groups"), optimizer.param_groups
    listed = isinstance(groups, list) and all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups)
    if not listed:
        return [f"its optimizer param_groups are {quoted(groups)}, not a list of groups with 'params'"]
    if len(groups) != len(live):
        return [f"its optimizer has {len(groups)} parameter groups, this run's {len(live)}"]
    problems, shapes = [], {}
    for n, (group, ours) in enumerate(zip(groups, live)):
        ids = group["params"]
        if len(ids) != len(ours["params"]) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            problems.append(f"optimizer group {n} lists {quoted(ids)}, not the {len(ours['params'])} parameter ids")
            continue
        odd = [k for k, v in group.items() if k != "params" and k in ours and not _same_kind(v, ours[k])]
        problems += [f"optimizer group {n} has {k}={quoted(group[k])}" for k in odd]
        shapes.update(zip(ids, (p.shape for p in ours["params"])))
    for pid, entry in saved["state"].items():
        if pid not in shapes or not isinstance(entry, dict):
            problems.append(f"its optimizer state has {quoted(entry)} for parameter {quoted(pid)}")
            continue
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                if value.dim() > 0 and value.shape != shapes[pid]:
                    problems.append(
                        f"optimizer {name} of parameter {pid} is {list(value.shape)}, the parameter {list(shapes[pid])}"
                    )
                elif value.is_floating_point() and not torch.isfinite(value).all():
                    problems.append(f"optimizer {name} of parameter {pid} is not finite")
            elif value is not None and _number(value) is None:
                problems.append(f"optimizer {name} of parameter {pid} is {quoted(value)}")
    return problems[:5]


@dataclass
class TrainingState:
    """A resumable checkpoint whose every field was checked (:func:`read_training_state`)."""

    epoch: int
    best: float  # best_prec1 (-inf when the file has none)
    history: list[dict]
    state_dict: dict[str, torch.Tensor]
    optimizer: dict
    scaler: dict
    config: dict | None  # ecalib's training config (None: e.g. a file of the official main.py)


def read_training_state(
    path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer, where: str | None = None
) -> TrainingState:
    """Read a checkpoint to resume ``model`` and ``optimizer`` from, checking every field before anything
    is loaded or written: epoch, best_prec1, history, weights (keys, shapes, finite), optimizer state,
    scaler and config. Problems are one :class:`CheckpointError` line starting with ``where``."""
    where = where or f"cannot resume from {path}: it is damaged or not from a training run"
    state = load_state_file(path)
    if not isinstance(state, dict) or "state_dict" not in state or "optimizer" not in state:
        raise CheckpointError(f"{path} is not a training checkpoint (needs 'state_dict', 'optimizer' and 'epoch')")
    meta = checkpoint_meta(state, where)
    if "epoch" not in meta:
        raise CheckpointError(f"{where}: it has no epoch")
    history = state.get("history", [])
    problem = _history_problem(history, meta["epoch"])
    if problem:
        raise CheckpointError(f"{where}: {problem}")
    weights = extract_state_dict(state, path)
    problems = state_dict_problems(model.state_dict(), weights)
    if any("non-finite" in p for p in problems):
        bad = next(k for k, v in weights.items() if v.is_floating_point() and not torch.isfinite(v).all())
        raise CheckpointError(
            f"{where}: its weights are not finite ({bad} holds NaN or inf); resume from an earlier checkpoint "
            "or start the run over"
        )
    problems += optimizer_state_problems(state["optimizer"], optimizer)
    scaler, config = state.get("scaler") or {}, state.get("config")
    if not isinstance(scaler, dict) or any(_number(v) is None for v in scaler.values()):
        problems.append(f"its scaler is {quoted(scaler)}, not a mapping of numbers")
    if config is not None and not (isinstance(config, dict) and all(isinstance(k, str) for k in config)):
        problems.append(f"its config is {quoted(config)}, not a mapping of settings")
    if problems:
        raise CheckpointError(f"{where}: " + "; ".join(problems))
    best = meta.get("best_prec1", float("-inf"))
    return TrainingState(meta["epoch"], best, list(history), weights, state["optimizer"], scaler, config or None)


def read_official_checkpoint(path: str | os.PathLike, allow_pickle: bool = False) -> OfficialCheckpoint:
    """Read an official ``.pth.tar`` (or a bare state dict, or ``.safetensors``) and infer what model it holds.

    The architecture and ECA kernels come from the weights; a model recorded by ecalib (which can be
    circular ECA, indistinguishable by its weights) is used where it fits them. The stored ``epoch``,
    ``arch`` and ``best_prec1`` are checked (:func:`ecalib.checkpoint.checkpoint_meta`).
    """
    obj = load_state_file(path, allow_pickle=allow_pickle)
    ckpt = infer_architecture(extract_state_dict(obj, path), path)
    if isinstance(obj, dict) and "state_dict" in obj:
        ckpt.meta = checkpoint_meta(obj, path)
    _apply_record(ckpt, _recorded_model(obj))
    return ckpt


def plain_values(meta: dict) -> dict:
    """Stored checkpoint metadata with 0-d tensors (e.g. ``best_prec1``) as Python numbers."""
    return {k: (v.item() if isinstance(v, torch.Tensor) and v.numel() == 1 else v) for k, v in meta.items()}


def _listed(items: list[str], limit: int = 5) -> str:
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
        f"{len(items)} {label} key(s): {_listed(items)}"
        for label, items in zip(labels, (missing, unexpected, shapes, non_finite), strict=True)
        if items
    ]


def load_weights_strict(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """``load_state_dict(strict=True)`` after :func:`state_dict_problems` found nothing; else a readable error."""
    expected = model.state_dict()
    problems = state_dict_problems(expected, state_dict)
    if problems:
        raise CheckpointError(f"{source} does not fit {type(model).__name__}: " + "; ".join(problems))
    state_dict = dict(state_dict)
    for key in expected:
        if key.endswith("num_batches_tracked") and key not in state_dict:
            state_dict[key] = torch.zeros_like(expected[key])
    model.load_state_dict(state_dict, strict=True)


def load_official_checkpoint(path: str | os.PathLike, allow_pickle: bool = False) -> nn.Module:
    """Build the model an official checkpoint holds (k per stage read from its ECA weights) and load it strictly.

    The returned model is in eval mode; ``model.checkpoint_meta`` keeps the file's epoch/arch/best_prec1.
    """
    from ecalib.models.factory import create_model

    ckpt = read_official_checkpoint(path, allow_pickle=allow_pickle)
    model = create_model(ckpt.model_name, num_classes=ckpt.num_classes, **ckpt.build_kwargs)
    load_weights_strict(model, ckpt.state_dict, str(path))
    model.checkpoint_meta = ckpt.meta
    return model.eval()


def _tensor_bytes(obj: object) -> int:
    """Bytes of the tensors inside ``obj`` (nested dicts and lists): about the size of its file."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def checkpoint_problems(ckpt: OfficialCheckpoint) -> list[str]:
    """What would keep ``ckpt`` from loading into the model it names (checked on the meta device: no memory)."""
    from ecalib.models.factory import create_model

    with torch.device("meta"):
        model = create_model(ckpt.model_name, num_classes=ckpt.num_classes, **ckpt.build_kwargs)
    return state_dict_problems(model.state_dict(), ckpt.state_dict)


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


def save_official_checkpoint(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    arch: str | None = None,
    epoch: int = 0,
    best_prec1: float = 0.0,
    optimizer: torch.optim.Optimizer | None = None,
    legacy_format: bool = False,
    record: bool = True,
) -> Path:
    """Save ``model`` in the official layout (``module.``-prefixed keys inside ``'state_dict'``), atomically.

    The file loads back with :func:`load_official_checkpoint` and with the official code's
    ``model.load_state_dict(checkpoint['state_dict'])`` on a ``DataParallel`` model. An extra
    ``'ecalib'`` entry records the version and the registered model, which the weights alone cannot
    always tell (circular ECA padding), and ``CHECKSUM_KEY`` the digest of its tensors; the official loader
    ignores both. ``record=False`` leaves them out, for files exactly like the released ones.
    """
    from ecalib import __version__

    model = model.module if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)) else model
    info = getattr(model, "model_info", None)
    payload = {
        "epoch": int(epoch),
        "arch": arch or (info.name if info is not None else type(model).__name__),
        "state_dict": {f"module.{k}": v.detach().cpu() for k, v in model.state_dict().items()},
        "best_prec1": torch.tensor(float(best_prec1)),
        "optimizer": optimizer.state_dict() if optimizer is not None else {},
    }
    if record and info is not None:
        payload["ecalib"] = {"version": __version__, "model": info.name}
    return atomic_torch_save(payload, path, legacy_format=legacy_format, checksum=record)
