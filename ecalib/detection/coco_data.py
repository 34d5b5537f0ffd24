"""COCO-format detection data: the split's files, seeded augmentation, and batches on the device."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch.utils.data import Dataset
from torchvision.datasets import CocoDetection, VisionDataset

from ecalib.data.imagefolder import LoaderBatches
from ecalib.data.images import open_image, scan_images, skipped_record
from ecalib.data.seeding import sample_seed
from ecalib.errors import UsageError
from ecalib.limits import MAX_CLASSES, json_object, quoted

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


def _whole(value: object, low: int = 0, high: float = math.inf) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _rle_string_counts(text: str) -> list[int] | None:
    """The run lengths of a compressed COCO RLE string (pycocotools' ``rleFrString``), or None if malformed."""
    counts, p = [], 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            if p >= len(text):
                return None
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        if x < 0:
            return None
        counts.append(x)
    return counts


def _segmentation_problem(seg: object, height: int | None, width: int | None) -> str | None:
    if isinstance(seg, list):
        polygons_ok = seg and all(
            isinstance(poly, list) and len(poly) >= 6 and len(poly) % 2 == 0 and all(map(_finite, poly)) for poly in seg
        )
        return None if polygons_ok else "polygons must be lists of at least 3 finite x, y pairs"
    if isinstance(seg, dict):
        size, counts = seg.get("size"), seg.get("counts")
        if not (isinstance(size, list) and len(size) == 2 and all(_whole(v, 1, 1 << 16) for v in size)):
            return f"RLE size must be [height, width], got {quoted(size)}"
        if height is not None and width is not None and size != [height, width]:
            return f"RLE size {size} differs from its image's {[height, width]}"
        if isinstance(counts, str):
            counts = _rle_string_counts(counts)
        if not (isinstance(counts, list) and all(_whole(c) for c in counts)) or sum(counts) != size[0] * size[1]:
            return f"RLE counts must be run lengths adding up to {size[0]} x {size[1]} pixels"
        return None
    return f"segmentation must be polygons (a list) or RLE (a dict), got {type(seg).__name__}"


def _entry_problem(kind: str, entry: dict, images: dict, categories: set) -> str | None:
    """What is wrong with one entry of an annotation file's ``images``, ``categories`` or ``annotations``."""
    if kind == "categories":
        if not _whole(entry.get("id"), 1, MAX_CLASSES - 1):
            return f"id must be a whole number from 1 to {MAX_CLASSES - 1}, got {quoted(entry.get('id'))}"
        return None if isinstance(entry.get("name"), str) else "name must be a text"
    if kind == "images":
        name = entry.get("file_name")
        if not _whole(entry.get("id")):
            return f"id must be a whole number >= 0, got {quoted(entry.get('id'))}"
        if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
            return f"file_name must be a path inside the image folder, got {quoted(name)}"
        if any(k in entry and not _whole(entry[k], 1) for k in ("width", "height")):
            return "width and height must be positive whole numbers"
        return None
    if not _whole(entry.get("id")):
        return f"id must be a whole number >= 0, got {quoted(entry.get('id'))}"
    if entry.get("image_id") not in images or isinstance(entry.get("image_id"), bool):
        return f"image_id {quoted(entry.get('image_id'))} is not the id of an image in the file"
    if entry.get("category_id") not in categories or isinstance(entry.get("category_id"), bool):
        return f"category_id {quoted(entry.get('category_id'))} is not the id of a category in the file"
    box = entry.get("bbox")
    if not (isinstance(box, list) and len(box) == 4 and all(map(_finite, box)) and box[2] >= 0 and box[3] >= 0):
        return f"bbox must be 4 finite numbers [x, y, width >= 0, height >= 0], got {quoted(box)}"
    if entry.get("iscrowd", 0) not in (0, 1) or isinstance(entry.get("iscrowd"), bool):
        return f"iscrowd must be 0 or 1, got {quoted(entry.get('iscrowd'))}"
    if "area" in entry and not (_finite(entry["area"]) and entry["area"] >= 0):
        return f"area must be a finite number >= 0, got {quoted(entry['area'])}"
    if "segmentation" not in entry:
        return "segmentation is missing (polygons or RLE; instance masks are trained)"
    image = images[entry["image_id"]]
    return _segmentation_problem(entry["segmentation"], image.get("height"), image.get("width"))


def read_annotations(path: str | Path) -> dict:
    """A COCO instances file, checked once on load before pycocotools or torchvision read it: a JSON object
    with lists ``images``, ``annotations`` and (non-empty) ``categories``, every entry of the types and
    ranges COCO defines, ids unique, references resolved, category ids below ``MAX_CLASSES`` (the class
    count is the largest id + 1). The first bad entry is named in one line."""
    path = Path(path)
    try:
        data = json_object(path)
    except ValueError as why:
        raise UsageError(f"{path}: a COCO annotation file is a JSON object; {why}") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise UsageError(f"{path}: '{key}' must be a list, got {quoted(data.get(key))}")
    if not data["categories"]:
        raise UsageError(f"{path}: 'categories' is empty; a detector needs at least one category")
    images: dict = {}
    categories: set = set()
    for kind in ("categories", "images", "annotations"):
        seen = set()
        for i, entry in enumerate(data[kind]):
            problem = _entry_problem(kind, entry, images, categories) if isinstance(entry, dict) else "not an object"
            if problem is None and entry["id"] in seen:
                problem = f"id {entry['id']} is used twice"
            if problem:
                raise UsageError(f"{path}: {kind}[{i}]: {problem}")
            seen.add(entry["id"])
            if kind == "images":
                images[entry["id"]] = entry
            elif kind == "categories":
                categories.add(entry["id"])
    return data


def coco_index(data: dict):
    """pycocotools' ``COCO`` over an already read (and checked) annotation dict."""
    import contextlib
    import io

    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco.createIndex()
    return coco


def detection_transform(train: bool):
    from torchvision.transforms import v2

    steps = [v2.ToImage()]
    if train:
        steps.append(v2.RandomHorizontalFlip(0.5))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.SanitizeBoundingBoxes()]
    return v2.Compose(steps)


class CheckedCocoDetection(CocoDetection):
    """torchvision's CocoDetection over a checked annotation index, reading images with ecalib's reader."""

    def __init__(self, root: Path, coco, transforms):
        VisionDataset.__init__(self, str(root), transforms=transforms)
        self.coco = coco
        self.ids = sorted(coco.imgs)

    def _load_image(self, id: int):
        return open_image(Path(self.root) / self.coco.loadImgs(id)[0]["file_name"])


class SeededCoco(Dataset):
    """CocoDetection with boxes, labels (category ids) and masks from polygons or RLE, augmented per
    sample with a seed of its own; training drops images without annotations."""

    def __init__(self, img_dir: Path, ann_file: Path, train: bool, seed: int = 0, bad_images: str = "refuse"):
        from torchvision.datasets import wrap_dataset_for_transforms_v2

        data = read_annotations(ann_file)
        keep, self.skipped = scan_images([str(Path(img_dir) / im["file_name"]) for im in data["images"]], bad_images)
        if self.skipped:  # left out of the ground truth too, so evaluation does not count them as misses
            kept = {data["images"][i]["id"] for i in keep}
            data = {
                **data,
                "images": [data["images"][i] for i in keep],
                "annotations": [a for a in data["annotations"] if a["image_id"] in kept],
            }
        self.bad_images = bad_images
        base = CheckedCocoDetection(img_dir, coco_index(data), detection_transform(train))
        self.coco = base.coco
        if train:
            base.ids = [i for i in base.ids if self.coco.getAnnIds(imgIds=i, iscrowd=False)]
        if not base.ids:
            raise UsageError(f"{ann_file} has no {'annotated ' if train else ''}images")
        self.base = wrap_dataset_for_transforms_v2(base, target_keys={"boxes", "labels", "masks", "image_id"})
        self.ids = base.ids
        self.seed = seed

    def describe_skipped(self) -> dict:
        return skipped_record(self.bad_images, self.skipped)

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
