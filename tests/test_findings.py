"""The findings page's numbers (ecalib.reports.findings) against independent readings of the same sources."""

import os
from pathlib import Path

import pandas as pd
import pytest

from ecalib.reports.findings import (
    baseline_against_bands,
    experiment_plan,
    paper_box_ap_gains,
    paper_top1_gains,
)

ROOT = Path(__file__).resolve().parents[1]
PAPER_TABLES = ROOT.parent / "shared" / "reference" / "paper_tables.csv"  # ../shared from the project root, also in CI


@pytest.fixture(scope="module")
def paper_tables():
    if not PAPER_TABLES.is_file():
        if os.environ.get("ECALIB_REQUIRE_FIGURES"):  # CI has ../shared
            pytest.fail(f"{PAPER_TABLES} is missing")
        pytest.skip("../shared/reference is not beside this checkout")
    return pd.read_csv(PAPER_TABLES, dtype=str)


def _value(tables, table, task, backbone, method, metric) -> float:
    row = tables[
        (tables["source"] == "paper")
        & (tables["table"] == table)
        & (tables["task"] == task)
        & (tables["backbone"] == backbone)
        & (tables["method"] == method)
        & (tables["metric"] == metric)
    ]
    (value,) = row["value"]
    return float(value)


def test_the_paper_gains_are_those_of_the_transcribed_tables(paper_tables):
    gains = paper_top1_gains()
    assert list(gains) == ["ResNet-50", "ResNet-101", "ResNet-152", "MobileNetV2"]  # Table 3's backbones
    for backbone, (plain, eca) in gains.items():
        plain_method = "MobileNetV2" if backbone == "MobileNetV2" else "ResNet"
        assert plain == _value(paper_tables, "Table 3", "imagenet", backbone, plain_method, "top1")
        assert eca == _value(paper_tables, "Table 3", "imagenet", backbone, "ECA-Net", "top1")
    for detector, gain in paper_box_ap_gains().items():
        ours, base = (
            _value(paper_tables, "Table 5", "coco_bbox", "ResNet-50", f"{detector} {method}", "AP")
            for method in ("ECA", "baseline")
        )
        assert gain == pytest.approx(ours - base)


def test_the_baseline_against_each_band_counts_what_the_summary_says():
    summary = pd.DataFrame(
        {
            "final_top1": [90.0, 91.0, 89.0, 92.5],
            "final_top1_low": [89.0, 89.5, 88.0, 91.0],
            "final_top1_high": [91.0, 92.5, 89.8, 94.0],
            "baseline_catch_up_epoch": [float("nan"), 12.0, 3.0, float("nan")],
        },
        index=["none", "se", "eca", "cbam"],
    )
    found = baseline_against_bands(summary)
    assert found["inside"] == ["se"]  # 90.0 in [89.5, 92.5]; above eca's band, below cbam's
    assert found["catch_up"] == {"se": 12, "eca": 3} and found["never"] == ["cbam"]
    assert found["spread"] == pytest.approx(3.5)


def test_the_plan_lists_each_command_once_with_every_claim_it_tests():
    from ecalib.reports.claims import assess
    from ecalib.reports.compute import Cost
    from ecalib.reports.evidence import ResultFolders

    assessments = assess(ResultFolders(ROOT / "results"))
    plan = experiment_plan(assessments).set_index("command")
    # Oracle: walk the steps again, keeping the costed ones
    costed = [(a.claim.title, s) for a in assessments for s in a.steps if isinstance(s.cost, Cost)]
    assert set(plan.index) == {s.command for _, s in costed} and plan.index.is_unique
    for title, step in costed:
        assert title in plan.loc[step.command, "claims"].split("; ")
        assert plan.loc[step.command, "gpu_hours"] == step.cost.gpu_hours
    assert any(isinstance(s.cost, str) for a in assessments for s in a.steps)  # worded costs exist, and are left out
