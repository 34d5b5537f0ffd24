"""COCO Mask R-CNN with an ECA-ResNet-50-FPN backbone (paper Tables 5/6), on torchvision.

The recipe is ``configs/coco/maskrcnn_1x.yaml``: MMDetection's 1x schedule as the paper used it,
with lr 0.02 for a batch of 16 images scaled linearly with the batch actually used (the paper:
0.01 at batch 8). The reproduction ran batch 2 with the 8-GPU lr 0.02, eight times too high, and
diverged in epoch 6. ``configs/coco/maskrcnn_1x_mmdet.yaml`` trains the same with MMDetection.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import torch

from ecalib.data.imagefolder import describe_source
from ecalib.detection.coco_data import DetectionBatches, SeededCoco, coco_split
from ecalib.detection.hooks import DetectionHooks
from ecalib.devices import resolve_device
from ecalib.engine import TrainConfig
from ecalib.errors import UsageError
from ecalib.recipes.resolve import Run
from ecalib.tasks.base import FolderTask


def detector_kwargs(run: Run) -> dict:
    """``build_eca_maskrcnn`` arguments besides the backbone (recorded as ``detector`` in ``params.json``)."""
    det = run.config.detector
    return det.build_kwargs() | ({"backbone_weights": det.backbone_weights} if det.backbone_weights else {})


def data_source(root: str | Path) -> dict:
    return describe_source(root, real_kind="coco")


class Coco(FolderTask):
    name = "coco"
    synthetic_kind = "synthetic-coco"

    def synthetic_writer(self):
        from ecalib.detection.synthetic_coco import write_synthetic_coco

        return write_synthetic_coco

    def check_splits(self, root: Path) -> None:
        coco_split(root, "train"), coco_split(root, "val")

    def datasets(self, run: Run) -> tuple:
        root = self.data_folder(run)
        policy = run.config.data.bad_images
        return (
            SeededCoco(*coco_split(root, "train"), train=True, seed=run.config.seed, bad_images=policy),
            SeededCoco(*coco_split(root, "val"), train=False, bad_images=policy),
        )

    def train_config(self, run: Run, sets: tuple) -> TrainConfig:
        """The class count is the data's (the synthetic scenes have a few classes, COCO 91 ids)."""
        return TrainConfig(**run.train_config().to_dict() | {"num_classes": sets[0].num_classes})  # checked

    def batches(self, run, cfg, sets, device, dist):
        common = dict(
            device=device, workers=run.config.data.workers, seed=cfg.seed, rank=dist.rank, world_size=dist.world_size
        )
        return (
            DetectionBatches(sets[0], cfg.batch_size // dist.world_size, train=True, **common),
            DetectionBatches(sets[1], max(1, cfg.batch_size // dist.world_size), train=False, **common),
        )

    def hooks(self, run, sets):
        return DetectionHooks(sets[1].coco, detector_kwargs(run), sets[1].class_names)

    def data_source(self, run, sets) -> dict:
        return data_source(self.data_folder(run)) | {
            "n_train": len(sets[0]),
            "n_val": len(sets[1]),
            "train_images": sets[0].describe_skipped(),
            "val_images": sets[1].describe_skipped(),
        }

    def run_info(self, run, sets) -> dict:
        return {
            "detector": detector_kwargs(run),
            "num_classes": sets[0].num_classes,  # the data's, which the detector is built with
        }

    def finish(self, run, path, dist) -> None:
        frames = sorted((path / "frames").glob("epoch_*.png"))
        if dist.is_main and frames:
            from ecalib.detection.visualize import progress_animation

            progress_animation(frames, path / "progress.gif")


TASK = Coco()
data_folder = TASK.data_folder


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
