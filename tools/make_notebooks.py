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


if __name__ == "__main__":
    nbf.write(COMPLEXITY, ROOT / "notebooks" / "complexity.ipynb")
    print("wrote notebooks/complexity.ipynb")
