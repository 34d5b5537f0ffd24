"""Batches from an in-memory image tensor, augmented on the device that trains.

The whole split lives on the training device as uint8; random crop (zero padding) and
horizontal flip are one gather per batch. The shuffling order and augmentation of epoch ``e``
depend only on ``(seed, e)`` and are drawn on the CPU, so CPU and GPU runs see the same batches
and a resumed run repeats an interrupted epoch exactly. Under torchrun, rank ``r`` of ``w`` takes
samples ``r, r + w, ...`` of the shuffled order (padded to a multiple of ``w`` for training, as
``DistributedSampler`` does), so the ranks' batches together form the single-process batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from ecalib.data.cifar import ImageTensors
from ecalib.data.seeding import order_seed
from ecalib.errors import UsageError


class DeviceBatches:
    def __init__(
        self,
        data: ImageTensors,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device | str = "cpu",
        train: bool = False,
        pad: int = 4,
        flip: bool = True,
        seed: int = 0,
        channels_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ):
        if batch_size < 1:
            raise UsageError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.train = train
        self.pad = pad if train else 0
        self.flip = flip and train
        self.seed = seed
        self.channels_last = channels_last
        self.rank, self.world_size = rank, world_size
        images = data.images.to(self.device)
        self.size = images.shape[-1]
        self.images = torch.nn.functional.pad(images, (self.pad,) * 4) if self.pad else images
        self.labels = data.labels.to(self.device)
        self.channel_index = torch.arange(3, device=self.device)[None, :, None, None]
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1) * 255

    def _indices(self, order: torch.Tensor) -> torch.Tensor:
        """This rank's share of ``order``."""
        if self.world_size == 1:
            return order
        if self.train and len(order) % self.world_size:
            order = torch.cat([order, order[: self.world_size - len(order) % self.world_size]])
        return order[self.rank :: self.world_size]

    @property
    def num_samples(self) -> int:
        return len(self._indices(torch.arange(len(self.labels))))

    def __len__(self) -> int:
        return -(-self.num_samples // self.batch_size)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def epoch(self, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        if not self.train:
            mine = self._indices(torch.arange(n)).to(self.device)
            for start in range(0, len(mine), self.batch_size):
                idx = mine[start : start + self.batch_size]
                yield self._normalise(self.images[idx]), self.labels[idx]
            return
        gen = torch.Generator().manual_seed(order_seed(self.seed, epoch))
        order = torch.randperm(n, generator=gen)
        dx = torch.randint(0, 2 * self.pad + 1, (n,), generator=gen)
        dy = torch.randint(0, 2 * self.pad + 1, (n,), generator=gen)
        flips = torch.rand(n, generator=gen) < 0.5 if self.flip else torch.zeros(n, dtype=torch.bool)
        ar = torch.arange(self.size)
        mine = self._indices(order)
        for start in range(0, len(mine), self.batch_size):
            idx = mine[start : start + self.batch_size]
            rows = dy[idx, None] + ar  # B, S
            cols = torch.where(flips[idx, None], dx[idx, None] + ar.flip(0), dx[idx, None] + ar)
            b = idx.to(self.device)[:, None, None, None]
            x = self.images[
                b, self.channel_index, rows.to(self.device)[:, None, :, None], cols.to(self.device)[:, None, None, :]
            ]
            yield self._normalise(x), self.labels[idx.to(self.device)]
