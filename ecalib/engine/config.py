"""Hyper-parameters of a training run: one flat, JSON-serialisable record, validated up front."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field

from ecalib.errors import UsageError

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("multistep", "cosine", "constant", "exponential")
AMP_MODES = ("none", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")
WANDB_MODES = ("offline", "online", "disabled")

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
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise UsageError(f"lr must be a positive number, got {self.lr!r}")
        if self.warmup_iters < 0 or not 0 < self.warmup_ratio <= 1:
            raise UsageError(
                f"warmup_iters must be >= 0 and 0 < warmup_ratio <= 1, got {self.warmup_iters}, {self.warmup_ratio}"
            )
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
