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
# # The ECA module
#
# Squeeze-and-Excitation pools each channel to one number, passes the C numbers through two fully
# connected layers that squeeze them to C/r and back, and rescales the channels by the sigmoid of
# the result. ECA keeps the pooling, the sigmoid and the rescaling, and replaces the two layers by
# **one 1-D convolution of size k that slides across the channel axis**: every channel's weight
# depends on its k neighbours, there is no dimensionality reduction, and the whole module has k
# parameters.
#
# $$
# y = \sigma\big(\mathrm{conv1d}_k(\mathrm{GAP}(x))\big), \qquad \tilde x_c = y_c\, x_c
# $$
#
# The paper ties k to the channel count C with its Eq. 12, the odd number nearest to
# $\left|\log_2(C)/\gamma + b/\gamma\right|$ with $\gamma = 2$ and $b = 1$. Everything on this page
# is computed with `ecalib.layers.eca_kernel_size`, `ecalib.layers.EcaLayer` and the registered
# models; the attention weights come from one forward pass of a real photo through an ECA-, SE- and
# CBAM-ResNet.

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_opening

chapter_opening("eca_module")

# %% tags=["parameters"]
# Parameters (papermill -p NAME VALUE); validated by ecalib in the next cell.
checkpoint: str = ""  # official ECA-ResNet .pth.tar (e.g. eca_resnet50_k3557.pth.tar); "": untrained networks
depth: int = 50  # ResNet depth of the ECA/SE/CBAM networks (a checkpoint sets its own)
seed: int = 0  # torch seed of every untrained network and layer
image: str = "chelsea"  # scikit-image sample photo: chelsea | astronaut | coffee
input_size: int = 224  # side of the centre crop fed to the networks

# %% tags=["remove-cell"]
from ecalib.params import check_parameters

check_parameters(globals(), ['checkpoint', 'depth', 'seed', 'image', 'input_size'], booleans=[])

# %% tags=["remove-cell"]
from ecalib.params import check_choice, check_int

depth = check_choice("depth", depth, (18, 34, 50, 101, 152))
seed = check_int("seed", seed, minimum=0)
image = check_choice("image", image, ("chelsea", "astronaut", "coffee"))
input_size = check_int("input_size", input_size, minimum=64, maximum=512)

# %% tags=["remove-cell"]
import inspect
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from PIL import Image
from skimage import data as skimage_data

import ecalib
from ecalib.complexity import count_params
from ecalib.inference import eval_transform
from ecalib.layers import EcaLayer, eca_kernel_size
from ecalib.models import EvalTransform
from ecalib.models.zoo import RESNET_LAYOUTS
from ecalib.reports.attention import capture_attention
from ecalib.reports.glue import glue

# %% [markdown]
# ## The kernel size rule, computed

# %% tags=["remove-input"]
CHANNELS = [16, 32, 64, 96, 128, 256, 512, 1024, 2048]
SETTINGS = [(2, 1), (1, 1), (3, 1), (2, 0)]
rule = pd.DataFrame(
    {f"k (γ={g}, b={b})" + (": Eq. 12" if (g, b) == (2, 1) else ""): [eca_kernel_size(c, g, b) for c in CHANNELS]
     for g, b in SETTINGS},
    index=pd.Index(CHANNELS, name="C"),
)
rule.insert(0, "log2(C)/2 + 1/2", [round(np.log2(c) / 2 + 0.5, 2) for c in CHANNELS])
for c in (64, 128, 256, 1024, 2048):
    glue(f"eca_k_c{c}", eca_kernel_size(c))
defaults = inspect.signature(eca_kernel_size).parameters  # the paper's constants, as ecalib applies them
glue("eca_gamma", defaults["gamma"].default)
glue("eca_b", defaults["b"].default)
display(rule)
print("Source: ecalib.layers.eca_kernel_size, computed in this build.")

# %% [markdown]
# With the paper's constants the rule gives k = {glue:text}`eca_k_c64` up to C = 96,
# k = {glue:text}`eca_k_c256` from C = 128 to 1024 (C = 128 sits exactly on 4 and rounds up) and
# k = {glue:text}`eca_k_c2048` at C = 2048. A smaller γ makes k grow faster with C; b only shifts it.

# %% [markdown]
# ## Released kernels against the rule

# %% tags=["remove-input"]
rows = []
for d in (18, 34, 50, 101, 152):
    released, adaptive = ecalib.model_info(f"eca_resnet{d}"), ecalib.model_info(f"eca_resnet{d}_adaptive")
    block, blocks = RESNET_LAYOUTS[d]
    widths = [w * (4 if block == "bottleneck" else 1) for w in (64, 128, 256, 512)]
    rows.append({"model": f"ECA-ResNet-{d}", "stage channels C": ", ".join(map(str, widths)),
                 "released k (checkpoint file)": ", ".join(map(str, released.k_per_stage)),
                 "Eq. 12 k": ", ".join(map(str, adaptive.k_per_stage)),
                 "Eq. 12 k, C = block width (RC2020)": ", ".join(str(eca_kernel_size(w)) for w in (64, 128, 256, 512)),
                 "ECA parameters (released)": sum(k * n for k, n in zip(released.k_per_stage, blocks)),
                 "stages that differ": sum(a != b for a, b in zip(released.k_per_stage, adaptive.k_per_stage))})
kernels = pd.DataFrame(rows).set_index("model")
display(kernels)
print("Source: ecalib's registry (k per stage of the checkpoints released in the official repository, "
      "BangguWu/ECANet) and eca_kernel_size.")
r50 = kernels.loc["ECA-ResNet-50"]
glue("eca_released_k_r50", r50["released k (checkpoint file)"])
glue("eca_rule_k_r50", r50["Eq. 12 k"])
glue("eca_rule_k_r50_width", r50["Eq. 12 k, C = block width (RC2020)"])
glue("eca_params_r50", int(r50["ECA parameters (released)"]))
glue("eca_models_differing", f"{int((kernels['stages that differ'] > 0).sum())} of {len(kernels)}")
off_width = kernels["released k (checkpoint file)"] != kernels["Eq. 12 k, C = block width (RC2020)"]
glue("eca_models_differing_width", f"{int(off_width.sum())} of {len(kernels)}")
se_extra = count_params(ecalib.create_model("se_resnet50")) - count_params(ecalib.create_model("resnet50"))
glue("se_params_r50", f"{se_extra:,}")

# %% [markdown]
# The released ECA-ResNet-50 uses k = {glue:text}`eca_released_k_r50` per stage where the rule
# gives {glue:text}`eca_rule_k_r50` with C the channels ECA rescales, or
# {glue:text}`eca_rule_k_r50_width` with C the block's width (64 to 512), the reading of RC2020's
# code (official issues #46 and #57 raise the question); {glue:text}`eca_models_differing`
# released ResNets differ from the first reading in at least one stage, and
# {glue:text}`eca_models_differing_width` from the second. Either way the attention is cheap: the
# {glue:text}`eca_params_r50`
# ECA weights of the released ECA-ResNet-50 against {glue:text}`se_params_r50` extra parameters for
# SE (r = 16) on the same backbone.

# %% [markdown]
# ## The 1-D convolution as a band matrix
#
# A 1-D convolution over C channels is a C x C matrix with the same k weights on every row,
# centred on the diagonal, and zeros elsewhere: each channel sees only its k neighbours, and the
# zero padding cuts the band at the first and last channel. `EcaLayer.band_matrix` builds it; the
# check below compares it with the layer itself.

# %% tags=["remove-input"]
torch.manual_seed(seed)
layer = EcaLayer(channels=256)
pooled = torch.randn(8, 1, 256)
gap = (layer.conv(pooled).squeeze(1) - pooled.squeeze(1) @ layer.band_matrix(256).T).abs().max().item()
print(f"C = 256, k = {layer.kernel_size}: max |conv1d(y) - W y| over 8 random descriptors = {gap:.1e}")

# %% [markdown]
# ## Attention on a photo
#
# One scikit-image sample photo (bundled with the package, no download), centre-cropped, goes once
# through an ECA-, an SE- and a CBAM-ResNet; forward hooks record the weights each module multiplies
# the features by (`ecalib.reports.attention.capture_attention`). **Without a checkpoint the networks
# are randomly initialised**: the weights then show the modules' mechanics (the smoothness a k-tap
# kernel imposes across neighbouring channels, the spread of a sigmoid) and nothing learnt. Pass
# `-p checkpoint eca_resnet50_k3557.pth.tar` to put an official ECA-ResNet in its place; no SE or
# CBAM checkpoints were released, so those two always stay untrained. Every figure says which.

# %% tags=["remove-input"]
untrained = f"random init, seed {seed}: not trained weights"
torch.manual_seed(seed)
if checkpoint:
    eca_net = ecalib.load_official_checkpoint(checkpoint)
    depth = eca_net.model_info.depth
    sources = {"ECA": f"official checkpoint {Path(checkpoint).name}"}
else:
    eca_net = ecalib.create_model(f"eca_resnet{depth}")
    sources = {"ECA": untrained}
nets = {"ECA": eca_net}
for mechanism in ("SE", "CBAM"):
    torch.manual_seed(seed)
    nets[mechanism] = ecalib.create_model(f"{mechanism.lower()}_resnet{depth}")
    sources[mechanism] = untrained

photo = Image.fromarray(getattr(skimage_data, image)())
transform = eval_transform(EvalTransform(resize=input_size, crop=input_size))
x = transform(photo).unsqueeze(0)
scale = input_size / min(photo.size)
crop = np.asarray(photo.resize((round(photo.width * scale), round(photo.height * scale))))
top, left = (crop.shape[0] - input_size) // 2, (crop.shape[1] - input_size) // 2
crop = crop[top : top + input_size, left : left + input_size]

weights, spatial, logits = {m: {} for m in nets}, {}, {}
for mechanism, net in nets.items():
    logits[mechanism], records = capture_attention(net, x)
    for r in records:  # keep the last block of each stage
        stage = int(r.module.split(".")[0].removeprefix("layer"))
        if r.kind == "cbam-spatial":
            spatial[stage] = r.weights[0, 0].numpy()
        else:
            weights[mechanism][stage] = r.weights[0].numpy()
STAGES = sorted(weights["ECA"])
stage_channels = {s: len(weights["ECA"][s]) for s in STAGES}
eca_k = dict(zip(STAGES, eca_net.k_per_stage))
print(f"photo: skimage.data.{image}(), {photo.width}x{photo.height}, centre crop {input_size}x{input_size}")
for mechanism, source in sources.items():
    print(f"{mechanism}-ResNet-{depth}: {source}")

# %% tags=["remove-input"]
COLORS = {"ECA": "#d62728", "SE": "#1f77b4", "CBAM": "#2ca02c"}


def plot_weights(ax, stage, channels=64):
    """ECA, SE and CBAM channel weights at the last block of ``stage``: its first ``channels`` channels."""
    for mechanism, per_stage in weights.items():
        w = per_stage[stage][:channels]
        label = f"{mechanism} ({sources[mechanism]})"
        ax.plot(np.arange(len(w)), w, ".-", color=COLORS[mechanism], lw=0.9, ms=3, label=label)
    last = min(channels, stage_channels[stage]) - 1
    ax.set_xlabel(f"channel 0-{last} of the {stage_channels[stage]} of stage {stage}")
    ax.set_ylabel("attention weight")
    ax.set_ylim(0, 1)


def plot_band(ax, channels, gamma, b, window=24):
    """The top-left ``window`` x ``window`` corner of the C x C matrix of the rule's kernel."""
    k = eca_kernel_size(channels, gamma, b)
    stage = next((s for s in STAGES if stage_channels[s] == channels and eca_k[s] == k), None)
    if stage is not None:
        layer = getattr(eca_net, f"layer{stage}")[-1].eca
        source = f"kernel of the ECA-ResNet's stage {stage} ({sources['ECA']})"
    else:
        torch.manual_seed(seed)
        layer, source = EcaLayer(k_size=k), untrained
    shown = min(channels, window)
    matrix = layer.band_matrix(shown).numpy()
    limit = np.abs(matrix).max() or 1.0
    ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit)
    title = f"C={channels}, γ={gamma}, b={b} -> k={k}\nchannels 0-{shown - 1} of {channels}; {source}"
    ax.set_title(title, fontsize="small")
    ax.set_xlabel("input channel")
    ax.set_ylabel("output channel")
    return k


fig, axes = plt.subplots(len(STAGES), 3, figsize=(15, 3.4 * len(STAGES)), gridspec_kw={"width_ratios": [1, 2.4, 1]})
for row, stage in zip(axes, STAGES):
    plot_band(row[0], stage_channels[stage], 2, 1)
    plot_weights(row[1], stage)
    row[2].imshow(crop)
    row[2].imshow(spatial[stage], cmap="magma", alpha=0.55, extent=(0, input_size, input_size, 0))
    low, high = spatial[stage].min(), spatial[stage].max()
    row[2].set_title(f"CBAM spatial gate, stage {stage}\n{low:.2f} (dark) to {high:.2f} (bright)", fontsize="small")
    row[2].axis("off")
axes[0, 1].legend(fontsize="x-small", loc="lower right")
fig.suptitle(f"ECA / SE / CBAM-ResNet-{depth} on skimage.data.{image}(), the last block of every stage "
             f"(ECA: {sources['ECA']}; SE, CBAM: {untrained})", y=1.0)
fig.tight_layout()

# %% tags=["remove-input"]
spread = pd.DataFrame(
    {(m, stat): [getattr(np, stat)(weights[m][s]) for s in STAGES] for m in weights for stat in ("mean", "std")},
    index=pd.Index([f"stage {s} (C={stage_channels[s]})" for s in STAGES], name="last block of"),
)
display(spread.round(3))
print("Source: this build, one forward pass; " + "; ".join(f"{m}: {s}" for m, s in sources.items()))
if checkpoint:
    from ecalib.inference import predict

    print("ECA-ResNet top-5:", ", ".join(f"{p.label} {p.probability:.2f}" for p in predict(eca_net, photo)))

# %% [markdown]
# ## Explorer
#
# Pick C, γ and b to see the kernel size and the band matrix they give, and a stage of the
# networks to see the attention weights each mechanism puts on the first 64 of the photo's channels
# there (choosing a stage sets C to its channel count). The explorer needs a running kernel: open this page in
# Binder or Colab (rocket icon above). In the static book it shows its first state, and the figure
# above holds the same views for every stage.

# %% tags=["remove-input"]
import ipywidgets as widgets

options = sorted(set([16, 32, 64, 96, 128, 256, 512, 1024, 2048] + list(stage_channels.values())))
c_slider = widgets.SelectionSlider(options=options, value=stage_channels[STAGES[-1]], description="C")
gamma_slider = widgets.IntSlider(value=2, min=1, max=4, description="γ")
b_slider = widgets.IntSlider(value=1, min=0, max=4, description="b")
stage_menu = widgets.Dropdown(options=[(f"stage {s} ({stage_channels[s]} channels)", s) for s in STAGES],
                              value=STAGES[-1], description="stage")
stage_menu.observe(lambda change: setattr(c_slider, "value", stage_channels[change["new"]]), names="value")


def explore(channels, gamma, b, stage):
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1, 2.4]})
    plot_band(left, channels, gamma, b)
    plot_weights(right, stage)
    right.legend(fontsize="x-small", loc="lower right")
    right.set_title(f"stage {stage}: the network uses k={eca_k[stage]}; the rule with γ={gamma}, b={b} gives "
                    f"k={eca_kernel_size(stage_channels[stage], gamma, b)} for its {stage_channels[stage]} channels",
                    fontsize="small")
    fig.tight_layout()
    plt.show()


controls = {"channels": c_slider, "gamma": gamma_slider, "b": b_slider, "stage": stage_menu}
display(widgets.VBox([widgets.HBox([stage_menu, c_slider]), widgets.HBox([gamma_slider, b_slider]),
                      widgets.interactive_output(explore, controls)]))

# %% [markdown]
# ## What the evidence says

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_closing

chapter_closing("eca_module")


# %% [markdown]
# ## Provenance

# %% tags=["remove-input"]
import json

from ecalib.provenance import environment

print(f"Source: this build; photo skimage.data.{image}() (bundled with scikit-image); networks: "
      + "; ".join(f"{m}-ResNet-{depth} {s}" for m, s in sources.items()))
print(json.dumps(environment(), indent=2))
