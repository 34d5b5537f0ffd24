"""Experiments as files: recipes in ``configs/``, one validated schema, one override syntax.

>>> from ecalib.recipes import resolve
>>> run = resolve("cifar10/rc2020", "smoke", ["optimizer.lr=0.05"], model="se")
>>> run.config.optimizer.lr, run.config.model.arch
(0.05, 'se_resnet18')
"""

from ecalib.recipes.overrides import SHORTHANDS, parse_sets, shorthands_of
from ecalib.recipes.resolve import CONFIG_ROOT, Run, list_profiles, list_recipes, plan, recipe_file, resolve
from ecalib.recipes.schema import Experiment

__all__ = [
    "CONFIG_ROOT",
    "SHORTHANDS",
    "Experiment",
    "Run",
    "list_profiles",
    "list_recipes",
    "parse_sets",
    "plan",
    "recipe_file",
    "resolve",
    "shorthands_of",
]
