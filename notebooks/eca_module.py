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
# models; with an official checkpoint (`-p checkpoint ...`) the page also shows its learned kernels and
# the attention it puts on a real photo.

# %% tags=["remove-input"]
from ecalib.reports.ledger import chapter_opening

chapter_opening("eca_module")

# %% tags=["parameters"]
# Parameters (papermill -p NAME VALUE); validated by ecalib in the next cell.
checkpoint: str = ""  # official ECA-ResNet .pth.tar (e.g. eca_resnet50_k3557.pth.tar); "": no learned weights shown
seed: int = 0  # torch seed of the band-matrix check
image: str = "chelsea"  # scikit-image sample photo (with a checkpoint): chelsea | astronaut | coffee
input_size: int = 224  # side of the centre crop fed to the networks

# %% tags=["remove-cell"]
from ecalib.params import check_parameters

check_parameters(globals())

# %% tags=["remove-cell"]
from ecalib.params import check_choice, check_int

seed = check_int("seed", seed, minimum=0)
image = check_choice("image", image, ("chelsea", "astronaut", "coffee"))
input_size = check_int("input_size", input_size, minimum=64, maximum=512)

# %% tags=["remove-cell"]
import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import ecalib
from ecalib.complexity import count_params
from ecalib.layers import EcaLayer, eca_kernel_size
from ecalib.reports.claims import released_resnet_kernels
from ecalib.reports.figures import kernel_explorer
from ecalib.reports.glue import glue
from ecalib.reports.tables import captioned

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
captioned(rule, "Eq. 12's kernel size k per channel count C, with the paper's constants and three others",
          "ecalib.layers.eca_kernel_size, computed in this build", digits=2)

# %% [markdown]
# With the paper's constants the rule gives k = {glue:text}`eca_k_c64` up to C = 96,
# k = {glue:text}`eca_k_c256` from C = 128 to 1024 (C = 128 sits exactly on 4 and rounds up) and
# k = {glue:text}`eca_k_c2048` at C = 2048. A smaller γ makes k grow faster with C; b only shifts it.
#
# **Explore it.** The sliders below set C, γ and b; the kernel size and the band of the 1-D
# convolution follow in the page (no kernel needed: k was computed by `eca_kernel_size` for every
# slider position when the book was built).

# %% tags=["remove-input"]
kernel_explorer(eca_kernel_size, channels=range(8, 2049, 8), gammas=range(1, 5), offsets=range(0, 5))

# %% [markdown]
# ## Released kernels against the rule

# %% tags=["remove-input"]
kernels = released_resnet_kernels()
r50 = kernels.loc["ECA-ResNet-50"]
glue("eca_released_k_r50", ", ".join(r50["released k (checkpoint file)"]))
glue("eca_rule_k_r50", ", ".join(r50["Eq. 12 k"]))
glue("eca_rule_k_r50_width", ", ".join(r50["Eq. 12 k, C = block width (RC2020)"]))
glue("eca_params_r50", int(r50["ECA parameters (released)"]))
glue("eca_models_differing", f"{int((kernels['stages that differ'] > 0).sum())} of {len(kernels)}")
off_width = kernels["released k (checkpoint file)"] != kernels["Eq. 12 k, C = block width (RC2020)"]
glue("eca_models_differing_width", f"{int(off_width.sum())} of {len(kernels)}")
se_extra = count_params(ecalib.create_model("se_resnet50")) - count_params(ecalib.create_model("resnet50"))
glue("se_params_r50", f"{se_extra:,}")
captioned(kernels, "Kernel size per stage of the released ECA-ResNets against Eq. 12",
          "ecalib's registry (k per stage of the checkpoints released in the official repository, "
          "BangguWu/ECANet) and eca_kernel_size")

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
# ## Learned kernels and attention
#
# What a trained ECA does needs trained weights: the kernels of an official checkpoint and the
# channel weights they put on a photo. Without one (as when this book is built: the checkpoints
# cannot be downloaded here) the section says so and shows nothing, because an untrained network's
# weights are noise around 0.5.

# %% tags=["remove-input"]
if not checkpoint:
    print("No checkpoint given: with `-p checkpoint eca_resnet50_k3557.pth.tar` (an official ECA-ResNet) this "
          "section shows the learned 1-D kernel of every block, one block's band matrix with its colour scale, "
          "and the weight ECA puts on each channel of a photo at every stage.")
else:
    from PIL import Image
    from skimage import data as skimage_data

    from ecalib.inference import eval_transform, predict
    from ecalib.models import EvalTransform
    from ecalib.reports.attention import capture_attention
    from ecalib.reports.figures import band_matrix, channel_weights, learned_kernels

    eca_net = ecalib.load_official_checkpoint(checkpoint)
    source = f"official checkpoint {Path(checkpoint).name}"
    rows = []
    for name, module in eca_net.named_modules():
        if isinstance(module, EcaLayer):
            weight = module.conv.weight.detach().flatten().tolist()
            half = len(weight) // 2
            stage = int(name.split(".")[0].removeprefix("layer")) if name.startswith("layer") else 0
            rows += [{"block": name, "stage": stage, "k": len(weight), "j": j - half, "weight": w}
                     for j, w in enumerate(weight)]
    display(learned_kernels(pd.DataFrame(rows), source))
    last = [m for n, m in eca_net.named_modules() if isinstance(m, EcaLayer)][-1]
    display(band_matrix(last.band_matrix(24).numpy(), f"band matrix of the last ECA block, channels 0-23 ({source})"))
    photo = Image.fromarray(getattr(skimage_data, image)())
    x = eval_transform(EvalTransform(resize=input_size, crop=input_size))(photo).unsqueeze(0)
    _, records = capture_attention(eca_net, x)
    last_of_stage = {}
    for r in records:
        last_of_stage[int(r.module.split(".")[0].removeprefix("layer"))] = r.weights[0].numpy()
    weights = pd.DataFrame([{"stage": s, "channel": c, "weight": float(w)} for s, ws in last_of_stage.items()
                            for c, w in enumerate(ws[:64])])
    display(channel_weights(weights, f"{source}; skimage.data.{image}(), channels 0-63"))
    print("top-5:", ", ".join(f"{p.label} {p.probability:.2f}" for p in predict(eca_net, photo)))

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

print("Source: this build; " + (f"official checkpoint {Path(checkpoint).name}" if checkpoint else "no checkpoint"))
print(json.dumps(environment(), indent=2))
