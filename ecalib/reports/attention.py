"""Attention weights captured from one forward pass, for the ECA-module chapter's figures."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ecalib.layers.cbam import ChannelGate, SpatialGate
from ecalib.layers.eca import EcaLayer
from ecalib.layers.se import SqueezeExcite

_KINDS = ((EcaLayer, "eca"), (SqueezeExcite, "se"), (ChannelGate, "cbam"), (SpatialGate, "cbam-spatial"))


@dataclass(frozen=True)
class AttentionRecord:
    """The gate one attention module applied: ``[N, C]`` channel weights or an ``[N, 1, H, W]`` spatial map."""

    module: str
    kind: str
    weights: torch.Tensor


def _kind(module: nn.Module) -> str | None:
    return next((kind for cls, kind in _KINDS if isinstance(module, cls)), None)


@torch.no_grad()
def capture_attention(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, list[AttentionRecord]]:
    """Run ``model`` once in eval mode; return its output and the gate of every ECA, SE and CBAM module.

    Each gate is recomputed by the module's ``gate`` method from the input the module received,
    so the records are exactly the weights that multiplied the features. (A hooked ECA layer is
    called as a module even when its implementation would fuse it into the residual add.)
    """
    records: list[AttentionRecord] = []
    handles = []
    for name, module in model.named_modules():
        kind = _kind(module)
        if kind is not None:
            hook = _recorder(records, name, kind)
            handles.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        output = model(images)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return output, records


def _recorder(records: list[AttentionRecord], name: str, kind: str):
    def hook(module, inputs, output):
        records.append(AttentionRecord(name, kind, module.gate(inputs[0]).detach().cpu()))

    return hook
