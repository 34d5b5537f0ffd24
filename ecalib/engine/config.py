"""Hyper-parameters of a training run: one flat, JSON-serialisable record, and the rules of its values.

The rules are written once, here, as constrained types; the experiment schema
(:mod:`ecalib.recipes.schema`) builds its sections from the same types, so a recipe, an override and a
``TrainConfig`` made in Python are held to the same bounds by the same validator (pydantic).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ecalib.devices import DEVICES
from ecalib.limits import MAX_CLASSES, MAX_EPOCHS, MAX_LR, MAX_SEED
from ecalib.validation import problems

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("multistep", "cosine", "constant", "exponential")
AMP_MODES = ("none", "bf16", "fp16")
WANDB_MODES = ("offline", "online", "disabled")

#: An integer >= 1.
PositiveInt = Annotated[int, Field(ge=1)]
#: An integer >= 0.
NonNegativeInt = Annotated[int, Field(ge=0)]
#: A finite number.
Finite = Annotated[float, Field(allow_inf_nan=False)]
#: A finite number >= 0.
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
#: A finite number > 0.
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
#: Three finite numbers (a per-channel mean).
Triple = Annotated[list[Finite], Field(min_length=3, max_length=3)]
#: Three finite numbers > 0 (a per-channel standard deviation).
PositiveTriple = Annotated[list[Positive], Field(min_length=3, max_length=3)]
#: A class count, 1 to ``MAX_CLASSES``.
Classes = Annotated[int, Field(ge=1, le=MAX_CLASSES)]
#: Epochs, 1 to ``MAX_EPOCHS``.
Epochs = Annotated[int, Field(ge=1, le=MAX_EPOCHS)]
#: A seed, 0 to ``MAX_SEED`` (torch's generator takes 64 bits).
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
#: A learning rate in (0, ``MAX_LR``].
LearningRate = Annotated[float, Field(gt=0, le=MAX_LR, allow_inf_nan=False)]
#: The lr factor at iteration 0 of a linear warm-up, in (0, 1].
WarmupRatio = Annotated[float, Field(gt=0, le=1)]

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


class TrainConfig(BaseModel):
    """Everything the engine needs to train a run (stored in its checkpoints).

    A recipe's run derives it from the validated experiment (:meth:`ecalib.recipes.resolve.Run.train_config`);
    made directly in Python, it is checked by the same rules and a bad value raises one ``UsageError``.
    """

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True, protected_namespaces=())

    model: str
    num_classes: Classes
    epochs: Epochs
    batch_size: PositiveInt
    lr: LearningRate
    optimizer: Literal[OPTIMIZERS] = "sgd"
    momentum: NonNegative = 0.9
    weight_decay: NonNegative = 0.0
    nesterov: bool = False
    schedule: Literal[SCHEDULES] = "multistep"
    milestones: list[NonNegativeInt] = []
    gamma: Positive = 0.1
    seed: Seed = 0
    model_kwargs: dict[str, Any] = {}
    mean: Triple = [0.485, 0.456, 0.406]
    std: PositiveTriple = [0.229, 0.224, 0.225]
    crop_padding: NonNegativeInt = 4
    flip: bool = True
    device: Literal[DEVICES] = "auto"
    amp: Literal[AMP_MODES] = "none"
    channels_last: bool = False
    compile: bool = False
    checkpoint_every: PositiveInt = 1
    wandb_mode: Literal[WANDB_MODES] = "offline"
    warmup_iters: NonNegativeInt = 0  # linear warm-up of the lr over the first iterations (detection recipes)
    warmup_ratio: WarmupRatio = 0.001

    def __init__(self, **values):
        try:
            super().__init__(**values)
        except ValidationError as err:
            raise problems(err, "TrainConfig", type(self)) from None

    @field_validator("milestones", "mean", "std", mode="before")
    @classmethod
    def _tuples_are_lists(cls, value):
        return list(value) if isinstance(value, tuple) else value

    def to_dict(self) -> dict:
        return self.model_dump()


def config_changes(old: dict, new: dict) -> dict[str, tuple]:
    """Fields whose values differ between two config dicts: ``{name: (old, new)}``."""
    return {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}
