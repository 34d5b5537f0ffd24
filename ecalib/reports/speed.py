"""Speed results as the report reads them: each mechanism's throughput and memory against its plain backbone,
and beside the paper's Table 3.

The files of a bench result folder and the columns of its ``results.csv`` are described in
:mod:`ecalib.bench_results`.

A GPU Table 3 folder has ``params.json`` ``suite == "table3"`` and ``profile == "full"``, and
``device_type == "cuda"`` in its rows (``env.json``'s ``cuda`` is set); the CPU smoke check has
``profile == "smoke"`` and ``device_type == "cpu"``. :func:`is_table3_gpu` tells them apart.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ecalib.bench_results import folder_rows, read_result_folder
from ecalib.reference import reference_metrics

# Table 3's images/s were measured on 4 RTX 2080 Ti (the paper's Table 3 header and Sec. 4.1)
PAPER_GPUS, PAPER_GPU = 4, "RTX 2080 Ti"
# Table 3 rows: backbone name and method names of the paper for each mechanism
PAPER_ROWS = {
    "resnet50": ("ResNet-50", {"none": "ResNet", "se": "SENet", "cbam": "CBAM", "eca": "ECA-Net"}),
    "resnet101": ("ResNet-101", {"none": "ResNet", "se": "SENet", "cbam": "CBAM", "eca": "ECA-Net"}),
    "resnet152": ("ResNet-152", {"none": "ResNet", "se": "SENet", "eca": "ECA-Net"}),
    "mobilenet_v2": ("MobileNetV2", {"none": "MobileNetV2", "se": "SE (r=8)", "eca": "ECA-Net"}),
}
# ECA-ResNet-50 against ResNet-50 on one GPU: training and inference throughput at least these
# fractions of the plain network's, peak memory at most this multiple of it
SPEED_GOALS = {"train": 0.95, "infer": 0.98, "memory": 1.03}

PAPER_INPUT_SIZE = 224  # Table 3's networks took 224 x 224 images

SETTING = ["backbone", "precision", "compile", "channels_last", "batch_size", "input_size", "mode"]
PROVENANCE = ["folder", "device", "device_type", "suite", "profile", "commit"]


def paper_speed_ratios() -> pd.DataFrame:
    """Table 3's train/inference FPS of each mechanism divided by its plain backbone's."""
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


def paper_ratio_table() -> pd.DataFrame:
    """Table 3's ratios to the plain backbone, one row per backbone and mechanism, a column per mode."""
    paper = paper_speed_ratios()
    return paper[paper["mechanism"] != "none"].pivot_table(
        index=["backbone", "mechanism"], columns="mode", values="paper vs none"
    )


RATIO_KEYS = ["device", "backbone", "precision", "compile", "batch_size", "input_size", "mode"]


def ratio_table(results: pd.DataFrame) -> pd.DataFrame:
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


def is_table3_gpu(folder: str | Path) -> bool:
    """Whether ``folder`` is a finished full-size ``table3`` run on a GPU (not the CPU smoke check)."""
    found = read_result_folder(folder)
    params, budget = found["params"], found["budget"] or {}
    return (
        params.get("suite") == "table3"
        and params.get("profile") == "full"
        and found["env"].get("cuda") is not None
        and budget.get("status") == "complete"
    )


def mechanism_ratios(source) -> pd.DataFrame:
    """Each network's images/s and peak memory divided by its plain backbone's under the same setting.

    ``source``: a bench result folder, or rows of several (:func:`ecalib.bench_results.load_results`).
    One row per network, setting and folder, with ``ratio`` and its 95 % interval
    (``ratio_ci_low``/``ratio_ci_high``: paired rounds where the folder has them, else the quotient of
    the medians, without an interval), ``memory_ratio``, the plain network's ``base_images_per_s``
    and the paper's Table 3 ratio (``paper_ratio``; NaN where the paper has none). Networks whose
    plain backbone was not measured in the same folder and setting are left out.
    """
    rows = folder_rows(source) if isinstance(source, (str, Path)) else source
    if rows.empty:
        return pd.DataFrame()
    keys = PROVENANCE + SETTING
    base = rows[rows["mechanism"] == "none"][[*keys, "images_per_s", "peak_memory_mb"]]
    base = base.rename(columns={"images_per_s": "base_images_per_s", "peak_memory_mb": "base_memory_mb"})
    table = rows.merge(base, on=keys, how="inner")
    quotient = table["images_per_s"] / table["base_images_per_s"]
    paired = table["vs none (paired)"] if "vs none (paired)" in table else pd.Series(float("nan"), index=table.index)
    table["ratio"] = paired.fillna(quotient)
    for end in ("low", "high"):
        column = f"vs none ci_{end}"
        table[f"ratio_ci_{end}"] = table[column] if column in table else float("nan")
    table["memory_ratio"] = table["peak_memory_mb"] / table["base_memory_mb"]
    paper = paper_speed_ratios().rename(columns={"paper vs none": "paper_ratio"})
    table = table.merge(
        paper[["backbone", "mechanism", "mode", "paper_ratio"]], on=["backbone", "mechanism", "mode"], how="left"
    )
    columns = [*PROVENANCE, *SETTING, "mechanism", "model", "eca_impl", "eca_impl_used", "images_per_s",
               "base_images_per_s", "ratio", "ratio_ci_low", "ratio_ci_high", "memory_ratio", "memory_kind",
               "paper_ratio"]  # fmt: skip
    return table[[c for c in columns if c in table]].reset_index(drop=True)


def goal_check(ratios: pd.DataFrame) -> pd.DataFrame:
    """ECA-ResNet-50's GPU rows of :func:`mechanism_ratios` against ``SPEED_GOALS``: ``meets_goal``
    when the throughput ratio reaches the mode's goal and the memory ratio stays within its goal (no rows
    without measurements)."""
    if ratios.empty:
        return pd.DataFrame()
    eca = ratios[
        (ratios["backbone"] == "resnet50") & (ratios["mechanism"] == "eca") & (ratios["device_type"] == "cuda")
    ]
    eca = eca.assign(goal=eca["mode"].map(SPEED_GOALS), memory_goal=SPEED_GOALS["memory"])
    return eca.assign(meets_goal=(eca["ratio"] >= eca["goal"]) & (eca["memory_ratio"] <= eca["memory_goal"]))


def table3_comparison(ratios: pd.DataFrame) -> pd.DataFrame:
    """Table 3's ratios beside the measured ones (``ratios``: :func:`mechanism_ratios`), for the speed chapter's
    figure: ``backbone, mechanism, mode, ratio, source``. Measured rows are the paper's networks at its input
    size with ECA as it runs by default (``eca_impl`` auto), one source per measurement session (device,
    precision, compile mode, batch, folder)."""
    paper = paper_speed_ratios()
    paper = paper[paper["mechanism"] != "none"]
    parts = [paper.assign(ratio=paper["paper vs none"], source=f"paper, {PAPER_GPUS}x {PAPER_GPU}")]
    if not ratios.empty:
        measured = ratios[
            (ratios["input_size"] == PAPER_INPUT_SIZE)
            & (ratios["mechanism"] != "none")
            & ratios["backbone"].isin(set(paper["backbone"]))
            & ratios["eca_impl"].isin(["auto", "-"])
        ]
        for (device, precision, compile_mode, batch, folder), session in measured.groupby(
            ["device", "precision", "compile", "batch_size", "folder"]
        ):
            label = f"measured: {device} {precision} {compile_mode} batch {batch} ({folder.split('-')[0]})"
            parts.append(session.assign(source=label))
    return pd.concat(parts, ignore_index=True)[["backbone", "mechanism", "mode", "ratio", "source"]]
