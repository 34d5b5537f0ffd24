"""Model registry: ``create_model``, ``list_models`` and per-model metadata (timm-style)."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from ecalib.errors import UsageError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


@dataclass(frozen=True)
class EvalTransform:
    """The evaluation preprocessing a model was trained for (official main.py: resize 256, crop 224)."""

    resize: int = 256
    crop: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"


@dataclass(frozen=True)
class ModelInfo:
    """What is known about a registered model.

    ``num_params`` is the exact parameter count of the official model at 1000 classes (counted on
    the released checkpoints) where one is known, ``reference`` names rows of the paper/README table
    (see :mod:`ecalib.reference`) and ``checkpoint_file`` the official release it loads.
    """

    name: str
    builder: Callable[..., nn.Module] = field(repr=False)
    family: str
    attention: str
    source: str = "ecalib"
    depth: int | None = None
    stem: str = "imagenet"
    k_per_stage: tuple[int, ...] | None = None
    num_classes: int = 1000
    num_params: int | None = None
    reference: tuple[tuple[str, str, str], ...] = ()
    checkpoint_file: str | None = None
    input_size: tuple[int, int, int] = (3, 224, 224)
    eval_transform: EvalTransform = EvalTransform()
    notes: str = ""
    timm_name: str | None = None  # its name in timm's registry (``ecalib_<name>`` where timm has ``name``)

    def reference_metrics(self) -> dict[str, dict[str, str]]:
        """Published metrics by source, e.g. ``{'official README': {'top1': '77.42', ...}}``."""
        from ecalib.reference import reference_metrics

        return {src: reference_metrics(src, backbone, method) for src, backbone, method in self.reference}


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(info: ModelInfo) -> ModelInfo:
    if info.name in _REGISTRY:
        raise UsageError(f"model {info.name!r} is already registered")
    _REGISTRY[info.name] = info
    return info


def list_models(pattern: str = "*", source: str | None = "ecalib") -> list[str]:
    """Registered names matching a glob ``pattern``; ``source='timm'`` or ``None`` (all) widens it."""
    return sorted(
        name for name, info in _REGISTRY.items() if fnmatch.fnmatch(name, pattern) and source in (None, info.source)
    )


def model_info(name: str) -> ModelInfo:
    """Metadata of a registered model; unknown names raise with the closest valid ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UsageError(f"unknown model {name!r}.{hint} See ecalib.list_models() for all names.") from None


def same_weights_layout(a: ModelInfo, b: ModelInfo) -> bool:
    """Whether ``a`` and ``b`` hold the same tensors: family, depth and stem agree, and the attention is the
    same (ECA and circular ECA count as one: only their padding differs, which the weights do not show)."""
    attention = a.attention == b.attention or {a.attention, b.attention} == {"eca", "ceca"}
    return attention and (a.family, a.depth, a.stem) == (b.family, b.depth, b.stem)
