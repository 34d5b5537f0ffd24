"""The CIFAR-10 attention study (RC2020's comparison: their train_cifar.py), as protocols x profiles.

Protocols fix the experiment: ``rc2020`` is the reproduction's train_cifar.py exactly (an
ImageNet-stem ResNet-18 on 32x32 images, 50 epochs, MultiStepLR milestones that are never
reached); ``standard`` is a conventional CIFAR recipe (CIFAR stem, 200 epochs, cosine);
``rc2020_sweep`` is the model and budget of the reproduction's W&B sweep (CIFAR ResNet-20, 10
epochs). Profiles scale a protocol: ``full`` runs it as written, ``smoke`` shrinks it to a
few hundred synthetic images and 2 epochs so that it runs on a CPU in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ecalib.data import DATA_SOURCES, DeviceBatches, load_cifar10
from ecalib.engine import DistInfo, TrainConfig, Trainer, TrainResult, init_distributed, resolve_device
from ecalib.engine.config import data_seed
from ecalib.engine.distributed import barrier
from ecalib.engine.identity import run_name
from ecalib.engine.results import DEFAULT_RESULTS_DIR, completed_run
from ecalib.errors import UsageError
from ecalib.models.registry import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD
from ecalib.params import check_choice

ATTENTIONS = ("none", "se", "cbam", "triplet", "eca")
PROTOCOLS = {
    "rc2020": dict(
        epochs=50,
        batch_size=128,
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        schedule="multistep",
        milestones=[100, 150],
        gamma=0.1,
        mean=list(IMAGENET_MEAN),
        std=list(IMAGENET_STD),
        seeds=[0, 1, 2, 3, 4],
        cbam_spatial_kernel=3,
    ),
    "standard": dict(
        epochs=200,
        batch_size=128,
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        schedule="cosine",
        milestones=[],
        gamma=0.1,
        mean=list(CIFAR10_MEAN),
        std=list(CIFAR10_STD),
        seeds=[0],
        cbam_spatial_kernel=7,
    ),
    "rc2020_sweep": dict(
        epochs=10,
        batch_size=128,
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        schedule="multistep",
        milestones=[100, 150],
        gamma=0.1,
        mean=list(IMAGENET_MEAN),
        std=list(IMAGENET_STD),
        seeds=[0],
        cbam_spatial_kernel=3,
    ),
}
PROFILES = {
    "full": {},
    "smoke": dict(data="synthetic", epochs=2, batch_size=64, seeds=[0], synthetic=dict(n_train=320, n_test=160)),
}
DEFAULT_DATA_DIR = {"cifar10": "data/cifar10", "synthetic": "data"}  # synthetic: base of one folder per spec


def model_name(protocol: str, attention: str) -> str:
    """The registered network a protocol trains for one attention mechanism."""
    prefix = "" if attention == "none" else f"{attention}_"
    if protocol == "rc2020":  # torchvision-style ResNet-18; ECA by the adaptive rule -> k = 3, 5, 5, 5
        return "eca_resnet18_adaptive" if attention == "eca" else f"{prefix}resnet18"
    if protocol == "rc2020_sweep":
        return f"{prefix}resnet20_cifar"
    return f"{prefix}resnet18_cifar"


@dataclass
class CifarRun:
    """One run of the study: the training config plus where its data comes from."""

    attention: str
    protocol: str
    profile: str
    train: TrainConfig
    data: str
    data_dir: str
    download: bool = False
    synthetic: dict = field(default_factory=dict)

    def identity(self) -> dict:
        """Every setting that changes the result (the data folder does not; see ecalib.engine.identity)."""
        return {
            "task": "cifar10",
            "protocol": self.protocol,
            "profile": self.profile,
            "attention": self.attention,
            "data": self.data,
            "synthetic": self.synthetic,
            "config": self.train.to_dict(),
        }

    @property
    def name(self) -> str:
        """``cifar10-[<profile>-]<protocol>-<attention>-seed<k>-<run id>`` (profile omitted when ``full``)."""
        profile = None if self.profile == "full" else self.profile
        return run_name(self.identity(), "cifar10", profile, self.protocol, self.attention, f"seed{self.train.seed}")


def make_run(
    attention: str,
    protocol: str = "rc2020",
    profile: str = "full",
    seed: int | None = None,
    data: str | None = None,
    data_dir: str | None = None,
    download: bool = False,
    **overrides,
) -> CifarRun:
    """A run of ``protocol`` for one attention mechanism; ``overrides`` change TrainConfig fields
    (``epochs``, ``batch_size``, ``lr``, ``optimizer``, ``device``, ``amp``, ``wandb_mode``...)."""
    check_choice("model", str(attention).lower(), ATTENTIONS)
    check_choice("protocol", protocol, PROTOCOLS)
    check_choice("profile", profile, PROFILES)
    attention = str(attention).lower()
    settings = {**PROTOCOLS[protocol], **PROFILES[profile]}
    data = data or settings.pop("data", "cifar10")
    settings.pop("data", None)
    check_choice("data", data, DATA_SOURCES)
    synthetic = settings.pop("synthetic", {"n_train": 5000, "n_test": 1000})
    seeds = settings.pop("seeds")
    spatial = settings.pop("cbam_spatial_kernel")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    model_kwargs = {"attn_kwargs": {"spatial_kernel": spatial}} if attention == "cbam" else {}
    cfg = TrainConfig.from_dict(
        {
            **settings,
            "model": model_name(protocol, attention),
            "num_classes": 10,
            "model_kwargs": model_kwargs,
            "seed": seeds[0] if seed is None else int(seed),
            **overrides,
        }
    )
    return CifarRun(
        attention,
        protocol,
        profile,
        cfg,
        data,
        data_dir or DEFAULT_DATA_DIR[data],
        download,
        synthetic if data == "synthetic" else {},
    )


def protocol_seeds(protocol: str, profile: str = "full") -> list[int]:
    check_choice("protocol", protocol, PROTOCOLS)
    check_choice("profile", profile, PROFILES)
    return list(PROFILES[profile].get("seeds", PROTOCOLS[protocol]["seeds"]))


def plan_runs(model="eca", protocol="rc2020", profile="full", seeds=None, **kwargs) -> list[CifarRun]:
    """Every run a notebook or CLI call asks for: mechanisms x seeds, all validated before any training.

    ``model`` and ``seeds`` may be lists or papermill strings (``'none,eca'``, ``'[0, 1]'``); ``seeds``
    may also be a count (``5`` -> seeds 0..4); ``None`` takes the protocol's (or profile's) seeds.
    """
    from ecalib.params import as_list

    mechanisms = as_list(model)
    if not mechanisms:
        raise UsageError(f"model must name at least one of: {', '.join(ATTENTIONS)}")
    if seeds is None or seeds == "":
        seed_list = protocol_seeds(protocol, profile)
    elif isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise UsageError(f"seeds={seeds}: give a positive count or a list of seeds")
        seed_list = list(range(seeds))
    else:
        seed_list = [int(s) for s in as_list(seeds)]
    return [make_run(m, protocol, profile, seed=s, **kwargs) for m in mechanisms for s in seed_list]


def prepare_data(runs: list[CifarRun], ways_out: str = "python") -> None:
    """Make sure the real CIFAR-10 of every run is there before any training starts: downloaded when
    missing and the run allows it, else one UsageError naming the folder and both ways out (a
    download, or the generated data of the smoke profile), spelled for ``ways_out`` (a key of
    ``ecalib.data.cifar.WAYS_OUT``). Synthetic runs generate their data when they start."""
    from ecalib.data.cifar import ensure_cifar10

    for data_dir, download in dict.fromkeys((r.data_dir, r.download) for r in runs if r.data == "cifar10"):
        ensure_cifar10(data_dir, download, ways_out)


def run_dir_for(run: CifarRun, results_dir: str | Path = DEFAULT_RESULTS_DIR) -> Path:
    return Path(results_dir) / "cifar10" / run.name


def train(
    run: CifarRun,
    results_dir: str | Path = DEFAULT_RESULTS_DIR,
    resume: bool = True,
    skip_complete: bool = True,
    progress: bool = True,
    verbose: bool = True,
    wandb_group: str | None = None,
    run_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Train one run into ``results_dir/cifar10/<run.name>`` (or ``run_dir``), skipped when complete.

    ``resume_from`` (an earlier run's folder or checkpoint) starts this run from there: the way to
    continue a run with more epochs or another lr, in the new settings' own folder.
    """
    path = Path(run_dir) if run_dir is not None else run_dir_for(run, results_dir)
    if skip_complete and (done := completed_run(path, run.identity(), verbose)):
        return done
    dist = init_distributed(resolve_device(run.train.device))
    if dist.is_main:  # generate or download once, before the other ranks read
        load_cifar10(run.data_dir, run.data, run.download, run.synthetic or None)
    barrier(dist)
    train_set, test_set = load_cifar10(run.data_dir, run.data, False, run.synthetic or None)

    def make_batches(cfg: TrainConfig, device: torch.device, dist: DistInfo):
        common = dict(
            batch_size=cfg.batch_size // dist.world_size,
            mean=cfg.mean,
            std=cfg.std,
            device=device,
            channels_last=cfg.channels_last,
            rank=dist.rank,
            world_size=dist.world_size,
        )
        return (
            DeviceBatches(
                train_set, train=True, pad=cfg.crop_padding, flip=cfg.flip, seed=data_seed(cfg.seed), **common
            ),
            DeviceBatches(test_set, **common),
        )

    info = {
        "task": "cifar10",
        "attention": run.attention,
        "protocol": run.protocol,
        "profile": run.profile,
        "data_source": train_set.source | {"n_test": len(test_set)},
    }
    trainer = Trainer(
        run.train,
        make_batches,
        path,
        info,
        wandb_project="ecalib-cifar10",
        wandb_group=wandb_group or f"{run.profile}-{run.protocol}",
        progress=progress,
        verbose=verbose,
        identity=run.identity(),
    )
    return trainer.fit(resume=resume, resume_from=resume_from)
