"""A small COCO-format data set of synthetic scenes: coloured shapes with exact polygon masks.

The files are the genuine COCO layout (``images/*.jpg`` and an ``instances_<split>.json`` with
``images``, ``annotations`` and ``categories``), so pycocotools, torchvision's CocoDetection and
MMDetection read them unchanged. Masks are polygons (a few as RLE, to exercise that path) and
boxes are their exact bounds. A ``SYNTHETIC.json`` marker says what the set is.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ecalib.data.synthetic import write_marker
from ecalib.errors import UsageError

CATEGORIES = (
    {"id": 1, "name": "square", "supercategory": "shape"},
    {"id": 2, "name": "triangle", "supercategory": "shape"},
    {"id": 3, "name": "disc", "supercategory": "shape"},
)
COLOURS = {1: (220, 60, 40), 2: (40, 180, 60), 3: (50, 90, 220)}


def _shape_polygon(rng: np.random.Generator, category: int, size: int) -> np.ndarray:
    """Vertices (k, 2) of one shape of ``category`` somewhere in a ``size`` x ``size`` image."""
    radius = rng.uniform(0.12, 0.25) * size
    cx, cy = rng.uniform(radius + 2, size - radius - 2, 2)
    angle = rng.uniform(0, 2 * np.pi)
    sides = {1: 4, 2: 3, 3: 24}[category]
    t = angle + 2 * np.pi * np.arange(sides) / sides
    return np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], axis=1)


def _uncompressed_rle(mask: np.ndarray) -> list[int]:
    """Run lengths of a binary mask in column-major order, starting with a run of zeros."""
    flat = mask.flatten(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    return np.diff(np.concatenate([[0], changes])).tolist()


def write_synthetic_coco(
    root: str | Path, train_images: int = 24, val_images: int = 8, size: int = 128, max_shapes: int = 3, seed: int = 0
) -> Path:
    """Write ``root/{train,val}/images/*.jpg`` and ``root/annotations/instances_{train,val}.json``."""
    from PIL import Image, ImageDraw
    from pycocotools import mask as mask_utils

    if train_images < 1 or val_images < 1 or size < 32:
        raise UsageError("need at least one train and one val image of at least 32 px")
    root = Path(root)
    rng = np.random.default_rng(seed)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    ann_id = 1
    for split, count in (("train", train_images), ("val", val_images)):
        images, annotations = [], []
        (root / split / "images").mkdir(parents=True, exist_ok=True)
        for image_id in range(1, count + 1):
            background = tuple(int(v) for v in rng.integers(90, 170, 3))
            canvas = Image.new("RGB", (size, size), background)
            draw = ImageDraw.Draw(canvas)
            for _ in range(int(rng.integers(1, max_shapes + 1))):
                category = int(rng.integers(1, 4))
                polygon = _shape_polygon(rng, category, size)
                draw.polygon([tuple(p) for p in polygon], fill=COLOURS[category])
                flat = [round(float(v), 2) for v in polygon.reshape(-1)]
                rle = mask_utils.merge(mask_utils.frPyObjects([flat], size, size))
                x0, y0 = polygon.min(axis=0)
                x1, y1 = polygon.max(axis=0)
                segmentation: object = [flat]
                if ann_id % 5 == 0:  # some as uncompressed RLE, the form COCO's own files use for it
                    segmentation = {"size": [size, size], "counts": _uncompressed_rle(mask_utils.decode(rle))}
                annotations.append(
                    {
                        "id": ann_id,
                        "image_id": image_id,
                        "category_id": category,
                        "segmentation": segmentation,
                        "area": float(mask_utils.area(rle)),
                        "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                        "iscrowd": 0,
                    }
                )
                ann_id += 1
            file_name = f"{split}_{image_id:06d}.jpg"
            canvas.save(root / split / "images" / file_name, quality=92)
            images.append({"id": image_id, "file_name": file_name, "width": size, "height": size})
        payload = {
            "info": {"description": "ecalib synthetic shapes (not COCO)"},
            "images": images,
            "annotations": annotations,
            "categories": list(CATEGORIES),
        }
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(payload))
    write_marker(
        root,
        "ecalib.detection.write_synthetic_coco",
        train_images=train_images,
        val_images=val_images,
        size=size,
        max_shapes=max_shapes,
        seed=seed,
    )
    return root
