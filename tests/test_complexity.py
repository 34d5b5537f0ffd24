import subprocess
import sys

import pytest
import torch
from torch import nn

from ecalib.cli import DEFAULT_COMPLEXITY_MODELS
from ecalib.complexity import complexity_table, measure_complexity, modern_flops
from ecalib.reference import parse_binary_quantity


@pytest.fixture(scope="module")
def official_table():
    return complexity_table(DEFAULT_COMPLEXITY_MODELS).set_index("model")


@pytest.mark.slow
def test_parameter_counts_equal_spec(official_table):
    assert (official_table["params"] == official_table["official params"]).all()


@pytest.mark.slow
def test_params_in_paper_units_match_the_readme(official_table):
    for name, row in official_table.iterrows():
        printed = float(row["ref Params"][:-1])
        measured = round(row["Params (M, 2^20)"], 2)
        if name == "eca_resnet152":
            assert (measured, printed) == (57.40, 57.41)  # the README rounds up; the paper says 57.40M
        else:
            assert measured == printed, name


@pytest.mark.slow
def test_flops_match_the_readme_within_tolerance(official_table):
    for name, row in official_table.iterrows():
        limit = 3.0 if "mobilenet" in name else 0.5
        assert abs(row["FLOPs delta %"]) < limit, (name, row["FLOPs delta %"])
    # SPEC section 3: R18/R34/R50 match to the printed digit with thop.
    for name in ("eca_resnet18", "eca_resnet34", "eca_resnet50"):
        row = official_table.loc[name]
        assert f"{row['MACs (G, 2^30)']:.2f}G" == row["ref FLOPs"]


@pytest.mark.slow
def test_eca_share(official_table):
    assert official_table.loc["eca_resnet50", "attention params"] == 80
    assert official_table.loc["eca_mobilenet_v2", "attention params"] == 31
    assert 0 < official_table.loc["eca_resnet50", "attention MACs %"] < 0.5


def test_modern_flops_are_two_per_mac():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    model = nn.Sequential(conv, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4, bias=False))
    expected = 2 * (3 * 8 * 9 * 64 * 64) + 2 * 8 * 4
    assert modern_flops(model, input_size=64) == expected
    c = measure_complexity(model, input_size=64, name="toy")
    assert c.params == 3 * 8 * 9 + 32 and c.flops == expected
    assert c.macs >= 3 * 8 * 9 * 64 * 64


def test_binary_units():
    assert parse_binary_quantity("24.37M") == 24.37 * 2**20
    assert parse_binary_quantity("3.86G") == 3.86 * 2**30
    assert parse_binary_quantity("N/A") is None


def test_input_size_is_validated():
    with pytest.raises(ValueError, match="input_size"):
        measure_complexity("eca_resnet18", input_size=8)


def test_table_without_reference_at_other_sizes():
    table = complexity_table(["eca_resnet18"], input_size=128)
    assert table.loc[0, "ref FLOPs"] == "" and table.loc[0, "params"] == 11_689_556
    assert table.loc[0, "MACs (G, 2^30)"] < 1.0


def test_cli_prints_table():
    out = subprocess.run(
        [sys.executable, "-m", "ecalib", "complexity", "eca_resnet18", "--format", "csv"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "eca_resnet18" in out.stdout and "1.70G" in out.stdout and "11689556" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "ecalib", "complexity", "eca_resnet_50"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "Did you mean" in bad.stderr and "Traceback" not in bad.stderr


def test_measure_does_not_touch_the_model():
    from ecalib import create_model

    model = create_model("eca_resnet18").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    measure_complexity(model, input_size=64)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(hasattr(m, "total_ops") for m in model.modules())


@pytest.mark.slow
def test_findings_report_every_delta(official_table):
    from ecalib.complexity import complexity_findings

    text = complexity_findings(official_table.reset_index())
    assert "6 of 6 models equal" in text
    assert "eca_resnet152 57.40M vs 57.41M" in text
    assert "eca_mobilenet_v2 312.9M vs 319.9M" in text
    assert "eca_resnet101 7.33G vs 7.35G" in text
    assert "eca_resnet50" not in text.split("**FLOPs**")[1].split("\n")[0]  # rounds to 3.86G
