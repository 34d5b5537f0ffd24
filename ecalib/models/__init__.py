"""Model families, the registry and ``create_model``."""

from ecalib.models import zoo as _zoo  # noqa: F401  (registers the variants)
from ecalib.models.factory import FeatureListNet, create_model
from ecalib.models.mobilenetv2 import MobileNetV2
from ecalib.models.registry import EvalTransform, ModelInfo, list_models, model_info
from ecalib.models.resnet import BasicBlock, Bottleneck, ResNet, resolve_kernel_sizes

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "EvalTransform",
    "FeatureListNet",
    "MobileNetV2",
    "ModelInfo",
    "ResNet",
    "create_model",
    "list_models",
    "model_info",
    "resolve_kernel_sizes",
]
