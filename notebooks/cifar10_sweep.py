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
from ecalib.reports.tables import captioned

display(
    captioned(
        pd.DataFrame(
            [{"parameter": k, "values": v.get("values", v.get("value"))} for k, v in searched["parameters"].items()]
        ).set_index("parameter"),
        "The search space of RC2020's sweep",
        "configs/sweep.yaml",
    )
)
committed = sorted(Path("results/cifar10-sweeps").glob("*/sweep.csv"))
if not committed:
    print("No real sweep is committed under results/cifar10-sweeps yet: the commands below make one.")
for csv in committed:
    display(captioned(pd.read_csv(csv), f"Sweep {csv.parent.name}: every trial", str(csv)))

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
# images each). They show that the sweep runs and records its trials, and say nothing about which
# hyper-parameters suit CIFAR-10: the {doc}`pipeline_checks` page lists them. A real sweep shows its
# trials here.

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

PARAMETERS = check_parameters(globals(), folders=["results_dir"])  # read from the cell above

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
synthetic_sweep = set(table["data"]) and all(str(d).startswith("synthetic") for d in table["data"])
print(f"{len(table)} trial(s) in {results_dir}/cifar10-sweeps; data: {', '.join(sorted(set(table['data'])))}")

# %% tags=["remove-input", "hide-output"]
from ecalib.reports.figures import parallel_coordinates
from ecalib.sweep import METRICS

if synthetic_sweep:
    print("Synthetic data: a pipeline check, not a result; the trials are listed on the pipeline checks page.")
else:
    metric = METRICS[spec["metric"]["name"]]
    varied = [c for c in spec["parameters"] if "values" in spec["parameters"][c]]
    display(captioned(table, "Every trial of this sweep", f"{results_dir}/cifar10-sweeps"))
    display(parallel_coordinates(table, varied, metric, lower_is_better=spec["metric"]["goal"] == "minimize",
                                 caption=f"{len(table)} trial(s), profile {profile}: one line per trial"))
