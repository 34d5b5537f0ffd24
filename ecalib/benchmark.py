"""Throughput and peak memory of training and inference steps on synthetic input.

Measurements follow the usual rules: warm-up steps first (cuDNN autotuning, torch.compile),
CUDA synchronisation around the timed region, several repeats with the median reported.
Nothing here is asserted in tests: benchmarks write result folders.
"""

from __future__ import annotations

import itertools
import json
import resource
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

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
    """Throughput and peak memory of every combination of the settings.

    The models that are compared with each other (same backbone, precision, compile mode, batch, input
    size and mode) are timed interleaved: ``repeats`` rounds, each timing every model once in a fresh
    random order. Rows give the median images/s with a 95 % bootstrap interval and, for each model, the
    median of its per-round ratio to the plain backbone (paired rounds) with its interval.

    ``batch_size`` and ``input_sizes`` may list several values (the scaling study); ``None``
    means the paper's. ``eca_impls`` runs the ECA networks once per implementation
    (:data:`ecalib.layers.eca.ECA_IMPLS`); the row records the one actually used on ``device``.
    """
    import pandas as pd

    from ecalib.layers import EcaLayer
    from ecalib.layers.eca import check_eca_impl, resolve_eca_impl
    from ecalib.models import create_model, model_info

    unknown = [b for b in backbones if b not in SUITE]
    if unknown:
        raise UsageError(f"unknown backbones {unknown}; choose from: {', '.join(SUITE)}")
    for impl in eca_impls:
        check_eca_impl(impl)
    for label, value in (("steps", steps), ("repeats", repeats)):
        if value < 1:
            raise UsageError(f"{label} must be at least 1, got {value}")
    batches = batch_size if isinstance(batch_size, (list, tuple)) else [batch_size]
    rows = []
    for backbone, precision, compiled, batch_choice, size_choice, mode in itertools.product(
        backbones, precisions, compile_modes, batches, input_sizes or [None], modes
    ):
        group, cases = [], {}
        for mechanism in mechanisms:
            name = SUITE[backbone].get(mechanism)
            if name is None:
                continue  # e.g. CBAM on MobileNetV2: not in the paper either
            info = model_info(name)
            size, batch = size_choice or info.input_size[-1], batch_choice or PAPER_BATCH[backbone]
            for impl in eca_impls if mechanism == "eca" else ["-"]:
                torch.manual_seed(0)
                model = create_model(name, **({} if impl == "-" else {"eca_impl": impl}))
                if impl == "-":
                    used = "-"
                elif impl == "auto" and compiled == "compile":
                    used = "torch"  # under torch.compile, auto hands inductor the plain formulation
                else:
                    used = resolve_eca_impl(impl, torch.empty(1, 1, 1, 1, device=device), training=mode == "train")
                amp = {"fp32": "none", "bf16": "bf16", "fp16": "fp16"}[precision]
                label = name if impl == "-" else f"{name}[{used}]" + ("" if impl == used else f"({impl})")
                cases[label] = prepare_step(
                    model, batch, size, device, mode, amp, channels_last, compiled == "compile", info.num_classes
                )
                group.append(
                    {
                        "backbone": backbone,
                        "mechanism": mechanism,
                        "model": name,
                        "eca_impl": impl,
                        "eca_impl_used": used,
                        "eca_layers": sum(isinstance(m, EcaLayer) for m in model.modules()),
                        "precision": precision,
                        "compile": compiled,
                        "batch_size": batch,
                        "input_size": size,
                        "params": sum(p.numel() for p in model.parameters()),
                        "mode": mode,
                        "label": label,
                    }
                )
        if not cases:
            continue
        measured = measure_interleaved(cases, device, group[0]["batch_size"], steps, warmup, repeats, seed)
        base = next((measured[row["label"]][0] for row in group if row["mechanism"] == "none"), None)
        for row in group:
            rates, peak = measured[row.pop("label")]
            row.update(_rates_summary(rates), **_memory(device, peak))
            row["round_rates"] = json.dumps([round(r, 3) for r in rates])
            row["order"] = f"interleaved with {len(group) - 1} other model(s), {repeats} rounds"
            if base is not None:
                ratio, low, high = paired_ratio_ci(rates, base)
                row.update({"vs none (paired)": ratio, "vs none ci_low": low, "vs none ci_high": high})
            progress(
                f"{row['model']:22s} [{row['eca_impl_used']}] {precision} {compiled:7s} b{row['batch_size']} "
                f"{row['input_size']}px {mode:5s} {row['images_per_s']:9.1f} img/s "
                f"(95% {row['images_per_s_ci_low']:.1f}-{row['images_per_s_ci_high']:.1f})"
            )
        rows += group
    return pd.DataFrame(rows)


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
    keys = RATIO_KEYS + (["folder"] if "folder" in table else [])  # ratios within one measurement session
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


def read_result_folder(folder: str | Path):
    """One ``ecalib bench`` result folder (``results.csv``, ``env.json``), with its device, commit and folder name."""
    import json

    import pandas as pd

    folder = Path(folder)
    env = json.loads((folder / "env.json").read_text())
    frame = pd.read_csv(folder / "results.csv")
    if "mechanism" in frame and "eca_impl" not in frame:  # bench folders from before the fused ECA: reference
        impl = frame["mechanism"].map(lambda m: "reference" if m == "eca" else "-")
        frame = frame.assign(eca_impl=impl, eca_impl_used=impl)
    return frame.assign(
        device=env.get("device", "unknown"), folder=folder.name, commit=(env.get("git_commit") or "")[:10]
    )


def load_results(root: str | Path):
    """Every ``ecalib bench`` result folder under ``root`` (:func:`read_result_folder`)."""
    import pandas as pd

    frames = [read_result_folder(csv.parent) for csv in sorted(Path(root).glob("*/results.csv"))]
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
