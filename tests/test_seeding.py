"""Every run seed the schema allows (0 .. 2**63-1) works in every data pipeline; small seeds keep their order."""

import pytest
import torch

from ecalib.data import (
    DeviceBatches,
    LoaderBatches,
    SeededImageFolder,
    load_cifar10,
    split_dir,
    write_synthetic_imagefolder,
)
from ecalib.data.imagefolder import train_transform
from ecalib.data.seeding import order_seed, sample_seed
from ecalib.detection.coco_data import DetectionBatches, SeededCoco, coco_split
from ecalib.detection.synthetic_coco import write_synthetic_coco

BIG = (2**63 - 1, 2**62 + 12345)
CPU = torch.device("cpu")


def test_small_seeds_mix_as_before_and_large_ones_stay_in_torchs_range():
    for seed in (0, 1, 7, 123_456_789, 2**40):
        for epoch in (0, 3, 99):
            assert order_seed(seed, epoch) == seed * 1_000_003 + epoch  # the formula runs were made with
            assert sample_seed(seed, epoch, 17) == seed * 1_000_003 + epoch * 2_000_029 + 17
    with pytest.raises((RuntimeError, ValueError)):  # what the unfolded value did
        torch.manual_seed(BIG[0] * 1_000_003 + 1)
    for seed in BIG:
        torch.Generator().manual_seed(order_seed(seed, 99))
        torch.manual_seed(sample_seed(seed, 99, 10**6))


def test_cifar_batches_take_the_largest_seeds(tmp_path):
    train, _ = load_cifar10(tmp_path, "synthetic", synthetic_kwargs={"n_train": 50, "n_test": 10})

    def first_labels(seed):
        batches = DeviceBatches(train, 8, (0.5,) * 3, (0.25,) * 3, CPU, train=True, seed=seed)
        return torch.cat([y for _, y in batches.epoch(1)]).tolist()

    orders = [first_labels(s) for s in BIG]
    assert all(sorted(o) == sorted(train.labels.tolist()) for o in orders) and orders[0] != orders[1]


def test_imagefolder_and_coco_loaders_take_the_largest_seeds(tmp_path):
    root = write_synthetic_imagefolder(tmp_path / "inet", num_classes=2, train_per_class=4, val_per_class=2)
    crops = []
    for seed in BIG:
        folder = SeededImageFolder(split_dir(root, "train"), train_transform(32), seed)
        crops.append(folder[(1, 0)][0])
        batches = LoaderBatches(folder, 4, (0.5,) * 3, (0.25,) * 3, CPU, train=True, workers=0, seed=seed)
        assert sum(len(y) for _, y in batches.epoch(1)) == 8
    assert not torch.equal(crops[0], crops[1])
    coco = write_synthetic_coco(tmp_path / "coco", train_images=4, val_images=2, size=64)
    for seed in BIG:
        scenes = SeededCoco(*coco_split(coco, "train"), train=True, seed=seed)
        batches = DetectionBatches(scenes, 2, CPU, train=True, workers=0, seed=seed)
        assert sum(len(images) for images, _ in batches.epoch(1)) == len(scenes)


@pytest.mark.slow
def test_the_largest_seed_trains_from_the_command_line(tmp_path, capsys):
    import json

    from ecalib.cli import main

    argv = ["train", "cifar10", "--profile", "smoke", "--epochs", "1", "--seed", str(2**63 - 1), "--no-progress"]
    argv += ["--data-dir", str(tmp_path / "data"), "--results-dir", str(tmp_path / "runs"), "--wandb-mode", "disabled"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["epoch"] == 1 and f"seed{2**63 - 1}-" in summary["run_dir"]
