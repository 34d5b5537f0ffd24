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
# # CIFAR-10: the reproduction's hyper-parameter sweep
#
# **The question.** Is a mechanism's CIFAR-10 result a property of the mechanism, or of the optimizer
# and batch size it was trained with? The 2020 reproduction
# ([RC2020](https://github.com/digantamisra98/Reproducibilty-Challenge-ECANET)) searched attention x
# optimizer x batch size with a W&B Bayesian sweep; `configs/sweep.yaml` is that search space.
# Online, `wandb sweep configs/sweep.yaml` and `wandb agent` spread it over any number of machines;
# `ecalib.sweep.run_sweep` runs the same file offline (grid, random, or Bayesian through Optuna),
# one normal result folder per trial.

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_opening

chapter_opening("cifar10_sweep")

# %% [markdown]
# ## The evidence: the search space, and committed sweeps

# %% tags=["remove-input"]
from pathlib import Path

import pandas as pd

from ecalib.sweep import load_sweep

searched = load_sweep("configs/sweep.yaml")
print(
    f"Source: configs/sweep.yaml (RC2020's sweep): method {searched['method']}, "
    f"{searched['metric']['goal']} {searched['metric']['name']}"
)
display(
    pd.DataFrame(
        [{"parameter": k, "values": v.get("values", v.get("value"))} for k, v in searched["parameters"].items()]
    ).set_index("parameter")
)
committed = sorted(Path("results/cifar10-sweeps").glob("*/sweep.csv"))
if not committed:
    print("No real sweep is committed under results/cifar10-sweeps yet: the commands below make one.")
for csv in committed:
    print(f"{csv.parent.name}: {csv}")
    display(pd.read_csv(csv))

# %% [markdown]
# ## What the evidence says

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_closing

chapter_closing("cifar10_sweep")


# %% [markdown]
# ## Run it yourself
#
# ```bash
# ecalib sweep configs/sweep.yaml --method bayes --trials 20
# papermill notebooks/cifar10_sweep.ipynb out.ipynb -p method bayes -p trials 20
# ```
#
# Trials go to `runs/cifar10-sweeps/<name>/` with a `sweep.csv` of every trial; CIFAR-10 is
# downloaded when it is missing. Commit a finished sweep's folder under `results/cifar10-sweeps/`.

# %% [markdown]
# ## Pipeline check on synthetic data
#
# The book runs a few trials of the `smoke` profile (two epochs on a few hundred **synthetic**
# images each). The outputs (collapsed) show that the sweep runs, records and plots its trials;
# they say nothing about which hyper-parameters suit CIFAR-10.

# %% tags=["parameters", "hide-input"]
# Parameters (papermill -p NAME VALUE)
sweep_file: str = "configs/sweep.yaml"  # W&B sweep file (method, metric, search space)
method = None  # type: Optional[str] grid | random | bayes; None: the file's (bayes)
trials = None  # type: Optional[int] None: the whole grid
profile: str = "full"  # full | smoke
data = None  # type: Optional[str] cifar10 | synthetic; None: cifar10 (smoke: synthetic)
data_dir = None  # type: Optional[str] folder with cifar-10-batches-py; None: data/cifar10
download: bool = True  # download CIFAR-10 into data_dir when it is missing (false: fail instead)
device: str = "auto"  # auto | cpu | cuda
wandb_mode: str = "offline"  # offline | online | disabled
overrides: str = ""  # more recipe keys, as ecalib train --set takes them (space-separated)
results_dir: str = "runs"  # generated runs (not tracked; committed results live in results/)

# %% tags=["remove-cell"]
from ecalib.params import check_parameters

PARAMETERS = [
    "sweep_file",
    "method",
    "trials",
    "profile",
    "data",
    "data_dir",
    "download",
    "device",
    "wandb_mode",
    "overrides",
    "results_dir",
]
check_parameters(
    globals(),
    PARAMETERS,
    booleans=["download"],
)

# %% tags=["hide-output"]
from ecalib.recipes import shorthands_of
from ecalib.sweep import run_sweep

spec = load_sweep(sweep_file)
# every trial: the sweep's parameters over the settings named like `ecalib train`'s shorthands and `overrides`
table = run_sweep(
    sweep_file,
    results_dir,
    method=method,
    n_trials=trials,
    profile=profile,
    sets=overrides,
    progress=False,
    ways_out="papermill",
    **shorthands_of(globals(), PARAMETERS),
)
table

# %% tags=["remove-input", "hide-output"]
import matplotlib.pyplot as plt

from ecalib.reports.plots import parallel_coordinates
from ecalib.sweep import METRICS

metric = METRICS[spec["metric"]["name"]]
varied = [c for c in spec["parameters"] if "values" in spec["parameters"][c]]
fig, ax = plt.subplots(figsize=(9, 4))
parallel_coordinates(table, varied, metric, ax, lower_is_better=spec["metric"]["goal"] == "minimize")
ax.set_title(f"{len(table)} trial(s), profile {profile}, data: {', '.join(sorted(set(table['data'])))}")
fig.tight_layout()
