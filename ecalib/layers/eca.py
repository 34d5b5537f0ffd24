"""Efficient Channel Attention (ECA-Net, CVPR 2020, Sec. 3.2-3.3)."""

from __future__ import annotations

import math

import torch
from torch import nn


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """Adaptive kernel size of paper Eq. 12: the odd number nearest ``|log2(C)/gamma + b/gamma|``.

    Applied exactly as written, without the minimum of 3 that timm adds
    (C <= 96 -> 3, C = 128..1024 -> 5, C = 2048 -> 7).
    """
    if channels < 1:
        raise ValueError(f"channels must be a positive integer, got {channels}")
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


class EcaLayer(nn.Module):
    """Channel attention from a 1-D convolution over the globally pooled channel descriptor.

    Give either ``k_size`` (fixed kernel, as in the released checkpoints) or ``channels``
    (kernel from :func:`eca_kernel_size`). ``circular=True`` wraps the convolution around the
    channel axis instead of zero-padding it (timm's CECA). The layer holds ``k_size`` weights
    in ``conv.weight`` (shape ``[1, 1, k]``), the key name of the official checkpoints.
    """

    def __init__(
        self,
        channels: int | None = None,
        k_size: int | None = None,
        gamma: int = 2,
        b: int = 1,
        circular: bool = False,
    ):
        super().__init__()
        if k_size is None:
            if channels is None:
                raise ValueError("EcaLayer needs k_size (fixed kernel) or channels (adaptive rule)")
            k_size = eca_kernel_size(channels, gamma, b)
        if not isinstance(k_size, int) or k_size < 1 or k_size % 2 == 0:
            raise ValueError(f"k_size must be a positive odd integer, got {k_size!r}")
        self.kernel_size = k_size
        self.circular = circular
        # A pooling module (not x.mean) so that thop counts it, as it did for the paper's FLOPs.
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(
            1,
            1,
            kernel_size=k_size,
            padding=(k_size - 1) // 2,
            padding_mode="circular" if circular else "zeros",
            bias=False,
        )

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The attention weights, shape ``[N, C]``: sigmoid of the 1-D conv over the pooled channels."""
        n, c = x.shape[:2]
        return torch.sigmoid(self.conv(self.avg_pool(x).view(n, 1, c))).view(n, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)[:, :, None, None]

    def band_matrix(self, channels: int) -> torch.Tensor:
        """The ``[C, C]`` matrix ``W`` with ``conv(y) == W @ y``: the same k weights on every row.

        Zero padding cuts the band at the first and last channels; circular padding wraps it.
        """
        k, pad = self.kernel_size, (self.kernel_size - 1) // 2
        weight = self.conv.weight.detach().view(k)
        matrix = weight.new_zeros(channels, channels)
        for i in range(channels):
            for j in range(k):
                col = i + j - pad
                if self.circular:
                    matrix[i, col % channels] += weight[j]
                elif 0 <= col < channels:
                    matrix[i, col] = weight[j]
        return matrix

    def extra_repr(self) -> str:
        return f"k_size={self.kernel_size}, circular={self.circular}"


class CecaLayer(EcaLayer):
    """ECA with circular padding over channels (timm's ``CecaModule``)."""

    def __init__(self, channels: int | None = None, k_size: int | None = None, gamma: int = 2, b: int = 1):
        super().__init__(channels, k_size, gamma, b, circular=True)
