"""ImageNet-style ``train/`` and ``val/`` ImageFolder data: a fast decode path, sampling that makes
every epoch reproducible, and a generator of small ImageFolder sets of real JPEG files.

Images are decoded by torchvision (libjpeg-turbo) straight into uint8 tensors, augmented as
uint8 by ``transforms.v2`` in the loader workers, collated as uint8 and normalised on the
training device (a quarter of the host-to-device traffic of float batches). Each sample's random
augmentation is seeded by ``(seed, epoch, index)``, so results do not depend on the number of
loader workers or processes, and a resumed epoch is replayed exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from ecalib.data.images import ImageError, read_image, scan_images, skipped_record
from ecalib.data.seeding import sample_seed
from ecalib.data.synthetic import write_marker
from ecalib.errors import UsageError

SYNTHETIC_MARKER = "SYNTHETIC.json"
IMAGENET_CLASSES = 1000
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".JPEG", ".JPG", ".PNG")


def split_dir(root: str | Path, split: str) -> Path:
    """``root/split`` with a clear error when it is missing or holds no class folders."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    folder = root / split
    if not folder.is_dir():
        found = sorted(p.name for p in root.iterdir() if p.is_dir())[:8]
        raise FileNotFoundError(
            f"{root} has no '{split}/' folder (found: {found or 'no folders'}); an ImageNet layout is "
            f"{root}/train/<class>/*.JPEG and {root}/val/<class>/*.JPEG"
        )
    if not any(p.is_dir() for p in folder.iterdir()):
        raise FileNotFoundError(f"{folder} holds no class folders (<class>/<image>.JPEG)")
    return folder


def train_transform(crop: int):
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomResizedCrop(crop, antialias=True), v2.RandomHorizontalFlip()])


def eval_transform(resize: int, crop: int):
    from torchvision.transforms import v2

    return v2.Compose([v2.Resize(resize, antialias=True), v2.CenterCrop(crop)])


class SeededImageFolder(Dataset):
    """An ImageFolder whose samples are requested as ``(epoch, index)`` and augmented with a seed of their own.

    Every file is checked before use (:func:`ecalib.data.images.scan_images`): with ``bad_images='refuse'``
    an unreadable one stops here, naming it; with ``'skip'`` it is left out and listed in ``skipped``.
    """

    def __init__(self, folder: str | Path, transform, seed: int = 0, bad_images: str = "refuse"):
        from torchvision.datasets import ImageFolder

        self.base = ImageFolder(str(folder), loader=read_image, is_valid_file=lambda p: p.endswith(IMAGE_SUFFIXES))
        if len(self.base) == 0:
            raise FileNotFoundError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        keep, self.skipped = scan_images([path for path, _ in self.base.samples], bad_images)
        if self.skipped:
            self.base.samples = self.base.imgs = [self.base.samples[i] for i in keep]
            self.base.targets = [label for _, label in self.base.samples]
        if len(self.base) == 0:
            raise ImageError(f"{folder}: none of its {len(self.skipped)} image files can be read")
        self.bad_images = bad_images
        self.transform = transform
        self.seed = seed

    def describe_skipped(self) -> dict:
        return skipped_record(self.bad_images, self.skipped)

    @property
    def classes(self) -> list[str]:
        return self.base.classes

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key):
        epoch, index = key if isinstance(key, tuple) else (0, key)
        path, label = self.base.samples[index]
        with torch.random.fork_rng(devices=[]):  # leave the caller's RNG (dropout) untouched
            torch.manual_seed(sample_seed(self.seed, epoch, index))
            return self.transform(read_image(path)), label


class EpochSampler(Sampler):
    """Wraps a sampler so that it yields ``(epoch, index)`` pairs."""

    def __init__(self, sampler: Sampler):
        self.sampler = sampler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((self.epoch, int(i)) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


class ShardSampler(Sampler):
    """Every ``world_size``-th index from ``rank`` on, in order, without padding (evaluation)."""

    def __init__(self, n: int, rank: int = 0, world_size: int = 1):
        self.indices = list(range(rank, n, world_size))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class LoaderBatches:
    """DataLoader batches moved to the device and normalised there (the engine's ``Batches``)."""

    def __init__(
        self,
        dataset: SeededImageFolder,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device,
        train: bool,
        workers: int = 4,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        channels_last: bool = False,
        collate_fn=None,
    ):
        self.device = device
        self.channels_last = channels_last
        if train:
            base = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
        else:
            base = ShardSampler(len(dataset), rank, world_size)
        self.sampler = EpochSampler(base)
        self.loader = DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=self.sampler,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
            drop_last=False,
            prefetch_factor=4 if workers > 0 else None,
            collate_fn=collate_fn,
        )
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1) * 255

    def sample(self, position: int):
        """The dataset item this rank reads at ``position`` of its order in the current epoch (evaluation:
        fixed), as the dataset returns it (before batching and normalisation)."""
        index = list(self.sampler.sampler)[position]
        return self.loader.dataset[(self.sampler.epoch, int(index))]

    @property
    def num_samples(self) -> int:
        return len(self.sampler)

    def __len__(self) -> int:
        return len(self.loader)

    def epoch(self, epoch: int):
        self.sampler.set_epoch(epoch)
        for images, labels in self.loader:
            x = images.to(self.device, non_blocking=True).float().sub_(self.mean).div_(self.std)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, labels.to(self.device, non_blocking=True)


def _class_image(rng: np.random.Generator, label: int, num_classes: int, height: int, width: int) -> np.ndarray:
    """An oriented grating with a class colour, random phase, scale and noise: learnable by class."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) / max(height, width)
    angle = np.pi * label / num_classes + rng.normal(0, 0.08)
    freq = 3.0 + (label % 5) * 1.5 + rng.normal(0, 0.3)
    wave = np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)) + rng.uniform(0, 2 * np.pi))
    hue = 2 * np.pi * label / num_classes
    colour = np.array([np.cos(hue), np.cos(hue - 2.1), np.cos(hue + 2.1)]) + rng.normal(0, 0.2, 3)
    img = 128 + 60 * colour[:, None, None] * wave[None] + 20 * colour[:, None, None]
    img += rng.normal(0, 25, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8).transpose(1, 2, 0)


def write_synthetic_imagefolder(
    root: str | Path,
    num_classes: int = 4,
    train_per_class: int = 24,
    val_per_class: int = 8,
    min_size: int = 72,
    max_size: int = 128,
    seed: int = 0,
    wnids: bool = False,
) -> Path:
    """Write ``root/train`` and ``root/val`` of real JPEG files (varied sizes), learnable by class.

    Class folders are named like ImageNet's (``n0000000k``), or with ``wnids=True`` by real ImageNet
    wnids spread over the 1000 classes (see :func:`synthetic_wnids`); a ``SYNTHETIC.json`` marker
    records the arguments so the set is never mistaken for ImageNet.
    """
    from PIL import Image

    if num_classes < 2 or train_per_class < 1 or val_per_class < 1:
        raise UsageError("need num_classes >= 2 and at least one train and one val image per class")
    if wnids and num_classes > IMAGENET_CLASSES:
        raise UsageError(f"wnids=True names at most {IMAGENET_CLASSES} classes, not {num_classes}")
    names = synthetic_wnids(num_classes) if wnids else [f"n{c:08d}" for c in range(num_classes)]
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, per_class in (("train", train_per_class), ("val", val_per_class)):
        for c in range(num_classes):
            folder = root / split / names[c]
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                h, w = (int(v) for v in rng.integers(min_size, max_size + 1, 2))
                image = Image.fromarray(_class_image(rng, c, num_classes, h, w))
                image.save(folder / f"{split}_{c:03d}_{i:04d}.JPEG", quality=90)
    write_marker(
        root,
        "ecalib.data.write_synthetic_imagefolder",
        num_classes=num_classes,
        train_per_class=train_per_class,
        val_per_class=val_per_class,
        min_size=min_size,
        max_size=max_size,
        seed=seed,
        wnids=wnids,
    )
    return root


def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet-1k wnids in the order of the classifiers' outputs (timm's ImageNetInfo)."""
    from timm.data import ImageNetInfo

    return list(ImageNetInfo().label_names())


def synthetic_wnids(num_classes: int) -> list[str]:
    """Real ImageNet wnids for ``num_classes`` synthetic classes: indices 0, 1000/n, 2000/n, ..."""
    names = imagenet_wnids()
    return [names[c * IMAGENET_CLASSES // num_classes] for c in range(num_classes)]


def class_indices(classes: Sequence[str], num_classes: int, folder: str | Path = "the data folder") -> dict:
    """How the folder's classes (sorted, as ImageFolder numbers them) map to a model's outputs.

    A 1000-class model and class folders that are all ImageNet wnids: each wnid goes to its
    ImageNet index (any subset of ImageNet works). Otherwise the counts must be equal, and the
    i-th class in sorted order goes to output i. Anything else is refused.
    Returns ``{"rule", "indices", "description"}``, ``indices[i]`` the output of folder class i.
    """
    classes = list(classes)
    if num_classes == IMAGENET_CLASSES:
        position = {name: i for i, name in enumerate(imagenet_wnids())}
        if all(name in position for name in classes):
            indices = [position[name] for name in classes]
            pairs = ", ".join(f"{n} -> {i}" for n, i in zip(classes[:3], indices, strict=False))
            more = ", ..." if len(classes) > 3 else ""
            return {
                "rule": "imagenet_wnid",
                "indices": indices,
                "description": f"{len(classes)} ImageNet wnids -> their ImageNet-1k indices ({pairs}{more})",
            }
    if len(classes) == num_classes:
        return {
            "rule": "sorted_order",
            "indices": list(range(num_classes)),
            "description": f"sorted order: the {num_classes} class folders, sorted, are outputs 0..{num_classes - 1}",
        }
    wnid_note = ""
    if num_classes == IMAGENET_CLASSES:
        position = set(imagenet_wnids())
        others = [name for name in classes if name not in position]
        wnid_note = f"; these are not ImageNet wnids: {others[:5]}{' ...' if len(others) > 5 else ''}"
    raise UsageError(
        f"{folder} has {len(classes)} classes but the checkpoint's model has {num_classes} outputs, so which "
        f"output each class is cannot be told{wnid_note}. Allowed: class folders named by ImageNet wnids "
        f"(n01440764, ...) for a 1000-class model, or exactly {num_classes} class folders (matched in sorted order)"
    )


def describe_source(root: str | Path, real_kind: str = "imagefolder") -> dict:
    """What a data folder is: the synthetic generator's record (its ``SYNTHETIC.json``), or real data."""
    root = Path(root)
    marker = root / SYNTHETIC_MARKER
    if marker.exists():
        return {"kind": "synthetic", "path": str(root.resolve()), "generator": json.loads(marker.read_text())}
    return {"kind": real_kind, "path": str(root.resolve())}
