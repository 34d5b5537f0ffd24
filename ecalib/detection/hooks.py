"""The detection side of the training engine: Mask R-CNN losses, COCO evaluation, progress frames."""

from __future__ import annotations

import torch
from torch import nn

from ecalib.detection.coco_eval import IOU_TYPES, METRICS, coco_metrics, predict_dataset, to_coco_results
from ecalib.engine.config import TrainConfig

LOSS_TERMS = ("loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg")
# torchvision loss names -> MMDetection's, so our curves sit beside the reproduction's logs
MMDET_LOSS_NAMES = {
    "loss_classifier": "loss_cls",
    "loss_box_reg": "loss_bbox",
    "loss_mask": "loss_mask",
    "loss_objectness": "loss_rpn_cls",
    "loss_rpn_box_reg": "loss_rpn_bbox",
}
MMDET_METRIC_SUFFIX = {"AP": "", "AP50": "_50", "AP75": "_75", "APs": "_s", "APm": "_m", "APl": "_l"}


class DetectionHooks:
    best_metric = "bbox_AP"
    final_keys = ("epoch", *(f"{t}_{m}" for t in IOU_TYPES for m in METRICS), "train_loss")
    wandb_names = {
        "lr": "lr",
        "train_loss": "loss",
        **{f"train_{k}": v for k, v in MMDET_LOSS_NAMES.items()},
        **{f"{t}_{m}": f"{t}_mAP{MMDET_METRIC_SUFFIX[m]}" for t in IOU_TYPES for m in METRICS},
        "images_per_s": "images/s",
    }

    def __init__(
        self,
        coco_gt,
        detector_kwargs: dict | None = None,
        class_names: dict[int, str] | None = None,
        frame_index: int = 0,
    ):
        self.coco_gt = coco_gt
        self.detector_kwargs = dict(detector_kwargs or {})
        self.class_names = class_names or {}
        self.frame_index = frame_index

    def build_model(self, cfg: TrainConfig) -> nn.Module:
        from ecalib.detection.maskrcnn import build_eca_maskrcnn

        return build_eca_maskrcnn(cfg.num_classes, backbone=cfg.model, **cfg.model_kwargs, **self.detector_kwargs)

    def train_step(self, model: nn.Module, batch, autocast):
        images, targets = batch
        with autocast():
            losses = model(list(images), list(targets))
        loss = sum(losses[t] for t in LOSS_TERMS)
        n = len(images)
        stats = torch.stack([loss.detach().double() * n] + [losses[t].detach().double() * n for t in LOSS_TERMS])
        return loss, stats, n

    def summarize_train(self, sums: torch.Tensor, count: float) -> dict:
        names = ("train_loss", *(f"train_{t}" for t in LOSS_TERMS))
        return {name: sums[i].item() / count for i, name in enumerate(names)}

    def evaluate(self, model: nn.Module, batches, context) -> dict:
        import torch.distributed as dist

        outputs, ids = predict_dataset(model, batches)
        results = to_coco_results(outputs, ids)
        if context.dist.enabled:
            gathered: list = [None] * context.dist.world_size
            dist.all_gather_object(gathered, results)
            results = [r for part in gathered for r in part]
        metrics = {}
        if context.dist.is_main:
            for iou_type in IOU_TYPES:
                metrics.update({f"{iou_type}_{k}": v for k, v in coco_metrics(self.coco_gt, results, iou_type).items()})
            self._save_frame(batches, outputs, context)
        if context.dist.enabled:
            box = [metrics]
            dist.broadcast_object_list(box, src=0)
            metrics = box[0]
        return metrics

    def _save_frame(self, batches, outputs, context) -> None:
        """Overlay of one fixed validation image after this epoch (frames of the progress GIF)."""
        from ecalib.detection.visualize import draw_predictions, save_image

        if not outputs:
            return
        i = min(self.frame_index, len(outputs) - 1)
        image, _ = batches.sample(i)  # this rank's i-th evaluation image, as predicted
        frame = draw_predictions(image, outputs[i], self.class_names, title=f"epoch {context.epoch}")
        save_image(frame, context.run_dir / "frames" / f"epoch_{context.epoch:03d}.png")
