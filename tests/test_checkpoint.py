import argparse
import json
import warnings

import pytest
import torch
from helpers import run_cli

import ecalib
from ecalib.checkpoint import CheckpointError, atomic_torch_save
from ecalib.models.factory import load_official_checkpoint
from ecalib.models.official import read_official_checkpoint, save_official_checkpoint


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
    # The official layout, plus ecalib's record and tensor checksum (which the official main.py never reads).
    assert set(raw) == {"epoch", "arch", "state_dict", "best_prec1", "optimizer", "ecalib", "tensor_sha256"}
    assert raw["ecalib"] == {"version": ecalib.__version__, "model": name}
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
    with pytest.warns(UserWarning, match="execute arbitrary code"):
        loaded = load_official_checkpoint(tmp_path / "pickled.pth.tar", allow_pickle=True)
    assert loaded.model_info.name == "eca_resnet18"


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


def _outputs_agree(a, b, size=64):
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    return torch.equal(a.eval()(x), b.eval()(x))


def test_circular_eca_files_load_back_as_circular_eca(tmp_path):
    """Item: a ceca file came back as eca (zero padding). The weights cannot tell; ecalib's record can."""
    ceca = randomize_bn(ecalib.create_model("ceca_resnet18"))
    zero_padded = ecalib.create_model("eca_resnet18", k_size=ceca.k_per_stage).eval()
    zero_padded.load_state_dict(ceca.state_dict())
    assert not _outputs_agree(ceca, zero_padded)  # the padding changes the function

    path = save_official_checkpoint(ceca, tmp_path / "ceca.pth.tar")
    loaded = load_official_checkpoint(path)
    assert loaded.model_info.name == "ceca_resnet18" and _outputs_agree(loaded, ceca)
    info = read_official_checkpoint(path)
    assert (info.padding, info.padding_source) == ("circular", "recorded (ecalib's record in the file)")

    # A trainer's checkpoint records its config instead.
    cifar = randomize_bn(ecalib.create_model("ceca_resnet20_cifar"))
    sd = {f"module.{k}": v for k, v in cifar.state_dict().items()}
    torch.save({"state_dict": sd, "config": {"model": "ceca_resnet20_cifar"}}, tmp_path / "trainer.pth.tar")
    assert _outputs_agree(load_official_checkpoint(tmp_path / "trainer.pth.tar"), cifar, size=32)

    # Without a record (official files), zero padding is assumed and said so.
    torch.save({"state_dict": sd, "arch": "ceca_resnet20_cifar"}, tmp_path / "official.pth.tar")
    bare = read_official_checkpoint(tmp_path / "official.pth.tar")
    assert bare.model_name == "eca_resnet20_cifar" and bare.padding == "zero"
    assert "cannot tell zero from circular" in bare.padding_source
    # A record that does not fit the weights is ignored, with a note.
    torch.save({"state_dict": sd, "ecalib": {"model": "se_resnet50"}}, tmp_path / "wrong.pth.tar")
    wrong = read_official_checkpoint(tmp_path / "wrong.pth.tar")
    assert wrong.model_name == "eca_resnet20_cifar" and "does not fit the weights" in wrong.notes[0]


def test_inspect_says_how_the_padding_was_decided(tmp_path, capsys):
    from ecalib.cli import main

    model = ecalib.create_model("eca_resnet18")
    torch.save({"state_dict": model.state_dict()}, tmp_path / "bare.pth")
    assert main(["inspect", str(tmp_path / "bare.pth")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["loads"] and report["eca_padding"] == "zero"
    assert "weights cannot tell" in report["eca_padding_source"]


def test_a_text_file_is_named_as_such_and_bugs_keep_their_traceback(tmp_path, capsys, monkeypatch):
    from ecalib import cli

    (tmp_path / "notes.txt").write_text("hello world")
    assert cli.main(["inspect", str(tmp_path / "notes.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "neither a zip archive nor a pickle" in err and "101" not in err
    (tmp_path / "empty.pth").write_bytes(b"")
    assert cli.main(["inspect", str(tmp_path / "empty.pth")]) == 2
    assert "the file is empty" in capsys.readouterr().err

    def buggy(args):
        return {}["missing"]  # a programming error, not the user's

    monkeypatch.setattr(cli, "_cmd_inspect", buggy)
    with pytest.raises(KeyError):
        cli.main(["inspect", str(tmp_path / "notes.txt")])


def test_an_intact_pickle_is_named_and_the_opt_in_warns_once(tmp_path):
    model = ecalib.create_model("eca_resnet18")
    path = tmp_path / "pickled.pth.tar"
    torch.save({"state_dict": model.state_dict(), "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(CheckpointError) as refused:
        load_official_checkpoint(path)
    message = str(refused.value)
    assert "intact pickle" in message and "argparse.Namespace" in message and "truncated" not in message
    assert "--allow-pickle" in message
    with pytest.warns(UserWarning, match=rf"{path.name}.*execute arbitrary code"):
        load_official_checkpoint(path, allow_pickle=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once per file, not on every load
        load_official_checkpoint(path, allow_pickle=True)


def test_non_finite_weights_are_refused(tmp_path, capsys):
    from ecalib.cli import main

    model = ecalib.create_model("eca_resnet18")
    sd = model.state_dict()
    sd["layer3.0.conv1.weight"][0, 0, 0, 0] = float("nan")
    sd["fc.bias"][3] = float("inf")
    path = save_official_checkpoint(model, tmp_path / "nan.pth.tar")
    torch.save({"state_dict": sd}, path)
    with pytest.raises(CheckpointError, match=r"2 non-finite .*'layer3.0.conv1.weight', 'fc.bias'"):
        load_official_checkpoint(path)
    with pytest.raises(CheckpointError, match="non-finite"):
        ecalib.create_model("eca_resnet18", pretrained=path)
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("RGB", (64, 64), (120, 30, 200)).save(image)
    assert main(["classify", "--checkpoint", str(path), str(image)]) == 2
    assert "non-finite" in capsys.readouterr().err


def test_inspect_refuses_what_classify_would_refuse(tmp_path, capsys):
    from ecalib.cli import main

    sd = ecalib.create_model("eca_resnet18").state_dict()
    del sd["layer4.1.bn2.running_var"]
    torch.save({"state_dict": sd}, tmp_path / "partial.pth")
    assert main(["inspect", str(tmp_path / "partial.pth")]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["loads"] is False and "layer4.1.bn2.running_var" in report["problems"][0]
    assert "does not load as eca_resnet18" in captured.err


def test_safetensors_files_load_without_pickle(tmp_path):
    from safetensors.torch import save_file

    model = randomize_bn(ecalib.create_model("eca_resnet50", k_size="3557"))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "m.safetensors")
    loaded = load_official_checkpoint(tmp_path / "m.safetensors")
    assert loaded.k_per_stage == (3, 5, 5, 7) and _outputs_agree(loaded, model)
    (tmp_path / "bad.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{nonsense")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_official_checkpoint(tmp_path / "bad.safetensors")


def test_broken_symlink_is_named(tmp_path):
    (tmp_path / "link.pth.tar").symlink_to(tmp_path / "gone.pth.tar")
    with pytest.raises(CheckpointError, match="broken symbolic link"):
        load_official_checkpoint(tmp_path / "link.pth.tar")


def test_disk_full_names_the_file_and_the_space_and_keeps_the_old_one(tmp_path, monkeypatch):
    import errno

    from ecalib.atomic import WriteError

    path = atomic_torch_save({"a": torch.ones(2)}, tmp_path / "ckpt.pth")

    def full_disk(obj, f, **kwargs):  # torch.save wraps the OSError of a failed write in a RuntimeError
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as err:
            raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos") from err

    monkeypatch.setattr(torch, "save", full_disk)
    expected = r"could not write .*ckpt.pth: No space left on device \(.* free .*about 4.0 MiB"
    with pytest.raises(WriteError, match=expected):
        atomic_torch_save({"a": torch.zeros(1024, 1024)}, path)
    assert torch.equal(torch.load(path)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pth"]


def test_a_file_size_limit_gives_one_line_and_keeps_the_previous_output(tmp_path):
    """Fault injection through the kernel: RLIMIT_FSIZE makes writes fail with EFBIG, as a full disk would."""
    import resource
    import signal
    import subprocess
    import sys

    source = save_official_checkpoint(ecalib.create_model("eca_resnet18"), tmp_path / "src.pth.tar")
    out = tmp_path / "backbone.pth"
    out.write_bytes(b"previous output")

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failing write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, resource.RLIM_INFINITY))

    done = subprocess.run(
        [sys.executable, "-m", "ecalib", "coco", "convert-backbone", source, "--to", "torchvision", "-o", out],
        capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"could not write {out}: File too large" in done.stderr and "needs about 42" in done.stderr
    assert out.read_bytes() == b"previous output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backbone.pth", "src.pth.tar"]


def test_official_layout_generator_writes_exactly_the_released_keys(tmp_path):
    from ecalib.detection.synthetic_checkpoints import write_official_imagenet_checkpoint

    path = write_official_imagenet_checkpoint(tmp_path / "eca_resnet50_k3377.pth.tar", k_size="3377")
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"epoch", "arch", "state_dict", "best_prec1", "optimizer"} and raw["arch"] == "se_resnet50"
    info = read_official_checkpoint(path)  # no record: read from the weights alone
    assert info.model_name == "eca_resnet50" and info.k_per_stage == (3, 3, 7, 7)


def test_a_checksum_beside_the_official_keys_catches_changed_tensors(tmp_path):
    """ecalib stores a digest of the tensors under an extra key; the official main.py's resume (which reads
    only its own keys, into a DataParallel model) loads the file unchanged, and a changed tensor is caught."""
    from torch import nn

    model = ecalib.create_model("eca_resnet18")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 64, 64)).sum().backward()
    optimizer.step()
    path = save_official_checkpoint(model, tmp_path / "m.pth.tar", epoch=3, optimizer=optimizer)
    checkpoint = torch.load(path, weights_only=True)
    assert len(checkpoint["tensor_sha256"]) == 64
    official = nn.DataParallel(ecalib.create_model("eca_resnet18"))  # main.py: resume
    official.load_state_dict(checkpoint["state_dict"])
    torch.optim.SGD(official.parameters(), lr=0.1, momentum=0.9).load_state_dict(checkpoint["optimizer"])
    assert checkpoint["epoch"] == 3
    checkpoint["state_dict"]["module.layer2.0.eca.conv.weight"][0, 0, 1] += 1e-6  # one value, slightly
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match="m.pth.tar is damaged: its tensors do not match the checksum"):
        load_official_checkpoint(path)


def test_a_resumable_checkpoint_may_hold_only_the_epochs_its_run_trained(tmp_path):
    """A run started from an official file at epoch 1 records epochs 2 and 3 only; their numbers must follow on."""
    from ecalib.engine.training_state import read_training_state

    model = ecalib.create_model("eca_resnet20_cifar")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    optimizer.step()
    state = {
        "epoch": 3,
        "arch": "eca_resnet20_cifar",
        "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()},
        "best_prec1": torch.tensor(12.5),
        "optimizer": optimizer.state_dict(),
        "history": [{"epoch": 2, "test_top1": 10.0}, {"epoch": 3, "test_top1": 12.5}],
    }
    torch.save(state, tmp_path / "run.pth.tar")
    loaded = read_training_state(tmp_path / "run.pth.tar", model, optimizer)
    assert (loaded.epoch, loaded.best, len(loaded.history)) == (3, 12.5, 2)
    state["history"][0]["epoch"] = 1
    torch.save(state, tmp_path / "run.pth.tar")
    with pytest.raises(CheckpointError, match=r"its history record 1 says epoch 1, not 2"):
        read_training_state(tmp_path / "run.pth.tar", model, optimizer)


@pytest.mark.parametrize("name", [n for n in ecalib.list_models() if ecalib.model_info(n).attention in ("eca", "ceca")])
def test_the_kernel_reader_finds_every_eca_layer_the_model_was_built_with(name):
    """models.official.eca_kernels (the one reader of ECA kernels from weights) against the built modules."""
    from ecalib.models.official import eca_kernels

    with torch.device("meta"):
        model = ecalib.create_model(name)
    built = [m.conv.kernel_size[0] for m in model.modules() if isinstance(m, ecalib.EcaLayer)]
    assert built and [k for _, k in eca_kernels(model.state_dict())] == built
