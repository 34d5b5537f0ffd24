"""The result folders of ``ecalib bench`` and of the scripts of ``benchmarks/``: writing and reading them.

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

import json
from pathlib import Path


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


def device_type(device_label: str) -> str:
    """``cpu`` or ``cuda`` from a bench row's device description (e.g. ``cpu x86-64 2 threads``)."""
    return "cpu" if str(device_label).lower().startswith("cpu") else "cuda"
