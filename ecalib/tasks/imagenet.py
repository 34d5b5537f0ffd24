"""ImageNet training with the official recipes, and evaluation of official checkpoints.

The recipes are ``configs/imagenet/resnet.yaml`` (the official ``main.py``) and
``configs/imagenet/mobilenet_v2.yaml`` (``light_main.py``). When the global batch differs from the
recipe's and no lr is given, the lr follows the linear scaling rule; the run record states the lr
used and why.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ecalib.data.imagefolder import (
    LoaderBatches,
    SeededImageFolder,
    class_indices,
    describe_source,
    eval_transform,
    split_dir,
    train_transform,
    write_synthetic_imagefolder,
)
from ecalib.devices import resolve_device
from ecalib.errors import UsageError
from ecalib.models.registry import IMAGENET_MEAN, IMAGENET_STD
from ecalib.recipes.resolve import Run
from ecalib.tasks.base import FolderTask

IMAGE_SIZES = {"train_crop": 224, "val_resize": 256, "val_crop": 224}  # the official evaluation transform
# the reproduction's main.py W&B names
WANDB_NAMES = {
    "lr": "lr",
    "test_top1": "Top-1 accuracy (Val)",
    "test_top5": "Top-5 accuracy (Val)",
    "test_loss": "loss (Val)",
    "train_top1": "Top-1 accuracy (Train)",
    "train_top5": "Top-5 accuracy (Train)",
    "train_loss": "loss (Train)",
    "images_per_s": "images/s (Train)",
}


def default_workers() -> int:
    """Loader processes per training process: 8, or fewer on a machine with fewer cores."""
    from ecalib.recipes.resolve import default_workers as workers

    return workers("imagenet")


class Imagenet(FolderTask):
    name = "imagenet"
    wandb_names = WANDB_NAMES
    synthetic_kind = "synthetic-imagenet"

    def synthetic_writer(self):
        return write_synthetic_imagefolder

    def check_splits(self, root: Path) -> None:
        split_dir(root, "train"), split_dir(root, "val")

    def datasets(self, run: Run) -> tuple:
        root, d = self.data_folder(run), run.config.data
        train_set = SeededImageFolder(
            split_dir(root, "train"), train_transform(d.train_crop), run.config.seed, bad_images=d.bad_images
        )
        val_transform = eval_transform(d.val_resize, d.val_crop)
        val_set = SeededImageFolder(split_dir(root, "val"), val_transform, bad_images=d.bad_images)
        if len(train_set.classes) > run.config.model.num_classes:
            raise UsageError(
                f"{root}/train has {len(train_set.classes)} classes but the model has "
                f"{run.config.model.num_classes} outputs"
            )
        return train_set, val_set

    def batches(self, run, cfg, sets, device, dist):
        common = dict(
            batch_size=cfg.batch_size // dist.world_size,
            mean=cfg.mean,
            std=cfg.std,
            device=device,
            workers=run.config.data.workers,
            seed=cfg.seed,
            rank=dist.rank,
            world_size=dist.world_size,
            channels_last=cfg.channels_last,
        )
        return LoaderBatches(sets[0], train=True, **common), LoaderBatches(sets[1], train=False, **common)

    def data_source(self, run, sets) -> dict:
        train_set, val_set = sets
        return describe_source(self.data_folder(run)) | {
            "n_train": len(train_set),
            "n_val": len(val_set),
            "classes": len(train_set.classes),
            "train_images": train_set.describe_skipped(),
            "val_images": val_set.describe_skipped(),
        }

    def run_info(self, run, sets) -> dict:
        d = run.config.data
        return {"image_sizes": {k: getattr(d, k) for k in IMAGE_SIZES}}


TASK = Imagenet()
data_folder = TASK.data_folder


def find_val_dir(data: str | Path) -> Path:
    """``data/val`` if it exists, else ``data`` itself when it holds class folders."""
    data = Path(data)
    if not data.is_dir():
        raise FileNotFoundError(f"data folder not found: {data}")
    if (data / "val").is_dir():
        return split_dir(data, "val")
    if any(p.is_dir() for p in data.iterdir()) and not (data / "train").is_dir():
        return data
    raise FileNotFoundError(f"{data} has no val/ folder and is not a folder of class folders (<class>/<image>.JPEG)")


def evaluate_checkpoint(
    checkpoint: str | Path,
    data: str | Path,
    model: str | None = None,
    batch_size: int = 100,
    workers: int | None = None,
    device: str = "auto",
    allow_pickle: bool = False,
    image_sizes: dict | None = None,
    progress: bool = True,
    bad_images: str = "refuse",
) -> dict:
    """Top-1/top-5 of an official checkpoint on an ImageNet-style val folder, beside the published values.

    The checkpoint's architecture and ECA kernels are read from its weights (or checked against
    ``model``). Evaluation uses the official transform (resize 256, centre crop 224, ImageNet
    statistics) unless ``image_sizes`` says otherwise. Folder classes map to the model's outputs
    by ImageNet wnid or, for equal counts, by sorted order (:func:`class_indices`, recorded as
    ``label_map``); any other folder is refused. Unreadable image files stop the evaluation naming the
    first (``bad_images='refuse'``) or are left out and counted in the result (``'skip'``).
    """
    from tqdm.auto import tqdm

    from ecalib.checkpoint import CheckpointError, plain_values
    from ecalib.models import create_model
    from ecalib.models.factory import load_official_checkpoint

    val_dir = find_val_dir(data)
    if model:
        net = create_model(model, pretrained=checkpoint, allow_pickle=allow_pickle)
    else:
        net = load_official_checkpoint(checkpoint, allow_pickle=allow_pickle)
    info = net.model_info
    if info.stem != "imagenet":
        raise CheckpointError(f"{checkpoint} holds {info.name}, a CIFAR network, not an ImageNet model")
    sizes = {**IMAGE_SIZES, **(image_sizes or {})}
    dataset = SeededImageFolder(val_dir, eval_transform(sizes["val_resize"], sizes["val_crop"]), bad_images=bad_images)
    labels = class_indices(dataset.classes, net.num_classes, val_dir)  # folder class -> model output
    dev = resolve_device(device)
    to_output = torch.tensor(labels["indices"], device=dev)
    net = net.to(dev).eval()
    workers = default_workers() if workers is None else workers
    batches = LoaderBatches(dataset, batch_size, IMAGENET_MEAN, IMAGENET_STD, dev, train=False, workers=workers)
    sums = torch.zeros(4, dtype=torch.float64)
    with torch.no_grad():
        for x, y in tqdm(batches.epoch(0), total=len(batches), desc="evaluate", unit="batch", disable=not progress):
            y = to_output[y]
            out = net(x).float()
            top = out.topk(min(5, out.shape[1]), dim=1).indices == y[:, None]
            loss = torch.nn.functional.cross_entropy(out, y, reduction="sum")
            sums += torch.tensor(
                [loss.item(), top[:, :1].any(1).sum().item(), top.any(1).sum().item(), len(y)], dtype=torch.float64
            )
    n = int(sums[3])
    result = {
        "checkpoint": str(checkpoint),
        "model": info.name,
        "k_per_stage": getattr(net, "k_per_stage", None),
        "val_dir": str(val_dir),
        "images": n,
        **dataset.describe_skipped(),
        "classes": len(dataset.classes),
        "label_map": labels,
        "top1": 100 * sums[1].item() / n,
        "top5": 100 * sums[2].item() / n,
        "loss": sums[0].item() / n,
        "stored": plain_values(getattr(net, "checkpoint_meta", {})),
        "data_source": describe_source(val_dir.parent if val_dir.name == "val" else val_dir),
        "image_sizes": sizes,
        "published": info.reference_metrics(),
    }
    return result


EVALUATION_METRICS = ("top1", "top5", "loss", "images", "classes")  # final.json; everything else is provenance


def write_evaluation(result: dict, out_root: str | Path) -> Path:
    """Keep an evaluation as a result folder ``out_root/<model>-<UTC time>/`` that the claims ledger reads.

    ``params.json`` says what was evaluated on what (model, kernels, checkpoint file and its sha256, data
    folder and kind, transform, label map), ``env.json`` where (ecalib.provenance), and ``final.json``,
    written last, the metrics. An existing folder is never replaced.
    """
    import datetime as dt
    import hashlib
    import json

    from ecalib.engine.results import atomic_write_text
    from ecalib.provenance import environment

    digest = hashlib.sha256()
    with open(result["checkpoint"], "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    folder = Path(out_root) / f"{result['model']}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}"
    folder.mkdir(parents=True, exist_ok=False)
    params = {k: v for k, v in result.items() if k not in EVALUATION_METRICS}
    params = {"command": "evaluate", **params, "checkpoint_sha256": digest.hexdigest()}
    atomic_write_text(folder / "params.json", json.dumps(params, indent=2, default=str) + "\n")
    atomic_write_text(folder / "env.json", json.dumps(environment(), indent=2) + "\n")
    final = {k: result[k] for k in EVALUATION_METRICS}
    atomic_write_text(folder / "final.json", json.dumps(final, indent=2) + "\n")
    return folder


def format_evaluation(result: dict) -> str:
    """The evaluator's result as text: measured top-1/top-5 next to the README/paper values."""
    lines = [
        f"checkpoint  {result['checkpoint']}",
        f"model       {result['model']} (k per stage {result['k_per_stage']})",
        f"data        {result['val_dir']}: {result['images']} images, {result['classes']} classes "
        f"({result['data_source']['kind']})"
        + (f"; {result['skipped_images']} unreadable image files left out" if result.get("skipped_images") else ""),
        f"labels      {result['label_map']['description']}",
        "",
        f"{'source':18s} {'top-1':>8s} {'top-5':>8s}",
        f"{'measured':18s} {result['top1']:8.2f} {result['top5']:8.2f}",
    ]
    for source, metrics in result["published"].items():
        if "top1" in metrics:
            lines.append(f"{source:18s} {float(metrics['top1']):8.2f} {float(metrics['top5']):8.2f}")
    if result["data_source"]["kind"] == "synthetic":
        lines.append("(synthetic data: the published ImageNet values do not apply)")
    return "\n".join(lines)
