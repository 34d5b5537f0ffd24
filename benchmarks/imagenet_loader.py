"""Images/s of the ImageNet input pipeline alone (decode + RandomResizedCrop + flip + collate).

    python benchmarks/imagenet_loader.py --workers 1 2 4 8 --images 2000

Generates an ImageFolder of JPEGs with ImageNet's typical size (about 500x375) unless
``--data-dir`` points at real data, then times full passes of the training loader for each
worker count. Writes results/benchmarks/imagenet-loader/<date>-<host>/.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from ecalib.bench_results import write_result_folder
from ecalib.data.imagefolder import (
    LoaderBatches,
    SeededImageFolder,
    describe_source,
    split_dir,
    train_transform,
    write_synthetic_imagefolder,
)
from ecalib.provenance import environment


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="ImageFolder root with train/ (default: generate one)")
    parser.add_argument("--images", type=int, default=1000, help="images to generate (default 1000)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--crop", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=2, help="timed passes per worker count (first is warm-up)")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/imagenet-loader"))
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        root = (
            Path(args.data_dir)
            if args.data_dir
            else write_synthetic_imagefolder(
                tmp,
                num_classes=10,
                train_per_class=max(1, args.images // 10),
                val_per_class=1,
                min_size=375,
                max_size=500,
            )
        )
        dataset = SeededImageFolder(split_dir(root, "train"), train_transform(args.crop))
        source = describe_source(root)
        rows = []
        for workers in args.workers:
            batches = LoaderBatches(
                dataset, args.batch_size, (0.5,) * 3, (0.25,) * 3, torch.device("cpu"), train=True, workers=workers
            )
            for epoch in range(args.epochs):
                start = time.perf_counter()
                n = sum(len(y) for _, y in batches.epoch(epoch))
                rate = n / (time.perf_counter() - start)
                rows.append({"workers": workers, "pass": epoch, "warm": epoch > 0, "images": n, "images_per_s": rate})
                print(f"workers {workers} pass {epoch}: {rate:8.1f} images/s")
    table = pd.DataFrame(rows)
    env = environment("cpu", source["kind"])
    params = {**vars(args), "out": str(args.out), "data_source": source, "cpu_count": os.cpu_count()}
    folder = write_result_folder(args.out, params, env, table)
    print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
