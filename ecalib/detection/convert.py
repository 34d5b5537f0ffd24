"""Weight correction for detection: official ImageNet checkpoints -> detector backbones, and the
authors' MMDetection-1.x ECA detectors -> MMDetection 2.x/3.x layout (official issue #47).

The reproduction's "correction" only unwrapped ``state_dict`` and let mmcv load non-strictly;
here every backbone key, every ``eca.conv.weight`` included, must match or the conversion fails.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ecalib.checkpoint import (
    CheckpointError,
    atomic_torch_save,
    extract_state_dict,
    load_state_file,
    state_dict_problems,
)
from ecalib.detection.backbones import check_detection_backbone
from ecalib.errors import UsageError
from ecalib.models.official import eca_kernels, eca_kernels_by_stage, read_official_checkpoint

TARGETS = ("torchvision", "mmdet")


@dataclass
class ConversionReport:
    source: str
    target: str
    model: str
    k_per_stage: tuple[int, ...] | None
    keys: int
    eca_keys: int
    dropped: list[str] = field(default_factory=list)
    output: str | None = None

    def __str__(self) -> str:
        k = "".join(map(str, self.k_per_stage)) if self.k_per_stage else "-"
        return (
            f"{self.source} -> {self.target}: {self.model}, k per stage {k}, {self.keys} backbone tensors "
            f"matched ({self.eca_keys} ECA kernels), dropped {len(self.dropped)} "
            f"({', '.join(self.dropped[:4])}{' ...' if len(self.dropped) > 4 else ''})"
            + (f"; wrote {self.output}" if self.output else "")
        )


def _k_per_stage(keys_and_shapes: dict[str, torch.Size]) -> tuple[int, ...] | None:
    """One ECA kernel size per stage, -1 for a stage whose kernels differ; None without ECA layers."""
    by_stage = eca_kernels_by_stage(keys_and_shapes)
    return tuple(ks[0] if len(ks) == 1 else -1 for ks in by_stage.values()) or None


def convert_backbone(
    source: str | os.PathLike, target: str, output: str | os.PathLike | None = None, allow_pickle: bool = False
) -> ConversionReport:
    """Official ImageNet checkpoint -> backbone weights for ``target`` (``torchvision`` or ``mmdet``).

    Unwraps ``state_dict``, strips ``module.``, drops the classifier, checks every remaining key and
    shape against the target backbone built with the checkpoint's own ECA kernels, and writes
    ``{'state_dict': ..., 'meta': ...}``: keys ``backbone.body.*`` for torchvision's detectors,
    plain ResNet keys for MMDetection (``init_cfg=dict(type='Pretrained', checkpoint=...)``).
    """
    from ecalib.models import create_model

    if target not in TARGETS:
        raise UsageError(f"target {target!r} is not one of: {', '.join(TARGETS)}")
    ckpt = read_official_checkpoint(source, allow_pickle=allow_pickle)
    check_detection_backbone(ckpt.model_name)
    with torch.device("meta"):  # names and shapes only
        trunk = create_model(ckpt.model_name, num_classes=0, **ckpt.build_kwargs).state_dict()
    # torchvision's detectors freeze BatchNorm (no counters); mmdet's ResNet keeps them.
    expected = {k: v for k, v in trunk.items() if target == "mmdet" or not k.endswith("num_batches_tracked")}
    dropped = [k for k in ckpt.state_dict if k.startswith("fc.") or (k not in expected and "num_batches_tracked" in k)]
    weights = {k: v for k, v in ckpt.state_dict.items() if k not in dropped}
    problems = state_dict_problems(expected, weights)
    if problems:
        why = "; ".join(problems)
        raise CheckpointError(f"{source} does not fit the {target} backbone of {ckpt.model_name}: {why}")
    eca = len(eca_kernels(weights))
    prefix = "backbone.body." if target == "torchvision" else ""
    report = ConversionReport(str(source), target, ckpt.model_name, ckpt.k_per_stage, len(weights), eca, dropped)
    if output is not None:
        meta = {
            "source": str(source),
            "target": target,
            "model": ckpt.model_name,
            "k_per_stage": list(ckpt.k_per_stage or []),
            "converted_by": "ecalib coco convert-backbone",
        }
        atomic_torch_save({"state_dict": {prefix + k: v for k, v in weights.items()}, "meta": meta}, output)
        report.output = str(output)
    return report


def load_backbone_weights(path: str | os.PathLike, allow_pickle: bool = False):
    """Trunk weights and ECA kernels from an official checkpoint or a ``--to torchvision`` conversion."""
    obj = load_state_file(path, allow_pickle=allow_pickle)
    if isinstance(obj, dict) and isinstance(obj.get("meta"), dict) and obj["meta"].get("target") == "torchvision":
        weights = {k.removeprefix("backbone.body."): v for k, v in obj["state_dict"].items()}
        k = tuple(obj["meta"].get("k_per_stage") or ()) or None
        return weights, k
    ckpt = read_official_checkpoint(path, allow_pickle=allow_pickle)
    weights = {k: v for k, v in ckpt.state_dict.items() if not k.startswith("fc.") and "num_batches_tracked" not in k}
    return weights, ckpt.k_per_stage


def upgrade_detector(
    source: str | os.PathLike, output: str | os.PathLike | None = None, allow_pickle: bool = False
) -> dict:
    """The authors' MMDetection-1.x ECA detector checkpoints -> MMDetection 2.x/3.x keys and shapes.

    - heads move under ``roi_head.`` (``bbox_head.*``, ``mask_head.*``);
    - classification: 81 outputs with background first -> 80 classes + background last;
    - class-specific box regression: 324 outputs (81 x 4) -> 320 (background's 4 dropped);
    - mask logits: 81 -> 80 channels (background dropped);
    - the backbone's ECA kernels are read from its weights and reported.
    """
    obj = load_state_file(source, allow_pickle=allow_pickle)
    state = extract_state_dict(obj, source)
    cls_key = "bbox_head.fc_cls.weight"
    if cls_key not in state:
        hint = " (already upgraded?)" if "roi_head.bbox_head.fc_cls.weight" in state else ""
        raise CheckpointError(f"{source} is not an MMDetection 1.x two-stage detector: no '{cls_key}'{hint}")
    num_with_bg = state[cls_key].shape[0]
    changes: list[str] = []
    new: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith(("bbox_head.", "mask_head.")):
            key = "roi_head." + key
        if key.startswith("roi_head.bbox_head.fc_cls."):
            value = torch.cat([value[1:], value[:1]])  # background: first row -> last row
            changes.append(f"{key}: background row moved from first to last ({num_with_bg} rows)")
        elif key.startswith("roi_head.bbox_head.fc_reg.") and value.shape[0] == 4 * num_with_bg:
            value = value[4:]
            changes.append(f"{key}: {4 * num_with_bg} -> {value.shape[0]} outputs (background's box dropped)")
        elif key.startswith("roi_head.mask_head.conv_logits.") and value.shape[0] == num_with_bg:
            value = value[1:]
            changes.append(f"{key}: {num_with_bg} -> {value.shape[0]} mask classes (background dropped)")
        new[key] = value
    k = _k_per_stage({k.removeprefix("backbone."): v.shape for k, v in new.items() if k.startswith("backbone.")})
    report = {
        "source": str(source),
        "classes": num_with_bg - 1,
        "k_per_stage": k,
        "changes": changes,
        "moved_under_roi_head": sum(1 for key in state if key.startswith(("bbox_head.", "mask_head."))),
    }
    if output is not None:
        meta = dict(obj.get("meta", {})) if isinstance(obj.get("meta"), dict) else {}
        meta.update(
            {"upgraded_by": "ecalib coco upgrade-detector", "k_per_stage": list(k or []), "classes": num_with_bg - 1}
        )
        atomic_torch_save({"state_dict": new, "meta": meta}, Path(output))
        report["output"] = str(output)
    return report
