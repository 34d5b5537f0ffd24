"""Recipes as files, one schema, one override syntax: every entry point reaches the same config and folder."""

from pathlib import Path

import pytest
import yaml

from ecalib.cli import build_parser, plan_from_args
from ecalib.engine.identity import run_id
from ecalib.errors import UsageError
from ecalib.recipes import CONFIG_ROOT, list_profiles, list_recipes, resolve, shorthands_of
from ecalib.recipes.overrides import parse_value
from ecalib.recipes.resolve import read_recipe, read_yaml, recipe_file
from ecalib.recipes.tables import recipe_source
from ecalib.sweep import trial_settings

ROOT = Path(__file__).resolve().parents[1]


def cli_runs(*argv):
    args, extra = build_parser().parse_known_args(["train", *argv])
    args.dotted = [token.removeprefix("--") for token in extra]
    return plan_from_args(args)


def test_every_shipped_recipe_names_its_source_and_validates_in_every_profile():
    for name in list_recipes():
        assert recipe_source(name), f"{name}: the book prints no source for it"
        for profile in list_profiles(name.split("/")[0]):
            run = resolve(name, profile, data_dir="/data")
            assert run.config.recipe == Path(name).name and run.config.profile == profile
            assert run.train_config().lr == run.config.optimizer.lr > 0


def test_configs_ship_inside_the_package_and_the_repository_links_them():
    assert CONFIG_ROOT == ROOT / "ecalib" / "configs"
    assert (ROOT / "configs").resolve() == CONFIG_ROOT.resolve()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"ecalib" = ["configs/*.yaml", "configs/*/*.yaml", "configs/profiles/*/*.yaml"' in pyproject


@pytest.mark.parametrize("profile", ["full", "smoke"])
def test_every_entry_point_resolves_the_same_config_and_folder(profile):
    """Python, the command line (shorthands, --set, W&B's --key=value), a sweep trial and papermill's
    parameters, for the same settings: one resolved config, one run id, one folder name."""
    python = resolve("cifar10/rc2020_sweep", profile, ["optimizer.lr=0.05"], model="eca", batch_size=64, seed=3)
    flags = cli_runs(
        "cifar10",
        "--protocol",
        "rc2020_sweep",
        "--profile",
        profile,
        "--model",
        "eca",
        "--batch-size",
        "64",
        "--seed",
        "3",
        "--set",
        "optimizer.lr=0.05",
    )
    sets_only = cli_runs(
        "configs/cifar10/rc2020_sweep.yaml",
        "--profile",
        profile,
        "--set",
        "model.name=eca",
        "data.batch_size=64",
        "seed=3",
        "optimizer.lr=0.05",
    )
    agent = cli_runs(  # what `wandb agent` runs for configs/sweep.yaml (${args}: --name=value)
        "cifar10",
        "--profile",
        profile,
        "--att=ECA",
        "--batch_size=64",
        "--protocol=rc2020_sweep",
        "--seed=3",
        "--optimizer.lr=0.05",
    )
    shorthands, sets, protocol = trial_settings(
        {"att": "ECA", "batch_size": 64, "protocol": "rc2020_sweep", "seed": 3, "optimizer.lr": 0.05}
    )
    trial = resolve(f"cifar10/{protocol}", profile, sets, **shorthands)
    notebook = {"model": "eca", "batch_size": 64, "seed": 3, "epochs": None, "lr": None, "profile": profile}
    papermill = resolve("cifar10/rc2020_sweep", profile, "optimizer.lr=0.05", **shorthands_of(notebook, notebook))
    for other in (*flags, *sets_only, *agent, trial, papermill):
        assert other.resolved == python.resolved and other.name == python.name
    assert python.config.optimizer.lr == 0.05 and python.config.model.arch == "eca_resnet20_cifar"
    assert python.name == f"cifar10-{'smoke-' if profile == 'smoke' else ''}rc2020_sweep-eca-seed3-{python.run_id}"


def test_a_profile_is_an_overlay_not_a_code_path():
    """The smoke profile equals the full recipe with the overlay's values set one by one."""
    overlay = read_yaml(CONFIG_ROOT / "profiles" / "imagenet" / "smoke.yaml")

    def pairs(values, prefix=""):
        for key, value in values.items():
            if isinstance(value, dict) and key != "synthetic":
                yield from pairs(value, f"{prefix}{key}.")
            elif key != "profile":
                yield f"{prefix}{key}", value

    smoke = resolve("imagenet", "smoke", data_dir="/d")
    by_hand = resolve("imagenet", "full", list(pairs(overlay)), data_dir="/d")
    assert {**smoke.resolved, "profile": "full"} == by_hand.resolved
    assert smoke.resolved["profile"] == "smoke"  # the folder says which overlay made it
    assert smoke.config.optimizer.lr == pytest.approx(0.1 * 16 / 256)  # the recipe's rule on the overlay's batch


def test_the_run_id_ignores_exactly_the_operational_settings():
    """Changing any leaf of the resolved config changes the run id, except where and how fast it runs."""
    base = resolve("coco", "smoke").resolved
    unchanged = []

    def leaves(values, path=()):
        for key, value in values.items():
            if isinstance(value, dict) and value:
                yield from leaves(value, (*path, key))
            else:
                yield (*path, key), value

    for path, value in leaves(base):
        changed = yaml.safe_load(yaml.safe_dump(base))
        node = changed
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = [value, "other"]  # any different value
        if run_id(changed) == run_id(base):
            unchanged.append(".".join(path))
    assert sorted(unchanged) == [
        "data.dir",
        "data.download",
        "data.workers",
        "device",
        "logging.checkpoint_every",
        "logging.wandb_mode",
        "logging.wandb_project",
        "precision.channels_last",
        "precision.compile",
        "seeds",
    ]


@pytest.mark.parametrize(
    "sets,shorthands,message",
    [
        (["optimizer.momentun=0.9"], {}, "unknown key 'optimizer.momentun'; allowed at optimizer: name, lr, base_lr"),
        (["sched.epochs=3"], {}, "unknown key 'sched.epochs'; allowed at the top level: task, engine, recipe"),
        ([], {"optimizer": "rmsprop"}, r"optimizer.name \(--optimizer\)='rmsprop' is not allowed: must be 'sgd' or"),
        ([], {"amp": "fp8"}, r"precision.amp \(--amp\)='fp8' is not allowed: must be 'none', 'bf16' or 'fp16'"),
        (["schedule.milestones=[30, x]"], {}, r"schedule.milestones.1='x' is not allowed: must be a valid integer"),
        (["data.std=[1, 1]"], {}, "data.std=.* is not allowed: List should have at least 3 items"),
        ([], {"data": "coco"}, "data.source='coco' is not allowed for cifar10; choose: cifar10, synthetic"),
        (["detector.min_size=600"], {}, "a detector section belongs to .* the coco task"),
        (["schedule.epochs"], {}, r"--set takes KEY=VALUE \(e.g. optimizer.lr=0.05\), got 'schedule.epochs'"),
    ],
)
def test_bad_values_and_unknown_keys_are_one_error_listing_what_is_allowed(sets, shorthands, message):
    with pytest.raises(UsageError, match=message) as caught:
        resolve("cifar10", "smoke", sets, **shorthands)
    assert "\n" not in str(caught.value)


def test_several_problems_are_reported_together():
    with pytest.raises(UsageError) as caught:
        resolve("cifar10", sets=["schedule.epochs=0", "optimizer.lr=-1", "optimizer.momentum=-2"])
    text = str(caught.value)
    assert text.count("is not allowed") == 3 and text.startswith("configs/cifar10/rc2020.yaml + ")


def test_values_are_read_as_typed_and_a_recipe_file_of_ones_own_works(tmp_path):
    assert [parse_value(t) for t in ("0.05", "1e-3", "inf", "true", "[30, 60]", "null", "sgd", "3")] == [
        0.05,
        1e-3,
        float("inf"),
        True,
        [30, 60],
        None,
        "sgd",
        3,
    ]
    mine = tmp_path / "my_cifar.yaml"
    values = read_yaml(recipe_file("cifar10/rc2020")) | {"recipe": "mine"}
    mine.write_text(yaml.safe_dump(values | {"optimizer": values["optimizer"] | {"lr": 0.2}}))
    run = resolve(mine, "smoke")
    assert run.config.optimizer.lr == 0.2 and run.name.startswith("cifar10-smoke-mine-eca-seed0-")
    assert run.resolved != resolve("cifar10", "smoke").resolved
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(UsageError, match="must hold a mapping of settings, got list"):
        resolve(tmp_path / "list.yaml")


def _flattened(path: Path) -> dict:
    """A recipe file with its ``base:`` chain written out: nested mappings updated key by key, anything
    else replaced, the base's own ``recipe`` name dropped (the reading mmengine gives ``_base_``)."""
    values = yaml.safe_load(path.read_text())
    if "base" not in values:
        return values
    flat = _flattened(path.parent / values.pop("base"))
    flat.pop("recipe", None)

    def update(into: dict, new: dict) -> None:
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                update(into[key], value)
            else:
                into[key] = value

    update(flat, values)
    return flat


@pytest.mark.parametrize("name", list_recipes())
def test_every_shipped_recipe_resolves_as_its_base_chain_written_out(name, tmp_path):
    flat = tmp_path / f"{Path(name).name}.yaml"  # same stem: the recipe's name when it sets none
    flat.write_text(yaml.safe_dump(_flattened(recipe_file(name))))
    for profile in list_profiles(name.split("/")[0]):
        ours, written_out = resolve(name, profile, data_dir="/data"), resolve(flat, profile, data_dir="/data")
        assert ours.resolved == written_out.resolved and ours.name == written_out.name, (name, profile)


def test_a_recipe_names_a_base_relative_to_itself_and_overrides_part_of_it(tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "mid.yaml").write_text(
        f"base: {CONFIG_ROOT / 'cifar10' / 'rc2020.yaml'}\noptimizer: {{lr: 0.2}}\nseeds: [1, 2]\n"
    )
    (tmp_path / "mine.yaml").write_text("base: shared/mid.yaml\noptimizer: {momentum: 0.8}\n")
    run = resolve(tmp_path / "mine.yaml", "smoke")
    plain = resolve("cifar10/rc2020", "smoke", ["optimizer.lr=0.2", "optimizer.momentum=0.8"])
    assert run.config.recipe == "mine" and run.config.optimizer.lr == 0.2
    assert run.config.optimizer == plain.config.optimizer and run.config.schedule == plain.config.schedule


@pytest.mark.parametrize(
    "files, message",
    [
        ({"a.yaml": "base: b.yaml\n", "b.yaml": "base: a.yaml\n"}, r"cycle \(.*a.yaml -> .*b.yaml -> .*a.yaml\)"),
        ({"a.yaml": "base: a.yaml\n"}, "form a cycle"),
        ({"a.yaml": "base: nowhere.yaml\n"}, "base 'nowhere.yaml' not found \\(looked for .*nowhere.yaml\\)"),
        ({"a.yaml": "base: [b.yaml]\n"}, r"base=\['b.yaml'\] must be a recipe file name"),
    ],
)
def test_bad_bases_are_one_line_errors(tmp_path, files, message):
    for file, text in files.items():
        (tmp_path / file).write_text(text + "task: cifar10\n")
    with pytest.raises(UsageError, match=message) as err:
        resolve(tmp_path / "a.yaml")
    assert "\n" not in str(err.value)


def test_recipe_tables_are_the_files(tmp_path, monkeypatch):
    from ecalib.recipes import tables as recipes

    table = recipes.recipe_table(["imagenet/resnet", "imagenet/mobilenet_v2"])
    assert table.loc["optimizer.base_lr", "imagenet/resnet"] == "0.1"
    assert table.loc["schedule.gamma", "imagenet/mobilenet_v2"] == "0.98"
    assert "light_main.py" in recipes.recipe_sources(["imagenet/mobilenet_v2"])
    # a changed file is a changed table: nothing is restated by hand
    copy = tmp_path / "configs"
    (copy / "imagenet").mkdir(parents=True)
    text = (CONFIG_ROOT / "imagenet" / "resnet.yaml").read_text().replace("base_lr: 0.1", "base_lr: 0.2")
    (copy / "imagenet" / "resnet.yaml").write_text(text)
    import importlib

    monkeypatch.setattr(importlib.import_module("ecalib.recipes.resolve"), "CONFIG_ROOT", copy)
    assert recipes.recipe_table(["imagenet/resnet"]).loc["optimizer.base_lr", "imagenet/resnet"] == "0.2"


def test_the_bad_image_policy_enters_the_identity_only_where_it_changes_results():
    """Runs recorded before data.bad_images existed keep their id (refusing bad files changes nothing
    about a run that trained); skipping them does change the data, and so the run."""
    import copy

    run = resolve("imagenet", "smoke")
    before_the_setting = copy.deepcopy(run.resolved)
    assert before_the_setting["data"].pop("bad_images") == "refuse"
    assert run.run_id == run_id(before_the_setting)
    skip = resolve("imagenet", "smoke", ["data.bad_images=skip"])
    assert skip.identity()["data"]["bad_images"] == "skip" and skip.run_id != run.run_id


def _engine_fields_by_hand(c) -> dict:
    """The oracle: the engine's record of an experiment, field by field as the engine reads it (the list
    ``Run.train_config`` once copied by hand)."""
    return dict(
        model=c.model.networks.get(c.model.name, c.model.name),
        num_classes=c.model.num_classes,
        model_kwargs=dict(c.model.network_kwargs.get(c.model.name, {}))
        | ({"k_size": c.model.k_size} if c.model.k_size is not None else {}),
        epochs=c.schedule.epochs,
        schedule=c.schedule.name,
        milestones=list(c.schedule.milestones),
        gamma=c.schedule.gamma,
        warmup_iters=c.schedule.warmup_iters,
        warmup_ratio=c.schedule.warmup_ratio,
        batch_size=c.data.batch_size,
        mean=list(c.data.mean),
        std=list(c.data.std),
        crop_padding=c.data.crop_padding,
        flip=c.data.flip,
        optimizer=c.optimizer.name,
        lr=c.optimizer.lr,
        momentum=c.optimizer.momentum,
        weight_decay=c.optimizer.weight_decay,
        nesterov=c.optimizer.nesterov,
        seed=c.seed,
        device=c.device,
        amp=c.precision.amp,
        channels_last=c.precision.channels_last,
        compile=c.precision.compile,
        checkpoint_every=c.logging.checkpoint_every,
        wandb_mode=c.logging.wandb_mode,
    )


def test_the_engine_record_is_the_experiment_read_field_by_field():
    from ecalib.engine import TrainConfig

    runs = [
        resolve(name, profile, data_dir="/data", model=model)
        for name in list_recipes()
        for profile in list_profiles(name.split("/")[0])
        for model in (read_recipe(recipe_file(name))["model"].get("networks") or [None])
    ]
    runs.append(resolve("imagenet", data_dir="/data", model="eca_resnet50", sets=["model.k_size=3377"], amp="bf16"))
    assert len(runs) > 40
    for run in runs:
        record = run.train_config()
        assert record.to_dict() == _engine_fields_by_hand(run.config), run.name
        assert TrainConfig(**record.to_dict()) == record  # what was taken unchecked passes the engine's own rules
        record.milestones.append(1)  # a copy: changing it leaves the experiment as it was
        assert run.train_config().to_dict() == _engine_fields_by_hand(run.config)


def test_the_imagenet_recipe_follows_the_network_built_not_its_name():
    import torch

    from ecalib.models import create_model, list_models
    from ecalib.recipes.resolve import recipe_file

    for name in list_models():
        with torch.device("meta"):
            network = create_model(name)
        is_mobilenet = "MobileNetV2" in type(network).__name__  # oracle: the class of the network built
        expected = "mobilenet_v2" if is_mobilenet else "resnet"
        assert recipe_file("imagenet", name).stem == expected, name
    assert recipe_file("imagenet", "not_a_model").stem == "resnet"  # resolve() then refuses the name
