"""Throughput and peak memory of training and inference steps on synthetic input.

Measurements follow the usual rules: warm-up steps first (cuDNN autotuning, torch.compile),
CUDA synchronisation around the timed region, several repeats with the median reported.
Nothing here is asserted in tests: benchmarks write result folders.

The module holds the timing primitives (:func:`prepare_step`, :func:`measure_interleaved`), the
block-tail fixture, result folders (:func:`create_result_folder`, :func:`read_result_folder`,
:func:`load_results`), the suite (:func:`run_preset`, :func:`run_groups`, :func:`run_suite`; the
budget is :mod:`ecalib.bench_budget`, the presets :mod:`ecalib.recipes.bench`) and the analysis the
speed chapter uses (:func:`ratio_table`, :func:`derive_auto_policy`; per-mechanism ratios for other
readers: :mod:`ecalib.reports.speed`).

A folder of ``ecalib bench`` (``runs/benchmarks/speed/<UTC time>-<device>/``, committed under
``results/benchmarks/speed/``) holds:

- ``results.csv``: one row per network and setting. The columns a reader needs: ``device`` (the
  device's name, e.g. ``NVIDIA H100 80GB HBM3`` or ``CPU: x86_64 (2 threads)``), ``device_type``
  (``cuda``/``cpu``; from older folders derived from ``device``), ``backbone`` (resnet50, resnet101,
  mobilenet_v2...), ``mechanism`` (none, se, cbam, eca), ``model`` (the registered network),
  ``eca_impl`` (asked: reference, auto...; ``-`` without ECA) and ``eca_impl_used`` (what ran:
  reference, torch, triton), ``precision`` (fp32, bf16, fp16), ``compile`` (eager, compile),
  ``channels_last`` (true/false), ``mode`` (train: forward, backward and SGD step; infer: forward
  without gradients), ``batch_size``, ``input_size``, ``images_per_s`` (median over the rounds, with
  ``images_per_s_ci_low``/``_ci_high``, its 95 % bootstrap interval), ``rounds`` and ``round_rates``
  (images/s of each round), ``vs none (paired)`` with ``vs none ci_low``/``ci_high`` (the median of
  the per-round ratio to the plain backbone timed in the same rounds), ``peak_memory_mb`` with
  ``memory_kind`` (CUDA: memory held between steps plus the step's peak; CPU: the process's maximum
  resident size, not comparable between rows), and ``part`` (the preset part). :func:`folder_rows`
  adds ``folder``, ``commit``, ``suite`` and ``profile`` from the other files.
- ``params.json``: what was asked, with ``suite`` (e.g. ``table3``; ``custom`` for a one-off command
  line), ``profile`` (``full`` or ``smoke``), ``origin`` and the validated ``preset``.
- ``env.json``: ``device``, ``cuda``, ``driver``, ``cudnn``, ``tf32``, ``gpu`` (capability, memory,
  multiprocessors), ``versions``, ``platform`` and ``git_commit``.
- ``budget.json``: the budget (``budget_s``), ``status`` (``complete`` once finished; ``interrupted``
  when stopped by Ctrl-C, a time limit or an error; ``running`` when killed outright), rows planned,
  measured and dropped, ``elapsed_s``, and one entry per group (status, rounds, set-up seconds, reason).
- ``dropped.csv``: every planned row that was not measured, with its ``reason``: the budget (``over
  budget: ...``), the device (bf16 unsupported, out of GPU memory) or an error of that network alone.

Folders written before budget.json existed have only results.csv, params.json and env.json, and may
lack later columns (``eca_impl``, ``channels_last``, ``device_type``, ``part``, the paired ratios):
:func:`folder_rows` fills in what they were then.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import resource
import statistics
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ecalib.bench_budget import Budget, CostModel, GroupCost
from ecalib.errors import UsageError


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, amp: str):
    if amp == "none":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def _timed_blocks(call, device: torch.device, steps: int, warmup: int, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` blocks of ``steps`` calls, after ``warmup`` calls; CUDA peak
    memory statistics are reset after the warm-up."""
    for _ in range(warmup):
        call()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    blocks = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            call()
        _sync(device)
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


def _memory(device: torch.device, peak_bytes: float | None = None) -> dict:
    if device.type == "cuda":
        return {"peak_memory_mb": peak_bytes / 2**20, "memory_kind": "cuda: held between steps + step peak"}
    return {
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "memory_kind": "process max RSS (CPU; includes everything loaded so far)",
    }


def _rates_summary(rates: list[float]) -> dict:
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
    rates = [batch_size * steps / seconds for seconds in _timed_blocks(step, device, steps, 0, repeats)]
    peak = resident() + _peak_since_reset(device) - before if device.type == "cuda" else None
    return {"mode": mode, **_rates_summary(rates), **_memory(device, peak)}


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
            _sync(device)
            before = _allocated(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            start = time.perf_counter()
            for _ in range(steps):
                step()
            _sync(device)
            rates[label].append(batch_size * steps / (time.perf_counter() - start))
            if device.type == "cuda":
                peaks[label] = max(peaks[label], resident() + _peak_since_reset(device) - before)
    return {label: (rates[label], peaks[label] if device.type == "cuda" else None) for label in cases}


def paired_ratio_ci(rates, base_rates) -> tuple[float, float, float]:
    """Median and 95 % interval of the per-round ratio ``rates / base_rates`` (rounds measured side by side)."""
    return median_ci([r / b for r, b in zip(rates, base_rates, strict=True)])


# ResNet-50's bottleneck outputs at 224 px: (channels, height = width) per stage
RESNET50_STAGE_SHAPES = {"layer1": (256, 56), "layer2": (512, 28), "layer3": (1024, 14), "layer4": (2048, 7)}
TAIL_VARIANTS = ("plain", "reference", "torch", "triton")


def block_tail(variant: str, k_size: int = 5) -> nn.Module:
    """The end of a residual block as a module ``(x, residual) -> relu(attention(x) + residual)``.

    ``plain`` has no attention (ResNet's own tail, the cost floor); the others are ECA with
    that implementation (:data:`ecalib.layers.eca.ECA_IMPLS`).
    """
    from ecalib.layers import EcaLayer

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
    times = [seconds / steps * 1e6 for seconds in _timed_blocks(call, device, steps, warmup, repeats)]
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


def create_result_folder(out_root: str | Path, params: dict, env: dict) -> Path:
    """A new ``out_root/<UTC time>-<device>/`` holding params.json and env.json; never overwrites."""
    import datetime as dt
    import re

    slug = re.sub(r"[^A-Za-z0-9]+", "-", env.get("device", "unknown")).strip("-").lower()
    folder = Path(out_root) / f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{slug}"
    folder.mkdir(parents=True, exist_ok=False)
    write_json(folder / "params.json", params)
    write_json(folder / "env.json", env)
    return folder


def write_json(path: Path, values: dict) -> None:
    from ecalib.atomic import atomic_file

    with atomic_file(path, "w") as f:
        f.write(json.dumps(values, indent=2, default=str) + "\n")


def write_table(path: Path, table) -> None:
    from ecalib.atomic import atomic_file

    with atomic_file(path, "w") as f:
        table.to_csv(f, index=False)


def write_result_folder(out_root: str | Path, params: dict, env: dict, table) -> Path:
    """``out_root/<UTC time>-<device>/`` with params.json, env.json and results.csv; never overwrites."""
    folder = create_result_folder(out_root, params, env)
    write_table(folder / "results.csv", table)
    return folder


# backbone -> attention mechanism -> registered model (the paper's Table 3 networks and CIFAR ResNet-18)
SUITE = {
    "resnet50": {"none": "resnet50", "se": "se_resnet50", "cbam": "cbam_resnet50", "eca": "eca_resnet50"},
    "resnet101": {"none": "resnet101", "se": "se_resnet101", "cbam": "cbam_resnet101", "eca": "eca_resnet101"},
    "resnet152": {"none": "resnet152", "se": "se_resnet152", "cbam": "cbam_resnet152", "eca": "eca_resnet152"},
    "mobilenet_v2": {"none": "mobilenet_v2", "se": "se_mobilenet_v2", "eca": "eca_mobilenet_v2"},
    "resnet18_cifar": {
        "none": "resnet18_cifar",
        "se": "se_resnet18_cifar",
        "cbam": "cbam_resnet18_cifar",
        "eca": "eca_resnet18_cifar",
    },
}
PAPER_BATCH = {"resnet50": 256, "resnet101": 256, "resnet152": 256, "mobilenet_v2": 96, "resnet18_cifar": 128}
# Table 3's images/s were measured on 4 RTX 2080 Ti (the paper's Table 3 header and Sec. 4.1)
PAPER_GPUS, PAPER_GPU = 4, "RTX 2080 Ti"
# Table 3 rows: backbone name and method names of the paper for each mechanism
PAPER_ROWS = {
    "resnet50": ("ResNet-50", {"none": "ResNet", "se": "SENet", "cbam": "CBAM", "eca": "ECA-Net"}),
    "resnet101": ("ResNet-101", {"none": "ResNet", "se": "SENet", "cbam": "CBAM", "eca": "ECA-Net"}),
    "resnet152": ("ResNet-152", {"none": "ResNet", "se": "SENet", "eca": "ECA-Net"}),
    "mobilenet_v2": ("MobileNetV2", {"none": "MobileNetV2", "se": "SE (r=8)", "eca": "ECA-Net"}),
}


@dataclass(frozen=True)
class BenchGroup:
    """Networks timed interleaved and compared with each other: one backbone's attention mechanisms (and
    ECA implementations) under one setting. The unit that a time budget keeps or drops."""

    part: str  # the preset part it comes from (priority order)
    backbone: str
    mechanisms: tuple[str, ...]
    eca_impls: tuple[str, ...]
    precision: str
    compile: str  # eager or compile
    batch_size: int | None  # None: the paper's
    input_size: int | None  # None: the network's own
    mode: str
    channels_last: bool

    def members(self) -> list[tuple[str, str, str]]:
        """``(mechanism, registered model, requested ECA implementation or '-')`` of each network."""
        out = []
        for mechanism in self.mechanisms:
            name = SUITE[self.backbone].get(mechanism)
            if name is not None:  # e.g. CBAM on MobileNetV2: not in the paper either
                out += [(mechanism, name, impl) for impl in (self.eca_impls if mechanism == "eca" else ("-",))]
        return out

    @property
    def batch(self) -> int:
        return self.batch_size or PAPER_BATCH[self.backbone]

    @property
    def size(self) -> int:
        from ecalib.models import model_info

        return self.input_size or model_info(SUITE[self.backbone]["none"]).input_size[-1]

    def setting(self) -> tuple:
        return (self.backbone, self.precision, self.compile, self.batch, self.size, self.mode, self.channels_last)

    def describe(self) -> str:
        layout = " channels-last" if self.channels_last else ""
        return f"{self.backbone} {self.precision} {self.compile}{layout} b{self.batch} {self.size}px {self.mode}"


def suite_groups(
    backbones, mechanisms, modes=("train", "infer"), precisions=("fp32",), compile_modes=("eager",),
    batch_sizes=(None,), input_sizes=(None,), eca_impls=("auto",), channels_last=False, part="custom",
) -> list[BenchGroup]:  # fmt: skip
    """Every combination of the settings as groups (those with at least one network)."""
    unknown = [b for b in backbones if b not in SUITE]
    if unknown:
        raise UsageError(f"unknown backbones {unknown}; choose from: {', '.join(SUITE)}")
    offered = list(dict.fromkeys(m for b in backbones for m in SUITE[b]))
    unknown = [m for m in mechanisms if m not in offered]
    if unknown:
        raise UsageError(f"unknown mechanisms {unknown} for {', '.join(backbones)}; choose from: {', '.join(offered)}")
    groups = [
        BenchGroup(part, b, tuple(mechanisms), tuple(eca_impls), p, c, batch, size, mode, channels_last)
        for b, p, c, batch, size, mode in itertools.product(
            backbones, precisions, compile_modes, batch_sizes, input_sizes, modes
        )
    ]
    return [g for g in groups if g.members()]


def preset_groups(preset) -> list[BenchGroup]:
    """The groups of a preset (:func:`ecalib.recipes.bench.resolve_preset`), in priority order: its parts."""
    groups, seen = [], {}
    for name, part in preset.parts.items():
        if part is None:
            continue
        for group in suite_groups(
            part.backbones, part.mechanisms, preset.modes, part.precisions, part.compile_modes,
            preset.batch_size or [None], preset.input_size or [None], preset.eca_impls, preset.channels_last, name,
        ):  # fmt: skip
            if group.setting() in seen:
                raise UsageError(f"parts {seen[group.setting()]} and {name} both time {group.describe()}")
            seen[group.setting()] = name
            groups.append(group)
    return groups


@functools.cache
def _macs(backbone: str, size: int) -> float:
    """Multiply-adds of the plain backbone for one image (counted on the meta device: no memory, no time)."""
    from torch.utils.flop_counter import FlopCounterMode

    from ecalib.models import create_model

    try:
        with torch.device("meta"):
            model, x = create_model(SUITE[backbone]["none"]), torch.empty(1, 3, size, size)
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(x)
        return counter.get_total_flops() / 2
    except Exception:  # noqa: BLE001 - only an estimate for the budget: proportional to the pixels
        return 4e9 * (size / 224) ** 2


def group_costs(groups: list[BenchGroup]) -> list[GroupCost]:
    """What the budget knows of each group beforehand (networks that the group before did not build
    are counted as built anew: ``_prototype`` keeps the last few)."""
    costs, before = [], set()
    for group in groups:
        members = {(name, impl) for _, name, impl in group.members()}
        costs.append(
            GroupCost(
                group.describe(), group.backbone, group.mode, group.precision, group.compile == "compile",
                len(members), len(members) * group.batch * _macs(group.backbone, group.size), len(members - before),
            )  # fmt: skip
        )
        before = members
    return costs


def _unsupported(group: BenchGroup, device: torch.device) -> str | None:
    if device.type == "cuda" and group.precision == "bf16" and not torch.cuda.is_bf16_supported(False):
        return "bf16 is not supported by this GPU (autocast would silently run fp32)"
    return None


@functools.lru_cache(maxsize=8)  # a group's networks: at most 4 mechanisms + ECA's implementations
def _prototype(name: str, impl: str) -> nn.Module:
    """A freshly initialised network (seed 0), copied by every group that times it: initialising the
    weights of a ResNet takes longer than copying them."""
    from ecalib.models import create_model

    torch.manual_seed(0)
    return create_model(name, **({} if impl == "-" else {"eca_impl": impl}))


def _prepare(group: BenchGroup, mechanism: str, name: str, impl: str, device: torch.device):
    """``(label, row, (step, resident))`` of one network of ``group``."""
    from ecalib.layers import EcaLayer
    from ecalib.layers.eca import resolve_eca_impl
    from ecalib.models import model_info

    model = copy.deepcopy(_prototype(name, impl))
    compiled = group.compile == "compile"
    if impl == "-":
        used = "-"
    elif impl == "auto" and compiled:
        used = "torch"  # under torch.compile, auto hands inductor the plain formulation
    else:
        used = resolve_eca_impl(impl, torch.empty(1, 1, 1, 1, device=device), training=group.mode == "train")
    amp = {"fp32": "none", "bf16": "bf16", "fp16": "fp16"}[group.precision]
    label = name if impl == "-" else f"{name}[{used}]" + ("" if impl == used else f"({impl})")
    case = prepare_step(
        model, group.batch, group.size, device, group.mode, amp, group.channels_last, compiled,
        model_info(name).num_classes,
    )  # fmt: skip
    row = {
        "backbone": group.backbone,
        "mechanism": mechanism,
        "model": name,
        "eca_impl": impl,
        "eca_impl_used": used,
        "eca_layers": sum(isinstance(m, EcaLayer) for m in model.modules()),
        "precision": group.precision,
        "compile": group.compile,
        "batch_size": group.batch,
        "input_size": group.size,
        "params": sum(p.numel() for p in model.parameters()),
        "mode": group.mode,
    }
    return label, row, case


def _warm_up(step, device: torch.device, warmup: int) -> tuple[float, float]:
    """Seconds of the first call (compilation, autotuning, plus one step) and of each further warm-up step."""
    _sync(device)
    start = time.perf_counter()
    step()
    _sync(device)
    first = time.perf_counter() - start
    for _ in range(warmup):
        step()
    _sync(device)
    return first, (time.perf_counter() - start - first) / warmup if warmup else first


@dataclass
class SuiteRun:
    """What :func:`run_groups` did: measured rows, dropped rows (with the reason) and one entry per group."""

    rows: list = field(default_factory=list)
    dropped: list = field(default_factory=list)
    groups: list = field(default_factory=list)


# the columns of dropped.csv: what each dropped row would have measured, and why it was not
DROPPED_COLUMNS = [
    "part", "backbone", "mechanism", "model", "eca_impl", "precision", "compile", "channels_last",
    "batch_size", "input_size", "mode", "reason",
]  # fmt: skip


def _error_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"error: {type(error).__name__}: {lines[0][:200] if lines else ''}"


def _time_group(group, cost, device, budget, later, steps, warmup, seed, progress) -> tuple[list, dict, dict]:
    """Build, warm up and time one group: ``(rows, log, left out)``, the last mapping each network not
    measured (``group.members()`` entries) to the reason: the budget ran out while the group was set up
    (all of them), or the network failed to run here (an error of its own, e.g. of Triton or inductor:
    the others are still timed)."""
    started = time.perf_counter()
    cases, rows, setups, step_seconds, builds, failed = {}, [], [], [], [], {}
    for member in group.members():
        mechanism, name, impl = member
        try:
            misses = _prototype.cache_info().misses
            built = time.perf_counter()
            _prototype(name, impl)
            if _prototype.cache_info().misses > misses:
                builds.append(time.perf_counter() - built)
            built = time.perf_counter()
            label, row, case = _prepare(group, mechanism, name, impl, device)
            _, step = _warm_up(case[0], device, warmup)
        except torch.cuda.OutOfMemoryError:
            raise  # the group's batch is too large for this device: all its networks are
        except Exception as error:  # noqa: BLE001 - one network that cannot run here must not end the suite
            import traceback

            progress(traceback.format_exc())
            failed[member] = _error_line(error)
            continue
        cases[label] = case
        rows.append((label, row))
        setups.append(time.perf_counter() - built - warmup * step - step)
        step_seconds.append(step)
        if budget.out_of_time():
            reason = f"budget ran out while setting it up ({time.perf_counter() - started:.0f} s so far)"
            return [], {"setup_s": round(sum(setups), 2)}, dict.fromkeys(group.members(), reason)
    if not cases:
        return [], {}, failed
    build = statistics.median(builds) if builds else None
    budget.costs.learn(cost, sum(step_seconds), statistics.median(setups), build)
    rounds = budget.rounds_for(steps * sum(step_seconds), later)  # later groups estimated with this one's warm-up
    measured = measure_interleaved(cases, device, group.batch, steps, 0, rounds, seed)
    budget.costs.refine(cost, sum(statistics.median(group.batch / r for r in measured[label][0]) for label, _ in rows))
    base = next((measured[label][0] for label, row in rows if row["mechanism"] == "none"), None)
    out = []
    for label, row in rows:
        rates, peak = measured[label]
        row.update(_rates_summary(rates), **_memory(device, peak))
        row["round_rates"] = json.dumps([round(r, 3) for r in rates])
        row["order"] = f"interleaved with {len(rows) - 1} other model(s), {rounds} rounds"
        if base is not None:
            ratio, low, high = paired_ratio_ci(rates, base)
            row.update({"vs none (paired)": ratio, "vs none ci_low": low, "vs none ci_high": high})
        row.update(channels_last=group.channels_last, device_type=device.type, part=group.part)
        progress(
            f"{row['model']:22s} [{row['eca_impl_used']}] {group.precision} {group.compile:7s} b{group.batch} "
            f"{group.size}px {group.mode:5s} {row['images_per_s']:9.1f} img/s "
            f"(95% {row['images_per_s_ci_low']:.1f}-{row['images_per_s_ci_high']:.1f})"
        )
        out.append(row)
    log = {"rounds": rounds, "setup_s": round(sum(setups), 2), "seconds": round(time.perf_counter() - started, 2)}
    return out, log, failed


def _release(device: torch.device, compiled: bool) -> None:
    """Free what a group held: its networks, compiled graphs (dynamo's cache would otherwise fill and fall
    back to eager without a word) and cached GPU memory."""
    import gc

    if compiled:
        torch._dynamo.reset()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run_groups(
    groups: list[BenchGroup], device: torch.device, steps: int = 10, warmup: int = 3, rounds=(3, 8),
    budget: float | None = None, seed: int = 0, compile_prior: float = 60.0, cudnn_benchmark: bool | None = None,
    progress=print, on_group=None,
) -> SuiteRun:  # fmt: skip
    """Time ``groups`` in order, each interleaved (:func:`measure_interleaved`) after its warm-up.

    ``rounds`` is ``(min, max)``: without a ``budget`` (seconds) every group gets ``max`` rounds; with
    one, :class:`ecalib.bench_budget.Budget` drops the groups that would not fit (lowest priority
    first) and sizes each kept group's rounds. A group the device cannot run (bf16 without support,
    out of GPU memory) is dropped with the reason, and so is a network that fails on its own (its
    traceback printed); the rest go on. ``on_group(run)`` is called after every group.
    """
    costs = CostModel(compile_prior=compile_prior)
    plan = Budget(budget, costs, steps, warmup, *rounds)
    estimates = group_costs(groups)
    run = SuiteRun()
    previous_benchmark = torch.backends.cudnn.benchmark
    if cudnn_benchmark is not None:
        torch.backends.cudnn.benchmark = cudnn_benchmark
    try:
        for i, (group, cost) in enumerate(zip(groups, estimates)):
            entry = {"part": group.part, "group": group.describe(), "networks": cost.networks}
            reason = _unsupported(group, device) or plan.admit(cost)
            rows, log, failed = [], {}, dict.fromkeys(group.members(), reason) if reason else {}
            if reason is None:
                try:
                    rows, log, failed = _time_group(
                        group, cost, device, plan, estimates[i + 1 :], steps, warmup, seed, progress
                    )
                except torch.cuda.OutOfMemoryError:
                    reason = f"out of GPU memory at batch {group.batch} (try a smaller one: --set batch_size=[64])"
                    failed = dict.fromkeys(group.members(), reason)
                finally:
                    _release(device, group.compile == "compile")
            run.rows += rows
            run.dropped += [
                {"part": group.part, "backbone": group.backbone, "mechanism": mechanism, "model": name,
                 "eca_impl": impl, "precision": group.precision, "compile": group.compile,
                 "channels_last": group.channels_last, "batch_size": group.batch, "input_size": group.size,
                 "mode": group.mode, "reason": why}
                for (mechanism, name, impl), why in failed.items()
            ]  # fmt: skip
            for why in dict.fromkeys(failed.values()):
                progress(f"dropped from {group.part}: {group.describe()}: {why}")
            status = "measured" if rows and not failed else "partly measured" if rows else "dropped"
            reasons = sorted(set(failed.values()))
            run.groups.append(entry | log | {"status": status, "reason": "; ".join(reasons) or None})
            if on_group is not None:
                on_group(run)
    finally:
        torch.backends.cudnn.benchmark = previous_benchmark
    return run


def run_suite(
    backbones: list[str],
    mechanisms: list[str],
    device: torch.device,
    modes=("train", "infer"),
    precisions=("fp32",),
    compile_modes=("eager",),
    batch_size: int | list[int] | None = None,
    steps: int = 20,
    warmup: int = 5,
    repeats: int = 5,
    channels_last: bool = False,
    progress=print,
    input_sizes: list[int] | None = None,
    eca_impls=("auto",),
    seed: int = 0,
):
    """Throughput and peak memory of every combination of the settings (no budget: nothing dropped).

    The models that are compared with each other (same backbone, precision, compile mode, batch, input
    size and mode) are timed interleaved: ``repeats`` rounds, each timing every model once in a fresh
    random order, after each model's first call and ``warmup`` further steps. Rows give the median
    images/s with a 95 % bootstrap interval and, for each model, the median of its per-round ratio to
    the plain backbone (paired rounds) with its interval.

    ``batch_size`` and ``input_sizes`` may list several values (the scaling study); ``None``
    means the paper's. ``eca_impls`` runs the ECA networks once per implementation
    (:data:`ecalib.layers.eca.ECA_IMPLS`); the row records the one actually used on ``device``.
    """
    import pandas as pd

    from ecalib.layers.eca import check_eca_impl

    for impl in eca_impls:
        check_eca_impl(impl)
    for label, value in (("steps", steps), ("repeats", repeats)):
        if value < 1:
            raise UsageError(f"{label} must be at least 1, got {value}")
    batches = batch_size if isinstance(batch_size, (list, tuple)) else [batch_size]
    settings = (modes, precisions, compile_modes, batches, input_sizes or [None], eca_impls, channels_last)
    groups = suite_groups(backbones, mechanisms, *settings)
    run = run_groups(groups, device, steps, warmup, (repeats, repeats), seed=seed, progress=progress)
    return pd.DataFrame(run.rows)


def _frame(rows: list, columns: list):
    import pandas as pd

    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)


def run_preset(preset, device: torch.device, out_root: str | Path, params: dict, progress=print) -> Path:
    """Run a validated ``BenchPreset`` (:func:`ecalib.recipes.bench.resolve_preset`) into a new result folder.

    The folder is written as the suite goes (after every group), so an interrupted run keeps what it
    measured; ``budget.json`` says ``"status": "complete"`` once it has finished. Files: see
    :func:`read_result_folder`.
    """
    import datetime as dt

    from ecalib.provenance import environment

    groups = preset_groups(preset)
    threads = torch.get_num_threads()
    if device.type == "cpu" and preset.cpu_threads:
        torch.set_num_threads(preset.cpu_threads)  # before env.json records the device's threads
    env = environment(device)
    params = params | {"suite": preset.suite, "profile": preset.profile, "preset": preset.model_dump(mode="json")}
    folder = create_result_folder(out_root, params, env)
    summary = {
        "suite": preset.suite,
        "profile": preset.profile,
        "budget": preset.budget,
        "budget_s": preset.budget_seconds,
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "groups_planned": len(groups),
        "rows_planned": sum(len(g.members()) for g in groups),
    }
    start = time.perf_counter()
    latest = SuiteRun()

    def record(run: SuiteRun, status: str = "running") -> None:
        nonlocal latest
        latest = run
        write_table(folder / "results.csv", _frame(run.rows, ["backbone", "mechanism"]).assign(device=env["device"]))
        write_table(folder / "dropped.csv", _frame(run.dropped, DROPPED_COLUMNS))
        done = summary | {
            "status": status,
            "elapsed_s": round(time.perf_counter() - start, 1),
            "rows_measured": len(run.rows),
            "rows_dropped": len(run.dropped),
            "groups": run.groups,
        }
        write_json(folder / "budget.json", done)

    try:
        run = run_groups(
            groups, device, preset.steps, preset.warmup, (preset.rounds.min, preset.rounds.max),
            preset.budget_seconds, preset.seed, preset.compile_seconds_prior, preset.cudnn_benchmark, progress, record,
        )  # fmt: skip
    except BaseException:  # interrupted (Ctrl-C, a time limit) or failed: keep what was measured, say so
        record(latest, "interrupted")
        raise
    finally:
        torch.set_num_threads(threads)
        _prototype.cache_clear()
    record(run, "complete")
    if run.dropped:
        parts = sorted({row["part"] for row in run.dropped}, key=list(preset.parts).index)
        progress(f"dropped {len(run.dropped)} of {summary['rows_planned']} rows ({', '.join(parts)}): see dropped.csv")
    return folder


def paper_speed_ratios():
    """Table 3's train/inference FPS of each mechanism divided by its plain backbone's."""
    import pandas as pd

    from ecalib.reference import reference_metrics

    rows = []
    for backbone, (paper_backbone, methods) in PAPER_ROWS.items():
        base = reference_metrics("paper", paper_backbone, methods["none"])
        for mechanism, method in methods.items():
            values = reference_metrics("paper", paper_backbone, method)
            for mode, key in (("train", "train_fps"), ("infer", "infer_fps")):
                rows.append(
                    {
                        "backbone": backbone,
                        "mechanism": mechanism,
                        "mode": mode,
                        "paper images/s": float(values[key]),
                        "paper vs none": float(values[key]) / float(base[key]),
                    }
                )
    return pd.DataFrame(rows)


RATIO_KEYS = ["device", "backbone", "precision", "compile", "batch_size", "input_size", "mode"]


def ratio_table(results):
    """Each measurement divided by its plain backbone's under the same settings, beside Table 3's ratio."""
    table = results.copy()
    keys = RATIO_KEYS + [k for k in ("channels_last", "folder") if k in table]  # within one measurement session
    base = table[table["mechanism"] == "none"].set_index(keys)["images_per_s"]
    table["vs none"] = [
        row.images_per_s / base.get(tuple(getattr(row, k) for k in keys), float("nan")) for row in table.itertuples()
    ]
    memory = table[table["mechanism"] == "none"].set_index(keys)["peak_memory_mb"]
    table["memory vs none"] = [
        row.peak_memory_mb / memory.get(tuple(getattr(row, k) for k in keys), float("nan"))
        for row in table.itertuples()
    ]
    return table.merge(paper_speed_ratios(), on=["backbone", "mechanism", "mode"], how="left")


def read_result_folder(folder: str | Path) -> dict:
    """A result folder of ``ecalib bench`` (or of a script of ``benchmarks/``), its files as written:
    ``results`` (results.csv), ``params``, ``env`` and, from ``ecalib bench`` runs of this version on,
    ``budget`` (budget.json) and ``dropped`` (dropped.csv); missing ones are None."""
    import pandas as pd

    folder = Path(folder)

    def read_json(name: str):
        path = folder / name
        return json.loads(path.read_text()) if path.is_file() else None

    return {
        "results": pd.read_csv(folder / "results.csv"),
        "params": read_json("params.json") or {},
        "env": read_json("env.json") or {},
        "budget": read_json("budget.json"),
        "dropped": pd.read_csv(folder / "dropped.csv") if (folder / "dropped.csv").is_file() else None,
    }


def folder_rows(folder: str | Path):
    """The rows of one result folder with the provenance every reader needs beside them: ``device``,
    ``device_type`` (cpu/cuda), ``folder`` (its name), ``commit`` (10 characters), ``suite`` and
    ``profile`` (empty for runs without a preset). Bench folders written before a column existed get
    its value of then (``eca_impl``: reference; ``channels_last``: from params.json)."""
    found = read_result_folder(folder)
    frame, params, env = found["results"], found["params"], found["env"]
    if "mechanism" in frame and "eca_impl" not in frame:  # bench folders from before the fused ECA: reference
        impl = frame["mechanism"].map(lambda m: "reference" if m == "eca" else "-")
        frame = frame.assign(eca_impl=impl, eca_impl_used=impl)
    if "mechanism" in frame and "channels_last" not in frame:
        frame = frame.assign(channels_last=bool(params.get("channels_last", False)))
    label = env.get("device", "unknown")
    return frame.assign(
        device=label,
        device_type=frame["device_type"] if "device_type" in frame else device_type(label),
        folder=Path(folder).name,
        commit=(env.get("git_commit") or "")[:10],
        suite=params.get("suite", ""),
        profile=params.get("profile", "") if "suite" in params else "",
    )


def load_results(root: str | Path):
    """Every result folder under ``root`` (:func:`folder_rows` of each), in one table."""
    import pandas as pd

    frames = [folder_rows(csv.parent) for csv in sorted(Path(root).glob("*/results.csv"))]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


AUTO_CANDIDATES = ("reference", "torch", "triton")
GROUP_KEYS = ["device", "backbone", "precision", "compile", "batch_size", "input_size", "mode", "folder"]


def device_type(device_label: str) -> str:
    """``cpu`` or ``cuda`` from a bench row's device description (e.g. ``cpu x86-64 2 threads``)."""
    return "cpu" if str(device_label).lower().startswith("cpu") else "cuda"


def derive_auto_policy(results) -> dict:
    """What ``eca_impl='auto'`` should run per device type and mode, from interleaved bench rows.

    Rows of explicitly chosen ECA implementations (``--eca-impl reference torch [triton]``) are paired
    round by round with the ``torch`` row of the same group (same device, backbone, settings and folder).
    The choice per device type and mode is the implementation with the highest median of those paired
    ratios over all groups and rounds; the evidence keeps each median with its 95 % interval.
    """
    rows = results[(results["mechanism"] == "eca") & results["eca_impl"].isin(AUTO_CANDIDATES)]
    rows = rows[rows["eca_impl"] == rows["eca_impl_used"]]
    choices: dict = {}
    evidence: dict = {}
    for (dtype, mode), part in rows.groupby([rows["device"].map(device_type), "mode"]):
        ratios: dict[str, list[float]] = {}
        for _, group in part.groupby(GROUP_KEYS):
            torch_rows = group[group["eca_impl"] == "torch"]
            if torch_rows.empty:
                continue
            base = json.loads(torch_rows.iloc[0]["round_rates"])
            for row in group.itertuples():
                rates = json.loads(row.round_rates)
                ratios.setdefault(row.eca_impl, []).extend(r / b for r, b in zip(rates, base, strict=True))
        if not ratios:
            continue
        summary = {impl: median_ci(values) for impl, values in ratios.items()}
        best = max(summary, key=lambda impl: summary[impl][0])
        choices.setdefault(dtype, {})[mode] = best
        evidence.setdefault(dtype, {})[mode] = {
            "speed vs torch (median, 95% interval)": {impl: [round(v, 4) for v in m] for impl, m in summary.items()},
            "paired rounds": len(ratios[best]),
            "folders": sorted(set(part["folder"])),
            "commits": sorted(set(part["commit"])) if "commit" in part else [],
            # Not within noise: the winner's interval lies above 1 (vs torch), or torch beats every interval.
            "clear": summary[best][1] > 1.0
            if best != "torch"
            else all(high < 1.0 for impl, (_, _, high) in summary.items() if impl != "torch"),
        }
    return {"choices": choices, "evidence": evidence}


IMAGENET_TRAIN_IMAGES = 1_281_167
IMAGENET_VAL_IMAGES = 50_000
CIFAR10_TRAIN_IMAGES = 50_000


def projected_recipe_hours(train_images_per_s: float, gpus: int, epochs: int = 100) -> float:
    """Wall time of the ImageNet recipe at a measured per-device rate, assuming linear scaling over devices."""
    return epochs * IMAGENET_TRAIN_IMAGES / (train_images_per_s * gpus) / 3600
