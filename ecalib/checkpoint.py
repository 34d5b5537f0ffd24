"""Read and write checkpoints in the official ECANet layout (``main.py``'s ``save_checkpoint``).

An official file is ``{'epoch', 'arch', 'state_dict', 'best_prec1', 'optimizer'}`` saved from
``nn.DataParallel``, so every key starts with ``module.``; its ``arch`` may be wrong (the R50
release says ``se_resnet50``). The architecture and ECA kernel sizes are therefore read from
the weights themselves, never from ``arch``.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ecalib.atomic import atomic_file
from ecalib.models.zoo import CIFAR_RESNET_LAYOUTS, PREFIX, RESNET_LAYOUTS

ALLOW_PICKLE_HINT = (
    "Only if you trust the file, pass allow_pickle=True (CLI: --allow-pickle) to load it with full "
    "pickle, which can execute arbitrary code."
)
_RESNET_KEY = re.compile(r"^layer(\d+)\.(\d+)\.")
_ECA_KEY = re.compile(r"^(layer(\d+)\.(\d+)|features\.(\d+)\.conv\.\d+)\.conv\.weight$")


class CheckpointError(ValueError):
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


def _strip_prefix(state_dict: dict[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    return {k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in state_dict.items()}


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def load_state_file(path: str | os.PathLike, allow_pickle: bool = False) -> object:
    """``torch.load`` with the failure modes turned into :class:`CheckpointError` messages."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint path is not a file: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as err:
        message = str(err)
        if not allow_pickle and "Unsupported global" in message:
            found = next((line.strip() for line in message.splitlines() if "Unsupported global" in line), "")
            raise CheckpointError(
                f"{path} holds objects other than tensors and plain containers, which the safe loader refuses "
                f"({found}). {ALLOW_PICKLE_HINT}"
            ) from None
        detail = next((line.strip() for line in message.splitlines() if "Unsupported" in line), _first_line(message))
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint (truncated or corrupt? {detail})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, IndexError) as err:
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint (truncated or corrupt? {type(err).__name__}: "
            f"{_first_line(str(err))})"
        ) from None


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


def infer_architecture(
    state_dict: dict[str, torch.Tensor], path: str | os.PathLike = "<checkpoint>"
) -> OfficialCheckpoint:
    """Find the registered model, ECA kernel sizes and class count that fit ``state_dict``."""
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


def read_official_checkpoint(path: str | os.PathLike, allow_pickle: bool = False) -> OfficialCheckpoint:
    """Read an official ``.pth.tar`` (or a bare state dict) and infer what model it holds."""
    obj = load_state_file(path, allow_pickle=allow_pickle)
    ckpt = infer_architecture(extract_state_dict(obj, path), path)
    if isinstance(obj, dict) and "state_dict" in obj:
        ckpt.meta = {k: obj[k] for k in ("epoch", "arch", "best_prec1") if k in obj}
    return ckpt


def plain_values(meta: dict) -> dict:
    """Stored checkpoint metadata with 0-d tensors (e.g. ``best_prec1``) as Python numbers."""
    return {k: (v.item() if isinstance(v, torch.Tensor) and v.numel() == 1 else v) for k, v in meta.items()}


def load_weights_strict(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """``load_state_dict(strict=True)`` with a readable report of missing, unexpected and mis-shaped keys.

    Old files without BN ``num_batches_tracked`` counters are accepted: the counters start at 0.
    """
    expected = model.state_dict()
    state_dict = dict(state_dict)
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state_dict:
            state_dict[key] = torch.zeros_like(value)
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f"{k}: checkpoint {list(state_dict[k].shape)} vs model {list(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("size mismatch", shapes)):
            if items:
                parts.append(f"{len(items)} {label} key(s): {items[:5]}{' ...' if len(items) > 5 else ''}")
        raise CheckpointError(f"{source} does not fit {type(model).__name__}: " + "; ".join(parts))
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


def atomic_torch_save(obj: object, path: str | os.PathLike, legacy_format: bool = False) -> Path:
    """Write ``obj`` to a temporary file in the target folder, then rename it over ``path``.

    A crash or a failing ``torch.save`` leaves any existing ``path`` untouched. ``legacy_format``
    writes the pre-1.6 (non-zip) serialization that the 2019 official files use.
    """
    with atomic_file(path) as f:
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
) -> Path:
    """Save ``model`` in the official layout (``module.``-prefixed keys inside ``'state_dict'``), atomically.

    The file loads back with :func:`load_official_checkpoint` and with the official code's
    ``model.load_state_dict(checkpoint['state_dict'])`` on a ``DataParallel`` model.
    """
    model = model.module if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)) else model
    info = getattr(model, "model_info", None)
    payload = {
        "epoch": int(epoch),
        "arch": arch or (info.name if info is not None else type(model).__name__),
        "state_dict": {f"module.{k}": v.detach().cpu() for k, v in model.state_dict().items()},
        "best_prec1": torch.tensor(float(best_prec1)),
        "optimizer": optimizer.state_dict() if optimizer is not None else {},
    }
    return atomic_torch_save(payload, path, legacy_format=legacy_format)
