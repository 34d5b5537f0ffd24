"""Classify images with a model's own evaluation transform and ImageNet class names."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn

from ecalib.models.registry import EvalTransform


def eval_transform(model_or_cfg: nn.Module | EvalTransform | str):
    """The torchvision transform a model was evaluated with (official: resize 256, crop 224, bilinear)."""
    from torchvision import transforms as T

    cfg = model_or_cfg
    if isinstance(cfg, str):
        from ecalib.models import model_info

        cfg = model_info(cfg).eval_transform
    elif isinstance(cfg, nn.Module):
        info = getattr(cfg, "model_info", None)
        cfg = info.eval_transform if info is not None else EvalTransform()
    interpolation = T.InterpolationMode(cfg.interpolation)
    return T.Compose(
        [
            T.Resize(cfg.resize, interpolation=interpolation),
            T.CenterCrop(cfg.crop),
            T.ToTensor(),
            T.Normalize(cfg.mean, cfg.std),
        ]
    )


@lru_cache(maxsize=1)
def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k category names, as shipped (offline) with torchvision."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    probability: float


def _open_image(image):
    from PIL import Image

    from ecalib.data.images import open_image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    return open_image(os.fspath(image))


@torch.no_grad()
def predict(model: nn.Module, image, topk: int = 5, class_names: tuple[str, ...] | None = None) -> list[Prediction]:
    """Top-``topk`` classes of one image (a path or PIL image) under the model's eval transform."""
    was_training = model.training
    model.eval()
    try:
        x = eval_transform(model)(_open_image(image)).unsqueeze(0)
        device = next(model.parameters()).device
        probs = model(x.to(device)).softmax(dim=-1)[0].float().cpu()
    finally:
        model.train(was_training)
    if class_names is None and probs.numel() == 1000:
        class_names = imagenet_class_names()
    values, indices = probs.topk(min(topk, probs.numel()))
    return [
        Prediction(int(i), class_names[i] if class_names else str(int(i)), float(p))
        for p, i in zip(values.tolist(), indices.tolist())
    ]
