"""The notebooks run under papermill, with the runner `make book` uses, and validate their parameters."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.notebook


def run_notebook(tmp_path, *args):
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "run_notebooks.py"), "--out", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )


def outputs_text(path: Path) -> str:
    nb = json.loads(path.read_text())
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            parts.append("".join(out.get("text", "")))
            for value in out.get("data", {}).values():
                parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


def test_complexity_notebook_smoke_profile(tmp_path):
    result = run_notebook(tmp_path, "--profile", "smoke", "--only", "complexity")
    assert result.returncode == 0, result.stdout + result.stderr
    text = outputs_text(tmp_path / "complexity.ipynb")
    assert "eca_resnet18" in text and "1.70G" in text and "319.9M" in text
    assert "git_commit" in text and "Source: counted by ecalib" in text
    assert "image/png" in (tmp_path / "complexity.ipynb").read_text()


def test_complexity_notebook_rejects_unknown_models(tmp_path):
    out = tmp_path / "bad.ipynb"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(ROOT / "notebooks" / "complexity.ipynb"),
            str(out),
            "-p",
            "models",
            "['eca_resnet_50']",
            "--cwd",
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode != 0
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.stderr + result.stdout)  # papermill colours tracebacks
    assert "unknown model(s) ['eca_resnet_50']; allowed:" in text


def test_unknown_profile_is_an_error(tmp_path):
    result = run_notebook(tmp_path, "--profile", "nope")
    assert result.returncode != 0 and "profiles: default, smoke" in result.stderr


@pytest.fixture(scope="module")
def cifar_results(tmp_path_factory):
    """The cifar10 notebook in the smoke profile (two mechanisms), shared by the compare test."""
    out = tmp_path_factory.mktemp("nb")
    results = out / "results"
    data_dir = out / "data"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(ROOT / "notebooks" / "cifar10.ipynb"),
            str(out / "cifar10.ipynb"),
            "-p",
            "model",
            "none,eca",
            "-p",
            "profile",
            "smoke",
            "-p",
            "wandb_mode",
            "disabled",
            "-p",
            "results_dir",
            str(results),
            "-p",
            "data_dir",
            str(data_dir),
            "--cwd",
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out, results


def test_cifar10_notebook_smoke(cifar_results):
    out, results = cifar_results
    text = outputs_text(out / "cifar10.ipynb")
    assert "2 run(s): smoke-rc2020-none-seed0, smoke-rc2020-eca-seed0" in text
    assert "'kind': 'synthetic'" in text and "image/png" in (out / "cifar10.ipynb").read_text()
    assert (results / "cifar10" / "smoke-rc2020-eca-seed0" / "final.json").exists()


def test_cifar10_notebook_rejects_bad_parameters(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(ROOT / "notebooks" / "cifar10.ipynb"),
            str(tmp_path / "bad.ipynb"),
            "-p",
            "model",
            "gc",
            "-p",
            "profile",
            "smoke",
            "--cwd",
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode != 0
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.stderr + result.stdout)
    assert "model='gc' is not allowed; choose one of: none, se, cbam, triplet, eca" in text


def test_cifar10_compare_notebook(cifar_results, tmp_path):
    _, results = cifar_results
    out = tmp_path / "compare.ipynb"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(ROOT / "notebooks" / "cifar10_compare.ipynb"),
            str(out),
            "-p",
            "results_dirs",
            f"{results}/cifar10,{tmp_path}/nothing-here",
            "--cwd",
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = outputs_text(out)
    assert "2 complete run(s)" in text and "synthetic" in text and "RC2020 reproduction" in text
    assert "throughput vs none" in text and "image/png" in out.read_text()


def test_cifar10_sweep_notebook_two_trials(tmp_path):
    out = tmp_path / "sweep.ipynb"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(ROOT / "notebooks" / "cifar10_sweep.ipynb"),
            str(out),
            "-p",
            "profile",
            "smoke",
            "-p",
            "method",
            "grid",
            "-p",
            "trials",
            "2",
            "-p",
            "wandb_mode",
            "disabled",
            "-p",
            "results_dir",
            str(tmp_path / "results"),
            "-p",
            "data_dir",
            str(tmp_path / "data"),
            "--cwd",
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    sweep_csv = tmp_path / "results" / "cifar10-sweeps" / "rc2020-attention" / "sweep.csv"
    assert len(sweep_csv.read_text().splitlines()) == 3
    assert "image/png" in out.read_text()


def test_imagenet_notebook_smoke(tmp_path):
    out = tmp_path / "imagenet.ipynb"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(ROOT / "notebooks" / "imagenet.ipynb"),
            str(out),
            "-p",
            "model",
            "eca_resnet18",
            "-p",
            "profile",
            "smoke",
            "-p",
            "wandb_mode",
            "disabled",
            "-p",
            "data_dir",
            str(tmp_path / "data"),
            "-p",
            "results_dir",
            str(tmp_path / "results"),
            "--cwd",
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = outputs_text(out)
    assert "ECA-Net50" in text and "Table 3" in text and "1805" in text  # both reference tables
    assert "linear scaling: 0.1 x 16/256" in text and "synthetic data: the published ImageNet values" in text
    assert "image/png" in out.read_text()


def test_coco_weights_notebook(tmp_path):
    out = tmp_path / "coco_weights.ipynb"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(ROOT / "notebooks" / "coco_weights.ipynb"),
            str(out),
            "-p",
            "work_dir",
            str(tmp_path / "work"),
            "--cwd",
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = outputs_text(out)
    assert "k per stage 3377" in text and "16 ECA kernels" in text and "refused:" in text
    assert "roi_head.bbox_head.fc_reg.weight" in text and "background row now last: True" in text


def test_coco_maskrcnn_notebook_smoke(tmp_path):
    out = tmp_path / "coco_maskrcnn.ipynb"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(ROOT / "notebooks" / "coco_maskrcnn.ipynb"),
            str(out),
            "-p",
            "profile",
            "smoke",
            "-p",
            "wandb_mode",
            "disabled",
            "-p",
            "data_dir",
            str(tmp_path / "data"),
            "-p",
            "results_dir",
            str(tmp_path / "results"),
            "--cwd",
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = outputs_text(out)
    assert "27850" in text and "0.0025" in text and "0.341" in text  # the reproduction's evidence
    raw = out.read_text()
    assert "this build, synthetic data" in text and "image/gif" in raw and "image/png" in raw


def test_findings_notebook(tmp_path):
    result = run_notebook(tmp_path, "--profile", "smoke", "--only", "findings")
    assert result.returncode == 0, result.stdout + result.stderr
    text = outputs_text(tmp_path / "findings.ipynb")
    assert "README prints 57.41M" in text and "values [0.1] over the whole run" in text
    assert "27850" in text and "5557" in text


def test_speed_notebook_renders_bench_folders(tmp_path):
    bench = subprocess.run(
        [
            sys.executable,
            "-m",
            "ecalib",
            "bench",
            "--backbones",
            "resnet18_cifar",
            "--mechanisms",
            "none",
            "eca",
            "--batch-size",
            "2",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--repeats",
            "1",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "speed"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert bench.returncode == 0, bench.stderr
    out = tmp_path / "speed.ipynb"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(ROOT / "notebooks" / "speed.ipynb"),
            str(out),
            "-p",
            "results_dir",
            str(tmp_path / "speed"),
            "--cwd",
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = outputs_text(out)
    assert "resnet18_cifar" in text and "paper vs none" in text and "0.767" in text  # 785/1024 from Table 3
    assert "image/png" in out.read_text()
