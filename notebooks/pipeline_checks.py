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
# # Pipeline checks: the smoke runs of this build
#
# The book is built on a CPU without CIFAR-10, ImageNet or COCO, so every training chapter runs its
# pipeline on **synthetic** data for two epochs (the `smoke` profile). Those runs prove that the code
# works end to end; their accuracies and losses say nothing about the data sets, so they are listed
# here as a checklist, one row per run, and not as results. Each chapter's real results appear in
# the chapter once a real run's folder is committed under `results/`.

# %% tags=["parameters"]
# Parameters (papermill -p NAME VALUE)
results_dir: str = "runs"  # where the chapters wrote their runs (the book: _build/results)

# %% tags=["remove-cell"]
from ecalib.params import check_parameters

check_parameters(globals())

# %% tags=["remove-input"]
import json
from pathlib import Path

import pandas as pd

from ecalib.reports.figures import run_curves
from ecalib.reports.runs import run_settings
from ecalib.reports.tables import captioned

PIPELINES = {
    "cifar10": "CIFAR-10 (cifar10 chapter)",
    "imagenet": "ImageNet (imagenet chapter)",
    "coco": "COCO Mask R-CNN (coco_maskrcnn chapter)",
}


def check(folder: Path) -> dict:
    """What one run folder proves: each item True/False (or None: not exercised in this build)."""
    params = json.loads((folder / "params.json").read_text())
    history = pd.read_csv(folder / "history.csv") if (folder / "history.csv").exists() else pd.DataFrame()
    final = json.loads((folder / "final.json").read_text()) if (folder / "final.json").exists() else {}
    settings = run_settings(params)
    epochs = settings.get("epochs")
    drawn = False
    if len(history) and "test_top1" in history:
        frame = history.assign(run=folder.name, attention=params.get("attention"), seed=settings.get("seed"))
        drawn = len(run_curves(frame).data()) > 0
    source = params.get("data_source", {})
    return {
        "run": folder.name,
        "data": source.get("kind", "unknown"),
        "trained all epochs": f"{len(history)} of {epochs}" if epochs else f"{len(history)}",
        "checkpoint written": (folder / "checkpoints" / "checkpoint.pth.tar").exists(),
        "resumed": True if (folder / "resume_log.jsonl").exists() else None,
        "evaluated": bool(final),
        "curves drawn": drawn if "test_top1" in history else None,
    }


root = Path(results_dir)
curves = {}
for task, label in PIPELINES.items():
    folders = sorted(p.parent for p in (root / task).glob("*/params.json")) if (root / task).is_dir() else []
    if not folders:
        print(f"{label}: no run in {root / task} (the chapter did not run in this build)")
        continue
    rows = pd.DataFrame([check(f) for f in folders]).set_index("run")
    histories = []
    for f in folders:
        params = json.loads((f / "params.json").read_text())
        if (f / "history.csv").exists():
            history = pd.read_csv(f / "history.csv")
            seed = run_settings(params).get("seed")
            histories.append(history.assign(run=f.name, attention=params.get("attention") or "eca", seed=seed))
    if histories and all("test_top1" in h for h in histories):
        curves[label] = pd.concat(histories, ignore_index=True)
    flags = rows.drop(columns=["data", "trained all epochs"]).map(
        lambda v: "✓" if v is True else ("✗" if v is False else "not exercised")
    )
    display(
        captioned(
            rows[["data", "trained all epochs"]].join(flags),
            f"{label}: what each smoke run proved",
            f"the run folders in {root / task} (params.json, history.csv, checkpoints/, final.json)",
        )
    )
sweeps = sorted((root / "cifar10-sweeps").glob("*/sweep.csv")) if (root / "cifar10-sweeps").is_dir() else []
for csv in sweeps:
    trials = pd.read_csv(csv)
    print(
        f"CIFAR-10 sweep {csv.parent.name}: {len(trials)} trial(s) recorded in {csv}, data: "
        f"{', '.join(sorted(set(trials['data'].astype(str)))) if 'data' in trials else 'unknown'}"
    )

# %% [markdown]
# The curves each check drew, on synthetic data (they show that training, logging and plotting
# work; their values say nothing about the data sets):

# %% tags=["remove-input"]
for label, history in curves.items():
    display(
        run_curves(
            history,
            title=f"{label}, synthetic data: a pipeline check, not a result",
            name=f"pipeline-{label.split()[0].lower()}",
        )
    )

# %% [markdown]
# "Resumed" is not exercised by the book's runs (each runs once); exact resume is tested by the test
# suite (`tests/test_engine.py`), and a re-executed chapter continues its run folders.
