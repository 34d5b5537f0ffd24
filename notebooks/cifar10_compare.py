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

check_parameters(globals())

# %% tags=["remove-cell"]
import pandas as pd

from ecalib.params import as_list
from ecalib.reference import rc2020_cifar10_bands
from ecalib.reports.figures import seed_bands
from ecalib.reports.runs import GROUP, collect_runs, summary_table
from ecalib.reports.tables import captioned

folders = as_list(results_dirs)
runs, history = collect_runs(*folders, task="cifar10")
left_out = runs.attrs["rejected"]  # folders with a final.json that is not a complete run, and why
synthetic = runs["data"].str.startswith("synthetic") if len(runs) else pd.Series(dtype=bool)
real_runs, smoke_runs = (runs[~synthetic], runs[synthetic]) if len(runs) else (runs, runs)
real_history = history[history["run"].isin(real_runs["run"])] if len(history) else history


def mechanism_table(runs):
    columns = ["results", "protocol", "profile", "data", "device", "attention", "runs", "top-1 mean",
               "top-1 std", "top-1 95% CI", "loss mean", "params overhead %", "throughput vs none"]
    table = summary_table(runs)
    return table[[c for c in columns if c in table]].set_index(GROUP + ["attention"])


# %% [markdown]
# ## The reference: RC2020's curves, digitised
#
# RC2020 published its 50-epoch `rc2020` runs (5 seeds per mechanism) only as two W&B charts: test
# top-1 and test loss per epoch, the mean over the seeds with a shaded band. `ecalib` reads the
# numbers back from the pixels (a chart digitiser in `tools/digitiser`, checked on re-rendered charts with
# known values) and ships them as data: `ecalib.reference.rc2020_cifar10_curves()`. The band's
# meaning (standard deviation, standard error or min/max) is W&B's group setting and is not stated.
# Each mechanism has its own panel, with the plain network's mean dashed in grey behind it; hover a
# point for its values, click a legend entry to isolate a mechanism, drag to zoom.

# %% tags=["remove-input"]
from ecalib.reference import rc2020_cifar10_curves
from ecalib.reports.figures import endpoint_plot, rc2020_curves
from ecalib.reports.rc2020 import rounded, summarise_rc2020_curves

curves = rc2020_cifar10_curves()
provenance = curves.attrs["provenance"]
files = ", ".join(provenance["files"].values())
rc2020_source = (f"{provenance['repository']} at {provenance['commit'][:10]}, {files}, "
                 "digitised by ecalib (tools/digitise_rc2020.py)")
display(rc2020_curves(curves))
summary = rounded(summarise_rc2020_curves(curves)).sort_values("final_top1", ascending=False)
display(endpoint_plot(summary, "final_top1", "final_top1_low", "final_top1_high", label="test top-1 at epoch 49 (%)",
                      name="rc2020-cifar10-final", caption="RC2020's final test top-1 per mechanism with its band; "
                      "the dashed line is the plain network's mean."))

# %% [markdown]
# In the table, the **catch-up epoch** of a mechanism is the first epoch from which the plain
# network's mean top-1 stays at or above the lower edge of that mechanism's band at every later
# epoch up to the last one (empty if the plain network ends below the band, and for the plain
# network itself).

# %% tags=["remove-input"]
labels = {"final_top1": "top-1, epoch 49", "final_top1_low": "band low", "final_top1_high": "band high",
          "final_loss": "loss, epoch 49", "best_top1": "best top-1", "best_top1_epoch": "best at epoch",
          "baseline_catch_up_epoch": "catch-up epoch"}
captioned(summary[list(labels)].rename(columns=labels),
          "RC2020's CIFAR-10 runs at their last epoch (49), per mechanism (mean of 5 seeds, band as drawn)",
          rc2020_source, digits=2)

# %% tags=["remove-input"]
captioned(pd.DataFrame(rc2020_cifar10_bands()).drop(columns="source"),
          "Ranges read by eye from the same two charts, for comparison",
          "RC2020's charts (digantamisra98/Reproducibilty-Challenge-ECANET); "
          "its README shows them and states no numbers")

# %% [markdown]
# ## Real runs
#
# Complete runs on real CIFAR-10 in the result folders: the mean and standard deviation of the
# curves over seeds (RC2020's figure), then the final accuracy per mechanism with a 95 % confidence
# interval, and its parameter and training-throughput cost relative to the plain network.

# %% tags=["remove-input"]
print(f"{len(real_runs)} complete real run(s) in {', '.join(folders)}")
for folder, reason in left_out:
    print(f"left out {folder}: {reason}")
if real_runs.empty:
    print("None yet: the commands below make them; commit their folders under results/cifar10.")
else:
    for keys, group in real_history.groupby(GROUP, dropna=False):
        display(seed_bands(group, "{}: protocol {}, profile {}, data: {}, device: {}".format(*keys)))
    display(captioned(mechanism_table(real_runs), "Final test top-1 per mechanism over seeds, with its cost",
                      f"the complete real runs in {', '.join(folders)}"))

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
    columns = ["device", "batch_size", "mechanism", "mode", "images_per_s", "vs none", "study minutes (projected)"]
    display(captioned(speed[columns].set_index(["device", "batch_size", "mechanism", "mode"]),
                      "Images/s per mechanism on synthetic 32x32 input, and the protocol's projected minutes",
                      f"benchmarks/cifar10_speed.py result folders in {benchmarks_dir} (commits "
                      f"{', '.join(sorted(set(speed['commit'])))})", digits=2))

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
# The book is built without CIFAR-10: its runs are two-epoch smoke runs on synthetic images, and
# their checklist is on the {doc}`pipeline_checks` page, not here.

# %% tags=["remove-input"]
print(f"{len(smoke_runs)} synthetic run(s) in {', '.join(folders)}: checked on the pipeline checks page, "
      "not compared here.")
