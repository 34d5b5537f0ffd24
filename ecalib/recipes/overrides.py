"""One way to change a recipe: ``key=value`` on a schema key, with named shorthands for the common ones.

``--set optimizer.lr=0.05`` (command line), ``overrides="optimizer.lr=0.05"`` (papermill) and the
shorthands (``--lr 0.05`` on the command line, ``-p lr 0.05`` in papermill, ``lr: {values: [...]}``
in a sweep file, ``--lr=0.05`` from a W&B agent's ``${args}``) all become the same ``(key, value)``
pairs, applied in order onto the recipe before it is validated.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from ecalib.errors import UsageError
from ecalib.limits import MAX_QUOTED, quoted
from ecalib.recipes.schema import Experiment
from ecalib.recipes.yamlfile import load_yaml
from ecalib.validation import allowed_keys, section_of


@dataclass(frozen=True)
class Shorthand:
    name: str  # as a notebook parameter / sweep parameter; the flag is --name-with-dashes
    key: str  # the schema key it sets
    help: str
    aliases: tuple[str, ...] = ()  # other names (the reproduction's sweep passes --att and --batch_size)

    @property
    def flags(self) -> list[str]:
        """``--batch-size``, the aliases, and the names as W&B's ``${args}`` spells them (``--batch_size``)."""
        names = (self.name, *self.aliases)
        return list(dict.fromkeys([f"--{n.replace('_', '-')}" for n in names] + [f"--{n}" for n in names]))


SHORTHANDS = (
    Shorthand(
        "model",
        "model.name",
        "what to train: an attention mechanism (CIFAR-10: none, se, cbam, triplet, eca) "
        "or a registered model (ImageNet; COCO: the backbone)",
        aliases=("att", "backbone"),
    ),
    Shorthand("seed", "seed", "random seed (0 .. 2**63-1; default: the recipe's first)"),
    Shorthand("epochs", "schedule.epochs", "number of epochs"),
    Shorthand(
        "batch_size",
        "data.batch_size",
        "global batch over all processes (a recipe with base_lr scales its lr linearly)",
    ),
    Shorthand("lr", "optimizer.lr", "learning rate (default: the recipe's, or its base_lr scaled to the batch)"),
    Shorthand("optimizer", "optimizer.name", "sgd or adam"),
    Shorthand("data", "data.source", "the task's real data set, or synthetic (generated, for pipeline checks)"),
    Shorthand(
        "data_dir",
        "data.dir",
        "data folder (CIFAR-10: holds cifar-10-batches-py; synthetic: base of a folder per generated set)",
    ),
    Shorthand("download", "data.download", "download CIFAR-10 into the data folder when missing"),
    Shorthand("workers", "data.workers", "data loader processes per training process"),
    Shorthand("k_size", "model.k_size", "ECA kernels per stage, e.g. 3557 (default: the variant's)"),
    Shorthand("backbone_weights", "detector.backbone_weights", "official ImageNet .pth.tar or a converted backbone"),
    Shorthand("mmdet_config", "detector.mmdet_config", "MMDetection config file (relative to configs/ or a path)"),
    Shorthand("device", "device", "where to run: auto (CUDA when available), cpu or cuda"),
    Shorthand("amp", "precision.amp", "mixed precision: none (fp32), bf16 or fp16 (fp16 needs CUDA)"),
    Shorthand("channels_last", "precision.channels_last", "NHWC memory layout (faster convolutions on GPUs)"),
    Shorthand("compile", "precision.compile", "torch.compile the model"),
    Shorthand("checkpoint_every", "logging.checkpoint_every", "write the resumable checkpoint every N epochs"),
    Shorthand("wandb_mode", "logging.wandb_mode", "Weights & Biases: offline (local files), online or disabled"),
)
BY_NAME = {n: s for s in SHORTHANDS for n in (s.name, *s.aliases)}
SWITCHES = ("download", "channels_last", "compile")  # flags without a value on the command line
FLAGS = {s.key: f"--{s.name.replace('_', '-')}" for s in SHORTHANDS}  # schema key -> flag, for messages


def parse_value(text):
    """A value as the user typed it: YAML (``0.05``, ``true``, ``[30, 60]``, ``null``), and the numbers
    YAML leaves as text (``1e-3``, ``inf``, ``nan``); anything else stays a string."""
    if not isinstance(text, str):
        return text
    try:
        value = load_yaml(text, "value")
    except UsageError:
        return text
    if isinstance(value, str):
        for number in (int, float):
            try:
                return number(value)
            except ValueError:
                pass
    return value


def check_key(key: str, schema: type[BaseModel] = Experiment) -> None:
    """Refuse a key the schema does not have, listing the keys allowed where it went wrong."""
    model, where = schema, ()
    parts = iter(key.split("."))
    for part in parts:
        if part not in model.model_fields:
            place = ".".join(where) or "the top level"
            raise UsageError(f"unknown key {key!r}; allowed at {place}: {', '.join(model.model_fields)}")
        section, entries = section_of(model.model_fields[part].annotation)
        if section is None:  # a value or a mapping of values: deeper keys are its own
            return
        where = (*where, part, *([next(parts, "")] if entries else []))  # an entry's name is free
        model = section


def parse_set(item: str, schema: type[BaseModel] = Experiment) -> tuple[str, object]:
    """``'optimizer.lr=0.05'`` -> ``('optimizer.lr', 0.05)``, the key checked against the schema."""
    key, sep, text = item.partition("=")
    key = key.strip().removeprefix("--")
    if not sep or not key:
        raise UsageError(f"--set takes KEY=VALUE (e.g. optimizer.lr=0.05), got {item!r}")
    check_key(key, schema)
    value = parse_value(text.strip())
    path = tuple(key.split("."))
    section = allowed_keys(schema, path)
    if section != allowed_keys(schema, path[:-1]) and not isinstance(value, dict | None):
        raise UsageError(
            f"--set {key}: {key} is a section of settings ({', '.join(section)}), not a value (given "
            f"{quoted(value)}); set one of its keys, e.g. --set {key}.{section[0]}=VALUE"
        )
    return key, value


def parse_sets(items, schema: type[BaseModel] = Experiment) -> list[tuple[str, object]]:
    """A list of ``KEY=VALUE`` strings (or one string of them separated by spaces, as papermill passes it)."""
    if isinstance(items, str):
        items = items.split()
    return [parse_set(item, schema) for item in items or ()]


def shorthand_sets(values: dict) -> list[tuple[str, object]]:
    """``{shorthand name: value}`` (None: not given) -> ``(key, value)`` pairs; unknown names are refused."""
    pairs = []
    for name, value in values.items():
        if name not in BY_NAME:
            raise UsageError(f"unknown setting {name!r}; known: {', '.join(BY_NAME)}")
        if value is not None:
            pairs.append((BY_NAME[name].key, parse_value(value)))
    return pairs


def shorthands_of(namespace: dict, names) -> dict:
    """The values in ``namespace`` (a notebook's ``globals()``) of those ``names`` (its parameters) that
    are shorthands, e.g. ``epochs`` and ``lr``: papermill's ``-p lr 0.05`` means ``ecalib train --lr 0.05``."""
    return {name: namespace[name] for name in names if name in BY_NAME}


def apply_sets(values: dict, pairs: list[tuple[str, object]]) -> dict:
    """A copy of the nested ``values`` with every ``(dotted key, value)`` applied in order."""
    import copy

    out = copy.deepcopy(values)
    for key, value in pairs:
        *parents, last = key.split(".")
        node = out
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[last] = value
    return out


def describe(pairs: list[tuple[str, object]]) -> str:
    """The overrides as typed (each value shortened to ``MAX_QUOTED`` characters: messages stay short)."""
    return " ".join(f"{k}={v}" if len(str(v)) <= MAX_QUOTED else f"{k}={str(v)[:MAX_QUOTED]}..." for k, v in pairs)
