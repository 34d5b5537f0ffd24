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
# **The question.** Over several seeds, does any attention mechanism end above the plain ResNet-18
# on CIFAR-10, by more than the seeds disagree, and at what cost in parameters and speed? The
# reference is the 2020 reproduction
# ([RC2020](https://github.com/digantamisra98/Reproducibilty-Challenge-ECANET)); beside it, every
# complete run found in the result folders, grouped by folder, protocol, profile, data source and
# device, so that synthetic smoke runs and real runs are never mixed.

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_opening

chapter_opening("cifar10_compare")

# %% tags=["parameters", "hide-input"]
# Parameters (papermill -p NAME VALUE)
results_dirs: str = "results/cifar10,runs/cifar10"  # comma-separated run folders: the committed ones, this build's
benchmarks_dir: str = "results/benchmarks/cifar10-speed"  # result folders of benchmarks/cifar10_speed.py

# %% tags=["remove-cell"]
from ecalib.params import check_parameters

check_parameters(globals(), ['results_dirs', 'benchmarks_dir'], booleans=[])

# %% tags=["remove-cell"]
import matplotlib.pyplot as plt
import pandas as pd

from ecalib.params import as_list
from ecalib.reference import rc2020_cifar10_bands
from ecalib.reports.plots import band_plot
from ecalib.reports.runs import GROUP, collect_runs, summary_table

folders = as_list(results_dirs)
runs, history = collect_runs(*folders, task="cifar10")
synthetic = runs["data"].str.startswith("synthetic") if len(runs) else pd.Series(dtype=bool)
real_runs, smoke_runs = (runs[~synthetic], runs[synthetic]) if len(runs) else (runs, runs)
real_history = history[history["run"].isin(real_runs["run"])] if len(history) else history
smoke_history = history[history["run"].isin(smoke_runs["run"])] if len(history) else history


def plot_groups(history):
    """One figure per group of runs: the mean and standard deviation over seeds of each mechanism."""
    for keys, group in history.groupby(GROUP, dropna=False):
        fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), layout="constrained")
        band_plot(group, "test_top1", axes[0], "test top-1 (%)", legend=False)
        band_plot(group, "test_loss", axes[1], "test loss (log scale)", legend=False)
        axes[1].set_yscale("log")
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize="small")
        fig.suptitle("{}: protocol {}, profile {}, data: {}, device: {}".format(*keys))
        plt.show()


def mechanism_table(runs):
    columns = ["results", "protocol", "profile", "data", "device", "attention", "runs", "top-1 mean",
               "top-1 std", "top-1 95% CI", "loss mean", "params overhead %", "throughput vs none"]
    table = summary_table(runs)
    return table[[c for c in columns if c in table]].set_index(GROUP + ["attention"]).round(3)


# %% [markdown]
# ## The reference: RC2020's curves, digitised
#
# RC2020 published its 50-epoch `rc2020` runs (5 seeds per mechanism) only as two W&B charts: test
# top-1 and test loss per epoch, the mean over the seeds with a shaded band. `ecalib` reads the
# numbers back from the pixels (`ecalib.reference.digitise`, checked on re-rendered charts with
# known values) and ships them as data: `ecalib.reference.rc2020_cifar10_curves()`. The band's
# meaning (standard deviation, standard error or min/max) is W&B's group setting and is not stated.

# %% tags=["remove-input"]
from ecalib.reference import rc2020_cifar10_curves
from ecalib.reports.rc2020 import rounded, summarise_rc2020_curves

curves = rc2020_cifar10_curves()
provenance = curves.attrs["provenance"]
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
for ax, (metric, label) in zip(axes, (("top1", "test top-1 (%)"), ("loss", "test loss"))):
    for mechanism, line in curves[curves["metric"] == metric].groupby("mechanism"):
        drawn = ax.plot(line["epoch"], line["mean"], label=mechanism, linestyle="--" if mechanism == "eca" else "-")
        ax.fill_between(line["epoch"], line["band_low"], line["band_high"], color=drawn[0].get_color(), alpha=0.15)
    ax.set_xlabel("epoch")
    ax.set_ylabel(label)
fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize="small")
fig.suptitle("RC2020, digitised from its charts: mean of 5 runs per mechanism, band as drawn")
plt.show()
summary = summarise_rc2020_curves(curves)
display(rounded(summary))
print(f"Source: {provenance['repository']} at {provenance['commit'][:10]}, {', '.join(provenance['files'].values())}; "
      "digitised by ecalib (tools/digitise_rc2020.py).")
print("Ranges read by eye from the same charts (RC2020's README shows them and states no numbers), for comparison:")
display(pd.DataFrame(rc2020_cifar10_bands()).drop(columns="source"))

# %% [markdown]
# ## Real runs
#
# Complete runs on real CIFAR-10 in the result folders: the mean and standard deviation of the
# curves over seeds (RC2020's figure), then the final accuracy per mechanism with a 95 % confidence
# interval, and its parameter and training-throughput cost relative to the plain network.

# %% tags=["remove-input"]
print(f"{len(real_runs)} complete real run(s) in {', '.join(folders)}")
if real_runs.empty:
    print("None yet: the commands below make them; commit their folders under results/cifar10.")
else:
    plot_groups(real_history)
    display(mechanism_table(real_runs))

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

# %% [markdown]
# ## What the evidence says

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_closing

chapter_closing("cifar10_compare")


# %% [markdown]
# ## Run it yourself
#
# Train the runs with the previous chapter's notebook or the CLI (on a GPU; CIFAR-10 is downloaded
# when missing), then compare every folder:
#
# ```bash
# papermill notebooks/cifar10.ipynb out.ipynb -p model none,se,cbam,triplet,eca -p seeds 5
# papermill notebooks/cifar10_compare.ipynb out.ipynb -p results_dirs results/cifar10,runs/cifar10
# python benchmarks/cifar10_speed.py
# ```

# %% [markdown]
# ## Pipeline check on synthetic data
#
# The runs of this build's previous chapter: two epochs per mechanism on a few hundred
# **synthetic** images (one seed), which show that collecting, grouping and plotting work. They say
# nothing about CIFAR-10.

# %% tags=["remove-input", "hide-output"]
print(f"{len(smoke_runs)} synthetic run(s) in {', '.join(folders)}")
if len(smoke_runs):
    plot_groups(smoke_history)
    display(mechanism_table(smoke_runs))
