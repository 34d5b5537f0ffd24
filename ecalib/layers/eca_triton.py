"""Fused ECA kernels in Triton: the gate in one pass over the activation, the rescale fused
with the residual add and ReLU, and a two-pass backward.

Forward, for ``x`` of shape ``[N, C, H, W]`` (NCHW or channels-last):

1. ``gate`` kernel: global average pooling -> 1-D convolution of ``k`` taps across channels
   -> sigmoid, in one launch. Each program pools a window of channels plus the ``k // 2``
   neighbours on either side that the convolution needs (re-reading those few neighbours is
   cheaper than a second launch), then sums the ``k`` shifted windows. Writes ``s`` and the
   pooled means (``[N, C]``, fp32).
2. ``scale`` kernel: ``y = act(x * s + r)`` elementwise, ``r`` (the residual) and the ReLU
   optional. One read of ``x`` and ``r``, one write of ``y``.

So the activation is read twice and written once, against five reads and three writes for
the unfused eager sequence pool / mul / add / relu.

Backward: ``reduce`` kernel computes ``g = dy * [y > 0]`` (stored: it is the residual's
gradient) and ``ds = sum_hw(g * x)``; the tiny ``[N, C]`` sigmoid/convolution backward runs in
PyTorch; ``dx`` kernel writes ``g * s + dmean / HW``.

The kernels run on CUDA tensors; with ``TRITON_INTERPRET=1`` Triton's interpreter runs them on
CPU tensors, which is how the equivalence tests cover them on a machine without a GPU.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from ecalib.errors import UsageError
from ecalib.layers.eca import TRITON_DTYPES


@triton.jit
def _gate_kernel(
    x_ptr, w_ptr, gate_ptr, mean_ptr, scratch_ptr,
    C, HW, stride_n, stride_c, stride_hw, inv_hw,
    K: tl.constexpr, CIRCULAR: tl.constexpr, WINDOW: tl.constexpr, BLOCK_HW: tl.constexpr,
):  # fmt: skip
    pad: tl.constexpr = (K - 1) // 2
    per_program: tl.constexpr = WINDOW - 2 * pad
    n = tl.program_id(0).to(tl.int64)
    c0 = tl.program_id(1) * per_program
    t = tl.arange(0, WINDOW)
    channel = c0 - pad + t  # the window: this program's channels and their neighbours
    if CIRCULAR:
        source = (channel % C + C) % C
        present = source >= 0
    else:
        source = channel
        present = (channel >= 0) & (channel < C)  # zero padding: absent channels pool to 0
    rows = x_ptr + n * stride_n + source.to(tl.int64)[:, None] * stride_c
    total = tl.zeros([WINDOW], dtype=tl.float32)
    for start in range(0, HW, BLOCK_HW):
        hw = start + tl.arange(0, BLOCK_HW)
        mask = present[:, None] & (hw[None, :] < HW)
        total += tl.sum(tl.load(rows + hw[None, :] * stride_hw, mask=mask, other=0.0).to(tl.float32), axis=1)
    mean = total * inv_hw
    own = (t >= pad) & (t < pad + per_program) & (channel < C)
    tl.store(mean_ptr + n * C + channel, mean, mask=own)
    # The K-tap convolution reads the window at K shifts: through a per-program scratch row.
    row = scratch_ptr + (n * tl.num_programs(1) + tl.program_id(1)) * WINDOW
    tl.store(row + t, mean)
    tl.debug_barrier()
    z = tl.zeros([WINDOW], dtype=tl.float32)
    for j in tl.static_range(K):
        z += tl.load(w_ptr + j).to(tl.float32) * tl.load(row + t + j, mask=t + j < WINDOW, other=0.0)
    out = c0 + t
    tl.store(gate_ptr + n * C + out, tl.sigmoid(z), mask=(t < per_program) & (out < C))


@triton.jit
def _elements(total, C, HW, CHANNELS_LAST: tl.constexpr, BLOCK: tl.constexpr):
    """This program's flat element offsets, their bounds mask and their ``n * C + c`` row."""
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    if CHANNELS_LAST:
        row = (offs // (HW * C)) * C + offs % C
    else:
        row = offs // HW
    return offs, offs < total, row


@triton.jit
def _scale_kernel(
    x_ptr, r_ptr, gate_ptr, y_ptr, total, C, HW,
    CHANNELS_LAST: tl.constexpr, HAS_RESIDUAL: tl.constexpr, RELU: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    offs, mask, row = _elements(total, C, HW, CHANNELS_LAST, BLOCK)
    s = tl.load(gate_ptr + row, mask=mask, other=0.0)
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    y = x.to(tl.float32) * s
    if HAS_RESIDUAL:
        y += tl.load(r_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    if RELU:
        y = tl.maximum(y, 0.0)
    tl.store(y_ptr + offs, y.to(x.dtype), mask=mask)


@triton.jit
def _reduce_kernel(
    dy_ptr, y_ptr, x_ptr, g_ptr, ds_ptr,
    C, HW, stride_n, stride_c, stride_hw,
    RELU: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_HW: tl.constexpr,
):  # fmt: skip
    n = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    rows = n * stride_n + c.to(tl.int64)[:, None] * stride_c
    total = tl.zeros([BLOCK_C], dtype=tl.float32)
    for start in range(0, HW, BLOCK_HW):
        hw = start + tl.arange(0, BLOCK_HW)
        offs = rows + hw[None, :] * stride_hw
        mask = (c[:, None] < C) & (hw[None, :] < HW)
        dy = tl.load(dy_ptr + offs, mask=mask, other=0.0)
        if RELU:
            dy = tl.where(tl.load(y_ptr + offs, mask=mask, other=0.0) > 0, dy, 0.0)
            tl.store(g_ptr + offs, dy, mask=mask)
        x = tl.load(x_ptr + offs, mask=mask, other=0.0)
        total += tl.sum(dy.to(tl.float32) * x.to(tl.float32), axis=1)
    tl.store(ds_ptr + n * C + c, total, mask=c < C)


@triton.jit
def _dx_kernel(
    g_ptr, gate_ptr, dmean_ptr, dx_ptr, total, C, HW, inv_hw,
    CHANNELS_LAST: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    offs, mask, row = _elements(total, C, HW, CHANNELS_LAST, BLOCK)
    s = tl.load(gate_ptr + row, mask=mask, other=0.0)
    dmean = tl.load(dmean_ptr + row, mask=mask, other=0.0)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0)
    tl.store(dx_ptr + offs, (g.to(tl.float32) * s + dmean * inv_hw).to(g.dtype), mask=mask)


_ELEMENTWISE_BLOCK = 1024
_BLOCK_HW = 64
_BLOCK_C = 16


def _layout(x: torch.Tensor) -> tuple[torch.Tensor, torch.memory_format, bool]:
    """``x`` dense in NCHW or channels-last (copied into NCHW if neither), and which."""
    if x.is_contiguous():
        return x, torch.contiguous_format, False
    if x.is_contiguous(memory_format=torch.channels_last):
        return x, torch.channels_last, True
    return x.contiguous(), torch.contiguous_format, False


def _hw_strides(x: torch.Tensor) -> tuple[int, int, int]:
    """Strides of the batch, channel and flattened spatial index of a dense 4-D tensor."""
    return x.stride(0), x.stride(1), x.stride(3)


def _window(channels: int, k: int) -> int:
    """Channels pooled per program: a power of two leaving room for the ``k - 1`` neighbours."""
    window = 32 if channels <= 64 else 64 if channels <= 512 else 128
    while window - (k - 1) < 8:
        window *= 2
    return window


_GATE_TILE = 1024  # elements loaded per pooling step (WINDOW x BLOCK_HW): 48 registers on sm_90


def check_device(x: torch.Tensor) -> None:
    if not x.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError(
            f"the Triton ECA kernels need CUDA tensors, got a {x.device.type} tensor; "
            "use impl='auto' or 'torch' (or set TRITON_INTERPRET=1 to run them in Triton's interpreter)"
        )
    if x.dtype not in TRITON_DTYPES:
        raise TypeError(f"the Triton ECA kernels support {TRITON_DTYPES}, got {x.dtype}")


def eca_gate(x: torch.Tensor, weight: torch.Tensor, circular: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sigmoid(conv1d(mean_hw(x))), mean_hw(x))``, both ``[N, C]`` in fp32, in one kernel."""
    n, c, h, w = x.shape
    k = weight.numel()
    window = _window(c, k)
    gate = torch.empty(n, c, device=x.device, dtype=torch.float32)
    mean = torch.empty_like(gate)
    grid = (n, triton.cdiv(c, window - (k - 1)))
    scratch = torch.empty(n * grid[1] * window, device=x.device, dtype=torch.float32)
    _gate_kernel[grid](
        x, weight.reshape(-1).contiguous(), gate, mean, scratch, c, h * w, *_hw_strides(x), 1.0 / (h * w),
        K=k, CIRCULAR=circular, WINDOW=window, BLOCK_HW=_GATE_TILE // window,
    )  # fmt: skip
    return gate, mean


def _scale(x, gate, residual, relu, channels_last):
    n, c, h, w = x.shape
    y = torch.empty_like(x)
    total = x.numel()
    _scale_kernel[(triton.cdiv(total, _ELEMENTWISE_BLOCK),)](
        x, x if residual is None else residual, gate, y, total, c, h * w,
        CHANNELS_LAST=channels_last, HAS_RESIDUAL=residual is not None, RELU=relu, BLOCK=_ELEMENTWISE_BLOCK,
    )  # fmt: skip
    return y


def _conv_gate_backward(mean, weight, circular, dz):
    """Gradients of the ``[N, C]`` convolution with respect to the pooled means and the taps."""
    k = weight.numel()
    pad = (k - 1) // 2
    with torch.enable_grad():
        m = mean.detach().unsqueeze(1).requires_grad_(True)
        taps = weight.detach().float().reshape(1, 1, k).requires_grad_(True)
        padded = F.pad(m, (pad, pad), mode="circular" if circular else "constant")
        z = F.conv1d(padded, taps)
        dmean, dtaps = torch.autograd.grad(z, (m, taps), dz.unsqueeze(1))
    return dmean.squeeze(1).contiguous(), dtaps.reshape(weight.shape).to(weight.dtype)


class EcaFunction(torch.autograd.Function):
    """``act(x * eca_gate(x) + residual)`` with the Triton kernels above, forward and backward."""

    @staticmethod
    def forward(ctx, x, weight, residual, circular: bool, relu: bool):
        x, memory_format, channels_last = _layout(x)
        if residual is not None:
            residual = residual.to(x.dtype).contiguous(memory_format=memory_format)
        gate, mean = eca_gate(x, weight, circular)
        y = _scale(x, gate, residual, relu, channels_last)
        ctx.save_for_backward(x, weight, gate, mean, y if relu else None)
        ctx.circular, ctx.relu, ctx.has_residual = circular, relu, residual is not None
        ctx.memory_format, ctx.channels_last = memory_format, channels_last
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy):
        x, weight, gate, mean, y = ctx.saved_tensors
        n, c, h, w = x.shape
        dy = dy.to(x.dtype).contiguous(memory_format=ctx.memory_format)
        g = torch.empty_like(x) if ctx.relu else dy
        ds = torch.empty(n, c, device=x.device, dtype=torch.float32)
        _reduce_kernel[(n, triton.cdiv(c, _BLOCK_C))](
            dy, dy if y is None else y, x, g, ds, c, h * w, *_hw_strides(x),
            RELU=ctx.relu, BLOCK_C=_BLOCK_C, BLOCK_HW=_BLOCK_HW,
        )  # fmt: skip
        dmean, dweight = _conv_gate_backward(mean, weight, ctx.circular, ds * gate * (1.0 - gate))
        dx = torch.empty_like(x)
        total = x.numel()
        _dx_kernel[(triton.cdiv(total, _ELEMENTWISE_BLOCK),)](
            g, gate, dmean, dx, total, c, h * w, 1.0 / (h * w),
            CHANNELS_LAST=ctx.channels_last, BLOCK=_ELEMENTWISE_BLOCK,
        )  # fmt: skip
        return dx, dweight, g if ctx.has_residual else None, None, None


def eca_fused(
    x: torch.Tensor,
    weight: torch.Tensor,
    residual: torch.Tensor | None = None,
    circular: bool = False,
    relu: bool = False,
) -> torch.Tensor:
    """``act(x * sigmoid(conv1d(mean_hw(x), weight)) + residual)`` with the Triton kernels."""
    check_device(x)
    if x.dim() != 4:
        raise UsageError(f"ECA expects a 4-D [N, C, H, W] tensor, got shape {tuple(x.shape)}")
    return EcaFunction.apply(x, weight, residual, circular, relu)


_POINTERS = {
    "_gate_kernel": ("x_ptr", "w_ptr", "gate_ptr", "mean_ptr", "scratch_ptr"),
    "_scale_kernel": ("x_ptr", "r_ptr", "gate_ptr", "y_ptr"),
    "_reduce_kernel": ("dy_ptr", "y_ptr", "x_ptr", "g_ptr", "ds_ptr"),
    "_dx_kernel": ("g_ptr", "gate_ptr", "dmean_ptr", "dx_ptr"),
}
_FP32_POINTERS = {"w_ptr", "gate_ptr", "mean_ptr", "scratch_ptr", "ds_ptr", "dmean_ptr"}
_EXAMPLE_CONSTEXPRS = {
    "_gate_kernel": {"K": 5, "CIRCULAR": False, "WINDOW": 64, "BLOCK_HW": _GATE_TILE // 64},
    "_scale_kernel": {"CHANNELS_LAST": False, "HAS_RESIDUAL": True, "RELU": True, "BLOCK": _ELEMENTWISE_BLOCK},
    "_reduce_kernel": {"RELU": True, "BLOCK_C": _BLOCK_C, "BLOCK_HW": _BLOCK_HW},
    "_dx_kernel": {"CHANNELS_LAST": False, "BLOCK": _ELEMENTWISE_BLOCK},
}


def compile_for_gpu(arch: int = 90, dtype: str = "bf16") -> list[dict]:
    """Compile every kernel ahead of time for CUDA compute capability ``arch`` (no GPU needed:
    Triton ships ``ptxas``) and report each one's registers, spill bytes and shared memory."""
    import subprocess
    import tempfile
    from pathlib import Path

    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    cuobjdump = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    report = []
    for name, pointers in _POINTERS.items():
        kernel = globals()[name]
        constexprs = _EXAMPLE_CONSTEXPRS[name]
        signature = {}
        for arg in kernel.arg_names:
            if arg in constexprs:
                signature[arg] = "constexpr"
            elif arg in pointers:
                signature[arg] = "*fp32" if arg in _FP32_POINTERS else f"*{dtype}"
            else:
                signature[arg] = "fp32" if arg == "inv_hw" else "i32"
        compiled = triton.compile(ASTSource(kernel, signature, constexprs), target=GPUTarget("cuda", arch, 32))
        with tempfile.NamedTemporaryFile(suffix=".cubin") as cubin:
            cubin.write(compiled.asm["cubin"])
            cubin.flush()
            usage = subprocess.run([str(cuobjdump), "-res-usage", cubin.name], capture_output=True, text=True).stdout
        fields = dict(item.split(":") for item in usage.split("\n")[-2].split() if ":" in item)
        report.append(
            {
                "kernel": name.strip("_"),
                "arch": f"sm_{arch}",
                "dtype": dtype,
                "registers": int(fields["REG"]),
                "spill_bytes": int(fields["LOCAL"]),
                "shared_bytes": int(compiled.metadata.shared),
                "num_warps": int(compiled.metadata.num_warps),
            }
        )
    return report
