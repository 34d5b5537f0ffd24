import pandas as pd
import pytest
import yaml

from ecalib.sweep import grid_trials, load_sweep, run_sweep, search_space, sweep_recipe, trial_settings

SWEEP = "configs/sweep.yaml"


def test_sweep_file_is_the_reproductions_space():
    spec = load_sweep(SWEEP)
    assert spec["method"] == "bayes" and spec["metric"] == {"name": "loss", "goal": "minimize"}
    space = search_space(spec)
    assert space["att"] == ["ECA", "CBAM", "SE", "Triplet"]
    assert space["optimizer"] == ["adam", "sgd"] and space["batch_size"] == [64, 128, 256]
    assert len(grid_trials(space)) == 24
    assert spec["command"][-3:] == ["train", "cifar10", "${args}"]


def test_trial_parameters_are_read_as_ecalib_train_reads_them():
    """A trial's parameters go through the command line's shorthands (W&B spells them --att=Triplet
    --batch_size=64) and schema keys (--optimizer.lr=0.05), so both reach the same config."""
    from ecalib.cli import build_parser, plan_from_args
    from ecalib.recipes import resolve

    params = {"att": "Triplet", "optimizer": "SGD", "batch_size": 64, "protocol": "rc2020_sweep", "optimizer.lr": 0.05}
    shorthands, sets, protocol = trial_settings(params)
    assert shorthands == {"model": "Triplet", "optimizer": "SGD", "batch_size": 64} and protocol == "rc2020_sweep"
    trial = resolve(f"cifar10/{protocol}", "smoke", sets, **shorthands)
    argv = ["train", "cifar10", "--profile", "smoke", *(f"--{k}={v}" for k, v in params.items())]
    args, extra = build_parser().parse_known_args(argv)
    args.dotted = [e.removeprefix("--") for e in extra]
    (agent,) = plan_from_args(args)
    assert agent.resolved == trial.resolved and agent.name == trial.name
    assert (trial.config.model.arch, trial.config.optimizer.name, trial.config.optimizer.lr) == (
        "triplet_resnet20_cifar",
        "sgd",
        0.05,
    )
    assert sweep_recipe(load_sweep(SWEEP)) == "cifar10"


def test_bad_sweep_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_sweep(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "method": "hyperband",
                "metric": {"name": "loss", "goal": "minimize"},
                "parameters": {"att": {"values": ["ECA"]}},
            }
        )
    )
    with pytest.raises(ValueError, match="method 'hyperband'"):
        load_sweep(bad)
    bad.write_text(
        yaml.safe_dump(
            {"method": "grid", "metric": {"name": "acc", "goal": "up"}, "parameters": {"att": {"values": ["ECA"]}}}
        )
    )
    with pytest.raises(ValueError, match="metric must name one of"):
        load_sweep(bad)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["grid", "bayes"])
def test_two_trial_offline_sweep(tmp_path, method, capsys):
    table = run_sweep(
        SWEEP,
        tmp_path / "results",
        method=method,
        n_trials=2,
        profile="smoke",
        data_dir=str(tmp_path / "data"),
        wandb_mode="disabled",
    )
    assert len(table) == 2 and {"att", "optimizer", "batch_size", "test_loss", "run"} <= set(table.columns)
    assert (table["data"] == "synthetic").all()
    assert "2/2" in capsys.readouterr().err  # the progress bar over the trials
    folder = tmp_path / "results" / "cifar10-sweeps" / "rc2020-attention"
    assert pd.read_csv(folder / "sweep.csv").shape[0] == 2
    for run in table["run"]:  # trials live where `ecalib train cifar10` puts the same settings
        assert (tmp_path / "results" / "cifar10" / run / "final.json").exists()
    # an interrupted/finished sweep is not re-trained: the same trials come back from their folders
    again = run_sweep(
        SWEEP,
        tmp_path / "results",
        method=method,
        n_trials=2,
        profile="smoke",
        data_dir=str(tmp_path / "data"),
        wandb_mode="disabled",
    )
    assert again["test_loss"].tolist() == table["test_loss"].tolist()
