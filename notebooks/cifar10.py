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
# # CIFAR-10: training one attention mechanism
#
# **The question.** Does channel attention make a ResNet-18 better at CIFAR-10, and is ECA the best
# of no attention, SE, CBAM, Triplet attention and ECA? The paper has no CIFAR-10 experiment; the
# 2020 reproduction ([RC2020](https://github.com/digantamisra98/Reproducibilty-Challenge-ECANET))
# asked it with five seeds per mechanism. This chapter shows what RC2020 reported and any real runs
# committed here, then trains one or more of those runs with `ecalib`'s engine (the comparison of
# many runs is the next chapter).

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_opening

chapter_opening("cifar10")

# %% [markdown]
# ## The evidence
#
# RC2020 published its 50-epoch runs only as two charts (mean of 5 seeds per mechanism, with a band);
# its README shows the charts and states no numbers. `ecalib` reads the charts back as numbers; they are
# plotted and summarised, with their final values, on the next page ({doc}`cifar10_compare`). Here: the
# real runs committed to this repository.

# %% tags=["remove-input"]
import pandas as pd

from ecalib.reports.runs import collect_runs
from ecalib.reports.tables import captioned

committed, _ = collect_runs("results/cifar10", task="cifar10")
if committed.empty:
    print("No real CIFAR-10 runs are committed under results/cifar10 yet: the commands below make them.")
else:
    display(captioned(committed.groupby(["protocol", "attention"])["test_top1"].agg(["count", "mean", "std"]),
                      "Committed real runs by protocol and mechanism: final test top-1", "results/cifar10"))

# %% [markdown]
# ## The recipes
#
# `rc2020` reproduces the reproduction's `train_cifar.py` (ImageNet-stem ResNet-18 on
# 32x32 images, SGD {glue:text}`rc2020_cifar_lr`, MultiStepLR milestones
# {glue:text}`rc2020_cifar_milestones` that {glue:text}`rc2020_cifar_epochs` epochs never reach,
# ImageNet statistics); `standard` is a conventional CIFAR recipe (CIFAR stem,
# {glue:text}`standard_cifar_epochs` epochs, cosine);
# `rc2020_sweep` is the budget of the reproduction's W&B sweep. Each is a file in `configs/cifar10/`
# (the table is read from them; `diff` one against your own), and `--set KEY=VALUE` (`-p overrides`
# here) changes any value. Runs whose result folder is already complete are not trained again, so
# the notebook can be re-executed freely, and an interrupted run resumes exactly.

# %% tags=["remove-input"]
from ecalib.recipes.tables import recipe_sources, recipes_shown

CIFAR_RECIPES = ["cifar10/rc2020", "cifar10/standard", "cifar10/rc2020_sweep"]
display(recipes_shown(CIFAR_RECIPES, "The CIFAR-10 recipes, one column per recipe file"))
print(recipe_sources(CIFAR_RECIPES))

# %% tags=["remove-cell"]
from ecalib.recipes import resolve
from ecalib.reports.glue import glue

rc2020, standard = resolve("cifar10/rc2020").train_config(), resolve("cifar10/standard").train_config()
glue("rc2020_cifar_lr", f"{rc2020.lr:g}")
glue("rc2020_cifar_milestones", "/".join(map(str, rc2020.milestones)))
glue("rc2020_cifar_epochs", rc2020.epochs)
glue("standard_cifar_epochs", standard.epochs)

# %% [markdown]
# ## What the evidence says

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_closing

chapter_closing("cifar10")


# %% [markdown]
# ## Run it yourself
#
# On a machine with a GPU (CIFAR-10 is downloaded into `data/cifar10` when it is missing; offline,
# the notebook stops at once and says how to go on):
#
# ```bash
# papermill notebooks/cifar10.ipynb out.ipynb -p model eca
# papermill notebooks/cifar10.ipynb out.ipynb -p model none,se,cbam,triplet,eca -p seeds 5
# ecalib train cifar10 --model eca --seeds 0 1 2 3 4 --download
# ```
#
# Each run writes a result folder under `runs/cifar10/` (`-p results_dir`); copy finished folders to
# `results/cifar10/` and commit them to make them evidence for this book. Without a GPU or data,
# `-p profile smoke` runs the same pipeline on generated data in seconds.

# %% [markdown]
# ## Pipeline check on synthetic data
#
# The book runs this notebook with the `smoke` profile: two epochs on a few hundred **synthetic**
# images per mechanism, on a CPU. Their numbers say nothing about CIFAR-10, so they are not shown
# as results: the {doc}`pipeline_checks` page lists what each run proved (epochs trained,
# checkpoint written, evaluated, figure drawn). A real run shows its curves and metrics here.

# %% tags=["parameters", "hide-input"]
# Parameters (papermill -p NAME VALUE); validated by ecalib in the next cell.
model: str = "eca"  # attention: none | se | cbam | triplet | eca, or several: "none,eca"
protocol: str = "rc2020"  # the recipe, configs/cifar10/<protocol>.yaml: rc2020 | standard | rc2020_sweep
profile: str = "full"  # full | smoke (few hundred synthetic images, 2 epochs)
epochs = None  # type: Optional[int] None: the protocol's
seeds = None  # type: Union[int,str,None] None: the protocol's (rc2020: 0..4); a count (5) or a list ("0,1")
batch_size = None  # type: Optional[int] None: the protocol's
lr = None  # type: Optional[float] None: the protocol's
data = None  # type: Optional[str] cifar10 | synthetic; None: cifar10 (smoke: synthetic)
data_dir = None  # type: Optional[str] folder with cifar-10-batches-py; None: data/cifar10 (synthetic: a folder per spec under data/)
download: bool = True  # download CIFAR-10 into data_dir when it is missing (false: fail instead)
device: str = "auto"  # auto | cpu | cuda
amp: str = "none"  # none | bf16 | fp16 (CUDA)
channels_last: bool = False  # channels-last memory format (CUDA)
compile: bool = False  # torch.compile the model
wandb_mode: str = "offline"  # offline | online | disabled
show_progress: bool = True  # per-epoch lines and progress bars (the book: false)
overrides: str = ""  # more recipe keys, as ecalib train --set takes them (space-separated)
results_dir: str = "runs"  # generated runs, a folder per run under results_dir/cifar10 (not tracked)

# %% tags=["remove-cell"]
from ecalib.params import check_parameters

PARAMETERS = check_parameters(globals(), folders=["results_dir"])  # read from the cell above

# %%
from ecalib.recipes import plan, shorthands_of
from ecalib.tasks import prepare_data, train

# the parameters named like `ecalib train`'s shorthands (model, epochs, lr, ...) plus `overrides`
runs = plan(f"cifar10/{protocol}", profile, overrides, seeds=seeds, **shorthands_of(globals(), PARAMETERS))
print(f"{len(runs)} run(s):", ", ".join(r.name for r in runs))
prepare_data(runs, ways_out="papermill")  # real CIFAR-10: there, downloaded now, or one line saying how

# %% tags=["hide-output"]
results = [train(run, results_dir, progress=show_progress, verbose=show_progress) for run in runs]

# %% [markdown]
# ### Curves and final metrics

# %% tags=["remove-input", "hide-output"]
import json

from ecalib.reports.figures import run_curves

_, history = collect_runs(results_dir + "/cifar10", task="cifar10")
history = history[history["run"].isin([r.name for r in runs])]
sources = ", ".join(sorted(set(history["data"])))
if sources.startswith("synthetic"):
    print(f"Synthetic data ({sources}): a pipeline check, not a result. Its checklist (epochs trained, checkpoint "
          "written, evaluated, figure drawn) is on the pipeline checks page.")
else:
    display(run_curves(history, title=f"{protocol} / {profile} profile; data: {sources}"))
    table = pd.DataFrame([{"run": r.run_dir.name, **r.final} for r in results]).set_index("run")
    display(captioned(table, "Final metrics per run", f"this build's runs in {results_dir}/cifar10"))
first = results[0].run_dir
print("data source:", json.loads((first / "params.json").read_text())["data_source"])
print("environment:", json.loads((first / "env.json").read_text()))
