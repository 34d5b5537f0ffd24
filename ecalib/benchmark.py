"""Throughput and peak memory of training and inference steps on synthetic input.

Measurements follow the usual rules: warm-up steps first (cuDNN autotuning, torch.compile),
CUDA synchronisation around the timed region, several repeats with the median reported.
Nothing here is asserted in tests: benchmarks write result folders.
"""

from __future__ import annotations

import itertools
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

    rates = [batch_size * steps / seconds for seconds in _timed_blocks(step, device, steps, warmup, repeats)]
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
    repeats: int = 3,
    channels_last: bool = False,
    progress=print,
    input_sizes: list[int] | None = None,
    eca_impls=("auto",),
):
    """Throughput and peak memory of every combination of the settings.

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
    batches = batch_size if isinstance(batch_size, (list, tuple)) else [batch_size]
    rows = []
    for backbone, mechanism, precision, compiled, batch_choice, size_choice, mode in itertools.product(
        backbones, mechanisms, precisions, compile_modes, batches, input_sizes or [None], modes
    ):
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
                used = resolve_eca_impl(impl, torch.empty(1, 1, 1, 1, device=device))
            amp = {"fp32": "none", "bf16": "bf16", "fp16": "fp16"}[precision]
            result = measure_throughput(
                model,
                batch,
                size,
                device,
                mode,
                amp,
                channels_last,
                compiled == "compile",
                steps,
                warmup,
                repeats,
                num_classes=info.num_classes,
            )
            rows.append(
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
                    **result,
                }
            )
            label = name if impl == "-" else f"{name}[{used}]"
            progress(
                f"{label:30s} {precision} {compiled:7s} b{batch} {size}px {mode:5s} "
                f"{result['images_per_s']:10.1f} img/s"
            )
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


def load_results(root: str | Path):
    """Every ``ecalib bench`` result folder under ``root``, with its device, commit and folder name."""
    import json

    import pandas as pd

    frames = []
    for csv in sorted(Path(root).glob("*/results.csv")):
        env = json.loads((csv.parent / "env.json").read_text())
        frame = pd.read_csv(csv)
        if "mechanism" in frame and "eca_impl" not in frame:  # bench folders from before the fused ECA: reference
            impl = frame["mechanism"].map(lambda m: "reference" if m == "eca" else "-")
            frame = frame.assign(eca_impl=impl, eca_impl_used=impl)
        frames.append(
            frame.assign(
                device=env.get("device", "unknown"), folder=csv.parent.name, commit=(env.get("git_commit") or "")[:10]
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


IMAGENET_TRAIN_IMAGES = 1_281_167


def projected_recipe_hours(train_images_per_s: float, gpus: int, epochs: int = 100) -> float:
    """Wall time of the ImageNet recipe at a measured per-device rate, assuming linear scaling over devices."""
    return epochs * IMAGENET_TRAIN_IMAGES / (train_images_per_s * gpus) / 3600
