import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from ecalib.benchmark import measure_throughput
from ecalib.models import create_model

ROOT = Path(__file__).resolve().parents[1]


def test_measure_throughput_reports_rates_and_memory():
    model = create_model("eca_resnet20_cifar")
    for mode in ("train", "infer"):
        r = measure_throughput(model, 8, 32, torch.device("cpu"), mode, steps=2, warmup=1, repeats=2)
        assert r["mode"] == mode and r["images_per_s"] > 0 and r["peak_memory_mb"] > 0
        assert r["images_per_s_min"] <= r["images_per_s"] <= r["images_per_s_max"]
    with pytest.raises(ValueError, match="mode"):
        measure_throughput(model, 8, 32, torch.device("cpu"), "backward")


def test_cifar10_speed_script_writes_a_result_folder(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "cifar10_speed.py"),
            "--protocol",
            "rc2020_sweep",
            "--device",
            "cpu",
            "--mechanisms",
            "none",
            "eca",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--repeats",
            "1",
            "--batch-size",
            "16",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    (folder,) = list(tmp_path.iterdir())
    assert {p.name for p in folder.iterdir()} == {"params.json", "env.json", "results.csv"}
    table = pd.read_csv(folder / "results.csv")
    assert set(table["mechanism"]) == {"none", "eca"} and set(table["mode"]) == {"train", "infer"}
    assert "study_minutes" in (folder / "params.json").read_text()
