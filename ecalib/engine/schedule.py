"""Learning rate as a pure function of the epoch, so that a resumed run applies the lr it is given.

Equivalent to torch's MultiStepLR, CosineAnnealingLR (eta_min 0, T_max = epochs) and
ExponentialLR stepped once per epoch (tests compare against them), but recomputed from the
configuration at every epoch instead of restored from a saved scheduler state: RC2020's
resumed Mask R-CNN run kept its old lr because the scheduler state won over the new config.
"""

from __future__ import annotations

import math

from ecalib.engine.config import TrainConfig
from ecalib.errors import UsageError


def lr_at(epoch: int, cfg: TrainConfig) -> float:
    """Learning rate for (0-based) ``epoch``."""
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "multistep":
        return cfg.lr * cfg.gamma ** sum(epoch >= m for m in cfg.milestones)
    if cfg.schedule == "exponential":
        return cfg.lr * cfg.gamma**epoch
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * epoch / cfg.epochs))
    raise UsageError(f"unknown schedule {cfg.schedule!r}")


def warmup_factor(iteration: int, cfg: TrainConfig) -> float:
    """Linear warm-up (MMDetection's ``linear``): ``warmup_ratio`` at iteration 0 rising to 1."""
    if iteration >= cfg.warmup_iters:
        return 1.0
    return cfg.warmup_ratio + (1 - cfg.warmup_ratio) * iteration / cfg.warmup_iters


def linear_scaled_lr(given_lr: float | None, recipe_lr: float, recipe_batch: int, batch: int) -> tuple[float, str]:
    """The lr to use and why: an explicit lr as given, else the recipe's scaled by batch / recipe batch
    (Goyal et al.'s linear scaling rule)."""
    if given_lr is not None:
        return given_lr, f"lr {given_lr} given explicitly"
    if batch == recipe_batch:
        return recipe_lr, f"recipe lr {recipe_lr} at the recipe batch {recipe_batch}"
    lr = recipe_lr * batch / recipe_batch
    return lr, f"linear scaling: {recipe_lr} x {batch}/{recipe_batch} = {lr:g}"
