"""The paper's claims as data: each with its numbers (from the shipped reference data), the evidence that bears
on it, a verdict computed from that evidence, and the command that would test it with its projected cost.

:func:`assess` judges every claim against the result folders under ``results/`` (read by
:class:`~ecalib.reports.evidence.ResultFolders`), so a folder committed there (an ImageNet evaluation, a
CIFAR-10 study, a GPU ``ecalib bench``) changes a verdict with no other edit. Verdicts come from the rules
of :mod:`ecalib.reports.verdicts`; none is written by hand. :mod:`ecalib.reports.ledger` renders them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pandas as pd

from ecalib.bench_results import device_type
from ecalib.models import model_info
from ecalib.reference import reference_metrics
from ecalib.reports.compute import Cost, evaluation_cost, maskrcnn_cost, training_cost
from ecalib.reports.evidence import ResultFolders
from ecalib.reports.speed import PAPER_GPU, PAPER_GPUS, PAPER_ROWS, paper_speed_ratios
from ecalib.reports.verdicts import (
    Item,
    Part,
    Verdict,
    binomial_interval,
    combine,
    gain,
    mean_difference,
    not_below,
    reaches,
)

CHAPTERS = (
    "eca_module",
    "complexity",
    "speed",
    "cifar10",
    "cifar10_compare",
    "cifar10_sweep",
    "imagenet",
    "coco_weights",
    "coco_maskrcnn",
    "findings",
)
APPENDICES = ("speed_appendix", "pipeline_checks")  # executed pages with a chapter's details: no claim of their own
NEGLIGIBLE_PERCENT = 1.0  # "negligible" in this ledger: under 1 % of the backbone's parameters or MACs


@dataclass(frozen=True)
class Step:
    """A command that tests (part of) a claim, and what it costs."""

    what: str
    command: str
    cost: Cost | str


@dataclass(frozen=True)
class Claim:
    key: str
    title: str
    source: str  # where the paper (or the reproduction) makes it
    chapters: tuple[str, ...]
    statement: Callable[[], str]  # the claim with its numbers, read from the reference data
    judge: Callable[[ResultFolders], tuple[list[Part], list[Item]]]
    steps: Callable[[ResultFolders], list[Step]] = lambda folders: []


@dataclass(frozen=True)
class Assessment:
    """A claim judged against the evidence at hand."""

    claim: Claim
    statement: str
    verdict: Verdict
    parts: list[Part]
    evidence: list[Item]
    steps: list[Step] = field(default_factory=list)

    def summary(self, names: int = 3) -> str:
        """The parts' verdicts in one line, ``confirmed: A, B; untested: C`` (at most ``names`` names each), or the
        one part's reason."""
        if len(self.parts) == 1:
            return f"{self.parts[0].name}: {self.parts[0].reason}"
        by_verdict: dict[Verdict, list[str]] = {}
        for part in self.parts:
            by_verdict.setdefault(part.verdict, []).append(part.name)
        shown = []
        for verdict, listed in by_verdict.items():
            listed = list(dict.fromkeys(listed))
            cut = names if len(listed) > names + 1 else len(listed)  # "and 1 more" would be no shorter
            more = f" and {len(listed) - cut} more" if len(listed) > cut else ""
            shown.append(f"{verdict.value}: {', '.join(listed[:cut])}{more}")
        return "; ".join(shown)


# ---------------------------------------------------------------------------------------------------- helpers


def paper_value(backbone: str, method: str, metric: str, source: str = "paper") -> float:
    return float(reference_metrics(source, backbone, method)[metric])


def table3_value(backbone: str, mechanism: str, metric: str) -> float:
    """One number of Table 3; ``backbone``: a key of ``PAPER_ROWS``, ``mechanism``: none, se, cbam or eca."""
    paper_backbone, methods = PAPER_ROWS[backbone]
    return paper_value(paper_backbone, methods[mechanism], metric)


TORCHVISION_V1 = {
    "resnet50": "ResNet50_Weights.IMAGENET1K_V1",
    "resnet101": "ResNet101_Weights.IMAGENET1K_V1",
    "resnet152": "ResNet152_Weights.IMAGENET1K_V1",
    "mobilenet_v2": "MobileNet_V2_Weights.IMAGENET1K_V1",
}


def torchvision_top1(backbone: str) -> tuple[float, str]:
    """Top-1 of torchvision's V1 weights for ``backbone``, from the weights' metadata (no download), and the source."""
    import torchvision

    name = TORCHVISION_V1[backbone]
    weights = torchvision.models.get_weight(name)
    return float(
        weights.meta["_metrics"]["ImageNet-1K"]["acc@1"]
    ), f"torchvision {torchvision.__version__}, {name}.meta"


def real_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs on the real data set (never synthetic smoke runs) with the full recipe."""
    if runs.empty:
        return runs
    return runs[~runs["data"].astype(str).str.startswith("synthetic") & (runs["profile"].fillna("full") == "full")]


def _group_items(groups: dict, label: str = "") -> list[Item]:
    """One piece of evidence per group of comparable runs: its arms and their folders' provenance."""
    items = []
    for (recipe, epochs, data), arms in groups.items():
        rows = [r for runs in arms.values() for r in runs]
        devices = ", ".join(sorted({str(r["device"]) for r in rows}))
        commits = ", ".join(sorted({str(r["commit"] or "unknown")[:10] for r in rows}))
        where = sorted({str(Path(r["path"]).parent) for r in rows})
        items.append(
            Item(
                f"{recipe} on {data}, {epochs} epochs{label}: "
                + ", ".join(f"{_show(a)} n={len(r)}" for a, r in arms.items()),
                f"{len(rows)} run folder(s) under {', '.join(where)}; device {devices}; commit {commits}",
            )
        )
    return items


def _attention(row) -> str | None:
    """The attention of a run's registered model, or None for a model this ecalib does not know."""
    try:
        return model_info(str(row["model"])).attention
    except ValueError:
        return None


def parameter_count(model: str) -> int:
    """Exact parameter count of a registered model (counted once per process)."""
    return _complexity(model)[0]


@cache
def _complexity(model: str, macs: bool = False) -> tuple[int, int | None]:
    """Exact parameters (and thop MACs at 224 px when asked) of a registered model, computed once per process."""
    from ecalib.complexity import count_params, thop_macs
    from ecalib.models import create_model

    net = create_model(model)
    return count_params(net), (thop_macs(net, 224)[0] if macs else None)


def arms_of(runs: pd.DataFrame, key) -> dict:
    """Final metric per arm (``key(row)``) of each group of comparable runs (same recipe, epochs and data)."""
    groups: dict = {}
    for _, row in runs.iterrows():
        arm = key(row)
        if arm is None:
            continue
        group = (row.get("recipe"), row.get("epochs"), row.get("data"))
        groups.setdefault(group, {}).setdefault(arm, []).append(row)
    return groups


def _compare(groups: dict, pairs, metric: str = "test_top1", scale: float = 1.0, label: str = "") -> list[Part]:
    """One part per (a, b, test) of ``pairs`` in every group holding both arms: ``test(name, diff, low, high)``."""
    parts = []
    for (recipe, epochs, data), arms in groups.items():
        for a, b, test in pairs:
            values = [[r[metric] * scale for r in arms.get(side, []) if pd.notna(r.get(metric))] for side in (a, b)]
            if all(values):
                diff, low, high = mean_difference(*values)
                where = f"{data}, {recipe}, {epochs} epochs, {len(values[0])} vs {len(values[1])} runs{label}"
                parts.append(test(f"{_show(a)} vs {_show(b)} ({where})", diff, low, high))
    return parts


def _show(arm) -> str:
    names = {
        "none": "plain",
        "se": "SE",
        "se_var1": "SE-Var1",
        "se_var2": "SE-Var2",
        "se_var3": "SE-Var3",
        "se_gc": "SE-GC",
        "eca_ns": "ECA-NS",
        "eca": "ECA",
        "cbam": "CBAM",
        "triplet": "Triplet",
    }
    if isinstance(arm, tuple):
        return _show(arm[0]) + (f" k={arm[1]}" if arm[1] else "")
    return names.get(arm, str(arm))


# ---------------------------------------------------------------------------------------------- ImageNet top-1

IMAGENET_RELEASES = {
    "resnet50": "eca_resnet50",
    "resnet101": "eca_resnet101",
    "resnet152": "eca_resnet152",
    "mobilenet_v2": "eca_mobilenet_v2",
}
IMAGENET_RECIPES = {"mobilenet_v2": "imagenet/mobilenet_v2"}


def _imagenet_claim(backbone: str) -> Claim:
    paper_backbone, methods = PAPER_ROWS[backbone]
    released = IMAGENET_RELEASES[backbone]

    def statement() -> str:
        base, eca = table3_value(backbone, "none", "top1"), table3_value(backbone, "eca", "top1")
        return f"ECA raises {paper_backbone}'s ImageNet top-1 from {base:.2f} to {eca:.2f} ({eca - base:+.2f})"

    def judge(folders: ResultFolders):
        base, eca = table3_value(backbone, "none", "top1"), table3_value(backbone, "eca", "top1")
        tv, tv_source = torchvision_top1(backbone)
        info = model_info(released)
        items = [
            Item(
                f"torchvision's weights of the same {paper_backbone} reach {tv:.2f}: the paper's baseline is "
                f"{tv - base:.2f} below them, and against them ECA-Net's {eca:.2f} is {eca - tv:+.2f}",
                tv_source,
                counts=False,
            )
        ]
        readme = info.reference_metrics().get("official README", {})
        if readme:
            items.append(
                Item(
                    f"the official README gives the released {info.checkpoint_file} top-1 {readme['top1']}: "
                    "a statement, not a measurement",
                    "official README (BangguWu/ECANet)",
                    counts=False,
                )
            )
        parts = []
        evaluations = folders.evaluations
        rows = evaluations[evaluations["model"] == released] if len(evaluations) else evaluations
        for _, row in rows.iterrows():
            where = f"{row['folder']} ({row['device']}, commit {row['commit']})"
            if row["data"] == "synthetic" or row["classes"] != 1000:
                items.append(
                    Item(
                        f"{row['checkpoint']} on {row['data']} data ({row['classes']} classes): not ImageNet",
                        where,
                        counts=False,
                    )
                )
                continue
            top1, images = float(row["top1"]), int(row["images"])
            low, high = binomial_interval(top1, images)
            items.append(Item(f"{row['checkpoint']} evaluated on {images:,} images: top-1 {top1:.2f}", where))
            parts += [
                reaches("the released checkpoint reaches the paper's ECA-Net top-1", top1, low, high, eca),
                gain("it is above the paper's baseline", top1 - base, low - base, high - base),
                gain("it is above torchvision's weights", top1 - tv, low - tv, high - tv),
            ]
        if not parts:
            parts = [
                Part("top-1 of the released checkpoint", Verdict.UNTESTED, "no ImageNet evaluation of it in results/")
            ]
        return parts, items

    def steps(folders: ResultFolders) -> list[Step]:
        recipe = IMAGENET_RECIPES.get(backbone, "imagenet/resnet")
        models = f"{backbone},{released}"  # the plain network's registered name is the backbone's
        return [
            Step(
                "evaluate the released checkpoint",
                f"ecalib evaluate --checkpoint {model_info(released).checkpoint_file} --data /data/imagenet/val "
                "--out results/imagenet-eval",
                evaluation_cost(1, backbone, folders.bench),
            ),
            Step(
                "train the plain and the ECA network again (the paper's experiment)",
                f"ecalib train {recipe} --model {models} --data-dir /data/imagenet",
                training_cost(recipe, _planned(recipe, models), folders.bench, "ImageNet-1k", backbone),
            ),
        ]

    return Claim(
        f"imagenet-{backbone}",
        f"ImageNet gain, {paper_backbone}",
        "paper Table 3",
        ("imagenet",),
        statement,
        judge,
        steps,
    )


# ------------------------------------------------------------------------------------- parameters and FLOPs

COST_PAIRS = {
    "resnet50": "eca_resnet50",
    "resnet101": "eca_resnet101",
    "resnet152": "eca_resnet152",
    "mobilenet_v2": "eca_mobilenet_v2",
}
MAC_PAIRS = ("resnet50", "mobilenet_v2")  # thop on these (the deeper ResNets: the complexity chapter)


def _printed(backbone: str, mechanism: str) -> str:
    metrics = reference_metrics("paper", PAPER_ROWS[backbone][0], PAPER_ROWS[backbone][1][mechanism])
    return f"{metrics['params']} / {metrics['flops']}"


def _cost_statement() -> str:
    shown = "; ".join(
        f"{PAPER_ROWS[b][0]} {_printed(b, 'none')}, with ECA {_printed(b, 'eca')}" for b in ("resnet50", "mobilenet_v2")
    )
    return f"ECA adds negligible parameters and FLOPs (Table 3, Params / FLOPs: {shown})"


def _judge_cost(folders: ResultFolders):
    items, worst_params, worst_macs = [], 0.0, 0.0
    for backbone, eca in COST_PAIRS.items():
        extra = parameter_count(eca) - parameter_count(backbone)
        share = 100 * extra / parameter_count(backbone)
        worst_params = max(worst_params, share)
        text = f"{eca}: +{extra:,} parameters ({share:.4f} %)"
        if backbone in MAC_PAIRS:
            extra_macs = _complexity(eca, True)[1] - _complexity(backbone, True)[1]
            macs_share = 100 * extra_macs / _complexity(backbone, True)[1]
            worst_macs = max(worst_macs, macs_share)
            text += f", +{extra_macs / 1e6:.2f}M MACs ({macs_share:.3f} %, the global pooling included)"
        items.append(Item(text, "counted by ecalib in this build (exact parameters; thop MACs at 224 px)"))
    parts = [
        Part(
            "extra parameters",
            Verdict.CONFIRMED if worst_params < NEGLIGIBLE_PERCENT else Verdict.CONTRADICTED,
            f"at most {worst_params:.4f} % of the backbone's (negligible: under {NEGLIGIBLE_PERCENT:g} %)",
        ),
        Part(
            "extra FLOPs",
            Verdict.CONFIRMED if worst_macs < NEGLIGIBLE_PERCENT else Verdict.CONTRADICTED,
            f"at most {worst_macs:.3f} % of the backbone's MACs (ResNet-50, MobileNetV2)",
        ),
    ]
    return parts, items


def _cost_steps(folders: ResultFolders) -> list[Step]:
    models = " ".join(m for pair in COST_PAIRS.items() for m in pair)
    return [Step("recount", f"ecalib complexity {models}", "minutes on a CPU; no data")]


# ------------------------------------------------------------------------------------------------------ speed

SPEED_BUDGET = "8m"  # the GPU run's wall-clock budget: parts that do not fit are dropped and listed


def _speed_ratios() -> pd.DataFrame:
    table = paper_speed_ratios()
    return table[table["backbone"] == "resnet50"].set_index(["mechanism", "mode"])["paper vs none"]


def _speed_statement() -> str:
    r = _speed_ratios()
    return (
        f"ECA costs little speed: in Table 3 ({PAPER_GPUS} {PAPER_GPU}) ECA-ResNet-50 trains at "
        f"{r[('eca', 'train')]:.2f}x and infers at {r[('eca', 'infer')]:.2f}x of ResNet-50's rate, SE at "
        f"{r[('se', 'train')]:.2f}x / {r[('se', 'infer')]:.2f}x, CBAM at {r[('cbam', 'train')]:.2f}x / "
        f"{r[('cbam', 'infer')]:.2f}x"
    )


def _ratio(rows: pd.DataFrame, base: float):
    """(ratio, low, high) of one mechanism's row: the paired ratio with its interval, or the plain ratio."""
    row = rows.iloc[0]
    paired = row.get("vs none (paired)")
    if paired is not None and pd.notna(paired):
        return float(paired), float(row["vs none ci_low"]), float(row["vs none ci_high"])
    value = float(row["images_per_s"]) / base
    return value, value, value


def _judge_speed(folders: ResultFolders):
    bench, paper = folders.bench, _speed_ratios()
    if bench.empty:
        return [Part("speed on a GPU", Verdict.UNTESTED, "no ecalib bench folder in results/benchmarks")], []
    kinds = bench["device"].map(device_type)
    cpu_folders = sorted(set(bench.loc[kinds == "cpu", "folder"]))
    items = (
        [
            Item(
                f"{len(cpu_folders)} bench folder(s) measured on a CPU: not the paper's hardware, shown in the speed "
                "chapter",
                ", ".join(cpu_folders),
                counts=False,
            )
        ]
        if cpu_folders
        else []
    )
    gpu = bench[(kinds == "cuda") & (bench["backbone"] == "resnet50")]
    for column, paper_setting in (("precision", "fp32"), ("compile", "eager")):  # as the paper measured
        if column in gpu:
            gpu = gpu[gpu[column] == paper_setting]
    parts = []
    for (folder, batch, size, mode), group in gpu.groupby(["folder", "batch_size", "input_size", "mode"]):
        base = group[group["mechanism"] == "none"]
        eca = group[group["mechanism"] == "eca"]
        if base.empty or eca.empty:
            continue
        official = eca[eca["eca_impl_used"] == "reference"]  # the official module's operations, if timed
        eca = official if len(official) else eca
        rate = float(base["images_per_s"].iloc[0])
        ratio = _ratio(eca, rate)
        where = f"{group['device'].iloc[0]}, batch {batch}, {size} px, {folder}"
        impl = eca["eca_impl_used"].iloc[0]
        shown = f"ECA ({impl}) {ratio[0]:.3f}x"
        parts.append(reaches(f"ECA-ResNet-50 {mode} speed vs plain ({where})", *ratio, paper[("eca", mode)], digits=3))
        for other in ("se", "cbam"):
            rows = group[group["mechanism"] == other]
            if len(rows):
                theirs = _ratio(rows, rate)
                shown += f", {other.upper()} {theirs[0]:.3f}x"
                parts.append(
                    gain(
                        f"ECA faster than {other.upper()}, {mode} ({where})",
                        ratio[0] - theirs[0],
                        ratio[1] - theirs[2],
                        ratio[2] - theirs[1],
                        digits=3,
                    )
                )
        items.append(Item(f"{mode}: {shown} of the plain ResNet-50's {rate:.0f} images/s", f"results/{folder}"))
    if not parts:
        parts = [Part("speed on a GPU", Verdict.UNTESTED, "no ResNet-50 rows from a GPU (fp32, eager) in results/")]
    return parts, items


def bench_command() -> str:
    """The one command that times what Table 3 compares (``configs/bench/table3.yaml``) within its budget."""
    return f"ecalib bench --suite table3 --budget {SPEED_BUDGET}"


def _speed_steps(folders: ResultFolders) -> list[Step]:
    from ecalib.recipes.bench import parse_duration

    hours = parse_duration(SPEED_BUDGET) / 3600
    basis = f"the preset stops within its --budget of {SPEED_BUDGET}"
    budget = Cost(hours, "none (synthetic tensors)", basis, limit=True)
    return [Step("time Table 3's networks on a GPU", bench_command(), budget)]


# ------------------------------------------------------------------------------------------ the kernel rule


def kernel_readings() -> pd.DataFrame:
    """The released ECA kernels beside the two readings of Eq. 12 (k from C, gamma = 2, b = 1).

    Reading A: C is the number of channels ECA rescales (a bottleneck's output, 4 x its width); ecalib's
    ``*_adaptive`` models and timm follow it. Reading B: C is the block's width (``planes``: 64, 128, 256,
    512), as RC2020's code does (official issues #46 and #57 raise the question). For basic blocks the two
    agree. MobileNetV2's ECA sits on each inverted residual's output (reading A on the settings' widths).
    """
    from ecalib.layers import eca_kernel_size
    from ecalib.models.mobilenetv2 import INVERTED_RESIDUAL_SETTINGS, official_mobilenet_k
    from ecalib.models.zoo import RELEASED_DETECTOR_K, RELEASED_K, RESNET_LAYOUTS

    def show(ks) -> str:
        return "".join(map(str, ks))

    rows = []
    widths = (64, 128, 256, 512)
    for depth, released in RELEASED_K.items():
        expansion = 4 if RESNET_LAYOUTS[depth][0] == "bottleneck" else 1
        rows.append(
            {
                "network": f"ECA-ResNet-{depth} (ImageNet)",
                "released": show(released),
                "rule, C = channels rescaled": show(model_info(f"eca_resnet{depth}_adaptive").k_per_stage),
                "rule, C = block width (RC2020)": show(eca_kernel_size(w) for w in widths),
                "channels rescaled": ", ".join(str(w * expansion) for w in widths),
            }
        )
    for detector, released in RELEASED_DETECTOR_K.items():
        rows.append({**rows[2], "network": f"ECA-ResNet-50 in {detector} (COCO)", "released": show(released)})
    settings = [c for _, c, _, _ in INVERTED_RESIDUAL_SETTINGS]
    rows.append(
        {
            "network": "ECA-MobileNetV2 (per settings row)",
            "released": show(official_mobilenet_k(c) for c in settings),
            "rule, C = channels rescaled": show(eca_kernel_size(c) for c in settings),
            "rule, C = block width (RC2020)": "",
            "channels rescaled": ", ".join(map(str, settings)),
        }
    )
    table = pd.DataFrame(rows).set_index("network")
    readings = table[["rule, C = channels rescaled", "rule, C = block width (RC2020)"]]
    table["follows a reading"] = [r in set(readings.loc[n]) for n, r in table["released"].items()]
    return table


def released_resnet_kernels() -> pd.DataFrame:
    """:func:`kernel_readings` of the released ImageNet ECA-ResNets as the ECA module's page shows them, with the
    ECA weights each has (k per block, summed) and the stages whose released k differs from reading A."""
    from ecalib.models.zoo import RESNET_LAYOUTS

    readings = kernel_readings()
    table = pd.DataFrame(
        {
            "stage channels C": readings["channels rescaled"],
            "released k (checkpoint file)": readings["released"],
            "Eq. 12 k": readings["rule, C = channels rescaled"],
            "Eq. 12 k, C = block width (RC2020)": readings["rule, C = block width (RC2020)"],
        }
    ).loc[[n for n in readings.index if n.startswith("ECA-ResNet-") and n.endswith(" (ImageNet)")]]
    table.index = pd.Index([n.removesuffix(" (ImageNet)") for n in table.index], name="model")
    blocks = [RESNET_LAYOUTS[int(n.removeprefix("ECA-ResNet-"))][1] for n in table.index]
    released = table["released k (checkpoint file)"]
    table["ECA parameters (released)"] = [
        sum(int(k) * n for k, n in zip(ks, b, strict=True)) for ks, b in zip(released, blocks)
    ]
    table["stages that differ"] = [
        sum(a != b for a, b in zip(r, rule, strict=True)) for r, rule in zip(released, table["Eq. 12 k"])
    ]
    return table


def _kernel_statement() -> str:
    import inspect

    from ecalib.layers import eca_kernel_size

    constants = inspect.signature(eca_kernel_size).parameters  # the paper's constants, as ecalib applies them
    return (
        "ECA-Nets take their kernel size from the channel count by Eq. 12, k = |log2(C)/γ + b/γ| rounded to odd "
        f"with γ = {constants['gamma'].default} and b = {constants['b'].default} (tested on the released networks)"
    )


def _judge_kernels(folders: ResultFolders):
    table = kernel_readings()
    parts = []
    for network, row in table.iterrows():
        readings = " or ".join(
            dict.fromkeys(r for r in (row["rule, C = channels rescaled"], row["rule, C = block width (RC2020)"]) if r)
        )
        parts.append(
            Part(
                network,
                Verdict.CONFIRMED if row["follows a reading"] else Verdict.CONTRADICTED,
                f"released k {row['released']}, the rule {readings}",
            )
        )
    follow = int(table["follows a reading"].sum())
    r50 = table.loc["ECA-ResNet-50 (ImageNet)"]
    detectors = table[table.index.str.contains("COCO")]["released"]
    by_detector = ", ".join(f"{n.split(' in ')[1].removesuffix(' (COCO)')} {k}" for n, k in detectors.items())
    items = [
        Item(
            "Eq. 12 is read two ways: C as the channels ECA rescales (ecalib's *_adaptive models, timm) or as the "
            f"block's width (RC2020; official issues #46 and #57); {follow} of the {len(table)} released networks "
            "follow either",
            "the released file names (official README), ecalib.layers.eca_kernel_size",
        ),
        Item(
            f"the COCO detectors' ECA-ResNet-50 backbones ({by_detector}) differ from the ImageNet release's "
            f"{r50['released']} and from the rule's {r50['rule, C = channels rescaled']} and "
            f"{r50['rule, C = block width (RC2020)']}",
            "the released detector file names (official README)",
        ),
    ]
    return parts, items


def _kernel_steps(folders: ResultFolders) -> list[Step]:
    return [
        Step(
            "nothing to run: the kernels are in the released files' names and weights",
            f"ecalib inspect {model_info('eca_resnet50').checkpoint_file}",
            "seconds on a CPU; the released file",
        )
    ]


# ------------------------------------------------------------------------------ the ablation: Table 2, Fig. 4

TABLE2_SOURCE = "paper Sec. 3.2, Table 2 (its accuracies are not in this project's reference data)"


def table2_arm(row) -> str | None:
    """The Table 2 arm of a run (its attention), or None (ECA with kernels set by hand belongs to Fig. 4)."""
    return None if row.get("k_size") else _attention(row)


def _ablation_groups(folders: ResultFolders, arm) -> tuple[dict, str]:
    """Comparable groups of real runs: ImageNet's when there are any, else CIFAR-10's ablation recipe (a proxy)."""
    imagenet = real_runs(folders.runs("imagenet"))
    groups = arms_of(imagenet, arm) if len(imagenet) else {}
    if any(len(arms) > 1 for arms in groups.values()):
        return groups, ""
    cifar = real_runs(folders.runs("cifar10"))
    cifar = cifar[cifar["protocol"] == "ablation"] if len(cifar) else cifar
    return (arms_of(cifar, arm) if len(cifar) else {}), "; CIFAR-10 proxy"


def _ablation_judge(pairs, what: str):
    def judge(folders: ResultFolders):
        groups, label = _ablation_groups(folders, table2_arm)
        parts = _compare(groups, pairs, label=label)
        items = _group_items(groups, label)
        if not parts:
            parts = [Part(what, Verdict.UNTESTED, "no comparable runs of these attentions in results/")]
        return parts, items

    return judge


def _ablation_steps(study_imagenet: str, study_cifar: str, runs_imagenet: int, runs_cifar: int):
    def steps(folders: ResultFolders) -> list[Step]:
        from ecalib.recipes.studies import study

        return [
            Step(
                "the paper's experiment (ResNet-50, ImageNet)",
                study(study_imagenet).command(),
                training_cost("imagenet/resnet", runs_imagenet, folders.bench, "ImageNet-1k"),
            ),
            Step(
                "a one-GPU proxy (ResNet-18, CIFAR-10, 5 seeds)",
                study(study_cifar).command(),
                training_cost("cifar10/ablation", runs_cifar, folders.bench, "CIFAR-10"),
            ),
        ]

    return steps


def _study_size(name: str) -> int:
    from ecalib.recipes.studies import study

    return len(study(name).runs("full", data_dir="."))


def _table2_steps(folders):
    return _ablation_steps(
        "table2-imagenet", "table2-cifar10", _study_size("table2-imagenet"), _study_size("table2-cifar10")
    )(folders)


def _fig4_steps(folders):
    return _ablation_steps("fig4-imagenet", "fig4-cifar10", _study_size("fig4-imagenet"), _study_size("fig4-cifar10"))(
        folders
    )


def fig4_arm(row):
    """``('eca', k)`` for a run of ECA with fixed kernels k, ``('eca', 'adaptive')`` with the rule's; else None."""
    if _attention(row) != "eca":
        return None
    info = model_info(str(row["model"]))
    if row.get("k_size"):
        return ("eca", str(row["k_size"]))
    # ecalib's ECA models with the rule's kernels: the *_adaptive ImageNet ones and the CIFAR ones
    return ("eca", "adaptive") if info.name.endswith("_adaptive") or info.stem == "cifar" else None


def _judge_fig4(folders: ResultFolders):
    groups, label = _ablation_groups(folders, fig4_arm)
    fixed = sorted({arm for arms in groups.values() for arm in arms if arm[1] != "adaptive"})
    parts = _compare(groups, [(("eca", "adaptive"), arm, gain) for arm in fixed], label=label)
    if not parts:
        parts = [Part("adaptive k against k = 3..9", Verdict.UNTESTED, "no runs of the kernel sweep in results/")]
    return parts, _group_items(groups, label)


# --------------------------------------------------------------------------------------- ECA vs SE and CBAM


def _vs_statement() -> str:
    def row(mechanism: str) -> str:
        params = _printed("resnet50", mechanism).split(" / ")[0]
        return f"{table3_value('resnet50', mechanism, 'top1'):.2f} with {params}"

    return (
        f"ECA-Net beats SE and CBAM at a lower cost (Table 3, ResNet-50: ECA {row('eca')}, SE {row('se')}, "
        f"CBAM {row('cbam')})"
    )


def _judge_vs(folders: ResultFolders):
    counts = {m: _complexity(f"{p}resnet50", True) for m, p in (("eca", "eca_"), ("se", "se_"), ("cbam", "cbam_"))}
    base = _complexity("resnet50", True)
    items = [
        Item(
            ", ".join(
                f"{m.upper()} +{c[0] - base[0]:,} parameters, +{(c[1] - base[1]) / 1e6:.2f}M MACs"
                for m, c in counts.items()
            ),
            "counted by ecalib in this build (ResNet-50, 224 px)",
        )
    ]
    parts = [
        Part(
            f"fewer parameters than {o.upper()}",
            Verdict.CONFIRMED if counts["eca"][0] < counts[o][0] else Verdict.CONTRADICTED,
            f"{counts['eca'][0] - base[0]:,} against {counts[o][0] - base[0]:,} extra",
        )
        for o in ("se", "cbam")
    ] + [
        Part(
            f"fewer MACs than {o.upper()}",
            Verdict.CONFIRMED if counts["eca"][1] < counts[o][1] else Verdict.CONTRADICTED,
            f"{(counts['eca'][1] - base[1]) / 1e6:.2f}M against {(counts[o][1] - base[1]) / 1e6:.2f}M extra",
        )
        for o in ("se", "cbam")
    ]
    imagenet = real_runs(folders.runs("imagenet"))
    groups = arms_of(imagenet, table2_arm) if len(imagenet) else {}
    accuracy = _compare(groups, [("eca", "se", gain), ("eca", "cbam", gain)])
    if accuracy:
        items += _group_items(groups)
    return parts + (
        accuracy or [Part("higher top-1", Verdict.UNTESTED, "no ImageNet runs of SE, CBAM and ECA in results/")]
    ), items


def _planned(recipe: str, models: str, seeds=None) -> int:
    """How many runs ``ecalib train <recipe> --model <models> [--seeds ...]`` makes."""
    from ecalib.recipes.resolve import plan

    return len(plan(recipe, "full", seeds=seeds, model=models, data_dir="."))


def _vs_steps(folders: ResultFolders) -> list[Step]:
    models = "se_resnet50,cbam_resnet50,eca_resnet50_adaptive"
    return [
        Step(
            "train SE, CBAM and ECA ResNet-50",
            f"ecalib train imagenet --model {models} --data-dir /data/imagenet",
            training_cost("imagenet/resnet", _planned("imagenet/resnet", models), folders.bench, "ImageNet-1k"),
        )
    ]


# ----------------------------------------------------------------------------------------------------- COCO

DETECTORS = ("Faster R-CNN", "RetinaNet", "Mask R-CNN")


def coco_ap(source: str, table: str, task: str, backbone: str, method: str) -> float:
    """One AP of the COCO tables (box AP: paper Table 5 / task coco_bbox; mask AP: Table 6 / coco_segm)."""
    from ecalib.reports.tables import reference_table

    return float(reference_table(source, table, task).loc[(backbone, method), "AP"])


def box_ap_pair(detector: str, depth: str = "ResNet-50") -> tuple[float, float]:
    """Table 5's box AP of ``detector`` on a ``depth`` backbone: (baseline, ECA)."""
    return tuple(coco_ap("paper", "Table 5", "coco_bbox", depth, f"{detector} {m}") for m in ("baseline", "ECA"))


def _coco_gains(detector: str) -> str:
    shown = []
    for depth in ("ResNet-50", "ResNet-101"):
        base, eca = box_ap_pair(detector, depth)
        shown.append(f"{depth} {base:.1f} to {eca:.1f} ({eca - base:+.1f})")
    return ", ".join(shown)


def _coco_claim(detector: str) -> Claim:
    def statement() -> str:
        text = f"ECA backbones raise {detector}'s COCO box AP: {_coco_gains(detector)}"
        if detector == "Mask R-CNN":
            base, eca = (
                coco_ap("paper", "Table 6", "coco_segm", "ResNet-50", f"Mask R-CNN {m}") for m in ("baseline", "ECA")
            )
            text += f"; mask AP, ResNet-50: {base:.1f} to {eca:.1f} ({eca - base:+.1f}, Table 6)"
        return text

    def judge(folders: ResultFolders):
        items, parts = [], []
        if detector == "Mask R-CNN":
            items.append(_rc2020_maskrcnn_item())
            runs = real_runs(folders.runs("coco"))
            groups = arms_of(runs, _attention) if len(runs) else {}
            one_decimal = [("eca", "none", lambda n, d, lo, hi: gain(n, d, lo, hi, digits=1))]
            parts = _compare(groups, one_decimal, metric="bbox_AP", scale=100, label="; box AP")
            parts += _compare(groups, one_decimal, metric="segm_AP", scale=100, label="; mask AP")
            items += _group_items(groups) if parts else []
            if not parts:
                parts = [Part("box AP gain", Verdict.UNTESTED, "no COCO runs of both backbones in results/")]
        else:
            parts = [
                Part(
                    f"{detector} gain",
                    Verdict.NOT_TESTABLE,
                    f"ecalib ships a Mask R-CNN recipe only; {detector} needs an MMDetection config with "
                    "the ECAResNet backbone, which is not written",
                )
            ]
        return parts, items

    def steps(folders: ResultFolders) -> list[Step]:
        if detector != "Mask R-CNN":
            return [
                Step(
                    f"train {detector} with and without ECA (MMDetection; config not shipped)",
                    "ecalib coco mmdet-train --data-dir /data/coco --mmdet-config <an ECAResNet config>",
                    maskrcnn_cost(2),
                )
            ]
        return [
            Step(
                "train Mask R-CNN with the plain and the ECA backbone",
                "ecalib coco train --data-dir /data/coco --model resnet50 --backbone-weights resnet50_tv.pth; "
                "ecalib coco train --data-dir /data/coco --backbone-weights backbone_tv.pth",
                maskrcnn_cost(2),
            )
        ]

    key = detector.lower().replace(" ", "-")
    chapters = ("coco_maskrcnn", "coco_weights") if detector == "Mask R-CNN" else ("coco_maskrcnn",)
    return Claim(f"coco-{key}", f"COCO gain, {detector}", "paper Tables 5 and 6", chapters, statement, judge, steps)


@cache
def _rc2020_maskrcnn_item() -> Item:
    from ecalib.reference import rc2020_maskrcnn_logs
    from ecalib.reports.mmdet_logs import parse_mmdet_log, rc2020_evidence

    ev = rc2020_evidence(*[parse_mmdet_log(p) for p in rc2020_maskrcnn_logs()]).set_index("quantity")["value"]
    factor = ev["configured lr"] / ev["lr by the linear scaling rule for that batch"]
    box, mask = (
        coco_ap("RC2020 reproduction", "README", task, "ECA-Net50", "Mask R-CNN ECA")
        for task in ("coco_bbox", "coco_segm")
    )
    return Item(
        f"RC2020 reached box AP {box:.1f} and mask AP {mask:.1f} with ECA-ResNet-50, but its run did not follow the "
        f"recipe: lr {factor:g}x the "
        f"linear-scaling lr for its batch, losses NaN in epoch {ev['first non-finite loss: epoch']:g}, resumed at "
        "the same lr; not a test of the claim",
        "RC2020's README and training logs (ecalib/reference/rc2020_maskrcnn_logs)",
        counts=False,
    )


# ------------------------------------------------------------------------------------------- RC2020 CIFAR-10


def _rc2020_statement() -> str:
    return (
        "Channel attention (ECA, SE, CBAM, Triplet) ends above the plain ResNet-18 on CIFAR-10: RC2020's test of the "
        "paper, 50 epochs, 5 runs each (the paper has no CIFAR-10 experiment)"
    )


def _judge_rc2020(folders: ResultFolders):
    from ecalib.reference import rc2020_cifar10_curves
    from ecalib.reports.rc2020 import summarise_rc2020_curves

    summary = summarise_rc2020_curves(rc2020_cifar10_curves())
    base = summary.loc["none"]
    parts = []
    for mechanism, row in summary.drop(index="none").iterrows():
        parts.append(
            gain(
                f"RC2020: {_show(mechanism)} vs plain",
                row["final_top1"] - base["final_top1"],
                row["final_top1_low"] - base["final_top1_high"],
                row["final_top1_high"] - base["final_top1_low"],
                noise="the bands RC2020 drew, from",
            )
        )
    spread = summary["final_top1"].max() - summary["final_top1"].min()
    widths = (summary["final_top1_high"] - summary["final_top1_low"]).median()
    items = [
        Item(
            f"final top-1 after 50 epochs: the five means span {spread:.2f} points, a band is {widths:.2f} wide "
            "(median); the band's meaning (standard deviation or range) is not stated",
            "RC2020's two charts, digitised by ecalib (ecalib.reference.rc2020_cifar10_curves)",
        ),
        Item(
            "the lr never decays in those 50 epochs (milestones 100 and 150): short, undecayed runs",
            "RC2020's train_cifar.py (configs/cifar10/rc2020.yaml)",
            counts=False,
        ),
    ]
    runs = real_runs(folders.runs("cifar10"))
    runs = runs[runs["protocol"] == "rc2020"] if len(runs) else runs
    if len(runs):
        groups = arms_of(runs, lambda r: r["attention"])
        parts += _compare(groups, [(m, "none", gain) for m in ("eca", "se", "cbam", "triplet")], label="; ecalib")
        items += _group_items(groups, "; ecalib")
    return parts, items


def _rc2020_steps(folders: ResultFolders) -> list[Step]:
    models, seeds = "none,se,cbam,triplet,eca", [0, 1, 2, 3, 4]
    return [
        Step(
            "RC2020's comparison again, seeded",
            f"ecalib train cifar10 --model {models} --seeds {' '.join(map(str, seeds))} --download",
            training_cost("cifar10/rc2020", _planned("cifar10/rc2020", models, seeds), folders.bench, "CIFAR-10"),
        )
    ]


# ---------------------------------------------------------------------------------------------- the ledger

CLAIMS: tuple[Claim, ...] = (
    *(_imagenet_claim(b) for b in ("resnet50", "resnet101", "resnet152", "mobilenet_v2")),
    Claim(
        "params-flops",
        "Negligible parameters and FLOPs",
        "paper Table 3",
        ("complexity",),
        _cost_statement,
        _judge_cost,
        _cost_steps,
    ),
    Claim("speed", "Little speed overhead", "paper Table 3", ("speed",), _speed_statement, _judge_speed, _speed_steps),
    Claim(
        "kernel-rule",
        "The adaptive kernel size",
        "paper Eq. 12",
        ("eca_module", "coco_weights"),
        _kernel_statement,
        _judge_kernels,
        _kernel_steps,
    ),
    Claim(
        "kernel-adaptive",
        "Adaptive k beats fixed k",
        "paper Fig. 4 (its values are not in this project's reference data)",
        ("eca_module", "imagenet", "cifar10_compare"),
        lambda: "ECA with the adaptive k (Eq. 12) is more accurate than with any fixed k from 3 to 9",
        _judge_fig4,
        _fig4_steps,
    ),
    Claim(
        "no-reduction",
        "Avoiding dimensionality reduction",
        TABLE2_SOURCE,
        ("eca_module", "cifar10_compare"),
        lambda: (
            "Channel attention without dimensionality reduction does better: SE-Var2 (C weights) and SE-Var3 "
            "(C² weights) above SE (2C²/r)"
        ),
        _ablation_judge([("se_var2", "se", gain), ("se_var3", "se", gain)], "SE-Var2 and SE-Var3 vs SE"),
        _table2_steps,
    ),
    Claim(
        "local-interaction",
        "Local cross-channel interaction",
        TABLE2_SOURCE,
        ("eca_module", "cifar10_compare"),
        lambda: (
            "Local cross-channel interaction is enough: ECA (k shared weights) matches ECA-NS (k·C weights) "
            "and beats SE-Var2 (no interaction) and SE-GC (interaction within groups)"
        ),
        _ablation_judge(
            [("eca", "eca_ns", not_below), ("eca", "se_var2", gain), ("eca", "se_gc", gain)],
            "ECA vs ECA-NS, SE-Var2 and SE-GC",
        ),
        _table2_steps,
    ),
    Claim(
        "eca-vs-se-cbam",
        "ECA beats SE and CBAM, cheaper",
        "paper Table 3",
        ("complexity", "imagenet"),
        _vs_statement,
        _judge_vs,
        _vs_steps,
    ),
    *(_coco_claim(d) for d in DETECTORS),
    Claim(
        "rc2020-cifar10",
        "RC2020: attention on CIFAR-10",
        "RC2020 (its charts)",
        ("cifar10", "cifar10_compare", "cifar10_sweep"),
        _rc2020_statement,
        _judge_rc2020,
        _rc2020_steps,
    ),
)


def assess(
    results: str | ResultFolders = "results", chapter: str | None = None, keys: tuple[str, ...] | None = None
) -> list[Assessment]:
    """Every claim (or those of ``chapter``, or those named in ``keys``) judged against the result folders under
    ``results``."""
    folders = results if isinstance(results, ResultFolders) else ResultFolders(results)
    if chapter is not None and chapter not in CHAPTERS:
        raise ValueError(f"unknown chapter {chapter!r}; chapters: {', '.join(CHAPTERS)}")
    unknown = set(keys or ()) - {c.key for c in CLAIMS}
    if unknown:
        raise ValueError(f"unknown claims {sorted(unknown)}; claims: {', '.join(c.key for c in CLAIMS)}")
    out = []
    for claim in CLAIMS:
        if chapter not in (None, "findings") and chapter not in claim.chapters or keys and claim.key not in keys:
            continue
        parts, evidence = claim.judge(folders)
        out.append(Assessment(claim, claim.statement(), combine(parts), parts, evidence, claim.steps(folders)))
    return out
