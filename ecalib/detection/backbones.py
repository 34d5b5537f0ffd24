"""Which registered models can be a detector's trunk."""

from __future__ import annotations

from ecalib.errors import UsageError
from ecalib.models.registry import ModelInfo, model_info


def check_detection_backbone(backbone: str) -> ModelInfo:
    """The registry entry of ``backbone`` if it can be a detection trunk (an ImageNet ResNet)."""
    info = model_info(backbone)
    if info.family != "resnet" or info.stem != "imagenet":
        raise UsageError(f"{backbone} is not an ImageNet ResNet; detection backbones are e.g. eca_resnet50, resnet50")
    return info
