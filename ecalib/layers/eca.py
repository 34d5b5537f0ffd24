"""Efficient Channel Attention (ECA-Net, CVPR 2020, Sec. 3.2-3.3)."""

import importlib.util
import json
import math
from functools import cache
from importlib import resources

import torch
from torch import nn

from ecalib.errors import UsageError

#: How an :class:`EcaLayer` computes: ``reference`` (the official module's operations, the
#: oracle), ``torch`` (the rescale fused with the residual add into one ``addcmul``; what
#: ``torch.compile`` traces), ``triton`` (fused CUDA kernels, :mod:`ecalib.layers.eca_triton`),
#: ``auto`` (the one measured fastest on this device type, for training or inference: see
#: :func:`auto_policy`; ``triton`` only where Triton can run).
ECA_IMPLS = ("auto", "reference", "torch", "triton")
TRITON_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


@cache
def triton_available() -> bool:
    """Whether the Triton kernels can run here (Triton installed and a CUDA device present)."""
    return importlib.util.find_spec("triton") is not None and torch.cuda.is_available()


@cache
def _triton_eca():
    """The fused Triton entry point, imported on first use (importing Triton takes a moment)."""
    from ecalib.layers.eca_triton import eca_fused

    return eca_fused


def has_forward_hooks(module: nn.Module) -> bool:
    """Whether calling ``module`` would run forward (pre-)hooks, its own or global ones."""
    from torch.nn.modules import module as module_globals

    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or module_globals._global_forward_hooks
        or module_globals._global_forward_pre_hooks
    )


def check_eca_impl(impl: str) -> str:
    if impl not in ECA_IMPLS:
        raise UsageError(f"unknown ECA implementation {impl!r}; choose one of {', '.join(ECA_IMPLS)}")
    return impl


@cache
def auto_policy() -> dict:
    """What ``auto`` runs per device type and mode (``train``: gradients flow; ``infer``), with the evidence.

    Shipped as ``ecalib/layers/eca_auto.json``, written by ``tools/update_eca_auto.py`` from a committed
    ``ecalib bench`` result folder; device types without a measurement say so.
    """
    return json.loads(resources.files("ecalib.layers").joinpath("eca_auto.json").read_text())


def resolve_eca_impl(impl: str, x: torch.Tensor, training: bool | None = None) -> str:
    """The implementation ``impl`` stands for on input ``x`` (``auto`` resolved by :func:`auto_policy`).

    ``training`` (default: whether gradients will flow through ``x``) selects the training or the
    inference choice.
    """
    if impl != "auto":
        return impl
    if torch.compiler.is_compiling() or isinstance(x, torch.fx.Proxy):
        return "torch"  # inductor fuses the plain formulation itself; FX graphs hold plain operations
    if training is None:
        training = torch.is_grad_enabled() and x.requires_grad
    choice = auto_policy()["choices"].get(x.device.type, {}).get("train" if training else "infer", "torch")
    if choice == "triton" and not (x.is_cuda and x.dim() == 4 and x.dtype in TRITON_DTYPES and triton_available()):
        return "torch"
    return choice


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """Adaptive kernel size of paper Eq. 12: the odd number nearest ``|log2(C)/gamma + b/gamma|``.

    Applied exactly as written, without the minimum of 3 that timm adds
    (C <= 96 -> 3, C = 128..1024 -> 5, C = 2048 -> 7).
    """
    if channels < 1:
        raise UsageError(f"channels must be a positive integer, got {channels}")
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


class EcaLayer(nn.Module):
    """Channel attention from a 1-D convolution over the globally pooled channel descriptor.

    Give either ``k_size`` (fixed kernel, as in the released checkpoints) or ``channels``
    (kernel from :func:`eca_kernel_size`). ``circular=True`` wraps the convolution around the
    channel axis instead of zero-padding it (timm's CECA). The layer holds ``k_size`` weights
    in ``conv.weight`` (shape ``[1, 1, k]``), the key name of the official checkpoints.
    ``impl`` picks the computation (see :data:`ECA_IMPLS`); all give the same result up to
    rounding, and the state dict does not depend on it.
    """

    def __init__(
        self,
        channels: int | None = None,
        k_size: int | None = None,
        gamma: int = 2,
        b: int = 1,
        circular: bool = False,
        impl: str = "auto",
    ):
        super().__init__()
        self.impl = check_eca_impl(impl)
        if k_size is None:
            if channels is None:
                raise UsageError("EcaLayer needs k_size (fixed kernel) or channels (adaptive rule)")
            k_size = eca_kernel_size(channels, gamma, b)
        if not isinstance(k_size, int) or k_size < 1 or k_size % 2 == 0:
            raise UsageError(f"k_size must be a positive odd integer, got {k_size!r}")
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
        n, c = x.shape[0], x.shape[1]
        return torch.sigmoid(self.conv(self.avg_pool(x).view(n, 1, c))).view(n, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():  # scripted (TorchScript): the PyTorch formulation, no Triton
            if resolve_eca_impl(self.impl, x) == "triton":
                return _triton_eca()(x, self.conv.weight, None, self.circular, relu=False)
        return x * self.gate(x)[:, :, None, None]

    def forward_residual(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """``relu(self(x) + residual)``: the end of a residual block, fused unless ``impl='reference'``.

        With forward hooks on this layer it is called as a module (unfused), so the hooks see it.
        Scripted (TorchScript), every implementation but ``reference`` runs the fused PyTorch formulation.
        """
        if torch.jit.is_scripting():
            if self.impl == "reference":
                return torch.relu(self.forward(x) + residual)
        else:
            impl = resolve_eca_impl(self.impl, x)
            if impl == "reference" or has_forward_hooks(self):
                return torch.relu(self(x) + residual)
            if impl == "triton":
                return _triton_eca()(x, self.conv.weight, residual, self.circular, relu=True)
        return torch.addcmul(residual, x, self.gate(x)[:, :, None, None]).relu_()

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
        return f"k_size={self.kernel_size}, circular={self.circular}, impl={self.impl}"


class CecaLayer(EcaLayer):
    """ECA with circular padding over channels (timm's ``CecaModule``)."""

    def __init__(
        self, channels: int | None = None, k_size: int | None = None, gamma: int = 2, b: int = 1, impl: str = "auto"
    ):
        super().__init__(channels, k_size, gamma, b, circular=True, impl=impl)


def set_eca_impl(model: nn.Module, impl: str) -> int:
    """Set the implementation of every ECA layer in ``model``; returns how many were set."""
    check_eca_impl(impl)
    layers = [m for m in model.modules() if isinstance(m, EcaLayer)]
    for layer in layers:
        layer.impl = impl
    return len(layers)
