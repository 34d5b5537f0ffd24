"""Write the notebooks' source (run once by a developer; the .ipynb files are committed).

Keeping the cells here makes notebook diffs reviewable; `make notebooks` regenerates them.
"""

import ast
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


COLAB_SETUP = """
import sys

if "google.colab" in sys.modules:  # Colab: the repository (results, reference data) and ecalib, then the GPU
    !git clone -q --depth 1 https://github.com/ecalib/ecalib /content/ecalib 2>/dev/null || true
    %cd -q /content/ecalib
    %pip install -q -e ".[train,coco]"
    import torch

    print("device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (Runtime > Change runtime type adds a GPU)")
"""


def parameter_check(parameters_cell):
    """A hidden cell refusing unknown papermill parameters and non-boolean values of the bool ones.

    The names come from the parameters cell itself; papermill injects its cell right after that one.
    """
    known, booleans = [], []
    for node in ast.parse(parameters_cell.source).body:
        if isinstance(node, ast.AnnAssign):
            known.append(node.target.id)
            if isinstance(node.annotation, ast.Name) and node.annotation.id == "bool":
                booleans.append(node.target.id)
        elif isinstance(node, ast.Assign):
            known += [target.id for target in node.targets]
    return code(
        f"""
from ecalib.params import check_parameters

check_parameters(globals(), {known!r}, booleans={booleans!r})
""",
        tags=["remove-cell"],
    )


def notebook(cells):
    """A chapter: the Colab set-up cell (hidden in the book, a no-op elsewhere) and then ``cells``,
    with the parameter check after the parameters cell."""
    nb = nbf.v4.new_notebook()
    checked = []
    for cell in cells:
        checked.append(cell)
        if "parameters" in cell.metadata.get("tags", []):
            checked.append(parameter_check(cell))
    nb.cells = [code(COLAB_SETUP, tags=["remove-cell"]), *checked]
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

ECA_MODULE = notebook(
    [
        md(
            r"""
# The ECA module

Squeeze-and-Excitation pools each channel to one number, passes the C numbers through two fully
connected layers that squeeze them to C/r and back, and rescales the channels by the sigmoid of
the result. ECA keeps the pooling, the sigmoid and the rescaling, and replaces the two layers by
**one 1-D convolution of size k that slides across the channel axis**: every channel's weight
depends on its k neighbours, there is no dimensionality reduction, and the whole module has k
parameters.

$$
y = \sigma\big(\mathrm{conv1d}_k(\mathrm{GAP}(x))\big), \qquad \tilde x_c = y_c\, x_c
$$

The paper ties k to the channel count C with its Eq. 12, the odd number nearest to
$\left|\log_2(C)/\gamma + b/\gamma\right|$ with $\gamma = 2$ and $b = 1$. Everything on this page
is computed with `ecalib.layers.eca_kernel_size`, `ecalib.layers.EcaLayer` and the registered
models; the attention weights come from one forward pass of a real photo through an ECA-, SE- and
CBAM-ResNet.
"""
        ),
        code(
            """
# Parameters (papermill -p NAME VALUE); validated by ecalib in the next cell.
checkpoint: str = ""  # official ECA-ResNet .pth.tar (e.g. eca_resnet50_k3557.pth.tar); "": untrained networks
depth: int = 50  # ResNet depth of the ECA/SE/CBAM networks (a checkpoint sets its own)
seed: int = 0  # torch seed of every untrained network and layer
image: str = "chelsea"  # scikit-image sample photo: chelsea | astronaut | coffee
input_size: int = 224  # side of the centre crop fed to the networks
""",
            tags=["parameters"],
        ),
        code(
            """
from ecalib.params import check_choice, check_int

depth = check_choice("depth", depth, (18, 34, 50, 101, 152))
seed = check_int("seed", seed, minimum=0)
image = check_choice("image", image, ("chelsea", "astronaut", "coffee"))
input_size = check_int("input_size", input_size, minimum=64, maximum=512)
""",
            tags=["remove-cell"],
        ),
        code(
            """
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
""",
            tags=["remove-cell"],
        ),
        md("## The kernel size rule, computed"),
        code(
            """
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
""",
            tags=["remove-input"],
        ),
        md(
            """
With the paper's constants the rule gives k = {glue:text}`eca_k_c64` up to C = 96,
k = {glue:text}`eca_k_c256` from C = 128 to 1024 (C = 128 sits exactly on 4 and rounds up) and
k = {glue:text}`eca_k_c2048` at C = 2048. A smaller γ makes k grow faster with C; b only shifts it.
"""
        ),
        md("## Released kernels against the rule"),
        code(
            """
rows = []
for d in (18, 34, 50, 101, 152):
    released, adaptive = ecalib.model_info(f"eca_resnet{d}"), ecalib.model_info(f"eca_resnet{d}_adaptive")
    block, blocks = RESNET_LAYOUTS[d]
    widths = [w * (4 if block == "bottleneck" else 1) for w in (64, 128, 256, 512)]
    rows.append({"model": f"ECA-ResNet-{d}", "stage channels C": ", ".join(map(str, widths)),
                 "released k (checkpoint file)": ", ".join(map(str, released.k_per_stage)),
                 "Eq. 12 k": ", ".join(map(str, adaptive.k_per_stage)),
                 "ECA parameters (released)": sum(k * n for k, n in zip(released.k_per_stage, blocks)),
                 "stages that differ": sum(a != b for a, b in zip(released.k_per_stage, adaptive.k_per_stage))})
kernels = pd.DataFrame(rows).set_index("model")
display(kernels)
print("Source: ecalib's registry (k per stage of the released checkpoints, SPEC section 2) and eca_kernel_size.")
r50 = kernels.loc["ECA-ResNet-50"]
glue("eca_released_k_r50", r50["released k (checkpoint file)"])
glue("eca_rule_k_r50", r50["Eq. 12 k"])
glue("eca_params_r50", int(r50["ECA parameters (released)"]))
glue("eca_models_differing", f"{int((kernels['stages that differ'] > 0).sum())} of {len(kernels)}")
se_extra = count_params(ecalib.create_model("se_resnet50")) - count_params(ecalib.create_model("resnet50"))
glue("se_params_r50", f"{se_extra:,}")
""",
            tags=["remove-input"],
        ),
        md(
            """
The released ECA-ResNet-50 uses k = {glue:text}`eca_released_k_r50` per stage where the rule
gives {glue:text}`eca_rule_k_r50`; {glue:text}`eca_models_differing` released ResNets differ from
the rule in at least one stage. Either way the attention is cheap: the {glue:text}`eca_params_r50`
ECA weights of the released ECA-ResNet-50 against {glue:text}`se_params_r50` extra parameters for
SE (r = 16) on the same backbone.
"""
        ),
        md(
            """
## The 1-D convolution as a band matrix

A 1-D convolution over C channels is a C x C matrix with the same k weights on every row,
centred on the diagonal, and zeros elsewhere: each channel sees only its k neighbours, and the
zero padding cuts the band at the first and last channel. `EcaLayer.band_matrix` builds it; the
check below compares it with the layer itself.
"""
        ),
        code(
            """
torch.manual_seed(seed)
layer = EcaLayer(channels=256)
pooled = torch.randn(8, 1, 256)
gap = (layer.conv(pooled).squeeze(1) - pooled.squeeze(1) @ layer.band_matrix(256).T).abs().max().item()
print(f"C = 256, k = {layer.kernel_size}: max |conv1d(y) - W y| over 8 random descriptors = {gap:.1e}")
""",
            tags=["remove-input"],
        ),
        md(
            """
## Attention on a photo

One scikit-image sample photo (bundled with the package, no download), centre-cropped, goes once
through an ECA-, an SE- and a CBAM-ResNet; forward hooks record the weights each module multiplies
the features by (`ecalib.reports.attention.capture_attention`). **Without a checkpoint the networks
are randomly initialised**: the weights then show the modules' mechanics (the smoothness a k-tap
kernel imposes across neighbouring channels, the spread of a sigmoid) and nothing learnt. Pass
`-p checkpoint eca_resnet50_k3557.pth.tar` to put an official ECA-ResNet in its place; no SE or
CBAM checkpoints were released, so those two always stay untrained. Every figure says which.
"""
        ),
        code(
            """
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
crop = np.asarray(photo.resize((round(photo.width * input_size / min(photo.size)), round(photo.height * input_size / min(photo.size)))))
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
""",
            tags=["remove-input"],
        ),
        code(
            """
COLORS = {"ECA": "#d62728", "SE": "#1f77b4", "CBAM": "#2ca02c"}


def plot_weights(ax, stage, channels=64):
    \"\"\"ECA, SE and CBAM channel weights at the last block of ``stage``: its first ``channels`` channels.\"\"\"
    for mechanism, per_stage in weights.items():
        w = per_stage[stage][:channels]
        ax.plot(np.arange(len(w)), w, ".-", color=COLORS[mechanism], lw=0.9, ms=3, label=f"{mechanism} ({sources[mechanism]})")
    ax.set_xlabel(f"channel 0-{min(channels, stage_channels[stage]) - 1} of the {stage_channels[stage]} of stage {stage}")
    ax.set_ylabel("attention weight")
    ax.set_ylim(0, 1)


def plot_band(ax, channels, gamma, b, window=24):
    \"\"\"The top-left ``window`` x ``window`` corner of the C x C matrix of the rule's kernel.\"\"\"
    k = eca_kernel_size(channels, gamma, b)
    stage = next((s for s in STAGES if stage_channels[s] == channels and eca_k[s] == k), None)
    if stage is not None:
        layer, source = getattr(eca_net, f"layer{stage}")[-1].eca, f"kernel of the ECA-ResNet's stage {stage} ({sources['ECA']})"
    else:
        torch.manual_seed(seed)
        layer, source = EcaLayer(k_size=k), untrained
    shown = min(channels, window)
    matrix = layer.band_matrix(shown).numpy()
    limit = np.abs(matrix).max() or 1.0
    ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(f"C={channels}, γ={gamma}, b={b} -> k={k}\\nchannels 0-{shown - 1} of {channels}; {source}", fontsize="small")
    ax.set_xlabel("input channel")
    ax.set_ylabel("output channel")
    return k


fig, axes = plt.subplots(len(STAGES), 3, figsize=(15, 3.4 * len(STAGES)), gridspec_kw={"width_ratios": [1, 2.4, 1]})
for row, stage in zip(axes, STAGES):
    plot_band(row[0], stage_channels[stage], 2, 1)
    plot_weights(row[1], stage)
    row[2].imshow(crop)
    row[2].imshow(spatial[stage], cmap="magma", alpha=0.55, extent=(0, input_size, input_size, 0))
    row[2].set_title(f"CBAM spatial gate, stage {stage}\\n{spatial[stage].min():.2f} (dark) to {spatial[stage].max():.2f} (bright)", fontsize="small")
    row[2].axis("off")
axes[0, 1].legend(fontsize="x-small", loc="lower right")
fig.suptitle(f"ECA / SE / CBAM-ResNet-{depth} on skimage.data.{image}(), the last block of every stage "
             f"(ECA: {sources['ECA']}; SE, CBAM: {untrained})", y=1.0)
fig.tight_layout()
""",
            tags=["remove-input"],
        ),
        code(
            """
spread = pd.DataFrame(
    {(m, stat): [getattr(np, stat)(weights[m][s]) for s in STAGES] for m in weights for stat in ("mean", "std")},
    index=pd.Index([f"stage {s} (C={stage_channels[s]})" for s in STAGES], name="last block of"),
)
display(spread.round(3))
print("Source: this build, one forward pass; " + "; ".join(f"{m}: {s}" for m, s in sources.items()))
if checkpoint:
    from ecalib.inference import predict

    print("ECA-ResNet top-5:", ", ".join(f"{p.label} {p.probability:.2f}" for p in predict(eca_net, photo)))
""",
            tags=["remove-input"],
        ),
        md(
            """
## Explorer

Pick C, γ and b to see the kernel size and the band matrix they give, and a stage of the
networks to see the attention weights each mechanism puts on the first 64 of the photo's channels
there (choosing a stage sets C to its channel count). The explorer needs a running kernel: open this page in
Binder or Colab (rocket icon above). In the static book it shows its first state, and the figure
above holds the same views for every stage.
"""
        ),
        code(
            """
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
    k = plot_band(left, channels, gamma, b)
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
""",
            tags=["remove-input"],
        ),
        md("## Provenance"),
        code(
            """
import json

from ecalib.provenance import environment

print(f"Source: this build; photo skimage.data.{image}() (bundled with scikit-image); networks: "
      + "; ".join(f"{m}-ResNet-{depth} {s}" for m, s in sources.items()))
print(json.dumps(environment(), indent=2))
""",
            tags=["remove-input"],
        ),
    ]
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
32x32 images, SGD {glue:text}`rc2020_cifar_lr`, MultiStepLR milestones
{glue:text}`rc2020_cifar_milestones` that {glue:text}`rc2020_cifar_epochs` epochs never reach,
ImageNet statistics); `standard` is a conventional CIFAR recipe (CIFAR stem,
{glue:text}`standard_cifar_epochs` epochs, cosine);
`rc2020_sweep` is the budget of the reproduction's W&B sweep. Profile `smoke` shrinks any of
them to a few hundred **synthetic** images and two epochs so that it runs on a CPU in seconds.
"""
        ),
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
data_dir = None  # folder with cifar-10-batches-py; None: data/cifar10 (synthetic: a folder per spec under data/)
download: bool = False  # download CIFAR-10 into data_dir when missing
device: str = "auto"  # auto | cpu | cuda
amp: str = "none"  # none | bf16 | fp16 (CUDA)
channels_last: bool = False
compile: bool = False  # torch.compile the model
wandb_mode: str = "offline"  # offline | online | disabled
results_dir: str = "runs"  # runs go to results_dir/cifar10/<profile>-<protocol>-<model>-seed<k> (runs/: not tracked)
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
from ecalib.reports.glue import glue

rc2020, standard = cifar10.make_run("eca", "rc2020").train, cifar10.make_run("eca", "standard").train
glue("rc2020_cifar_lr", f"{rc2020.lr:g}")
glue("rc2020_cifar_milestones", "/".join(map(str, rc2020.milestones)))
glue("rc2020_cifar_epochs", rc2020.epochs)
glue("standard_cifar_epochs", standard.epochs)
""",
            tags=["remove-cell"],
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

Every complete CIFAR-10 run found in the result folders below (the committed `results/cifar10`
and this build's `runs/cifar10`), grouped by folder, protocol, profile, data source and device,
so that synthetic smoke runs and real runs are never mixed. For each
mechanism: the mean and standard deviation of the curves over seeds (the reproduction's
figure), the final accuracy with a 95 % confidence interval, and what the mechanism costs in
parameters and training throughput relative to the plain network.
"""
        ),
        code(
            """
# Parameters (papermill -p NAME VALUE)
results_dirs = "results/cifar10,runs/cifar10"  # comma-separated run folders: the committed ones, this build's
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
    fig.suptitle("{}: protocol {}, profile {}, data: {}, device: {}".format(*keys))
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
ours = summary[["results", "protocol", "profile", "data", "device", "attention", "runs", "top-1 mean", "loss mean"]] if len(summary) else summary
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
results_dir: str = "runs"  # generated runs (not tracked; committed results live in results/)
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

The paper trains every ECA-Net on ImageNet-1k with the torchvision ImageNet recipe, and
ECA-MobileNetV2 with its own longer one (paper Sec. 4.1); the table below is printed from the
recipes `ecalib` runs (`ecalib.tasks.imagenet.RECIPES`), with training on RandomResizedCrop +
flip and evaluation on a resize and centre crop. `ecalib` runs those recipes on its training
engine (exact resume, NaN guard, checkpoints in the official layout), on one GPU or many through
`torchrun`, and evaluates any official checkpoint against the published numbers.
"""
        ),
        code(
            """
import pandas as pd

from ecalib.tasks.imagenet import IMAGE_SIZES, RECIPES

recipes = pd.DataFrame(RECIPES).T.assign(**IMAGE_SIZES)
recipes.index = recipes.index.map({"resnet": "ECA-ResNets", "mobilenet_v2": "ECA-MobileNetV2"})
display(recipes)
print("Source: paper Sec. 4.1 and the official main.py, as encoded in ecalib.tasks.imagenet.RECIPES "
      "(gamma: the lr factor at each milestone, or per epoch for the exponential schedule).")
""",
            tags=["remove-input"],
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
results_dir: str = "runs"  # generated runs (not tracked; committed results live in results/)
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

COCO_WEIGHTS = notebook(
    [
        md(
            """
# COCO: correcting the weights

Two conversions stand between the released files and a detector that trains today:

1. **ImageNet checkpoint -> detection backbone.** The official `.pth.tar` wraps a DataParallel
   `state_dict` (`module.` keys) with a classifier and an `arch` field that can be wrong. The
   reproduction's "weight correction" only unwrapped `state_dict` and let mmcv load the rest
   non-strictly, so a kernel-size mismatch or a missing ECA key would have passed silently.
   `ecalib coco convert-backbone` builds the target backbone with the checkpoint's own ECA
   kernels and fails unless every key, every `eca.conv.weight` included, matches.
2. **The authors' MMDetection-1.x detectors -> MMDetection 2.x/3.x** (official issue #47): heads
   move under `roi_head.`, the background class moves from the first to the last row, the
   class-specific box regression drops the background's 4 outputs
   ({glue:text}`coco_reg_outputs_old` -> {glue:text}`coco_reg_outputs_new`), and the mask logits
   drop the background channel ({glue:text}`coco_mask_channels_old` -> {glue:text}`coco_mask_channels_new`;
   shapes read from the converted files in section 3).

The real files cannot be downloaded here, so this chapter **generates files in the official
layouts** (random weights, real key names and shapes) and converts those.
"""
        ),
        code(
            """
# Parameters (papermill -p NAME VALUE)
work_dir: str = "_build/coco_weights"  # where the generated and converted files go
k_size: str = "3377"  # ECA kernels of the generated backbone (the released Mask R-CNN backbone: 3377)
""",
            tags=["parameters"],
        ),
        code(
            """
from pathlib import Path

import pandas as pd
import torch

from ecalib.checkpoint import CheckpointError, read_official_checkpoint
from ecalib.detection.convert import convert_backbone, upgrade_detector
from ecalib.detection.synthetic_checkpoints import write_mmdet1_detector, write_official_imagenet_checkpoint

work = Path(work_dir)
work.mkdir(parents=True, exist_ok=True)
""",
            tags=["remove-cell"],
        ),
        md("## 1. An official ImageNet checkpoint"),
        code(
            """
official = write_official_imagenet_checkpoint(work / f"eca_resnet50_k{k_size}.pth.tar", k_size=k_size)
raw = torch.load(official, weights_only=True)
print("top-level keys:", sorted(raw))
print("arch field:", raw["arch"], "(wrong on purpose, as in the R50 release)")
print("first keys:", list(raw["state_dict"])[:3])
ckpt = read_official_checkpoint(official)
print(f"read from the weights: {ckpt.model_name}, k per stage {ckpt.k_per_stage}, {ckpt.num_classes} classes")
""",
        ),
        md("## 2. Converted for torchvision and for MMDetection, strictly"),
        code(
            """
for target in ("torchvision", "mmdet"):
    report = convert_backbone(official, target, work / f"eca_resnet50_k{k_size}_{target}.pth")
    print(report)
""",
        ),
        md(
            """
A checkpoint that does not fit is refused, with the keys that are wrong. Here one block lost
its ECA kernel, which a non-strict load would have skipped without a word:
"""
        ),
        code(
            """
broken = {k: v for k, v in raw["state_dict"].items() if k != "module.layer3.2.eca.conv.weight"}
torch.save({"state_dict": broken}, work / "broken.pth.tar")
try:
    convert_backbone(work / "broken.pth.tar", "mmdet")
except CheckpointError as err:
    print("refused:", err)
""",
        ),
        md("## 3. Upgrading an MMDetection-1.x ECA detector"),
        code(
            """
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
display(pd.DataFrame(rows))
from ecalib.reports.glue import glue

for key, name in (("bbox_head.fc_reg.weight", "coco_reg_outputs"), ("mask_head.conv_logits.weight", "coco_mask_channels")):
    glue(f"{name}_old", old[key].shape[0])
    glue(f"{name}_new", new["roi_head." + key].shape[0])
print("background row now last:", torch.equal(new["roi_head.bbox_head.fc_cls.weight"][-1], old["bbox_head.fc_cls.weight"][0]))
""",
        ),
    ]
)

COCO_MASKRCNN = notebook(
    [
        md(
            """
# COCO: Mask R-CNN with an ECA-ResNet-50 backbone

The paper reports Mask R-CNN with ECA-ResNet-50 at {glue:text}`paper_maskrcnn_eca_box_ap` box AP
and {glue:text}`paper_maskrcnn_eca_mask_ap` mask AP on COCO val (Tables 5 and 6); the 2020
reproduction reached {glue:text}`rc2020_maskrcnn_box_ap` and {glue:text}`rc2020_maskrcnn_mask_ap`.
This chapter reads the
reproduction's own training logs as evidence of why, then trains the same detector with
`ecalib` (torchvision by default, MMDetection through its registry as the alternative), with the
lr scaled to the batch actually used.
"""
        ),
        md("## The published numbers"),
        code(
            """
from ecalib.reports.tables import reference_table

bbox = reference_table("paper", "Table 5", "coco_bbox")
segm = reference_table("paper", "Table 6", "coco_segm")
rc_bbox = reference_table("RC2020 reproduction", "README", "coco_bbox")
rc_segm = reference_table("RC2020 reproduction", "README", "coco_segm")
from ecalib.reports.glue import glue

glue("paper_maskrcnn_eca_box_ap", str(bbox.loc[('ResNet-50', 'Mask R-CNN ECA'), 'AP']))
glue("paper_maskrcnn_eca_mask_ap", str(segm.loc[('ResNet-50', 'Mask R-CNN ECA'), 'AP']))
glue("rc2020_maskrcnn_box_ap", str(rc_bbox['AP'].iloc[0]))
glue("rc2020_maskrcnn_mask_ap", str(rc_segm['AP'].iloc[0]))
print("Source: paper Table 5 (box AP, Mask R-CNN rows) and the RC2020 reproduction's README")
display(bbox[bbox.index.get_level_values(1).str.startswith("Mask R-CNN")])
display(rc_bbox)
print("Source: paper Table 6 (mask AP) and the RC2020 reproduction's README")
display(segm)
display(rc_segm)
""",
            tags=["remove-input"],
        ),
        md(
            """
## The reproduction's logs

Two MMDetection 2.7 text logs (`ecalib/reference/rc2020_maskrcnn_logs/`): run 1 went NaN in
epoch {glue:text}`rc2020_nan_epoch`; run 2 resumed from the epoch-{glue:text}`rc2020_resume_epoch`
checkpoint with a lower lr in its config. Every number below is parsed from those files.
"""
        ),
        code(
            """
from ecalib.reference import rc2020_maskrcnn_logs
from ecalib.reports.mmdet_logs import combine_runs, parse_mmdet_log, plot_history, rc2020_evidence

run1, run2 = [parse_mmdet_log(p) for p in rc2020_maskrcnn_logs()]
display(rc2020_evidence(run1, run2))
fig = plot_history(run1, "run 1 (20210102_160817.log): lr 0.02 at 2 images per iteration; NaN from epoch 6")
fig = plot_history(combine_runs([run1, run2]), "runs 1 + 2 stitched at the resume point (epoch 5)")
""",
            tags=["remove-input"],
        ),
        code(
            """
from IPython.display import Markdown

ev = rc2020_evidence(run1, run2).set_index("quantity")["value"]
glue("rc2020_nan_epoch", f"{ev['first non-finite loss: epoch']:g}")
glue("rc2020_resume_epoch", f"{ev['resumed from the checkpoint of epoch']:g}")
Markdown(
    f"Run 1 used lr {ev['configured lr']:g} with {ev['images per iteration (1 GPU x samples_per_gpu)']:g} images per "
    f"iteration, {ev['configured lr'] / ev['lr by the linear scaling rule for that batch']:g} times the "
    f"{ev['lr by the linear scaling rule for that batch']:g} that the linear scaling rule gives for that batch; "
    f"every loss became NaN at epoch {ev['first non-finite loss: epoch']:g}, iteration "
    f"{ev['first non-finite loss: iteration']:g}. Run 2's config announced lr {ev['configured lr (the announced fix)']:g}, "
    f"but resuming restored the old optimizer state and the logged lr in epoch {run2.resumed_from_epoch + 1} is "
    f"{ev['lr logged in epoch ' + str(run2.resumed_from_epoch + 1)]:g}: the fix never applied, and the later drops "
    f"are the step schedule (x0.1 after epochs 8 and 11). It still ended at bbox mAP "
    f"{ev['final bbox mAP (epoch 12)']:.3f} and segm mAP {ev['final segm mAP (epoch 12)']:.3f}."
)
""",
            tags=["remove-input"],
        ),
        md(
            """
## Training it here

`ecalib` recomputes the lr from the configuration at every epoch, so a resumed run takes the lr
it is given, and scales it linearly with the batch (0.02 x batch/16). The book runs the
`smoke` profile: two epochs on a few **synthetic** COCO-format scenes (coloured shapes with
exact masks), from a randomly initialised backbone, on a CPU. It shows the pipeline working end
to end (training, pycocotools evaluation, overlays); its AP says nothing about COCO.
"""
        ),
        code(
            """
# Parameters (papermill -p NAME VALUE); validated by ecalib in the next cell.
backend: str = "torchvision"  # torchvision | mmdet
profile: str = "full"  # full | smoke
data = None  # coco | synthetic; None: coco (smoke: synthetic)
data_dir = None  # COCO root with train2017/, val2017/, annotations/
backbone_weights = None  # official ImageNet .pth.tar or a converted backbone file
checkpoint = None  # a trained run's checkpoint to evaluate and draw instead of training
epochs = None  # None: the 1x schedule (12)
batch_size = None  # global batch; the lr follows 0.02 x batch/16
device: str = "auto"  # auto | cpu | cuda
wandb_mode: str = "offline"  # offline | online | disabled
results_dir: str = "runs"  # generated runs (not tracked; committed results live in results/)
""",
            tags=["parameters"],
        ),
        code(
            """
from ecalib.params import check_choice
from ecalib.tasks import coco

check_choice("backend", backend, ("torchvision", "mmdet"))
run = coco.make_run(data_dir, profile, data=data, backbone_weights=backbone_weights, epochs=epochs,
                    batch_size=batch_size, device=device, wandb_mode=wandb_mode)
print(f"{run.name}: {run.train.epochs} epochs, batch {run.train.batch_size}, lr {run.train.lr:g} ({run.lr_rule})")
""",
        ),
        code(
            """
from pathlib import Path

if backend == "mmdet":
    from ecalib.mmdet.train import train_with_mmdet

    result_dir = train_with_mmdet(run, results_dir)
    checkpoint_path = None
elif checkpoint:
    checkpoint_path = Path(checkpoint)
    result_dir = checkpoint_path.parent.parent
else:
    result = coco.train(run, results_dir, progress=False)
    result_dir = result.run_dir
    checkpoint_path = result_dir / "checkpoints" / "checkpoint.pth.tar"
""",
        ),
        md("## Results in the paper's layout"),
        code(
            """
from ecalib.detection.coco_eval import paper_layout
from ecalib.reports.runs import collect_runs

if checkpoint_path is not None:
    metrics = coco.evaluate(checkpoint_path, run.data_dir, device=device)
    print(f"this build, {metrics['data_source']['kind']} data, {metrics['images']} val images:")
    display(paper_layout(metrics).round(1))
    print("paper, ECA-ResNet-50 Mask R-CNN (COCO val):")
    display(paper_layout({f"{t}_{m}": float(v) / 100 for t, table in (("bbox", bbox), ("segm", segm))
                          for m, v in table.loc[("ResNet-50", "Mask R-CNN ECA")].items() if m.startswith("AP")}).round(1))
""",
            tags=["remove-input"],
        ),
        md("## Detections, epoch by epoch"),
        code(
            """
from IPython.display import Image

gif = Path(result_dir) / "progress.gif"
if gif.exists():
    display(Image(filename=str(gif)))
frames = sorted((Path(result_dir) / "frames").glob("*.png"))
if frames:
    display(Image(filename=str(frames[-1])))
""",
            tags=["remove-input"],
        ),
        md("## Provenance"),
        code(
            """
import json

print(json.dumps(json.loads((Path(result_dir) / "params.json").read_text()), indent=2))
print(json.dumps(json.loads((Path(result_dir) / "env.json").read_text()), indent=2))
""",
            tags=["remove-input"],
        ),
    ]
)

FINDINGS = notebook(
    [
        md(
            """
# Reproducibility findings

Where the paper, the official code and releases, and the 2020 reproduction disagree with each
other. Every number on this page is computed here from the models, the reference tables or the
reproduction's logs; nothing is typed in.
"""
        ),
        code(
            """
# Parameters (papermill -p NAME VALUE)
depths: list = [18, 34, 50, 101, 152]  # ECA-ResNet depths compared in section 1 (must include 50)
""",
            tags=["parameters"],
        ),
        code(
            """
import pandas as pd
from IPython.display import Markdown

from ecalib.complexity import complexity_table
from ecalib.engine.schedule import lr_at
from ecalib.layers import eca_kernel_size
from ecalib.models import model_info
from ecalib.params import as_list
from ecalib.reference import rc2020_maskrcnn_logs, reference_metrics
from ecalib.reports.glue import glue
from ecalib.reports.mmdet_logs import parse_mmdet_log, rc2020_evidence
from ecalib.tasks import cifar10
""",
            tags=["remove-cell"],
        ),
        md("## 1. The adaptive kernel size is in the paper, not in the released weights"),
        code(
            """
rows = []
for depth in [int(d) for d in as_list(depths)]:
    released = model_info(f"eca_resnet{depth}").k_per_stage
    adaptive = model_info(f"eca_resnet{depth}_adaptive").k_per_stage
    rows.append({"model": f"ECA-ResNet-{depth}", "released k (file name)": "".join(map(str, released)),
                 "adaptive rule (Eq. 12)": "".join(map(str, adaptive)),
                 "stages that differ": sum(a != b for a, b in zip(released, adaptive))})
table = pd.DataFrame(rows).set_index("model")
display(table)
glue("findings_models_off_rule", f"{int((table['stages that differ'] > 0).sum())} of {len(table)}")
glue("findings_r50_released_k", table.loc["ECA-ResNet-50", "released k (file name)"])
glue("findings_r50_rule_k", table.loc["ECA-ResNet-50", "adaptive rule (Eq. 12)"])
Markdown(f"The rule gives k = {eca_kernel_size(256)} for 256 channels and {eca_kernel_size(2048)} for 2048; "
         f"{int((table['stages that differ'] > 0).sum())} of {len(table)} released ResNets use other kernels in "
         f"{int(table['stages that differ'].sum())} stages in total. Checkpoints only load into the kernels they were "
         "trained with, which is why ecalib reads k from the weights.")
""",
            tags=["remove-input"],
        ),
        md("## 2. Params and FLOPs are in binary units"),
        code(
            """
c = complexity_table(["eca_resnet50", "eca_resnet152"]).set_index("model")
r50 = c.loc["eca_resnet50"]
glue("findings_r50_params_binary", f"{r50['params'] / 2**20:.2f}M")
glue("findings_r50_params_decimal", f"{r50['params'] / 1e6:.2f}M")
Markdown(
    f"ECA-ResNet-50 has {r50['params']:,} parameters: {r50['params'] / 2**20:.2f}M in binary units (what the paper "
    f"prints, {reference_metrics('official README', 'ECA-Net50', 'ECA')['params']}) but {r50['params'] / 1e6:.2f}M in "
    f"decimal ones; its {r50['MACs (G, 2^30)']:.2f}G 'FLOPs' are binary multiply-accumulates, "
    f"{r50['GFLOPs (2xMAC, 1e9)']:.2f} GFLOPs in today's convention. ECA-ResNet-152 counts "
    f"{c.loc['eca_resnet152', 'params']:,} parameters = {c.loc['eca_resnet152', 'params'] / 2**20:.2f}M; the README "
    f"prints {c.loc['eca_resnet152', 'ref Params']}."
)
""",
            tags=["remove-input"],
        ),
        md("## 3. The released ECA-Net50 is not the paper's"),
        code(
            """
paper = reference_metrics("paper", "ResNet-50", "ECA-Net")
readme = reference_metrics("official README", "ECA-Net50", "ECA")
glue("findings_paper_r50_top1", paper["top1"])
glue("findings_readme_r50_top1", readme["top1"])
Markdown(f"Paper Table 3: top-1 {paper['top1']}, top-5 {paper['top5']}. Official README (the released "
         f"k3557 checkpoint): top-1 {readme['top1']}, top-5 {readme['top5']}. The kernels were tuned after "
         "publication (official issue #21).")
""",
            tags=["remove-input"],
        ),
        md("## 4. The reproduction's CIFAR-10 learning rate never decays"),
        code(
            """
cfg = cifar10.make_run("eca", "rc2020").train
lrs = sorted({lr_at(e, cfg) for e in range(cfg.epochs)})
glue("findings_cifar_epochs", cfg.epochs)
glue("findings_cifar_milestones", ", ".join(map(str, cfg.milestones)))
Markdown(f"train_cifar.py uses MultiStepLR with milestones {cfg.milestones} for {cfg.epochs} epochs: the lr takes "
         f"the values {lrs} over the whole run, so every curve of that study is at the initial lr {cfg.lr}.")
""",
            tags=["remove-input"],
        ),
        md(
            "## 5. The reproduction's Mask R-CNN: {glue:text}`findings_maskrcnn_lr_factor`x the lr, then a fix that never applied"
        ),
        code(
            """
run1, run2 = [parse_mmdet_log(p) for p in rc2020_maskrcnn_logs()]
evidence = rc2020_evidence(run1, run2)
display(evidence)
ev = evidence.set_index("quantity")["value"]
glue("findings_maskrcnn_lr_factor", f"{ev['configured lr'] / ev['lr by the linear scaling rule for that batch']:g}")
glue("findings_maskrcnn_nan_epoch", f"{ev['first non-finite loss: epoch']:g}")
glue("findings_maskrcnn_box_map", f"{ev['final bbox mAP (epoch 12)'] * 100:.1f}")
""",
            tags=["remove-input"],
        ),
    ]
)

SPEED = notebook(
    [
        md(
            """
# Speed: what attention costs in images per second

The paper sells ECA as nearly free, yet its own Table 3 shows ECA-Net50 training at
{glue:text}`paper_eca50_train_fps` images/s against ResNet-50's {glue:text}`paper_r50_train_fps`
on 4 RTX 2080Ti ({glue:text}`paper_eca50_train_ratio` of the plain network's rate; inference:
{glue:text}`paper_eca50_infer_ratio`). Absolute rates depend on the hardware, so this chapter
compares ratios: each mechanism's throughput divided by its plain backbone's under identical
settings. It renders every result folder written by `ecalib bench` (committed under
`results/benchmarks/speed/`, each with its device, versions and commit); nothing is measured
while the book builds.
"""
        ),
        code(
            """
# Parameters (papermill -p NAME VALUE)
results_dir: str = "results/benchmarks/speed"  # folders written by `ecalib bench`
tail_results_dir: str = "results/benchmarks/eca-block-tail"  # folders of benchmarks/eca_block_tail.py
""",
            tags=["parameters"],
        ),
        code(
            """
import matplotlib.pyplot as plt
import pandas as pd

from ecalib.benchmark import IMAGENET_TRAIN_IMAGES, load_results, paper_speed_ratios, projected_recipe_hours, ratio_table
from ecalib.reports.glue import glue

DEVICE_COUNTS = (1, 8, 64)
glue("imagenet_train_images", f"{IMAGENET_TRAIN_IMAGES:,}")
glue("projection_devices", ", ".join(map(str, DEVICE_COUNTS[:-1])) + f" and {DEVICE_COUNTS[-1]}")
""",
            tags=["remove-cell"],
        ),
        md("## The paper's Table 3, as ratios"),
        code(
            """
paper = paper_speed_ratios()
r50 = paper[paper["backbone"] == "resnet50"].set_index(["mechanism", "mode"])
glue("paper_eca50_train_fps", f"{r50.loc[('eca', 'train'), 'paper images/s']:.0f}")
glue("paper_r50_train_fps", f"{r50.loc[('none', 'train'), 'paper images/s']:.0f}")
glue("paper_eca50_train_ratio", f"{r50.loc[('eca', 'train'), 'paper vs none']:.1%}")
glue("paper_eca50_infer_ratio", f"{r50.loc[('eca', 'infer'), 'paper vs none']:.1%}")
display(paper.pivot_table(index=["backbone", "mechanism"], columns="mode", values="paper vs none").round(3))
print("Source: paper Table 3 (train and inference FPS on 4x RTX 2080Ti), divided by the plain backbone's.")
""",
            tags=["remove-input"],
        ),
        md("## Measured here"),
        code(
            """
results = load_results(results_dir)
if results.empty:
    print(f"No result folders in {results_dir} yet: run `ecalib bench` (see the README).")
else:
    table = ratio_table(results)
    view = table.set_index(["device", "backbone", "precision", "compile", "batch_size", "input_size", "mode",
                            "mechanism", "eca_impl_used"])
    display(view[["images_per_s", "vs none", "paper vs none", "peak_memory_mb", "memory vs none", "commit"]].round(3))
""",
            tags=["remove-input"],
        ),
        code(
            """
if not results.empty:
    table["label"] = table["mechanism"] + table["eca_impl_used"].map(lambda u: "" if u == "-" else f" ({u})")
    native = table[table["input_size"] == table["backbone"].map(lambda b: 32 if b.endswith("cifar") else 224)]
    groups = list(native.groupby(["folder", "device", "backbone", "precision", "compile", "batch_size"]))
    fig, axes = plt.subplots(len(groups), 1, figsize=(8, 2.8 * len(groups)), squeeze=False)
    for ax, (keys, group) in zip(axes[:, 0], groups):
        pivot = group.pivot_table(index="label", columns="mode", values=["vs none", "paper vs none"])
        pivot.plot.barh(ax=ax)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xlabel("throughput relative to the plain network")
        ax.set_ylabel("")
        ax.set_title("{1} | {2} | {3} {4} | batch {5}\\n{0}".format(*keys), fontsize="small")
        ax.legend(fontsize="x-small")
    fig.tight_layout()
""",
            tags=["remove-input"],
        ),
        md(
            """
## The ImageNet recipe's wall time, projected

The recipe's 100 epochs of {glue:text}`imagenet_train_images` images at the measured training
rate of each device, on {glue:text}`projection_devices` of them, assuming perfect scaling (an upper bound on speed). CPU rows are there to show the method.
"""
        ),
        code(
            """
if not results.empty:
    train = table[(table["mode"] == "train") & (table["backbone"] == "resnet50")]
    rows = [{"device": r.device, "model": r.model, "precision": r.precision, "compile": r.compile,
             **{f"{n} device(s), hours": projected_recipe_hours(r.images_per_s, n) for n in DEVICE_COUNTS}}
            for r in train.itertuples()]
    display(pd.DataFrame(rows).round(1))
""",
            tags=["remove-input"],
        ),
        md(
            """
## The goals for ECA-ResNet-50 on one H100

ECA's theoretical cost is one extra read of each activation (for the pooling). The targets:
training at least 0.95x plain ResNet-50's throughput (the paper: 0.77x), inference at least
0.98x (the paper: 0.97x), at most 3 % more peak memory. The check below reads the committed
GPU result folders; it says so when there are none.
"""
        ),
        code(
            """
goals = {"train": 0.95, "infer": 0.98}
gpu = table[(table["backbone"] == "resnet50") & (table["mechanism"] == "eca")
            & ~table["device"].str.startswith("CPU")] if not results.empty else pd.DataFrame()
if gpu.empty:
    print("Not measured: no GPU result folder for ResNet-50 is committed yet (this build ran without a GPU).")
else:
    gpu = gpu.assign(goal=gpu["mode"].map(goals), memory_goal=1.03)
    gpu["meets goal"] = (gpu["vs none"] >= gpu["goal"]) & (gpu["memory vs none"] <= gpu["memory_goal"])
    display(gpu[["device", "precision", "compile", "batch_size", "eca_impl_used", "mode", "vs none", "goal",
                 "memory vs none", "meets goal", "commit"]].round(3))
""",
            tags=["remove-input"],
        ),
        md(
            """
## Fast ECA: the end of a residual block, alone

`ecalib` computes ECA three ways, all the same function up to rounding (tested, forward and
gradients, fp32 and bf16): `reference` (the official module's operations), `torch` (the
rescale fused with the residual add into one `addcmul`, which `torch.compile` traces without a
graph break), and `triton` (CUDA kernels: pooling, 1-D convolution and sigmoid in one kernel;
rescale, residual add and ReLU in a second; a two-pass backward). `auto` picks `triton` for CUDA
tensors and `torch` elsewhere. The table times `relu(x + r)` (the plain ResNet tail, the floor)
against ECA's tail at ResNet-50's four stage shapes, from the committed
`benchmarks/eca_block_tail.py` result folders.
"""
        ),
        code(
            """
tails = load_results(tail_results_dir)
if tails.empty:
    print(f"No result folders in {tail_results_dir}: run benchmarks/eca_block_tail.py.")
else:
    view = tails.pivot_table(index=["device", "dtype", "mode", "stage", "batch_size"], columns="variant",
                             values="vs plain")
    display(view.round(2))
    print("Cost relative to the plain tail relu(x + r) under the same settings (1.0 = free).")
""",
            tags=["remove-input"],
        ),
        md(
            """
The Triton kernels are compiled ahead of time for Hopper (`sm_90`) by this build, with Triton's
own `ptxas`, so their register and shared-memory budgets are known even without a GPU:
"""
        ),
        code(
            """
try:
    from ecalib.layers.eca_triton import compile_for_gpu
except ImportError as error:  # e.g. Binder's CPU-only PyTorch has no Triton
    print(f"Triton is not installed here ({error}); the report needs it.")
else:
    display(pd.DataFrame(compile_for_gpu(90, "bf16") + compile_for_gpu(90, "fp32")).set_index(["kernel", "dtype"]))
""",
            tags=["remove-input"],
        ),
        md(
            """
## Scaling: batch size and resolution

How throughput grows with the batch and the input resolution for the plain network, SE and ECA,
from the result folders that timed more than one batch size or resolution.
"""
        ),
        code(
            """
if not results.empty:
    grid = table
    for axis, other in (("batch_size", "input_size"), ("input_size", "batch_size")):
        keys = ["device", "backbone", "precision", "compile", "mode", other, "folder"]  # one session per plot
        studies = [(k, g) for k, g in grid.groupby(keys) if g[axis].nunique() > 1]
        if not studies:
            print(f"No committed study varies {axis} yet.")
            continue
        fig, axes = plt.subplots(1, len(studies), figsize=(4.2 * len(studies), 3.2), squeeze=False)
        for ax, (k, g) in zip(axes[0], studies):
            for label, line in g.sort_values(axis).groupby("label"):
                ax.plot(line[axis], line["images_per_s"], marker="o", label=label)
            ax.set_xlabel(axis.replace("_", " "))
            ax.set_ylabel("images/s")
            ax.set_title(f"{k[1]} {k[4]} | {k[2]} {k[3]} | {other.replace('_', ' ')} {k[5]}\\n{k[0]}", fontsize="small")
            ax.legend(fontsize="x-small")
        fig.tight_layout()
        plt.show()
""",
            tags=["remove-input"],
        ),
    ]
)

NOTEBOOKS = {
    "eca_module": ECA_MODULE,
    "complexity": COMPLEXITY,
    "cifar10": CIFAR10,
    "cifar10_compare": CIFAR10_COMPARE,
    "cifar10_sweep": CIFAR10_SWEEP,
    "imagenet": IMAGENET,
    "coco_weights": COCO_WEIGHTS,
    "coco_maskrcnn": COCO_MASKRCNN,
    "findings": FINDINGS,
    "speed": SPEED,
}


def stable_ids(name, nb):
    """Cell ids from the notebook name and position, so that regenerating changes nothing."""
    for index, cell in enumerate(nb.cells):
        cell.id = f"{name[:20]}-{index:03d}"
    return nb


if __name__ == "__main__":
    for name, nb in NOTEBOOKS.items():
        nbf.write(stable_ids(name, nb), ROOT / "notebooks" / f"{name}.ipynb")
        print(f"wrote notebooks/{name}.ipynb")
