"""What each experiment of the report costs on one GPU, and what this build spent.

Costs are projections: images to process divided by a rate per GPU. The rate is, in this order, one measured
by a committed GPU ``ecalib bench`` folder (fp32, eager, the plain backbone), else the paper's Table 3 rate
divided over its GPUs (the paper's hardware, assuming linear scaling), else, for the CIFAR networks that
Table 3 does not have, Table 3's ResNet-50 rate scaled by the ratio of multiply-accumulates (an optimistic
bound: small networks rarely keep a GPU as busy). Mask R-CNN's rate is read from the reproduction's own
training log (one V100). Each projection names its basis.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd

from ecalib.bench_results import device_type
from ecalib.reference import reference_metrics
from ecalib.reports.speed import PAPER_GPU, PAPER_GPUS, PAPER_ROWS

# images per epoch of the datasets' training and validation sets
IMAGENET_TRAIN_IMAGES = 1_281_167
IMAGENET_VAL_IMAGES = 50_000
CIFAR10_TRAIN_IMAGES = 50_000
# backbone -> (registered model whose multiply-accumulates scale the paper's ResNet-50 rate, input size)
SCALED_BACKBONES = {"resnet18_cifar": ("resnet18_cifar", 32), "resnet18_rc2020": ("resnet18", 32)}


@dataclass(frozen=True)
class Rate:
    """Images per second on one GPU, and where the number comes from."""

    images_per_s: float
    basis: str
    measured_here: bool = False
    optimistic: bool = False  # an upper bound on the rate, so the time it projects is a lower bound


def gpu_bench_rows(bench: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``ecalib bench`` folders measured on a GPU."""
    if bench.empty:
        return bench
    return bench[bench["device"].map(device_type) == "cuda"]


@cache
def _macs(model: str, size: int) -> int:
    from ecalib.complexity import thop_macs
    from ecalib.models import create_model

    return thop_macs(create_model(model), size)[0]


def rate(backbone: str, mode: str, bench: pd.DataFrame | None = None) -> Rate:
    """Per-GPU images/s of the plain ``backbone`` (a key of ``ecalib.bench_suite.SUITE``, or ``resnet18_rc2020``:
    the ImageNet-stem ResNet-18 on 32 px) in ``mode`` (``train`` or ``infer``)."""
    gpu = gpu_bench_rows(bench if bench is not None else pd.DataFrame())
    if len(gpu):
        rows = gpu[(gpu["backbone"] == backbone) & (gpu["mechanism"] == "none") & (gpu["mode"] == mode)]
        for column, setting in (("precision", "fp32"), ("compile", "eager")):  # as the recipes train
            if column in rows:
                rows = rows[rows[column] == setting]
        if len(rows):
            best = rows.sort_values("folder").iloc[-1]
            return Rate(
                float(best["images_per_s"]),
                f"measured: {best['device']}, fp32, batch {best['batch_size']} ({best['folder']})",
                True,
            )
    if backbone in PAPER_ROWS:
        paper_backbone, methods = PAPER_ROWS[backbone]
        fps = float(reference_metrics("paper", paper_backbone, methods["none"])[f"{mode}_fps"])
        return Rate(fps / PAPER_GPUS, f"paper Table 3: {fps:g} images/s on {PAPER_GPUS} {PAPER_GPU}, per GPU")
    if backbone in SCALED_BACKBONES:
        model, size = SCALED_BACKBONES[backbone]
        base = rate("resnet50", mode, bench)
        factor = _macs("resnet50", 224) / _macs(model, size)
        return Rate(
            base.images_per_s * factor,
            f"{'the measured' if base.measured_here else 'paper Table 3'} ResNet-50 rate x {factor:.1f}, its MACs "
            f"over {model}'s at {size} px (an upper bound on the rate)",
            optimistic=True,
        )
    raise KeyError(f"no rate for backbone {backbone!r}")


@cache
def maskrcnn_rate() -> Rate:
    """Images/s of Mask R-CNN (ECA-ResNet-50-FPN, 1x) training, from the reproduction's log (median iteration)."""
    from ecalib.reference import rc2020_maskrcnn_logs
    from ecalib.reports.mmdet_logs import parse_mmdet_log

    path = rc2020_maskrcnn_logs()[0]
    log = parse_mmdet_log(path)
    seconds = pd.to_numeric(log.train["time"], errors="coerce").median()  # MMDetection's "time: s/iteration"
    gpu = re.search(r"GPU 0: (.+)", Path(path).read_text(errors="replace"))
    images = log.config["samples_per_gpu"]
    return Rate(
        images / seconds,
        f"RC2020's Mask R-CNN log ({Path(path).name}): {seconds:.3f} s per iteration of {images} images on one "
        f"{gpu.group(1).strip() if gpu else 'GPU'}",
    )


def maskrcnn_epoch_images() -> int:
    """Images per COCO training epoch, as the reproduction's log counts them (iterations x batch)."""
    from ecalib.reference import rc2020_maskrcnn_logs
    from ecalib.reports.mmdet_logs import parse_mmdet_log

    log = parse_mmdet_log(rc2020_maskrcnn_logs()[0])
    return int(log.train["iters_per_epoch"].iloc[0]) * log.config["samples_per_gpu"]


@dataclass(frozen=True)
class Cost:
    """A cost: GPU-hours on one GPU of the rate's kind, the data needed, and the basis. A projection unless
    ``limit`` (a run that stops within its own time budget)."""

    gpu_hours: float
    data: str
    basis: str
    lower_bound: bool = False
    limit: bool = False

    def hours(self) -> str:
        """``~139 GPU-hours``, ``>= 0.6 GPU-hours`` for a lower bound, ``<= 0.13 GPU-hours`` for a limit."""
        value = f"{self.gpu_hours:.2g}" if self.gpu_hours < 10 else f"{self.gpu_hours:,.0f}"
        return f"{'≤' if self.limit else '≥' if self.lower_bound else '~'}{value} GPU-hours"

    def kind(self) -> str:
        return "budget" if self.limit else "projection"

    def text(self) -> str:
        return f"{self.hours()} ({self.kind()}; {self.basis}); data: {self.data}"


def cost(images: float, of: Rate, data: str) -> Cost:
    return Cost(float(images / of.images_per_s / 3600), data, of.basis, of.optimistic)


TRAIN_IMAGES = {"cifar10": CIFAR10_TRAIN_IMAGES, "imagenet": IMAGENET_TRAIN_IMAGES}
STUDY_BACKBONES = {
    "imagenet/resnet": "resnet50",
    "cifar10/ablation": "resnet18_cifar",
    "cifar10/rc2020": "resnet18_rc2020",
}


def training_cost(
    recipe: str, runs: int, bench: pd.DataFrame | None = None, data: str = "", backbone: str | None = None
) -> Cost:
    """``runs`` full runs of ``recipe`` (its epochs over the task's training set) at ``backbone``'s training rate
    (default: the recipe's network, ``STUDY_BACKBONES``)."""
    from ecalib.recipes import resolve

    config = resolve(recipe, "full", data_dir=".").train_config()
    task = recipe.split("/")[0]
    network = backbone or STUDY_BACKBONES[recipe]
    return cost(runs * config.epochs * TRAIN_IMAGES[task], rate(network, "train", bench), data)


def evaluation_cost(checkpoints: int, backbone: str = "resnet50", bench: pd.DataFrame | None = None) -> Cost:
    """Evaluating ``checkpoints`` ImageNet checkpoints on the validation set."""
    return cost(
        checkpoints * IMAGENET_VAL_IMAGES, rate(backbone, "infer", bench), "ImageNet-1k val and the released files"
    )


def maskrcnn_cost(runs: int = 1) -> Cost:
    """``runs`` Mask R-CNN 1x trainings (12 epochs of COCO train2017) at the reproduction's measured rate."""
    from ecalib.recipes import resolve

    epochs = resolve("coco/maskrcnn_1x", "full", data_dir=".").train_config().epochs
    return cost(runs * epochs * maskrcnn_epoch_images(), maskrcnn_rate(), "COCO 2017 train/val")


def build_spending(results_dir: str | Path = "_build/results", executed_dir: str | Path = "book/executed") -> dict:
    """What this build spent: the training time of its run folders (per task and device) and the execution time
    papermill recorded for each notebook already executed."""
    rows = []
    for history in sorted(Path(results_dir).glob("*/*/history.csv")):
        try:
            times = pd.read_csv(history).get("epoch_time", pd.Series(dtype=float))
            env = json.loads((history.parent / "env.json").read_text())
        except (OSError, ValueError, pd.errors.ParserError):
            continue
        rows.append({"task": history.parent.parent.name, "device": env.get("device"), "seconds": times.sum()})
    notebooks = []
    for path in sorted(Path(executed_dir).glob("*.ipynb")):
        try:
            duration = json.loads(path.read_text())["metadata"]["papermill"]["duration"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if duration is not None:
            notebooks.append({"notebook": path.stem, "seconds": float(duration)})
    return {"runs": pd.DataFrame(rows), "notebooks": pd.DataFrame(notebooks)}


def projected_recipe_hours(train_images_per_s: float, gpus: int, epochs: int = 100) -> float:
    """Wall time of the ImageNet recipe at a measured per-device rate, assuming linear scaling over devices."""
    return epochs * IMAGENET_TRAIN_IMAGES / (train_images_per_s * gpus) / 3600
