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
# # COCO: Mask R-CNN with an ECA-ResNet-50 backbone
#
# **The question.** Does the paper's Mask R-CNN result with an ECA-ResNet-50 backbone reproduce, and
# if the 2020 reproduction fell short, why? The paper reports Mask R-CNN with ECA-ResNet-50 at
# {glue:text}`paper_maskrcnn_eca_box_ap` box AP
# and {glue:text}`paper_maskrcnn_eca_mask_ap` mask AP on COCO val (Tables 5 and 6); the 2020
# reproduction reached {glue:text}`rc2020_maskrcnn_box_ap` and {glue:text}`rc2020_maskrcnn_mask_ap`.
# This chapter reads the
# reproduction's own training logs as evidence of why, then trains the same detector with
# `ecalib` (torchvision by default, MMDetection through its registry as the alternative), with the
# lr scaled to the batch actually used.

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_opening

chapter_opening("coco_maskrcnn")

# %% [markdown]
# ## The published numbers

# %% tags=["remove-input"]
from ecalib.reports.tables import reference_table

bbox = reference_table("paper", "Table 5", "coco_bbox")
segm = reference_table("paper", "Table 6", "coco_segm")
rc_bbox = reference_table("RC2020 reproduction", "README", "coco_bbox")
rc_segm = reference_table("RC2020 reproduction", "README", "coco_segm")
from ecalib.reports.glue import glue

glue("paper_maskrcnn_eca_box_ap", str(bbox.loc[("ResNet-50", "Mask R-CNN ECA"), "AP"]))
glue("paper_maskrcnn_eca_mask_ap", str(segm.loc[("ResNet-50", "Mask R-CNN ECA"), "AP"]))
glue("rc2020_maskrcnn_box_ap", str(rc_bbox["AP"].iloc[0]))
glue("rc2020_maskrcnn_mask_ap", str(rc_segm["AP"].iloc[0]))
from ecalib.reports.tables import captioned


def rc2020_rows(table):
    """RC2020's rows under the name of what it trained: Mask R-CNN with an ECA-ResNet-50 backbone."""
    return table.rename(index={"ECA-Net50": "ResNet-50 (ECA backbone)"}, level=0)


display(captioned(bbox[bbox.index.get_level_values(1).str.startswith("Mask R-CNN")],
                  "Box AP of Mask R-CNN on COCO val, ResNet-50 backbones", "paper, Table 5", digits=1))
display(captioned(rc_bbox.pipe(rc2020_rows), "Box AP of RC2020's Mask R-CNN with an ECA-ResNet-50 backbone",
                  "RC2020 reproduction's README", digits=1))
display(captioned(segm, "Mask AP of Mask R-CNN on COCO val", "paper, Table 6", digits=1))
display(captioned(rc_segm.pipe(rc2020_rows), "Mask AP of RC2020's Mask R-CNN with an ECA-ResNet-50 backbone",
                  "RC2020 reproduction's README", digits=1))

# %% [markdown]
# ## The reproduction's logs
#
# Two MMDetection 2.7 text logs (`ecalib/reference/rc2020_maskrcnn_logs/`): run 1 went NaN in
# epoch {glue:text}`rc2020_nan_epoch`; run 2 resumed from the epoch-{glue:text}`rc2020_resume_epoch`
# checkpoint with a lower lr in its config. Every number below is parsed from those files.

# %% tags=["remove-input"]
from ecalib.reference import rc2020_maskrcnn_logs
from ecalib.reports.figures import mmdet_logs
from ecalib.reports.mmdet_logs import parse_mmdet_log, rc2020_evidence

run1, run2 = [parse_mmdet_log(p) for p in rc2020_maskrcnn_logs()]
display(captioned(rc2020_evidence(run1, run2).set_index(["log", "quantity"]),
                  "What RC2020's two Mask R-CNN logs say: configured and logged lr, the first NaN, the resume",
                  "RC2020's MMDetection logs 20210102_160817.log (run 1) and 20210106_012255.log (run 2), parsed by "
                  "ecalib.reports.mmdet_logs", digits=4))
display(mmdet_logs({"run 1 (20210102_160817.log)": run1, "run 2 (20210106_012255.log)": run2},
                   name="rc2020-maskrcnn-logs"))

# %% tags=["remove-input"]
from IPython.display import Markdown

ev = rc2020_evidence(run1, run2).set_index("quantity")["value"]
glue("rc2020_nan_epoch", f"{ev['first non-finite loss: epoch']:g}")
glue("rc2020_resume_epoch", f"{ev['resumed from the checkpoint of epoch']:g}")
Markdown(
    f"Run 1 used lr {ev['configured lr']:g} with {ev['images per iteration (1 GPU x samples_per_gpu)']:g} images per "
    f"iteration, {ev['configured lr'] / ev['lr by the linear scaling rule for that batch']:g} times the "
    f"{ev['lr by the linear scaling rule for that batch']:g} that the linear scaling rule gives for that batch; "
    f"every loss became NaN at epoch {ev['first non-finite loss: epoch']:g}, iteration "
    f"{ev['first non-finite loss: iteration']:g}. "
    f"Run 2's config announced lr {ev['configured lr (the announced fix)']:g}, "
    f"but resuming restored the old optimizer state and the logged lr in epoch {run2.resumed_from_epoch + 1} is "
    f"{ev['lr logged in epoch ' + str(run2.resumed_from_epoch + 1)]:g}: the fix never applied, and the later drops "
    f"are the step schedule (x0.1 after epochs 8 and 11). It still ended at bbox mAP "
    f"{ev['final bbox mAP (epoch 12)']:.3f} and segm mAP {ev['final segm mAP (epoch 12)']:.3f}."
)

# %% [markdown]
# ## The recipe
#
# MMDetection's 1x schedule as the paper used it, with the lr scaled linearly to the batch actually
# used (`optimizer.base_lr` at `optimizer.base_batch`): read from the recipe files that `ecalib`
# trains, one for torchvision and one for MMDetection's Runner.

# %% tags=["remove-input"]
from ecalib.recipes.tables import recipe_sources, recipes_shown

COCO_RECIPES = ["coco/maskrcnn_1x", "coco/maskrcnn_1x_mmdet"]
display(recipes_shown(COCO_RECIPES, "The Mask R-CNN recipes, one column per recipe file"))
print(recipe_sources(COCO_RECIPES))

# %% [markdown]
# ## What the evidence says

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_closing

chapter_closing("coco_maskrcnn")


# %% [markdown]
# ## Run it yourself
#
# `ecalib` recomputes the lr from the configuration at every epoch, so a resumed run takes the lr
# it is given, and scales it linearly with the batch (0.02 x batch/16). With COCO 2017 and GPUs:
#
# ```bash
# ecalib coco convert-backbone eca_resnet50_k3377.pth.tar --to torchvision -o backbone_tv.pth
# torchrun --nproc_per_node 8 -m ecalib coco train --data-dir /data/coco --backbone-weights backbone_tv.pth
# papermill notebooks/coco_maskrcnn.ipynb out.ipynb -p data_dir /data/coco -p backbone_weights backbone_tv.pth
# ecalib coco mmdet-train --data-dir /data/coco
# ```
#
# The MMDetection path (`-p backend mmdet`) needs MMDetection and mmcv with its compiled ops
# (`make mmdet`).

# %% [markdown]
# ## Pipeline check on synthetic data
#
# The book runs the `smoke` profile: two epochs on a few **synthetic** COCO-format scenes (coloured
# shapes with exact masks), from a randomly initialised backbone, on a CPU. The outputs
# (collapsed) show training, pycocotools evaluation and overlays working end to end; their AP says
# nothing about COCO, and the {doc}`pipeline_checks` page lists what the run proved. A real run
# shows its own results here.

# %% tags=["parameters", "hide-input"]
# Parameters (papermill -p NAME VALUE); validated by ecalib in the next cell.
backend: str = "torchvision"  # torchvision | mmdet
profile: str = "full"  # full | smoke
data = None  # type: Optional[str] coco | synthetic; None: coco (smoke: synthetic)
data_dir = None  # type: Optional[str] COCO root with train2017/, val2017/, annotations/
backbone_weights = None  # type: Optional[str] official ImageNet .pth.tar or a converted backbone file
checkpoint = None  # type: Optional[str] a trained run's checkpoint to evaluate and draw instead of training
epochs = None  # type: Optional[int] None: the 1x schedule (12)
batch_size = None  # type: Optional[int] global batch; the lr follows 0.02 x batch/16
device: str = "auto"  # auto | cpu | cuda
wandb_mode: str = "offline"  # offline | online | disabled
show_progress: bool = True  # per-epoch lines and progress bars (the book: false)
overrides: str = ""  # more recipe keys, as ecalib train --set takes them (space-separated)
results_dir: str = "runs"  # generated runs (not tracked; committed results live in results/)

# %% tags=["remove-cell"]
from ecalib.params import check_parameters

PARAMETERS = check_parameters(globals(), folders=["results_dir"])  # read from the cell above

# %%
from ecalib.params import check_choice
from ecalib.recipes import resolve, shorthands_of
from ecalib.tasks import coco, prepare_data, train

check_choice("backend", backend, ("torchvision", "mmdet"))
recipe = "coco/maskrcnn_1x_mmdet" if backend == "mmdet" else "coco/maskrcnn_1x"
run = resolve(
    recipe, profile, overrides, **shorthands_of(globals(), PARAMETERS)
)  # parameters named like the CLI shorthands
cfg = run.train_config()
print(f"{run.name}: {cfg.epochs} epochs, batch {cfg.batch_size}, lr {cfg.lr:g} ({run.lr_rule})")
prepare_data([run], ways_out="papermill")

# %% tags=["hide-output"]
from pathlib import Path

if backend == "mmdet":
    from ecalib.mmdet.train import train_with_mmdet

    result_dir = train_with_mmdet(run, results_dir)
    checkpoint_path = None
elif checkpoint:
    checkpoint_path = Path(checkpoint)
    result_dir = checkpoint_path.parent.parent
else:
    result = train(run, results_dir, progress=show_progress, verbose=show_progress)
    result_dir = result.run_dir
    checkpoint_path = result_dir / "checkpoints" / "checkpoint.pth.tar"

# %% [markdown]
# ### Results in the paper's layout

# %% tags=["remove-input", "hide-output"]
from ecalib.detection.coco_eval import paper_layout

if checkpoint_path is not None:
    metrics = coco.evaluate(checkpoint_path, coco.data_folder(run), device=device)
    kind = metrics["data_source"]["kind"]
    print(f"this build, {kind} data, {metrics['images']} val images, evaluated by pycocotools.")
    if kind == "synthetic":
        print("Synthetic scenes: a pipeline check, not a result (its checklist is on the pipeline checks page).")
    else:
        paper = {
            f"{t}_{m}": float(v) / 100
            for t, table in (("bbox", bbox), ("segm", segm))
            for m, v in table.loc[("ResNet-50", "Mask R-CNN ECA")].items()
            if m.startswith("AP")
        }
        display(captioned(paper_layout(metrics), "This run's COCO AP in the paper's layout",
                          f"this build, {kind} data, {metrics['images']} val images", digits=1))
        display(captioned(paper_layout(paper), "ECA-ResNet-50 Mask R-CNN on COCO val", "paper, Tables 5 and 6",
                          digits=1))

# %% [markdown]
# ### Detections, epoch by epoch

# %% tags=["remove-input", "hide-output"]
from IPython.display import Image

gif = Path(result_dir) / "progress.gif"
if gif.exists():
    display(Image(filename=str(gif)))
frames = sorted((Path(result_dir) / "frames").glob("*.png"))
if frames:
    display(Image(filename=str(frames[-1])))

# %% [markdown]
# ### Provenance

# %% tags=["remove-input", "hide-output"]
import json

print(json.dumps(json.loads((Path(result_dir) / "params.json").read_text()), indent=2))
print(json.dumps(json.loads((Path(result_dir) / "env.json").read_text()), indent=2))
