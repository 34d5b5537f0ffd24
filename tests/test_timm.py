"""ecalib's models inside timm: registry, pretrained_cfg, model interface, feature machinery and scripts' API."""

import subprocess
import sys

import pytest
import timm
import torch
import torchvision
from timm.data import create_loader, create_transform, resolve_data_config

import ecalib
from ecalib.models import list_models, model_info

OURS = list_models()
LIGHT = ["eca_resnet18", "eca_mobilenet_v2", "eca_resnet18_cifar", "ecalib_resnet18"]  # timm names


def _x(name, batch=2):
    size = 32 if model_info(name.removeprefix("ecalib_")).stem == "cifar" else 64
    return torch.randn(batch, 3, size, size)


def test_every_model_is_in_timm_without_replacing_any(tmp_path):
    # timm's own list, in a fresh interpreter without ecalib
    out = subprocess.run(
        [sys.executable, "-c", "import timm; print('\\n'.join(timm.list_models()))"],
        capture_output=True,
        text=True,
        check=True,
    )
    timm_only = set(out.stdout.split())
    for name in OURS:
        timm_name = model_info(name).timm_name
        assert timm.is_model(timm_name)
        if name in timm_only:
            assert timm_name == f"ecalib_{name}"
        else:
            assert timm_name == name
    assert {"ecalib_resnet50", "ecalib_resnet18"} <= {model_info(n).timm_name for n in OURS}
    # timm's resnet50 is still timm's
    assert type(timm.create_model("resnet50")).__module__ == "timm.models.resnet"
    assert set(timm.list_models(module="ecalib_timm")) == {model_info(n).timm_name for n in OURS}


def _same_network(built, independent, x):
    """``built`` takes ``independent``'s weights strictly and then computes the same outputs."""
    built.load_state_dict(independent.state_dict())
    built.eval(), independent.eval()
    with torch.no_grad():
        torch.testing.assert_close(built(x), independent(x), rtol=0, atol=0)


def test_timm_builds_the_plain_resnet50_torchvision_defines():
    ours = timm.create_model("ecalib_resnet50")
    assert type(ours) is type(ecalib.create_model("resnet50")) and ours.model_info.name == "resnet50"
    _same_network(ours, torchvision.models.resnet50(), torch.randn(1, 3, 64, 64))


@pytest.mark.parametrize(
    "name, layout",
    [
        # the released ECA-Net50 file is eca_resnet50_k3557.pth.tar: bottleneck blocks 3-4-6-3, k per stage
        ("eca_resnet50", dict(block="bottleneck", layers=[3, 4, 6, 3], attn="eca", k_size=[3, 5, 5, 7])),
        ("eca_resnet18_cifar", dict(block="basic", layers=[2, 2, 2, 2], attn="eca", stem="cifar", num_classes=10)),
    ],
)
def test_timm_builds_the_resnet_its_layout_describes(name, layout):
    from ecalib.models.resnet import ResNet

    ours = timm.create_model(name)
    assert ours.model_info.name == name and ours.pretrained_cfg["architecture"] == name
    _same_network(ours, ResNet(**layout), _x(name))


def test_timm_builds_torchvisions_mobilenet_v2_plus_one_eca_per_block():
    ours, tv = timm.create_model("eca_mobilenet_v2"), torchvision.models.mobilenet_v2()
    mine = {k: v.shape for k, v in ours.state_dict().items()}
    assert {k: v.shape for k, v in tv.state_dict().items()}.items() <= mine.items()
    extra = {k: s for k, s in mine.items() if k not in tv.state_dict()}
    assert len(extra) == 17 and all(k.endswith(".conv.weight") and s[:2] == (1, 1) for k, s in extra.items())
    # the released k: 1 where the block's output width is below 96, else 3
    assert {s[2] for s in extra.values()} == {1, 3}


def test_resolve_data_config_is_the_official_eval():
    cfg = resolve_data_config({}, model=timm.create_model("eca_resnet50"))
    assert cfg["interpolation"] == "bilinear" and cfg["crop_pct"] == 0.875 and cfg["input_size"] == (3, 224, 224)
    assert cfg["mean"] == (0.485, 0.456, 0.406) and cfg["std"] == (0.229, 0.224, 0.225)
    t = create_transform(**cfg)
    resize = next(s for s in t.transforms if isinstance(s, torchvision.transforms.Resize))
    assert resize.size == 256 and resize.interpolation == torchvision.transforms.InterpolationMode.BILINEAR
    cifar = resolve_data_config({}, model=timm.create_model("eca_resnet18_cifar"))
    assert cifar["input_size"] == (3, 32, 32) and cifar["crop_pct"] == 1.0
    assert cifar["mean"] == (0.4914, 0.4822, 0.4465)


def _official_files(tmp_path, model):
    ecalib_file = ecalib.save_official_checkpoint(model, tmp_path / "ecalib.pth.tar")
    raw = {
        "epoch": 90,
        "arch": "se_resnet18",  # wrong, as in the R50 release
        "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()},
        "best_prec1": 70.0,
        "optimizer": {"state": {}, "param_groups": []},
    }
    torch.save(raw, tmp_path / "raw.pth.tar")
    return [ecalib_file, tmp_path / "raw.pth.tar"]


@pytest.mark.parametrize("name", ["eca_resnet18", "eca_mobilenet_v2"])
def test_timm_loads_official_files(tmp_path, name):
    torch.manual_seed(0)
    model = ecalib.create_model(name).eval()
    x = _x(name)
    for path in _official_files(tmp_path, model):
        loaded = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path))).eval()
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
        # validate.py --checkpoint FILE: timm's load_checkpoint, no filter
        fresh = timm.create_model(name)
        timm.models.load_checkpoint(fresh, str(path))
        torch.testing.assert_close(fresh.eval()(x), model(x), rtol=0, atol=0)
    tuned = timm.create_model(name, pretrained=True, num_classes=5, pretrained_cfg_overlay=dict(file=str(path)))
    tuned.eval()
    assert tuned(x).shape == (2, 5)
    torch.testing.assert_close(tuned.forward_features(x), model.forward_features(x))
    # a fine-tuned file of 5 classes keeps its classifier
    tuned_file = ecalib.save_official_checkpoint(tuned, tmp_path / "tuned.pth.tar")
    again = timm.create_model(name, pretrained=True, num_classes=5, pretrained_cfg_overlay=dict(file=str(tuned_file)))
    torch.testing.assert_close(again.eval()(x), tuned(x), rtol=0, atol=0)


def test_timm_official_load_checks_kernels_and_keys(tmp_path):
    path = _official_files(tmp_path, ecalib.create_model("eca_resnet18"))[1]
    with pytest.raises(ValueError, match=r"\[3, 5, 7, 7\].*k_size='3577'"):
        timm.create_model("eca_resnet18", pretrained=True, k_size=3, pretrained_cfg_overlay=dict(file=str(path)))
    with pytest.raises(ValueError, match="missing"):
        timm.create_model("se_resnet18", pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    with pytest.raises(ValueError, match="eca_resnet18_k3577.pth.tar"):
        timm.create_model("eca_resnet18", pretrained=True)


@pytest.mark.parametrize("name", ["eca_resnet50", "eca_mobilenet_v2", "resnet20_cifar"])
def test_features_only_through_timm(name):
    feats = timm.create_model(name, features_only=True)
    ref = ecalib.create_model(name, features_only=True)
    assert isinstance(feats, timm.models.FeatureListNet)
    assert isinstance(feats.feature_info, timm.models.FeatureInfo)
    assert feats.feature_info.channels() == ref.feature_info.channels()
    assert feats.feature_info.reduction() == ref.feature_info.reduction()
    assert ref.pretrained_cfg == feats.pretrained_cfg and "classifier" not in feats.pretrained_cfg
    outs = feats(_x(name, 1))
    assert [o.shape[1] for o in outs] == feats.feature_info.channels()
    two = timm.create_model(name, features_only=True, out_indices=(1, -1))
    channels = feats.feature_info.channels()
    assert two.feature_info.channels() == [channels[1], channels[-1]]


def _drop_rates(model):
    blocks = [b for i in range(1, 5) for b in getattr(model, f"layer{i}")]
    return [b.drop_path.drop_prob if getattr(b, "drop_path", None) is not None else 0.0 for b in blocks]


def test_drop_path_follows_timms_schedule():
    ours = timm.create_model("eca_resnet50", drop_path_rate=0.2)
    assert _drop_rates(ours) == pytest.approx(_drop_rates(timm.create_model("resnet50", drop_path_rate=0.2)))
    assert max(_drop_rates(ours)) == pytest.approx(0.2)
    assert set(ours.state_dict()) == set(ecalib.create_model("eca_resnet50").state_dict())
    x = torch.randn(2, 3, 64, 64)
    ours.eval()
    torch.testing.assert_close(ours(x), ours(x))  # identity in eval
    ours.train()
    torch.manual_seed(0)
    a = ours(x)
    torch.manual_seed(1)
    assert not torch.equal(a, ours(x))


def test_default_tree_has_no_drop_path():
    model = ecalib.create_model("eca_resnet50")
    assert not any("drop_path" in n for n, _ in model.named_modules())


@pytest.mark.parametrize("name", LIGHT)
def test_global_pool_and_reset_classifier(name):
    model = timm.create_model(name, global_pool="max").eval()
    x = _x(name)
    feats = model.forward_features(x)
    torch.testing.assert_close(model.forward_head(feats, pre_logits=True), feats.amax((2, 3)))
    model.reset_classifier(3, "catavgmax")
    pooled = torch.cat([feats.mean((2, 3)), feats.amax((2, 3))], 1)
    torch.testing.assert_close(model.forward_head(feats, pre_logits=True), pooled)
    assert model(x).shape == (2, 3)
    model.reset_classifier(0)
    assert model(x).shape == (2, model.num_features * 2)
    with pytest.raises(ValueError, match="global_pool.*'avg'"):
        timm.create_model(name, global_pool="mean")


def test_mobilenet_default_pool_is_the_officials():
    model = timm.create_model("eca_mobilenet_v2").eval()
    feats = torch.randn(2, 1280, 7, 7)
    assert torch.equal(model.forward_head(feats, pre_logits=True), feats.mean(3).mean(2))


@pytest.mark.parametrize("name", LIGHT)
def test_grad_checkpointing_gives_the_same_gradients(name):
    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=4)
    x = _x(name)
    grads = []
    for enable in (False, True):
        model.zero_grad()
        model.set_grad_checkpointing(enable)
        model.train()
        torch.manual_seed(0)
        model(x).square().sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for n in grads[0]:
        torch.testing.assert_close(grads[1][n], grads[0][n], msg=n)


@pytest.mark.parametrize("name", LIGHT)
def test_forward_intermediates_match_timms_feature_wrapper(name):
    torch.manual_seed(0)
    model = timm.create_model(name).eval()
    feats = ecalib.models.feature_extractor(model).eval()  # timm's FeatureListNet over the same modules
    x = _x(name)
    final, inter = model.forward_intermediates(x)
    expected = feats(x)
    assert len(inter) == len(expected)
    for a, b in zip(inter, expected, strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(final, model.forward_features(x))
    last = model.forward_intermediates(x, indices=1, intermediates_only=True, stop_early=True)
    torch.testing.assert_close(last[0], expected[-1])


def test_group_matcher_drives_timms_layer_decay():
    from timm.optim import create_optimizer_v2

    model = timm.create_model("eca_resnet18")
    opt = create_optimizer_v2(model, "sgd", lr=0.1, layer_decay=0.5)
    scales = sorted({g["lr_scale"] for g in opt.param_groups})
    assert len(scales) == 2 + 8  # stem, 8 blocks, head (the head has scale 1)
    n_params = sum(p.numel() for g in opt.param_groups for p in g["params"])
    assert n_params == sum(p.numel() for p in model.parameters())
    from timm.models import group_parameters

    coarse = group_parameters(model, model.group_matcher(coarse=True))
    assert len(coarse) == 1 + 4 + 1  # stem, stages, head


def test_timm_training_api_on_a_tiny_imagefolder(tmp_path):
    from timm.data import ImageDataset
    from timm.models import load_checkpoint
    from timm.optim import create_optimizer_v2
    from timm.scheduler import create_scheduler_v2
    from timm.utils import CheckpointSaver

    from ecalib.data.imagefolder import write_synthetic_imagefolder

    root = write_synthetic_imagefolder(tmp_path / "data", num_classes=2, train_per_class=2, val_per_class=2)
    model = timm.create_model("eca_resnet18", num_classes=2)
    cfg = resolve_data_config({"input_size": (3, 64, 64)}, model=model)
    assert cfg["interpolation"] == "bilinear"
    loader = create_loader(
        ImageDataset(str(root / "train")),
        input_size=cfg["input_size"],
        batch_size=2,
        is_training=True,
        interpolation=cfg["interpolation"],
        mean=cfg["mean"],
        std=cfg["std"],
        num_workers=0,
        use_prefetcher=False,  # train.py --no-prefetcher: the CPU path
        device=torch.device("cpu"),
    )
    opt = create_optimizer_v2(model, "sgd", lr=0.1, weight_decay=1e-4, momentum=0.9)
    sched, epochs = create_scheduler_v2(opt, "step", num_epochs=2, decay_epochs=1, decay_rate=0.1)
    (tmp_path / "ckpt").mkdir()  # train.py makes its output folder
    saver = CheckpointSaver(model, opt, checkpoint_dir=str(tmp_path / "ckpt"), max_history=1)
    for epoch in range(epochs):
        for images, target in loader:
            loss = torch.nn.functional.cross_entropy(model(images), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step(epoch + 1)
        best, _ = saver.save_checkpoint(epoch, metric=-loss.item())
    assert opt.param_groups[0]["lr"] == pytest.approx(0.001)
    again = timm.create_model("eca_resnet18", num_classes=2)
    load_checkpoint(again, str(tmp_path / "ckpt" / "last.pth.tar"))
    for k, v in model.state_dict().items():
        assert torch.equal(again.state_dict()[k], v), k


SCRIPT = """
import argparse, timm
p = argparse.ArgumentParser()
p.add_argument("--model")
p.add_argument("--num-classes", type=int)
a = p.parse_args()
m = timm.create_model(a.model, num_classes=a.num_classes)
print(type(m).__name__, m.pretrained_cfg["interpolation"], m.num_classes)
"""


def test_readme_recipe_runs_an_unedited_timm_script(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    recipe = "import ecalib, runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    out = subprocess.run(
        [sys.executable, "-c", recipe, str(script), "--model", "eca_resnet50", "--num-classes", "7"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["ResNet", "bilinear", "7"]
    plain = subprocess.run([sys.executable, str(script), "--model", "eca_resnet50"], capture_output=True, text=True)
    assert "Unknown model" in plain.stderr  # what the recipe fixes


def test_timm_create_model_for_every_registered_name_has_the_official_counts():
    """Every ecalib model through timm (meta device: shapes only): its parameter count equals ecalib's build
    and, where one is known, the official count in the metadata."""
    checked = 0
    for name in OURS:
        info = model_info(name)
        with torch.device("meta"):
            theirs = sum(p.numel() for p in timm.create_model(info.timm_name).parameters())
            ours = sum(p.numel() for p in ecalib.create_model(name).parameters())
        assert theirs == ours, name
        if info.num_params is not None:
            assert theirs == info.num_params, name
            checked += 1
    assert checked >= 12  # the released ECA models and their torchvision baselines


def test_registered_as_timms_own_families():
    """One ``@register_model def <timm name>(pretrained=False, **kwargs)`` per model in ecalib_timm.py (greppable),
    each with a pretrained_cfg carrying every field of timm's own ResNet and MobileNetV3 entries."""
    import inspect
    import re

    from ecalib.models import ecalib_timm

    source = inspect.getsource(ecalib_timm)
    theirs = set()
    for name in ("resnet50.tv_in1k", "resnet18.a1_in1k", "mobilenetv3_large_100.ra_in1k"):
        theirs |= set(timm.models.get_pretrained_cfg(name).to_dict())
    theirs -= {"hf_hub_id", "tag"}  # weights on the Hub (ecalib downloads nothing), the weights' tag
    for name in OURS:
        timm_name = model_info(name).timm_name
        assert re.search(rf"@register_model\ndef {timm_name}\(pretrained: bool = False, \*\*kwargs\)", source), name
        entrypoint = timm.models.model_entrypoint(timm_name)
        assert entrypoint.__module__ == "ecalib.models.ecalib_timm" and entrypoint.__doc__, name
        cfg = timm.models.get_pretrained_cfg(timm_name)
        assert theirs <= set(cfg.to_dict(remove_null=False)) and not cfg.has_weights, name
        assert cfg.architecture == timm_name and cfg.url == "" and cfg.pool_size is not None, name


def test_ecalib_registry_is_a_view_onto_timms():
    assert [model_info(n).timm_name for n in OURS] == [
        n for n in sorted(timm.list_models(module="ecalib_timm"), key=lambda n: n.removeprefix("ecalib_"))
    ]
    for name in ("eca_resnet50", "resnet18_cifar", "se_mobilenet_v2"):
        cfg = timm.models.get_pretrained_cfg(model_info(name).timm_name)
        info = model_info(name)
        assert (info.num_classes, info.input_size) == (cfg.num_classes, cfg.input_size)
        assert info.eval_transform.crop / info.eval_transform.resize == pytest.approx(cfg.crop_pct, abs=0.01)
        assert info.notes == timm.models.model_entrypoint(info.timm_name).__doc__
    with pytest.raises(ValueError, match="eca_resnet50"):
        ecalib.model_info("eca_resnet_50")


@pytest.mark.parametrize("name", OURS)
def test_device_dtype_pool_size_and_head_in_place(name):
    """timm's factory arguments build on the meta device in float64; pool_size is forward_features' map there;
    a new head keeps the model's device, dtype and eval mode."""
    info = model_info(name)
    model = timm.create_model(info.timm_name, device="meta", dtype=torch.float64).eval()
    tensors = [*model.parameters(), *model.buffers()]
    assert all(t.is_meta for t in tensors)
    assert {t.dtype for t in tensors} <= {torch.float64, torch.int64}
    features = model.forward_features(torch.empty(1, *info.input_size, device="meta", dtype=torch.float64))
    assert tuple(features.shape[-2:]) == model.pretrained_cfg["pool_size"]
    assert (model.in_chans, model.head_hidden_size) == (3, model.num_features)
    model.reset_classifier(5, "catavgmax")
    head = list(model.get_classifier().parameters())
    assert all(p.is_meta and p.dtype == torch.float64 for p in head) and not model.get_classifier().training
    assert model.head_hidden_size == 2 * model.num_features


SCRIPTED = ["resnet20_cifar", "se_resnet20_cifar", "cbam_resnet20_cifar", "triplet_resnet20_cifar"]
SCRIPTED += ["ceca_resnet20_cifar", "eca_resnet18", "eca_mobilenet_v2"]


@pytest.mark.parametrize("name", SCRIPTED)
def test_torchscript_computes_what_the_eager_model_does(name):
    """The scripted model (its own code path: attention by literal names, ECA's PyTorch formulation) against the
    eager one, for ECA's fused and reference implementations."""
    torch.manual_seed(0)
    model = timm.create_model(model_info(name).timm_name).eval()
    x = _x(name)
    for impl in ("auto", "reference"):
        ecalib.layers.set_eca_impl(model, impl)
        with torch.no_grad():
            torch.testing.assert_close(torch.jit.script(model)(x), model(x))


def test_scripted_block_refuses_an_attention_name_it_does_not_know():
    """An attention module under a name the scripted path has no branch for fails loudly instead of being
    skipped (eager code finds it by name)."""
    model = timm.create_model("se_resnet20_cifar").eval()
    x = _x("se_resnet20_cifar")
    expected = model(x)
    for block in (b for stage in model.stages() for b in stage):
        module = block.se
        del block._modules["se"]
        block.se, block.attn_attr = None, "renamed"
        block.add_module("renamed", module)
    torch.testing.assert_close(model(x), expected)
    with pytest.raises(torch.jit.Error, match="add 'renamed' there"):
        torch.jit.script(model)(x)
