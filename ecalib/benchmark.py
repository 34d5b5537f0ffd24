"""Throughput and peak memory of training and inference steps on synthetic input.

Measurements follow the usual rules: warm-up steps first (cuDNN autotuning, torch.compile),
CUDA synchronisation around the timed region, several repeats with the median reported.
Nothing here is asserted in tests: benchmarks write result folders.
"""

from __future__ import annotations

import resource
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, amp: str):
    if amp == "none":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def measure_throughput(
    model: nn.Module,
    batch_size: int,
    input_size: int,
    device: torch.device,
    mode: str = "train",
    amp: str = "none",
    channels_last: bool = False,
    compile: bool = False,
    steps: int = 20,
    warmup: int = 5,
    repeats: int = 3,
    num_classes: int = 10,
) -> dict:
    """Images/s (median over ``repeats`` timed blocks of ``steps``) and peak memory for one mode."""
    if mode not in ("train", "infer"):
        raise ValueError(f"mode must be 'train' or 'infer', got {mode!r}")
    model = model.to(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    runner = torch.compile(model) if compile else model
    x = torch.randn(batch_size, 3, input_size, input_size, device=device).contiguous(memory_format=memory_format)
    y = torch.randint(0, num_classes, (batch_size,), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train(mode == "train")

    def step():
        if mode == "train":
            with _autocast(device, amp):
                loss = F.cross_entropy(runner(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        else:
            with torch.no_grad(), _autocast(device, amp):
                runner(x)

    for _ in range(warmup):
        step()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rates = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        _sync(device)
        rates.append(batch_size * steps / (time.perf_counter() - start))
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated(device) / 2**20
        memory_kind = "cuda max_memory_allocated"
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        memory_kind = "process max RSS (CPU; includes everything loaded so far)"
    return {
        "mode": mode,
        "images_per_s": statistics.median(rates),
        "images_per_s_min": min(rates),
        "images_per_s_max": max(rates),
        "peak_memory_mb": peak_mb,
        "memory_kind": memory_kind,
    }


def write_result_folder(out_root: str | Path, params: dict, env: dict, table) -> Path:
    """``out_root/<UTC time>-<device>/`` with params.json, env.json and results.csv; never overwrites."""
    import datetime as dt
    import json
    import re

    slug = re.sub(r"[^A-Za-z0-9]+", "-", env.get("device", "unknown")).strip("-").lower()
    folder = Path(out_root) / f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{slug}"
    folder.mkdir(parents=True, exist_ok=False)
    (folder / "params.json").write_text(json.dumps(params, indent=2, default=str) + "\n")
    (folder / "env.json").write_text(json.dumps(env, indent=2) + "\n")
    table.to_csv(folder / "results.csv", index=False)
    return folder
