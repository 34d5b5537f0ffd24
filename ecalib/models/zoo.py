"""The registered variants: ECA-ResNets with the released kernels, the adaptive rule, the
comparison mechanisms on the same backbones, CIFAR-stem ResNets, (ECA-)MobileNetV2 and timm's
ECA-ResNets (different architectures, delegated to timm)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from torch import nn

from ecalib.models import ecalib_timm
from ecalib.models.mobilenetv2 import MobileNetV2
from ecalib.models.registry import (
    _REGISTRY,
    CIFAR10_MEAN,
    CIFAR10_STD,
    EvalTransform,
    ModelInfo,
    model_info,
    register_model,
)
from ecalib.models.resnet import ResNet, resolve_kernel_sizes
from ecalib.reference import paper_table_rows

# depth -> (block, blocks per stage)
RESNET_LAYOUTS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
CIFAR_RESNET_LAYOUTS = {20: ("basic", (3, 3, 3), (16, 32, 64)), 18: ("basic", (2, 2, 2, 2), (64, 128, 256, 512))}

# Per-stage k of the released ImageNet checkpoints (file-name suffix) and their exact parameter
# counts at 1000 classes, with the torchvision baselines: the released files' own counts.
RELEASED_K = {18: (3, 5, 7, 7), 34: (3, 3, 5, 7), 50: (3, 5, 5, 7), 101: (3, 3, 5, 7), 152: (3, 3, 5, 7)}
# Per-stage k of the ECA-ResNet-50 backbones in the released COCO detectors (their file names, official README)
RELEASED_DETECTOR_K = {"Mask R-CNN": (3, 3, 7, 7), "RetinaNet": (3, 3, 7, 7), "Faster R-CNN": (5, 5, 5, 5)}
OFFICIAL_PARAMS = {
    "eca_resnet18": 11_689_556,
    "eca_resnet34": 21_797_744,
    "eca_resnet50": 25_557_112,
    "eca_resnet101": 44_549_317,
    "eca_resnet152": 60_193_042,
    "eca_mobilenet_v2": 3_504_903,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "mobilenet_v2": 3_504_872,
}
README_NAMES = {18: "ECA-Net18", 34: "ECA-Net34", 50: "ECA-Net50", 101: "ECA-Net101", 152: "ECA-Net152"}
PAPER_METHODS = {"none": "ResNet", "se": "SENet", "cbam": "CBAM", "eca": "ECA-Net"}
PREFIX = {"none": "", "se": "se_", "cbam": "cbam_", "triplet": "triplet_", "eca": "eca_", "ceca": "ceca_"}
# The paper's ablation (Sec. 3.2, Table 2) on ResNet-50 and on the CIFAR ResNet-18: the attention types of
# ecalib.layers.se_variants, each in every block where ECA sits.
ABLATION_NOTES = {
    "se_var1": "SE-Var1 (paper Table 2): gate sigmoid(GAP(x)), no parameters.",
    "se_var2": "SE-Var2 (paper Table 2): one weight per channel, C parameters per block.",
    "se_var3": "SE-Var3 (paper Table 2): one fully connected C x C layer, C² parameters per block.",
    "se_gc": "SE-GC (paper Table 2): a group convolution over the channels, G = 16 groups (attn_kwargs groups).",
    "eca_ns": "ECA-NS (paper Table 2): k weights per channel, not shared; k by the adaptive rule per stage.",
}
ABLATION_BACKBONES = {"resnet50": "eca_resnet50_adaptive", "resnet18_cifar": "eca_resnet18_cifar"}  # -> ECA, rule k
TIMM_ECA_RESNETS = (
    "ecaresnet26t",
    "ecaresnet50d",
    "ecaresnet50d_pruned",
    "ecaresnet50t",
    "ecaresnet101d",
    "ecaresnet101d_pruned",
    "ecaresnet200d",
    "ecaresnet269d",
    "ecaresnetlight",
)


def _known_references(*rows: tuple[str, str, str]) -> tuple[tuple[str, str, str], ...]:
    present = {(r["source"], r["backbone"], r["method"]) for r in paper_table_rows()}
    return tuple(row for row in rows if row in present)


def _register_imagenet_resnets() -> None:
    for depth, (block, layers) in RESNET_LAYOUTS.items():
        stage_channels = [w * (4 if block == "bottleneck" else 1) for w in (64, 128, 256, 512)]
        adaptive_k = resolve_kernel_sizes(None, stage_channels)
        variants = [
            ("none", f"resnet{depth}", None, "Plain ResNet (torchvision layout), the paper's baseline."),
            ("se", f"se_resnet{depth}", None, "SE (r=16) in every block."),
            ("cbam", f"cbam_resnet{depth}", None, "CBAM (r=16, 7x7 spatial gate) in every block."),
            ("triplet", f"triplet_resnet{depth}", None, "Triplet attention (7x7) in every block."),
            ("eca", f"eca_resnet{depth}", RELEASED_K[depth], "ECA with the per-stage k of the released checkpoint."),
            ("eca", f"eca_resnet{depth}_adaptive", adaptive_k, "ECA with the paper's adaptive k (Eq. 12)."),
            ("ceca", f"ceca_resnet{depth}", adaptive_k, "ECA with circular channel padding, adaptive k."),
        ]
        for attn, name, k, notes in variants:
            refs = []
            if name == f"eca_resnet{depth}":
                refs.append(("official README", README_NAMES[depth], "ECA"))
            if attn in PAPER_METHODS and name != f"eca_resnet{depth}_adaptive":
                refs.append(("paper", f"ResNet-{depth}", PAPER_METHODS[attn]))
            register_model(
                ModelInfo(
                    name=name,
                    builder=partial(ResNet, block, layers, attn=attn, **({"k_size": k} if k else {})),
                    family="resnet",
                    attention=attn,
                    depth=depth,
                    k_per_stage=k,
                    num_params=OFFICIAL_PARAMS.get(name),
                    reference=_known_references(*refs),
                    checkpoint_file=f"eca_resnet{depth}_k{''.join(map(str, k))}.pth.tar"
                    if name == f"eca_resnet{depth}"
                    else None,
                    notes=notes,
                )
            )


def _register_cifar_resnets() -> None:
    cifar_eval = EvalTransform(resize=32, crop=32, mean=CIFAR10_MEAN, std=CIFAR10_STD)
    for depth, (block, layers, widths) in CIFAR_RESNET_LAYOUTS.items():
        adaptive_k = resolve_kernel_sizes(None, widths)
        for attn in PREFIX:
            k = adaptive_k if attn in ("eca", "ceca") else None
            register_model(
                ModelInfo(
                    name=f"{PREFIX[attn]}resnet{depth}_cifar",
                    builder=partial(ResNet, block, layers, attn=attn, stem="cifar", widths=widths),
                    family="resnet",
                    attention=attn,
                    depth=depth,
                    stem="cifar",
                    k_per_stage=k,
                    num_classes=10,
                    input_size=(3, 32, 32),
                    eval_transform=cifar_eval,
                    notes="CIFAR stem (3x3 conv, stride 1, no max-pool); ECA kernels by the adaptive rule.",
                )
            )


def _register_ablation_variants() -> None:
    for backbone, adaptive_eca in ABLATION_BACKBONES.items():
        base = model_info(backbone)
        for attn, notes in ABLATION_NOTES.items():
            k = model_info(adaptive_eca).k_per_stage if attn == "eca_ns" else None  # ECA-NS: the rule's k, as ECA's
            register_model(
                replace(base, name=f"{attn}_{backbone}", builder=partial(base.builder, attn=attn), attention=attn,
                        k_per_stage=k, num_params=None, reference=(), notes=notes)
            )  # fmt: skip


def _register_mobilenets() -> None:
    variants = [
        (
            "eca",
            "eca_mobilenet_v2",
            (1, 3),
            ("official README", "ECA-MobileNet_v2", "ECA"),
            ("paper", "MobileNetV2", "ECA-Net"),
        ),
        ("none", "mobilenet_v2", None, ("paper", "MobileNetV2", "MobileNetV2")),
        ("se", "se_mobilenet_v2", None, ("paper", "MobileNetV2", "SE (r=8)")),
    ]
    for attn, name, k, *refs in variants:
        kwargs = {"attn_kwargs": {"reduction": 8}} if attn == "se" else {}
        register_model(
            ModelInfo(
                name=name,
                builder=partial(MobileNetV2, attn=attn, **kwargs),
                family="mobilenet_v2",
                attention=attn,
                k_per_stage=k,
                num_params=OFFICIAL_PARAMS.get(name),
                reference=_known_references(*refs),
                checkpoint_file="eca_mobilenetv2_k13.pth.tar" if attn == "eca" else None,
                notes="Official ECA-MobileNetV2 layout (Dropout 0.25, no make_divisible).",
            )
        )


def _timm_builder(name: str, **kwargs) -> nn.Module:
    import timm

    return timm.create_model(name, pretrained=False, **kwargs)


def _register_timm_models() -> None:
    for name in TIMM_ECA_RESNETS:
        register_model(
            ModelInfo(
                name=name,
                builder=partial(_timm_builder, name),
                family="timm",
                attention="eca",
                source="timm",
                notes="timm's ECA-ResNet: a different network (deep/tiered stem, avg-pool downsampling, "
                "adaptive k with a minimum of 3); only the ECA module math is shared with the paper.",
            )
        )


def _register_in_timm() -> None:
    """Give every ecalib-built model its timm name (``ecalib_`` where timm has the name) and register it."""
    from timm.models import is_model

    ours = [info for info in _REGISTRY.values() if info.source == "ecalib"]
    taken = {info.name for info in ours if is_model(info.name)}
    for info in ours:
        _REGISTRY[info.name] = replace(info, timm_name=ecalib_timm.timm_name_for(info.name, taken))
    for info in _REGISTRY.values():
        if info.source == "timm":
            _REGISTRY[info.name] = replace(info, timm_name=info.name)
    ecalib_timm.register([info for info in _REGISTRY.values() if info.source == "ecalib"])


_register_imagenet_resnets()
_register_cifar_resnets()
_register_ablation_variants()
_register_mobilenets()
_register_timm_models()
_register_in_timm()
