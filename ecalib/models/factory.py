"""``create_model``: build a registered model, optionally from an official checkpoint or as a feature extractor;
``load_official_checkpoint``: the model an official file holds."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn

from ecalib.checkpoint import CheckpointError, load_weights_strict, state_dict_problems
from ecalib.errors import UsageError
from ecalib.layers import set_eca_impl
from ecalib.models.official import OfficialCheckpoint, read_official_checkpoint
from ecalib.models.registry import model_info, same_weights_layout


def feature_extractor(model: nn.Module, out_indices: Sequence[int] | None = None) -> nn.Module:
    """timm's ``FeatureListNet`` over ``model``: the feature maps of ``out_indices`` (``model.feature_info``).

    It runs the model's own modules in order (no FX tracing), so ECA keeps its fused path and its hooks.
    ``.feature_info.channels()`` and ``.feature_info.reduction()`` describe the outputs.
    """
    from timm.models import FeatureListNet

    levels = model.feature_info
    out_indices = tuple(range(len(levels))) if out_indices is None else tuple(out_indices)
    bad = [i for i in out_indices if not -len(levels) <= i < len(levels)]
    if bad:
        raise UsageError(f"out_indices {bad} out of range; this model has {len(levels)} feature levels")
    out_indices = tuple(i % len(levels) for i in out_indices)
    # MobileNetV2's levels are children of its ``features`` Sequential, which timm flattens.
    flatten = any("." in level["module"] for level in levels)
    return FeatureListNet(model, out_indices=out_indices, flatten_sequential=flatten)


def create_model(
    name: str,
    pretrained: str | os.PathLike | bool | None = None,
    num_classes: int | None = None,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    allow_pickle: bool = False,
    eca_impl: str | None = None,
    init_from: str | os.PathLike | dict | None = None,
    **kwargs,
) -> nn.Module:
    """Build model ``name`` (see :func:`~ecalib.models.registry.list_models`): ``timm.create_model`` of its
    timm name (``model_info(name).timm_name``), so it carries timm's ``pretrained_cfg``.

    Args:
        pretrained: path of an official ``.pth.tar`` (or any state dict of this architecture).
            Weights are never downloaded. The checkpoint's ECA kernels must match the variant's
            (or an explicit ``k_size``); ``num_classes`` different from the checkpoint's replaces
            the classifier after loading, for fine-tuning.
        features_only: return timm's ``FeatureListNet`` giving the feature maps of ``out_indices``
            (see :func:`~ecalib.models.factory.feature_extractor`).
        allow_pickle: let the checkpoint loader fall back to full pickle (trusted files only).
        init_from: a torchvision ResNet state dict (or its file) to start fine-tuning from: every
            non-attention tensor loads strictly, the ECA kernels keep their init (see
            :func:`~ecalib.models.torchvision_init.init_from_torchvision`; ``model.init_report`` says what).
        eca_impl: how the ECA layers compute (:data:`ecalib.layers.eca.ECA_IMPLS`; default ``auto``:
            fused Triton kernels on CUDA, the fused PyTorch formulation elsewhere).
        **kwargs: architecture overrides, e.g. ``k_size='3377'``, ``attn_kwargs={'spatial_kernel': 3}``,
            ``drop_path_rate=0.1`` or ``global_pool='max'``.
    """
    import timm

    info = model_info(name)
    if "k_size" in kwargs and kwargs["k_size"] is None:
        kwargs["k_size"] = "adaptive"  # timm.create_model drops None arguments; None means the adaptive rule here
    if pretrained is True:
        raise UsageError(
            "ecalib never downloads weights: pass pretrained=<path to the official .pth.tar>"
            + (f" (released file: {info.checkpoint_file})" if info.checkpoint_file else "")
        )
    if info.source == "timm":
        if eca_impl is not None or init_from is not None:
            raise UsageError(f"{name} is built by timm; eca_impl and init_from only apply to ecalib's own models")
        if pretrained:
            raise UsageError(
                f"{name} is built by timm; load its weights with timm, ecalib only reads official ECANet files"
            )
        extra = {"out_indices": out_indices} if out_indices else {}
        return timm.create_model(name, num_classes=num_classes, features_only=features_only, **extra, **kwargs)

    if pretrained and init_from is not None:
        raise UsageError("pass either pretrained (an ECA-Net checkpoint) or init_from (torchvision weights), not both")
    if pretrained:
        model = _from_checkpoint(name, pretrained, num_classes, allow_pickle, kwargs)
    else:
        model = timm.create_model(info.timm_name, num_classes=num_classes, **kwargs)
    if init_from is not None:
        from ecalib.models.torchvision_init import init_from_torchvision

        model.init_report = init_from_torchvision(model, init_from, allow_pickle=allow_pickle)
    if eca_impl is not None:
        set_eca_impl(model, eca_impl)
    if not features_only:
        return model
    from timm.models._builder import pretrained_cfg_for_features

    feats = feature_extractor(model, out_indices)
    feats.pretrained_cfg = feats.default_cfg = pretrained_cfg_for_features(model.pretrained_cfg)  # as timm's
    return feats


def _from_checkpoint(name, path, num_classes, allow_pickle, kwargs) -> nn.Module:
    return _model_from(read_official_checkpoint(path, allow_pickle=allow_pickle), name, num_classes, kwargs)


def _model_from(ckpt: OfficialCheckpoint, name: str, num_classes: int | None, kwargs: dict) -> nn.Module:
    """Model ``name`` (built with ``kwargs``) holding the weights of ``ckpt``, loaded strictly: the one place an
    official file becomes a model. ``num_classes`` other than the file's replaces the classifier afterwards."""
    import timm

    path, info = ckpt.path, model_info(name)
    if not same_weights_layout(model_info(ckpt.model_name), info):
        raise CheckpointError(f"{path} holds a {ckpt.model_name} (by its weights), not a {name}")
    model = timm.create_model(info.timm_name, num_classes=ckpt.num_classes, **kwargs)
    model_k = getattr(model, "k_per_stage", None)
    if ckpt.k_per_stage is not None and model_k is not None and tuple(ckpt.k_per_stage) != tuple(model_k):
        hint = "".join(map(str, ckpt.k_per_stage))
        raise CheckpointError(
            f"{path} has ECA kernel sizes {list(ckpt.k_per_stage)}, but {name} is built with {list(model_k)}. "
            f"Use create_model({name!r}, k_size={hint!r}, pretrained=...) or ecalib.load_official_checkpoint(path), "
            "which builds the matching model."
        )
    load_weights_strict(model, ckpt.state_dict, str(path))
    model.checkpoint_meta = ckpt.meta
    if num_classes is not None and num_classes != ckpt.num_classes:
        model.reset_classifier(num_classes)
    return model


def load_official_checkpoint(path: str | os.PathLike, allow_pickle: bool = False) -> nn.Module:
    """Build the model an official checkpoint holds (k per stage read from its ECA weights) and load it strictly.

    The returned model is in eval mode; ``model.checkpoint_meta`` keeps the file's epoch/arch/best_prec1.
    """
    ckpt = read_official_checkpoint(path, allow_pickle=allow_pickle)
    return _model_from(ckpt, ckpt.model_name, None, ckpt.build_kwargs).eval()


def checkpoint_problems(ckpt: OfficialCheckpoint) -> list[str]:
    """What would keep ``ckpt`` from loading into the model it names (checked on the meta device: no memory)."""
    with torch.device("meta"):
        model = create_model(ckpt.model_name, num_classes=ckpt.num_classes, **ckpt.build_kwargs)
    return state_dict_problems(model.state_dict(), ckpt.state_dict)
