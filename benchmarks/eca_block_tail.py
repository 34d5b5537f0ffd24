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

import pandas as pd
import torch

from ecalib.benchmark import RESNET50_STAGE_SHAPES, measure_block_tail, write_result_folder
from ecalib.engine.trainer import resolve_device
from ecalib.layers.eca import triton_available
from ecalib.provenance import environment


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
