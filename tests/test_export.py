"""`ecalib export`: ONNX checked against onnxruntime, timm's Hub folder loaded back by timm; `ecalib --version`."""

import json
import re

import numpy as np
import onnxruntime as ort
import pytest
import timm
import torch

import ecalib
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = ecalib.create_model("eca_resnet18", k_size="3377", num_classes=10).eval()
    path = ecalib.save_official_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "eca_resnet18_k3377.pth.tar")
    return model, path


def test_export_onnx_dynamic_batch(tmp_path, checkpoint):
    model, path = checkpoint
    out = tmp_path / "model.onnx"
    result = run_cli("export", path, "--format", "onnx", "-o", out)
    assert result.returncode == 0, result.stderr[-2000:]
    printed = [float(v) for v in re.findall(r"max \|onnxruntime - PyTorch\| = (\S+?)(?:,|$)", result.stdout.strip())]
    assert len(printed) == 2 and max(printed) < 1e-4
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        x = torch.randn(batch, 3, 224, 224)
        (logits,) = session.run(None, {"input": x.numpy()})
        with torch.no_grad():
            np.testing.assert_allclose(logits, model(x).numpy(), atol=1e-4, rtol=1e-4)


def test_export_timm_folder_loads_in_timm_and_inspect(tmp_path, checkpoint):
    model, path = checkpoint
    folder = tmp_path / "hub"
    result = run_cli("export", path, "--format", "timm", "-o", folder)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "eca_resnet18" and config["num_classes"] == 10
    assert config["pretrained_cfg"]["interpolation"] == "bilinear"
    loaded = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert loaded.k_per_stage == (3, 3, 7, 7)
    inspect = run_cli("inspect", folder / "model.safetensors")
    assert inspect.returncode == 0, inspect.stderr[-2000:]
    report = json.loads(inspect.stdout)
    assert report["model"] == "eca_resnet18" and report["loads"] and report["k_per_stage"] == [3, 3, 7, 7]


def test_export_refuses_unknown_source(tmp_path):
    result = run_cli("export", "no_such_model", "--format", "onnx", "-o", tmp_path / "m.onnx")
    assert result.returncode == 2 and "neither a checkpoint file nor an ecalib model name" in result.stderr


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"ecalib {ecalib.__version__}"
