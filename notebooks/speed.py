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

# %% tags=["remove-cell"]
from ecalib.params import check_parameters

check_parameters(globals())

# %% tags=["remove-cell"]
# %% [markdown]
# ## Run it yourself
#
# One command times what the paper's Table 3 compares: ResNet-50 and ResNet-101 without attention and
# with SE, CBAM and ECA, and MobileNetV2 without and with ECA; training and inference at the paper's
# batch sizes, fp32 and bf16, eager and `torch.compile`, ECA's reference and automatic paths,
# channels-last. It fits the measurement into a time budget and lists what did not fit:
#
# ```bash
# ecalib bench --suite table3 --budget 8m
# ```
#
# That is for a GPU; `--profile smoke --device cpu` is a one-minute check of the same suite on a CPU.
# It writes `runs/benchmarks/speed/<UTC time>-<device>/`: `results.csv` (images/s, the ratio to the
# plain network in the same rounds, peak memory), `dropped.csv` (the rows left out, and why),
# `budget.json`, `params.json` and `env.json` (GPU, driver, CUDA, cuDNN, versions, commit).
#
# **On Colab** (Runtime > Change runtime type > a GPU), the next cell runs it, adds the folder to this
# page's results (run the cells below again to see it) and downloads it as a zip. To contribute it,
# unzip it into `results/benchmarks/speed/` of a clone of the repository and open a pull request with
# that folder alone: the tables and the verdict on this page are computed from the folders there.
# %% tags=["hide-input"]
import os
import shutil
from pathlib import Path

import torch

from ecalib.bench_results import load_results
from ecalib.reports.figures import speed_ratios
from ecalib.reports.glue import glue
from ecalib.reports.speed import (
    SPEED_GOALS,
    goal_check,
    mechanism_ratios,
    paper_ratio_table,
    paper_speed_ratios,
    table3_comparison,
)
from ecalib.reports.tables import captioned

# Runs on Colab's GPU; elsewhere only with ECALIB_RUN_TABLE3=1 (so that building the book never runs it).
if torch.cuda.is_available() and ("google.colab" in sys.modules or os.environ.get("ECALIB_RUN_TABLE3") == "1"):
    from ecalib.cli import main

    gpu_gib = torch.cuda.get_device_properties(0).total_memory / 2**30
    # The paper's batch of 256 was spread over 4 GPUs: a GPU under 40 GiB takes their 64 per GPU instead.
    smaller = ["--set", "batch_size=[64]"] if gpu_gib < 40 else []
    assert main(["bench", "--suite", "table3", "--budget", "8m", *smaller]) == 0
    folder = max(Path("runs/benchmarks/speed").iterdir())  # the newest: folders are named by UTC time
    shutil.copytree(folder, Path(results_dir) / folder.name)
    archive = shutil.make_archive(folder.name, "zip", folder.parent, folder.name)
    print(f"{folder} -> {results_dir}/{folder.name}; zipped as {archive}")
    if "google.colab" in sys.modules:
        from google.colab import files

        files.download(archive)
else:
    print("Not run: no Colab GPU here.")

# %% [markdown]
# ## The paper's Table 3, as ratios
#
# Each mechanism's images/s divided by its plain backbone's, from the paper's own Table 3 (4 RTX
# 2080Ti), with the ratios measured here beside them where a result folder has them (hover a dot for
# its value, click a legend entry to isolate a source).

# %% tags=["remove-input"]
paper = paper_speed_ratios()
r50 = paper[paper["backbone"] == "resnet50"].set_index(["mechanism", "mode"])
glue("paper_eca50_train_fps", f"{r50.loc[('eca', 'train'), 'paper images/s']:.0f}")
glue("paper_r50_train_fps", f"{r50.loc[('none', 'train'), 'paper images/s']:.0f}")
glue("paper_eca50_train_ratio", f"{r50.loc[('eca', 'train'), 'paper vs none']:.1%}")
glue("paper_eca50_infer_ratio", f"{r50.loc[('eca', 'infer'), 'paper vs none']:.1%}")
ratios = mechanism_ratios(load_results(results_dir))
display(speed_ratios(table3_comparison(ratios), caption="Throughput relative to the plain network: the paper's "
                     "Table 3 and this repository's measurements (result folders under " + results_dir + ")"))
display(captioned(paper_ratio_table(), "Training and inference images/s relative to the plain backbone",
                  "paper Table 3 (FPS on 4x RTX 2080Ti), divided by the plain backbone's"))

# %% [markdown]
# ## The GPU measurement
#
# ECA's theoretical cost is one extra read of each activation (for the pooling). The targets for
# ECA-ResNet-50 on one H100: training at least {glue:text}`speed_goal_train` of plain ResNet-50's
# throughput (the paper: {glue:text}`paper_eca50_train_ratio`), inference at least
# {glue:text}`speed_goal_infer` (the paper: {glue:text}`paper_eca50_infer_ratio`), at most
# {glue:text}`speed_goal_memory` more peak memory. The check reads the committed GPU result folders and
# says so when there are none.

# %% tags=["remove-input"]
glue("speed_goal_train", f"{SPEED_GOALS['train']:.0%}")
glue("speed_goal_infer", f"{SPEED_GOALS['infer']:.0%}")
glue("speed_goal_memory", f"{SPEED_GOALS['memory'] - 1:.0%}")
checked = goal_check(ratios)
if checked.empty:
    devices = sorted(set(ratios["device"])) if not ratios.empty else []
    print("Not measured: no GPU result folder for ResNet-50 is committed yet (this book is built without a GPU). "
          f"Committed measurements: {', '.join(devices) or 'none'}; they are on the appendix page, with the fused "
          "ECA kernels and the projections.")
else:
    shown = ["device", "precision", "compile", "mode", "input_size", "batch_size", "eca_impl_used", "ratio", "goal",
             "memory_ratio", "memory_goal", "meets_goal"]
    display(captioned(checked[shown].set_index(["device", "precision", "compile", "mode", "input_size"]),
                      "ECA-ResNet-50 against the goals on GPU", f"ecalib bench result folders in {results_dir} "
                      f"(commits {', '.join(sorted(set(checked['commit'])))})"))

# %% [markdown]
# The measurements on CPUs, the fused ECA implementations (Triton kernels, the block's tail alone),
# which implementation `auto` runs and why, scaling with batch and resolution, and the wall time of
# the ImageNet recipe projected from measured rates are on the {doc}`speed_appendix` page.

# %% [markdown]
# ## What the evidence says

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_closing

chapter_closing("speed")
