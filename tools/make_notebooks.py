"""Write the notebooks' source (run once by a developer; the .ipynb files are committed).

Keeping the cells here makes notebook diffs reviewable; `make notebooks` regenerates them.
"""

from pathlib import Path

import nbformat as nbf

ROOT = Path(__file__).resolve().parents[1]


def md(text):
    return nbf.v4.new_markdown_cell(text.strip())


def code(text, tags=()):
    cell = nbf.v4.new_code_cell(text.strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def notebook(cells):
    nb = nbf.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


COMPLEXITY = notebook(
    [
        md(
            """
# Complexity: the official table, recomputed

The official README lists Params and FLOPs for the six released ECA-Nets. This chapter rebuilds
each network with `ecalib`, counts its parameters exactly and its multiply-accumulates with
[thop](https://github.com/Lyken17/pytorch-OpCounter) on one 1x3x224x224 image, as the authors did,
and prints the official value, the measured one and the relative difference side by side.

Units matter: the paper's "M" and "G" are binary, `count / 2**20` and `MACs / 2**30` (official
issue #35), and its "FLOPs" are multiply-accumulates. Modern tools count FLOPs = 2 x MACs in
decimal units; that column is here too (`torch.utils.flop_counter`), so the two conventions can
be compared directly.
"""
        ),
        code(
            """
# Parameters (papermill -p NAME VALUE); validated by ecalib in the next cell.
models: list = ["eca_resnet18", "eca_resnet34", "eca_resnet50", "eca_resnet101", "eca_resnet152", "eca_mobilenet_v2"]  # ECA-Nets compared with the official README
contrast_models: list = ["resnet50", "se_resnet50", "cbam_resnet50", "mobilenet_v2", "ecaresnet50d", "ecaresnetlight"]  # baselines, SE, CBAM and timm's ECA-ResNets
input_size: int = 224  # square input side; reference values exist for 224 only
""",
            tags=["parameters"],
        ),
        code(
            """
from ecalib.params import check_int, check_models

models = check_models("models", models)
contrast_models = check_models("contrast_models", contrast_models, source=None) if contrast_models else []
input_size = check_int("input_size", input_size, minimum=32, maximum=1024)
""",
            tags=["remove-cell"],
        ),
        code(
            """
import json

import matplotlib.pyplot as plt
import pandas as pd

from ecalib.complexity import complexity_findings, complexity_table, readme_comparison
from ecalib.provenance import environment

table = complexity_table(models + contrast_models, input_size=input_size)
view = readme_comparison(table)
""",
            tags=["remove-cell"],
        ),
        md(
            """
## Official README vs measured

`Δ %` is (measured - reference) / reference. The reference is the official README where it has
the model, otherwise the paper's Table 3; models without either (timm's ECA-ResNets, which are
different architectures with a deep or tiered stem) are shown for contrast only.
"""
        ),
        code(
            """
view.iloc[:, :7]
"""
        ),
        code(
            """
from IPython.display import Markdown

Markdown(complexity_findings(table))
""",
            tags=["remove-input"],
        ),
        md(
            """
## What attention costs

ECA adds one k-tap kernel per block, where SE and CBAM add two fully connected layers per
block. Its MACs are the global pooling plus C x k for the 1-D convolution. Exact counts, the
modern FLOP figure, and each attention mechanism's share of the network:
"""
        ),
        code(
            """
view.iloc[:, 7:]
"""
        ),
        code(
            """
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
share = table.set_index("model")[["attention params %", "attention MACs %"]]
share = share[share["attention params %"] > 0]
for ax, column in zip(axes, share.columns):
    share[column].plot.barh(ax=ax, color=["#d62728" if "eca" in n else "#7f7f7f" for n in share.index])
    ax.set_xscale("log")
    ax.set_xlabel(column + " (log scale)")
fig.suptitle(f"Attention modules' share of the whole network ({input_size}x{input_size} input)")
fig.tight_layout()
""",
        ),
        md("## Provenance"),
        code(
            """
print("Source: counted by ecalib in this build (architecture only: no data set involved).")
print(json.dumps(environment(), indent=2))
"""
        ),
    ]
)

COLAB_CELL = code(
    """
import sys

if "google.colab" in sys.modules:  # Colab: install ecalib from the repository first
    %pip install -q "ecalib[train] @ git+https://github.com/ecalib/ecalib"
""",
    tags=["remove-cell"],
)

CIFAR10 = notebook(
    [
        md(
            """
# CIFAR-10: training one attention mechanism

The 2020 reproduction compared ResNet-18 with no attention, SE, CBAM, Triplet attention and ECA
on CIFAR-10 (SPEC section 4). This notebook trains one or more of those runs with `ecalib`'s
engine and plots their curves. Runs whose result folder is already complete are not trained
again, so the notebook can be re-executed freely, and an interrupted run resumes exactly.

Protocols: `rc2020` reproduces the reproduction's `train_cifar.py` (ImageNet-stem ResNet-18 on
32x32 images, SGD 0.1, MultiStepLR milestones 100/150 that 50 epochs never reach, ImageNet
statistics); `standard` is a conventional CIFAR recipe (CIFAR stem, 200 epochs, cosine);
`rc2020_sweep` is the budget of the reproduction's W&B sweep. Profile `smoke` shrinks any of
them to a few hundred **synthetic** images and two epochs so that it runs on a CPU in seconds.
"""
        ),
        COLAB_CELL,
        code(
            """
# Parameters (papermill -p NAME VALUE); validated by ecalib in the next cell.
model = "eca"  # attention: none | se | cbam | triplet | eca, or several: "none,eca"
protocol: str = "rc2020"  # rc2020 | standard | rc2020_sweep
profile: str = "full"  # full | smoke (few hundred synthetic images, 2 epochs)
epochs = None  # None: the protocol's
seeds = None  # None: the protocol's (rc2020: 0..4); a count (5) or a list ("0,1")
batch_size = None  # None: the protocol's
lr = None  # None: the protocol's
data = None  # cifar10 | synthetic; None: cifar10 (smoke: synthetic)
data_dir = None  # folder with cifar-10-batches-py; None: data/cifar10 or data/synthetic-cifar10
download: bool = False  # download CIFAR-10 into data_dir when missing
device: str = "auto"  # auto | cpu | cuda
amp: str = "none"  # none | bf16 | fp16 (CUDA)
channels_last: bool = False
compile: bool = False  # torch.compile the model
wandb_mode: str = "offline"  # offline | online | disabled
results_dir: str = "results"  # runs go to results_dir/cifar10/<profile>-<protocol>-<model>-seed<k>
""",
            tags=["parameters"],
        ),
        code(
            """
from ecalib.tasks import cifar10

runs = cifar10.plan_runs(
    model, protocol, profile, seeds, epochs=epochs, batch_size=batch_size, lr=lr, data=data, data_dir=data_dir,
    download=download, device=device, amp=amp, channels_last=channels_last, compile=compile, wandb_mode=wandb_mode,
)
print(f"{len(runs)} run(s):", ", ".join(r.name for r in runs))
""",
        ),
        code(
            """
results = [cifar10.train(run, results_dir, progress=False) for run in runs]
"""
        ),
        md("## Curves"),
        code(
            """
from ecalib.reports.plots import run_curves
from ecalib.reports.runs import collect_runs

_, history = collect_runs(results_dir + "/cifar10", task="cifar10")
history = history[history["run"].isin([r.name for r in runs])]
sources = ", ".join(sorted(set(history["data"])))
fig = run_curves(history, title=f"{protocol} / {profile} profile; data: {sources}")
""",
            tags=["remove-input"],
        ),
        md("## Final metrics and provenance"),
        code(
            """
import json

import pandas as pd

table = pd.DataFrame([{"run": r.run_dir.name, **r.final} for r in results]).set_index("run")
display(table.round(3))
first = results[0].run_dir
print("data source:", json.loads((first / "params.json").read_text())["data_source"])
print("environment:", json.loads((first / "env.json").read_text()))
""",
            tags=["remove-input"],
        ),
    ]
)

CIFAR10_COMPARE = notebook(
    [
        md(
            """
# CIFAR-10: comparing attention mechanisms

Every complete CIFAR-10 run found in the result folders below, grouped by protocol, profile,
data source and device, so that synthetic smoke runs and real runs are never mixed. For each
mechanism: the mean and standard deviation of the curves over seeds (the reproduction's
figure), the final accuracy with a 95 % confidence interval, and what the mechanism costs in
parameters and training throughput relative to the plain network.
"""
        ),
        code(
            """
# Parameters (papermill -p NAME VALUE)
results_dirs = "results/cifar10"  # comma-separated folders that hold run folders
benchmarks_dir: str = "results/benchmarks/cifar10-speed"  # result folders of benchmarks/cifar10_speed.py
""",
            tags=["parameters"],
        ),
        code(
            """
import matplotlib.pyplot as plt
import pandas as pd

from ecalib.params import as_list
from ecalib.reference import rc2020_cifar10_bands
from ecalib.reports.plots import band_plot
from ecalib.reports.runs import GROUP, collect_runs, summary_table

folders = as_list(results_dirs)
runs, history = collect_runs(*folders, task="cifar10")
print(f"{len(runs)} complete run(s) in {folders}")
""",
        ),
        md("## Curves: mean and standard deviation over seeds"),
        code(
            """
if runs.empty:
    print("No runs yet: train some with notebooks/cifar10.ipynb or `ecalib train cifar10`.")
for keys, group in history.groupby(GROUP, dropna=False):
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    band_plot(group, "test_top1", axes[0], "test top-1 (%)")
    band_plot(group, "test_loss", axes[1], "test loss (log scale)")
    axes[1].set_yscale("log")
    fig.suptitle("protocol {}, profile {}, data: {}, device: {}".format(*keys))
    fig.tight_layout()
    plt.show()
""",
            tags=["remove-input"],
        ),
        md("## Final accuracy, parameters and throughput per mechanism"),
        code(
            """
summary = summary_table(runs) if not runs.empty else pd.DataFrame()
summary.set_index(GROUP + ["attention"]).round(3) if len(summary) else summary
""",
            tags=["remove-input"],
        ),
        md(
            """
## Beside the reproduction

The reproduction reported only the end of its 50-epoch `rc2020` runs, as ranges over all five
mechanisms read from its figures. A `smoke` row is a two-epoch run on synthetic data: it checks
that the pipeline works, and says nothing about CIFAR-10.
"""
        ),
        code(
            """
bands = pd.DataFrame(rc2020_cifar10_bands())
ours = summary[["protocol", "profile", "data", "device", "attention", "runs", "top-1 mean", "loss mean"]] if len(summary) else summary
display(bands)
display(ours.round(3))
""",
            tags=["remove-input"],
        ),
        md(
            """
## Speed per mechanism (benchmark result folders)

Training (forward, backward, SGD step) and inference images/s on synthetic 32x32 input, measured
by `benchmarks/cifar10_speed.py`, and each mechanism's rate relative to the plain network on the
same device. `study minutes` projects the whole protocol (5 mechanisms x seeds x epochs) at
those rates on one device.
"""
        ),
        code(
            """
from ecalib.reports.runs import collect_speed_benchmarks

speed = collect_speed_benchmarks(benchmarks_dir)
if speed.empty:
    print(f"no benchmark results in {benchmarks_dir}")
else:
    columns = ["device", "protocol", "amp", "batch_size", "mechanism", "mode", "images_per_s", "vs none",
               "peak_memory_mb", "study minutes (projected)", "commit"]
    display(speed[columns].set_index(["device", "protocol", "amp", "batch_size", "mechanism", "mode"]).round(3))
""",
            tags=["remove-input"],
        ),
    ]
)

CIFAR10_SWEEP = notebook(
    [
        md(
            """
# CIFAR-10: the reproduction's hyper-parameter sweep

The reproduction searched attention x optimizer x batch size with a W&B Bayesian sweep
(`configs/sweep.yaml`, same search space). Online, `wandb sweep configs/sweep.yaml` and
`wandb agent` spread it over any number of machines; here `ecalib.sweep.run_sweep` runs the same
file offline (grid, random, or Bayesian through Optuna), one normal result folder per trial.
"""
        ),
        COLAB_CELL,
        code(
            """
# Parameters (papermill -p NAME VALUE)
sweep_file: str = "configs/sweep.yaml"
method = None  # grid | random | bayes; None: the file's (bayes)
trials = None  # None: the whole grid
profile: str = "full"  # full | smoke
data = None  # cifar10 | synthetic; None: cifar10 (smoke: synthetic)
data_dir = None
device: str = "auto"
wandb_mode: str = "offline"
results_dir: str = "results"
""",
            tags=["parameters"],
        ),
        code(
            """
from ecalib.sweep import load_sweep, run_sweep

spec = load_sweep(sweep_file)
table = run_sweep(sweep_file, results_dir, method=method, n_trials=trials, profile=profile, data=data,
                  data_dir=data_dir, device=device, wandb_mode=wandb_mode)
table
""",
        ),
        code(
            """
import matplotlib.pyplot as plt

from ecalib.reports.plots import parallel_coordinates
from ecalib.sweep import METRICS

metric = METRICS[spec["metric"]["name"]]
varied = [c for c in spec["parameters"] if "values" in spec["parameters"][c]]
fig, ax = plt.subplots(figsize=(9, 4))
parallel_coordinates(table, varied, metric, ax, lower_is_better=spec["metric"]["goal"] == "minimize")
ax.set_title(f"{len(table)} trial(s), profile {profile}, data: {', '.join(sorted(set(table['data'])))}")
fig.tight_layout()
""",
            tags=["remove-input"],
        ),
    ]
)

IMAGENET = notebook(
    [
        md(
            """
# ImageNet: the official recipes, and what the released checkpoints claim

The paper trains every ECA-Net on ImageNet-1k with the torchvision ImageNet recipe (SPEC
section 4): SGD with momentum 0.9, weight decay 1e-4, batch 256, lr 0.1 divided by 10 at epochs
30, 60 and 90, 100 epochs, RandomResizedCrop 224 + flip, evaluation at resize 256 and centre crop
224; ECA-MobileNetV2 uses 400 epochs, batch 96 and lr 0.045 x 0.98 per epoch. `ecalib` runs
those recipes on its training engine (exact resume, NaN guard, checkpoints in the official
layout), on one GPU or many through `torchrun`, and evaluates any official checkpoint against
the published numbers.
"""
        ),
        md("## The published numbers"),
        code(
            """
from ecalib.reports.tables import imagenet_reference_tables

readme, table3 = imagenet_reference_tables()
print("Source: official README (BangguWu/ECANet), ImageNet results")
display(readme)
print("Source: paper, Table 3 (Params/FLOPs in binary units; FPS on 4x RTX 2080Ti)")
display(table3)
""",
            tags=["remove-input"],
        ),
        md(
            """
## A training run

Full ImageNet needs the data set and GPUs: on a machine with both, run the notebook with
`-p data_dir /path/to/imagenet`, or copy the command from the README (`torchrun` for several
GPUs). The book is built on a CPU without ImageNet, so below is the `smoke` profile: two epochs
on a generated ImageFolder of **synthetic** JPEGs (a few classes of coloured gratings), at 64 px,
which only shows that the pipeline works end to end.
"""
        ),
        COLAB_CELL,
        code(
            """
# Parameters (papermill -p NAME VALUE); validated by ecalib in the next cell.
model: str = "eca_resnet50"  # any ImageNet ResNet or MobileNetV2 variant (ecalib.list_models())
k_size = None  # ECA kernels per stage, e.g. "3557"; None: the variant's
profile: str = "full"  # full | smoke
data = None  # imagenet | synthetic; None: imagenet (smoke: synthetic)
data_dir = None  # ImageNet root holding train/ and val/
epochs = None  # None: the recipe's
batch_size = None  # global batch; None: the recipe's (the lr then scales linearly)
lr = None  # None: the recipe's lr, scaled linearly with the batch
workers = None  # loader processes; None: up to 8
amp: str = "none"  # none | bf16 | fp16
device: str = "auto"  # auto | cpu | cuda
resume = "auto"  # auto: continue the run folder; or a checkpoint path (official layout)
wandb_mode: str = "offline"  # offline | online | disabled
results_dir: str = "results"
""",
            tags=["parameters"],
        ),
        code(
            """
from ecalib.tasks import imagenet

run = imagenet.make_run(model, data_dir, profile, data=data, k_size=k_size, workers=workers, epochs=epochs,
                        batch_size=batch_size, lr=lr, amp=amp, device=device, wandb_mode=wandb_mode)
print(f"run {run.name}: {run.train.epochs} epochs, global batch {run.train.batch_size}, lr {run.train.lr:g} ({run.lr_rule})")
""",
        ),
        code(
            """
result = imagenet.train(run, results_dir, resume_from=None if resume == "auto" else resume, progress=False)
"""
        ),
        code(
            """
from ecalib.reports.plots import run_curves
from ecalib.reports.runs import collect_runs

_, history = collect_runs(results_dir + "/imagenet", task="imagenet")
history = history[history["run"] == run.name].assign(attention="eca")
fig = run_curves(history, title=f"{run.name}; data: {', '.join(sorted(set(history['data'])))}")
""",
            tags=["remove-input"],
        ),
        md(
            """
## Evaluating a checkpoint

`ecalib evaluate --checkpoint eca_resnet50_k3557.pth.tar --data <imagenet>/val` reads an official
checkpoint (architecture and ECA kernels from its weights), evaluates it with the official
transform and prints the result beside the README and paper values. Here it evaluates the best
checkpoint of the run above.
"""
        ),
        code(
            """
sizes = {"val_resize": run.image_sizes["val_resize"], "val_crop": run.image_sizes["val_crop"]}
evaluation = imagenet.evaluate_checkpoint(result.run_dir / "checkpoints" / "model_best.pth.tar", run.data_dir,
                                          workers=run.workers, device=device, image_sizes=sizes)
print(imagenet.format_evaluation(evaluation))
""",
            tags=["remove-input"],
        ),
        md("## Provenance"),
        code(
            """
import json

print(json.dumps(json.loads((result.run_dir / "params.json").read_text()), indent=2))
print(json.dumps(json.loads((result.run_dir / "env.json").read_text()), indent=2))
""",
            tags=["remove-input"],
        ),
    ]
)

NOTEBOOKS = {
    "complexity": COMPLEXITY,
    "cifar10": CIFAR10,
    "cifar10_compare": CIFAR10_COMPARE,
    "cifar10_sweep": CIFAR10_SWEEP,
    "imagenet": IMAGENET,
}


if __name__ == "__main__":
    for name, nb in NOTEBOOKS.items():
        nbf.write(nb, ROOT / "notebooks" / f"{name}.ipynb")
        print(f"wrote notebooks/{name}.ipynb")
