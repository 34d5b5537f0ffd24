"""Model families, the registry and ``create_model``."""

from ecalib.models import zoo as _zoo  # noqa: F401  (registers the variants)
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
