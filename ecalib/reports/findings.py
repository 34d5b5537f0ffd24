"""The numbers the findings page states, each computed from the reference data, the assessments or the build.

The page (notebooks/findings.py) only words and shows them; what is counted, summed or compared is here.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ecalib.bench_results import device_type
from ecalib.reports.claims import DETECTORS, Assessment, box_ap_pair, table3_value
from ecalib.reports.compute import build_spending
from ecalib.reports.evidence import ResultFolders
from ecalib.reports.speed import PAPER_ROWS


def paper_top1_gains() -> dict[str, tuple[float, float]]:
    """Per backbone of Table 3 (the paper's name), its top-1 without attention and with ECA."""
    return {name: tuple(table3_value(b, m, "top1") for m in ("none", "eca")) for b, (name, _) in PAPER_ROWS.items()}


def paper_box_ap_gains() -> dict[str, float]:
    """Per detector of Table 5, ECA's box AP minus the baseline's (ResNet-50 backbones)."""
    gains = {}
    for detector in DETECTORS:
        base, eca = box_ap_pair(detector)
        gains[detector] = eca - base
    return gains


def baseline_against_bands(summary: pd.DataFrame, baseline: str = "none") -> dict:
    """RC2020's digitised curves (:func:`ecalib.reports.rc2020.summarise_rc2020_curves`): the mechanisms whose
    final band holds the baseline's final mean (``inside``), each mechanism's catch-up epoch (``catch_up``), and
    those whose band the baseline never reaches (``never``)."""
    base = summary.loc[baseline, "final_top1"]
    others = [m for m in summary.index if m != baseline]
    low, high = summary["final_top1_low"], summary["final_top1_high"]
    return {
        "inside": [m for m in others if low[m] <= base <= high[m]],
        "catch_up": summary.loc[others, "baseline_catch_up_epoch"].dropna().astype(int).to_dict(),
        "never": [m for m in others if pd.isna(summary.loc[m, "baseline_catch_up_epoch"])],
        "spread": summary["final_top1"].max() - summary["final_top1"].min(),
    }


def experiment_plan(assessments: list[Assessment]) -> pd.DataFrame:
    """One row per command that would test a claim (a command serving several claims once), with its projected
    cost: ``experiment, command, claims, gpu_hours, basis, data``. Steps whose cost is only words are left out."""
    steps: dict[str, dict] = {}
    for assessment in assessments:
        for step in assessment.steps:
            if isinstance(step.cost, str):
                continue
            entry = steps.setdefault(step.command, {"experiment": step.what, "cost": step.cost, "claims": []})
            entry["claims"].append(assessment.claim.title)
    return pd.DataFrame(
        [
            {
                "experiment": e["experiment"],
                "command": command,
                "claims": "; ".join(dict.fromkeys(e["claims"])),
                "gpu_hours": e["cost"].gpu_hours,
                "GPU-hours": e["cost"].hours().removesuffix(" GPU-hours"),
                "basis": e["cost"].basis,
                "data": e["cost"].data,
            }
            for command, e in steps.items()
        ],
        columns=["experiment", "command", "claims", "gpu_hours", "GPU-hours", "basis", "data"],
    )


def gpu_evidence(folders: ResultFolders) -> dict[str, int]:
    """How much of the committed evidence comes from a GPU: bench folders, and run or evaluation folders."""
    bench = folders.bench
    gpu_bench = 0 if bench.empty else bench.loc[bench["device"].map(device_type) == "cuda", "folder"].nunique()
    tables = [folders.runs(task) for task in ("cifar10", "imagenet", "coco")] + [folders.evaluations]
    gpu_runs = sum(int((t["device"].map(device_type) == "cuda").sum()) for t in tables if len(t))
    return {"bench_folders": gpu_bench, "runs": gpu_runs}


def build_spent(results_dir: str | Path, executed_dir: str | Path = "book/executed") -> dict:
    """What this build spent (:func:`ecalib.reports.compute.build_spending`) in the page's terms: minutes of
    training, its smoke runs and their devices, minutes of notebook execution and the notebooks counted."""
    spent = build_spending(results_dir, executed_dir)
    runs, notebooks = spent["runs"], spent["notebooks"]
    return {
        "train_minutes": runs["seconds"].sum() / 60 if len(runs) else 0.0,
        "runs": len(runs),
        "devices": ", ".join(sorted(set(runs["device"].dropna()))) if len(runs) else "no device",
        "notebook_minutes": notebooks["seconds"].sum() / 60 if len(notebooks) else 0.0,
        "notebooks": len(notebooks),
    }
