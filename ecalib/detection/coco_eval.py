"""COCO evaluation with pycocotools (bbox and segm), in the paper's table layout."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import torch

METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
IOU_TYPES = ("bbox", "segm")


def to_coco_results(outputs: list[dict], image_ids: list[int], mask_threshold: float = 0.5) -> list[dict]:
    """Mask R-CNN outputs -> COCO result records (xywh boxes, RLE masks) for pycocotools."""
    from pycocotools import mask as mask_utils

    results = []
    for out, image_id in zip(outputs, image_ids):
        boxes = out["boxes"].detach().cpu().numpy()
        scores = out["scores"].detach().cpu().numpy()
        labels = out["labels"].detach().cpu().numpy()
        masks = (out["masks"][:, 0] > mask_threshold).cpu().numpy().astype(np.uint8) if "masks" in out else None
        for i in range(len(scores)):
            x0, y0, x1, y1 = boxes[i].tolist()
            record = {
                "image_id": int(image_id),
                "category_id": int(labels[i]),
                "score": float(scores[i]),
                "bbox": [x0, y0, x1 - x0, y1 - y0],
            }
            if masks is not None:
                rle = mask_utils.encode(np.asfortranarray(masks[i]))
                rle["counts"] = rle["counts"].decode("ascii")
                record["segmentation"] = rle
            results.append(record)
    return results


def coco_metrics(coco_gt, results: list[dict], iou_type: str) -> dict[str, float]:
    """AP, AP50, AP75, APs, APm, APl (fractions, as MMDetection logs them); zeros without detections."""
    from pycocotools.cocoeval import COCOeval

    if not results:
        return dict.fromkeys(METRICS, 0.0)
    coco_gt = copy.deepcopy(coco_gt)  # COCOeval rewrites ground-truth segmentations in place (to RLE)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(results)
        evaluator = COCOeval(coco_gt, coco_dt, iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    # -1 means "no ground truth in this size range"; report it as NaN, not as a score
    return {m: (float(v) if v >= 0 else float("nan")) for m, v in zip(METRICS, evaluator.stats[:6])}


@torch.no_grad()
def predict_dataset(model, batches) -> tuple[list[dict], list[int]]:
    model.eval()
    outputs, ids = [], []
    for images, targets in batches.epoch(0):
        outputs += [{k: v.cpu() for k, v in o.items()} for o in model(images)]
        ids += [t["image_id"] for t in targets]
    return outputs, ids


def paper_layout(metrics: dict[str, float]) -> pd.DataFrame:  # noqa: F821
    """bbox/segm rows x AP columns, in percent (Tables 5 and 6 of the paper)."""
    import pandas as pd

    rows = {t: [100 * metrics.get(f"{t}_{m}", float("nan")) for m in METRICS] for t in IOU_TYPES}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(METRICS))
