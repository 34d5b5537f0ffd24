"""The seeds of the data pipelines: one mixing rule, kept inside the range torch accepts for any run seed.

A run's seed may be anything from 0 to 2**63-1; mixed with the epoch and the sample index it can
exceed what ``torch.manual_seed`` takes, so the mixed value is folded modulo 2**63-1. Below that
bound nothing changes, so runs with the seeds used so far see the same data order as before.
"""

from __future__ import annotations

SEED_RANGE = 2**63 - 1


def order_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's order and augmentation draws (CIFAR-10 on the device)."""
    return (seed * 1_000_003 + epoch) % SEED_RANGE


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one sample's augmentation in one epoch (ImageFolder, COCO)."""
    return (seed * 1_000_003 + epoch * 2_000_029 + index) % SEED_RANGE
