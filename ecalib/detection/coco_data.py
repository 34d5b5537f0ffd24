"""COCO-format detection data: the split's files, seeded augmentation, and batches on the device."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from ecalib.data.imagefolder import LoaderBatches
from ecalib.data.seeding import sample_seed
from ecalib.errors import UsageError

SPLIT_LAYOUTS = (
    ("{split}2017", "annotations/instances_{split}2017.json"),  # COCO 2017 as downloaded
    ("{split}/images", "annotations/instances_{split}.json"),  # ecalib's synthetic scenes
)


def coco_split(root: str | Path, split: str) -> tuple[Path, Path]:
    """(image folder, annotation file) of ``split`` in a COCO-style ``root``, or a clear error."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"COCO folder not found: {root}")
    for images, ann_pattern in SPLIT_LAYOUTS:
        img_dir, ann = root / images.format(split=split), root / ann_pattern.format(split=split)
        if img_dir.is_dir() and ann.is_file():
            return img_dir, ann
    tried = ", ".join(f"{i.format(split=split)} + {a.format(split=split)}" for i, a in SPLIT_LAYOUTS)
    raise FileNotFoundError(f"{root} has no COCO '{split}' split; expected {tried}")


def detection_transform(train: bool):
    from torchvision.transforms import v2

    steps = [v2.ToImage()]
    if train:
        steps.append(v2.RandomHorizontalFlip(0.5))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.SanitizeBoundingBoxes()]
    return v2.Compose(steps)


class SeededCoco(Dataset):
    """CocoDetection with boxes, labels (category ids) and masks from polygons or RLE, augmented per
    sample with a seed of its own; training drops images without annotations."""

    def __init__(self, img_dir: Path, ann_file: Path, train: bool, seed: int = 0):
        import contextlib
        import io

        from torchvision.datasets import CocoDetection, wrap_dataset_for_transforms_v2

        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
            base = CocoDetection(str(img_dir), str(ann_file), transforms=detection_transform(train))
        self.coco = base.coco
        if train:
            base.ids = [i for i in base.ids if self.coco.getAnnIds(imgIds=i, iscrowd=False)]
        if not base.ids:
            raise UsageError(f"{ann_file} has no {'annotated ' if train else ''}images")
        self.base = wrap_dataset_for_transforms_v2(base, target_keys={"boxes", "labels", "masks", "image_id"})
        self.ids = base.ids
        self.seed = seed

    @property
    def num_classes(self) -> int:
        """Category ids are used as labels directly (torchvision's convention): max id + 1 with background."""
        return max(self.coco.getCatIds()) + 1

    @property
    def class_names(self) -> dict[int, str]:
        return {c["id"]: c["name"] for c in self.coco.loadCats(self.coco.getCatIds())}

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, key):
        epoch, index = key if isinstance(key, tuple) else (0, key)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed(self.seed, epoch, index))
            image, target = self.base[index]
        return image, _plain_target(target, image)


def _plain_target(target: dict, image: torch.Tensor) -> dict:
    h, w = image.shape[-2:]
    boxes = target.get("boxes")
    return {
        "boxes": torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4) if boxes is not None else torch.zeros(0, 4),
        "labels": torch.as_tensor(target.get("labels", torch.zeros(0)), dtype=torch.int64),
        "masks": torch.as_tensor(target.get("masks", torch.zeros(0, h, w)), dtype=torch.uint8),
        "image_id": int(target["image_id"]),
    }


def collate(batch):
    return tuple(zip(*batch))


class DetectionBatches(LoaderBatches):
    """Lists of images ([0, 1] floats; Mask R-CNN normalises them itself) and targets, on the device."""

    def __init__(self, dataset: SeededCoco, batch_size: int, device: torch.device, train: bool, **kwargs):
        super().__init__(dataset, batch_size, (0.0,) * 3, (1.0,) * 3, device, train, collate_fn=collate, **kwargs)

    def epoch(self, epoch: int):
        self.sampler.set_epoch(epoch)
        for images, targets in self.loader:
            images = [img.to(self.device, non_blocking=True) for img in images]
            targets = [{k: (v.to(self.device) if torch.is_tensor(v) else v) for k, v in t.items()} for t in targets]
            yield images, targets
