"""Throughput and peak memory of training and inference steps on synthetic input.

Measurements follow the usual rules: warm-up steps first (cuDNN autotuning, torch.compile),
CUDA synchronisation around the timed region, several repeats with the median reported.
Nothing here is asserted in tests: benchmarks write result folders.

These are the timing primitives (:func:`prepare_step`, :func:`measure_throughput`,
:func:`measure_interleaved`, :func:`timed_blocks`) and the statistics of their rates
(:func:`median_ci`, :func:`paired_ratio_ci`). The suite behind ``ecalib bench`` is
:mod:`ecalib.bench_suite`, the folders it writes :mod:`ecalib.bench_results`, the analysis the
speed chapter uses :mod:`ecalib.reports.speed`.
"""

from __future__ import annotations

import resource
import time
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from ecalib.errors import UsageError


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing to wait for on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, amp: str):
    if amp == "none":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def timed_blocks(call, device: torch.device, steps: int, warmup: int, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` blocks of ``steps`` calls, after ``warmup`` calls; CUDA peak
    memory statistics are reset after the warm-up."""
    for _ in range(warmup):
        call()
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    blocks = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(steps):
            call()
        synchronize(device)
        blocks.append(time.perf_counter() - start)
    return blocks


def median_ci(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Median of ``values`` and a bootstrap (percentile) confidence interval of it (scipy; seeded)."""
    import numpy as np
    from scipy.stats import bootstrap

    values = np.asarray(values, dtype=float)
    median = float(np.median(values))
    if len(values) < 2 or np.ptp(values) == 0:
        return median, median, median
    ci = bootstrap(
        (values,), np.median, confidence_level=confidence, method="percentile", n_resamples=2000, random_state=0
    ).confidence_interval
    return median, float(ci.low), float(ci.high)


def _resident_bytes(model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Bytes held between steps: parameters, their gradients, buffers and the optimiser's state."""
    tensors = [*model.parameters(), *model.buffers()]
    tensors += [p.grad for p in model.parameters() if p.grad is not None]
    tensors += [v for state in optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)]
    return sum(t.numel() * t.element_size() for t in tensors)


def prepare_step(
    model: nn.Module,
    batch_size: int,
    input_size: int,
    device: torch.device,
    mode: str = "train",
    amp: str = "none",
    channels_last: bool = False,
    compile: bool = False,
    num_classes: int = 10,
):
    """One training (SGD, cross-entropy) or inference step of ``model`` on a fixed synthetic batch.

    Returns ``(step, resident_bytes)``: the step to time, and a function giving the memory the model
    holds between steps (for peak memory next to other resident models).
    """
    if mode not in ("train", "infer"):
        raise UsageError(f"mode must be 'train' or 'infer', got {mode!r}")
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

    return step, lambda: _resident_bytes(model, optimizer)


def memory_summary(device: torch.device, peak_bytes: float | None = None) -> dict:
    """A result row's ``peak_memory_mb`` and ``memory_kind``: ``peak_bytes`` on CUDA, the process's maximum
    resident size on the CPU."""
    if device.type == "cuda":
        return {"peak_memory_mb": peak_bytes / 2**20, "memory_kind": "cuda: held between steps + step peak"}
    return {
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "memory_kind": "process max RSS (CPU; includes everything loaded so far)",
    }


def rates_summary(rates: list[float]) -> dict:
    """A result row's ``images_per_s`` (median, 95 % interval, min, max) and ``rounds`` from per-round rates."""
    median, low, high = median_ci(rates)
    return {
        "images_per_s": median,
        "images_per_s_ci_low": low,
        "images_per_s_ci_high": high,
        "images_per_s_min": min(rates),
        "images_per_s_max": max(rates),
        "rounds": len(rates),
    }


def measure_throughput(
    model: nn.Module, batch_size: int, input_size: int, device: torch.device, mode: str = "train", *settings,
    steps: int = 20, warmup: int = 5, repeats: int = 3, **step_kwargs,
) -> dict:  # fmt: skip
    """Images/s (median over ``repeats`` timed blocks of ``steps``, with a 95 % interval) and peak memory.

    ``settings`` and ``step_kwargs`` are :func:`prepare_step`'s others (amp, channels_last, compile, num_classes).
    """
    step, resident = prepare_step(model, batch_size, input_size, device, mode, *settings, **step_kwargs)
    for _ in range(warmup):
        step()
    before = _allocated(device)
    rates = [batch_size * steps / seconds for seconds in timed_blocks(step, device, steps, 0, repeats)]
    peak = resident() + _peak_since_reset(device) - before if device.type == "cuda" else None
    return {"mode": mode, **rates_summary(rates), **memory_summary(device, peak)}


def _allocated(device: torch.device) -> int:
    return torch.cuda.memory_allocated(device) if device.type == "cuda" else 0


def _peak_since_reset(device: torch.device) -> int:
    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0


def measure_interleaved(cases: dict, device: torch.device, batch_size: int, steps: int, warmup: int, rounds: int,
                        seed: int = 0) -> dict:
    """Time several prepared steps in interleaved order: each round times every case once (``steps`` calls),
    in a fresh random order, so drift (thermal, other load) spreads over all cases alike.

    ``cases`` maps a label to ``(step, resident_bytes)`` from :func:`prepare_step`. Returns per label the
    images/s of every round and, on CUDA, the peak memory (held between steps + the step's own peak).
    """
    import random

    order = list(cases)
    for label in order:
        for _ in range(warmup):
            cases[label][0]()
    rates = {label: [] for label in order}
    peaks = dict.fromkeys(order, 0.0)
    shuffle = random.Random(seed)
    for _ in range(rounds):
        shuffle.shuffle(order)
        for label in order:
            step, resident = cases[label]
            synchronize(device)
            before = _allocated(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            start = time.perf_counter()
            for _ in range(steps):
                step()
            synchronize(device)
            rates[label].append(batch_size * steps / (time.perf_counter() - start))
            if device.type == "cuda":
                peaks[label] = max(peaks[label], resident() + _peak_since_reset(device) - before)
    return {label: (rates[label], peaks[label] if device.type == "cuda" else None) for label in cases}


def paired_ratio_ci(rates, base_rates) -> tuple[float, float, float]:
    """Median and 95 % interval of the per-round ratio ``rates / base_rates`` (rounds measured side by side)."""
    return median_ci([r / b for r, b in zip(rates, base_rates, strict=True)])
