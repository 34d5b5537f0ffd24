import pytest
import torch
import torchvision

import ecalib
from ecalib.layers import EcaLayer
from ecalib.models import list_models, model_info
from ecalib.models.resnet import resolve_kernel_sizes

ALL = list_models()
DEEP = {n for n in ALL if any(f"resnet{d}" in n for d in (101, 152))}


def small_input(name: str, batch: int = 2) -> torch.Tensor:
    size = 32 if model_info(name).stem == "cifar" else 64
    return torch.randn(batch, 3, size, size)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in DEEP else n for n in ALL])
def test_forward_backward(name):
    model = ecalib.create_model(name, num_classes=7)
    out = model(small_input(name))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()
    out.mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", [n for n in ALL if model_info(n).num_params is not None])
def test_exact_parameter_counts(name):
    """Official counts at 1000 classes (SPEC section 2), declared in the metadata."""
    model = ecalib.create_model(name)
    assert sum(p.numel() for p in model.parameters()) == model_info(name).num_params


def test_spec_parameter_counts_are_declared():
    spec = {
        "eca_resnet18": 11_689_556,
        "eca_resnet34": 21_797_744,
        "eca_resnet50": 25_557_112,
        "eca_resnet101": 44_549_317,
        "eca_resnet152": 60_193_042,
        "eca_mobilenet_v2": 3_504_903,
    }
    assert {n: model_info(n).num_params for n in spec} == spec


def test_eca_resnet50_adds_exactly_80_parameters():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(ecalib.create_model("eca_resnet50")) - count(torchvision.models.resnet50()) == 80


@pytest.mark.parametrize("name", [n for n in ALL if model_info(n).attention in ("eca", "ceca")])
def test_kernel_sizes_per_stage(name):
    model = ecalib.create_model(name)
    info = model_info(name)
    if info.family == "mobilenet_v2":
        ks = [m.kernel_size for m in model.modules() if isinstance(m, EcaLayer)]
        assert ks == [1] * 10 + [3] * 7  # features.1-10 k = 1, features.11-17 k = 3
        return
    assert model.k_per_stage == info.k_per_stage
    for s, stage in enumerate(model.stages()):
        for block in stage:
            assert block.eca.kernel_size == info.k_per_stage[s]
            assert block.eca.conv.weight.shape == (1, 1, info.k_per_stage[s])
            assert block.eca.circular == (info.attention == "ceca")


def test_released_and_adaptive_kernels():
    released = {18: (3, 5, 7, 7), 34: (3, 3, 5, 7), 50: (3, 5, 5, 7), 101: (3, 3, 5, 7), 152: (3, 3, 5, 7)}
    for depth, k in released.items():
        assert model_info(f"eca_resnet{depth}").k_per_stage == k
        assert model_info(f"eca_resnet{depth}").checkpoint_file == f"eca_resnet{depth}_k{''.join(map(str, k))}.pth.tar"
    assert model_info("eca_resnet18_adaptive").k_per_stage == (3, 5, 5, 5)  # RC2020's CIFAR ECA
    assert model_info("eca_resnet50_adaptive").k_per_stage == (5, 5, 5, 7)
    assert model_info("eca_resnet18_cifar").k_per_stage == (3, 5, 5, 5)


@pytest.mark.parametrize(
    "value,expected",
    [
        ("3557", (3, 5, 5, 7)),
        ([3, 3, 7, 7], (3, 3, 7, 7)),
        (5, (5, 5, 5, 5)),
        ("adaptive", (5, 5, 5, 7)),
        (None, (5, 5, 5, 7)),
    ],
)
def test_explicit_kernel_lists(value, expected):
    assert resolve_kernel_sizes(value, [256, 512, 1024, 2048]) == expected
    model = ecalib.create_model("eca_resnet50", k_size=value)
    assert model.k_per_stage == expected
    assert model.layer4[0].eca.kernel_size == expected[3]


@pytest.mark.parametrize("bad", ["35", [3, 4, 5, 7], "abc", 2.5])
def test_bad_kernel_lists(bad):
    with pytest.raises(ValueError, match="k_size"):
        ecalib.create_model("eca_resnet50", k_size=bad)


def test_k_size_only_for_eca():
    with pytest.raises(ValueError, match="only applies"):
        ecalib.create_model("se_resnet50", k_size=3)


def test_key_names_are_torchvision_plus_eca():
    ours = set(ecalib.create_model("eca_resnet50").state_dict())
    tv = set(torchvision.models.resnet50().state_dict())
    extra = ours - tv
    assert tv <= ours
    assert len(extra) == 16 and all(k.endswith(".eca.conv.weight") for k in extra)
    assert "layer3.5.eca.conv.weight" in extra


def test_mobilenet_v2_official_keys_and_head():
    model = ecalib.create_model("eca_mobilenet_v2")
    eca_keys = [k for k in model.state_dict() if k.endswith("conv.weight") and ".conv." in k and k.count("conv") == 2]
    expected = ["features.1.conv.3.conv.weight"] + [f"features.{i}.conv.4.conv.weight" for i in range(2, 18)]
    assert eca_keys == expected
    assert set(ecalib.create_model("mobilenet_v2").state_dict()) == set(torchvision.models.mobilenet_v2().state_dict())
    assert model.classifier[0].p == 0.25
    assert model.num_features == 1280
    wide = ecalib.create_model("eca_mobilenet_v2", width_mult=1.4)
    assert wide.num_features == 1792 and wide.features[1].conv[1].out_channels == 22  # int(16 * 1.4), no rounding


def test_attention_sits_after_last_bn_before_add():
    model = ecalib.create_model("eca_resnet50").eval()
    block = model.layer2[1]
    seen = {}
    block.bn3.register_forward_hook(lambda m, i, o: seen.__setitem__("bn3", o.clone()))
    block.eca.register_forward_hook(lambda m, i, o: seen.update(eca_in=i[0].clone(), eca_out=o.clone()))
    x_in = {}
    block.register_forward_hook(lambda m, i, o: x_in.update(x=i[0].clone(), y=o.clone()))
    model(torch.randn(1, 3, 64, 64))
    torch.testing.assert_close(seen["eca_in"], seen["bn3"])
    torch.testing.assert_close(x_in["y"], torch.relu(seen["eca_out"] + x_in["x"]))


def test_official_initialisation():
    model = ecalib.create_model("eca_resnet50")
    w = model.layer3[0].conv2.weight
    assert abs(w.std().item() - (2.0 / (3 * 3 * 256)) ** 0.5) < 0.003
    assert torch.all(model.layer1[0].bn3.weight == 1)  # no zero-init of the last BN
    assert torch.all(model.layer1[0].bn3.bias == 0)


def test_cifar_stem():
    model = ecalib.create_model("eca_resnet18_cifar")
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, torch.nn.Identity)
    assert model.fc.out_features == 10
    assert model.forward_features(torch.randn(1, 3, 32, 32)).shape == (1, 512, 4, 4)
    assert ecalib.create_model("resnet20_cifar").forward_features(torch.randn(1, 3, 32, 32)).shape == (1, 64, 8, 8)


@pytest.mark.parametrize("name", ["eca_resnet50", "eca_resnet18", "eca_mobilenet_v2", "eca_resnet18_cifar"])
def test_features_only(name):
    x = small_input(name, batch=1)
    feats = ecalib.create_model(name, features_only=True)
    outs = feats(x)
    channels, reductions = feats.feature_info.channels(), feats.feature_info.reduction()
    assert [o.shape[1] for o in outs] == channels
    assert [x.shape[-1] // o.shape[-1] for o in outs] == reductions
    last = ecalib.create_model(name, features_only=True, out_indices=[-1])
    assert len(last(x)) == 1 and last.feature_info.channels() == channels[-1:]
    with pytest.raises(ValueError, match="out_indices"):
        ecalib.create_model(name, features_only=True, out_indices=[9])


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in DEEP else n for n in ALL])
def test_torchvision_create_feature_extractor(name):
    """torchvision's FX feature extractor on every model, at its feature levels and its output, equals the model's
    own eager walk (timm's forward_intermediates) and forward, train mode included (BN statistics)."""
    from torchvision.models.feature_extraction import create_feature_extractor

    model = ecalib.create_model(name).eval()
    nodes = {level["module"]: str(i) for i, level in enumerate(model.feature_info)}
    last = "fc" if model_info(name).family == "resnet" else "classifier"
    extractor = create_feature_extractor(model, return_nodes={**nodes, last: "out"})
    x = small_input(name, batch=2)
    with torch.no_grad():
        traced = extractor(x)
        final, levels = model.forward_intermediates(x)
        assert [traced[str(i)].shape for i in range(len(levels))] == [t.shape for t in levels]
        for i, expected in enumerate(levels):
            torch.testing.assert_close(traced[str(i)], expected)
        torch.testing.assert_close(traced["out"], model(x))
    train = create_feature_extractor(model.train(), return_nodes=nodes)
    assert set(train(x)) == set(nodes.values())


def test_features_only_shares_weights_with_classifier_model():
    torch.manual_seed(1)
    model = ecalib.create_model("eca_resnet18").eval()
    feats = ecalib.create_model("eca_resnet18", features_only=True).eval()
    feats.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("fc.")})  # same keys
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(feats(x)[-1], model.forward_features(x))
    r50 = ecalib.create_model("eca_resnet50", features_only=True)
    assert r50.feature_info.channels() == [64, 256, 512, 1024, 2048]
    assert r50.feature_info.reduction() == [2, 4, 8, 16, 32]


def test_reset_classifier_and_forward_head():
    model = ecalib.create_model("eca_resnet18")
    model.reset_classifier(3)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 3)
    model.reset_classifier(0)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 512)
    mb = ecalib.create_model("eca_mobilenet_v2")
    mb.reset_classifier(4)
    assert mb(torch.randn(1, 3, 64, 64)).shape == (1, 4)
    assert mb.forward_head(mb.forward_features(torch.randn(1, 3, 64, 64)), pre_logits=True).shape == (1, 1280)


def test_unknown_model_name_suggests():
    with pytest.raises(ValueError, match="eca_resnet50"):
        ecalib.create_model("eca_resnet_50")


def test_pretrained_true_is_refused_with_the_file_name():
    with pytest.raises(ValueError, match="eca_resnet50_k3557.pth.tar"):
        ecalib.create_model("eca_resnet50", pretrained=True)


def test_timm_eca_models_are_delegated():
    timm_names = list_models(source="timm")
    assert {"ecaresnet50d", "ecaresnet101d", "ecaresnetlight", "ecaresnet50d_pruned"} <= set(timm_names)
    assert not set(timm_names) & set(ALL)
    model = ecalib.create_model("ecaresnetlight", num_classes=5)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 5)
    assert "different network" in model_info("ecaresnet50d").notes


def test_reference_metadata():
    refs = model_info("eca_resnet50").reference_metrics()
    assert refs["official README"]["top1"] == "77.42"
    assert refs["paper"]["top1"] == "77.48"  # tuned after the paper (official issue #21)
    assert model_info("resnet50").reference_metrics()["paper"]["train_fps"] == "1024"
    assert model_info("eca_mobilenet_v2").reference_metrics()["official README"]["flops"] == "319.9M"
