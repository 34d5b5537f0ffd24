"""The training engine on the CIFAR-10 task: learning, exact resume, NaN guard, changed hyper-parameters."""

import json
import math
import signal
import subprocess
import sys
import time

import pytest
import torch

from ecalib.engine import NonFiniteLossError, TrainConfig, lr_at
from ecalib.engine.config import config_changes
from ecalib.tasks import cifar10

pytestmark = pytest.mark.slow
FINAL_KEYS = ("test_top1", "test_top5", "test_loss", "train_loss", "train_top1")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def smoke_run(data_dir, **overrides):
    return cifar10.make_run("eca", "rc2020", "smoke", data_dir=str(data_dir), wandb_mode="disabled", **overrides)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir):
    """An uninterrupted 3-epoch run."""
    results = tmp_path_factory.mktemp("reference")
    return cifar10.train(smoke_run(data_dir, epochs=3), results, progress=False, verbose=False)


def test_short_training_learns(reference):
    history = reference.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert reference.final["test_top1"] > 20.0  # chance is 10 %
    assert all(math.isfinite(r["test_loss"]) and r["images_per_s"] > 0 for r in history)
    params = json.loads((reference.run_dir / "params.json").read_text())
    assert params["data_source"]["kind"] == "synthetic" and params["protocol"] == "rc2020"
    assert params["config"]["model"] == "eca_resnet18_adaptive" and params["config"]["milestones"] == [100, 150]
    env = json.loads((reference.run_dir / "env.json").read_text())
    assert env["data_source"] == "synthetic" and "torch" in env["versions"] and "device" in env


def test_resume_equals_uninterrupted(tmp_path, data_dir, reference):
    cifar10.train(smoke_run(data_dir, epochs=2), tmp_path, progress=False, verbose=False)
    resumed = cifar10.train(smoke_run(data_dir, epochs=3), tmp_path, progress=False, verbose=False)
    assert {k: resumed.final[k] for k in FINAL_KEYS} == {k: reference.final[k] for k in FINAL_KEYS}
    log = [json.loads(line) for line in (resumed.run_dir / "resume_log.jsonl").read_text().splitlines()]
    assert log[0]["at_epoch"] == 2 and log[0]["changes"] == {"epochs": [2, 3]}


def test_complete_runs_are_skipped(tmp_path, data_dir, reference, capsys):
    again = cifar10.train(smoke_run(data_dir, epochs=3), reference.run_dir.parent.parent, progress=False)
    assert "complete; skipping" in capsys.readouterr().out
    assert again.final == reference.final


def test_sigkill_mid_epoch_resumes_to_the_same_result(tmp_path, data_dir, reference):
    cmd = [
        sys.executable,
        "-m",
        "ecalib",
        "train",
        "cifar10",
        "--model",
        "eca",
        "--profile",
        "smoke",
        "--epochs",
        "3",
        "--data-dir",
        str(data_dir),
        "--results-dir",
        str(tmp_path),
        "--wandb-mode",
        "disabled",
        "--no-progress",
    ]
    history = tmp_path / "cifar10" / "smoke-rc2020-eca-seed0" / "history.csv"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and not (history.exists() and len(history.read_text().splitlines()) >= 2):
        time.sleep(0.05)
    time.sleep(0.5)  # into epoch 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    final = json.loads(done.stdout.strip().splitlines()[-1])
    assert {k: final[k] for k in FINAL_KEYS} == {k: reference.final[k] for k in FINAL_KEYS}
    assert not [p for p in history.parent.rglob("*.tmp")]


def test_nan_guard_stops_and_keeps_the_last_checkpoint(tmp_path, data_dir):
    run = smoke_run(data_dir, epochs=3)
    # run one good epoch, then inject an infinite output in epoch 2, iteration 3
    cifar10.train(smoke_run(data_dir, epochs=1), tmp_path, progress=False, verbose=False)
    ckpt = tmp_path / "cifar10" / run.name / "checkpoints" / "checkpoint.pth.tar"
    before = ckpt.read_bytes()

    calls = {"n": 0}
    original_init = cifar10.Trainer.__init__

    def init_with_fault(self, *args, **kwargs):
        original_init(self, *args, **kwargs)

        def poison(module, inputs, output):
            if module.training:
                calls["n"] += 1
                if calls["n"] == 3:
                    return output * float("inf")
            return output

        self.model.register_forward_hook(poison)

    cifar10.Trainer.__init__ = init_with_fault
    try:
        with pytest.raises(NonFiniteLossError, match=r"epoch 2, iteration 3/5.*after epoch 1\).*intact"):
            cifar10.train(run, tmp_path, progress=False, verbose=False)
    finally:
        cifar10.Trainer.__init__ = original_init
    assert ckpt.read_bytes() == before
    assert not (ckpt.parent.parent / "final.json").read_text().count('"epoch": 3')


def test_changed_lr_on_resume_takes_effect(tmp_path, data_dir, capsys):
    cifar10.train(smoke_run(data_dir, epochs=1), tmp_path, progress=False)
    capsys.readouterr()
    result = cifar10.train(smoke_run(data_dir, epochs=2, lr=0.01), tmp_path, progress=False)
    assert [r["lr"] for r in result.history] == [0.1, 0.01]
    out = capsys.readouterr().out
    assert "lr: 0.1 -> 0.01 (applied from epoch 2)" in out
    state = torch.load(result.run_dir / "checkpoints" / "checkpoint.pth.tar", weights_only=True)
    assert state["optimizer"]["param_groups"][0]["lr"] == 0.01
    with pytest.raises(ValueError, match="cannot change mid-run.*model"):
        cifar10.train(
            cifar10.make_run("se", "rc2020", "smoke", data_dir=str(data_dir), wandb_mode="disabled", epochs=3),
            tmp_path,
            run_dir=result.run_dir,
            progress=False,
        )


def test_wandb_offline_writes_a_local_run(tmp_path, data_dir):
    run = cifar10.make_run("none", "rc2020", "smoke", data_dir=str(data_dir), wandb_mode="offline", epochs=1)
    result = cifar10.train(run, tmp_path, progress=False, verbose=False)
    runs = list((result.run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


@pytest.mark.parametrize(
    "schedule,kwargs,torch_scheduler",
    [
        (
            "multistep",
            {"milestones": [2, 4], "gamma": 0.1},
            lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [2, 4], 0.1),
        ),
        ("cosine", {}, lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=6)),
        ("exponential", {"gamma": 0.98}, lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.98)),
        ("constant", {}, lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1.0)),
    ],
)
def test_schedules_match_torch(schedule, kwargs, torch_scheduler):
    cfg = TrainConfig(model="resnet18", num_classes=10, epochs=6, batch_size=8, lr=0.1, schedule=schedule, **kwargs)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = torch_scheduler(opt)
    expected = []
    for _ in range(6):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert [lr_at(e, cfg) for e in range(6)] == pytest.approx(expected)


def test_rc2020_lr_never_decays():
    cfg = cifar10.make_run("eca", "rc2020").train
    assert {lr_at(e, cfg) for e in range(cfg.epochs)} == {0.1}


def test_bad_parameters_are_explained():
    with pytest.raises(ValueError, match="choose one of: none, se, cbam, triplet, eca"):
        cifar10.make_run("gc")
    with pytest.raises(ValueError, match="protocol='imagenet'.*rc2020, standard"):
        cifar10.make_run("eca", "imagenet")
    with pytest.raises(ValueError, match="optimizer='rmsprop'.*sgd, adam"):
        cifar10.make_run("eca", optimizer="rmsprop")
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        cifar10.make_run("eca", epochs=0)
    with pytest.raises(ValueError, match="unknown training parameters \\['epoch'\\]"):
        cifar10.make_run("eca", epoch=3)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            cifar10.Trainer(cifar10.make_run("eca", device="cuda").train, None, "unused")


def test_protocol_models_and_cbam_kernel():
    assert cifar10.make_run("cbam", "rc2020").train.model_kwargs == {"attn_kwargs": {"spatial_kernel": 3}}
    assert cifar10.make_run("cbam", "standard").train.model_kwargs == {"attn_kwargs": {"spatial_kernel": 7}}
    assert cifar10.make_run("none", "rc2020").train.model == "resnet18"
    assert cifar10.make_run("eca", "standard").train.model == "eca_resnet18_cifar"
    assert cifar10.make_run("se", "rc2020_sweep").train.model == "se_resnet20_cifar"
    std = cifar10.make_run("eca", "standard").train
    assert (std.epochs, std.schedule, std.mean[0]) == (200, "cosine", 0.4914)
    assert cifar10.protocol_seeds("rc2020") == [0, 1, 2, 3, 4]
    assert config_changes({"a": 1, "b": 2}, {"a": 1, "b": 3}) == {"b": (2, 3)}


def test_checkpoints_are_in_the_official_layout(reference):
    from ecalib.checkpoint import load_official_checkpoint

    folder = reference.run_dir / "checkpoints"
    state = torch.load(folder / "checkpoint.pth.tar", weights_only=True)
    assert {"epoch", "arch", "state_dict", "best_prec1", "optimizer"} <= set(state)
    assert state["epoch"] == 3 and state["arch"] == "eca_resnet18_adaptive"
    assert all(k.startswith("module.") for k in state["state_dict"])
    assert float(state["best_prec1"]) == max(r["test_top1"] for r in reference.history)
    model = load_official_checkpoint(folder / "model_best.pth.tar")
    assert model.k_per_stage == (3, 5, 5, 5) and model.fc.out_features == 10


def test_linear_scaled_lr():
    from ecalib.engine.schedule import linear_scaled_lr

    assert linear_scaled_lr(None, 0.1, 256, 1024) == (0.4, "linear scaling: 0.1 x 1024/256 = 0.4")
    assert linear_scaled_lr(None, 0.02, 16, 16)[0] == 0.02
    assert linear_scaled_lr(0.05, 0.1, 256, 1024) == (0.05, "lr 0.05 given explicitly")
