"""Train and test with MMDetection's own Runner, on the same COCO-format folders as the torchvision path.

This is what MMDetection's ``tools/train.py`` does (load the config, apply overrides, enable
automatic lr scaling, ``Runner.from_cfg(cfg).train()``), driven by a resolved ecalib run of
``configs/coco/maskrcnn_1x_mmdet.yaml``, so both backends share data, profiles and result folders.
"""

from __future__ import annotations

import json
from pathlib import Path

from ecalib.atomic import atomic_write_text
from ecalib.detection.coco_data import coco_index, coco_split, read_annotations
from ecalib.paths import DEFAULT_RESULTS_DIR
from ecalib.recipes.resolve import CONFIG_ROOT

DEFAULT_CONFIG = CONFIG_ROOT / "mmdet" / "mask-rcnn_eca-r50_fpn_1x_coco.py"


def config_file(run) -> Path:
    """The run's MMDetection config: ``detector.mmdet_config`` (relative to ``configs/``, or a path)."""
    name = run.config.detector.mmdet_config
    if not name:
        return DEFAULT_CONFIG
    path = Path(name)
    return path if path.is_file() or path.is_absolute() else CONFIG_ROOT / path


def _layout(data_dir: str | Path, split: str) -> tuple[str, str]:
    """(image prefix, annotation file) of a split, relative to ``data_dir``."""
    img_dir, ann = coco_split(data_dir, split)
    root = Path(data_dir)
    return str(img_dir.relative_to(root)) + "/", str(ann.relative_to(root))


def _set_scale(pipeline: list, scale: tuple[int, int]) -> None:
    for step in pipeline:
        if step.get("type") == "Resize":
            step["scale"] = scale


def build_config(run, results_dir: str | Path = DEFAULT_RESULTS_DIR):
    """The MMDetection config for ``run`` (an :class:`ecalib.recipes.Run` of the coco task)."""
    from mmengine.config import Config

    from ecalib.tasks.coco import data_folder

    cfg = Config.fromfile(str(config_file(run)))
    work_dir = Path(results_dir) / "coco-mmdet" / run.name
    cfg.work_dir = str(work_dir)
    data_dir, workers, det, train = data_folder(run), run.config.data.workers, run.config.detector, run.train_config()
    train_prefix, train_ann = _layout(data_dir, "train")
    val_prefix, val_ann = _layout(data_dir, "val")
    coco = coco_index(read_annotations(Path(data_dir) / train_ann))  # checked before MMDetection reads it
    read_annotations(Path(data_dir) / val_ann)
    classes = tuple(c["name"] for c in coco.loadCats(coco.getCatIds()))
    for loader, prefix, ann in (
        (cfg.train_dataloader, train_prefix, train_ann),
        (cfg.val_dataloader, val_prefix, val_ann),
        (cfg.test_dataloader, val_prefix, val_ann),
    ):
        loader.dataset.update(
            data_root=str(data_dir) + "/",
            ann_file=ann,
            data_prefix=dict(img=prefix),
            metainfo=dict(classes=classes),
        )
        loader.num_workers = workers
        loader.persistent_workers = workers > 0
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        evaluator.ann_file = str(Path(data_dir) / val_ann)
    cfg.train_dataloader.batch_size = train.batch_size
    cfg.model.roi_head.bbox_head.num_classes = len(classes)
    cfg.model.roi_head.mask_head.num_classes = len(classes)
    k = train.model_kwargs.get("k_size")
    weights = det.backbone_weights
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
    if run.config.data.source == "synthetic":
        cfg.train_dataloader.dataset.filter_cfg = dict(filter_empty_gt=True, min_size=4)
    cfg.train_cfg.max_epochs = train.epochs
    cfg.train_cfg.val_interval = 1
    for scheduler in cfg.param_scheduler:
        if scheduler.type == "LinearLR":
            scheduler.end = train.warmup_iters
        elif scheduler.type == "MultiStepLR":
            scheduler.end = train.epochs
            scheduler.milestones = train.milestones
    # The run's optimiser (its lr is the user's, or the recipe's scaled to the batch: see run.lr_rule), at the
    # batch of one process; MMDetection's auto_scale_lr then scales it only for more processes.
    cfg.optim_wrapper.optimizer.update(lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay)
    cfg.auto_scale_lr = dict(enable=True, base_batch_size=train.batch_size)
    cfg.randomness = dict(seed=train.seed)
    cfg.default_hooks.logger.interval = 1 if run.config.profile == "smoke" else 50
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        _set_scale(loader.dataset.pipeline, (det.max_size, det.min_size))
    # the detector section's head sizes, where set (the smoke profile: fewer proposals and RoIs on a CPU)
    for value, node, key in (
        (det.rpn_pre_nms_top_n_train, cfg.model.train_cfg.rpn_proposal, "nms_pre"),
        (det.rpn_post_nms_top_n_train, cfg.model.train_cfg.rpn_proposal, "max_per_img"),
        (det.box_batch_size_per_image, cfg.model.train_cfg.rcnn.sampler, "num"),
        (det.rpn_pre_nms_top_n_test, cfg.model.test_cfg.rpn, "nms_pre"),
        (det.rpn_post_nms_top_n_test, cfg.model.test_cfg.rpn, "max_per_img"),
        (det.box_detections_per_img, cfg.model.test_cfg.rcnn, "max_per_img"),
    ):
        if value is not None:
            node[key] = value
    return cfg


def train_with_mmdet(run, results_dir: str | Path = DEFAULT_RESULTS_DIR) -> Path:
    """Train (and validate every epoch) with MMDetection's Runner; returns the work directory."""
    from mmengine.runner import Runner

    from ecalib.provenance import environment
    from ecalib.tasks.coco import TASK, data_folder, data_source

    TASK.prepare(run)
    cfg = build_config(run, results_dir)
    work_dir = Path(cfg.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    runner = Runner.from_cfg(cfg)
    runner.train()
    train = run.train_config()
    params = {
        "task": "coco",
        "backend": "mmdet",
        "profile": run.config.profile,
        "config": str(config_file(run)),
        "origin": run.origin,
        "experiment": run.resolved,
        "lr": train.lr,
        "lr_rule": f"{run.lr_rule}; MMDetection auto_scale_lr x processes (base batch {train.batch_size})",
        "data_source": data_source(data_folder(run)),
    }
    env = environment(data_source=params["data_source"]["kind"])
    atomic_write_text(work_dir / "params.json", json.dumps(params, indent=2, default=str) + "\n")
    atomic_write_text(work_dir / "env.json", json.dumps(env, indent=2))
    return work_dir


def latest_log(work_dir: str | Path) -> Path:
    """The text log of the most recent Runner session in ``work_dir``."""
    logs = sorted(Path(work_dir).glob("*/*.log"))
    if not logs:
        raise FileNotFoundError(f"no MMDetection log in {work_dir}")
    return logs[-1]
