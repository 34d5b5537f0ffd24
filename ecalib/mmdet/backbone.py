"""``ECAResNet``: MMDetection's ResNet with an ECA layer after the last norm of every bottleneck.

MMDetection's Bottleneck runs "after_conv3" plugins after ``norm3`` and before the residual
addition, exactly where ECA-Net puts its attention; the plugin is named ``eca`` so the keys are
``layer{S}.{B}.eca.conv.weight``, the same as the official checkpoints and torchvision's layout.
"""

from __future__ import annotations

from mmdet.models.backbones import ResNet
from mmdet.registry import MODELS
from mmengine.registry import MODELS as ROOT_MODELS

from ecalib.errors import UsageError
from ecalib.layers import EcaLayer
from ecalib.models.resnet import resolve_kernel_sizes


@ROOT_MODELS.register_module()  # mmcv's build_plugin_layer looks plugins up in the root registry
class EcaPlugin(EcaLayer):
    """EcaLayer with MMCV's plugin signature (``in_channels``) and the layer name ``eca``."""

    _abbr_ = "eca"

    def __init__(self, in_channels: int, k_size: int | None = None, circular: bool = False):
        super().__init__(channels=in_channels, k_size=k_size, circular=circular)


@MODELS.register_module()
class ECAResNet(ResNet):
    """ResNet-50/101/152 with ECA; ``k_size`` per stage as in :func:`ecalib.models.resolve_kernel_sizes`
    (``(3, 3, 7, 7)``/``'3377'`` for the released detectors, ``None`` for the adaptive rule)."""

    def __init__(self, depth: int = 50, k_size=(3, 3, 7, 7), circular: bool = False, **kwargs):
        if depth not in (50, 101, 152):
            raise UsageError(f"ECAResNet supports depth 50, 101 or 152 (bottleneck blocks), got {depth}")
        ks = resolve_kernel_sizes(k_size, [256, 512, 1024, 2048])
        plugins = list(kwargs.pop("plugins", None) or [])
        for stage, k in enumerate(ks):
            plugins.append(
                dict(
                    cfg=dict(type="EcaPlugin", k_size=k, circular=circular),
                    stages=tuple(i == stage for i in range(4)),
                    position="after_conv3",
                )
            )
        super().__init__(depth=depth, plugins=plugins, **kwargs)
        self.k_per_stage = ks
