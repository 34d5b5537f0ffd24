"""Mask R-CNN with an ECA-ResNet-FPN backbone, built from torchvision's detection parts.

Like torchvision's ``maskrcnn_resnet50_fpn``: frozen BatchNorm in the trunk, the stem and
``layer1`` frozen (``trainable_layers=3``), FPN over ``layer1..4`` with an extra max-pooled level.
The ECA kernels come from the backbone weights when given, else from ``k_size`` (the released
Mask R-CNN backbone used 3, 3, 7, 7).
"""

from __future__ import annotations

import os

from torch import nn

from ecalib.detection.backbones import check_detection_backbone
from ecalib.errors import UsageError
from ecalib.models.zoo import RELEASED_DETECTOR_K

# the ECA-ResNet-50 backbone of the released Mask R-CNN (file name ..._k3377)
DETECTOR_K = "".join(map(str, RELEASED_DETECTOR_K["Mask R-CNN"]))
LAYERS_TO_TRAIN = ("layer4", "layer3", "layer2", "layer1", "conv1")


def build_backbone_body(backbone: str = "eca_resnet50", k_size=None) -> nn.Module:
    """The ResNet trunk with frozen BatchNorm (no classifier is used)."""
    from torchvision.ops import FrozenBatchNorm2d

    from ecalib.models import create_model

    info = check_detection_backbone(backbone)
    kwargs = {"k_size": k_size} if k_size is not None and info.attention in ("eca", "ceca") else {}
    return create_model(backbone, num_classes=0, norm_layer=FrozenBatchNorm2d, **kwargs)


def build_eca_maskrcnn(
    num_classes: int,
    backbone: str = "eca_resnet50",
    k_size=None,
    backbone_weights: str | os.PathLike | None = None,
    trainable_layers: int = 3,
    min_size: int = 800,
    max_size: int = 1333,
    allow_pickle: bool = False,
    **maskrcnn_kwargs,
) -> nn.Module:
    """Mask R-CNN (``num_classes`` includes background) on an ECA-ResNet-FPN.

    ``backbone_weights``: an official ImageNet ``.pth.tar`` or a file written by
    :func:`ecalib.detection.convert.convert_backbone` (``--to torchvision``); its ECA kernels
    decide the architecture, and every trunk key must load.
    """
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    from ecalib.detection.convert import load_backbone_weights

    if not 0 <= trainable_layers <= 5:
        raise UsageError(f"trainable_layers must be between 0 and 5, got {trainable_layers}")
    weights, k_found = (None, None)
    if backbone_weights is not None:
        weights, k_found = load_backbone_weights(backbone_weights, allow_pickle=allow_pickle)
        if k_size is not None and k_found is not None and tuple(_digits(k_size)) != tuple(k_found):
            raise UsageError(f"backbone weights have ECA kernels {list(k_found)}, but k_size={k_size!r} was asked for")
    body = build_backbone_body(backbone, k_found or k_size or (DETECTOR_K if backbone.startswith("eca") else None))
    if weights is not None:
        from ecalib.checkpoint import load_weights_strict

        load_weights_strict(body, weights, str(backbone_weights))  # the trunk has no classifier
    train = list(LAYERS_TO_TRAIN[:trainable_layers]) + (["bn1"] if trainable_layers == 5 else [])
    for name, param in body.named_parameters():
        if all(not name.startswith(layer) for layer in train):
            param.requires_grad_(False)
    fpn = BackboneWithFPN(
        body,
        return_layers={"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
        in_channels_list=[c["num_chs"] for c in body.feature_info[1:]],
        out_channels=256,
        extra_blocks=LastLevelMaxPool(),
    )
    model = MaskRCNN(fpn, num_classes=num_classes, min_size=min_size, max_size=max_size, **maskrcnn_kwargs)
    model.k_per_stage = body.k_per_stage
    return model


def _digits(k_size) -> list[int]:
    return [int(c) for c in k_size] if isinstance(k_size, str) else list(k_size)
