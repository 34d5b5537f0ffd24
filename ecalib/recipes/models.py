"""Which models each task's recipes can train, checked when a run is resolved (before anything is written)."""

from __future__ import annotations

from ecalib.errors import UsageError


def check_model(task: str, arch: str) -> None:
    """Refuse a model ``task`` has no recipe for: any registered model for CIFAR-10, an ImageNet ResNet or
    MobileNetV2 for ImageNet, an ImageNet ResNet as the detector's backbone for COCO."""
    from ecalib.models import model_info

    info = model_info(arch)  # a registered model (the error lists close names)
    if task == "imagenet" and (info.family not in ("resnet", "mobilenet_v2") or info.stem != "imagenet"):
        raise UsageError(
            f"{info.name} has no ImageNet recipe; use an ImageNet ResNet or MobileNetV2 variant "
            f"(e.g. eca_resnet50, eca_mobilenet_v2)"
        )
    if task == "coco" and (info.family != "resnet" or info.stem != "imagenet"):
        raise UsageError(f"{info.name} is not an ImageNet ResNet; the detector's backbone must be one")
