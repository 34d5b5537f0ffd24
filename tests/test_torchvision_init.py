"""Fine-tuning start from torchvision ResNet weights: shared tensors strictly, ECA kernels at init."""

import pytest
import torch
import torchvision

import ecalib


def _torchvision_file(tmp_path, arch="resnet50"):
    torch.manual_seed(3)
    tv = getattr(torchvision.models, arch)(weights=None)
    with torch.no_grad():
        for name, t in tv.state_dict().items():  # every tensor away from its init, BN statistics included
            if name.endswith("running_var"):
                t.uniform_(0.5, 1.5)
            elif t.is_floating_point():
                t.normal_(0.0, 0.1)
    path = tmp_path / f"{arch}-torchvision.pth"
    torch.save(tv.state_dict(), path)
    return tv.eval(), path


def test_init_from_torchvision(tmp_path):
    tv, path = _torchvision_file(tmp_path)
    torch.manual_seed(0)
    fresh = ecalib.create_model("eca_resnet50")
    torch.manual_seed(0)
    model = ecalib.create_model("eca_resnet50", init_from=path).eval()
    shared = tv.state_dict()
    for key, value in model.state_dict().items():
        if key in shared:
            assert torch.equal(value, shared[key]), key
        else:  # the 16 ECA kernels: exactly their init
            assert key.endswith(".eca.conv.weight") and torch.equal(value, fresh.state_dict()[key]), key
    report = model.init_report
    assert len(report.loaded) == len(shared) and len(report.kept_attention) == 16
    assert str(report).startswith(f"{len(shared)} tensors loaded from torchvision")
    assert "16 ECA kernels kept at init" in str(report)
    # oracle: the parts without ECA compute torchvision's outputs
    x = torch.randn(2, 3, 64, 64)
    stem = lambda m: m.maxpool(m.relu(m.bn1(m.conv1(x))))  # noqa: E731
    torch.testing.assert_close(stem(model), stem(tv))
    plain = ecalib.create_model("resnet50", init_from=path).eval()  # no attention: the whole network
    torch.testing.assert_close(plain(x), tv(x))
    # with the ECA layers set to identity, the ECA model is torchvision's ResNet
    for block in (b for s in model.stages() for b in s):
        block.attn_attr = None
    torch.testing.assert_close(model(x), tv(x))


def test_init_from_torchvision_new_classes_and_mismatches(tmp_path):
    _, path = _torchvision_file(tmp_path, "resnet18")
    model = ecalib.create_model("eca_resnet18", num_classes=10, init_from=path)
    assert model.init_report.kept_classifier == ["fc.weight", "fc.bias"]
    assert "classifier" in str(model.init_report)
    with pytest.raises(ValueError, match="missing key"):
        ecalib.create_model("eca_resnet34", init_from=path)
    with pytest.raises(ValueError, match="size mismatch"):
        ecalib.create_model("eca_resnet50", init_from=path)
    with pytest.raises(ValueError, match="either pretrained"):
        ecalib.create_model("eca_resnet18", init_from=path, pretrained=path)
