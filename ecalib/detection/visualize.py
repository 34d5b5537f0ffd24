"""Boxes, masks, class names and scores drawn on images; an epoch-by-epoch progress animation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ecalib.errors import UsageError

PALETTE = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
)


def draw_predictions(
    image: torch.Tensor,
    prediction: dict,
    class_names: dict[int, str] | None = None,
    score_threshold: float = 0.5,
    mask_threshold: float = 0.5,
    title: str | None = None,
) -> torch.Tensor:
    """``image`` (C, H, W; uint8 or [0, 1] float) with the detections above ``score_threshold`` drawn on it."""
    from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

    img = image.detach().cpu()
    if img.dtype != torch.uint8:
        img = (img.clamp(0, 1) * 255).to(torch.uint8)
    keep = prediction["scores"].detach().cpu() >= score_threshold
    labels = prediction["labels"].detach().cpu()[keep]
    colours = [PALETTE[int(c) % len(PALETTE)] for c in labels]
    if "masks" in prediction and keep.any():
        masks = prediction["masks"].detach().cpu()[keep][:, 0] > mask_threshold
        img = draw_segmentation_masks(img, masks, alpha=0.45, colors=colours)
    if keep.any():
        names = class_names or {}
        text = [f"{names.get(int(c), int(c))} {s:.2f}" for c, s in zip(labels, prediction["scores"].cpu()[keep])]
        img = draw_bounding_boxes(img, prediction["boxes"].detach().cpu()[keep], labels=text, colors=colours, width=2)
    if title:
        img = _caption(img, title)
    return img


def _caption(img: torch.Tensor, text: str) -> torch.Tensor:
    from PIL import Image, ImageDraw

    pil = Image.fromarray(img.permute(1, 2, 0).numpy())
    canvas = Image.new("RGB", (pil.width, pil.height + 14), (255, 255, 255))
    canvas.paste(pil, (0, 14))
    ImageDraw.Draw(canvas).text((2, 1), text, fill=(0, 0, 0))
    return torch.from_numpy(np.array(canvas)).permute(2, 0, 1)


def save_image(img: torch.Tensor, path: str | Path) -> Path:
    from PIL import Image

    from ecalib.atomic import atomic_file

    path = Path(path)
    kind = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    with atomic_file(path) as f:
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(f, format=kind)
    return path


def progress_animation(frames: list[str | Path], output: str | Path, seconds_per_frame: float = 0.8) -> Path:
    """An animated GIF of ``frames`` (e.g. one detection overlay per epoch), looping."""

    if not frames:
        raise UsageError("no frames to animate")
    from ecalib.atomic import atomic_file
    from ecalib.data.images import open_image

    images = [open_image(f) for f in frames]
    output = Path(output)
    with atomic_file(output) as f:
        duration = int(seconds_per_frame * 1000)
        images[0].save(f, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)
    return output
