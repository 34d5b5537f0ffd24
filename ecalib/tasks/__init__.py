"""Experiments built from the library: each task turns a resolved recipe into training runs and result folders,
and evaluates what was trained or released (:func:`ecalib.tasks.imagenet.evaluate_checkpoint`,
:func:`ecalib.tasks.coco.evaluate`).

>>> from ecalib.recipes import resolve
>>> from ecalib.tasks import train
>>> result = train(resolve("cifar10", "smoke", model="eca"))  # doctest: +SKIP
"""

from ecalib.tasks.base import Task
from ecalib.tasks.training import TASKS, prepare_data, run_dir_for, train

__all__ = ["TASKS", "Task", "prepare_data", "run_dir_for", "train"]
