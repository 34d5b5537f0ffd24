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
# # ImageNet: the official recipes, and what the released checkpoints claim
#
# **The question.** What top-1 do the paper and the official README claim for each ECA-Net on
# ImageNet, under which recipe, and how does one check a released checkpoint against that claim or
# train one again? The evidence is the paper's Table 3 and the README of the official repository
# (BangguWu/ECANet), printed below from `ecalib.reference`.
#
# The paper trains every ECA-Net on ImageNet-1k with the torchvision ImageNet recipe, and
# ECA-MobileNetV2 with its own longer one (paper Sec. 4.1); the table below is printed from the
# recipe files `ecalib` runs (`configs/imagenet/*.yaml`), with training on RandomResizedCrop +
# flip and evaluation on a resize and centre crop. `ecalib` runs those recipes on its training
# engine (exact resume, NaN guard, checkpoints in the official layout), on one GPU or many through
# `torchrun`, and evaluates any official checkpoint against the published numbers.

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_opening

chapter_opening("imagenet")

# %% tags=["remove-input"]
from ecalib.recipes.tables import recipe_sources, recipes_shown
from ecalib.reports.tables import captioned

IMAGENET_RECIPES = ["imagenet/resnet", "imagenet/mobilenet_v2"]
display(recipes_shown(IMAGENET_RECIPES, "The ImageNet recipes, one column per recipe file"))
print(recipe_sources(IMAGENET_RECIPES))
print(
    "(schedule.gamma: the lr factor at each milestone, or per epoch for the exponential schedule; "
    "optimizer.base_lr is the lr at optimizer.base_batch, scaled linearly with the batch used)"
)

# %% [markdown]
# ## The published numbers

# %% tags=["remove-input"]
from ecalib.reports.tables import imagenet_reference_tables

readme, table3 = imagenet_reference_tables()
display(captioned(readme, "ImageNet top-1/top-5, Params and FLOPs of the released models",
                  "official README (BangguWu/ECANet), ImageNet results", digits=2))
display(captioned(table3, "The paper's ImageNet comparison (Params/FLOPs in binary units; FPS on 4x RTX 2080Ti)",
                  "paper, Table 3", digits=2))

# %% [markdown]
# ## What the evidence says

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_closing

chapter_closing("imagenet")


# %% [markdown]
# ## Run it yourself
#
# ImageNet cannot be downloaded by the notebook: point `data_dir` (`--data-dir`) at a folder with
# `train/` and `val/`. On GPUs:
#
# ```bash
# torchrun --nproc_per_node 8 -m ecalib train imagenet --model eca_resnet50 --data-dir /data/imagenet --amp bf16
# papermill notebooks/imagenet.ipynb out.ipynb -p data_dir /data/imagenet -p model eca_resnet50
# ecalib evaluate --checkpoint eca_resnet50_k3557.pth.tar --data /data/imagenet/val
# ```
#
# `ecalib evaluate` reads an official checkpoint (architecture and ECA kernels from its weights),
# evaluates it with the official transform and prints the result beside the README and paper
# values. Copy finished run folders to `results/imagenet/` and commit them to make them evidence
# here.

# %% tags=["remove-cell"]
import torchvision

from ecalib.reports.claims import paper_value
from ecalib.reports.glue import glue

glue("readme_eca50_top1", f"{paper_value('ECA-Net50', 'ECA', 'top1', 'official README'):.2f}")
for version in ("V1", "V2"):  # top-1 from the weights' metadata (no download)
    weights = torchvision.models.get_weight(f"ResNet50_Weights.IMAGENET1K_{version}")
    glue(f"torchvision_resnet50_{version}_top1", f"{weights.meta['_metrics']['ImageNet-1K']['acc@1']:.2f}")

# %% [markdown]
# ### Fine-tuning from torchvision's weights
#
# ```{admonition} Suggestion (not a measured result): starting from torchvision weights
# :class: tip
#
# `ecalib.create_model("eca_resnet50", init_from="resnet50-torchvision.pth")` copies every tensor that
# ECA-ResNet-50 shares with torchvision's ResNet-50 (all but the 16 ECA kernels, 80 parameters) and
# reports what it did. Only the ECA kernels start from their initialisation, so a fine-tuning run
# should need far fewer epochs than the official 100-epoch recipe from scratch; how many is
# untested here. At initialisation the ECA gates are not identities (each channel is scaled by a
# sigmoid of a random 1-D convolution), so the network does not start at torchvision's accuracy,
# and the first epochs mostly adapt the trunk to the gates.
#
# Two cautions before comparing with the paper: a fine-tuned model is not the paper's experiment (the
# released ECA-ResNet-50's {glue:text}`readme_eca50_top1` top-1, official README, is from scratch), and
# torchvision's `IMAGENET1K_V2` ResNet-50 weights ({glue:text}`torchvision_resnet50_V2_top1` top-1 in their
# metadata) come from a much longer recipe than `IMAGENET1K_V1` ({glue:text}`torchvision_resnet50_V1_top1`,
# a 90-epoch step recipe close to the official one), so say which weights a run started from.

# %% [markdown]
# ## Pipeline check on synthetic data
#
# The book is built on a CPU without ImageNet, so it runs the `smoke` profile: two epochs on a
# generated ImageFolder of **synthetic** JPEGs (a few classes of coloured gratings) at 64 px, then
# the evaluation of the run's best checkpoint. They say nothing about ImageNet: the
# {doc}`pipeline_checks` page lists what the run proved. A real run shows its own results here.

# %% tags=["parameters", "hide-input"]
# Parameters (papermill -p NAME VALUE); validated by ecalib in the next cell.
model: str = "eca_resnet50"  # any ImageNet ResNet or MobileNetV2 variant (ecalib.list_models())
k_size = None  # type: Optional[str] ECA kernels per stage, e.g. "3557"; None: the variant's
profile: str = "full"  # full | smoke
data = None  # type: Optional[str] imagenet | synthetic; None: imagenet (smoke: synthetic)
data_dir = None  # type: Optional[str] ImageNet root holding train/ and val/
epochs = None  # type: Optional[int] None: the recipe's
batch_size = None  # type: Optional[int] global batch; None: the recipe's (the lr then scales linearly)
lr = None  # type: Optional[float] None: the recipe's lr, scaled linearly with the batch
workers = None  # type: Optional[int] loader processes; None: up to 8
amp: str = "none"  # none | bf16 | fp16
device: str = "auto"  # auto | cpu | cuda
resume: str = "auto"  # auto: continue the run folder; or a checkpoint path (official layout)
wandb_mode: str = "offline"  # offline | online | disabled
show_progress: bool = True  # per-epoch lines and progress bars (the book: false)
overrides: str = ""  # more recipe keys, as ecalib train --set takes them (space-separated)
results_dir: str = "runs"  # generated runs (not tracked; committed results live in results/)

# %% tags=["remove-cell"]
from ecalib.params import check_parameters

PARAMETERS = check_parameters(globals(), folders=["results_dir"])  # read from the cell above

# %%
from ecalib.recipes import resolve, shorthands_of
from ecalib.tasks import imagenet, prepare_data, train

# the recipe of the model's family (configs/imagenet/), the parameters named like `ecalib train`'s shorthands
run = resolve("imagenet", profile, overrides, **shorthands_of(globals(), PARAMETERS))
cfg = run.train_config()
print(f"run {run.name}: {cfg.epochs} epochs, global batch {cfg.batch_size}, lr {cfg.lr:g} ({run.lr_rule})")
prepare_data([run], ways_out="papermill")

# %% tags=["hide-output"]
resume_from = None if resume == "auto" else resume
result = train(run, results_dir, resume_from=resume_from, progress=show_progress, verbose=show_progress)

# %% tags=["remove-input", "hide-output"]
from ecalib.reports.figures import run_curves
from ecalib.reports.runs import collect_runs

_, history = collect_runs(results_dir + "/imagenet", task="imagenet")
history = history[history["run"] == run.name].assign(attention="eca")
data_sources = ", ".join(sorted(set(history["data"])))
if data_sources.startswith("synthetic"):
    print(f"Synthetic data ({data_sources}): a pipeline check, not a result; its checklist is on the pipeline "
          "checks page.")
else:
    display(run_curves(history, title=f"{run.name}; data: {data_sources}"))

# %% [markdown]
# ### The run's best checkpoint, evaluated

# %% tags=["remove-input", "hide-output"]
sizes = {"val_resize": run.config.data.val_resize, "val_crop": run.config.data.val_crop}
evaluation = imagenet.evaluate_checkpoint(
    result.run_dir / "checkpoints" / "model_best.pth.tar",
    imagenet.data_folder(run),
    workers=run.config.data.workers,
    device=device,
    image_sizes=sizes,
    progress=show_progress,
)
print(imagenet.format_evaluation(evaluation))

# %% [markdown]
# ### Provenance

# %% tags=["remove-input", "hide-output"]
import json

print(json.dumps(json.loads((result.run_dir / "params.json").read_text()), indent=2))
print(json.dumps(json.loads((result.run_dir / "env.json").read_text()), indent=2))
