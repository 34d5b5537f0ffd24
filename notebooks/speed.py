# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: kernelspec,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["remove-cell"]
import sys

if "google.colab" in sys.modules:  # Colab: the repository (results, reference data) and ecalib, then the GPU
    # !git clone -q --depth 1 https://github.com/ecalib/ecalib /content/ecalib 2>/dev/null || true
    # %cd -q /content/ecalib
    # %pip install -q -e ".[train,coco]"
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    print("device:", gpu or "CPU (Runtime > Change runtime type adds a GPU)")

# %% [markdown]
# # Speed: what attention costs in images per second
#
# **The question.** How much throughput does each attention mechanism cost its backbone?
# The paper sells ECA as nearly free, yet its own Table 3 shows ECA-Net50 training at
# {glue:text}`paper_eca50_train_fps` images/s against ResNet-50's {glue:text}`paper_r50_train_fps`
# on 4 RTX 2080Ti ({glue:text}`paper_eca50_train_ratio` of the plain network's rate; inference:
# {glue:text}`paper_eca50_infer_ratio`). Absolute rates depend on the hardware, so this chapter
# compares ratios: each mechanism's throughput divided by its plain backbone's under identical
# settings. It renders every result folder written by `ecalib bench` (committed under
# `results/benchmarks/speed/`, each with its device, versions and commit); nothing is measured
# while the book builds.

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_opening

chapter_opening("speed")

# %% tags=["parameters"]
# Parameters (papermill -p NAME VALUE)
results_dir: str = "results/benchmarks/speed"  # folders written by `ecalib bench`
tail_results_dir: str = "results/benchmarks/eca-block-tail"  # folders of benchmarks/eca_block_tail.py
auto_results_dir: str = "results/benchmarks/eca-auto"  # the interleaved measurements behind ECA's auto

# %% tags=["remove-cell"]
from ecalib.params import check_parameters

check_parameters(globals(), ['results_dir', 'tail_results_dir', 'auto_results_dir'], booleans=[])

# %% tags=["remove-cell"]
import matplotlib.pyplot as plt
import pandas as pd

from ecalib.benchmark import (
    IMAGENET_TRAIN_IMAGES,
    load_results,
    paper_speed_ratios,
    projected_recipe_hours,
    ratio_table,
)
from ecalib.reports.glue import glue

DEVICE_COUNTS = (1, 8, 64)
glue("imagenet_train_images", f"{IMAGENET_TRAIN_IMAGES:,}")
glue("projection_devices", ", ".join(map(str, DEVICE_COUNTS[:-1])) + f" and {DEVICE_COUNTS[-1]}")

# %% [markdown]
# ## Run it yourself
#
# `ecalib bench` writes a result folder (device, versions, commit) that this chapter renders; commit
# it under `results/benchmarks/speed/`:
#
# ```bash
# ecalib bench --backbones resnet50 mobilenet_v2 --mechanisms none se cbam eca --precision fp32 bf16 \
#     --compile-modes eager compile --device cuda
# papermill notebooks/speed.ipynb out.ipynb -p results_dir results/benchmarks/speed
# ```

# %% [markdown]
# ## The paper's Table 3, as ratios

# %% tags=["remove-input"]
paper = paper_speed_ratios()
r50 = paper[paper["backbone"] == "resnet50"].set_index(["mechanism", "mode"])
glue("paper_eca50_train_fps", f"{r50.loc[('eca', 'train'), 'paper images/s']:.0f}")
glue("paper_r50_train_fps", f"{r50.loc[('none', 'train'), 'paper images/s']:.0f}")
glue("paper_eca50_train_ratio", f"{r50.loc[('eca', 'train'), 'paper vs none']:.1%}")
glue("paper_eca50_infer_ratio", f"{r50.loc[('eca', 'infer'), 'paper vs none']:.1%}")
display(paper.pivot_table(index=["backbone", "mechanism"], columns="mode", values="paper vs none").round(3))
print("Source: paper Table 3 (train and inference FPS on 4x RTX 2080Ti), divided by the plain backbone's.")

# %% [markdown]
# ## Measured here

# %% tags=["remove-input"]
results = load_results(results_dir)
if results.empty:
    print(f"No result folders in {results_dir} yet: run `ecalib bench` (see the README).")
else:
    table = ratio_table(results)
    view = table.set_index(["device", "backbone", "precision", "compile", "batch_size", "input_size", "mode",
                            "mechanism", "eca_impl_used"])
    display(view[["images_per_s", "vs none", "paper vs none", "peak_memory_mb", "memory vs none", "commit"]].round(3))

# %% tags=["remove-input"]
if not results.empty:
    table["label"] = table["mechanism"] + table["eca_impl_used"].map(lambda u: "" if u == "-" else f" ({u})")
    native = table[table["input_size"] == table["backbone"].map(lambda b: 32 if b.endswith("cifar") else 224)]
    groups = list(native.groupby(["folder", "device", "backbone", "precision", "compile", "batch_size"]))
    fig, axes = plt.subplots(len(groups), 1, figsize=(8, 2.8 * len(groups)), squeeze=False)
    for ax, (keys, group) in zip(axes[:, 0], groups):
        pivot = group.pivot_table(index="label", columns="mode", values=["vs none", "paper vs none"])
        pivot.plot.barh(ax=ax)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xlabel("throughput relative to the plain network")
        ax.set_ylabel("")
        ax.set_title("{1} | {2} | {3} {4} | batch {5}\n{0}".format(*keys), fontsize="small")
        ax.legend(fontsize="x-small")
    fig.tight_layout()

# %% [markdown]
# ## The ImageNet recipe's wall time, projected
#
# The recipe's 100 epochs of {glue:text}`imagenet_train_images` images at the measured training
# rate of each device, on {glue:text}`projection_devices` of them, assuming perfect scaling (an upper bound on
# speed). CPU rows are there to show the method.

# %% tags=["remove-input"]
if not results.empty:
    train = table[(table["mode"] == "train") & (table["backbone"] == "resnet50")]
    rows = [{"device": r.device, "model": r.model, "precision": r.precision, "compile": r.compile,
             **{f"{n} device(s), hours": projected_recipe_hours(r.images_per_s, n) for n in DEVICE_COUNTS}}
            for r in train.itertuples()]
    display(pd.DataFrame(rows).round(1))

# %% [markdown]
# ## The goals for ECA-ResNet-50 on one H100
#
# ECA's theoretical cost is one extra read of each activation (for the pooling). The targets:
# training at least 0.95x plain ResNet-50's throughput (the paper: 0.77x), inference at least
# 0.98x (the paper: 0.97x), at most 3 % more peak memory. The check below reads the committed
# GPU result folders; it says so when there are none.

# %% tags=["remove-input"]
goals = {"train": 0.95, "infer": 0.98}
gpu = table[(table["backbone"] == "resnet50") & (table["mechanism"] == "eca")
            & ~table["device"].str.startswith("CPU")] if not results.empty else pd.DataFrame()
if gpu.empty:
    print("Not measured: no GPU result folder for ResNet-50 is committed yet (this build ran without a GPU).")
else:
    gpu = gpu.assign(goal=gpu["mode"].map(goals), memory_goal=1.03)
    gpu["meets goal"] = (gpu["vs none"] >= gpu["goal"]) & (gpu["memory vs none"] <= gpu["memory_goal"])
    display(gpu[["device", "precision", "compile", "batch_size", "eca_impl_used", "mode", "vs none", "goal",
                 "memory vs none", "meets goal", "commit"]].round(3))

# %% [markdown]
# ## Fast ECA: the end of a residual block, alone
#
# `ecalib` computes ECA three ways, all the same function up to rounding (tested, forward and
# gradients, fp32 and bf16): `reference` (the official module's operations), `torch` (the
# rescale fused with the residual add into one `addcmul`, which `torch.compile` traces without a
# graph break), and `triton` (CUDA kernels: pooling, 1-D convolution and sigmoid in one kernel;
# rescale, residual add and ReLU in a second; a two-pass backward). `auto` runs, per device type
# and for training or inference, the one measured fastest (next section). The table times
# `relu(x + r)` (the plain ResNet tail, the floor)
# against ECA's tail at ResNet-50's four stage shapes, from the committed
# `benchmarks/eca_block_tail.py` result folders.

# %% tags=["remove-input"]
tails = load_results(tail_results_dir)
if tails.empty:
    print(f"No result folders in {tail_results_dir}: run benchmarks/eca_block_tail.py.")
else:
    view = tails.pivot_table(index=["device", "dtype", "mode", "stage", "batch_size"], columns="variant",
                             values="vs plain")
    display(view.round(2))
    print("Cost relative to the plain tail relu(x + r) under the same settings (1.0 = free).")

# %% [markdown]
# ## Which path `auto` runs, and the measurement behind it
#
# `auto` is a measured choice, not a guess: `ecalib/layers/eca_auto.json` names the implementation
# for each device type and mode, and `tools/update_eca_auto.py` derives it from committed
# `ecalib bench` folders in which the implementations were timed interleaved (every round times
# each model once, in a fresh random order). The ratios below pair the rounds: each is an
# implementation's images/s over the fused `torch` path's in the same round, as a median with a
# 95 % bootstrap interval. A device type without a committed measurement says so.

# %% tags=["remove-input"]
from ecalib.layers.eca import auto_policy

policy = auto_policy()
rows = []
for device_type, modes in policy["choices"].items():
    evidence = policy["evidence"].get(device_type)
    for mode, impl in modes.items():
        found = evidence.get(mode) if isinstance(evidence, dict) else None
        speeds = found["speed vs torch (median, 95% interval)"] if found else {}
        rows.append({
            "device type": device_type, "mode": mode, "auto runs": impl,
            **{f"{k} vs torch": f"{m:.3f} ({lo:.3f}-{hi:.3f})" for k, (m, lo, hi) in speeds.items() if k != "torch"},
            "paired rounds": found["paired rounds"] if found else 0,
            "outside noise": found["clear"] if found else None,
            "evidence": ", ".join(found["folders"]) if found else evidence,
        })
display(pd.DataFrame(rows).set_index(["device type", "mode"]))

# %% tags=["remove-input"]
auto_rows = load_results(auto_results_dir)
if auto_rows.empty:
    print(f"No result folders in {auto_results_dir}.")
else:
    eca = auto_rows[auto_rows["mechanism"] == "eca"]
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.5 * len(eca)))
    labels = [f"{r.model} [{r.eca_impl_used}] {r.mode}, b{r.batch_size} {r.input_size}px" for r in eca.itertuples()]
    ratio = eca["vs none (paired)"].to_numpy()
    err = [ratio - eca["vs none ci_low"].to_numpy(), eca["vs none ci_high"].to_numpy() - ratio]
    ax.errorbar(ratio, range(len(eca)), xerr=err, fmt="o", capsize=3)
    ax.set_yticks(range(len(eca)), labels, fontsize="small")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("images/s relative to plain ResNet-50 in the same rounds (median, 95 % interval)")
    ax.set_title(f"{eca['device'].iloc[0]}, interleaved rounds", fontsize="small")
    fig.tight_layout()

# %% [markdown]
# The Triton kernels are compiled ahead of time for Hopper (`sm_90`) by this build, with Triton's
# own `ptxas`, so their register and shared-memory budgets are known even without a GPU:

# %% tags=["remove-input"]
try:
    from ecalib.layers.eca_triton import compile_for_gpu
except ImportError as error:  # e.g. Binder's CPU-only PyTorch has no Triton
    print(f"Triton is not installed here ({error}); the report needs it.")
else:
    display(pd.DataFrame(compile_for_gpu(90, "bf16") + compile_for_gpu(90, "fp32")).set_index(["kernel", "dtype"]))

# %% [markdown]
# ## Scaling: batch size and resolution
#
# How throughput grows with the batch and the input resolution for the plain network, SE and ECA,
# from the result folders that timed more than one batch size or resolution.

# %% tags=["remove-input"]
if not results.empty:
    grid = table
    for axis, other in (("batch_size", "input_size"), ("input_size", "batch_size")):
        keys = ["device", "backbone", "precision", "compile", "mode", other, "folder"]  # one session per plot
        studies = [(k, g) for k, g in grid.groupby(keys) if g[axis].nunique() > 1]
        if not studies:
            print(f"No committed study varies {axis} yet.")
            continue
        fig, axes = plt.subplots(1, len(studies), figsize=(4.2 * len(studies), 3.2), squeeze=False)
        for ax, (k, g) in zip(axes[0], studies):
            for label, line in g.sort_values(axis).groupby("label"):
                ax.plot(line[axis], line["images_per_s"], marker="o", label=label)
            ax.set_xlabel(axis.replace("_", " "))
            ax.set_ylabel("images/s")
            ax.set_title(f"{k[1]} {k[4]} | {k[2]} {k[3]} | {other.replace('_', ' ')} {k[5]}\n{k[0]}", fontsize="small")
            ax.legend(fontsize="x-small")
        fig.tight_layout()
        plt.show()


# %% [markdown]
# ## What the evidence says

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_closing

chapter_closing("speed")
