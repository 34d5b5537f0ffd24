"""The training engine on the CIFAR-10 task: learning, exact resume, NaN guard, changed hyper-parameters."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ecalib.engine import NonFiniteLossError, TrainConfig, Trainer, lr_at
from ecalib.engine.config import config_changes
from ecalib.recipes import resolve
from ecalib.tasks import train
from ecalib.tasks.cifar10 import TASK

pytestmark = pytest.mark.slow
FINAL_KEYS = ("test_top1", "test_top5", "test_loss", "train_loss", "train_top1")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def smoke_run(data_dir, **overrides):
    return resolve("cifar10/rc2020", "smoke", model="eca", data_dir=str(data_dir), wandb_mode="disabled", **overrides)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir):
    """An uninterrupted 3-epoch run."""
    results = tmp_path_factory.mktemp("reference")
    return train(smoke_run(data_dir, epochs=3), results, progress=False, verbose=False)


def test_short_training_learns(reference):
    history = reference.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert reference.final["test_top1"] > 20.0  # chance is 10 %
    assert all(math.isfinite(r["test_loss"]) and r["images_per_s"] > 0 for r in history)
    params = json.loads((reference.run_dir / "params.json").read_text())
    assert params["data_source"]["kind"] == "synthetic" and params["protocol"] == "rc2020"
    assert params["network"] == "eca_resnet18_adaptive" and params["experiment"]["schedule"]["milestones"] == [100, 150]
    env = json.loads((reference.run_dir / "env.json").read_text())
    assert env["data_source"] == "synthetic" and "torch" in env["versions"] and "device" in env


def test_resume_equals_uninterrupted(tmp_path, data_dir, reference):
    first = train(smoke_run(data_dir, epochs=2), tmp_path, progress=False, verbose=False)
    # epochs is part of the identity: extending a run is explicit (resume_from / --resume-from) and the
    # extended run gets its own folder; the 2-epoch run stays as it was
    resumed = train(smoke_run(data_dir, epochs=3), tmp_path, resume_from=first.run_dir, progress=False, verbose=False)
    assert resumed.run_dir != first.run_dir and json.loads((first.run_dir / "final.json").read_text())["epoch"] == 2
    assert {k: resumed.final[k] for k in FINAL_KEYS} == {k: reference.final[k] for k in FINAL_KEYS}
    log = [json.loads(line) for line in (resumed.run_dir / "resume_log.jsonl").read_text().splitlines()]
    assert log[0]["at_epoch"] == 2 and log[0]["changes"] == {"epochs": [2, 3]}


def test_complete_runs_are_skipped(tmp_path, data_dir, reference, capsys):
    again = train(smoke_run(data_dir, epochs=3), reference.run_dir.parent.parent, progress=False)
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
    history = tmp_path / "cifar10" / smoke_run(data_dir, epochs=3).name / "history.csv"
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
    # one good epoch (5 iterations, checkpointed), then an infinite output in epoch 2, iteration 3
    ckpt = tmp_path / "cifar10" / run.name / "checkpoints" / "checkpoint.pth.tar"
    calls, before = {"n": 0}, {}
    original_init = Trainer.__init__

    def init_with_fault(self, *args, **kwargs):
        original_init(self, *args, **kwargs)

        def poison(module, inputs, output):
            if module.training:
                calls["n"] += 1
                if calls["n"] == 8:
                    before["bytes"] = ckpt.read_bytes()
                    return output * float("inf")
            return output

        self.model.register_forward_hook(poison)

    Trainer.__init__ = init_with_fault
    try:
        with pytest.raises(NonFiniteLossError, match=r"epoch 2, iteration 3/5.*after epoch 1\).*intact"):
            train(run, tmp_path, progress=False, verbose=False)
    finally:
        Trainer.__init__ = original_init
    assert ckpt.read_bytes() == before["bytes"]
    assert not (ckpt.parent.parent / "final.json").exists()


def test_changed_lr_on_resume_takes_effect(tmp_path, data_dir, capsys):
    first = train(smoke_run(data_dir, epochs=1), tmp_path, progress=False)
    capsys.readouterr()
    result = train(smoke_run(data_dir, epochs=2, lr=0.01), tmp_path, resume_from=first.run_dir, progress=False)
    assert [r["lr"] for r in result.history] == [0.1, 0.01]
    out = capsys.readouterr().out
    assert "lr: 0.1 -> 0.01 (applied from epoch 2)" in out
    state = torch.load(result.run_dir / "checkpoints" / "checkpoint.pth.tar", weights_only=True)
    assert state["optimizer"]["param_groups"][0]["lr"] == 0.01
    with pytest.raises(ValueError, match="holds another run.*model.name: 'eca' -> 'none'"):
        train(
            resolve("cifar10", "smoke", model="none", data_dir=str(data_dir), wandb_mode="disabled", epochs=2),
            tmp_path,
            run_dir=result.run_dir,
            progress=False,
        )


def test_wandb_offline_writes_a_local_run(tmp_path, data_dir):
    run = resolve("cifar10", "smoke", model="none", data_dir=str(data_dir), wandb_mode="offline", epochs=1)
    result = train(run, tmp_path, progress=False, verbose=False)
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
    cfg = resolve("cifar10/rc2020").train_config()
    assert {lr_at(e, cfg) for e in range(cfg.epochs)} == {0.1}


def test_bad_parameters_are_explained():
    with pytest.raises(ValueError, match="model.name='gc' is not one of this recipe's: none, se, cbam, triplet, eca"):
        resolve("cifar10", model="gc")
    with pytest.raises(ValueError, match="unknown recipe 'cifar10/imagenet'.*cifar10/rc2020, cifar10/rc2020_sweep"):
        resolve("cifar10/imagenet")
    with pytest.raises(ValueError, match=r"optimizer.name \(--optimizer\)='rmsprop' is not allowed: must be 'sgd' or"):
        resolve("cifar10", optimizer="rmsprop")
    with pytest.raises(ValueError, match=r"schedule.epochs \(--epochs\)=0 is not allowed: must be greater than or"):
        resolve("cifar10", epochs=0)
    with pytest.raises(ValueError, match="unknown setting 'epoch'"):
        resolve("cifar10", epoch=3)
    with pytest.raises(ValueError, match="unknown key 'schedule.epoch'; allowed at schedule: name, epochs, milestones"):
        resolve("cifar10", sets=["schedule.epoch=3"])
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            Trainer(resolve("cifar10", device="cuda").train_config(), None, "unused")


def test_recipes_hold_the_sources_settings():
    """The shipped recipe files against the numbers of their sources (RC2020 train_cifar.py, a standard recipe)."""
    assert resolve("cifar10/rc2020", model="cbam").train_config().model_kwargs == {"attn_kwargs": {"spatial_kernel": 3}}
    assert resolve("cifar10/standard", model="cbam").train_config().model_kwargs == {
        "attn_kwargs": {"spatial_kernel": 7}
    }
    assert resolve("cifar10/rc2020", model="none").train_config().model == "resnet18"
    assert resolve("cifar10/standard", model="eca").train_config().model == "eca_resnet18_cifar"
    assert resolve("cifar10/rc2020_sweep", model="se").train_config().model == "se_resnet20_cifar"
    rc = resolve("cifar10/rc2020").train_config()
    assert (rc.epochs, rc.batch_size, rc.lr, rc.momentum, rc.weight_decay, rc.milestones) == (
        50,
        128,
        0.1,
        0.9,
        5e-4,
        [100, 150],
    )
    std = resolve("cifar10/standard").train_config()
    assert (std.epochs, std.schedule, std.mean[0]) == (200, "cosine", 0.4914)
    assert resolve("cifar10/rc2020").config.seeds == [0, 1, 2, 3, 4]
    assert config_changes({"a": 1, "b": 2}, {"a": 1, "b": 3}) == {"b": (2, 3)}


def test_checkpoints_are_in_the_official_layout(reference):
    from ecalib import load_official_checkpoint

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


def cli_train(data_dir, results, *args):
    """`ecalib train cifar10` as a W&B sweep agent calls it (``--att=ECA --optimizer=... --batch_size=...``)."""
    from ecalib.cli import main

    common = ["--profile", "smoke", "--epochs", "1", "--data-dir", str(data_dir), "--results-dir", str(results)]
    return main(["train", "cifar10", *args, *common, "--wandb-mode", "disabled", "--no-progress"])


def last_summary(capsys) -> tuple[dict, str]:
    out = capsys.readouterr().out
    return json.loads(out.strip().splitlines()[-1]), out


@pytest.mark.parametrize("optimizer,batch", [("adam", 64), ("sgd", 32)])
def test_runs_differing_in_optimizer_or_batch_get_their_own_folder(tmp_path, data_dir, capsys, optimizer, batch):
    assert cli_train(data_dir, tmp_path, "--att=ECA", "--optimizer=sgd", "--batch_size=64") == 0
    first, _ = last_summary(capsys)
    assert cli_train(data_dir, tmp_path, "--att=ECA", f"--optimizer={optimizer}", f"--batch_size={batch}") == 0
    second, out = last_summary(capsys)
    assert "skipping" not in out and second["run_dir"] != first["run_dir"]
    stored = [json.loads((Path(r["run_dir"]) / "params.json").read_text())["experiment"] for r in (first, second)]
    assert (stored[0]["optimizer"]["name"], stored[0]["data"]["batch_size"]) == ("sgd", 64)
    assert (stored[1]["optimizer"]["name"], stored[1]["data"]["batch_size"]) == (optimizer, batch)
    # the folder name stays readable and ends in the run id recorded in params.json
    name = Path(second["run_dir"]).name
    assert name.startswith("cifar10-smoke-rc2020-eca-seed0-")
    assert name.endswith(json.loads((Path(second["run_dir"]) / "params.json").read_text())["run_id"])


def test_offline_sweep_trial_and_cli_run_share_the_folder(tmp_path, data_dir, capsys):
    import yaml

    from ecalib.sweep import run_sweep

    sweep = tmp_path / "sweep.yaml"
    spec = {
        "name": "one-trial",
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {
            "att": {"values": ["ECA"]},
            "optimizer": {"values": ["sgd"]},
            "batch_size": {"values": [32]},
            "protocol": {"value": "rc2020_sweep"},
            "epochs": {"value": 1},
        },
    }
    sweep.write_text(yaml.safe_dump(spec))
    results = tmp_path / "results"
    table = run_sweep(sweep, results, profile="smoke", data_dir=str(data_dir), wandb_mode="disabled")
    trial_dir = Path(table["run_dir"][0])
    assert (trial_dir / "final.json").exists()
    capsys.readouterr()
    args = ["--att=ECA", "--optimizer=sgd", "--batch_size=32", "--protocol=rc2020_sweep"]
    assert cli_train(data_dir, results, *args) == 0
    summary, out = last_summary(capsys)
    assert Path(summary["run_dir"]) == trial_dir and "complete; skipping" in out


def test_params_json_holds_the_experiment_once_and_folders_written_before_still_count(tmp_path, data_dir, reference):
    import shutil

    from ecalib.engine.results import recorded_identity
    from ecalib.errors import UsageError

    run = smoke_run(data_dir, epochs=3)
    params = json.loads((reference.run_dir / "params.json").read_text())
    assert params["experiment"] == run.resolved and params["run_id"] == run.run_id
    assert "config" not in params and "identity" not in params  # both are derived from the experiment
    assert recorded_identity(params) == run.identity()
    # a folder of the earlier layout (the engine's config and the identity stored beside the experiment)
    old = tmp_path / "old"
    shutil.copytree(reference.run_dir, old, ignore=shutil.ignore_patterns("checkpoints"))
    earlier = {"config": run.train_config().to_dict(), **params, "identity": run.identity()}
    (old / "params.json").write_text(json.dumps(earlier))
    assert train(run, run_dir=old, progress=False, verbose=False).final == reference.final  # the same run: kept
    earlier["identity"]["optimizer"]["name"] = "adam"
    (old / "params.json").write_text(json.dumps(earlier))
    with pytest.raises(UsageError, match=r"holds another run.*optimizer\.name: 'adam' -> 'sgd'"):
        train(run, run_dir=old, progress=False, verbose=False)


def test_a_folder_holding_another_run_is_refused_listing_the_keys(tmp_path, data_dir):
    from ecalib.errors import UsageError

    done = train(smoke_run(data_dir, epochs=1), tmp_path, progress=False, verbose=False)
    other = smoke_run(data_dir, epochs=1, optimizer="adam")
    with pytest.raises(UsageError, match=r"holds another run.*optimizer\.name: 'sgd' -> 'adam'"):
        train(other, run_dir=done.run_dir, progress=False, verbose=False)
    # an unfinished run (checkpoint, no final.json) is not continued with another batch size either
    (done.run_dir / "final.json").unlink()
    (done.run_dir / "params.json").unlink()  # only the checkpoint's config is left to compare with
    with pytest.raises(UsageError, match=r"another run.*config\.batch_size: 64 -> 32"):
        train(smoke_run(data_dir, epochs=1, batch_size=32), run_dir=done.run_dir, progress=False, verbose=False)
    assert not (done.run_dir / "final.json").exists()


def scripted_top1(monkeypatch, scores, weights=None, history_seen=None):
    """Held-out top-1 of each epoch taken from ``scores``; records each epoch's weights and whether
    history.csv existed when that epoch was evaluated."""
    from ecalib.engine.classification import ClassificationHooks

    original = ClassificationHooks.evaluate
    scores = iter(scores)

    def evaluate(self, model, batches, context):
        row = original(self, model, batches, context)
        epoch = context.epoch
        if weights is not None:
            weights[epoch] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if history_seen is not None:
            history_seen[epoch] = (context.run_dir / "history.csv").exists()
        return {**row, "test_top1": next(scores)}

    monkeypatch.setattr(ClassificationHooks, "evaluate", evaluate)


def test_hooks_get_what_they_need_as_arguments_not_the_trainer(tmp_path, data_dir):
    """A task's hooks see the evaluation context only: a context without Trainer attributes is enough."""
    import dataclasses

    from ecalib.engine.classification import ClassificationHooks
    from ecalib.engine.trainer import EvalContext

    seen = []

    class Hooks(ClassificationHooks):
        def evaluate(self, model, batches, context):
            assert type(context) is EvalContext and not hasattr(context, "history") and not hasattr(context, "run")
            seen.append({f.name: getattr(context, f.name) for f in dataclasses.fields(context)})
            return super().evaluate(model, batches, context)

    run = smoke_run(data_dir, epochs=2)
    trainer = Trainer(
        run.train_config(),
        lambda cfg, device, dist: TASK.batches(run, cfg, TASK.datasets(run), device, dist),
        tmp_path / "run",
        hooks=Hooks(),
    )
    result = trainer.fit()
    assert [s["epoch"] for s in seen] == [1, 2] and all(s["run_dir"] == tmp_path / "run" for s in seen)
    assert result.final["epoch"] == 2 and 0 <= result.final["test_top1"] <= 100


def test_best_epoch_between_checkpoints_is_kept(tmp_path, data_dir, monkeypatch):
    from ecalib import load_official_checkpoint

    weights, history_seen = {}, {}
    scripted_top1(monkeypatch, [50.0, 80.0, 60.0], weights, history_seen)
    result = train(smoke_run(data_dir, epochs=3, checkpoint_every=3), tmp_path, progress=False, verbose=False)
    folder = result.run_dir / "checkpoints"
    best = torch.load(folder / "model_best.pth.tar", weights_only=True)
    assert best["epoch"] == 2 and float(best["best_prec1"]) == 80.0 and len(best["history"]) == 2
    assert all(torch.equal(best["state_dict"][f"module.{k}"], v) for k, v in weights[2].items())
    assert not all(torch.equal(best["state_dict"][f"module.{k}"], v) for k, v in weights[3].items())
    assert float(torch.load(folder / "checkpoint.pth.tar", weights_only=True)["best_prec1"]) == 80.0
    assert load_official_checkpoint(folder / "model_best.pth.tar").fc.out_features == 10
    # history.csv is written with the checkpoint (epoch 3), never ahead of it
    assert history_seen == {1: False, 2: False, 3: False}
    assert not list(folder.glob("*pending*")) and not list(result.run_dir.rglob("*.tmp"))


def test_crash_between_checkpoint_and_best_is_repaired_on_resume(tmp_path, data_dir, monkeypatch):
    class SimulatedCrash(Exception):
        pass

    scripted_top1(monkeypatch, [50.0, 80.0])
    run = smoke_run(data_dir, epochs=2)
    replace, promotions = os.replace, []

    def crash_at_second_best(src, dst, *args, **kwargs):
        if Path(dst).name == "model_best.pth.tar":
            promotions.append(dst)
            if len(promotions) == 2:  # epoch 2's checkpoint is committed, its best is not
                raise SimulatedCrash
        return replace(src, dst, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(os, "replace", crash_at_second_best)
        with pytest.raises(SimulatedCrash):
            train(run, tmp_path, progress=False, verbose=False)
    folder = tmp_path / "cifar10" / run.name / "checkpoints"
    checkpoint = torch.load(folder / "checkpoint.pth.tar", weights_only=True)
    assert checkpoint["epoch"] == 2 and float(checkpoint["best_prec1"]) == 80.0
    assert torch.load(folder / "model_best.pth.tar", weights_only=True)["epoch"] == 1  # the crash left it behind
    result = train(run, tmp_path, progress=False, verbose=False)
    best = torch.load(folder / "model_best.pth.tar", weights_only=True)
    assert best["epoch"] == 2 and float(best["best_prec1"]) == 80.0
    assert all(torch.equal(best["state_dict"][k], v) for k, v in checkpoint["state_dict"].items())
    assert len((result.run_dir / "history.csv").read_text().splitlines()) == 3  # header + 2 epochs
    assert not list(result.run_dir.rglob("*.tmp")) and not list(folder.glob("*pending*"))


def test_a_run_folder_is_used_by_one_process_at_a_time(tmp_path, data_dir):
    from ecalib.engine import RunDir

    cmd = [sys.executable, "-m", "ecalib", "train", "cifar10", "--profile", "smoke", "--epochs", "30"]
    cmd += ["--data-dir", str(data_dir), "--results-dir", str(tmp_path), "--wandb-mode", "disabled", "--no-progress"]
    folder = tmp_path / "cifar10" / smoke_run(data_dir, epochs=30).name
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and f'"pid": {first.pid}' not in _read(folder / "run.lock"):
            time.sleep(0.1)
        holder = json.loads((folder / "run.lock").read_text())
        assert holder["pid"] == first.pid and "train cifar10" in holder["command"] and holder["since"]
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert first.poll() is None  # the first still trains
        assert second.returncode == 2, second.stderr
        assert f"run folder {folder} is in use by pid {first.pid} on " in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1 and not second.stdout.strip()
        from ecalib.engine.results import RunInUseError

        with pytest.raises(RunInUseError, match=f"in use by pid {first.pid}"):
            with RunDir(folder).lock():
                pass
    finally:
        first.kill()  # a crash: the kernel drops the lock with the process
        first.wait()
    with RunDir(folder).lock():
        assert json.loads((folder / "run.lock").read_text())["pid"] == os.getpid()


def _read(path):
    return path.read_text() if path.exists() else ""
