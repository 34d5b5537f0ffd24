"""``list_models`` and ``model_info``: views onto timm's registry plus the facts ecalib adds.

ecalib's models are timm entrypoints (:mod:`ecalib.models.ecalib_timm`); there is no second registry.
A model's short name is its timm name without the ``ecalib_`` prefix that names timm already uses
get (``resnet50`` is ``ecalib_resnet50`` in timm). :class:`ModelInfo` joins what timm holds (the
``pretrained_cfg``: input size, evaluation transform, class count), what the network says about
itself (family, attention, depth, stem, ECA kernels) and :mod:`ecalib.models.zoo` (released file,
official parameter count, reference table rows).
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import math
from dataclasses import dataclass
from functools import cache

from torch import nn

from ecalib.errors import UsageError
from ecalib.models import zoo

TIMM_MODULE = "ecalib_timm"  # timm.list_models(module=TIMM_MODULE) lists ecalib's models
TIMM_PREFIX = "ecalib_"

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

    @classmethod
    def from_pretrained_cfg(cls, cfg: dict) -> EvalTransform:
        """timm's center-crop evaluation of ``cfg``: resize the short side to ``floor(crop / crop_pct)``."""
        crop = cfg["input_size"][-1]
        resize = math.floor(crop / cfg["crop_pct"])
        return cls(resize, crop, tuple(cfg["mean"]), tuple(cfg["std"]), cfg["interpolation"])


@dataclass(frozen=True)
class ModelInfo:
    """What is known about a registered model.

    ``num_params`` is the exact parameter count of the official model at 1000 classes (counted on
    the released checkpoints) where one is known, ``reference`` names rows of the paper/README table
    (see :mod:`ecalib.reference`), ``checkpoint_file`` the official release it loads and ``timm_name``
    its name in timm's registry. ``notes`` is its entrypoint's docstring.
    """

    name: str
    family: str
    attention: str
    source: str = "ecalib"
    depth: int | None = None
    stem: str = "imagenet"
    k_per_stage: tuple[int, ...] | None = None
    num_classes: int = 1000
    num_params: int | None = None
    checkpoint_file: str | None = None
    input_size: tuple[int, int, int] = (3, 224, 224)
    eval_transform: EvalTransform = EvalTransform()
    notes: str = ""
    timm_name: str | None = None

    @property
    def reference(self) -> tuple[tuple[str, str, str], ...]:
        """The (source, backbone, method) rows of the paper/README tables that describe this model, read from
        :mod:`ecalib.reference` when first asked for (building a model reads no reference data)."""
        return zoo.reference_rows(self.name)

    def reference_metrics(self) -> dict[str, dict[str, str]]:
        """Published metrics by source, e.g. ``{'official README': {'top1': '77.42', ...}}``."""
        from ecalib.reference import reference_metrics

        return {src: reference_metrics(src, backbone, method) for src, backbone, method in self.reference}


def short_name(timm_name: str) -> str:
    return timm_name.removeprefix(TIMM_PREFIX)


def _ecalib_names() -> dict[str, str]:
    """Short name -> timm name of every model registered by :mod:`ecalib.models.ecalib_timm`."""
    import timm

    return {short_name(n): n for n in timm.list_models(module=TIMM_MODULE)}


def list_models(pattern: str = "*", source: str | None = "ecalib") -> list[str]:
    """Registered names matching a glob ``pattern``; ``source='timm'`` (timm's ECA-ResNets) or ``None`` (all)
    widens it."""
    import timm

    names = []
    if source in ("ecalib", None):
        names += _ecalib_names()
    if source in ("timm", None):
        names += [n for n in zoo.TIMM_ECA_RESNETS if timm.is_model(n)]
    return sorted(n for n in names if fnmatch.fnmatch(n, pattern))


def describe(name: str, model: nn.Module) -> ModelInfo:
    """The :class:`ModelInfo` of ``model``, built as registered variant ``name`` (a short name): its
    architecture from the network, the rest from timm's ``pretrained_cfg`` and :mod:`ecalib.models.zoo`."""
    from timm.models import get_pretrained_cfg, model_entrypoint

    timm_name = _ecalib_names().get(name, name)
    cfg = get_pretrained_cfg(timm_name).to_dict()
    return ModelInfo(
        name=name,
        family=model.family,
        attention=model.attn,
        depth=model.depth,
        stem=model.stem,
        k_per_stage=model.k_per_stage,
        num_classes=cfg["num_classes"],
        num_params=zoo.OFFICIAL_PARAMS.get(name),
        checkpoint_file=zoo.RELEASED_FILES.get(name),
        input_size=tuple(cfg["input_size"]),
        eval_transform=EvalTransform.from_pretrained_cfg(cfg),
        notes=inspect.getdoc(model_entrypoint(timm_name)) or "",
        timm_name=timm_name,
    )


@cache
def model_info(name: str) -> ModelInfo:
    """Metadata of a registered model; unknown names raise with the closest valid ones."""
    import timm

    ours = _ecalib_names()
    if name in ours:
        # the network describes itself: built once on the meta device (no memory, no weights)
        return timm.create_model(ours[name], device="meta").model_info
    if name in list_models(source="timm"):
        cfg = timm.models.get_pretrained_cfg(name).to_dict()
        return ModelInfo(
            name=name,
            family="timm",
            attention="eca",
            source="timm",
            num_classes=cfg["num_classes"],
            input_size=tuple(cfg["input_size"]),
            eval_transform=EvalTransform.from_pretrained_cfg(cfg),
            notes=zoo.TIMM_ECA_NOTES,
            timm_name=name,
        )
    close = difflib.get_close_matches(name, list_models(source=None), n=5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UsageError(f"unknown model {name!r}.{hint} See ecalib.list_models() for all names.")


def same_weights_layout(a: ModelInfo, b: ModelInfo) -> bool:
    """Whether ``a`` and ``b`` hold the same tensors: family, depth and stem agree, and the attention is the
    same (ECA and circular ECA count as one: only their padding differs, which the weights do not show)."""
    attention = a.attention == b.attention or {a.attention, b.attention} == {"eca", "ceca"}
    return attention and (a.family, a.depth, a.stem) == (b.family, b.depth, b.stem)
