"""Squeeze-and-Excitation (Hu et al., CVPR 2018), the paper's main point of comparison."""

import torch
from torch import nn

from ecalib.errors import UsageError


def reduced_width(channels: int, reduction: int) -> int:
    """The hidden width ``channels // reduction`` (at least 1) of an SE-style bottleneck MLP."""
    if reduction < 1:
        raise UsageError(f"reduction must be >= 1, got {reduction}")
    return max(1, channels // reduction)


class SqueezeExcite(nn.Module):
    """Average pool -> FC(C, C/r) -> ReLU -> FC(C/r, C) -> sigmoid -> rescale (FC layers with bias)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = reduced_width(channels, reduction)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The attention weights, shape ``[N, C]``."""
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(self.avg_pool(x).flatten(1)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)[:, :, None, None]
