"""The official ECANet checkpoint layout (``main.py``'s ``save_checkpoint``): reading, architecture inference
and writing.

An official file is ``{'epoch', 'arch', 'state_dict', 'best_prec1', 'optimizer'}`` saved from
``nn.DataParallel``, so every key starts with ``module.``; its ``arch`` may be wrong (the R50
release says ``se_resnet50``). The architecture and ECA kernel sizes are therefore read from
the weights themselves, never from ``arch``. Files that ecalib wrote carry a trustworthy record of
the model (``'ecalib': {'version', 'model'}``, or a trainer's ``'config'``); it is used where the
weights cannot tell (circular vs zero ECA padding), when it fits them. Building the model a file holds
is :func:`ecalib.models.factory.load_official_checkpoint`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ecalib.checkpoint import (
    CheckpointError,
    atomic_torch_save,
    checkpoint_meta,
    extract_state_dict,
    first_few,
    load_state_file,
)
from ecalib.models.mobilenetv2 import INVERTED_RESIDUAL_SETTINGS, official_mobilenet_k
from ecalib.models.registry import list_models, model_info, same_weights_layout
from ecalib.models.zoo import CIFAR_RESNET_LAYOUTS, PREFIX, RESNET_LAYOUTS
from ecalib.version import __version__

_RESNET_KEY = re.compile(r"^layer(\d+)\.(\d+)\.")
# an ECA layer's Conv1d weight: ResNet 'layer<stage>.<block>.eca.conv.weight',
# MobileNetV2 'features.<block>.conv.<i>.conv.weight'
_ECA_WEIGHT = re.compile(r"^(?:layer(\d+)\.\d+\.eca|features\.(\d+)\.conv\.\d+)\.conv\.weight$")


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


def eca_kernels(state_dict: Mapping[str, torch.Tensor | torch.Size]) -> list[tuple[int, int]]:
    """``(stage, k)`` of every ECA layer of a ResNet or MobileNetV2 state dict (or its key -> shape), in stored
    order: ``stage`` is the ResNet stage (``layer<stage>``) or the MobileNetV2 block (``features.<block>``)."""
    found = []
    for key, value in state_dict.items():
        m = _ECA_WEIGHT.match(key)
        if m:
            shape = value.shape if isinstance(value, torch.Tensor) else value
            found.append((int(m.group(1) or m.group(2)), int(shape[-1])))
    return found


def eca_kernels_by_stage(state_dict: Mapping[str, torch.Tensor | torch.Size]) -> dict[int, list[int]]:
    """The distinct ECA kernel sizes of each ResNet stage (or MobileNetV2 block), stages in order."""
    by_stage: dict[int, set[int]] = {}
    for stage, k in eca_kernels(state_dict):
        by_stage.setdefault(stage, set()).add(k)
    return {stage: sorted(ks) for stage, ks in sorted(by_stage.items())}


def eca_k_per_stage(state_dict: Mapping[str, torch.Tensor | torch.Size]) -> tuple[int, ...]:
    """A ResNet's one ECA kernel size per stage; refuses kernels that vary inside a stage."""
    by_stage = eca_kernels_by_stage(state_dict)
    mixed = {s: ks for s, ks in by_stage.items() if len(ks) > 1}
    if mixed:
        raise CheckpointError(f"ECA kernel sizes vary inside a stage {mixed}; ecalib builds one k per stage")
    return tuple(ks[0] for ks in by_stage.values())


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
        raise CheckpointError(f"{path}: weights with impossible shapes for their names ({first_few(odd)})") from None


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
        k = eca_k_per_stage(state_dict) if attn == "eca" else None
        kwargs = {"k_size": k} if k else {}
        num_classes = int(state_dict["fc.weight"].shape[0])
    elif "features.0.0.weight" in state_dict and "classifier.1.weight" in state_dict:
        eca = sorted(eca_kernels(state_dict))
        attn = "eca" if eca else ("se" if "features.1.conv.3.fc1.weight" in state_dict else "none")
        name = {"eca": "eca_mobilenet_v2", "none": "mobilenet_v2"}.get(attn, f"{attn}_mobilenet_v2")
        kwargs, k = {}, None
        if eca:
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

    The file loads back with :func:`ecalib.load_official_checkpoint` and with the official code's
    ``model.load_state_dict(checkpoint['state_dict'])`` on a ``DataParallel`` model. An extra
    ``'ecalib'`` entry records the version and the registered model, which the weights alone cannot
    always tell (circular ECA padding), and ``CHECKSUM_KEY`` the digest of its tensors; the official loader
    ignores both. ``record=False`` leaves them out, for files exactly like the released ones.
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
    if record and info is not None:
        payload["ecalib"] = {"version": __version__, "model": info.name}
    return atomic_torch_save(payload, path, legacy_format=legacy_format, checksum=record)
