"""From a recipe file, a profile and overrides to the runs they describe, each with its identity and folder.

Every entry point (``ecalib train``, ``ecalib sweep``, W&B agents, the notebooks, Python) calls
:func:`plan` (or :func:`resolve` for one run), so the same settings always give the same resolved
config, the same run id and the same folder.
"""

from __future__ import annotations

import copy
import functools
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ecalib.engine.config import TrainConfig
from ecalib.engine.identity import identity_settings, run_id, run_name
from ecalib.engine.schedule import linear_scaled_lr
from ecalib.errors import UsageError
from ecalib.paths import plain_name
from ecalib.recipes.models import check_model
from ecalib.recipes.overrides import FLAGS, apply_sets, describe, parse_set, parse_sets, parse_value, shorthand_sets
from ecalib.recipes.schema import TASKS, Experiment
from ecalib.recipes.yamlfile import read_yaml_file
from ecalib.validation import problems, section_of, validate

CONFIG_ROOT = Path(__file__).resolve().parents[1] / "configs"
DEFAULT_RECIPE = {"cifar10": "rc2020", "imagenet": "resnet", "coco": "maskrcnn_1x"}
NUM_CLASSES = {"cifar10": 10, "imagenet": 1000, "coco": 91}
IMAGENET_RECIPE_BY_FAMILY = {"mobilenet_v2": "mobilenet_v2"}  # model family -> its ImageNet recipe (else resnet)


def list_recipes() -> list[str]:
    """The shipped recipes, as ``<task>/<name>`` (files ``configs/<task>/<name>.yaml``)."""
    return [f"{task}/{p.stem}" for task in TASKS for p in sorted((CONFIG_ROOT / task).glob("*.yaml"))]


def list_profiles(task: str) -> list[str]:
    return ["full", *(p.stem for p in sorted((CONFIG_ROOT / "profiles" / task).glob("*.yaml")))]


def shown(path: Path) -> str:
    """``path`` as the user knows it: ``configs/...`` for shipped files."""
    try:
        return f"configs/{path.resolve().relative_to(CONFIG_ROOT)}"
    except ValueError:
        return str(path)


def read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"recipe file not found: {path}")
    values = read_yaml_file(path, shown(path))
    if not isinstance(values, dict):
        raise UsageError(f"{shown(path)} must hold a mapping of settings, got {type(values).__name__}")
    return values


def read_recipe(path: Path, name_key: str = "recipe", _seen: tuple[Path, ...] = ()) -> dict:
    """A recipe file's settings, on top of those of the file its ``base:`` names (relative to it, as
    mmengine's ``_base_``), merged with :func:`deep_merge`. A base's ``name_key`` (its own name) is not
    inherited."""
    values = read_yaml(path)
    base = values.pop("base", None)
    if base is None:
        return values
    if not isinstance(base, str) or not base.endswith((".yaml", ".yml")):
        raise UsageError(f"{shown(path)}: base={base!r} must be a recipe file name, relative to this file")
    base_path = (path.parent / base).resolve()
    chain = (*_seen, path.resolve())
    if base_path in chain:
        cycle = " -> ".join(shown(p) for p in (*chain, base_path))
        raise UsageError(f"{shown(path)}: base files form a cycle ({cycle}); a recipe cannot be its own base")
    if not base_path.is_file():
        raise UsageError(f"{shown(path)}: base {base!r} not found (looked for {shown(base_path)})")
    inherited = read_recipe(base_path, name_key, chain)
    inherited.pop(name_key, None)
    return deep_merge(inherited, values)


def _family(model: str) -> str | None:
    """The registered model's family (``resnet``, ``mobilenet_v2``...); None for a name that is not registered
    (:func:`resolve` then refuses it, naming the close ones)."""
    from ecalib.models import model_info

    try:
        return model_info(model).family
    except UsageError:
        return None


def recipe_file(recipe: str | Path, model: str | None = None) -> Path:
    """A recipe by file path, shipped name (``cifar10/standard``) or task (its default recipe;
    ImageNet's depends on the model: MobileNetV2 has its own)."""
    text = str(recipe)
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        return Path(text)
    if text in TASKS:
        name = DEFAULT_RECIPE[text]
        if text == "imagenet" and model:
            name = IMAGENET_RECIPE_BY_FAMILY.get(_family(str(model).lower()), name)
        text = f"{text}/{name}"
    task, _, name = text.partition("/")
    if task in TASKS and name:  # a shipped name stays inside configs/<task>/
        plain_name(name, f"recipe {text!r}: the name")
    path = CONFIG_ROOT / f"{text}.yaml"
    if task not in TASKS or not path.is_file():
        raise UsageError(
            f"unknown recipe {recipe!r}; give a YAML file, a task ({', '.join(TASKS)}) or one of: "
            f"{', '.join(list_recipes())}"
        )
    return path


def deep_merge(base: dict, overlay: dict) -> dict:
    out = dict(base)
    for key, value in overlay.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def default_workers(task: str) -> int:
    """Loader processes per training process when the recipe leaves it open (CIFAR-10 needs none)."""
    cores = os.cpu_count() or 2
    return {"cifar10": 0, "imagenet": max(1, min(8, cores - 1)), "coco": min(4, cores)}[task]


@dataclass(frozen=True)
class Run:
    """One resolved run: its validated config, where it came from, and how its lr was chosen."""

    config: Experiment
    origin: str  # the recipe file, profile and overrides it was resolved from
    lr_rule: str

    @property
    def task(self) -> str:
        return self.config.task

    @functools.cached_property
    def resolved(self) -> dict:
        """The resolved config as plain JSON values (recorded in ``params.json``)."""
        return self.config.model_dump(mode="json")

    def identity(self) -> dict:
        """The settings that change the result (see :mod:`ecalib.engine.identity`)."""
        return identity_settings(self.resolved)

    @property
    def run_id(self) -> str:
        return run_id(self.resolved)

    @property
    def name(self) -> str:
        """``<task>-[<profile>-]<recipe>-<model>[-k<kernels>]-seed<k>-<run id>`` (profile omitted when full)."""
        c = self.config
        model = c.model.name + (f"-k{c.model.k_size}" if c.model.k_size else "")
        profile = None if c.profile == "full" else c.profile
        return run_name(self.resolved, c.task, profile, c.recipe, model, f"seed{c.seed}")

    def train_config(self) -> TrainConfig:
        """The engine's flat record of this run, derived from the validated experiment by :func:`engine_record`."""
        return engine_record(self.config)


# TrainConfig fields that the experiment names otherwise: field -> (section, attribute). Every other field
# is the experiment's setting of the same name, at the top level or in exactly one section.
RENAMED_IN_ENGINE = {
    "model": ("model", "arch"),
    "model_kwargs": ("model", "kwargs"),
    "optimizer": ("optimizer", "name"),
    "schedule": ("schedule", "name"),
}


@functools.cache
def engine_fields() -> dict[str, tuple[str | None, str]]:
    """Where the experiment holds each TrainConfig field: ``(section, attribute)``, section None for the top
    level. Read from the two schemas once; a field found in no place or in several is a programming error."""
    sections = {name: section_of(field.annotation)[0] for name, field in Experiment.model_fields.items()}
    where: dict[str, tuple[str | None, str]] = dict(RENAMED_IN_ENGINE)
    for name in TrainConfig.model_fields.keys() - where.keys():
        places = [(s, name) for s, cls in sections.items() if cls is not None and name in cls.model_fields]
        places += [(None, name)] if name in sections and sections[name] is None else []
        if len(places) != 1:
            raise RuntimeError(f"TrainConfig.{name} is set by {len(places)} places of the experiment, not one")
        where[name] = places[0]
    return where


def engine_record(config: Experiment) -> TrainConfig:
    """The engine's record of a validated experiment: every TrainConfig field read from it, not checked
    again (the values passed the same constrained types in the schema)."""
    values = {
        name: getattr(config if section is None else getattr(config, section), attribute)
        for name, (section, attribute) in engine_fields().items()
    }
    return TrainConfig.model_construct(**copy.deepcopy(values))


def _complete(config: Experiment, lr_given: bool) -> tuple[Experiment, str]:
    """Fill what the recipe leaves to the run: seed, class count, data folder, workers and the lr (each
    assignment is validated by the schema: an lr scaled past its bound is refused)."""
    c = config.model_copy(deep=True)
    c.seed = c.seeds[0] if c.seed is None else c.seed
    synthetic = c.data.source == "synthetic"
    if c.model.num_classes is None:
        c.model.num_classes = (
            c.data.synthetic.get("num_classes", 4) if synthetic and c.task == "imagenet" else NUM_CLASSES[c.task]
        )
    if not synthetic:
        c.data.synthetic = {}
    if c.model.networks:  # only the chosen mechanism's network: the others do not change this run
        # (kwargs first: each assignment is validated, and every kwargs entry must name one of the networks)
        c.model.network_kwargs = {k: v for k, v in c.model.network_kwargs.items() if k == c.model.name}
        c.model.networks = {c.model.name: c.model.networks[c.model.name]}
    if c.data.dir is None:
        if c.task == "cifar10" or synthetic:
            c.data.dir = "data/cifar10" if not synthetic else "data"
        else:
            what = {
                "imagenet": "the ImageNet folder holding train/ and val/",
                "coco": "the COCO folder with train2017/, val2017/ and annotations/",
            }[c.task]
            raise UsageError(f"data.dir ({FLAGS['data.dir']}) is required: {what}")
    if c.data.workers is None:
        c.data.workers = default_workers(c.task)
    o, batch = c.optimizer, c.data.batch_size
    if o.base_lr is None:  # a recipe lr that is not scaled with the batch
        rule = f"lr {o.lr:g} given explicitly" if lr_given else f"recipe lr {o.lr:g} (not scaled with the batch)"
    else:
        o.lr, rule = linear_scaled_lr(o.lr if lr_given else None, o.base_lr, o.base_batch, batch)
    return c, rule


def as_pairs(sets) -> list[tuple[str, object]]:
    """``--set`` values: ``'k=v k2=v2'`` (papermill), ``['k=v', ...]`` or ``[(key, value), ...]``."""
    if isinstance(sets, str):
        return parse_sets(sets)
    return [s if isinstance(s, tuple) else parse_set(s) for s in sets or ()]


def resolve(recipe: str | Path, profile: str = "full", sets=(), **shorthands) -> Run:
    """One run of ``recipe`` (file, shipped name or task) with ``profile`` overlaid, then the
    ``shorthands`` (``epochs=3``, ``model='se'``...) and ``sets`` (``'optimizer.lr=0.05'`` strings or
    ``(key, value)`` pairs) applied in that order."""
    pairs = shorthand_sets(shorthands) + as_pairs(sets)
    model = dict(pairs).get("model.name")
    path = recipe_file(recipe, model)
    values = read_recipe(path)
    task = values.get("task")
    if task not in TASKS:
        raise UsageError(f"{shown(path)}: task must be one of {', '.join(TASKS)}, got {task!r}")
    values.setdefault("recipe", path.stem)
    origin = shown(path)
    profile = str(parse_value(profile) or "full")
    if profile != "full":
        profiles = list_profiles(task)
        if profile not in profiles:
            raise UsageError(f"profile={profile!r} is not allowed for {task}; choose one of: {', '.join(profiles)}")
        values = deep_merge(values, read_yaml(CONFIG_ROOT / "profiles" / task / f"{profile}.yaml"))
        origin += f" + profile {profile}"
    if pairs:
        origin += f" + {describe(pairs)}"
    config = validate(Experiment, apply_sets(values, pairs), origin, FLAGS)
    try:
        config, rule = _complete(config, lr_given="optimizer.lr" in dict(pairs))
    except ValidationError as err:  # a completed value out of bounds, reported where it sits
        owners = {section_of(field.annotation)[0]: name for name, field in Experiment.model_fields.items()}
        at = next((name for cls, name in owners.items() if cls is not None and cls.__name__ == err.title), None)
        raise problems(err, origin, Experiment, FLAGS, at=(at,) if at else ()) from None
    run = Run(config, origin, rule)
    check_model(task, run.config.model.arch)
    return run


def plan(recipe: str | Path, profile: str = "full", sets=(), seeds=None, **shorthands) -> list[Run]:
    """Every run a command or notebook asks for, all resolved (and so checked) before any trains.

    ``shorthands['model']`` may name several (``'none,eca'``, a list); ``seeds`` may be a list, a
    papermill string (``'0,1'``, ``'[0, 1]'``), a count (``5`` -> 0..4) or None (the recipe's
    ``seeds``, or the one ``seed`` given).
    """
    from ecalib.params import as_list

    chosen = shorthands.pop("model", None)
    models = as_list(chosen) if chosen is not None else [None]
    if not models:
        raise UsageError("model must name at least one model or attention mechanism")
    runs = []
    for model in models:
        first = resolve(recipe, profile, sets, model=model, **shorthands)
        if seeds is None or seeds == "":
            seed_list = [first.config.seed] if shorthands.get("seed") is not None else first.config.seeds
        elif isinstance(seeds, int) and not isinstance(seeds, bool):
            if seeds < 1:
                raise UsageError(f"seeds={seeds}: give a positive count or a list of seeds")
            seed_list = list(range(seeds))
        else:
            seed_list = [parse_value(s) for s in as_list(seeds)]
        runs += [  # the first resolution serves its own seed; the others are resolved with theirs
            first
            if s == first.config.seed
            else resolve(recipe, profile, sets, model=model, **{**shorthands, "seed": s})
            for s in seed_list
        ]
    return runs
