"""COCO Mask R-CNN with an ECA-ResNet-50-FPN backbone (paper Tables 5/6; MMDetection's 1x schedule), on torchvision.

Recipe: MMDetection's 1x schedule as the paper used it: SGD momentum 0.9, weight decay 1e-4,
12 epochs, lr x0.1 after epochs 8 and 11, 500 iterations of linear warm-up from 0.001 x lr, and
lr 0.02 for a batch of 16 images, scaled linearly with the batch actually used (the paper: 0.01
at batch 8). The reproduction ran batch 2 with the 8-GPU lr 0.02, eight times too high, and
diverged in epoch 6.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ecalib.data.imagefolder import describe_source
from ecalib.data.synthetic import ensure_synthetic, synthetic_dir
from ecalib.detection.coco_data import DetectionBatches, SeededCoco, coco_split
from ecalib.detection.hooks import DetectionHooks
from ecalib.engine import DistInfo, TrainConfig, Trainer, TrainResult, init_distributed, resolve_device
from ecalib.engine.config import data_seed
from ecalib.engine.distributed import barrier
from ecalib.engine.identity import run_name as make_name
from ecalib.engine.results import DEFAULT_RESULTS_DIR, completed_run
from ecalib.engine.schedule import linear_scaled_lr
from ecalib.errors import UsageError
from ecalib.params import check_choice

RECIPE = dict(
    epochs=12,
    batch_size=16,
    optimizer="sgd",
    lr=0.02,
    momentum=0.9,
    weight_decay=1e-4,
    schedule="multistep",
    milestones=[8, 11],
    gamma=0.1,
    warmup_iters=500,
    warmup_ratio=0.001,
)
SIZES = {"min_size": 800, "max_size": 1333}
# Fewer proposals and sampled RoIs for CPU smoke runs (torchvision's defaults: 2000/1000 proposals,
# 512 RoIs per image, 100 detections); the architecture is unchanged.
SMOKE_HEADS = dict(
    rpn_pre_nms_top_n_train=300,
    rpn_post_nms_top_n_train=150,
    rpn_pre_nms_top_n_test=150,
    rpn_post_nms_top_n_test=75,
    box_batch_size_per_image=64,
    box_detections_per_img=20,
)
PROFILES = {
    "full": {},
    "smoke": dict(
        data="synthetic",
        epochs=2,
        batch_size=2,
        warmup_iters=4,
        workers=0,
        min_size=128,
        max_size=128,
        detector=SMOKE_HEADS,
        synthetic=dict(train_images=16, val_images=6, size=128),
    ),
}
DATA_SOURCES = ("coco", "synthetic")


@dataclass
class CocoRun:
    backbone: str
    profile: str
    train: TrainConfig
    data: str
    data_dir: str
    detector: dict = field(default_factory=dict)  # build_eca_maskrcnn arguments besides the backbone
    workers: int = 4
    lr_rule: str = ""
    synthetic: dict = field(default_factory=dict)
    name: str = ""

    def identity(self) -> dict:
        """Every setting that changes the result (see ecalib.engine.identity)."""
        return {
            "task": "coco",
            "profile": self.profile,
            "data": self.data,
            "synthetic": self.synthetic,
            "detector": self.detector,
            "config": self.train.to_dict(),
        }


def make_run(
    data_dir: str | None = None,
    profile: str = "full",
    backbone: str = "eca_resnet50",
    data: str | None = None,
    k_size=None,
    backbone_weights: str | None = None,
    workers: int | None = None,
    run_name: str | None = None,
    min_size: int | None = None,
    max_size: int | None = None,
    **overrides,
) -> CocoRun:
    """A Mask R-CNN run; ``overrides`` set TrainConfig fields (``epochs``, ``batch_size``, ``lr``, ...)."""
    check_choice("profile", profile, PROFILES)
    settings = {**RECIPE, **SIZES, "workers": min(4, os.cpu_count() or 1), **PROFILES[profile]}
    data = data or settings.pop("data", "coco")
    settings.pop("data", None)
    check_choice("data", data, DATA_SOURCES)
    synthetic = settings.pop("synthetic", dict(train_images=16, val_images=6, size=128))
    heads = settings.pop("detector", {})
    sizes = {k: settings.pop(k) for k in SIZES}
    sizes.update({k: v for k, v in (("min_size", min_size), ("max_size", max_size)) if v is not None})
    preset_workers = settings.pop("workers")  # a loader setting, not a TrainConfig field
    workers = preset_workers if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise UsageError(f"workers (--workers) must be an integer >= 0, got {workers!r}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    batch = overrides.get("batch_size", settings["batch_size"])
    overrides["lr"], lr_rule = linear_scaled_lr(overrides.get("lr"), RECIPE["lr"], RECIPE["batch_size"], batch)
    if data_dir is None:
        if data == "coco":
            raise UsageError("data_dir is required: the COCO folder with train2017/, val2017/ and annotations/")
        data_dir = "data"
    if data == "synthetic":  # the set of this spec, in a folder of its own under data_dir
        from ecalib.detection.synthetic_coco import write_synthetic_coco

        data_dir = synthetic_dir(data_dir, "synthetic-coco", write_synthetic_coco, synthetic)
    model_kwargs = {"k_size": k_size} if k_size is not None else {}
    detector = {**sizes, **heads, **({"backbone_weights": str(backbone_weights)} if backbone_weights else {})}
    cfg = TrainConfig.from_dict(
        {**settings, "model": backbone, "num_classes": 91, "model_kwargs": model_kwargs, **overrides}
    )
    run = CocoRun(
        backbone,
        profile,
        cfg,
        data,
        str(data_dir),
        detector,
        workers,
        lr_rule,
        synthetic if data == "synthetic" else {},
    )
    label = None if profile == "full" else profile
    run.name = run_name or make_name(run.identity(), "coco", label, f"maskrcnn-{backbone}", f"seed{cfg.seed}")
    return run


def _prepare(run: CocoRun, dist: DistInfo) -> None:
    from ecalib.detection.synthetic_coco import write_synthetic_coco

    root = Path(run.data_dir)
    marker = root / "SYNTHETIC.json"
    if run.data == "synthetic" and dist.is_main:
        ensure_synthetic(root, write_synthetic_coco, run.synthetic)
    if run.data == "coco" and marker.exists():
        raise UsageError(f"{root} holds the synthetic scenes; use data='synthetic' for it")
    barrier(dist)


def data_source(root: str | Path) -> dict:
    return describe_source(root, real_kind="coco")


def train(
    run: CocoRun,
    results_dir: str | Path = DEFAULT_RESULTS_DIR,
    resume: bool = True,
    resume_from: str | Path | None = None,
    progress: bool = True,
    verbose: bool = True,
) -> TrainResult:
    """Train into ``results_dir/coco/<run.name>`` (re-running resumes) and assemble the progress GIF."""
    path = Path(results_dir) / "coco" / run.name
    if resume and (done := completed_run(path, run.identity(), verbose)):
        return done
    dist = init_distributed(resolve_device(run.train.device))
    _prepare(run, dist)
    train_set = SeededCoco(*coco_split(run.data_dir, "train"), train=True, seed=data_seed(run.train.seed))
    val_set = SeededCoco(*coco_split(run.data_dir, "val"), train=False)
    cfg = run.train
    if cfg.num_classes != train_set.num_classes:
        cfg = TrainConfig.from_dict({**cfg.to_dict(), "num_classes": train_set.num_classes})

    def make_batches(cfg: TrainConfig, device: torch.device, dist: DistInfo):
        common = dict(
            device=device, workers=run.workers, seed=data_seed(cfg.seed), rank=dist.rank, world_size=dist.world_size
        )
        return (
            DetectionBatches(train_set, cfg.batch_size // dist.world_size, train=True, **common),
            DetectionBatches(val_set, max(1, cfg.batch_size // dist.world_size), train=False, **common),
        )

    hooks = DetectionHooks(val_set.coco, run.detector, val_set.class_names)
    info = {
        "task": "coco",
        "backbone": run.backbone,
        "profile": run.profile,
        "lr_rule": run.lr_rule,
        "detector": run.detector,
        "workers": run.workers,
        "data_source": data_source(run.data_dir) | {"n_train": len(train_set), "n_val": len(val_set)},
    }
    trainer = Trainer(
        cfg,
        make_batches,
        path,
        info,
        wandb_project="ecalib-coco",
        wandb_group=f"{run.profile}-maskrcnn",
        progress=progress,
        verbose=verbose,
        hooks=hooks,
        identity=run.identity(),
    )
    result = trainer.fit(resume=resume, resume_from=resume_from)
    frames = sorted((path / "frames").glob("epoch_*.png"))
    if dist.is_main and frames:
        from ecalib.detection.visualize import progress_animation

        progress_animation(frames, path / "progress.gif")
    return result


def load_detector(checkpoint: str | Path, allow_pickle: bool = False) -> tuple[torch.nn.Module, dict]:
    """A trained detector from its run checkpoint (the run's params.json describes the architecture)."""
    import json

    from ecalib.checkpoint import extract_state_dict, load_state_file, load_weights_strict
    from ecalib.detection.maskrcnn import build_eca_maskrcnn

    state = load_state_file(checkpoint, allow_pickle=allow_pickle)
    config = state.get("config") if isinstance(state, dict) else None
    if not config:
        raise UsageError(f"{checkpoint} is not an ecalib detector checkpoint (no 'config')")
    params_file = Path(checkpoint).parent.parent / "params.json"
    detector = json.loads(params_file.read_text()).get("detector", {}) if params_file.exists() else {}
    detector = {k: v for k, v in detector.items() if k != "backbone_weights"}
    model = build_eca_maskrcnn(config["num_classes"], backbone=config["model"], **config["model_kwargs"], **detector)
    load_weights_strict(model, extract_state_dict(state, checkpoint), str(checkpoint))
    return model.eval(), config


def evaluate(
    checkpoint: str | Path,
    data_dir: str | Path,
    split: str = "val",
    device: str = "auto",
    workers: int = 0,
    allow_pickle: bool = False,
) -> dict:
    """bbox and segm AP of a trained detector on a COCO-format split (pycocotools)."""
    from ecalib.detection.coco_eval import IOU_TYPES, coco_metrics, predict_dataset, to_coco_results

    model, _ = load_detector(checkpoint, allow_pickle)
    dev = resolve_device(device)
    model.to(dev)
    dataset = SeededCoco(*coco_split(data_dir, split), train=False)
    outputs, ids = predict_dataset(model, DetectionBatches(dataset, 2, dev, train=False, workers=workers))
    results = to_coco_results(outputs, ids)
    metrics = {"images": len(ids), "detections": len(results), "data_source": data_source(data_dir)}
    with contextlib.redirect_stdout(io.StringIO()):
        for iou_type in IOU_TYPES:
            metrics.update({f"{iou_type}_{k}": v for k, v in coco_metrics(dataset.coco, results, iou_type).items()})
    return metrics
