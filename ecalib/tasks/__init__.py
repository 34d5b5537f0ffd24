"""Experiments built from the library: each task turns a resolved recipe into training runs and result folders.

>>> from ecalib.recipes import resolve
>>> from ecalib.tasks import train
>>> result = train(resolve("cifar10", "smoke", model="eca"))  # doctest: +SKIP
"""

from ecalib.tasks.base import Task, prepare_data, run_dir_for, train
from ecalib.tasks.cifar10 import TASK as CIFAR10
from ecalib.tasks.coco import TASK as COCO
from ecalib.tasks.imagenet import TASK as IMAGENET

TASKS: dict[str, Task] = {"cifar10": CIFAR10, "imagenet": IMAGENET, "coco": COCO}

__all__ = ["TASKS", "Task", "prepare_data", "run_dir_for", "train"]
