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
# # COCO: correcting the weights
#
# **The question.** Can the released ECA-ResNet-50 files be used by today's detectors as they are,
# and if not, what exactly must change? The evidence is the official repository's issue #47 (its
# MMDetection-1.x detectors do not load in MMDetection 2.x/3.x) and the reproduction's "weight
# correction" script (RC2020), both checked key by key below.
#
# Two conversions stand between the released files and a detector that trains today:
#
# 1. **ImageNet checkpoint -> detection backbone.** The official `.pth.tar` wraps a DataParallel
#    `state_dict` (`module.` keys) with a classifier and an `arch` field that can be wrong. The
#    reproduction's "weight correction" only unwrapped `state_dict` and let mmcv load the rest
#    non-strictly, so a kernel-size mismatch or a missing ECA key would have passed silently.
#    `ecalib coco convert-backbone` builds the target backbone with the checkpoint's own ECA
#    kernels and fails unless every key, every `eca.conv.weight` included, matches.
# 2. **The authors' MMDetection-1.x detectors -> MMDetection 2.x/3.x** (official issue #47): heads
#    move under `roi_head.`, the background class moves from the first to the last row, the
#    class-specific box regression drops the background's 4 outputs
#    ({glue:text}`coco_reg_outputs_old` -> {glue:text}`coco_reg_outputs_new`), and the mask logits
#    drop the background channel ({glue:text}`coco_mask_channels_old` -> {glue:text}`coco_mask_channels_new`;
#    shapes read from the converted files in section 3).
#
# The real files cannot be downloaded here, so this chapter **generates files in the official
# layouts** (random weights, real key names and shapes) and converts those.

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_opening

chapter_opening("coco_weights")

# %% [markdown]
# ## Run it yourself
#
# With the released files from the official repository (BangguWu/ECANet):
#
# ```bash
# ecalib coco convert-backbone eca_resnet50_k3377.pth.tar --to torchvision -o backbone_tv.pth
# ecalib coco convert-backbone eca_resnet50_k3377.pth.tar --to mmdet -o eca_resnet50_k3377_mmdet.pth
# ecalib coco upgrade-detector mask_rcnn_ecanet50_k3377.pth -o mask_rcnn_ecanet50_k3377_mmdet3.pth
# ```
#
# The sections below run the same conversions on generated files (`work_dir`).

# %% tags=["parameters"]
# Parameters (papermill -p NAME VALUE)
work_dir: str = "_build/coco_weights"  # where the generated and converted files go
k_size: str = "3377"  # ECA kernels of the generated backbone (the released Mask R-CNN backbone: 3377)

# %% tags=["remove-cell"]
from ecalib.params import check_parameters

check_parameters(globals(), folders=['work_dir'])

# %% tags=["remove-cell"]
from pathlib import Path

import pandas as pd
import torch

from ecalib import CheckpointError, read_official_checkpoint
from ecalib.detection.convert import convert_backbone, upgrade_detector
from ecalib.detection.synthetic_checkpoints import write_mmdet1_detector, write_official_imagenet_checkpoint

work = Path(work_dir)
work.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## 1. An official ImageNet checkpoint

# %%
official = write_official_imagenet_checkpoint(work / f"eca_resnet50_k{k_size}.pth.tar", k_size=k_size)
raw = torch.load(official, weights_only=True)
print("top-level keys:", sorted(raw))
print("arch field:", raw["arch"], "(wrong on purpose, as in the R50 release)")
print("first keys:", list(raw["state_dict"])[:3])
ckpt = read_official_checkpoint(official)
print(f"read from the weights: {ckpt.model_name}, k per stage {ckpt.k_per_stage}, {ckpt.num_classes} classes")

# %% [markdown]
# ## 2. Converted for torchvision and for MMDetection, strictly

# %%
for target in ("torchvision", "mmdet"):
    report = convert_backbone(official, target, work / f"eca_resnet50_k{k_size}_{target}.pth")
    print(report)

# %% [markdown]
# A checkpoint that does not fit is refused, with the keys that are wrong. Here one block lost
# its ECA kernel, which a non-strict load would have skipped without a word:

# %%
broken = {k: v for k, v in raw["state_dict"].items() if k != "module.layer3.2.eca.conv.weight"}
torch.save({"state_dict": broken}, work / "broken.pth.tar")
try:
    convert_backbone(work / "broken.pth.tar", "mmdet")
except CheckpointError as err:
    print("refused:", err)

# %% [markdown]
# ## 3. Upgrading an MMDetection-1.x ECA detector

# %%
old_path = write_mmdet1_detector(work / f"mask_rcnn_ecanet50_k{k_size}_mmdet1.pth", k_size=k_size)
report = upgrade_detector(old_path, work / f"mask_rcnn_ecanet50_k{k_size}_mmdet3.pth")
print(f"{report['classes']} classes, backbone k per stage {report['k_per_stage']}, "
      f"{report['moved_under_roi_head']} head tensors moved under roi_head.")
old = torch.load(old_path, weights_only=True)["state_dict"]
new = torch.load(report["output"], weights_only=True)["state_dict"]
rows = []
for key in ("bbox_head.fc_cls.weight", "bbox_head.fc_reg.weight", "mask_head.conv_logits.weight"):
    rows.append({"MMDetection 1.x key": key, "shape": list(old[key].shape),
                 "MMDetection 2.x/3.x key": "roi_head." + key, "new shape": list(new["roi_head." + key].shape)})
from ecalib.reports.tables import captioned

display(captioned(pd.DataFrame(rows), "Head tensors of the MMDetection-1.x detector and their upgraded form",
                  f"generated {old_path.name}, upgraded by ecalib.detection.convert.upgrade_detector"))
from ecalib.reports.glue import glue

heads = (("bbox_head.fc_reg.weight", "coco_reg_outputs"), ("mask_head.conv_logits.weight", "coco_mask_channels"))
for key, name in heads:
    glue(f"{name}_old", old[key].shape[0])
    glue(f"{name}_new", new["roi_head." + key].shape[0])
background_last = torch.equal(new["roi_head.bbox_head.fc_cls.weight"][-1], old["bbox_head.fc_cls.weight"][0])
print("background row now last:", background_last)


# %% [markdown]
# ## What the evidence says

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_closing

chapter_closing("coco_weights")
