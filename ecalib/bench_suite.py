"""The benchmark suite behind ``ecalib bench``: Table 3's networks timed in interleaved groups, fitted to a budget.

A preset (:func:`ecalib.recipes.bench.resolve_preset`) becomes groups (:func:`preset_groups`): one backbone's
attention mechanisms under one setting, timed together in rounds (:func:`ecalib.benchmark.measure_interleaved`).
:class:`ecalib.bench_budget.Budget` keeps the groups that fit the time budget; :func:`run_preset` writes the
result folder (:mod:`ecalib.bench_results`) as the suite goes.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ecalib.bench_budget import Budget, CostModel, GroupCost
from ecalib.bench_results import create_result_folder, write_json, write_table
from ecalib.benchmark import (
    measure_interleaved,
    memory_summary,
    paired_ratio_ci,
    prepare_step,
    rates_summary,
    synchronize,
)
from ecalib.errors import UsageError

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
    synchronize(device)
    start = time.perf_counter()
    step()
    synchronize(device)
    first = time.perf_counter() - start
    for _ in range(warmup):
        step()
    synchronize(device)
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
        row.update(rates_summary(rates), **memory_summary(device, peak))
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
    """Time ``groups`` in order, each interleaved (:func:`ecalib.benchmark.measure_interleaved`) after its warm-up.

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
    :func:`ecalib.bench_results.read_result_folder`.
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
