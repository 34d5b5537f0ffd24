"""Data: CIFAR-10 (real and a synthetic look-alike in the same on-disk format) and on-device batching."""

from ecalib.data.cifar import (
    CLASSES,
    DATA_SOURCES,
    ImageTensors,
    load_cifar10,
    read_cifar10_folder,
    write_synthetic_cifar10,
)
from ecalib.data.device_loader import DeviceBatches
from ecalib.data.imagefolder import LoaderBatches, SeededImageFolder, split_dir, write_synthetic_imagefolder

__all__ = [
    "CLASSES",
    "DATA_SOURCES",
    "DeviceBatches",
    "ImageTensors",
    "LoaderBatches",
    "SeededImageFolder",
    "load_cifar10",
    "read_cifar10_folder",
    "split_dir",
    "write_synthetic_cifar10",
    "write_synthetic_imagefolder",
]
