"""The CIFAR-10 comparison gathers committed and freshly generated runs apart, labelled by their data."""

import json

from ecalib.reports.runs import GROUP, collect_runs, summary_table


def write_run(folder, attention, source, top1):
    """A run folder as the trainer leaves it: params.json, env.json, history.csv, final.json."""
    folder.mkdir(parents=True)
    params = {
        "config": {"seed": 0, "model": "resnet18", "epochs": 2, "batch_size": 64},
        "task": "cifar10",
        "attention": attention,
        "protocol": "rc2020",
        "profile": "full",
        "data_source": source,
    }
    (folder / "params.json").write_text(json.dumps(params))
    (folder / "env.json").write_text(json.dumps({"device": "cpu", "git_commit": "abc"}))
    (folder / "history.csv").write_text(f"epoch,test_top1,test_loss\n0,10.0,2.3\n1,{top1},1.9\n")
    final = {"test_top1": top1, "test_loss": 1.9, "params": 11_000_000, "mean_images_per_s": 100.0}
    (folder / "final.json").write_text(json.dumps(final))


def test_committed_and_generated_runs_stay_apart_and_say_what_data_they_used(tmp_path):
    committed, generated = tmp_path / "results" / "cifar10", tmp_path / "runs" / "cifar10"
    real = {"kind": "cifar10", "path": "/data/cifar10", "md5_verified": True, "split": "train", "n": 50000}
    synthetic = {
        "kind": "synthetic",
        "path": "/data/synthetic-cifar10-n_train5000",
        "generator": {"generator": "ecalib.data.write_synthetic_cifar10", "n_train": 5000, "n_test": 1000},
        "split": "train",
        "n": 5000,
    }
    write_run(committed / "full-rc2020-eca-seed0", "eca", real, 76.0)
    write_run(generated / "full-rc2020-eca-seed0", "eca", synthetic, 40.0)  # the same run name, other data
    runs, history = collect_runs(committed, generated, tmp_path / "nothing-here", task="cifar10")
    labels = dict(zip(runs["results"], runs["data"], strict=True))
    assert labels == {str(committed): "cifar10", str(generated): "synthetic (5000 train images)"}
    assert set(history["results"]) == {str(committed), str(generated)} and len(history) == 4
    summary = summary_table(runs)
    assert len(summary) == 2 and "results" in GROUP  # two groups, never averaged together
    by_data = summary.set_index("data")["top-1 mean"].to_dict()
    assert by_data == {"cifar10": 76.0, "synthetic (5000 train images)": 40.0}


def test_provenance_and_metrics_come_apart_and_rejected_folders_say_why(tmp_path):
    from ecalib.reports.runs import read_runs

    real = {"kind": "cifar10", "path": "/data/cifar10", "md5_verified": True, "split": "train", "n": 50000}
    root = tmp_path / "results" / "cifar10"
    write_run(root / "kept", "eca", real, 76.0)
    write_run(root / "claims", "eca", real, 76.0)
    final = json.loads((root / "claims" / "final.json").read_text())
    (root / "claims" / "final.json").write_text(json.dumps({**final, "device": "NVIDIA A100", "seed": 7}))
    found = read_runs(root, task="cifar10")
    (record,) = found.runs
    assert record.provenance["device"] == "cpu" and record.provenance["data"] == "cifar10"
    assert record.metrics == {"test_top1": 76.0, "test_loss": 1.9, "params": 11_000_000, "mean_images_per_s": 100.0}
    (rejected,) = found.rejected
    assert rejected.folder.endswith("claims") and "final.json sets ['device', 'seed']" in rejected.reason


def test_run_settings_read_the_experiment_and_folders_written_before_it():
    from ecalib.recipes import resolve
    from ecalib.reports.runs import run_settings

    run = resolve("cifar10/rc2020", model="eca", seed=3)
    new = {"experiment": run.resolved, "network": run.train_config().model, "task": "cifar10"}
    old = {"config": run.train_config().to_dict(), "experiment": run.resolved, "identity": run.identity()}
    expected = {"model": "eca_resnet18_adaptive", "seed": 3, "epochs": 50, "batch_size": 128}  # configs/cifar10/rc2020
    assert run_settings(new) == run_settings(old) == expected
    assert run_settings({"config": "not a record"}) == run_settings({}) == {}
