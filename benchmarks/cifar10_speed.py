"""CIFAR-10 training/inference speed per attention mechanism, and the projected study wall time.

    python benchmarks/cifar10_speed.py --protocol standard --amp bf16 --channels-last --batch-size 512
    python benchmarks/cifar10_speed.py --protocol rc2020 --device cpu --steps 5   # what CI's CPU sees

Writes results/benchmarks/cifar10-speed/<date>-<device>/ with params.json, env.json and
results.csv. The projection multiplies out the full protocol (mechanisms x seeds x epochs x
50,000 training + 10,000 test images) at the measured rates.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import torch

from ecalib.bench_results import write_result_folder
from ecalib.benchmark import measure_throughput
from ecalib.devices import resolve_device
from ecalib.models import create_model
from ecalib.provenance import environment
from ecalib.recipes import list_recipes, resolve
from ecalib.tasks.cifar10 import ATTENTIONS

TRAIN_IMAGES, TEST_IMAGES = 50_000, 10_000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    protocols = [name.split("/")[1] for name in list_recipes() if name.startswith("cifar10/")]
    parser.add_argument("--protocol", default="rc2020", choices=protocols, help="configs/cifar10/<protocol>.yaml")
    parser.add_argument("--mechanisms", nargs="+", default=list(ATTENTIONS))
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--amp", default="none", choices=("none", "bf16", "fp16"))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--batch-size", type=int, help="default: the protocol's")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/cifar10-speed"))
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    env = environment(device)
    rows = []
    for mechanism in args.mechanisms:
        cfg = resolve(f"cifar10/{args.protocol}", model=mechanism).train_config()
        batch = args.batch_size or cfg.batch_size
        for mode in ("train", "infer"):
            torch.manual_seed(0)
            model = create_model(cfg.model, num_classes=10, **cfg.model_kwargs)
            result = measure_throughput(
                model,
                batch,
                32,
                device,
                mode,
                args.amp,
                args.channels_last,
                args.compile,
                steps=args.steps,
                warmup=args.warmup,
                repeats=args.repeats,
            )
            rows.append(
                {
                    "mechanism": mechanism,
                    "model": cfg.model,
                    "batch_size": batch,
                    "params": sum(p.numel() for p in model.parameters()),
                    **result,
                }
            )
            print(
                f"{mechanism:8s} {mode:5s} {result['images_per_s']:10.1f} img/s  peak {result['peak_memory_mb']:.0f} MB"
            )
    table = pd.DataFrame(rows)
    wide = table.pivot(index="mechanism", columns="mode", values="images_per_s")
    recipe = resolve(f"cifar10/{args.protocol}").config
    seeds, epochs = len(recipe.seeds), recipe.schedule.epochs
    per_run_s = epochs * (TRAIN_IMAGES / wide["train"] + TEST_IMAGES / wide["infer"])
    projection = {
        "protocol": args.protocol,
        "seeds": seeds,
        "epochs": epochs,
        "per_run_minutes": (per_run_s / 60).round(2).to_dict(),
        "study_minutes": float(per_run_s.sum() * seeds / 60),
        "note": "one device, runs back to back, data path and logging overheads not included",
    }
    print(json.dumps(projection, indent=2))

    params = {**vars(args), "out": str(args.out), "input": "synthetic tensors, 32x32", "projection": projection}
    folder = write_result_folder(args.out, params, env, table)
    print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
