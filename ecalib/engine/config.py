"""Hyper-parameters of a training run: one flat, JSON-serialisable record, validated up front."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import asdict, dataclass, field

from ecalib.devices import DEVICES
from ecalib.errors import UsageError
from ecalib.limits import MAX_EPOCHS, MAX_LR, MAX_SEED

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("multistep", "cosine", "constant", "exponential")
AMP_MODES = ("none", "bf16", "fp16")
WANDB_MODES = ("offline", "online", "disabled")
BOOL_FIELDS = ("nesterov", "flip", "channels_last", "compile")


def _flag(name: str) -> str:
    """How the command line spells a field (``batch_size`` -> ``--batch-size``)."""
    return "--" + name.replace("_", "-")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


# Fields that may change when a run is resumed; the new values are applied and logged.
RESUMABLE_CHANGES = (
    "epochs",
    "lr",
    "momentum",
    "weight_decay",
    "schedule",
    "milestones",
    "gamma",
    "checkpoint_every",
    "device",
    "amp",
    "channels_last",
    "compile",
    "batch_size",
    "wandb_mode",
    "warmup_iters",
    "warmup_ratio",
)


@dataclass
class TrainConfig:
    """Everything that defines a classification training run (recorded in ``params.json``)."""

    model: str
    num_classes: int
    epochs: int
    batch_size: int
    lr: float
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    nesterov: bool = False
    schedule: str = "multistep"
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    seed: int = 0
    model_kwargs: dict = field(default_factory=dict)
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    crop_padding: int = 4
    flip: bool = True
    device: str = "auto"
    amp: str = "none"
    channels_last: bool = False
    compile: bool = False
    checkpoint_every: int = 1
    wandb_mode: str = "offline"
    warmup_iters: int = 0  # linear warm-up of the lr over the first iterations (detection recipes)
    warmup_ratio: float = 0.001  # lr factor at iteration 0 of the warm-up

    def __post_init__(self):
        for name in ("milestones", "mean", "std"):
            values = getattr(self, name)
            if not isinstance(values, list | tuple) or not all(_is_real(v) for v in values):
                raise UsageError(f"{name} must be a list of finite numbers, got {values!r}")
        self.milestones = [int(m) for m in self.milestones]
        self.mean, self.std = [float(v) for v in self.mean], [float(v) for v in self.std]
        self.validate()

    def validate(self) -> None:
        for name, value, allowed in (
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("schedule", self.schedule, SCHEDULES),
            ("amp", self.amp, AMP_MODES),
            ("device", self.device, DEVICES),
            ("wandb_mode", self.wandb_mode, WANDB_MODES),
        ):
            if value not in allowed:
                raise UsageError(f"{name}={value!r} is not allowed; choose one of: {', '.join(allowed)}")
        for name in ("epochs", "batch_size", "checkpoint_every", "num_classes"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise UsageError(f"{name} ({_flag(name)}) must be a positive integer, got {value!r}")
        if self.epochs > MAX_EPOCHS:
            raise UsageError(f"epochs (--epochs) must be at most {MAX_EPOCHS}, got {self.epochs}")
        if not _is_int(self.seed) or not 0 <= self.seed <= MAX_SEED:
            raise UsageError(f"seed (--seed) must be an integer from 0 to 2**63-1, got {self.seed!r}")
        if not _is_real(self.lr) or not 0 < self.lr <= MAX_LR:
            raise UsageError(f"lr (--lr) must be a finite number in (0, {MAX_LR:g}], got {self.lr!r}")
        for name in ("momentum", "weight_decay", "gamma", "warmup_ratio"):
            if not _is_real(getattr(self, name)):
                raise UsageError(f"{name} must be a finite number, got {getattr(self, name)!r}")
        for name in ("warmup_iters", "crop_padding"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 0:
                raise UsageError(f"{name} must be an integer >= 0, got {getattr(self, name)!r}")
        for name in BOOL_FIELDS:
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.model_kwargs, dict):
            raise UsageError(f"model_kwargs must be a mapping, got {self.model_kwargs!r}")
        if not 0 < self.warmup_ratio <= 1:
            raise UsageError(f"warmup_ratio must be in (0, 1], got {self.warmup_ratio}")
        if self.weight_decay < 0 or self.momentum < 0 or self.gamma <= 0:
            raise UsageError("weight_decay and momentum must be >= 0 and gamma > 0")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise UsageError(f"mean and std need three values (std > 0), got {self.mean}, {self.std}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(f"unknown training parameters {unknown}; known: {', '.join(sorted(known))}")
        return cls(**values)


def config_changes(old: dict, new: dict) -> dict[str, tuple]:
    """Fields whose values differ between two config dicts: ``{name: (old, new)}``."""
    return {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}
