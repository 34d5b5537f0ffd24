"""CBAM (Woo et al., ECCV 2018): a channel gate followed by a spatial gate."""

import torch
from torch import nn

from ecalib.errors import UsageError
from ecalib.layers.se import reduced_width


def channel_pool(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Stack max and mean over ``dim`` into two channels (CBAM's and Triplet's "Z-pool")."""
    return torch.stack((x.amax(dim=dim), x.mean(dim=dim)), dim=1)


class SpatialGate(nn.Module):
    """[max, mean] over channels -> k x k conv (2 -> 1) -> BN -> sigmoid -> rescale."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise UsageError(f"spatial kernel_size must be a positive odd integer, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The attention map, shape ``[N, 1, H, W]``."""
        return torch.sigmoid(self.bn(self.conv(channel_pool(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class ChannelGate(nn.Module):
    """Shared MLP over average- and max-pooled descriptors, summed, then sigmoid."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = reduced_width(channels, reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The attention weights, shape ``[N, C]``."""
        return torch.sigmoid(self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)[:, :, None, None]


class Cbam(nn.Module):
    """Channel gate then spatial gate; ``spatial_kernel`` is 7 in the CBAM paper, 3 in RC2020."""

    def __init__(self, channels: int, reduction: int = 16, spatial_kernel: int = 7):
        super().__init__()
        self.channel = ChannelGate(channels, reduction)
        self.spatial = SpatialGate(spatial_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(x))
