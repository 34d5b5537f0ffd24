"""Where ECA-ResNet-50's extra training time goes: one profiled training step against ResNet-50's.

    python benchmarks/table3_profile.py --out runs/profile                 # CUDA: ECA's torch and Triton paths too
    python benchmarks/table3_profile.py --device cpu --batch-size 2 --input-size 32 --out runs/profile

Each network (ResNet-50; ECA-ResNet-50 with each ECA implementation: the official module's
operations, the fused PyTorch path and, on CUDA, the Triton kernels) takes ``--warmup`` training
steps (cuDNN autotuning, Triton compilation), then ``--repeats`` timed steps, then one step under
``torch.profiler`` (CPU and CUDA activities). Every residual block's tail (``relu(x + r)``, or
ECA's ``relu(x * eca(x) + r)``) is marked ``block tail`` in the trace, so its forward time shows
apart. Writes, into ``--out``:

- ``profile.csv``: per network and profiled op or kernel: calls, self and total device time, self CPU time;
- ``profile.md``: per network the step time and the top ops and kernels; then, for each ECA path,
  the ops whose device time differs most from ResNet-50's (where the extra time goes).

Device time is CUDA kernel time; on a CPU the tables use CPU time instead.
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import torch
from torch.profiler import ProfilerActivity, profile, record_function

from ecalib.benchmark import prepare_step
from ecalib.devices import resolve_device
from ecalib.layers.eca import resolve_eca_impl, triton_available
from ecalib.models import create_model
from ecalib.models.resnet import _AttentionBlock
from ecalib.provenance import environment

TOP = 15


@contextmanager
def marked_block_tails():
    """Every residual block's ``relu(attention(out) + identity)`` as a ``block tail`` range of the trace."""
    original = _AttentionBlock._attend_add_relu

    def marked(self, out, identity):
        with record_function("block tail"):
            return original(self, out, identity)

    _AttentionBlock._attend_add_relu = marked
    try:
        yield
    finally:
        _AttentionBlock._attend_add_relu = original


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def profile_network(name: str, impl: str, device: torch.device, args) -> tuple[dict, pd.DataFrame]:
    """The step time of one network and the per-op table of one profiled training step."""
    torch.manual_seed(0)
    model = create_model(name, **({"eca_impl": impl} if impl != "-" else {}))
    amp = {"fp32": "none", "bf16": "bf16"}[args.precision]
    step, _ = prepare_step(model, args.batch_size, args.input_size, device, "train", amp, args.channels_last)
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.repeats):
        _sync(device)
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with marked_block_tails(), profile(activities=activities) as prof:
        step()
        _sync(device)
    label = name if impl == "-" else f"{name}[{impl}]"
    rows = []
    for event in prof.key_averages():
        kernel = "cuda" in str(getattr(event, "device_type", "")).lower()
        rows.append(
            {
                "network": label,
                "name": event.key,
                "kind": "kernel" if kernel else "op",
                "calls": event.count,
                "self_device_us": getattr(event, "self_device_time_total", 0.0),
                "device_us": getattr(event, "device_time_total", 0.0),
                "self_cpu_us": event.self_cpu_time_total,
                "cpu_us": event.cpu_time_total,
            }
        )
    used = "-" if impl == "-" else resolve_eca_impl(impl, torch.empty(1, 1, 1, 1, device=device), training=True)
    summary = {"network": label, "eca path run": used, "step ms (median)": 1e3 * statistics.median(times)}
    del model, step
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return summary, pd.DataFrame(rows)


def _md(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, floatfmt=".1f") if not frame.empty else "(none)"


def report(summaries: list[dict], ops: pd.DataFrame, device: torch.device, env: dict, args) -> str:
    """profile.md: the step times, each network's top ops and kernels, and the differences from ResNet-50."""
    time_col = "self_device_us" if device.type == "cuda" else "self_cpu_us"
    unit = "device (CUDA kernel)" if device.type == "cuda" else "CPU"
    lines = [
        "# One training step of ECA-ResNet-50 against ResNet-50",
        "",
        f"{env['device']}, torch {env['versions']['torch']}, commit {env.get('git_commit')}; batch {args.batch_size}, "
        f"{args.input_size} px, {args.precision}, {'channels-last' if args.channels_last else 'NCHW'}; "
        f"step times: median of {args.repeats} steps after {args.warmup} warm-up steps, outside the profiler. "
        f"Op times: {unit} time of one profiled step.",
        "",
        _md(pd.DataFrame(summaries)),
    ]
    tails = ops[(ops["name"] == "block tail")].set_index("network")
    if not tails.empty:
        column = "device_us" if device.type == "cuda" else "cpu_us"
        lines += ["", f"Forward of the block tails (`block tail` ranges), {unit} time:", ""]
        lines += [
            f"- {network}: {tails.loc[network, column] / 1e3:.2f} ms over {tails.loc[network, 'calls']} tails"
            for network in tails.index
        ]
    for summary in summaries:
        mine = ops[(ops["network"] == summary["network"]) & (ops["name"] != "block tail")]
        for kind in ("op", "kernel"):
            top = mine[mine["kind"] == kind].nlargest(TOP, time_col)[["name", "calls", time_col]]
            if kind == "kernel" and top.empty:
                continue
            lines += ["", f"## {summary['network']}: top {kind}s by self {unit} time (us)", "", _md(top)]
    base = summaries[0]["network"]
    per_op = ops[ops["kind"] == "op"].pivot_table(index="name", columns="network", values=time_col, aggfunc="sum")
    per_op = per_op.fillna(0.0)
    for summary in summaries[1:]:
        other = summary["network"]
        diff = (per_op[other] - per_op[base]).rename("extra us")
        table = pd.concat([per_op[base].rename(base), per_op[other].rename(other), diff], axis=1)
        table = table.drop(index="block tail", errors="ignore")
        total = diff.drop(index="block tail", errors="ignore").sum()
        lines += [
            "",
            f"## Where {other}'s extra time goes: ops by self {unit} time against {base} (us)",
            "",
            f"Sum over all ops: {total / 1e3:+.2f} ms per step. Largest differences:",
            "",
            _md(table.reindex(table["extra us"].abs().sort_values(ascending=False).index).head(TOP).reset_index()),
        ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--batch-size", type=int, default=256, help="default: the paper's, 256")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--precision", default="bf16", choices=("fp32", "bf16"))
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", required=True, help="folder for profile.md and profile.csv")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    impls = ["reference", "torch"] + (["triton"] if device.type == "cuda" and triton_available() else [])
    networks = [("resnet50", "-")] + [("eca_resnet50", impl) for impl in impls]
    summaries, tables = [], []
    for name, impl in networks:
        summary, ops = profile_network(name, impl, device, args)
        summaries.append(summary)
        tables.append(ops)
        print(f"{summary['network']:26s} {summary['step ms (median)']:9.2f} ms per training step")
    base = summaries[0]["step ms (median)"]
    for summary in summaries:
        summary["vs resnet50 (throughput)"] = base / summary["step ms (median)"]
    ops = pd.concat(tables, ignore_index=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ops.to_csv(out / "profile.csv", index=False)
    (out / "profile.md").write_text(report(summaries, ops, device, environment(device), args))
    print(f"wrote {out / 'profile.md'} and {out / 'profile.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
