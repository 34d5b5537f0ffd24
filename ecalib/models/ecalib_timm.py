"""ecalib's models in timm's registry, registered as timm's own families are.

``import ecalib`` makes ``timm.create_model('eca_resnet50')`` work: every variant below is a timm
entrypoint (``timm.list_models(module='ecalib_timm')``) over one builder per family
(``_create_resnet``, ``_create_mobilenet_v2``), with its ``pretrained_cfg`` in
``default_cfgs``. A name timm already has (``resnet50``...) is registered as ``ecalib_<name>``, so
no timm model is replaced. ``ecalib.list_models``, ``ecalib.create_model`` and ``ecalib.model_info``
are views onto these entries (:mod:`ecalib.models.registry`).

Weights are never downloaded (no ``url``/``hf_hub_id``): ``timm.create_model(name, pretrained=True,
pretrained_cfg_overlay=dict(file='eca_resnet50_k3557.pth.tar'))`` reads an official file with timm's
loader, and :func:`official_filter_fn` strips ``module.`` and checks the ECA kernels before the strict load.

Models for a new attention type (a name in :data:`ecalib.layers.ATTENTION_TYPES`): the builders take
any of them as ``attn=``, so a variant is one ``default_cfgs`` line and one entrypoint, e.g. for ``'foo'``::

    "foo_resnet50": _cfg(),                              # in default_cfgs

    @register_model
    def foo_resnet50(pretrained: bool = False, **kwargs) -> ResNet:
        "Foo attention in every block (ResNet-50)."       # the docstring: ModelInfo.notes
        model_args = dict(depth=50, attn="foo")
        return _create_resnet("foo_resnet50", pretrained, **dict(model_args, **kwargs))

``ecalib.list_models``/``model_info``/``create_model``, the tests and timm's suite pick it up
(``tests/test_timm_suite.py`` runs one ResNet of every attention type by default).
"""

from functools import partial
from pathlib import Path

import torch
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from torch import nn

from ecalib.checkpoint import CheckpointError, extract_state_dict, state_dict_problems, with_batch_counters
from ecalib.errors import UsageError
from ecalib.limits import MAX_CLASSES, quoted
from ecalib.models.mobilenetv2 import MobileNetV2
from ecalib.models.official import eca_k_per_stage, eca_kernels
from ecalib.models.registry import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD, describe, short_name
from ecalib.models.resnet import ResNet
from ecalib.models.zoo import CIFAR_RESNET_LAYOUTS, RELEASED_FILES, RELEASED_K, RESNET_LAYOUTS

PAPER = "ECA-Net: Efficient Channel Attention for Deep Convolutional Neural Networks"
_SOURCE_KEYS = ("file", "url", "hf_hub_id", "state_dict")


def _cfg(**kwargs) -> dict:
    """An ImageNet ResNet's ``pretrained_cfg``: the official evaluation (resize 256, center crop 224, bilinear)
    and every field timm's own ResNet entries carry. No ``url``/``hf_hub_id``: nothing is downloaded."""
    return {
        "url": "",
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "pool_size": (7, 7),
        "crop_pct": 0.875,
        "crop_mode": "center",
        "interpolation": "bilinear",
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
        "test_input_size": (3, 224, 224),
        "test_crop_pct": 0.875,
        "first_conv": "conv1",
        "classifier": "fc",
        "license": "mit",
        "origin_url": "https://github.com/BangguWu/ECANet",
        "paper_name": PAPER,
        "paper_ids": "arXiv:1910.03151",
        "notes": ("ecalib model; no weights are downloaded: pass pretrained_cfg_overlay=dict(file=<checkpoint>)",),
        **kwargs,
    }


def _cifar_cfg(pool_size: tuple[int, int]) -> dict:
    """A CIFAR-10 model's: 32 px, no resize or crop, CIFAR-10's mean and std, 10 classes."""
    return _cfg(
        num_classes=10,
        input_size=(3, 32, 32),
        pool_size=pool_size,
        crop_pct=1.0,
        test_input_size=(3, 32, 32),
        test_crop_pct=1.0,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
    )


def _mobilenet_cfg() -> dict:
    return _cfg(first_conv="features.0.0", classifier="classifier.1")


default_cfgs = generate_default_cfgs(
    {
        "ecalib_resnet18": _cfg(),
        "se_resnet18": _cfg(),
        "cbam_resnet18": _cfg(),
        "triplet_resnet18": _cfg(),
        "eca_resnet18": _cfg(),
        "eca_resnet18_adaptive": _cfg(),
        "ceca_resnet18": _cfg(),
        "ecalib_resnet34": _cfg(),
        "se_resnet34": _cfg(),
        "cbam_resnet34": _cfg(),
        "triplet_resnet34": _cfg(),
        "eca_resnet34": _cfg(),
        "eca_resnet34_adaptive": _cfg(),
        "ceca_resnet34": _cfg(),
        "ecalib_resnet50": _cfg(),
        "se_resnet50": _cfg(),
        "cbam_resnet50": _cfg(),
        "triplet_resnet50": _cfg(),
        "eca_resnet50": _cfg(),
        "eca_resnet50_adaptive": _cfg(),
        "ceca_resnet50": _cfg(),
        "ecalib_resnet101": _cfg(),
        "se_resnet101": _cfg(),
        "cbam_resnet101": _cfg(),
        "triplet_resnet101": _cfg(),
        "eca_resnet101": _cfg(),
        "eca_resnet101_adaptive": _cfg(),
        "ceca_resnet101": _cfg(),
        "ecalib_resnet152": _cfg(),
        "se_resnet152": _cfg(),
        "cbam_resnet152": _cfg(),
        "triplet_resnet152": _cfg(),
        "eca_resnet152": _cfg(),
        "eca_resnet152_adaptive": _cfg(),
        "ceca_resnet152": _cfg(),
        "resnet18_cifar": _cifar_cfg((4, 4)),
        "se_resnet18_cifar": _cifar_cfg((4, 4)),
        "cbam_resnet18_cifar": _cifar_cfg((4, 4)),
        "triplet_resnet18_cifar": _cifar_cfg((4, 4)),
        "eca_resnet18_cifar": _cifar_cfg((4, 4)),
        "ceca_resnet18_cifar": _cifar_cfg((4, 4)),
        "resnet20_cifar": _cifar_cfg((8, 8)),
        "se_resnet20_cifar": _cifar_cfg((8, 8)),
        "cbam_resnet20_cifar": _cifar_cfg((8, 8)),
        "triplet_resnet20_cifar": _cifar_cfg((8, 8)),
        "eca_resnet20_cifar": _cifar_cfg((8, 8)),
        "ceca_resnet20_cifar": _cifar_cfg((8, 8)),
        "mobilenet_v2": _mobilenet_cfg(),
        "se_mobilenet_v2": _mobilenet_cfg(),
        "eca_mobilenet_v2": _mobilenet_cfg(),
        # the paper's ablation (Sec. 3.2, Table 2) on ResNet-50 and the CIFAR ResNet-18
        "se_var1_resnet50": _cfg(),
        "se_var2_resnet50": _cfg(),
        "se_var3_resnet50": _cfg(),
        "se_gc_resnet50": _cfg(),
        "eca_ns_resnet50": _cfg(),
        "se_var1_resnet18_cifar": _cifar_cfg((4, 4)),
        "se_var2_resnet18_cifar": _cifar_cfg((4, 4)),
        "se_var3_resnet18_cifar": _cifar_cfg((4, 4)),
        "se_gc_resnet18_cifar": _cifar_cfg((4, 4)),
        "eca_ns_resnet18_cifar": _cifar_cfg((4, 4)),
    }
)


def official_filter_fn(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """timm ``pretrained_filter_fn`` for official/ecalib files: ``module.`` stripped, ECA kernels and keys checked.

    The classifier may differ (timm drops it when ``num_classes`` differs); everything else must fit
    strictly. Missing BN ``num_batches_tracked`` counters (old files) start at 0.
    """
    state_dict = extract_state_dict(state_dict)
    expected = model.state_dict()
    ours, found = [k for _, k in eca_kernels(expected)], [k for _, k in eca_kernels(state_dict)]
    if ours != found and len(ours) == len(found):
        if hasattr(model, "stages"):  # ResNet: one k per stage
            theirs, hint = eca_k_per_stage(state_dict), "k_size={!r}"
        else:
            theirs, hint = tuple(dict.fromkeys(found)), "k_size (one odd int or 'official') fitting {!r}"
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
    return with_batch_counters(state_dict, expected)


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


def _build(model_cls, variant: str, pretrained: bool, num_levels: int, **kwargs) -> nn.Module:
    """timm's ``build_model_with_cfg`` for every family: official files only, ``eca_impl``, ``model.model_info``.

    ``eca_impl`` sets how ECA computes; ``features_only`` wraps the model in timm's ``FeatureListNet``
    over its own modules (no FX, so ECA stays fused) unless ``feature_cls`` asks for another wrapper.
    """
    eca_impl = kwargs.pop("eca_impl", None)
    kwargs.pop("cache_dir", None)  # nothing is downloaded
    _check_num_classes(kwargs)
    if pretrained:
        cfg, overlay = kwargs.get("pretrained_cfg"), kwargs.get("pretrained_cfg_overlay") or {}
        given = {**(cfg if isinstance(cfg, dict) else {}), **overlay}
        if not any(given.get(k) for k in _SOURCE_KEYS):
            released = RELEASED_FILES.get(short_name(variant))
            raise UsageError(
                f"{variant}: ecalib never downloads weights; pass pretrained_cfg_overlay=dict(file=<path>)"
                + (f" (the released file is {released})" if released else "")
            )

    def build(**model_kwargs) -> nn.Module:
        model = model_cls(**model_kwargs)
        model.model_info = describe(short_name(variant), model)
        if eca_impl is not None:
            from ecalib.layers import set_eca_impl

            set_eca_impl(model, eca_impl)
        return model

    return build_model_with_cfg(
        build,
        variant,
        pretrained,
        pretrained_filter_fn=official_filter_fn,
        feature_cfg=dict(feature_cls=_feature_extractor, out_indices=tuple(range(num_levels))),
        **kwargs,
    )


def _create_resnet(variant: str, pretrained: bool = False, depth: int = 50, **kwargs) -> ResNet:
    """An ecalib ResNet of ``depth`` (its blocks from :data:`~ecalib.models.zoo.RESNET_LAYOUTS`, or the CIFAR
    layouts for depth 20); ``kwargs`` go to :class:`~ecalib.models.resnet.ResNet` (``attn``, ``k_size``, ``stem``)."""
    layouts = {**CIFAR_RESNET_LAYOUTS, **RESNET_LAYOUTS}  # depth 18 is the same network in both
    if depth not in layouts:
        raise UsageError(f"no ResNet layout of depth {depth}; known: {sorted(layouts)}")
    block, layers, *widths = layouts[depth]
    model_cls = partial(ResNet, block, layers, **({"widths": widths[0]} if widths else {}))
    return _build(model_cls, variant, pretrained, num_levels=1 + len(layers), **kwargs)


def _create_mobilenet_v2(variant: str, pretrained: bool = False, **kwargs) -> MobileNetV2:
    """An ecalib MobileNetV2; ``kwargs`` go to :class:`~ecalib.models.mobilenetv2.MobileNetV2`."""
    return _build(MobileNetV2, variant, pretrained, num_levels=5, **kwargs)


@register_model
def ecalib_resnet18(pretrained: bool = False, **kwargs) -> ResNet:
    """Plain ResNet-18 (torchvision layout), the paper's baseline."""
    model_args = dict(depth=18)
    return _create_resnet("ecalib_resnet18", pretrained, **dict(model_args, **kwargs))


@register_model
def se_resnet18(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-18 with SE (r=16) in every block."""
    model_args = dict(depth=18, attn="se")
    return _create_resnet("se_resnet18", pretrained, **dict(model_args, **kwargs))


@register_model
def cbam_resnet18(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-18 with CBAM (r=16, 7x7 spatial gate) in every block."""
    model_args = dict(depth=18, attn="cbam")
    return _create_resnet("cbam_resnet18", pretrained, **dict(model_args, **kwargs))


@register_model
def triplet_resnet18(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-18 with Triplet attention (7x7) in every block."""
    model_args = dict(depth=18, attn="triplet")
    return _create_resnet("triplet_resnet18", pretrained, **dict(model_args, **kwargs))


@register_model
def eca_resnet18(pretrained: bool = False, **kwargs) -> ResNet:
    """ECA-Net18: ECA in every block with the per-stage k of the released checkpoint."""
    model_args = dict(depth=18, attn="eca", k_size=RELEASED_K[18])
    return _create_resnet("eca_resnet18", pretrained, **dict(model_args, **kwargs))


@register_model
def eca_resnet18_adaptive(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-18 with ECA, k by the paper's adaptive rule (Eq. 12)."""
    model_args = dict(depth=18, attn="eca")
    return _create_resnet("eca_resnet18_adaptive", pretrained, **dict(model_args, **kwargs))


@register_model
def ceca_resnet18(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-18 with ECA over circularly padded channels, adaptive k."""
    model_args = dict(depth=18, attn="ceca")
    return _create_resnet("ceca_resnet18", pretrained, **dict(model_args, **kwargs))


@register_model
def ecalib_resnet34(pretrained: bool = False, **kwargs) -> ResNet:
    """Plain ResNet-34 (torchvision layout), the paper's baseline."""
    model_args = dict(depth=34)
    return _create_resnet("ecalib_resnet34", pretrained, **dict(model_args, **kwargs))


@register_model
def se_resnet34(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-34 with SE (r=16) in every block."""
    model_args = dict(depth=34, attn="se")
    return _create_resnet("se_resnet34", pretrained, **dict(model_args, **kwargs))


@register_model
def cbam_resnet34(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-34 with CBAM (r=16, 7x7 spatial gate) in every block."""
    model_args = dict(depth=34, attn="cbam")
    return _create_resnet("cbam_resnet34", pretrained, **dict(model_args, **kwargs))


@register_model
def triplet_resnet34(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-34 with Triplet attention (7x7) in every block."""
    model_args = dict(depth=34, attn="triplet")
    return _create_resnet("triplet_resnet34", pretrained, **dict(model_args, **kwargs))


@register_model
def eca_resnet34(pretrained: bool = False, **kwargs) -> ResNet:
    """ECA-Net34: ECA in every block with the per-stage k of the released checkpoint."""
    model_args = dict(depth=34, attn="eca", k_size=RELEASED_K[34])
    return _create_resnet("eca_resnet34", pretrained, **dict(model_args, **kwargs))


@register_model
def eca_resnet34_adaptive(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-34 with ECA, k by the paper's adaptive rule (Eq. 12)."""
    model_args = dict(depth=34, attn="eca")
    return _create_resnet("eca_resnet34_adaptive", pretrained, **dict(model_args, **kwargs))


@register_model
def ceca_resnet34(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-34 with ECA over circularly padded channels, adaptive k."""
    model_args = dict(depth=34, attn="ceca")
    return _create_resnet("ceca_resnet34", pretrained, **dict(model_args, **kwargs))


@register_model
def ecalib_resnet50(pretrained: bool = False, **kwargs) -> ResNet:
    """Plain ResNet-50 (torchvision layout), the paper's baseline."""
    model_args = dict(depth=50)
    return _create_resnet("ecalib_resnet50", pretrained, **dict(model_args, **kwargs))


@register_model
def se_resnet50(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-50 with SE (r=16) in every block."""
    model_args = dict(depth=50, attn="se")
    return _create_resnet("se_resnet50", pretrained, **dict(model_args, **kwargs))


@register_model
def cbam_resnet50(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-50 with CBAM (r=16, 7x7 spatial gate) in every block."""
    model_args = dict(depth=50, attn="cbam")
    return _create_resnet("cbam_resnet50", pretrained, **dict(model_args, **kwargs))


@register_model
def triplet_resnet50(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-50 with Triplet attention (7x7) in every block."""
    model_args = dict(depth=50, attn="triplet")
    return _create_resnet("triplet_resnet50", pretrained, **dict(model_args, **kwargs))


@register_model
def eca_resnet50(pretrained: bool = False, **kwargs) -> ResNet:
    """ECA-Net50: ECA in every block with the per-stage k of the released checkpoint."""
    model_args = dict(depth=50, attn="eca", k_size=RELEASED_K[50])
    return _create_resnet("eca_resnet50", pretrained, **dict(model_args, **kwargs))


@register_model
def eca_resnet50_adaptive(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-50 with ECA, k by the paper's adaptive rule (Eq. 12)."""
    model_args = dict(depth=50, attn="eca")
    return _create_resnet("eca_resnet50_adaptive", pretrained, **dict(model_args, **kwargs))


@register_model
def ceca_resnet50(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-50 with ECA over circularly padded channels, adaptive k."""
    model_args = dict(depth=50, attn="ceca")
    return _create_resnet("ceca_resnet50", pretrained, **dict(model_args, **kwargs))


@register_model
def ecalib_resnet101(pretrained: bool = False, **kwargs) -> ResNet:
    """Plain ResNet-101 (torchvision layout), the paper's baseline."""
    model_args = dict(depth=101)
    return _create_resnet("ecalib_resnet101", pretrained, **dict(model_args, **kwargs))


@register_model
def se_resnet101(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-101 with SE (r=16) in every block."""
    model_args = dict(depth=101, attn="se")
    return _create_resnet("se_resnet101", pretrained, **dict(model_args, **kwargs))


@register_model
def cbam_resnet101(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-101 with CBAM (r=16, 7x7 spatial gate) in every block."""
    model_args = dict(depth=101, attn="cbam")
    return _create_resnet("cbam_resnet101", pretrained, **dict(model_args, **kwargs))


@register_model
def triplet_resnet101(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-101 with Triplet attention (7x7) in every block."""
    model_args = dict(depth=101, attn="triplet")
    return _create_resnet("triplet_resnet101", pretrained, **dict(model_args, **kwargs))


@register_model
def eca_resnet101(pretrained: bool = False, **kwargs) -> ResNet:
    """ECA-Net101: ECA in every block with the per-stage k of the released checkpoint."""
    model_args = dict(depth=101, attn="eca", k_size=RELEASED_K[101])
    return _create_resnet("eca_resnet101", pretrained, **dict(model_args, **kwargs))


@register_model
def eca_resnet101_adaptive(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-101 with ECA, k by the paper's adaptive rule (Eq. 12)."""
    model_args = dict(depth=101, attn="eca")
    return _create_resnet("eca_resnet101_adaptive", pretrained, **dict(model_args, **kwargs))


@register_model
def ceca_resnet101(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-101 with ECA over circularly padded channels, adaptive k."""
    model_args = dict(depth=101, attn="ceca")
    return _create_resnet("ceca_resnet101", pretrained, **dict(model_args, **kwargs))


@register_model
def ecalib_resnet152(pretrained: bool = False, **kwargs) -> ResNet:
    """Plain ResNet-152 (torchvision layout), the paper's baseline."""
    model_args = dict(depth=152)
    return _create_resnet("ecalib_resnet152", pretrained, **dict(model_args, **kwargs))


@register_model
def se_resnet152(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-152 with SE (r=16) in every block."""
    model_args = dict(depth=152, attn="se")
    return _create_resnet("se_resnet152", pretrained, **dict(model_args, **kwargs))


@register_model
def cbam_resnet152(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-152 with CBAM (r=16, 7x7 spatial gate) in every block."""
    model_args = dict(depth=152, attn="cbam")
    return _create_resnet("cbam_resnet152", pretrained, **dict(model_args, **kwargs))


@register_model
def triplet_resnet152(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-152 with Triplet attention (7x7) in every block."""
    model_args = dict(depth=152, attn="triplet")
    return _create_resnet("triplet_resnet152", pretrained, **dict(model_args, **kwargs))


@register_model
def eca_resnet152(pretrained: bool = False, **kwargs) -> ResNet:
    """ECA-Net152: ECA in every block with the per-stage k of the released checkpoint."""
    model_args = dict(depth=152, attn="eca", k_size=RELEASED_K[152])
    return _create_resnet("eca_resnet152", pretrained, **dict(model_args, **kwargs))


@register_model
def eca_resnet152_adaptive(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-152 with ECA, k by the paper's adaptive rule (Eq. 12)."""
    model_args = dict(depth=152, attn="eca")
    return _create_resnet("eca_resnet152_adaptive", pretrained, **dict(model_args, **kwargs))


@register_model
def ceca_resnet152(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-152 with ECA over circularly padded channels, adaptive k."""
    model_args = dict(depth=152, attn="ceca")
    return _create_resnet("ceca_resnet152", pretrained, **dict(model_args, **kwargs))


@register_model
def resnet18_cifar(pretrained: bool = False, **kwargs) -> ResNet:
    """CIFAR-stem ResNet-18 (3x3 conv, stride 1, no max-pool) with no attention."""
    model_args = dict(depth=18, stem="cifar")
    return _create_resnet("resnet18_cifar", pretrained, **dict(model_args, **kwargs))


@register_model
def se_resnet18_cifar(pretrained: bool = False, **kwargs) -> ResNet:
    """CIFAR-stem ResNet-18 (3x3 conv, stride 1, no max-pool) with SE (r=16)."""
    model_args = dict(depth=18, stem="cifar", attn="se")
    return _create_resnet("se_resnet18_cifar", pretrained, **dict(model_args, **kwargs))


@register_model
def cbam_resnet18_cifar(pretrained: bool = False, **kwargs) -> ResNet:
    """CIFAR-stem ResNet-18 (3x3 conv, stride 1, no max-pool) with CBAM (r=16, 7x7 spatial gate)."""
    model_args = dict(depth=18, stem="cifar", attn="cbam")
    return _create_resnet("cbam_resnet18_cifar", pretrained, **dict(model_args, **kwargs))


@register_model
def triplet_resnet18_cifar(pretrained: bool = False, **kwargs) -> ResNet:
    """CIFAR-stem ResNet-18 (3x3 conv, stride 1, no max-pool) with Triplet attention (7x7)."""
    model_args = dict(depth=18, stem="cifar", attn="triplet")
    return _create_resnet("triplet_resnet18_cifar", pretrained, **dict(model_args, **kwargs))


@register_model
def eca_resnet18_cifar(pretrained: bool = False, **kwargs) -> ResNet:
    """CIFAR-stem ResNet-18 (3x3 conv, stride 1, no max-pool) with ECA (adaptive k)."""
    model_args = dict(depth=18, stem="cifar", attn="eca")
    return _create_resnet("eca_resnet18_cifar", pretrained, **dict(model_args, **kwargs))


@register_model
def ceca_resnet18_cifar(pretrained: bool = False, **kwargs) -> ResNet:
    """CIFAR-stem ResNet-18 (3x3 conv, stride 1, no max-pool) with circular ECA (adaptive k)."""
    model_args = dict(depth=18, stem="cifar", attn="ceca")
    return _create_resnet("ceca_resnet18_cifar", pretrained, **dict(model_args, **kwargs))


@register_model
def resnet20_cifar(pretrained: bool = False, **kwargs) -> ResNet:
    """CIFAR-stem ResNet-20 (3x3 conv, stride 1, no max-pool) with no attention."""
    model_args = dict(depth=20, stem="cifar")
    return _create_resnet("resnet20_cifar", pretrained, **dict(model_args, **kwargs))


@register_model
def se_resnet20_cifar(pretrained: bool = False, **kwargs) -> ResNet:
    """CIFAR-stem ResNet-20 (3x3 conv, stride 1, no max-pool) with SE (r=16)."""
    model_args = dict(depth=20, stem="cifar", attn="se")
    return _create_resnet("se_resnet20_cifar", pretrained, **dict(model_args, **kwargs))


@register_model
def cbam_resnet20_cifar(pretrained: bool = False, **kwargs) -> ResNet:
    """CIFAR-stem ResNet-20 (3x3 conv, stride 1, no max-pool) with CBAM (r=16, 7x7 spatial gate)."""
    model_args = dict(depth=20, stem="cifar", attn="cbam")
    return _create_resnet("cbam_resnet20_cifar", pretrained, **dict(model_args, **kwargs))


@register_model
def triplet_resnet20_cifar(pretrained: bool = False, **kwargs) -> ResNet:
    """CIFAR-stem ResNet-20 (3x3 conv, stride 1, no max-pool) with Triplet attention (7x7)."""
    model_args = dict(depth=20, stem="cifar", attn="triplet")
    return _create_resnet("triplet_resnet20_cifar", pretrained, **dict(model_args, **kwargs))


@register_model
def eca_resnet20_cifar(pretrained: bool = False, **kwargs) -> ResNet:
    """CIFAR-stem ResNet-20 (3x3 conv, stride 1, no max-pool) with ECA (adaptive k)."""
    model_args = dict(depth=20, stem="cifar", attn="eca")
    return _create_resnet("eca_resnet20_cifar", pretrained, **dict(model_args, **kwargs))


@register_model
def ceca_resnet20_cifar(pretrained: bool = False, **kwargs) -> ResNet:
    """CIFAR-stem ResNet-20 (3x3 conv, stride 1, no max-pool) with circular ECA (adaptive k)."""
    model_args = dict(depth=20, stem="cifar", attn="ceca")
    return _create_resnet("ceca_resnet20_cifar", pretrained, **dict(model_args, **kwargs))


@register_model
def mobilenet_v2(pretrained: bool = False, **kwargs) -> MobileNetV2:
    """MobileNetV2 in the official ECA-MobileNetV2 layout (Dropout 0.25, no make_divisible), no attention."""
    model_args = dict(attn="none")
    return _create_mobilenet_v2("mobilenet_v2", pretrained, **dict(model_args, **kwargs))


@register_model
def se_mobilenet_v2(pretrained: bool = False, **kwargs) -> MobileNetV2:
    """MobileNetV2 (official ECA-MobileNetV2 layout) with SE (r=8) in every inverted residual."""
    model_args = dict(attn="se", attn_kwargs=dict(reduction=8))
    return _create_mobilenet_v2("se_mobilenet_v2", pretrained, **dict(model_args, **kwargs))


@register_model
def eca_mobilenet_v2(pretrained: bool = False, **kwargs) -> MobileNetV2:
    """ECA-MobileNetV2 as released (k = 1 where the block width c < 96, else 3; Dropout 0.25)."""
    model_args = dict(attn="eca")
    return _create_mobilenet_v2("eca_mobilenet_v2", pretrained, **dict(model_args, **kwargs))


@register_model
def se_var1_resnet50(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-50 with SE-Var1 (paper Table 2) in every block: gate sigmoid(GAP(x)), no parameters."""
    model_args = dict(depth=50, attn="se_var1")
    return _create_resnet("se_var1_resnet50", pretrained, **dict(model_args, **kwargs))


@register_model
def se_var2_resnet50(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-50 with SE-Var2 (paper Table 2) in every block: one weight per channel (C parameters)."""
    model_args = dict(depth=50, attn="se_var2")
    return _create_resnet("se_var2_resnet50", pretrained, **dict(model_args, **kwargs))


@register_model
def se_var3_resnet50(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-50 with SE-Var3 (paper Table 2) in every block: one C x C fully connected layer (C² parameters)."""
    model_args = dict(depth=50, attn="se_var3")
    return _create_resnet("se_var3_resnet50", pretrained, **dict(model_args, **kwargs))


@register_model
def se_gc_resnet50(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-50 with SE-GC (paper Table 2) in every block: a group convolution, G = 16 (attn_kwargs groups)."""
    model_args = dict(depth=50, attn="se_gc")
    return _create_resnet("se_gc_resnet50", pretrained, **dict(model_args, **kwargs))


@register_model
def eca_ns_resnet50(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-50 with ECA-NS (paper Table 2) in every block: k unshared weights per channel, adaptive k."""
    model_args = dict(depth=50, attn="eca_ns")
    return _create_resnet("eca_ns_resnet50", pretrained, **dict(model_args, **kwargs))


@register_model
def se_var1_resnet18_cifar(pretrained: bool = False, **kwargs) -> ResNet:
    """CIFAR ResNet-18 with SE-Var1 (paper Table 2) in every block: gate sigmoid(GAP(x)), no parameters."""
    model_args = dict(depth=18, stem="cifar", attn="se_var1")
    return _create_resnet("se_var1_resnet18_cifar", pretrained, **dict(model_args, **kwargs))


@register_model
def se_var2_resnet18_cifar(pretrained: bool = False, **kwargs) -> ResNet:
    """CIFAR ResNet-18 with SE-Var2 (paper Table 2) in every block: one weight per channel (C parameters)."""
    model_args = dict(depth=18, stem="cifar", attn="se_var2")
    return _create_resnet("se_var2_resnet18_cifar", pretrained, **dict(model_args, **kwargs))


@register_model
def se_var3_resnet18_cifar(pretrained: bool = False, **kwargs) -> ResNet:
    """CIFAR ResNet-18 with SE-Var3 (paper Table 2) in every block: one C x C fully connected layer (C² parameters)."""
    model_args = dict(depth=18, stem="cifar", attn="se_var3")
    return _create_resnet("se_var3_resnet18_cifar", pretrained, **dict(model_args, **kwargs))


@register_model
def se_gc_resnet18_cifar(pretrained: bool = False, **kwargs) -> ResNet:
    """CIFAR ResNet-18 with SE-GC (paper Table 2) in every block: a group convolution, G = 16 (attn_kwargs groups)."""
    model_args = dict(depth=18, stem="cifar", attn="se_gc")
    return _create_resnet("se_gc_resnet18_cifar", pretrained, **dict(model_args, **kwargs))


@register_model
def eca_ns_resnet18_cifar(pretrained: bool = False, **kwargs) -> ResNet:
    """CIFAR ResNet-18 with ECA-NS (paper Table 2) in every block: k unshared weights per channel, adaptive k."""
    model_args = dict(depth=18, stem="cifar", attn="eca_ns")
    return _create_resnet("eca_ns_resnet18_cifar", pretrained, **dict(model_args, **kwargs))
