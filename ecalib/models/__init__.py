"""Model families, their timm registration and the views ``create_model``, ``list_models``, ``model_info``."""

from ecalib.models import ecalib_timm as _ecalib_timm  # noqa: F401  (registers the variants in timm)
from ecalib.models.factory import create_model, feature_extractor
from ecalib.models.mobilenetv2 import MobileNetV2
from ecalib.models.registry import EvalTransform, ModelInfo, list_models, model_info
from ecalib.models.resnet import BasicBlock, Bottleneck, ResNet, resolve_kernel_sizes

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "EvalTransform",
    "MobileNetV2",
    "ModelInfo",
    "ResNet",
    "create_model",
    "feature_extractor",
    "list_models",
    "model_info",
    "resolve_kernel_sizes",
]
