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
    # %pip install -q -e ".[train,coco,figures]"
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    print("device:", gpu or "CPU (Runtime > Change runtime type adds a GPU)")

# %% [markdown]
# # Speed, appendix: CPU measurements, fused ECA, projections
#
# The details behind the {doc}`speed` chapter: every committed `ecalib bench` measurement in full,
# the wall time of the ImageNet recipe projected from those rates, ECA's fused implementations, the
# measurement behind the implementation `auto` runs, and throughput against batch size and
# resolution. The committed measurements are from CPUs (see each table's source): they show the
# method and the code paths, not GPU speed.

# %% tags=["parameters"]
# Parameters (papermill -p NAME VALUE)
results_dir: str = "results/benchmarks/speed"  # folders written by `ecalib bench`
tail_results_dir: str = "results/benchmarks/eca-block-tail"  # folders of benchmarks/eca_block_tail.py
auto_results_dir: str = "results/benchmarks/eca-auto"  # the interleaved measurements behind ECA's auto

# %% tags=["remove-cell"]
from ecalib.params import check_parameters

check_parameters(globals())

# %% tags=["remove-cell"]
import pandas as pd

from ecalib.bench_results import load_results
from ecalib.reports.compute import IMAGENET_TRAIN_IMAGES, projected_recipe_hours
from ecalib.reports.figures import Figure, curves, endpoint_plot
from ecalib.reports.glue import glue
from ecalib.reports.speed import ratio_table
from ecalib.reports.tables import captioned

DEVICE_COUNTS = (1, 8, 64)
glue("imagenet_train_images", f"{IMAGENET_TRAIN_IMAGES:,}")
glue("projection_devices", ", ".join(map(str, DEVICE_COUNTS[:-1])) + f" and {DEVICE_COUNTS[-1]}")
results = load_results(results_dir)
table = ratio_table(results) if not results.empty else pd.DataFrame()

# %% [markdown]
# ## Every committed measurement

# %% tags=["remove-input"]
if table.empty:
    print(f"No result folders in {results_dir} yet: run `ecalib bench`.")
else:
    for folder, group in table.groupby("folder"):
        view = group.set_index(["backbone", "batch_size", "input_size", "mode", "mechanism"])
        display(
            captioned(
                view[["images_per_s", "vs none", "paper vs none", "memory vs none"]],
                f"Images/s and ratios to the plain network, {group['device'].iloc[0]}, "
                f"{group['precision'].iloc[0]} {group['compile'].iloc[0]}",
                f"ecalib bench result folder {folder} (commit {group['commit'].iloc[0]})",
                digits=3,
            )
        )

# %% [markdown]
# ## The ImageNet recipe's wall time, projected
#
# The recipe's 100 epochs of {glue:text}`imagenet_train_images` images at each measured training
# rate, on {glue:text}`projection_devices` such devices with perfect scaling (an upper bound on
# speed). The committed rates are CPU rates, so these hours show the method and how far a CPU is
# from the job, nothing more.

# %% tags=["remove-input"]
if not table.empty:
    train = table[(table["mode"] == "train") & (table["backbone"] == "resnet50") & (table["input_size"] == 224)]
    rows = [
        {
            "device": r.device,
            "model": r.model,
            "precision": r.precision,
            "batch": r.batch_size,
            **{f"{n} device(s), h": projected_recipe_hours(r.images_per_s, n) for n in DEVICE_COUNTS},
        }
        for r in train.itertuples()
    ]
if table.empty or not rows:
    print(f"No ResNet-50 training rate at 224 px in {results_dir} yet: nothing to project.")
else:
    display(
        captioned(
            pd.DataFrame(rows).set_index(["device", "model", "precision", "batch"]),
            "Projected hours for the 100-epoch ImageNet recipe at the measured training rate",
            f"ecalib.reports.compute.projected_recipe_hours on the result folders in {results_dir}",
            digits=0,
        )
    )

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
    view = tails.pivot_table(
        index=["device", "dtype", "mode", "stage", "batch_size"], columns="variant", values="vs plain"
    )
    display(
        captioned(
            view,
            "Cost of each tail relative to the plain tail relu(x + r) under the same settings (1.0 = free)",
            f"benchmarks/eca_block_tail.py result folders in {tail_results_dir}",
            digits=2,
        )
    )

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
        rows.append(
            {
                "device type": device_type,
                "mode": mode,
                "auto runs": impl,
                **{
                    f"{k} vs torch": f"{m:.3f} ({lo:.3f}-{hi:.3f})" for k, (m, lo, hi) in speeds.items() if k != "torch"
                },
                "paired rounds": found["paired rounds"] if found else 0,
                "outside noise": found["clear"] if found else None,
                "evidence": ", ".join(found["folders"]) if found else evidence,
            }
        )
display(
    captioned(
        pd.DataFrame(rows).set_index(["device type", "mode"]),
        "The implementation `auto` runs per device type and mode, and the paired measurement behind it",
        "ecalib/layers/eca_auto.json",
    )
)

# %% tags=["remove-input"]
auto_rows = load_results(auto_results_dir)
if auto_rows.empty:
    print(f"No result folders in {auto_results_dir}.")
else:
    eca = auto_rows[auto_rows["mechanism"] == "eca"]
    intervals = eca.assign(
        entry=[f"{r.model} [{r.eca_impl_used}] {r.mode}, b{r.batch_size} {r.input_size}px" for r in eca.itertuples()]
    ).set_index("entry")
    display(
        endpoint_plot(
            intervals,
            "vs none (paired)",
            "vs none ci_low",
            "vs none ci_high",
            reference=None,
            label="images/s vs plain ResNet-50, same rounds (median, 95 % interval)",
            name="eca-auto",
            caption=f"{eca['device'].iloc[0]}, interleaved rounds (result folders in {auto_results_dir})",
        )
    )

# %% [markdown]
# The Triton kernels are compiled ahead of time for Hopper (`sm_90`) by this build, with Triton's
# own `ptxas`, so their register and shared-memory budgets are known even without a GPU:

# %% tags=["remove-input"]
try:
    from ecalib.layers.eca_triton import compile_for_gpu
except ImportError as error:  # e.g. Binder's CPU-only PyTorch has no Triton
    print(f"Triton is not installed here ({error}); the report needs it.")
else:
    display(
        captioned(
            pd.DataFrame(compile_for_gpu(90, "bf16") + compile_for_gpu(90, "fp32")).set_index(["kernel", "dtype"]),
            "Registers and shared memory of the Triton kernels compiled for sm_90",
            "compiled in this build with Triton's ptxas",
        )
    )

# %% [markdown]
# ## Scaling: batch size and resolution
#
# How throughput grows with the batch and the input resolution for the plain network, SE and ECA,
# from the result folders that timed more than one batch size or resolution.

# %% tags=["remove-input"]
if not table.empty:
    table["label"] = table["mechanism"] + table["eca_impl_used"].map(lambda u: "" if u == "-" else f" ({u})")
    for axis, other in (("batch_size", "input_size"), ("input_size", "batch_size")):
        keys = ["device", "backbone", "precision", "compile", "mode", other, "folder"]  # one session per plot
        studies = [(k, g) for k, g in table.groupby(keys) if g[axis].nunique() > 1]
        if not studies:
            print(f"No committed study varies {axis} yet.")
        for k, g in studies:
            title = f"{k[1]} {k[4]} | {k[2]} {k[3]} | {other.replace('_', ' ')} {k[5]} | {k[0]}"
            chart = curves(
                g.sort_values(axis),
                axis,
                "images_per_s",
                "label",
                x_title=axis.replace("_", " "),
                y_title="images/s",
                colours={},
                width=420,
                height=180,
                title=title,
            )
            display(Figure(chart, f"scaling-{axis}", f"{title} (result folder {k[6]})"))
