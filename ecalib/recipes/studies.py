"""Studies: the sets of runs that test one of the paper's ablations, each a recipe times models, kernels and seeds.

``ecalib study NAME`` trains every run of a study (and ``--dry-run`` lists them); each run is an ordinary
``ecalib train`` run with its own result folder, so a study can be stopped and resumed run by run, and its
folders, committed under ``results/``, are read by the claims ledger (:mod:`ecalib.reports.claims`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ecalib.errors import UsageError
from ecalib.layers import ABLATION_TYPES


@dataclass(frozen=True)
class Study:
    """One study: the runs of ``recipe`` for every model (or CIFAR-10 mechanism) and ECA kernel setting."""

    name: str
    reproduces: str  # what of the paper it tests
    recipe: str  # a shipped recipe, configs/<task>/<name>.yaml
    models: tuple[str, ...]  # registered models (ImageNet) or mechanisms of the recipe (CIFAR-10)
    k_sizes: tuple[str | None, ...] = (None,)  # ECA kernels per stage; None: the model's own
    needs: str = ""  # the data and hardware it needs

    @property
    def task(self) -> str:
        return self.recipe.split("/")[0]

    def runs(self, profile: str = "full", sets=(), seeds=None, **shorthands) -> list:
        """Every run of the study, resolved (and so checked) before any trains (:func:`ecalib.recipes.resolve.plan`)."""
        from ecalib.recipes.resolve import plan

        return [
            run
            for k in self.k_sizes
            for run in plan(
                self.recipe,
                profile,
                sets,
                seeds=seeds,
                model=",".join(self.models),
                **({"k_size": k} if k else {}),
                **shorthands,
            )
        ]

    def command(self) -> str:
        """The command that trains the whole study (ImageNet needs ``--data-dir``)."""
        data = " --data-dir /data/imagenet" if self.task == "imagenet" else ""
        return f"ecalib study {self.name}{data}"


IMAGENET_DATA = "ImageNet-1k (train and val), one GPU or many (torchrun)"
CIFAR_DATA = "CIFAR-10 (downloaded when missing), one GPU"
TABLE2_RESNET50 = ("resnet50", "se_resnet50", *(f"{a}_resnet50" for a in ABLATION_TYPES), "eca_resnet50_adaptive")
TABLE2_CIFAR = ("none", "se", *ABLATION_TYPES, "eca")
FIG4_KERNELS = (None, "3333", "5555", "7777", "9999")  # None: the adaptive rule's k per stage

STUDIES = {
    s.name: s
    for s in (
        Study(
            "table2-imagenet",
            "paper Table 2 (Sec. 3.2): SE, its variants without dimensionality reduction, SE-GC, ECA-NS and ECA "
            "on ResNet-50, ImageNet",
            "imagenet/resnet",
            TABLE2_RESNET50,
            needs=IMAGENET_DATA,
        ),
        Study(
            "fig4-imagenet",
            "paper Fig. 4: ECA-ResNet-50 with k = 3, 5, 7, 9 in every stage against the adaptive k, ImageNet",
            "imagenet/resnet",
            ("eca_resnet50_adaptive",),
            FIG4_KERNELS,
            needs=IMAGENET_DATA,
        ),
        Study(
            "table2-cifar10",
            "paper Table 2's attentions on a CIFAR-stem ResNet-18, CIFAR-10, five seeds each (not the paper's "
            "experiment: a one-GPU proxy)",
            "cifar10/ablation",
            TABLE2_CIFAR,
            needs=CIFAR_DATA,
        ),
        Study(
            "fig4-cifar10",
            "paper Fig. 4's kernel sweep on a CIFAR-stem ResNet-18, CIFAR-10, five seeds each (a one-GPU proxy)",
            "cifar10/ablation",
            ("eca",),
            FIG4_KERNELS,
            needs=CIFAR_DATA,
        ),
    )
}


def study(name: str) -> Study:
    """A study by name; unknown names raise listing the known ones."""
    if name not in STUDIES:
        raise UsageError(f"unknown study {name!r}; choose one of: {', '.join(STUDIES)}")
    return STUDIES[name]
