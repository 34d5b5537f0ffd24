"""What the user gives is checked before anything runs: one line on stderr, exit code 2, nothing written."""

import json
import re
import shutil

import pytest
import torch
from helpers import run_capped

from ecalib.cli import main
from ecalib.recipes import resolve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def smoke(data_dir, results, *args):
    return ["train", "cifar10", "--profile", "smoke", "--data-dir", str(data_dir), "--results-dir", str(results)] + [
        *args,
        "--wandb-mode",
        "disabled",
        "--no-progress",
    ]


BAD = {
    "data-dir is a file": (lambda d, r, f: smoke(f, r), "argument --data-dir/--data_dir: .* is a file, not a folder"),
    "results-dir is a file": (lambda d, r, f: smoke(d, f), "argument --results-dir: .* is a file, not a folder"),
    "results-dir under a file": (lambda d, r, f: smoke(d, f / "sub"), "argument --results-dir: .* is a file"),
    "imagenet data-dir is a file": (
        lambda d, r, f: ["train", "imagenet", "--profile", "smoke", "--data-dir", str(f), "--results-dir", str(r)],
        "argument --data-dir/--data_dir: .* is a file, not a folder",
    ),
    "topk -3": (
        lambda d, r, f: ["classify", "x.jpg", "--checkpoint", "c.pth", "--topk", "-3"],
        "--topk: must be a pos",
    ),
    "topk 0": (lambda d, r, f: ["classify", "x.jpg", "--checkpoint", "c.pth", "--topk", "0"], "--topk: must be a pos"),
    "bench steps 0": (lambda d, r, f: ["bench", "--steps", "0", "--out", str(r)], "--steps: must be a positive"),
    "sweep trials -1": (
        lambda d, r, f: ["sweep", "configs/sweep.yaml", "--trials", "-1", "--results-dir", str(r)],
        "--trials: must be a positive integer",
    ),
    "workers -1": (
        lambda d, r, f: ["train", "imagenet", "--profile", "smoke", "--workers", "-1", "--results-dir", str(r)],
        r"data.workers \(--workers\)=-1 is not allowed: must be greater than or equal to 0",
    ),
    "batch larger than the data": (
        lambda d, r, f: smoke(d, r, "--batch-size", "100000"),
        r"--batch-size 100000 is larger than the training set \(320 images\)",
    ),
    "seed -1": (
        lambda d, r, f: smoke(d, r, "--seed", "-1"),
        r"seed \(--seed\)=-1 is not allowed: must be greater than or equal to 0",
    ),
    "seed 2**64": (
        lambda d, r, f: smoke(d, r, "--seed", str(2**64)),
        r"seed \(--seed\)=18446744073709551616 is not allowed: must be less than or equal to 9223372036854775807",
    ),
    "seeds -1": (lambda d, r, f: smoke(d, r, "--seeds", "0", "-1"), r"seed \(--seed\)=-1 is not allowed"),
    "epochs huge": (
        lambda d, r, f: smoke(d, r, "--epochs", "9" * 20),
        r"schedule.epochs \(--epochs\)=9+ is not allowed: must be less than or equal to 100000",
    ),
    "lr 1e308": (
        lambda d, r, f: smoke(d, r, "--lr", "1e308"),
        r"optimizer.lr \(--lr\)=1e\+308 is not allowed: must be less than or equal to 10",
    ),
    "lr inf": (
        lambda d, r, f: smoke(d, r, "--lr", "inf"),
        r"optimizer.lr \(--lr\)=(inf|nan) is not allowed: must be a finite number",
    ),
    "lr nan": (
        lambda d, r, f: smoke(d, r, "--lr", "nan"),
        r"optimizer.lr \(--lr\)=(inf|nan) is not allowed: must be a finite number",
    ),
    "imagenet lr inf": (
        lambda d, r, f: ["train", "imagenet", "--profile", "smoke", "--lr", "inf", "--results-dir", str(r)],
        r"optimizer.lr \(--lr\)=(inf|nan) is not allowed: must be a finite number",
    ),
}


# Cases that would allocate or train in proportion to a huge value if a check regressed: they run in
# a child process capped at 8 GiB of address space and 5 minutes (helpers.run_capped).
RISKY = {"batch larger than the data", "epochs huge", "seed 2**64", "lr 1e308", "bench steps 0", "sweep trials -1"}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, data_dir, capsys):
    import re

    argv, expected = BAD[case]
    results, a_file = tmp_path / "results", tmp_path / "a-file"
    a_file.write_text("not a folder")
    if case in RISKY:
        rc, out, err = run_capped(argv(data_dir, results, a_file))
    else:
        rc = main(argv(data_dir, results, a_file))
        out, err = capsys.readouterr()
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.search(expected, err), err
    assert not out.strip()  # no run summary
    assert not results.exists() or not any(results.rglob("*")), sorted(results.rglob("*"))


# A bad value given to the engine directly, and the same value given to a recipe's setting the engine reads it
# from: refused by both, with the same reason (one rule, written once, applied by one validator).
BAD_VALUES = [
    ("compile", "yes", "precision.compile", "must be a valid boolean"),
    ("flip", 1, "data.flip", "must be a valid boolean"),
    ("epochs", True, "schedule.epochs", "must be a valid integer"),
    ("epochs", 100_001, "schedule.epochs", "must be less than or equal to 100000"),
    ("momentum", float("nan"), "optimizer.momentum", "must be a finite number"),
    ("weight_decay", -1e-4, "optimizer.weight_decay", "must be greater than or equal to 0"),
    ("milestones", ["a"], "schedule.milestones", "must be a valid integer"),
    ("seed", 1.5, "seed", "must be a valid integer"),
    ("seed", 2**63, "seed", "must be less than or equal to 9223372036854775807"),
    ("lr", 11.0, "optimizer.lr", "must be less than or equal to 10"),
    ("std", [0.2, 0.0, 0.2], "data.std", "must be greater than 0"),
    ("warmup_ratio", 1.5, "schedule.warmup_ratio", "must be less than or equal to 1"),
    ("num_classes", 30_001, "model.num_classes", "must be less than or equal to 30000"),
    ("optimizer", "lamb", "optimizer.name", "must be 'sgd' or 'adam'"),
    ("amp", "fp8", "precision.amp", "must be 'none', 'bf16' or 'fp16'"),
]


@pytest.mark.parametrize("field,value,setting,reason", BAD_VALUES, ids=[f"{c[0]}={c[1]!r}" for c in BAD_VALUES])
def test_the_engine_and_the_recipes_refuse_a_bad_value_for_the_same_reason(field, value, setting, reason):
    from ecalib.engine import TrainConfig
    from ecalib.errors import UsageError

    base = dict(model="resnet18", num_classes=10, epochs=1, batch_size=8, lr=0.1)
    with pytest.raises(UsageError, match=re.escape(reason)) as direct:
        TrainConfig(**{**base, field: value})
    assert str(direct.value).startswith(f"TrainConfig: {field}")
    with pytest.raises(UsageError, match=re.escape(reason)) as recipe:
        resolve("cifar10/rc2020", sets=[(setting, value)])
    assert f"{setting}" in str(recipe.value)


def test_an_lr_scaled_past_its_bound_is_refused_where_it_sits():
    from ecalib.errors import UsageError

    # ImageNet's recipe scales base_lr 0.1 at batch 256: a batch of 32768 would train at lr 12.8
    too_high = r"optimizer\.lr \(--lr\)=12\.8 is not allowed: must be less than or equal to 10"
    with pytest.raises(UsageError, match=too_high):
        resolve("imagenet", data_dir="/data/imagenet", batch_size=32768)
    assert resolve("imagenet", data_dir="/data/imagenet", batch_size=16384).config.optimizer.lr == 6.4


# -- resuming a damaged checkpoint ------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory, data_dir):
    """The results folder of a finished one-epoch smoke run (copied by each test)."""
    results = tmp_path_factory.mktemp("one-epoch")
    assert main(smoke(data_dir, results, "--epochs", "1")) == 0
    return results


def damage(folder, how):
    ckpt = folder / "checkpoints" / "checkpoint.pth.tar"
    if how == "broken symlink":
        ckpt.unlink()
        ckpt.symlink_to(folder / "checkpoints" / "moved-away.pth.tar")
        return
    state = torch.load(ckpt, weights_only=True)
    state.pop("tensor_sha256", None)  # a hand-edited file: its fields are checked, not its checksum
    if how == "negative epoch":
        state["epoch"] = -1
    elif how == "history not a list":
        state["history"] = "epoch 1"
    elif how == "NaN weights":
        key = next(k for k, v in state["state_dict"].items() if v.is_floating_point())
        state["state_dict"][key] = torch.full_like(state["state_dict"][key], float("nan"))
    elif how == "epoch beyond --epochs":
        state["epoch"] = 5
        state["history"] = [dict(state["history"][0], epoch=e) for e in range(1, 6)]  # a consistent record
    torch.save(state, ckpt)


@pytest.mark.parametrize(
    "how,expected",
    [
        ("negative epoch", r"damaged .* its epoch is -1 \(a whole number >= 0"),
        ("history not a list", r"damaged .* its history is a str, not a list"),
        ("NaN weights", r"damaged .* weights are not finite"),
        ("broken symlink", r"checkpoint.pth.tar is a symbolic link to .*moved-away.pth.tar, which does not exist"),
        ("epoch beyond --epochs", r"after epoch 5, beyond the 1 epochs asked for \(--epochs 1\)"),
    ],
)
def test_resuming_a_damaged_checkpoint_is_refused(how, expected, one_epoch, tmp_path, data_dir, capsys):
    import re

    results = tmp_path / "results"
    shutil.copytree(one_epoch, results, symlinks=True)
    (run,) = (results / "cifar10").iterdir()
    (run / "final.json").unlink()  # an interrupted run, to be resumed
    damage(run, how)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()
    rc = main(smoke(data_dir, results, "--epochs", "1"))
    out, err = capsys.readouterr()
    assert rc == 2 and len(err.strip().splitlines()) == 1 and re.search(expected, err), err
    assert not (run / "final.json").exists() and not out.strip()
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # nothing trained or rewritten
    assert json.loads((run / "params.json").read_text())["experiment"]["schedule"]["epochs"] == 1


def test_generated_runs_default_to_the_ignored_runs_folder():
    import subprocess
    from pathlib import Path

    from ecalib.cli import build_parser

    parser = build_parser()
    for argv in (
        ["train", "cifar10"],
        ["train", "imagenet"],
        ["coco", "train"],
        ["coco", "mmdet-train"],
        ["sweep", "configs/sweep.yaml"],
    ):
        assert parser.parse_args(argv).results_dir == "runs", argv
    assert parser.parse_args(["bench"]).out.startswith("runs/")
    root = Path(__file__).resolve().parents[1]
    ignored = subprocess.run(["git", "check-ignore", "-q", "runs/cifar10/x/final.json"], cwd=root, capture_output=True)
    assert ignored.returncode == 0  # ignored
    kept = subprocess.run(["git", "check-ignore", "-q", "results/cifar10/x/final.json"], cwd=root)
    assert kept.returncode == 1  # results/ holds what was chosen to be committed
