"""ImageNet task on a generated ImageFolder of real JPEGs: recipes, training, resume, torchrun, evaluation."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image

import ecalib
from ecalib import CheckpointError, load_official_checkpoint, save_official_checkpoint
from ecalib.data import write_synthetic_imagefolder
from ecalib.recipes import resolve
from ecalib.tasks import imagenet, train

ROOT = Path(__file__).resolve().parents[1]
FINAL_KEYS = ("test_top1", "test_top5", "test_loss", "train_loss", "train_top1")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet")
    write_synthetic_imagefolder(root, num_classes=4, train_per_class=16, val_per_class=8, seed=1)
    return root


def smoke_run(data_dir, **overrides):
    return resolve(
        "imagenet", "smoke", model="eca_resnet18", data_dir=str(data_dir), wandb_mode="disabled", **overrides
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir):
    return train(smoke_run(data_dir, epochs=3), tmp_path_factory.mktemp("ref"), progress=False, verbose=False)


def test_generated_imagefolder_is_real_jpeg(data_dir):
    files = sorted((data_dir / "train" / "n00000002").iterdir())
    assert len(files) == 16 and all(f.suffix == ".JPEG" for f in files)
    with Image.open(files[0]) as img:
        assert img.format == "JPEG" and img.mode == "RGB" and 72 <= min(img.size) <= 128
    assert json.loads((data_dir / "SYNTHETIC.json").read_text())["num_classes"] == 4
    assert sorted(p.name for p in (data_dir / "val").iterdir()) == [f"n{c:08d}" for c in range(4)]


def test_recipes_and_linear_scaling():
    """The recipe files against the official main.py / light_main.py values, and the linear scaling rule."""
    r50 = resolve("imagenet", model="eca_resnet50", data_dir="/data/imagenet")
    cfg = r50.train_config()
    assert (cfg.lr, cfg.batch_size, cfg.epochs, cfg.milestones, cfg.weight_decay) == (0.1, 256, 100, [30, 60, 90], 1e-4)
    d = r50.config.data
    assert (d.train_crop, d.val_resize, d.val_crop) == (224, 256, 224)
    big = resolve("imagenet", model="eca_resnet50", data_dir="/data/imagenet", batch_size=1024)
    assert big.config.optimizer.lr == pytest.approx(0.4) and "linear scaling: 0.1 x 1024/256" in big.lr_rule
    given = resolve("imagenet", model="eca_resnet50", data_dir="/data/imagenet", batch_size=1024, lr=0.1)
    assert given.config.optimizer.lr == 0.1 and "given explicitly" in given.lr_rule
    mb = resolve("imagenet", model="eca_mobilenet_v2", data_dir="/data/imagenet").train_config()
    assert (mb.epochs, mb.batch_size, mb.lr, mb.schedule, mb.gamma, mb.weight_decay) == (
        400,
        96,
        0.045,
        "exponential",
        0.98,
        4e-5,
    )
    k = resolve("imagenet", model="eca_resnet50", data_dir="/d", k_size="3377")
    assert k.train_config().model_kwargs == {"k_size": "3377"} and "-k3377-" in k.name
    with pytest.raises(ValueError, match="no ImageNet recipe"):
        resolve("imagenet", model="eca_resnet18_cifar", data_dir="/d")
    with pytest.raises(ValueError, match=r"data.dir \(--data-dir\) is required"):
        resolve("imagenet", model="eca_resnet50")


@pytest.mark.slow
def test_cpu_training_checkpoint_and_exact_resume(tmp_path, data_dir, reference):
    history = reference.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    params = json.loads((reference.run_dir / "params.json").read_text())
    assert params["data_source"]["kind"] == "synthetic" and "linear scaling" in params["lr_rule"]
    model = load_official_checkpoint(reference.run_dir / "checkpoints" / "checkpoint.pth.tar")
    assert model.model_info.name == "eca_resnet18" and model.k_per_stage == (3, 5, 7, 7)
    assert (reference.run_dir / "checkpoints" / "model_best.pth.tar").exists()
    first = train(smoke_run(data_dir, epochs=2), tmp_path, progress=False, verbose=False)
    # epochs is part of the run's identity: extending a run is an explicit start from the earlier one
    resumed = train(smoke_run(data_dir, epochs=3), tmp_path, resume_from=first.run_dir, progress=False, verbose=False)
    assert resumed.run_dir != first.run_dir
    assert {k: resumed.final[k] for k in FINAL_KEYS} == {k: reference.final[k] for k in FINAL_KEYS}


@pytest.mark.slow
def test_resume_from_a_checkpoint_written_by_the_official_code(tmp_path, data_dir, reference):
    """Strip ecalib's extras: what the official main.py's save_checkpoint writes, resumed by ecalib."""
    ours = train(smoke_run(data_dir, epochs=2), tmp_path / "a", progress=False, verbose=False)
    state = torch.load(ours.run_dir / "checkpoints" / "checkpoint.pth.tar", weights_only=True)
    official = {k: state[k] for k in ("epoch", "arch", "state_dict", "best_prec1", "optimizer")}
    torch.save(official, tmp_path / "official_checkpoint.pth.tar")
    run = smoke_run(data_dir, epochs=3)
    result = train(
        run,
        run_dir=tmp_path / "b" / "from-official",
        resume_from=tmp_path / "official_checkpoint.pth.tar",
        progress=False,
        verbose=False,
    )
    assert result.final["epoch"] == 3 and len(result.history) == 1  # history before the file is unknown
    assert result.final["test_top1"] == reference.final["test_top1"]
    assert result.final["test_loss"] == reference.final["test_loss"]
    log = (result.run_dir / "resume_log.jsonl").read_text()
    assert "official main.py" in log


@pytest.mark.slow
def test_torchrun_two_processes_match_one(tmp_path, data_dir, reference):
    cmd = [
        "-m",
        "ecalib",
        "train",
        "imagenet",
        "--model",
        "eca_resnet18",
        "--profile",
        "smoke",
        "--epochs",
        "3",
        "--data-dir",
        str(data_dir),
        "--results-dir",
        str(tmp_path),
        "--wandb-mode",
        "offline",
        "--no-progress",
    ]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    out = subprocess.run(launcher + cmd, capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    summaries = [line for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1  # one process reports
    assert sum("epoch 3/3" in line for line in (out.stdout + out.stderr).splitlines()) == 1
    run_dir = tmp_path / "imagenet" / smoke_run(data_dir, epochs=3).name
    assert json.loads((run_dir / "params.json").read_text())["world_size"] == 2
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1  # only rank 0 logged
    # Same initial weights, global batch, sample order and augmentation; gradients are averaged over
    # the two processes. What differs is BatchNorm: each process normalises its half-batch (as the
    # official DataParallel runs did per GPU), so the runs drift apart slowly on 64 images.
    first = float(pd.read_csv(run_dir / "history.csv")["train_loss"].iloc[0])
    assert first == pytest.approx(reference.history[0]["train_loss"], rel=0.05)
    final = json.loads(summaries[0])
    assert final["train_loss"] == pytest.approx(reference.final["train_loss"], rel=0.35)
    assert final["train_loss"] < first and final["test_top1"] > 25.0  # learnt: chance is 25 %


def test_evaluator_on_an_official_checkpoint(tmp_path, data_dir, capsys):
    model = ecalib.create_model("eca_resnet50", num_classes=4)
    path = save_official_checkpoint(model, tmp_path / "eca_resnet50_k3557.pth.tar", epoch=100, best_prec1=77.42)
    sizes = {"val_resize": 73, "val_crop": 64}
    result = imagenet.evaluate_checkpoint(path, data_dir / "val", workers=0, image_sizes=sizes)
    assert "evaluate" in capsys.readouterr().err  # a progress bar over the batches
    assert result["model"] == "eca_resnet50" and result["k_per_stage"] == (3, 5, 5, 7)
    assert result["images"] == 32 and 0 <= result["top1"] <= result["top5"] == 100.0  # 4 classes: top-5 is all
    assert result["published"]["official README"]["top1"] == "77.42"
    assert result["stored"]["epoch"] == 100
    text = imagenet.format_evaluation(result)
    assert "official README" in text and "77.42" in text and "synthetic data" in text
    # the folder holding val/ works too, and the same numbers come out
    again = imagenet.evaluate_checkpoint(path, data_dir, workers=0, image_sizes=sizes)
    assert again["top1"] == result["top1"]


def test_evaluator_errors(tmp_path, data_dir):
    model = ecalib.create_model("eca_resnet18", num_classes=4)
    path = save_official_checkpoint(model, tmp_path / "m.pth.tar")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        imagenet.evaluate_checkpoint(tmp_path / "missing.pth.tar", data_dir, workers=0)
    with pytest.raises(FileNotFoundError, match="data folder not found"):
        imagenet.evaluate_checkpoint(path, tmp_path / "no-data", workers=0)
    (tmp_path / "only-train" / "train" / "n0").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no val/ folder"):
        imagenet.evaluate_checkpoint(path, tmp_path / "only-train", workers=0)
    cifar = save_official_checkpoint(ecalib.create_model("eca_resnet18_cifar"), tmp_path / "cifar.pth.tar")
    with pytest.raises(CheckpointError, match="CIFAR network"):
        imagenet.evaluate_checkpoint(cifar, data_dir, workers=0)
    torch.save(torch.zeros(3), tmp_path / "tensor.pth.tar")
    with pytest.raises(CheckpointError, match="not a state dict"):
        imagenet.evaluate_checkpoint(tmp_path / "tensor.pth.tar", data_dir, workers=0)
    two = save_official_checkpoint(ecalib.create_model("eca_resnet18", num_classes=2), tmp_path / "two.pth.tar")
    with pytest.raises(ValueError, match="4 classes but the checkpoint's model has 2 outputs"):
        imagenet.evaluate_checkpoint(two, data_dir, workers=0)


RELEASED = [name for name in ecalib.list_models() if ecalib.model_info(name).checkpoint_file]
SMALL = {"val_resize": 40, "val_crop": 32}


@pytest.fixture(scope="module")
def wnid_dir(tmp_path_factory):
    """Three classes named by real ImageNet wnids (ImageNet indices 0, 333, 666)."""
    root = tmp_path_factory.mktemp("wnids")
    return write_synthetic_imagefolder(
        root, num_classes=3, train_per_class=1, val_per_class=2, min_size=40, max_size=48, wnids=True
    )


def test_released_models_are_listed():
    assert {"eca_resnet18", "eca_resnet50", "eca_resnet152", "eca_mobilenet_v2"} <= set(RELEASED)


@pytest.mark.parametrize("name", RELEASED)
def test_evaluator_on_every_released_model(tmp_path, wnid_dir, name):
    info = ecalib.model_info(name)
    path = save_official_checkpoint(ecalib.create_model(name), tmp_path / info.checkpoint_file)
    result = imagenet.evaluate_checkpoint(path, wnid_dir, workers=0, batch_size=6, image_sizes=SMALL)
    assert result["model"] == name and result["images"] == 6 and 0 <= result["top1"] <= result["top5"] <= 100
    assert result["label_map"]["rule"] == "imagenet_wnid"


def test_wnid_folders_map_to_their_imagenet_indices(tmp_path, wnid_dir):
    from timm.data import ImageNetInfo

    classes = sorted(p.name for p in (wnid_dir / "val").iterdir())
    model = ecalib.create_model("eca_resnet18")
    with torch.no_grad():  # always predicts the ImageNet index of the second folder class
        model.fc.weight.zero_()
        model.fc.bias.zero_()
        model.fc.bias[ImageNetInfo().label_names().index(classes[1])] = 1.0
    path = save_official_checkpoint(model, tmp_path / "eca_resnet18_k3577.pth.tar")
    result = imagenet.evaluate_checkpoint(path, wnid_dir / "val", workers=0, image_sizes=SMALL)
    expected = [ImageNetInfo().label_names().index(c) for c in classes]
    assert result["label_map"]["indices"] == expected == [0, 333, 666]
    assert result["top1"] == pytest.approx(100 / 3)  # exactly the second class's images are right
    assert "3 ImageNet wnids -> their ImageNet-1k indices (n01440764 -> 0" in imagenet.format_evaluation(result)


def test_evaluator_refuses_folders_it_cannot_map(tmp_path):
    two = write_synthetic_imagefolder(tmp_path / "two", num_classes=2, train_per_class=1, val_per_class=1)
    path = save_official_checkpoint(ecalib.create_model("eca_resnet18"), tmp_path / "m.pth.tar")
    with pytest.raises(
        ValueError,
        match=r"2 classes but the checkpoint's model has 1000 outputs.*not ImageNet wnids: "
        r"\['n00000000', 'n00000001'\]. Allowed: class folders named by ImageNet wnids",
    ):
        imagenet.evaluate_checkpoint(path, two, workers=0, image_sizes=SMALL)
    equal = save_official_checkpoint(ecalib.create_model("eca_mobilenet_v2", num_classes=2), tmp_path / "e.pth.tar")
    result = imagenet.evaluate_checkpoint(equal, two, workers=0, image_sizes=SMALL)
    assert result["label_map"]["rule"] == "sorted_order" and result["label_map"]["indices"] == [0, 1]
    assert "sorted order: the 2 class folders, sorted, are outputs 0..1" in imagenet.format_evaluation(result)


def test_evaluate_cli(tmp_path, data_dir):
    path = save_official_checkpoint(ecalib.create_model("eca_resnet18", num_classes=4), tmp_path / "m.pth.tar")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ecalib",
            "evaluate",
            "--checkpoint",
            str(path),
            "--data",
            str(data_dir / "val"),
            "--workers",
            "0",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["images"] == 32
    bad = subprocess.run(
        [sys.executable, "-m", "ecalib", "evaluate", "--checkpoint", str(path), "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert bad.returncode == 2 and "no val/ folder" in bad.stderr and "Traceback" not in bad.stderr


def test_training_data_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no 'train/' folder"):
        train(
            resolve("imagenet", model="eca_resnet18", data_dir=str(tmp_path), wandb_mode="disabled", epochs=1), tmp_path
        )


@pytest.mark.slow
def test_our_checkpoint_resumes_the_way_the_official_main_py_does(reference):
    """main.py --resume: DataParallel model, load 'state_dict' and 'optimizer', start at 'epoch'."""
    state = torch.load(reference.run_dir / "checkpoints" / "checkpoint.pth.tar", weights_only=True)
    model = torch.nn.DataParallel(ecalib.create_model(state["arch"], num_classes=4))
    optimizer = torch.optim.SGD(model.parameters(), 0.1, momentum=0.9, weight_decay=1e-4)
    model.load_state_dict(state["state_dict"])  # strict, with the module. prefixes
    optimizer.load_state_dict(state["optimizer"])
    assert state["epoch"] == 3 and float(state["best_prec1"]) == reference.final["best_test_top1"]
    assert optimizer.state_dict()["state"][0]["momentum_buffer"].abs().sum() > 0


@pytest.mark.slow
def test_workers_option_trains(tmp_path, data_dir, capsys):
    from ecalib.cli import main

    args = ["train", "imagenet", "--model", "eca_resnet18", "--profile", "smoke", "--epochs", "1"]
    args += ["--data-dir", str(data_dir), "--results-dir", str(tmp_path), "--wandb-mode", "disabled", "--no-progress"]
    assert main([*args, "--workers", "1"]) == 0
    run_dir = Path(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_dir"])
    params = json.loads((run_dir / "params.json").read_text())
    assert params["experiment"]["data"]["workers"] == 1 and "workers" not in params  # recorded once
    # workers is operational: the same settings with other loader processes are the same run
    assert run_dir.name == smoke_run(data_dir, epochs=1, workers=0).name
    assert resolve("imagenet", data_dir="/data/imagenet", workers=2).config.data.workers == 2


def test_write_evaluation_keeps_metrics_apart_from_provenance(tmp_path, data_dir):
    from ecalib.reports.evidence import ResultFolders

    path = save_official_checkpoint(ecalib.create_model("eca_resnet18", num_classes=4), tmp_path / "e.pth.tar")
    result = imagenet.evaluate_checkpoint(path, data_dir, workers=0, image_sizes={"val_resize": 64, "val_crop": 56})
    folder = imagenet.write_evaluation(result, tmp_path / "results" / "imagenet-eval")
    params, final = (json.loads((folder / f).read_text()) for f in ("params.json", "final.json"))
    assert set(final) == {"top1", "top5", "loss", "images", "classes"} and "top1" not in params
    assert params["data_source"]["kind"] == "synthetic" and len(params["checkpoint_sha256"]) == 64
    evaluations = ResultFolders(tmp_path / "results").evaluations
    assert evaluations.loc[0, "model"] == "eca_resnet18" and evaluations.loc[0, "data"] == "synthetic"
    from helpers import run_cli

    out = tmp_path / "cli-results"
    done = run_cli("evaluate", "--checkpoint", path, "--data", data_dir, "--workers", 0, "--out", out)
    assert done.returncode == 0, done.stderr[-2000:]
    (written,) = out.iterdir()
    assert (written / "final.json").is_file() and str(written) in done.stderr
