"""Start an ECA-ResNet from torchvision ResNet weights: the shared tensors load strictly, attention keeps its init.

ecalib's ResNets use torchvision's key names (``conv1``, ``layer{S}.{B}.bn2``, ``downsample.0``, ``fc``)
and add only the attention modules (``layer{S}.{B}.eca.conv.weight``), so a torchvision state dict fills
every other tensor. ``create_model('eca_resnet50', init_from='resnet50-torchvision.pth')`` does it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import torch
from torch import nn

from ecalib.errors import UsageError

_log = logging.getLogger(__name__)
ATTENTION_ATTRS = ("eca", "se", "cbam", "triplet")


@dataclass
class InitReport:
    """What :func:`init_from_torchvision` did."""

    source: str
    loaded: list[str] = field(default_factory=list)
    kept_attention: list[str] = field(default_factory=list)
    kept_classifier: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        kinds = sorted({k.split(".")[2] for k in self.kept_attention})
        what = "ECA kernels" if kinds == ["eca"] else f"{'/'.join(a.upper() for a in kinds) or 'attention'} tensors"
        text = f"{len(self.loaded)} tensors loaded from torchvision ({self.source})"
        text += f"; {len(self.kept_attention)} {what} kept at init"
        if self.kept_classifier:
            text += f"; classifier ({', '.join(self.kept_classifier)}) kept at init for the new class count"
        return text


def _is_attention(key: str) -> bool:
    parts = key.split(".")
    return len(parts) > 3 and parts[0].startswith("layer") and parts[2] in ATTENTION_ATTRS


def init_from_torchvision(
    model: nn.Module, weights: str | os.PathLike | dict[str, torch.Tensor], allow_pickle: bool = False
) -> InitReport:
    """Copy a torchvision ResNet state dict (a dict or a file) into ecalib ResNet ``model``.

    Every tensor outside the attention modules must be in ``weights`` with the same shape, and
    ``weights`` may hold nothing else (strict); the attention tensors keep their initialisation. A
    classifier of another class count (fine-tuning) keeps its init too. Returns an :class:`InitReport`,
    which is also logged.
    """
    from ecalib.checkpoint import CheckpointError, extract_state_dict, load_state_file, state_dict_problems

    if not hasattr(model, "stages"):
        raise UsageError(f"init_from applies to ecalib's ResNets, not {type(model).__name__}")
    source = "state dict" if isinstance(weights, dict) else str(weights)
    state_dict = extract_state_dict(weights if isinstance(weights, dict) else load_state_file(weights, allow_pickle))
    expected = model.state_dict()
    attention = [k for k in expected if _is_attention(k)]
    classifier = []
    fc_shape = state_dict.get("fc.weight", torch.empty(0)).shape
    if "fc.weight" in expected and fc_shape != expected["fc.weight"].shape and len(fc_shape) == 2:
        classifier = ["fc.weight", "fc.bias"]
    skip = set(attention) | set(classifier)
    problems = state_dict_problems(
        {k: v for k, v in expected.items() if k not in skip}, {k: v for k, v in state_dict.items() if k not in skip}
    )
    if problems:
        name = getattr(getattr(model, "model_info", None), "name", type(model).__name__)
        raise CheckpointError(f"{source} is not a torchvision ResNet that fits {name}: " + "; ".join(problems))
    loaded = [k for k in expected if k not in skip and k in state_dict]
    with torch.no_grad():
        for key in loaded:
            expected[key].copy_(state_dict[key])
    report = InitReport(source, loaded, attention, classifier)
    _log.info("%s", report)
    return report
