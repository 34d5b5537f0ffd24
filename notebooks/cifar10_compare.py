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
# # CIFAR-10: comparing attention mechanisms
#
# Every complete CIFAR-10 run found in the result folders below (the committed `results/cifar10`
# and this build's `runs/cifar10`), grouped by folder, protocol, profile, data source and device,
# so that synthetic smoke runs and real runs are never mixed. For each
# mechanism: the mean and standard deviation of the curves over seeds (the reproduction's
# figure), the final accuracy with a 95 % confidence interval, and what the mechanism costs in
# parameters and training throughput relative to the plain network.

# %% tags=["parameters"]
# Parameters (papermill -p NAME VALUE)
results_dirs: str = "results/cifar10,runs/cifar10"  # comma-separated run folders: the committed ones, this build's
benchmarks_dir: str = "results/benchmarks/cifar10-speed"  # result folders of benchmarks/cifar10_speed.py

# %% tags=["remove-cell"]
from ecalib.params import check_parameters

check_parameters(globals(), ['results_dirs', 'benchmarks_dir'], booleans=[])

# %%
import matplotlib.pyplot as plt
import pandas as pd

from ecalib.params import as_list
from ecalib.reference import rc2020_cifar10_bands
from ecalib.reports.plots import band_plot
from ecalib.reports.runs import GROUP, collect_runs, summary_table

folders = as_list(results_dirs)
runs, history = collect_runs(*folders, task="cifar10")
print(f"{len(runs)} complete run(s) in {folders}")

# %% [markdown]
# ## Curves: mean and standard deviation over seeds

# %% tags=["remove-input"]
if runs.empty:
    print("No runs yet: train some with notebooks/cifar10.ipynb or `ecalib train cifar10`.")
for keys, group in history.groupby(GROUP, dropna=False):
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    band_plot(group, "test_top1", axes[0], "test top-1 (%)")
    band_plot(group, "test_loss", axes[1], "test loss (log scale)")
    axes[1].set_yscale("log")
    fig.suptitle("{}: protocol {}, profile {}, data: {}, device: {}".format(*keys))
    fig.tight_layout()
    plt.show()

# %% [markdown]
# ## Final accuracy, parameters and throughput per mechanism

# %% tags=["remove-input"]
summary = summary_table(runs) if not runs.empty else pd.DataFrame()
summary.set_index(GROUP + ["attention"]).round(3) if len(summary) else summary

# %% [markdown]
# ## Beside the reproduction
#
# The reproduction reported only the end of its 50-epoch `rc2020` runs, as ranges over all five
# mechanisms read from its figures. A `smoke` row is a two-epoch run on synthetic data: it checks
# that the pipeline works, and says nothing about CIFAR-10.

# %% tags=["remove-input"]
bands = pd.DataFrame(rc2020_cifar10_bands())
columns = ["results", "protocol", "profile", "data", "device", "attention", "runs", "top-1 mean", "loss mean"]
ours = summary[columns] if len(summary) else summary
display(bands)
display(ours.round(3))

# %% [markdown]
# ## Speed per mechanism (benchmark result folders)
#
# Training (forward, backward, SGD step) and inference images/s on synthetic 32x32 input, measured
# by `benchmarks/cifar10_speed.py`, and each mechanism's rate relative to the plain network on the
# same device. `study minutes` projects the whole protocol (5 mechanisms x seeds x epochs) at
# those rates on one device.

# %% tags=["remove-input"]
from ecalib.reports.runs import collect_speed_benchmarks

speed = collect_speed_benchmarks(benchmarks_dir)
if speed.empty:
    print(f"no benchmark results in {benchmarks_dir}")
else:
    columns = ["device", "protocol", "amp", "batch_size", "mechanism", "mode", "images_per_s", "vs none",
               "peak_memory_mb", "study minutes (projected)", "commit"]
    display(speed[columns].set_index(["device", "protocol", "amp", "batch_size", "mechanism", "mode"]).round(3))
