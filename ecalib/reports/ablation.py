"""The paper's ablation as tables: Table 2 (its attention variants) and Fig. 4 (the kernel sweep).

The parameter columns are computed (the paper's formulas, and exact counts of the registered ResNet-50
variants); the accuracy columns come only from result folders under ``results/`` (the paper's own accuracies
are not in this project's reference data), and say so where there are none.
"""

from __future__ import annotations

import pandas as pd

from ecalib.layers.se_variants import PAPER_PARAMETERS, paper_parameter_count
from ecalib.reports.claims import arms_of, fig4_arm, real_runs, table2_arm
from ecalib.reports.evidence import ResultFolders

TABLE2 = {  # arm -> (row label, the matrix W of sigmoid(W y))
    "none": ("no attention", "-"),
    "se": ("SE (r = 16)", "two layers, C -> C/r -> C"),
    "se_var1": ("SE-Var1", "identity: sigmoid(y)"),
    "se_var2": ("SE-Var2", "diagonal"),
    "se_var3": ("SE-Var3", "full C x C"),
    "se_gc": ("SE-GC (G = 16)", "block diagonal, G groups"),
    "eca_ns": ("ECA-NS", "band of k, not shared"),
    "eca": ("ECA", "band of k, shared"),
}
TABLE2_MODELS = {"none": "resnet50", "eca": "eca_resnet50_adaptive"}  # the others: <arm>_resnet50
FIG4_SETTINGS = ("adaptive", "3333", "5555", "7777", "9999")
NO_RUN = "no run in results/"


def _top1(arms: dict, arm) -> str:
    rows = arms.get(arm, [])
    if not rows:
        return NO_RUN
    values = pd.Series([r["test_top1"] for r in rows], dtype=float)
    spread = f" ± {values.std(ddof=1):.2f}" if len(values) > 1 else ""
    return f"{values.mean():.2f}{spread} (n = {len(values)})"


def _merged(groups: dict) -> dict:
    """The arms of the largest comparable group (the runs that share recipe, epochs and data)."""
    return max(groups.values(), key=lambda arms: sum(len(r) for r in arms.values()), default={})


def _study_arms(folders: ResultFolders, arm) -> tuple[dict, dict]:
    imagenet = real_runs(folders.runs("imagenet"))
    cifar = real_runs(folders.runs("cifar10"))
    cifar = cifar[cifar["protocol"] == "ablation"] if len(cifar) else cifar
    return (
        _merged(arms_of(imagenet, arm)) if len(imagenet) else {},
        _merged(arms_of(cifar, arm)) if len(cifar) else {},
    )


def table2(results: str | ResultFolders = "results", channels: int = 2048) -> pd.DataFrame:
    """Table 2's rows: the matrix each attention learns, the paper's parameter formula (evaluated at ``channels``),
    the exact count it adds to ResNet-50 (all 16 blocks), and top-1 from result folders (ImageNet, CIFAR-10)."""
    from ecalib.complexity import count_params
    from ecalib.models import create_model, model_info

    folders = results if isinstance(results, ResultFolders) else ResultFolders(results)
    imagenet, cifar = _study_arms(folders, table2_arm)
    base = count_params(create_model("resnet50"))
    rows = []
    for arm, (label, matrix) in TABLE2.items():
        model = TABLE2_MODELS.get(arm, f"{arm}_resnet50")
        k = model_info(model).k_per_stage
        formula = PAPER_PARAMETERS[arm][0] if arm in PAPER_PARAMETERS else "-"
        at = f"{paper_parameter_count(arm, channels, k=k[-1] if k else 3):,}" if arm in PAPER_PARAMETERS else "-"
        rows.append(
            {
                "attention": label,
                "W": matrix,
                "per block (paper)": formula,
                f"at C = {channels}": at,
                "added to ResNet-50": f"{count_params(create_model(model)) - base:,}",
                "top-1, ImageNet": _top1(imagenet, arm),
                "top-1, CIFAR-10 proxy": _top1(cifar, arm),
            }
        )
    return pd.DataFrame(rows).set_index("attention")


def fig4(results: str | ResultFolders = "results") -> pd.DataFrame:
    """Fig. 4's settings: ECA-ResNet-50's kernels per stage, its ECA parameters, and top-1 from result folders."""
    from ecalib.complexity import count_params
    from ecalib.models import create_model

    folders = results if isinstance(results, ResultFolders) else ResultFolders(results)
    imagenet, cifar = _study_arms(folders, fig4_arm)
    base = count_params(create_model("resnet50"))
    rows = []
    for setting in FIG4_SETTINGS:
        kwargs = {} if setting == "adaptive" else {"k_size": setting}
        model = create_model("eca_resnet50_adaptive", **kwargs)
        rows.append(
            {
                "k": "adaptive (Eq. 12)" if setting == "adaptive" else f"{setting[0]} in every stage",
                "k per stage, ResNet-50": "".join(map(str, model.k_per_stage)),
                "ECA parameters, ResNet-50": f"{count_params(model) - base:,}",
                "top-1, ImageNet": _top1(imagenet, ("eca", setting)),
                "top-1, CIFAR-10 proxy": _top1(cifar, ("eca", setting)),
            }
        )
    return pd.DataFrame(rows).set_index("k")
