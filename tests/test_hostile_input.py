"""Hostile and malformed input, as a careful adversarial user would give it (issue 23).

Every case is a file or value that once gave a traceback, a hang, a silent wrong result or an
overwritten input. Each must now give exit code 2 and one line on stderr naming the file or value,
with no traceback, and leave every file as it was (nothing written, nothing replaced). Cases that
would allocate or run in proportion to a hostile size if a check regressed run in a child process
capped in memory and time (helpers.run_capped).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_capped

from ecalib import save_official_checkpoint
from ecalib.cli import main
from ecalib.models import create_model

pytestmark = pytest.mark.slow

PROGRESS = re.compile(r"\d+%\|")  # a tqdm bar on stderr, not a message
TINY = "eca_resnet20_cifar"  # 0.27 M parameters: a real ECA checkpoint that saves and loads in milliseconds


# -- how every case is judged ---------------------------------------------------------------------


def snapshot(root: Path) -> dict:
    """Every file and folder under ``root`` with its content digest: what "nothing written or replaced" compares."""
    state = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink() or path.is_dir():
            state[key] = "link" if path.is_symlink() else "dir"
        else:
            state[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def refused(argv, expected: str, watched: Path, capsys=None, capped: int | None = None, cwd: Path | None = None):
    """Run ``ecalib *argv`` and check the contract: exit 2, one line matching ``expected``, no traceback,
    nothing under ``watched`` changed. ``capped``: in a child with that many GiB of address space."""
    argv = [str(a) for a in argv]
    before = snapshot(watched)
    if capped:
        rc, out, err = run_capped(argv, memory_gb=capped, timeout=240, cwd=cwd or Path.cwd())
    else:
        capsys.readouterr()
        rc = main(argv)
        out, err = capsys.readouterr()
    lines = [line for line in err.strip().splitlines() if not PROGRESS.search(line)]
    assert rc == 2, f"exit {rc}: {err[-3000:]}"
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    assert re.search(expected, lines[0]), lines[0]
    assert snapshot(watched) == before, "files were written or replaced"
    return lines[0]


# -- inputs -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Valid inputs the cases start from (copied before they are damaged)."""
    root = tmp_path_factory.mktemp("valid")
    save_official_checkpoint(create_model(TINY), root / "tiny.pth.tar")
    return root


def _zip_member_spans(path: Path) -> dict[str, tuple[int, int]]:
    """``{member name: (offset of its data, size)}`` of an uncompressed zip (torch.save's format)."""
    spans = {}
    with zipfile.ZipFile(path) as z, open(path, "rb") as f:
        for info in z.infolist():
            f.seek(info.header_offset)
            header = f.read(30)
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            spans[info.filename] = (info.header_offset + 30 + name_len + extra_len, info.file_size)
    return spans


def flip_tensor_bits(path: Path, flips: int = 64, seed: int = 0) -> None:
    """Flip ``flips`` random bits inside the tensor data of a torch zip checkpoint (the pickle stays intact)."""
    spans = [s for name, s in _zip_member_spans(path).items() if "/data/" in name and s[1] > 0]
    rng = np.random.default_rng(seed)
    data = bytearray(path.read_bytes())
    sizes = np.array([size for _, size in spans], dtype=float)
    for i in rng.choice(len(spans), size=flips, p=sizes / sizes.sum()):
        start, size = spans[i]
        position = start + int(rng.integers(size))
        data[position] ^= 1 << int(rng.integers(8))
    path.write_bytes(bytes(data))


def rewrite_pickle(path: Path, old: bytes | None, new: bytes) -> None:
    """Replace ``old`` by ``new`` in the ``data.pkl`` of a torch zip checkpoint (``old=None``: all of it),
    keeping everything else."""
    with zipfile.ZipFile(path) as z:
        members = [(info, z.read(info)) for info in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for info, data in members:
            if info.filename.endswith("data.pkl"):
                assert old is None or old in data
                data = new if old is None else data.replace(old, new, 1)
            z.writestr(info, data)


def nested_list_ops(depth: int) -> bytes:
    """Pickle opcodes building a list nested ``depth`` deep, without recursion (EMPTY_LIST..., APPEND...)."""
    return b"]" * depth + b"a" * (depth - 1)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header says ``width`` x ``height`` with a few bytes of image data: a decompression bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def jpeg_bytes(size: int = 96, seed: int = 0) -> bytes:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


# -- checkpoints -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def timm_resnet_d(tmp_path_factory) -> Path:
    """A state dict of timm's ecaresnet50d (deep stem, ECA named ``se``), stored in half precision."""
    import timm

    path = tmp_path_factory.mktemp("timm") / "ecaresnet50d.pth"
    model = timm.create_model("ecaresnet50d", pretrained=False)
    torch.save({k: v.half() for k, v in model.state_dict().items()}, path)
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["inspect", "{ckpt}"],
        ["classify", "{image}", "--checkpoint", "{ckpt}"],
        ["export", "{ckpt}", "--format", "onnx", "-o", "{out}/m.onnx"],
        ["coco", "convert-backbone", "{ckpt}", "--to", "mmdet", "-o", "{out}/backbone.pth"],
    ],
    ids=["inspect", "classify", "export", "convert-backbone"],
)
def test_a_timm_resnet_d_is_named_as_another_architecture(argv, timm_resnet_d, tmp_path, capsys):
    (tmp_path / "cat.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "out").mkdir()
    argv = [a.format(ckpt=timm_resnet_d, image=tmp_path / "cat.jpg", out=tmp_path / "out") for a in argv]
    refused(argv, r"ecaresnet50d.pth holds another architecture: a ResNet with a deep stem", tmp_path, capsys)


def damaged_checkpoints():
    """name -> (how to damage a copy of tiny.pth.tar, expected message)."""

    def malformed_persistent_id(path):  # a persistent id that is an int, not a ('storage', ...) tuple
        rewrite_pickle(path, None, b"\x80\x02K\x05Q.")  # PROTO 2, BININT1 5, BINPERSID, STOP

    def deep_epoch(path):
        state = torch.load(path, weights_only=True)
        state["epoch"] = 123456789  # pickled as BININT: b"J" and 4 bytes, replaced by the nested list
        state.pop("tensor_sha256", None)
        torch.save(state, path)
        rewrite_pickle(path, b"J" + struct.pack("<i", 123456789), nested_list_ops(200_000))

    def epoch_list(path):
        state = torch.load(path, weights_only=True)
        state["epoch"] = [1, 2]
        torch.save(state, path)

    def arch_tensor(path):
        state = torch.load(path, weights_only=True)
        state["arch"] = torch.zeros(3)
        state.pop("tensor_sha256", None)
        torch.save(state, path)

    def bit_flips(path):
        flip_tensor_bits(path, 64)

    def truncated(path):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    def text(path):
        path.write_text("epoch: 3\nstate_dict: none\n")

    def zero_d_conv(path):
        state = torch.load(path, weights_only=True)
        state["state_dict"]["module.conv1.weight"] = torch.tensor(1.0)
        state.pop("tensor_sha256", None)
        torch.save(state, path)

    return {
        "malformed persistent id": (malformed_persistent_id, r"tiny.pth.tar is not a readable PyTorch checkpoint"),
        "200k-deep epoch": (deep_epoch, r"tiny.pth.tar is not a checkpoint ecalib can read: it is nested deeper than"),
        "epoch is a list": (epoch_list, r"tiny.pth.tar: its epoch is \[1, 2\] \(a whole number >= 0"),
        "arch is a tensor": (arch_tensor, r"tiny.pth.tar: its arch is tensor"),
        "64 bit flips": (bit_flips, r"tiny.pth.tar is damaged: its tensors do not match the checksum"),
        "truncated": (truncated, r"tiny.pth.tar is not a readable PyTorch checkpoint"),
        "text file": (text, r"tiny.pth.tar is not a readable PyTorch checkpoint \(it starts with"),
        "0-d conv1 weight": (zero_d_conv, r"tiny.pth.tar: weights with impossible shapes"),
    }


DAMAGED = damaged_checkpoints()


@pytest.mark.parametrize("case", list(DAMAGED))
@pytest.mark.parametrize("command", ["inspect", "export"])
def test_a_damaged_checkpoint_is_one_line(case, command, store, tmp_path, capsys):
    damage, expected = DAMAGED[case]
    path = tmp_path / "tiny.pth.tar"
    shutil.copy(store / "tiny.pth.tar", path)
    damage(path)
    argv = (
        ["inspect", path] if command == "inspect" else ["export", path, "--format", "onnx", "-o", tmp_path / "m.onnx"]
    )
    refused(argv, expected, tmp_path, capsys)


# -- resuming a damaged run ------------------------------------------------------------------------


def smoke(data_dir, results, *args) -> list[str]:
    return [
        "train", "cifar10", "--profile", "smoke", "--data-dir", str(data_dir), "--results-dir", str(results),
        "--wandb-mode", "disabled", "--no-progress", *map(str, args),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    """(data folder, results folder) of a finished two-epoch smoke run, copied by each test."""
    data, results = tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("two-epochs")
    assert main(smoke(data, results)) == 0
    return data, results


def interrupted_after_epoch_1(folder: Path, change) -> None:
    """Make ``folder`` look killed after epoch 1 of 2, then apply ``change`` to its checkpoint (a hostile
    file carries no checksum)."""
    (folder / "final.json").unlink()
    path = folder / "checkpoints" / "checkpoint.pth.tar"
    state = torch.load(path, weights_only=True)
    state["epoch"], state["history"] = 1, state["history"][:1]
    state.pop("tensor_sha256", None)
    change(state)
    torch.save(state, path)


def _history_epoch_x(state):
    state["history"] = [{"epoch": "x"}]


def _optimizer_state_5(state):
    state["optimizer"]["state"] = 5


def _momentum_shape(state):
    state["optimizer"]["state"][0]["momentum_buffer"] = torch.zeros(3)


def _lr_text(state):
    state["optimizer"]["param_groups"][0]["momentum"] = "fast"


def _scaler_list(state):
    state["scaler"] = [1, 2]


RESUMES = {
    "history epoch 'x'": (_history_epoch_x, r"its history record 1 holds epoch='x', not a number"),
    "optimizer state 5": (_optimizer_state_5, r"its optimizer's state is 5, not a mapping"),
    "momentum of the wrong shape": (_momentum_shape, r"optimizer momentum_buffer of parameter 0 is \[3\]"),
    "momentum 'fast'": (_lr_text, r"optimizer group 0 has momentum='fast'"),
    "scaler a list": (_scaler_list, r"its scaler is \[1, 2\]"),
}


@pytest.mark.parametrize("case", list(RESUMES))
def test_resuming_a_damaged_checkpoint_leaves_the_run_as_it_was(case, two_epochs, tmp_path, capsys):
    data, done = two_epochs
    results = tmp_path / "results"
    shutil.copytree(done, results)
    (run,) = (results / "cifar10").iterdir()
    change, expected = RESUMES[case]
    interrupted_after_epoch_1(run, change)
    refused(smoke(data, results), r"cannot resume from .*checkpoint.pth.tar: .*" + expected, tmp_path, capsys)


def test_bit_flips_in_the_runs_checkpoint_are_refused_on_resume(two_epochs, tmp_path, capsys):
    data, done = two_epochs
    results = tmp_path / "results"
    shutil.copytree(done, results)
    (run,) = (results / "cifar10").iterdir()
    (run / "final.json").unlink()
    flip_tensor_bits(run / "checkpoints" / "checkpoint.pth.tar", 64)
    refused(
        smoke(data, results), r"checkpoint.pth.tar is damaged: its tensors do not match the checksum", tmp_path, capsys
    )


def test_a_run_folder_with_a_damaged_record_is_refused(two_epochs, tmp_path, capsys):
    data, done = two_epochs
    results = tmp_path / "results"
    shutil.copytree(done, results)
    (run,) = (results / "cifar10").iterdir()
    (run / "params.json").write_text("[" * 100_000)
    refused(smoke(data, results), r"params.json is not a run record \(params.json is not valid JSON", tmp_path, capsys)


# -- recipes ---------------------------------------------------------------------------------------


def recipe_cases():
    base = (Path(__file__).resolve().parents[1] / "configs" / "cifar10" / "rc2020.yaml").read_text()
    # 9 ** 9 strings from about 400 bytes, in a value the schema refuses (and would quote back)
    levels = ["&a [x, x, x, x, x, x, x, x, x]"] + [
        f"&{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)
    ]
    laughs = base.replace("recipe: rc2020", f"recipe: [{', '.join(levels)}]")
    return {
        # name: (file content (str or bytes), extra arguments, expected, run capped)
        "billion laughs": (laughs, [], r"recipe.yaml is not valid YAML: it expands to more than", True),
        "binary": (bytes(range(256)) * 4, [], r"recipe.yaml is not a text file \(not UTF-8", False),
        "100k-deep nesting": ("[" * 100_000 + "]" * 100_000, [], r"nested deeper than 20 levels", True),
        "duplicate section": (base + "optimizer:\n  lr: 0.5\n", [], r"key 'optimizer' is given twice", False),
        "duplicate key in a section": (
            base.replace("  lr: 0.1\n", "  lr: 0.1\n  lr: 0.2\n"),
            [],
            r"key 'lr' is given twice in one mapping \(line",
            False,
        ),
        "2 MiB": (base + "#" * (2 << 20), [], r"recipe.yaml is \d+ bytes; a recipe or sweep file is at most", False),
        "alias cycle": (base + "x: &x [*x]\n", [], r"not valid YAML", False),
        "recipe escapes": (
            base.replace("recipe: rc2020", "recipe: ../../../../escape"),
            [],
            r"recipe=.*is not allowed: must be a plain name",
            False,
        ),
        "--set recipe escapes": (
            base,
            ["--set", "recipe=../../../../escape"],
            r"recipe=.*is not allowed: must be a plain name",
            False,
        ),
        "--set profile escapes": (
            base,
            ["--set", "profile=../x"],
            r"(profile=|--profile ).*is not allowed: must be a plain name",
            False,
        ),
        "--run-name escapes": (base, ["--run-name", "../../x"], r"--run-name: name '../../x' is not allowed", False),
        "--set model=eca": (base, ["--set", "model=eca"], r"model is a section of settings \(name, networks", False),
        "model: eca in the file": (
            base.replace("model:\n  name: eca  #", "model: eca\nunused:\n  name: eca  #"),
            [],
            r"unknown key unused|model is a section of settings",
            False,
        ),
        "unknown network kwarg": (
            base,
            ["--set", "model.network_kwargs.eca.bogus=1"],
            r"network_kwargs.eca does not fit eca_resnet18_adaptive: .*bogus",
            False,
        ),
        "unknown attention kwarg": (
            base,
            ["--set", "model.network_kwargs.cbam.attn_kwargs.bogus=1"],
            r"network_kwargs.cbam does not fit cbam_resnet18: .*bogus",
            False,
        ),
        "synthetic n_train 1e8": (
            base,
            ["--set", "data.synthetic.n_train=100000000"],
            r"synthetic.n_train=100000000 is more than the largest allowed, 100000",
            True,
        ),
        "synthetic unknown": (base, ["--set", "data.synthetic.bogus=3"], r"synthetic has no setting 'bogus'", False),
        "num_classes 4e6": (base, ["--set", "model.num_classes=4000000"], r"num_classes=4000000 is not allowed", True),
        "huge value quoted short": (base, ["--set", "data.source=" + "x" * 100_000], r"data.source='x+\.\.\.", False),
    }


RECIPES = recipe_cases()


@pytest.mark.parametrize("case", list(RECIPES))
def test_a_hostile_recipe_is_refused_before_anything_runs(case, tmp_path, capsys):
    content, extra, expected, capped = RECIPES[case]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_bytes(content if isinstance(content, bytes) else content.encode())
    argv = [
        "train",
        recipe,
        "--profile",
        "smoke",
        "--data-dir",
        tmp_path / "data",
        "--results-dir",
        tmp_path / "results",
    ]
    argv += ["--wandb-mode", "disabled", "--no-progress", *extra]
    line = refused(argv, expected, tmp_path, capsys, capped=8 if capped else None)
    assert len(line) < 1200


@pytest.mark.parametrize(
    "content,expected",
    [
        ("method: grid\nparameters: [lr]\n", r"is not a W&B sweep definition \(no 'parameters' mapping\)"),
        ("method: grid\nmetric: [1]\nparameters: {lr: {values: [0.1]}}\n", r"metric must name one of"),
        ("method: grid\nmetric: {name: loss, goal: minimize}\nparameters: {lr: 3}\n", r"parameter 'lr' needs"),
        ("method: grid\nmethod: random\nparameters: {}\n", r"key 'method' is given twice"),
    ],
    ids=["parameters a list", "metric a list", "parameter a number", "duplicate key"],
)
def test_a_malformed_sweep_file_is_one_line(content, expected, tmp_path, capsys):
    (tmp_path / "sweep.yaml").write_text(content)
    refused(["sweep", tmp_path / "sweep.yaml", "--results-dir", tmp_path / "r"], expected, tmp_path, capsys)


@pytest.mark.parametrize(
    "argv",
    [["--protocol", "../../x"], ["--set", "recipe=../../x"], ["--run-name", "../../../escape"], ["--run-name", "a/b"]],
    ids=["protocol", "set recipe", "run-name", "run-name with a slash"],
)
def test_names_cannot_leave_the_results_or_configs_folders(argv, tmp_path, capsys):
    results = tmp_path / "sandbox" / "results"
    refused(
        ["train", "cifar10", "--profile", "smoke", "--results-dir", results, "--data-dir", tmp_path / "data", *argv],
        r"is not allowed|must be a plain name",
        tmp_path,
        capsys,
    )


def test_a_shipped_recipe_name_cannot_reach_outside_configs(tmp_path):
    from ecalib.errors import UsageError
    from ecalib.recipes import plan

    outside = tmp_path / "escape.yaml"
    outside.write_text((Path(__file__).resolve().parents[1] / "configs" / "cifar10" / "rc2020.yaml").read_text())
    relative = os.path.relpath(
        outside.with_suffix(""), Path(__file__).resolve().parents[1] / "ecalib" / "configs" / "cifar10"
    )
    with pytest.raises(UsageError, match=r"the name .* is not allowed: it must be a plain name"):
        plan(f"cifar10/{relative}", "smoke")  # the notebook's -p protocol ../../x


# -- images ----------------------------------------------------------------------------------------


def image_cases() -> dict:
    good = jpeg_bytes()
    return {
        "truncated.jpg": (good[: len(good) // 2], r"truncated.jpg cannot be decoded"),
        "tiny.jpg": (good[:200], r"tiny.jpg (is not an image file that can be read|cannot be decoded)"),
        "bomb.png": (png_header_only(60_000, 60_000), r"bomb.png has over \d+ pixels"),
        "large.png": (png_header_only(10_000, 10_000), r"large.png is 10000x10000 pixels; images are read up to"),
        "text.jpg": (b"not an image\n", r"text.jpg is not an image file that can be read"),
        "empty.png": (b"", r"empty.png is not an image file that can be read"),
    }


IMAGES = image_cases()


@pytest.mark.parametrize("name", list(IMAGES))
def test_classify_names_the_bad_image(name, store, tmp_path, capsys):
    content, expected = IMAGES[name]
    (tmp_path / name).write_bytes(content)
    refused(["classify", tmp_path / name, "--checkpoint", store / "tiny.pth.tar"], expected, tmp_path, capsys)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """A small ImageNet-style folder (real JPEGs; no synthetic marker) and a 4-class ImageNet-stem checkpoint."""
    from ecalib.data.imagefolder import write_synthetic_imagefolder

    root = tmp_path_factory.mktemp("imagefolder")
    write_synthetic_imagefolder(root / "data", num_classes=4, train_per_class=4, val_per_class=2, max_size=80)
    (root / "data" / "SYNTHETIC.json").unlink()  # read as real data: no generator to fall back on
    save_official_checkpoint(create_model("mobilenet_v2", num_classes=4), root / "mnv2.pth.tar")
    return root


@pytest.mark.parametrize("name", ["truncated.jpg", "bomb.png", "text.jpg"])
def test_one_bad_file_in_an_evaluation_folder_is_named(name, image_folder, tmp_path, capsys):
    shutil.copytree(image_folder / "data", tmp_path / "data")
    content, expected = IMAGES[name]
    bad = tmp_path / "data" / "val" / "n00000001" / name.replace(".", "_bad.").replace("jpg", "JPEG")
    bad.write_bytes(content)
    argv = ["evaluate", "--checkpoint", image_folder / "mnv2.pth.tar", "--data", tmp_path / "data", "--device", "cpu"]
    refused([*argv, "--workers", "0"], re.escape(bad.name[: bad.name.index("_bad")]) + r"_bad\.", tmp_path, capsys)


def test_a_bad_file_in_a_training_folder_stops_before_training(image_folder, tmp_path, capsys):
    shutil.copytree(image_folder / "data", tmp_path / "data")
    bad = tmp_path / "data" / "train" / "n00000002" / "bomb.png"
    bad.write_bytes(IMAGES["bomb.png"][0])
    argv = ["train", "imagenet", "--profile", "smoke", "--data", "imagenet", "--data-dir", tmp_path / "data"]
    argv += ["--model", "resnet18", "--results-dir", tmp_path / "results", "--wandb-mode", "disabled", "--no-progress"]
    line = refused(argv, r"bomb.png has over \d+ pixels.*data.bad_images=skip", tmp_path, capsys)
    assert "Traceback" not in line


# -- COCO annotations ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def coco_folder(tmp_path_factory):
    from ecalib.detection.synthetic_coco import write_synthetic_coco

    root = tmp_path_factory.mktemp("coco") / "coco"
    write_synthetic_coco(root, train_images=3, val_images=2, size=64, max_shapes=2)
    (root / "SYNTHETIC.json").unlink()
    return root


def coco_cases() -> dict:
    """name -> (change to the training annotations (a dict, or anything for the whole file), expected)."""

    def drop(key):
        return lambda d: d.pop(key) and None

    def first_annotation(change):
        def apply(d):
            change(d["annotations"][0])
            return d

        return apply

    return {
        "a list at the top": (lambda d: [d], r"a COCO annotation file is a JSON object; .*holds a list"),
        "not JSON": (lambda d: "{images: [", r"is not valid JSON"),
        "no categories": (drop("categories"), r"'categories' must be a list, got None"),
        "empty categories": (lambda d: d.update(categories=[]), r"'categories' is empty"),
        "no images": (drop("images"), r"'images' must be a list"),
        "no bbox": (first_annotation(lambda a: a.pop("bbox")), r"annotations\[0\]: bbox must be 4 finite numbers"),
        "short bbox": (first_annotation(lambda a: a.update(bbox=[1, 2])), r"annotations\[0\]: bbox must be 4"),
        "NaN bbox": (first_annotation(lambda a: a.update(bbox=[1, 2, float("nan"), 3])), r"bbox must be 4 finite"),
        "no image_id": (first_annotation(lambda a: a.pop("image_id")), r"annotations\[0\]: image_id None is not"),
        "unknown image_id": (first_annotation(lambda a: a.update(image_id=999)), r"image_id 999 is not the id"),
        "no category_id": (first_annotation(lambda a: a.pop("category_id")), r"category_id None is not the id"),
        "bad polygon": (first_annotation(lambda a: a.update(segmentation=[[1, 2, 3]])), r"polygons must be lists"),
        "segmentation a number": (first_annotation(lambda a: a.update(segmentation=5)), r"segmentation must be"),
        "RLE overflow": (
            first_annotation(lambda a: a.update(segmentation={"size": [64, 64], "counts": [0, 10**7]})),
            r"RLE counts must be run lengths adding up to 64 x 64",
        ),
        "compressed RLE overflow": (
            first_annotation(lambda a: a.update(segmentation={"size": [64, 64], "counts": "0" + "o" * 40})),
            r"RLE counts must be run lengths",
        ),
        "category id 1e9": (
            lambda d: d["categories"].append({"id": 10**9, "name": "huge"}),
            r"categories\[3\]: id must be a whole number from 1 to 29999",
        ),
        "category id text": (lambda d: d["categories"][0].update(id="1"), r"categories\[0\]: id must be a whole"),
        "duplicate image id": (lambda d: d["images"].append(dict(d["images"][0])), r"images\[3\]: id 1 is used twice"),
        "file_name escapes": (
            lambda d: d["images"][0].update(file_name="../../../etc/passwd"),
            r"images\[0\]: file_name must be a path inside the image folder",
        ),
        "deep nesting": (
            lambda d: "[" * 100_000 + "]" * 100_000,
            r"is not valid JSON|a COCO annotation file is a JSON object",
        ),
    }


COCO = coco_cases()


@pytest.mark.parametrize("case", list(COCO))
def test_a_malformed_annotation_file_names_its_first_bad_entry(case, coco_folder, tmp_path, capsys):
    data = tmp_path / "coco"
    shutil.copytree(coco_folder, data)
    annotations = data / "annotations" / "instances_train.json"
    change, expected = COCO[case]
    content = json.loads(annotations.read_text())
    changed = change(content)
    content = content if changed is None else changed
    annotations.write_text(content if isinstance(content, str) else json.dumps(content))
    argv = [
        "train",
        "coco",
        "--profile",
        "smoke",
        "--data",
        "coco",
        "--data-dir",
        data,
        "--results-dir",
        tmp_path / "r",
    ]
    argv += ["--wandb-mode", "disabled", "--no-progress"]
    line = refused(argv, expected, tmp_path, capsys, capped=8 if case == "category id 1e9" else None)
    assert "instances_train.json" in line


# -- CIFAR batches ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cifar_set(tmp_path_factory):
    """A CIFAR-10 look-alike of the smoke profile's spec, written where --data-dir points."""
    from ecalib.data.cifar import write_synthetic_cifar10

    root = tmp_path_factory.mktemp("cifar") / "set"
    write_synthetic_cifar10(root, n_train=320, n_test=160)
    return root


def _batch_change(change):
    def apply(folder):
        import pickle

        path = folder / "cifar-10-batches-py" / "data_batch_1"
        entry = pickle.loads(path.read_bytes(), encoding="latin1")
        change(entry)
        path.write_bytes(pickle.dumps(entry, protocol=2))

    return apply


CIFAR = {
    "5 labels for 64 images": (
        _batch_change(lambda e: e.update(labels=e["labels"][:5])),
        r"data_batch_1: 5 labels for 64 images",
    ),
    "no labels": (_batch_change(lambda e: e.pop("labels")), r"data_batch_1 is not a CIFAR-10 batch file: no labels"),
    "short data": (
        _batch_change(lambda e: e.update(data=e["data"].reshape(-1)[:-7])),
        r"data_batch_1: data must be a uint8 array of N images x 3072 values",
    ),
    "label 99": (
        _batch_change(lambda e: e["labels"].__setitem__(3, 99)),
        r"data_batch_1: label 99 of image 3 is outside 0..9",
    ),
    "float data": (
        _batch_change(lambda e: e.update(data=e["data"].astype(np.float64))),
        r"data must be a uint8 array .* got a float64 array",
    ),
    "labels text": (_batch_change(lambda e: e.update(labels="cat")), r"labels must be a list of whole numbers"),
    "no label names": (
        lambda folder: (folder / "cifar-10-batches-py" / "batches.meta").write_bytes(__import__("pickle").dumps({})),
        r"batches.meta: label_names must list the 10 class names",
    ),
    "a text file": (
        lambda folder: (folder / "cifar-10-batches-py" / "test_batch").write_text("hello"),
        r"test_batch is not a CIFAR-10 batch file \(unreadable pickle",
    ),
    "a pickle that runs code": (
        lambda folder: (folder / "cifar-10-batches-py" / "data_batch_2").write_bytes(
            b"cos\nsystem\n(S'echo pwned'\ntR."
        ),
        r"data_batch_2 is not a CIFAR-10 batch file: it names the global os.system",
    ),
}


@pytest.mark.parametrize("case", list(CIFAR))
def test_a_malformed_cifar_batch_is_refused_before_training(case, cifar_set, tmp_path, capsys):
    data = tmp_path / "set"
    shutil.copytree(cifar_set, data)
    change, expected = CIFAR[case]
    change(data)
    refused(smoke(data, tmp_path / "results"), expected, tmp_path, capsys)


# -- output paths ----------------------------------------------------------------------------------


@pytest.fixture
def read_only(tmp_path) -> Path:
    """A folder this process cannot write: a 0555 folder, or for root (who ignores modes) a place in sysfs."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    try:
        probe = open("/sys/ecalib-write-probe", "w")  # noqa: SIM115
    except OSError:
        yield Path("/sys")
    else:
        probe.close()
        os.unlink("/sys/ecalib-write-probe")
        pytest.skip("no read-only place to write to")


def test_export_never_overwrites_its_input(store, tmp_path, capsys):
    path = tmp_path / "good.pth.tar"
    shutil.copy(store / "tiny.pth.tar", path)
    refused(
        ["export", path, "--format", "onnx", "-o", path],
        r"-o/--output .*good.pth.tar would overwrite the input",
        tmp_path,
        capsys,
    )
    refused(["export", path, "--format", "timm", "-o", path], r"would overwrite the input|is a file", tmp_path, capsys)


def test_export_to_a_non_empty_folder_or_nowhere_is_refused(store, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "hub"
    folder.mkdir()
    (folder / "config.json").write_text('{"architecture": "mine"}')
    ckpt = store / "tiny.pth.tar"
    refused(["export", ckpt, "--format", "timm", "-o", folder], r"hub is a folder that is not empty", tmp_path, capsys)
    monkeypatch.chdir(tmp_path)
    refused(["export", ckpt, "--format", "onnx", "-o", ""], r"-o/--output is empty", tmp_path, capsys)
    refused(["export", ckpt, "--format", "timm", "-o", ""], r"-o/--output is empty", tmp_path, capsys)


@pytest.mark.parametrize("command", ["onnx", "timm", "convert-backbone"])
def test_a_read_only_target_is_one_line(command, store, read_only, tmp_path, capsys):
    ckpt = store / "tiny.pth.tar"
    argv = {
        "onnx": ["export", ckpt, "--format", "onnx", "-o", read_only / "m.onnx"],
        "timm": ["export", ckpt, "--format", "timm", "-o", read_only / "hub"],
        "convert-backbone": ["coco", "convert-backbone", ckpt, "--to", "mmdet", "-o", read_only / "b.pth"],
    }[command]
    if command == "convert-backbone":  # a CIFAR network is no detection backbone: use an ImageNet ResNet
        save_official_checkpoint(create_model("resnet18"), tmp_path / "r18.pth.tar")
        argv[2] = tmp_path / "r18.pth.tar"
    refused(argv, r"could not write .*: (Permission denied|Operation not permitted|Read-only)", tmp_path, capsys)


FULL_DISK = (
    "import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]) << 10,) * 2); "
    "import signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    "from ecalib.cli import main; sys.exit(main(sys.argv[2:]))"
)


@pytest.mark.parametrize("fmt", ["onnx", "timm"])
def test_a_full_disk_during_export_leaves_nothing(fmt, store, tmp_path):
    """RLIMIT_FSIZE makes writes past 64 KiB fail with EFBIG, as a full disk does (the model needs ~1 MiB)."""
    out = tmp_path / "out"
    out.mkdir()
    target = out / ("m.onnx" if fmt == "onnx" else "hub")
    argv = ["export", store / "tiny.pth.tar", "--format", fmt, "-o", target]
    rc, _, err = run_capped(argv, memory_gb=64, code=FULL_DISK, cwd=tmp_path)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err[-3000:]
    assert re.search(r"could not write .*(File too large|No space)", lines[0]), lines[0]
    assert list(out.iterdir()) == []  # no partial file, no empty folder, no temporary


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--opset", "0"], r"--opset: must be an ONNX opset from 9 to 20, got 0"),
        (["--opset", "99999"], r"--opset: must be an ONNX opset from 9 to 20, got 99999"),
        (["--opset", "x"], r"--opset: must be an ONNX opset from 9 to 20, got 'x'"),
    ],
)
def test_opset_out_of_range(argv, expected, store, tmp_path, capsys):
    argv = ["export", store / "tiny.pth.tar", "--format", "onnx", "-o", tmp_path / "m.onnx", *argv]
    refused(argv, expected, tmp_path, capsys)


def test_bench_refuses_unknown_mechanisms(tmp_path, capsys):
    argv = [
        "bench",
        "--backbones",
        "resnet18_cifar",
        "--mechanisms",
        "bogus",
        "--device",
        "cpu",
        "--out",
        tmp_path / "b",
    ]
    refused(
        argv,
        r"mechanisms.* \(--mechanisms\)='bogus' is not allowed: must be 'none', 'se', 'cbam' or 'eca'",
        tmp_path,
        capsys,
    )


def test_results_dir_that_is_a_file_is_refused_first(tmp_path, capsys):
    (tmp_path / "passwd").write_text("root:x:0:0\n")
    refused(smoke(tmp_path / "data", tmp_path / "passwd"), r"passwd is a file, not a folder", tmp_path, capsys)


# -- a Hub folder's config.json --------------------------------------------------------------------

HUB = (
    "import resource, sys; limit = int(sys.argv[1]) << 30; resource.setrlimit(resource.RLIMIT_AS, (limit, limit)); "
    "import ecalib, timm\n"
    "from ecalib.errors import UserError\n"
    "try:\n    timm.create_model('local-dir:' + sys.argv[2], pretrained=True)\n"
    "except UserError as err:\n    print(err, file=sys.stderr); sys.exit(2)"
)


@pytest.mark.parametrize("where", ["top level", "model_args"])
def test_a_hub_config_with_millions_of_classes_is_refused(where, tmp_path):
    from ecalib.export import export_timm

    folder = tmp_path / "hub"
    export_timm(create_model(TINY), folder)
    config = json.loads((folder / "config.json").read_text())
    (config if where == "top level" else config["model_args"])["num_classes"] = 4_000_000
    (folder / "config.json").write_text(json.dumps(config))
    before = snapshot(tmp_path)
    rc, _, err = run_capped([folder], memory_gb=6, code=HUB, cwd=tmp_path)
    assert rc == 2 and "Traceback" not in err, err[-3000:]
    assert re.search(r"num_classes=4000000 \(from .*hub/config.json\) is not allowed", err), err
    assert snapshot(tmp_path) == before


# -- result folders --------------------------------------------------------------------------------


def write_run(folder: Path, final: object) -> None:
    """A run folder as the trainer leaves it (a synthetic CPU smoke run), with ``final`` as its final.json."""
    folder.mkdir(parents=True)
    params = {
        "task": "cifar10",
        "attention": "eca",
        "protocol": "rc2020",
        "profile": "smoke",
        "config": {"seed": 0, "model": "eca_resnet18_adaptive", "epochs": 2, "batch_size": 64},
        "data_source": {"kind": "synthetic", "generator": {"n_train": 320}, "n": 320},
    }
    (folder / "params.json").write_text(json.dumps(params))
    (folder / "env.json").write_text(json.dumps({"device": "cpu", "git_commit": "abc"}))
    (folder / "history.csv").write_text("epoch,test_top1,test_loss\n1,10.0,2.3\n2,11.0,2.2\n")
    (folder / "final.json").write_text(final if isinstance(final, str) else json.dumps(final))


GOOD_FINAL = {"epoch": 2, "test_top1": 11.0, "test_loss": 2.2, "params": 100, "mean_images_per_s": 50.0}
RESULT_FOLDERS = {
    "final.json claims a GPU and real data": (
        {**GOOD_FINAL, "data": "cifar10", "device": "NVIDIA A100", "test_top1": 95},
        r"final.json sets \['data', 'device'\]",
    ),
    "metric missing": ({k: v for k, v in GOOD_FINAL.items() if k != "test_top1"}, r"no finite test_top1"),
    "metric NaN": ('{"epoch": 2, "test_top1": NaN}', r"no finite test_top1 \(it has nan\)"),
    "metric text": ({**GOOD_FINAL, "test_top1": "95"}, r"no finite test_top1"),
    "final.json a list": ("[1, 2]", r"final.json holds a list, not a JSON object"),
    "final.json not JSON": ("{test_top1: 3", r"final.json is not valid JSON"),
    "final.json 100k deep": ("[" * 100_000 + "]" * 100_000, r"final.json (is not valid JSON|holds a list)"),
    "short of its epochs": ({**GOOD_FINAL, "epoch": 1}, r"final.json is at epoch 1 of 2"),
    "a metric that is a dict": ({**GOOD_FINAL, "test_top5": {"a": 1}}, r"not finite numbers: \['test_top5'\]"),
}


@pytest.mark.parametrize("case", list(RESULT_FOLDERS))
def test_a_result_folder_cannot_pass_for_what_it_is_not(case, tmp_path):
    from ecalib.reports.runs import collect_runs, summary_table

    final, expected = RESULT_FOLDERS[case]
    root = tmp_path / "runs" / "cifar10"
    write_run(root / "good", GOOD_FINAL)
    write_run(root / "hostile", final)
    before = snapshot(tmp_path)
    runs, _ = collect_runs(root, task="cifar10")
    assert list(runs["run"]) == ["good"]  # the hostile folder is not counted
    assert set(runs["device"]) == {"cpu"} and set(runs["data"]) == {"synthetic (320 train images)"}
    ((folder, reason),) = runs.attrs["rejected"]
    assert folder.endswith("hostile") and re.search(expected, reason), reason
    assert summary_table(runs)["runs"].tolist() == [1]
    assert snapshot(tmp_path) == before


# -- the positive side of the policies ---------------------------------------------------------------


def test_skipping_bad_images_counts_and_records_them(image_folder, tmp_path, capsys):
    shutil.copytree(image_folder / "data", tmp_path / "data")
    (tmp_path / "data" / "val" / "n00000001" / "broken.JPEG").write_bytes(IMAGES["truncated.jpg"][0])
    argv = ["evaluate", "--checkpoint", image_folder / "mnv2.pth.tar", "--data", tmp_path / "data", "--device", "cpu"]
    assert main([str(a) for a in argv] + ["--workers", "0", "--bad-images", "skip", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 8 and result["skipped_images"] == 1 and result["bad_images"] == "skip"
    (skipped,) = result["skipped"]
    assert skipped["file"].endswith("broken.JPEG") and "cannot be decoded" in skipped["reason"]


def test_a_notebooks_results_dir_is_checked_like_the_clis(tmp_path, monkeypatch):
    from ecalib.errors import UsageError
    from ecalib.params import check_parameters
    from ecalib.recipes import resolve
    from ecalib.tasks import training

    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0\n")
    cell = '# Parameters (papermill -p NAME VALUE)\nresults_dir: str = "runs"\n'
    namespace = {"results_dir": str(passwd), "In": ["", cell, "check_parameters(globals(), folders=['results_dir'])"]}
    with pytest.raises(UsageError, match=r"parameter results_dir .*passwd is a file, not a folder"):
        check_parameters(namespace, folders=["results_dir"])
    monkeypatch.setattr(training, "task_of", lambda run: pytest.fail("train() got past its results_dir check"))
    with pytest.raises(UsageError, match=r"results_dir .*passwd is a file, not a folder"):
        training.train(resolve("cifar10", "smoke"), passwd)


def test_outputs_keep_the_users_umask(tmp_path):
    from ecalib.checkpoint import atomic_torch_save
    from ecalib.engine.results import RunDir

    old = os.umask(0o027)
    try:
        RunDir(tmp_path).write_json("final.json", {})
        atomic_torch_save({"a": torch.ones(1)}, tmp_path / "checkpoint.pth.tar")
        modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
        assert modes == {"final.json": 0o640, "checkpoint.pth.tar": 0o640}  # not mkstemp's 0600

        from ecalib.atomic import atomic_folder

        with atomic_folder(tmp_path / "hub") as folder:
            (folder / "config.json").write_text("{}")
        assert (tmp_path / "hub").stat().st_mode & 0o777 == 0o750  # not mkdtemp's 0700
    finally:
        os.umask(old)
