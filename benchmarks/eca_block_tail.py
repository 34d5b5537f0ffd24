"""The end of a residual block, alone: ``relu(x + r)`` (plain ResNet) against ECA's
``relu(x * eca(x) + r)`` in each implementation, at ResNet-50's four stage shapes.

    python benchmarks/eca_block_tail.py                       # CUDA when present: adds the Triton kernels
    python benchmarks/eca_block_tail.py --device cpu --batch-size 8 --dtype float32

Writes results/benchmarks/eca-block-tail/<date>-<device>/ (params.json, env.json, results.csv).
The ratio ``vs plain`` is the tail's cost in units of the plain tail's: fused ECA reads each
activation once more than the plain tail (for the pooling), which is the floor it aims at.
"""

from __future__ import annotations

import argparse
import statistics

import pandas as pd
import torch
from torch import nn

from ecalib.bench_results import write_result_folder
from ecalib.benchmark import timed_blocks
from ecalib.devices import resolve_device
from ecalib.errors import UsageError
from ecalib.layers import EcaLayer
from ecalib.layers.eca import triton_available
from ecalib.provenance import environment

# ResNet-50's bottleneck outputs at 224 px: (channels, height = width) per stage
RESNET50_STAGE_SHAPES = {"layer1": (256, 56), "layer2": (512, 28), "layer3": (1024, 14), "layer4": (2048, 7)}
TAIL_VARIANTS = ("plain", "reference", "torch", "triton")


def block_tail(variant: str, k_size: int = 5) -> nn.Module:
    """The end of a residual block as a module ``(x, residual) -> relu(attention(x) + residual)``.

    ``plain`` has no attention (ResNet's own tail, the cost floor); the others are ECA with
    that implementation (:data:`ecalib.layers.eca.ECA_IMPLS`).
    """
    if variant not in TAIL_VARIANTS:
        raise UsageError(f"unknown block tail {variant!r}; choose from {', '.join(TAIL_VARIANTS)}")

    class Tail(nn.Module):
        def __init__(self):
            super().__init__()
            self.eca = None if variant == "plain" else EcaLayer(k_size=k_size, impl=variant)

        def forward(self, x, residual):
            if self.eca is None:
                return torch.relu(x + residual)
            return self.eca.forward_residual(x, residual)

    return Tail()


def measure_block_tail(
    variant: str,
    batch: int,
    channels: int,
    size: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    mode: str = "train",
    channels_last: bool = False,
    steps: int = 20,
    warmup: int = 3,
    repeats: int = 5,
) -> dict:
    """Median microseconds per call of one block tail (``train``: forward + backward), and CUDA peak memory.

    ``dtype`` other than fp32 runs under autocast, the way mixed-precision training calls the tail.
    """
    tail = block_tail(variant).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    shape = (batch, channels, size, size)
    x = torch.randn(shape, device=device, dtype=dtype).contiguous(memory_format=fmt)
    r = torch.randn(shape, device=device, dtype=dtype).contiguous(memory_format=fmt)
    dy = torch.randn(shape, device=device, dtype=dtype).contiguous(memory_format=fmt)
    x.requires_grad_(mode == "train")
    r.requires_grad_(mode == "train")

    # Half-precision activations come with autocast, as in mixed-precision training (fp32 weights).
    amp = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)

    def call():
        if mode == "train":
            with amp:
                y = tail(x, r)
            y.backward(dy)
            x.grad = r.grad = None
        else:
            with torch.no_grad(), amp:
                tail(x, r)

    base = torch.cuda.memory_allocated(device) if device.type == "cuda" else 0
    times = [seconds / steps * 1e6 for seconds in timed_blocks(call, device, steps, warmup, repeats)]
    extra_mb = (torch.cuda.max_memory_allocated(device) - base) / 2**20 if device.type == "cuda" else float("nan")
    return {
        "variant": variant,
        "mode": mode,
        "batch_size": batch,
        "channels": channels,
        "size": size,
        "dtype": str(dtype).removeprefix("torch."),
        "channels_last": channels_last,
        "us_per_call": statistics.median(times),
        "us_min": min(times),
        "activation_mb": x.numel() * x.element_size() / 2**20,
        "transient_memory_mb": extra_mb,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"], choices=("float32", "bfloat16"))
    parser.add_argument("--modes", nargs="+", default=["train", "infer"], choices=("train", "infer"))
    parser.add_argument("--stages", nargs="+", default=list(RESNET50_STAGE_SHAPES), choices=list(RESNET50_STAGE_SHAPES))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="results/benchmarks/eca-block-tail")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    variants = ["plain", "reference", "torch"] + (["triton"] if device.type == "cuda" and triton_available() else [])
    rows = []
    for stage in args.stages:
        channels, size = RESNET50_STAGE_SHAPES[stage]
        for dtype_name in args.dtype:
            for mode in args.modes:
                for variant in variants:
                    row = measure_block_tail(
                        variant, args.batch_size, channels, size, device, getattr(torch, dtype_name), mode,
                        args.channels_last, args.steps, repeats=args.repeats,
                    )  # fmt: skip
                    rows.append({"stage": stage, **row})
                    print(f"{stage} {dtype_name:8s} {mode:5s} {variant:9s} {row['us_per_call']:10.1f} us")
    table = pd.DataFrame(rows)
    keys = ["stage", "dtype", "mode"]
    plain = table[table["variant"] == "plain"].set_index(keys)["us_per_call"]
    table["vs plain"] = [r.us_per_call / plain[(r.stage, r.dtype, r.mode)] for r in table.itertuples()]
    env = environment(device)
    params = vars(args) | {"variants": variants, "input": "synthetic tensors"}
    folder = write_result_folder(args.out, params, env, table.assign(device=env["device"]))
    print(table.pivot_table(index=["stage", "dtype", "mode"], columns="variant", values="vs plain").round(3))
    print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
