"""Triplet attention (Misra et al., WACV 2021): spatial gates on three rotations, averaged."""

import torch
from torch import nn

from ecalib.layers.cbam import SpatialGate


class TripletAttention(nn.Module):
    """Gates over the (C, W), (H, C) and (H, W) planes of a feature map, averaged.

    Each branch rotates the tensor so that the pooled axis comes first, applies a
    :class:`~ecalib.layers.cbam.SpatialGate` and rotates back.
    """

    def __init__(self, channels: int | None = None, kernel_size: int = 7):
        super().__init__()
        self.cw = SpatialGate(kernel_size)  # pools over H
        self.hc = SpatialGate(kernel_size)  # pools over W
        self.hw = SpatialGate(kernel_size)  # pools over C

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (N, C, H, W) -> (N, H, C, W): H plays the channel role, gate over the (C, W) plane
        x_cw = self.cw(x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)
        # (N, C, H, W) -> (N, W, H, C): W plays the channel role, gate over the (H, C) plane
        x_hc = self.hc(x.permute(0, 3, 2, 1)).permute(0, 3, 2, 1)
        return (x_cw + x_hc + self.hw(x)) / 3.0
