"""The experiment schema: one validated description of a run, the same for CIFAR-10, ImageNet and COCO.

A recipe file (``configs/<task>/<recipe>.yaml``) fills it in, a profile overlays part of it, and
``--set key=value`` overrides change single values; ``Experiment`` checks every value (types,
ranges, choices, unknown keys) and :func:`ecalib.validation.validate` turns all problems into one
``UsageError`` that lists what is allowed. The fields, their types and defaults are the classes below
(their comments say what each one means); the bounds are the engine's types (:mod:`ecalib.engine.config`),
so each is written once; the recipe files in ``configs/`` fill them in.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator, model_validator

from ecalib.data.images import BAD_IMAGE_POLICIES
from ecalib.devices import DEVICES
from ecalib.engine.config import (
    AMP_MODES,
    OPTIMIZERS,
    SCHEDULES,
    WANDB_MODES,
    Classes,
    Epochs,
    LearningRate,
    NonNegative,
    NonNegativeInt,
    Positive,
    PositiveInt,
    PositiveTriple,
    Seed,
    Triple,
    WarmupRatio,
)
from ecalib.errors import UsageError
from ecalib.limits import MAX_SEED, quoted
from ecalib.paths import NAME, NAME_RULE

TASKS = ("cifar10", "imagenet", "coco")
REAL_DATA = {"cifar10": "cifar10", "imagenet": "imagenet", "coco": "coco"}  # task -> its real data set
# Largest value of each argument of the synthetic data generators (data.synthetic): enough for any
# pipeline check, and at most about 100,000 generated images per split (never gigabytes in memory).
SYNTHETIC_MAX = {
    "n_train": 100_000,  # CIFAR-10 look-alike
    "n_test": 100_000,
    "num_classes": 1000,  # ImageNet look-alike: class folders, images per class, image sides
    "train_per_class": 100,
    "val_per_class": 100,
    "min_size": 1024,
    "max_size": 1024,
    "train_images": 100_000,  # COCO look-alike: images, their side, shapes per image
    "val_images": 100_000,
    "size": 1024,
    "max_shapes": 50,
    "seed": MAX_SEED,
}


def _plain_name(value: str) -> str:
    if not NAME.fullmatch(value) or ".." in value:
        raise ValueError(f"must be {NAME_RULE}")
    return value


PlainName = Annotated[str, AfterValidator(_plain_name)]  # part of a folder name: cannot leave its folder


class Section(BaseModel):
    """Every section refuses keys it does not know and values of the wrong type (no silent coercion)."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True, validate_assignment=True)


class ModelSection(Section):
    # a key of this recipe's `networks` where it has them (CIFAR-10: the attention mechanism), else a registered
    # model (ImageNet: the network; COCO: the backbone); `arch` resolves it, and params.json records it as `network`
    name: str
    networks: dict[str, str] = {}  # attention mechanism -> the registered network it trains (cifar10)
    network_kwargs: dict[str, dict[str, Any]] = {}  # extra create_model arguments per mechanism
    k_size: str | None = None  # ECA kernel per stage, e.g. "3557"; None: the variant's
    num_classes: Classes | None = None  # None: the data's (CIFAR-10 10, ...)

    @field_validator("name", mode="before")
    @classmethod
    def _lower(cls, value):
        return value.lower() if isinstance(value, str) else value  # W&B sweeps pass --att=ECA

    @field_validator("k_size", mode="before")
    @classmethod
    def _k_text(cls, value):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, list) and all(isinstance(k, int) for k in value):
            value = "".join(map(str, value))
        if isinstance(value, str) and not re.fullmatch(r"[1-9]+", value):
            raise ValueError(f"k_size must be odd kernel sizes per stage, like '3557', got {value!r}")
        return value

    @model_validator(mode="after")
    def _kwargs_fit_their_networks(self):
        """Every ``network_kwargs`` entry names a mechanism (or model) and only arguments its network takes:
        checked by building the network on the meta device (no memory), so a typo fails here, not after the
        data was prepared."""
        import torch

        from ecalib.models import create_model, list_models

        for key, kwargs in self.network_kwargs.items():
            network = self.networks.get(key, key if not self.networks else None)
            if network is None or network not in list_models(source=None):
                known = ", ".join(self.networks) or "registered model names"
                raise ValueError(f"network_kwargs has {key!r}, which is not one of: {known}")
            try:
                with torch.device("meta"):
                    create_model(network, num_classes=2, **kwargs)
            except (TypeError, ValueError, UsageError) as err:
                raise ValueError(f"network_kwargs.{key} does not fit {network}: {str(err)[:200]}") from None
        return self

    @property
    def arch(self) -> str:
        """The registered network this section trains."""
        return self.networks.get(self.name, self.name)

    @property
    def kwargs(self) -> dict:
        """``create_model`` arguments besides the name and class count."""
        extra = dict(self.network_kwargs.get(self.name, {}))
        return extra | ({"k_size": self.k_size} if self.k_size is not None else {})


class DataSection(Section):
    source: str  # the task's real data set, or "synthetic" (a generated look-alike in the same format)
    dir: str | None = None  # None: data/cifar10 (CIFAR-10) or data/ (synthetic); ImageNet and COCO need one
    download: bool = False  # CIFAR-10 only: download into `dir` when missing
    workers: NonNegativeInt | None = None  # loader processes per training process; None: up to 8 (ImageNet)
    batch_size: PositiveInt  # global batch over all processes
    synthetic: dict[str, PositiveInt] = {}  # generator spec of the synthetic set (used when source is synthetic)
    bad_images: Literal[BAD_IMAGE_POLICIES] = "refuse"  # unreadable image files: stop, or leave out and count them
    mean: Triple = [0.485, 0.456, 0.406]
    std: PositiveTriple = [0.229, 0.224, 0.225]
    crop_padding: NonNegativeInt = 4  # CIFAR-10: random crop after zero padding
    flip: bool = True  # random horizontal flip
    train_crop: PositiveInt | None = None  # ImageNet: RandomResizedCrop size
    val_resize: PositiveInt | None = None  # ImageNet: evaluation resize, then centre crop val_crop
    val_crop: PositiveInt | None = None

    @field_validator("synthetic")
    @classmethod
    def _bounded(cls, value):
        for key, number in value.items():
            if key not in SYNTHETIC_MAX:
                raise ValueError(f"synthetic has no setting {key!r}; allowed: {', '.join(SYNTHETIC_MAX)}")
            if number > SYNTHETIC_MAX[key]:
                raise ValueError(f"synthetic.{key}={number} is more than the largest allowed, {SYNTHETIC_MAX[key]}")
        return value


class OptimizerSection(Section):
    name: Literal[OPTIMIZERS] = "sgd"
    # lr None: base_lr x batch / base_batch (linear scaling)
    lr: LearningRate | None = None
    base_lr: LearningRate | None = None
    base_batch: PositiveInt | None = None
    momentum: NonNegative = 0.9
    weight_decay: NonNegative = 0.0
    nesterov: bool = False

    @field_validator("name", mode="before")
    @classmethod
    def _lower(cls, value):
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _an_lr(self):
        if self.lr is None and (self.base_lr is None or self.base_batch is None):
            raise ValueError("give optimizer.lr, or optimizer.base_lr and optimizer.base_batch (linear scaling)")
        return self


class ScheduleSection(Section):
    name: Literal[SCHEDULES] = "multistep"
    epochs: Epochs
    milestones: list[NonNegativeInt] = []
    gamma: Positive = 0.1
    warmup_iters: NonNegativeInt = 0  # linear lr warm-up over the first iterations (detection)
    warmup_ratio: WarmupRatio = 0.001  # lr factor at iteration 0 of the warm-up


class PrecisionSection(Section):
    amp: Literal[AMP_MODES] = "none"
    channels_last: bool = False
    compile: bool = False  # torch.compile the model


class LoggingSection(Section):
    checkpoint_every: PositiveInt = 1
    wandb_mode: Literal[WANDB_MODES] = "offline"
    wandb_project: str | None = None  # None: ecalib-<task>


class DetectorSection(Section):
    """Mask R-CNN settings (COCO). Head sizes left at None keep torchvision's (MMDetection's) defaults."""

    min_size: PositiveInt = 800
    max_size: PositiveInt = 1333
    backbone_weights: str | None = None  # official ImageNet .pth.tar or a converted backbone file
    mmdet_config: str | None = None  # MMDetection engine: its config file, relative to configs/
    rpn_pre_nms_top_n_train: PositiveInt | None = None
    rpn_post_nms_top_n_train: PositiveInt | None = None
    rpn_pre_nms_top_n_test: PositiveInt | None = None
    rpn_post_nms_top_n_test: PositiveInt | None = None
    box_batch_size_per_image: PositiveInt | None = None
    box_detections_per_img: PositiveInt | None = None

    def build_kwargs(self) -> dict:
        """``build_eca_maskrcnn`` arguments besides the backbone: sizes and the heads that are set."""
        skip = {"backbone_weights", "mmdet_config"}
        return {k: v for k, v in self.model_dump().items() if k not in skip and v is not None}


class Experiment(Section):
    """One run, fully described: what a recipe file holds after its profile and overrides."""

    task: Literal[TASKS]
    engine: Literal["ecalib", "mmdet"] = "ecalib"  # mmdet: MMDetection's Runner (COCO only)
    recipe: PlainName  # the recipe's name (its file stem), part of the run's folder name
    profile: PlainName = "full"  # the overlay applied (full: none)
    seed: Seed | None = None  # None: the first of `seeds`
    seeds: list[Seed] = [0]  # a study's seeds (one run each)
    device: Literal[DEVICES] = "auto"
    model: ModelSection
    data: DataSection
    optimizer: OptimizerSection
    schedule: ScheduleSection
    precision: PrecisionSection = PrecisionSection()
    logging: LoggingSection = LoggingSection()
    detector: DetectorSection | None = None  # COCO only

    @model_validator(mode="after")
    def _fits_the_task(self):
        allowed = (REAL_DATA[self.task], "synthetic")
        if self.data.source not in allowed:
            raise ValueError(
                f"data.source={quoted(self.data.source)} is not allowed for {self.task}; choose: {', '.join(allowed)}"
            )
        if self.model.networks and self.model.name not in self.model.networks:
            raise ValueError(
                f"model.name={quoted(self.model.name)} is not one of this recipe's: {', '.join(self.model.networks)}"
            )
        if (self.task == "coco") != (self.detector is not None):
            raise ValueError("a detector section belongs to (and is required by) the coco task")
        if self.engine == "mmdet" and self.task != "coco":
            raise ValueError("engine mmdet is for the coco task")
        if not self.seeds:
            raise ValueError("seeds must list at least one seed")
        return self
