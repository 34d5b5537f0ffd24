"""ecalib's models in timm's registry: ``import ecalib`` makes ``timm.create_model('eca_resnet50')`` work.

Every ecalib-built model gets a timm entrypoint (listed by ``timm.list_models(module='ecalib_timm')``)
that builds it through timm's ``build_model_with_cfg`` with a ``pretrained_cfg`` holding the official
evaluation transform. A name timm already has (``resnet50``...) is registered as ``ecalib_<name>``, so
no timm model is replaced; ``ModelInfo.timm_name`` says which name timm knows. ``ecalib.create_model``
calls the same :func:`build`.

Weights are never downloaded: ``timm.create_model(name, pretrained=True,
pretrained_cfg_overlay=dict(file='eca_resnet50_k3557.pth.tar'))`` reads an official file with timm's
loader, and :func:`official_filter_fn` strips ``module.`` and checks the ECA kernels before the strict load.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from ecalib.errors import UsageError
from ecalib.limits import MAX_CLASSES, quoted

if TYPE_CHECKING:
    from ecalib.models.registry import ModelInfo

TIMM_PREFIX = "ecalib_"
PAPER = "ECA-Net: Efficient Channel Attention for Deep Convolutional Neural Networks"
_SOURCE_KEYS = ("file", "url", "hf_hub_id", "state_dict")

default_cfgs: dict = {}  # timm's register_model reads this module's default_cfgs


def timm_name_for(name: str, timm_names: set[str]) -> str:
    """``name`` unless timm already has a model (or deprecated alias) of that name, then ``ecalib_<name>``."""
    return f"{TIMM_PREFIX}{name}" if name in timm_names else name


def _head_names(info: ModelInfo) -> tuple[str, str]:
    return ("conv1", "fc") if info.family == "resnet" else ("features.0.0", "classifier.1")


def pretrained_cfg(info: ModelInfo) -> dict:
    """timm's ``pretrained_cfg`` for ``info``: the official eval transform (resize, crop, bilinear, mean/std)."""
    t = info.eval_transform
    first_conv, classifier = _head_names(info)
    return dict(
        num_classes=info.num_classes,
        input_size=info.input_size,
        interpolation=t.interpolation,
        crop_pct=t.crop / t.resize,
        crop_mode="center",
        mean=t.mean,
        std=t.std,
        first_conv=first_conv,
        classifier=classifier,
        license="mit",
        origin_url="https://github.com/BangguWu/ECANet",
        paper_name=PAPER,
        paper_ids="arXiv:1910.03151",
        description=f"ecalib {info.name}: {info.notes}",
        notes=(
            f"ecalib model {info.name!r}; no weights are downloaded: pass "
            f"pretrained_cfg_overlay=dict(file={info.checkpoint_file or '<checkpoint>'!r})",
        ),
    )


def _kernels(state_dict: dict[str, torch.Tensor]) -> list[int]:
    return [int(v.shape[-1]) for k, v in state_dict.items() if k.endswith(".conv.weight") and v.dim() == 3]


def official_filter_fn(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """timm ``pretrained_filter_fn`` for official/ecalib files: ``module.`` stripped, ECA kernels and keys checked.

    The classifier may differ (timm drops it when ``num_classes`` differs); everything else must fit
    strictly. Missing BN ``num_batches_tracked`` counters (old files) start at 0.
    """
    from ecalib.checkpoint import CheckpointError, _kernel_sizes_per_stage, extract_state_dict, state_dict_problems

    state_dict = extract_state_dict(state_dict)
    expected = model.state_dict()
    if _kernels(expected) != _kernels(state_dict) and len(_kernels(expected)) == len(_kernels(state_dict)):
        if hasattr(model, "stages"):  # ResNet: one k per stage
            theirs, hint = _kernel_sizes_per_stage(state_dict), "k_size={!r}"
        else:
            theirs, hint = tuple(dict.fromkeys(_kernels(state_dict))), "k_size (one odd int or 'official') fitting {!r}"
        raise CheckpointError(
            f"the checkpoint's ECA kernel sizes {list(theirs)} differ from the model's {list(model.k_per_stage)}; "
            "build the model with " + hint.format("".join(map(str, theirs)))
        )
    classifier = model.pretrained_cfg.get("classifier") or ""
    weight = state_dict.get(f"{classifier}.weight")
    if weight is not None and weight.shape == expected.get(f"{classifier}.weight", torch.empty(0)).shape:
        # a file with the model's class count (a fine-tuned one): timm keeps its classifier only if the
        # pretrained_cfg it loads from (this dict) says so
        model.pretrained_cfg["num_classes"] = int(weight.shape[0])
    body = {k: v for k, v in expected.items() if not k.startswith(f"{classifier}.")}
    problems = state_dict_problems(body, {k: v for k, v in state_dict.items() if not k.startswith(f"{classifier}.")})
    if problems:
        name = model.pretrained_cfg.get("architecture")
        raise CheckpointError(f"checkpoint does not fit {name}: " + "; ".join(problems))
    state_dict = dict(state_dict)
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state_dict:
            state_dict[key] = torch.zeros_like(value)
    return state_dict


def _feature_extractor(model: nn.Module, out_indices=None, **kwargs) -> nn.Module:
    from ecalib.models.factory import feature_extractor

    return feature_extractor(model, out_indices)


def _check_num_classes(kwargs: dict) -> None:
    """Refuse a class count no classifier here should have (e.g. 4,000,000 in a Hub ``config.json``, which
    timm passes as ``num_classes`` and in ``pretrained_cfg``) before a layer of that size is allocated;
    the message names where it came from."""
    cfg = kwargs.get("pretrained_cfg")
    cfg_classes = cfg.get("num_classes") if isinstance(cfg, dict) else getattr(cfg, "num_classes", None)
    for value in (kwargs.get("num_classes"), cfg_classes):
        if value is None or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_CLASSES):
            continue
        source = cfg.get("file") if isinstance(cfg, dict) else getattr(cfg, "file", None)
        where = f" (from {source}/config.json)" if source and Path(str(source)).is_dir() else ""
        raise UsageError(f"num_classes={quoted(value)}{where} is not allowed: a whole number from 0 to {MAX_CLASSES}")


def build(info: ModelInfo, pretrained: bool = False, **kwargs) -> nn.Module:
    """Build ``info``'s model through timm's ``build_model_with_cfg`` (entrypoint of every registered name).

    ``eca_impl`` sets how ECA computes; ``features_only``/``out_indices`` wrap it in timm's
    ``FeatureListNet`` (no FX, so ECA stays fused).
    """
    from timm.models import build_model_with_cfg

    eca_impl = kwargs.pop("eca_impl", None)
    kwargs.pop("cache_dir", None)  # nothing is downloaded
    _check_num_classes(kwargs)
    if pretrained:
        cfg, overlay = kwargs.get("pretrained_cfg"), kwargs.get("pretrained_cfg_overlay") or {}
        given = {**(cfg if isinstance(cfg, dict) else {}), **overlay}
        if not any(given.get(k) for k in _SOURCE_KEYS):
            raise UsageError(
                f"{info.timm_name}: ecalib never downloads weights; pass "
                f"pretrained_cfg_overlay=dict(file=<path>)"
                + (f" (the released file is {info.checkpoint_file})" if info.checkpoint_file else "")
            )

    def model_cls(**model_kwargs):
        model = info.builder(**model_kwargs)
        model.model_info = info
        if eca_impl is not None:
            from ecalib.layers import set_eca_impl

            set_eca_impl(model, eca_impl)
        return model

    return build_model_with_cfg(
        model_cls,
        info.timm_name,
        pretrained,
        pretrained_filter_fn=official_filter_fn,
        feature_cfg=dict(feature_cls=_feature_extractor, out_indices=None),
        **kwargs,
    )


def register(infos: list[ModelInfo]) -> None:
    """Register ``infos`` (ecalib-built models) as timm entrypoints in this module."""
    from timm.models import generate_default_cfgs, register_model

    cfgs = generate_default_cfgs({info.timm_name: pretrained_cfg(info) for info in infos})
    default_cfgs.update(cfgs)
    for info in infos:

        def entrypoint(pretrained: bool = False, _info=info, **kwargs) -> nn.Module:
            return build(_info, pretrained, **kwargs)

        entrypoint.__name__ = entrypoint.__qualname__ = info.timm_name
        entrypoint.__module__ = __name__
        entrypoint.__doc__ = f"ecalib's {info.name}: {info.notes}"
        globals()[info.timm_name] = entrypoint
        register_model(entrypoint)
