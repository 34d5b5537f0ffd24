"""The CIFAR-10 attention study (RC2020's comparison), as recipes in ``configs/cifar10/``.

``rc2020`` is the reproduction's train_cifar.py exactly (an ImageNet-stem ResNet-18 on 32x32
images, 50 epochs, MultiStepLR milestones that are never reached); ``standard`` is a conventional
CIFAR recipe (CIFAR stem, 200 epochs, cosine); ``rc2020_sweep`` is the model and budget of the
reproduction's W&B sweep (CIFAR ResNet-20, 10 epochs). The ``smoke`` profile shrinks any of them to
a few hundred synthetic images and 2 epochs, so that it runs on a CPU in seconds.
"""

from __future__ import annotations

from ecalib.data import DeviceBatches, load_cifar10
from ecalib.recipes.resolve import Run
from ecalib.tasks.base import Task

ATTENTIONS = ("none", "se", "cbam", "triplet", "eca")


class Cifar10(Task):
    name = "cifar10"

    def check_data(self, run: Run, ways_out: str = "python") -> None:
        from ecalib.data.cifar import ensure_cifar10

        if run.config.data.source == "cifar10":
            ensure_cifar10(run.config.data.dir, run.config.data.download, ways_out)

    def prepare(self, run: Run) -> None:
        self.datasets(run, download=run.config.data.download)

    def datasets(self, run: Run, download: bool = False) -> tuple:
        d = run.config.data
        return load_cifar10(d.dir, d.source, download, d.synthetic or None)

    def batches(self, run, cfg, sets, device, dist):
        train_set, test_set = sets
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
            DeviceBatches(train_set, train=True, pad=cfg.crop_padding, flip=cfg.flip, seed=cfg.seed, **common),
            DeviceBatches(test_set, **common),
        )

    def data_source(self, run, sets) -> dict:
        train_set, test_set = sets
        return train_set.source | {"n_test": len(test_set)}

    def run_info(self, run, sets) -> dict:
        return {"attention": run.config.model.name, "protocol": run.config.recipe}


TASK = Cifar10()
