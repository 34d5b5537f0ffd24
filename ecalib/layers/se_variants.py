"""The channel attentions of the paper's ablation (Sec. 3.2, Table 2): SE without dimensionality reduction
(SE-Var1, SE-Var2, SE-Var3), SE with group convolutions (SE-GC) and ECA without weight sharing (ECA-NS).

All of them pool each channel to one number, ``y = GAP(x)`` (a C-vector per sample), and rescale the
channels by ``sigmoid(W y)``; they differ only in the C x C matrix ``W``:

- SE-Var1: W = I, the gate is ``sigmoid(y)`` itself; 0 parameters.
- SE-Var2: W diagonal, one weight per channel; C parameters.
- SE-Var3: W full, one fully connected C -> C layer; C² parameters.
- SE-GC: W block diagonal, G groups of (C/G)² (a group convolution); C²/G parameters.
- ECA-NS: W a band of width k, each row with k weights of its own; k·C parameters.
- ECA: the same band with one shared row of k weights; k parameters (:class:`~ecalib.layers.eca.EcaLayer`).

None of them has a bias, so their parameter counts are the paper's formulas exactly; SE
(:class:`~ecalib.layers.se.SqueezeExcite`, 2C²/r in the paper) keeps the biases of its two layers.
Each module's ``weight_matrix(C)`` gives its ``W``; the tests compare every module with ``sigmoid(W y)``
computed independently in float64.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ecalib.errors import UsageError


def _check_odd(k_size: int) -> int:
    if not isinstance(k_size, int) or isinstance(k_size, bool) or k_size < 1 or k_size % 2 == 0:
        raise UsageError(f"k_size must be a positive odd integer, got {k_size!r}")
    return k_size


class _PooledGate(nn.Module):
    """``x * sigmoid(W GAP(x))``; subclasses define ``logits(y)`` (``W y`` for a ``[N, C]`` batch ``y``)."""

    def __init__(self):
        super().__init__()
        # A pooling module (not x.mean) so that thop counts it, as for EcaLayer and SqueezeExcite.
        self.avg_pool = nn.AdaptiveAvgPool2d(1)

    def logits(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The attention weights, shape ``[N, C]``."""
        return torch.sigmoid(self.logits(self.avg_pool(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)[:, :, None, None]

    def weight_matrix(self, channels: int) -> torch.Tensor:
        """``W`` as a ``[C, C]`` float64 matrix, built from the parameters: ``self.logits(y) == y @ W.T``."""
        raise NotImplementedError


class SeVar1(_PooledGate):
    """SE-Var1: the pooled descriptor itself is the gate, ``sigmoid(GAP(x))``; no parameters."""

    def __init__(self, channels: int | None = None):
        super().__init__()

    def logits(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def weight_matrix(self, channels: int) -> torch.Tensor:
        return torch.eye(channels, dtype=torch.float64)


class SeVar2(_PooledGate):
    """SE-Var2: one learnt weight per channel, ``sigmoid(w * GAP(x))``; C parameters (``W`` diagonal)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels))
        nn.init.uniform_(self.weight, -1.0, 1.0)  # nn.Linear's default bound 1/sqrt(fan_in) with fan_in 1

    def logits(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.weight

    def weight_matrix(self, channels: int) -> torch.Tensor:
        return torch.diag(self.weight.detach().double())


class SeVar3(_PooledGate):
    """SE-Var3: one fully connected C -> C layer, ``sigmoid(W GAP(x))``; C² parameters."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc = nn.Linear(channels, channels, bias=False)

    def logits(self, y: torch.Tensor) -> torch.Tensor:
        return self.fc(y)

    def weight_matrix(self, channels: int) -> torch.Tensor:
        return self.fc.weight.detach().double()


class SeGroupConv(_PooledGate):
    """SE-GC: a group convolution over the channels (G groups of C/G), ``W`` block diagonal; C²/G parameters."""

    def __init__(self, channels: int, groups: int = 16):
        super().__init__()
        if not isinstance(groups, int) or groups < 1 or channels % groups:
            raise UsageError(f"groups must be a positive divisor of the {channels} channels, got {groups!r}")
        self.groups = groups
        self.conv = nn.Conv1d(channels, channels, kernel_size=1, groups=groups, bias=False)

    def logits(self, y: torch.Tensor) -> torch.Tensor:
        return self.conv(y[:, :, None])[:, :, 0]

    def weight_matrix(self, channels: int) -> torch.Tensor:
        size = channels // self.groups
        blocks = self.conv.weight.detach().double().view(self.groups, size, size)
        return torch.block_diag(*blocks)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class EcaNonShared(_PooledGate):
    """ECA-NS: each channel's gate from its k neighbours with weights of its own (no sharing); k·C parameters.

    ``weight[i, j]`` multiplies channel ``i + j - (k - 1) / 2`` in the gate of channel ``i`` (zero padding
    at the first and last channels, as ECA's 1-D convolution): ``W`` is ECA's band with a row per channel.
    """

    def __init__(self, channels: int, k_size: int = 3):
        super().__init__()
        self.kernel_size = _check_odd(k_size)
        self.weight = nn.Parameter(torch.empty(channels, k_size))
        bound = 1.0 / math.sqrt(k_size)  # the default init of ECA's Conv1d(1, 1, k)
        nn.init.uniform_(self.weight, -bound, bound)

    def logits(self, y: torch.Tensor) -> torch.Tensor:
        pad = (self.kernel_size - 1) // 2
        windows = F.pad(y, (pad, pad)).unfold(1, self.kernel_size, 1)  # [N, C, k]: channel i's neighbours
        return (windows * self.weight).sum(-1)

    def weight_matrix(self, channels: int) -> torch.Tensor:
        k, pad = self.kernel_size, (self.kernel_size - 1) // 2
        weight = self.weight.detach().double()
        matrix = torch.zeros(channels, channels, dtype=torch.float64)
        for i in range(channels):
            for j in range(k):
                if 0 <= i + j - pad < channels:
                    matrix[i, i + j - pad] = weight[i, j]
        return matrix

    def extra_repr(self) -> str:
        return f"k_size={self.kernel_size}"


#: The parameters per module that the paper's Table 2 gives each attention (C channels, SE reduction r,
#: SE-GC groups G, kernel k); SE's 2C²/r leaves out the biases of its two layers.
PAPER_PARAMETERS = {
    "se": ("2C²/r", lambda c, r, g, k: 2 * c * c // r),
    "se_var1": ("0", lambda c, r, g, k: 0),
    "se_var2": ("C", lambda c, r, g, k: c),
    "se_var3": ("C²", lambda c, r, g, k: c * c),
    "se_gc": ("C²/G", lambda c, r, g, k: c * c // g),
    "eca_ns": ("k·C", lambda c, r, g, k: k * c),
    "eca": ("k", lambda c, r, g, k: k),
}


def paper_parameter_count(attention: str, channels: int, reduction: int = 16, groups: int = 16, k: int = 3) -> int:
    """Table 2's parameter count of one ``attention`` module for ``channels`` channels."""
    if attention not in PAPER_PARAMETERS:
        raise UsageError(f"no Table 2 formula for {attention!r}; known: {', '.join(PAPER_PARAMETERS)}")
    return PAPER_PARAMETERS[attention][1](channels, reduction, groups, k)
