"""Train and test with MMDetection's own Runner, on the same COCO-format folders as the torchvision path.

This is what MMDetection's ``tools/train.py`` does (load the config, apply overrides, enable
automatic lr scaling, ``Runner.from_cfg(cfg).train()``), driven by an ecalib ``CocoRun`` so both
backends share data, profiles and result folders.
"""

from __future__ import annotations

import json
from pathlib import Path

from ecalib.detection.coco_data import coco_split

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "mmdet" / "mask-rcnn_eca-r50_fpn_1x_coco.py"


def _layout(data_dir: str | Path, split: str) -> tuple[str, str]:
    """(image prefix, annotation file) of a split, relative to ``data_dir``."""
    img_dir, ann = coco_split(data_dir, split)
    root = Path(data_dir)
    return str(img_dir.relative_to(root)) + "/", str(ann.relative_to(root))


def _set_scale(pipeline: list, scale: tuple[int, int]) -> None:
    for step in pipeline:
        if step.get("type") == "Resize":
            step["scale"] = scale


def build_config(run, results_dir: str | Path = "runs", config: str | Path = DEFAULT_CONFIG):
    """The MMDetection config for ``run`` (an :class:`ecalib.tasks.coco.CocoRun`)."""
    from mmengine.config import Config
    from pycocotools.coco import COCO

    cfg = Config.fromfile(str(config))
    work_dir = Path(results_dir) / "coco-mmdet" / run.name
    cfg.work_dir = str(work_dir)
    train_prefix, train_ann = _layout(run.data_dir, "train")
    val_prefix, val_ann = _layout(run.data_dir, "val")
    coco = COCO(str(Path(run.data_dir) / train_ann))
    classes = tuple(c["name"] for c in coco.loadCats(coco.getCatIds()))
    for loader, prefix, ann in (
        (cfg.train_dataloader, train_prefix, train_ann),
        (cfg.val_dataloader, val_prefix, val_ann),
        (cfg.test_dataloader, val_prefix, val_ann),
    ):
        loader.dataset.update(
            data_root=str(run.data_dir) + "/",
            ann_file=ann,
            data_prefix=dict(img=prefix),
            metainfo=dict(classes=classes),
        )
        loader.num_workers = run.workers
        loader.persistent_workers = run.workers > 0
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        evaluator.ann_file = str(Path(run.data_dir) / val_ann)
    cfg.train_dataloader.batch_size = run.train.batch_size
    cfg.model.roi_head.bbox_head.num_classes = len(classes)
    cfg.model.roi_head.mask_head.num_classes = len(classes)
    k = run.train.model_kwargs.get("k_size")
    weights = run.detector.get("backbone_weights")
    if weights:
        from ecalib.detection.convert import convert_backbone

        converted = work_dir / "backbone_mmdet.pth"
        report = convert_backbone(weights, "mmdet", converted)
        cfg.model.backbone.k_size = report.k_per_stage
        cfg.model.backbone.init_cfg = dict(type="Pretrained", checkpoint=str(converted))
    else:
        cfg.model.backbone.init_cfg = None
        if k is not None:
            cfg.model.backbone.k_size = k
    if run.data == "synthetic":
        cfg.train_dataloader.dataset.filter_cfg = dict(filter_empty_gt=True, min_size=4)
    cfg.train_cfg.max_epochs = run.train.epochs
    cfg.train_cfg.val_interval = 1
    for scheduler in cfg.param_scheduler:
        if scheduler.type == "LinearLR":
            scheduler.end = run.train.warmup_iters
        elif scheduler.type == "MultiStepLR":
            scheduler.end = run.train.epochs
            scheduler.milestones = run.train.milestones
    # The run's optimiser (its lr is the user's, or the recipe's scaled to the batch: see run.lr_rule), at the
    # batch of one process; MMDetection's auto_scale_lr then scales it only for more processes.
    cfg.optim_wrapper.optimizer.update(
        lr=run.train.lr, momentum=run.train.momentum, weight_decay=run.train.weight_decay
    )
    cfg.auto_scale_lr = dict(enable=True, base_batch_size=run.train.batch_size)
    cfg.randomness = dict(seed=run.train.seed)
    cfg.default_hooks.logger.interval = 1 if run.profile == "smoke" else 50
    if run.profile == "smoke":  # small images and fewer proposals on a CPU; same architecture
        size = (run.detector.get("max_size", 128), run.detector.get("min_size", 128))
        for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
            _set_scale(loader.dataset.pipeline, size)
        cfg.model.train_cfg.rpn_proposal.update(nms_pre=300, max_per_img=150)
        cfg.model.train_cfg.rcnn.sampler.num = 64
        cfg.model.test_cfg.rpn.update(nms_pre=150, max_per_img=75)
        cfg.model.test_cfg.rcnn.max_per_img = 20
    return cfg


def train_with_mmdet(run, results_dir: str | Path = "runs", config: str | Path = DEFAULT_CONFIG) -> Path:
    """Train (and validate every epoch) with MMDetection's Runner; returns the work directory."""
    from mmengine.runner import Runner

    from ecalib.engine.distributed import DistInfo
    from ecalib.provenance import environment
    from ecalib.tasks.coco import _prepare, data_source

    _prepare(run, DistInfo())
    cfg = build_config(run, results_dir, config)
    work_dir = Path(cfg.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    runner = Runner.from_cfg(cfg)
    runner.train()
    params = {
        "task": "coco",
        "backend": "mmdet",
        "profile": run.profile,
        "config": str(config),
        "lr": run.train.lr,
        "lr_rule": f"{run.lr_rule}; MMDetection auto_scale_lr x processes (base batch {run.train.batch_size})",
        "data_source": data_source(run.data_dir),
    }
    (work_dir / "params.json").write_text(json.dumps(params, indent=2, default=str) + "\n")
    (work_dir / "env.json").write_text(json.dumps(environment(data_source=params["data_source"]["kind"]), indent=2))
    return work_dir


def latest_log(work_dir: str | Path) -> Path:
    """The text log of the most recent Runner session in ``work_dir``."""
    logs = sorted(Path(work_dir).glob("*/*.log"))
    if not logs:
        raise FileNotFoundError(f"no MMDetection log in {work_dir}")
    return logs[-1]
