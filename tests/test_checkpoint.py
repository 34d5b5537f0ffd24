import argparse

import pytest
import torch
from helpers import run_cli

import ecalib
from ecalib.checkpoint import (
    CheckpointError,
    atomic_torch_save,
    load_official_checkpoint,
    read_official_checkpoint,
    save_official_checkpoint,
)


def randomize_bn(model):
    """Give BN layers non-trivial running statistics so that eval outputs test every buffer."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.num_batches_tracked.fill_(7)
    return model.eval()


@pytest.mark.parametrize(
    "name,kwargs,size",
    [
        ("eca_resnet18", {}, 64),
        ("eca_resnet50", {"k_size": "5557"}, 64),
        ("eca_mobilenet_v2", {}, 64),
        ("eca_resnet18_cifar", {}, 32),
        ("resnet34", {}, 64),
        ("se_resnet18", {}, 64),
    ],
)
@pytest.mark.parametrize("legacy", [False, True])
def test_official_round_trip(tmp_path, name, kwargs, size, legacy):
    model = randomize_bn(ecalib.create_model(name, **kwargs))
    path = save_official_checkpoint(model, tmp_path / "m.pth.tar", epoch=99, best_prec1=77.4, legacy_format=legacy)
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"epoch", "arch", "state_dict", "best_prec1", "optimizer"}
    assert all(k.startswith("module.") for k in raw["state_dict"])
    loaded = load_official_checkpoint(path)
    assert loaded.model_info.name == name
    assert getattr(loaded, "k_per_stage", None) == getattr(model, "k_per_stage", None)
    assert loaded.checkpoint_meta["epoch"] == 99
    x = torch.randn(2, 3, size, size)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_bare_state_dict_and_wrong_arch_field(tmp_path):
    model = randomize_bn(ecalib.create_model("eca_resnet18"))
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, tmp_path / "bare.pth")
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(load_official_checkpoint(tmp_path / "bare.pth")(x), model(x))
    # the released R50 file says arch 'se_resnet50': the weights decide
    save_official_checkpoint(model, tmp_path / "wrong_arch.pth.tar", arch="se_resnet50")
    assert load_official_checkpoint(tmp_path / "wrong_arch.pth.tar").model_info.name == "eca_resnet18"


def test_create_model_pretrained_and_finetune(tmp_path):
    model = randomize_bn(ecalib.create_model("eca_resnet18", num_classes=10))
    path = save_official_checkpoint(model, tmp_path / "r18.pth.tar")
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(ecalib.create_model("eca_resnet18", pretrained=path).eval()(x), model(x))
    tuned = ecalib.create_model("eca_resnet18", pretrained=path, num_classes=3)
    assert tuned.fc.out_features == 3
    torch.testing.assert_close(tuned.layer4[1].eca.conv.weight, model.layer4[1].eca.conv.weight)


def test_k_contradicting_the_variant_is_explained(tmp_path):
    path = save_official_checkpoint(ecalib.create_model("eca_resnet50", k_size="3377"), tmp_path / "det.pth.tar")
    with pytest.raises(CheckpointError, match=r"\[3, 3, 7, 7\].*\[3, 5, 5, 7\].*k_size='3377'"):
        ecalib.create_model("eca_resnet50", pretrained=path)
    assert ecalib.create_model("eca_resnet50", pretrained=path, k_size="3377").k_per_stage == (3, 3, 7, 7)
    assert read_official_checkpoint(path).k_per_stage == (3, 3, 7, 7)
    with pytest.raises(CheckpointError, match="eca_resnet50.*not a eca_resnet18"):
        ecalib.create_model("eca_resnet18", pretrained=path)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_official_checkpoint("/nonexistent/eca_resnet50_k3557.pth.tar")


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_file(tmp_path, legacy):
    path = save_official_checkpoint(ecalib.create_model("eca_resnet18"), tmp_path / "t.pth.tar", legacy_format=legacy)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_official_checkpoint(path)


def test_garbage_file(tmp_path):
    path = tmp_path / "x.pth.tar"
    path.write_bytes(b"<html>Google Drive quota exceeded</html>")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_official_checkpoint(path)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(CheckpointError, match="not a file"):
        load_official_checkpoint(tmp_path)


def test_not_an_eca_state_dict(tmp_path):
    torch.save({"state_dict": {"module.encoder.weight": torch.zeros(3)}}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not an ECA-ResNet.*encoder.weight"):
        load_official_checkpoint(tmp_path / "other.pth")
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "meta_only.pth")
    with pytest.raises(CheckpointError, match="not a state dict"):
        load_official_checkpoint(tmp_path / "meta_only.pth")


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    sd = ecalib.create_model("eca_resnet18").state_dict()
    sd.pop("layer2.1.eca.conv.weight")
    sd["layer2.1.extra.weight"] = torch.zeros(1)
    torch.save({"state_dict": sd}, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match=r"missing key\(s\): \['layer2.1.eca.conv.weight'\].*unexpected"):
        load_official_checkpoint(tmp_path / "broken.pth")


def test_mixed_kernels_inside_a_stage(tmp_path):
    sd = ecalib.create_model("eca_resnet18").state_dict()
    sd["layer1.1.eca.conv.weight"] = torch.zeros(1, 1, 5)
    torch.save(sd, tmp_path / "mixed.pth")
    with pytest.raises(CheckpointError, match="vary inside a stage"):
        load_official_checkpoint(tmp_path / "mixed.pth")


def test_old_files_without_num_batches_tracked(tmp_path):
    model = randomize_bn(ecalib.create_model("eca_resnet18"))
    sd = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": sd}, tmp_path / "old.pth")
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(load_official_checkpoint(tmp_path / "old.pth")(x), model(x))


def test_unsafe_pickle_needs_explicit_opt_in(tmp_path):
    model = ecalib.create_model("eca_resnet18")
    payload = {"state_dict": model.state_dict(), "args": argparse.Namespace(lr=0.1)}
    torch.save(payload, tmp_path / "pickled.pth.tar")
    with pytest.raises(CheckpointError, match="allow_pickle=True"):
        load_official_checkpoint(tmp_path / "pickled.pth.tar")
    assert load_official_checkpoint(tmp_path / "pickled.pth.tar", allow_pickle=True).model_info.name == "eca_resnet18"


def test_atomic_save_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    path = atomic_torch_save({"a": torch.ones(2)}, tmp_path / "ckpt.pth")

    def exploding_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", exploding_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_torch_save({"a": torch.zeros(2)}, path)
    assert torch.equal(torch.load(path)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pth"]


def test_cli_inspect_and_errors(tmp_path):
    path = save_official_checkpoint(ecalib.create_model("eca_resnet50", k_size="3377"), tmp_path / "m.pth.tar")
    out = run_cli("inspect", str(path))
    assert out.returncode == 0, out.stderr
    assert '"model": "eca_resnet50"' in out.stdout and "3,\n    3,\n    7,\n    7" in out.stdout
    bad = run_cli("inspect", str(tmp_path / "missing.pth.tar"))
    assert bad.returncode == 2
    assert "checkpoint not found" in bad.stderr and "Traceback" not in bad.stderr
