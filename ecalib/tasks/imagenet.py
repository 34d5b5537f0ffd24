"""ImageNet training with the official recipes (main.py, light_main.py), and evaluation of official checkpoints.

Recipes: the ResNets of the official ``main.py`` (SGD 0.1, momentum 0.9, wd 1e-4, batch 256,
x0.1 at epochs 30/60/90, 100 epochs; RandomResizedCrop 224 + flip; eval resize 256 + centre crop
224) and MobileNetV2 of ``light_main.py`` (400 epochs, batch 96, lr 0.045 x0.98 per epoch, wd
4e-5). When the global batch differs from the recipe's and no lr is given, the lr follows the
linear scaling rule; the run record states the lr used and why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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
from ecalib.data.synthetic import ensure_synthetic, synthetic_dir
from ecalib.engine import DistInfo, TrainConfig, Trainer, TrainResult, init_distributed, resolve_device
from ecalib.engine.config import data_seed
from ecalib.engine.distributed import barrier
from ecalib.engine.identity import run_name as make_name
from ecalib.engine.results import DEFAULT_RESULTS_DIR, completed_run
from ecalib.engine.schedule import linear_scaled_lr
from ecalib.errors import UsageError
from ecalib.models import model_info
from ecalib.models.registry import IMAGENET_MEAN, IMAGENET_STD
from ecalib.params import check_choice

RECIPES = {
    "resnet": dict(
        epochs=100,
        batch_size=256,
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        weight_decay=1e-4,
        schedule="multistep",
        milestones=[30, 60, 90],
        gamma=0.1,
    ),
    "mobilenet_v2": dict(
        epochs=400,
        batch_size=96,
        optimizer="sgd",
        lr=0.045,
        momentum=0.9,
        weight_decay=4e-5,
        schedule="exponential",
        milestones=[],
        gamma=0.98,
    ),
}
IMAGE_SIZES = {"train_crop": 224, "val_resize": 256, "val_crop": 224}
PROFILES = {
    "full": {},
    "smoke": dict(
        data="synthetic",
        epochs=2,
        batch_size=16,
        workers=0,
        train_crop=64,
        val_resize=73,
        val_crop=64,
        synthetic=dict(num_classes=4, train_per_class=16, val_per_class=8),
    ),
}
DATA_SOURCES = ("imagenet", "synthetic")
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
    return max(1, min(8, (os.cpu_count() or 2) - 1))


@dataclass
class ImagenetRun:
    model: str
    profile: str
    train: TrainConfig
    data: str
    data_dir: str
    workers: int = 8
    image_sizes: dict = field(default_factory=lambda: dict(IMAGE_SIZES))
    lr_rule: str = ""
    synthetic: dict = field(default_factory=dict)
    name: str = ""

    def identity(self) -> dict:
        """Every setting that changes the result (see ecalib.engine.identity)."""
        return {
            "task": "imagenet",
            "profile": self.profile,
            "data": self.data,
            "synthetic": self.synthetic,
            "image_sizes": self.image_sizes,
            "config": self.train.to_dict(),
        }


def make_run(
    model: str = "eca_resnet50",
    data_dir: str | None = None,
    profile: str = "full",
    data: str | None = None,
    k_size=None,
    workers: int | None = None,
    run_name: str | None = None,
    num_classes: int | None = None,
    **overrides,
) -> ImagenetRun:
    """A run of the official recipe for ``model`` (any registered ResNet or MobileNetV2 variant).

    ``overrides`` set TrainConfig fields (``epochs``, ``batch_size``, ``lr``, ``amp``, ``seed``...).
    ``batch_size`` is the global batch over all processes.
    """
    info = model_info(model)
    if info.family not in RECIPES or info.stem != "imagenet":
        raise UsageError(
            f"{model} has no ImageNet recipe; use an ImageNet ResNet or MobileNetV2 variant "
            f"(e.g. eca_resnet50, eca_mobilenet_v2)"
        )
    check_choice("profile", profile, PROFILES)
    settings = {**RECIPES[info.family], **IMAGE_SIZES, "workers": default_workers(), **PROFILES[profile]}
    data = data or settings.pop("data", "imagenet")
    settings.pop("data", None)
    check_choice("data", data, DATA_SOURCES)
    synthetic = settings.pop("synthetic", dict(num_classes=4, train_per_class=16, val_per_class=8))
    sizes = {k: settings.pop(k) for k in IMAGE_SIZES}
    preset_workers = settings.pop("workers")  # a loader setting, not a TrainConfig field
    workers = preset_workers if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise UsageError(f"workers (--workers) must be an integer >= 0, got {workers!r}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    batch = overrides.get("batch_size", settings["batch_size"])
    recipe = RECIPES[info.family]
    overrides["lr"], lr_rule = linear_scaled_lr(overrides.get("lr"), recipe["lr"], recipe["batch_size"], batch)
    if num_classes is None:
        num_classes = synthetic["num_classes"] if data == "synthetic" else 1000
    model_kwargs = {"k_size": k_size} if k_size is not None else {}
    cfg = TrainConfig.from_dict(
        {
            **settings,
            "model": model,
            "num_classes": num_classes,
            "model_kwargs": model_kwargs,
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
            **overrides,
        }
    )
    if data_dir is None:
        if data == "imagenet":
            raise UsageError("data_dir is required: the ImageNet folder holding train/ and val/")
        data_dir = "data"
    if data == "synthetic":  # the set of this spec, in a folder of its own under data_dir
        data_dir = synthetic_dir(data_dir, "synthetic-imagenet", write_synthetic_imagefolder, synthetic)
    k_tag = f"-k{k_size if isinstance(k_size, str) else ''.join(map(str, k_size))}" if k_size else ""
    run = ImagenetRun(
        model,
        profile,
        cfg,
        data,
        str(data_dir),
        workers,
        sizes,
        lr_rule,
        synthetic if data == "synthetic" else {},
    )
    label = None if profile == "full" else profile
    run.name = run_name or make_name(run.identity(), "imagenet", label, f"{model}{k_tag}", f"seed{cfg.seed}")
    return run


def _prepare_data(run: ImagenetRun, dist: DistInfo) -> None:
    root = Path(run.data_dir)
    if run.data == "synthetic":
        if dist.is_main:
            ensure_synthetic(root, write_synthetic_imagefolder, run.synthetic)
    elif (root / "SYNTHETIC.json").exists():
        raise UsageError(f"{root} holds the synthetic look-alike; use data='synthetic' for it")
    barrier(dist)
    split_dir(root, "train"), split_dir(root, "val")


def train(
    run: ImagenetRun,
    results_dir: str | Path = DEFAULT_RESULTS_DIR,
    resume: bool = True,
    resume_from: str | Path | None = None,
    progress: bool = True,
    verbose: bool = True,
) -> TrainResult:
    """Train into ``results_dir/imagenet/<run.name>``; re-running continues the run from its checkpoint."""
    path = Path(results_dir) / "imagenet" / run.name
    if resume and (done := completed_run(path, run.identity(), verbose)):
        return done
    dist = init_distributed(resolve_device(run.train.device))
    _prepare_data(run, dist)
    root = Path(run.data_dir)
    train_set = SeededImageFolder(
        split_dir(root, "train"), train_transform(run.image_sizes["train_crop"]), data_seed(run.train.seed)
    )
    val_set = SeededImageFolder(
        split_dir(root, "val"), eval_transform(run.image_sizes["val_resize"], run.image_sizes["val_crop"])
    )
    if len(train_set.classes) > run.train.num_classes:
        raise UsageError(
            f"{root}/train has {len(train_set.classes)} classes but the model has {run.train.num_classes} outputs"
        )

    def make_batches(cfg: TrainConfig, device: torch.device, dist: DistInfo):
        common = dict(
            batch_size=cfg.batch_size // dist.world_size,
            mean=cfg.mean,
            std=cfg.std,
            device=device,
            workers=run.workers,
            seed=data_seed(cfg.seed),
            rank=dist.rank,
            world_size=dist.world_size,
            channels_last=cfg.channels_last,
        )
        return LoaderBatches(train_set, train=True, **common), LoaderBatches(val_set, train=False, **common)

    source = describe_source(root) | {
        "n_train": len(train_set),
        "n_val": len(val_set),
        "classes": len(train_set.classes),
    }
    info = {
        "task": "imagenet",
        "model": run.model,
        "profile": run.profile,
        "data_source": source,
        "lr_rule": run.lr_rule,
        "image_sizes": run.image_sizes,
        "workers": run.workers,
    }
    trainer = Trainer(
        run.train,
        make_batches,
        path,
        info,
        wandb_project="ecalib-imagenet",
        wandb_group=f"{run.profile}-{run.model}",
        wandb_names=WANDB_NAMES,
        progress=progress,
        verbose=verbose,
        identity=run.identity(),
    )
    return trainer.fit(resume=resume, resume_from=resume_from)


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
) -> dict:
    """Top-1/top-5 of an official checkpoint on an ImageNet-style val folder, beside the published values.

    The checkpoint's architecture and ECA kernels are read from its weights (or checked against
    ``model``). Evaluation uses the official transform (resize 256, centre crop 224, ImageNet
    statistics) unless ``image_sizes`` says otherwise. Folder classes map to the model's outputs
    by ImageNet wnid or, for equal counts, by sorted order (:func:`class_indices`, recorded as
    ``label_map``); any other folder is refused.
    """
    from tqdm.auto import tqdm

    from ecalib.checkpoint import CheckpointError, load_official_checkpoint, plain_values
    from ecalib.models import create_model

    val_dir = find_val_dir(data)
    if model:
        net = create_model(model, pretrained=checkpoint, allow_pickle=allow_pickle)
    else:
        net = load_official_checkpoint(checkpoint, allow_pickle=allow_pickle)
    info = net.model_info
    if info.stem != "imagenet":
        raise CheckpointError(f"{checkpoint} holds {info.name}, a CIFAR network, not an ImageNet model")
    sizes = {**IMAGE_SIZES, **(image_sizes or {})}
    dataset = SeededImageFolder(val_dir, eval_transform(sizes["val_resize"], sizes["val_crop"]))
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


def format_evaluation(result: dict) -> str:
    """The evaluator's result as text: measured top-1/top-5 next to the README/paper values."""
    lines = [
        f"checkpoint  {result['checkpoint']}",
        f"model       {result['model']} (k per stage {result['k_per_stage']})",
        f"data        {result['val_dir']}: {result['images']} images, {result['classes']} classes "
        f"({result['data_source']['kind']})",
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
