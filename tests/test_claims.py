"""The claims ledger: verdict rules against independent statistics, and result folders (generated in the formats
ecalib writes) that flip verdicts each way, or are malformed and must be named and left out."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, run_cli

from ecalib.models import create_model
from ecalib.reports import claims as claims_module
from ecalib.reports.claims import APPENDICES, CHAPTERS, CLAIMS, assess, kernel_readings, released_resnet_kernels
from ecalib.reports.evidence import ResultFolders
from ecalib.reports.ledger import chapter_closing, chapter_opening, ledger_frame, ledger_html
from ecalib.reports.verdicts import (
    Part,
    Verdict,
    binomial_interval,
    combine,
    gain,
    mean_difference,
    not_below,
    reaches,
)

V = Verdict


# ------------------------------------------------------------------------------------------- verdict rules


def test_gain_reaches_and_not_below_follow_their_intervals():
    assert gain("g", 1.0, 0.2, 1.8).verdict == V.CONFIRMED
    assert gain("g", 0.5, -0.3, 1.3).verdict == V.PARTLY
    assert gain("g", -0.1, -0.9, 0.7).verdict == V.CONTRADICTED  # no gain, within the noise
    assert gain("g", -1.0, -1.8, -0.2).verdict == V.CONTRADICTED
    assert gain("g", 0.4, -math.inf, math.inf).verdict == V.PARTLY  # one run a side: the direction only
    assert reaches("r", 77.3, 76.9, 77.7, 77.48).verdict == V.CONFIRMED
    assert reaches("r", 76.5, 76.1, 76.9, 77.48).verdict == V.CONTRADICTED
    assert not_below("n", -0.2, -0.9, 0.5).verdict == V.CONFIRMED
    assert not_below("n", -1.0, -1.5, -0.5).verdict == V.CONTRADICTED
    assert not_below("n", -1.0, -math.inf, math.inf).verdict == V.PARTLY


@pytest.mark.parametrize(
    "verdicts,expected",
    [
        ([], V.UNTESTED),
        ([V.CONFIRMED, V.CONFIRMED], V.CONFIRMED),
        ([V.CONFIRMED, V.CONTRADICTED], V.PARTLY),
        ([V.CONFIRMED, V.UNTESTED], V.PARTLY),
        ([V.PARTLY, V.CONTRADICTED], V.PARTLY),
        ([V.CONTRADICTED, V.UNTESTED], V.CONTRADICTED),
        ([V.UNTESTED, V.NOT_TESTABLE], V.UNTESTED),
        ([V.NOT_TESTABLE], V.NOT_TESTABLE),
    ],
)
def test_parts_combine(verdicts, expected):
    assert combine([Part(str(i), v, "") for i, v in enumerate(verdicts)]) == expected


def test_statistics_against_scipy():
    from scipy import stats

    rng = np.random.default_rng(0)
    a, b = rng.normal(75, 0.4, 5), rng.normal(74.6, 0.9, 4)
    diff, low, high = mean_difference(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert diff == pytest.approx(a.mean() - b.mean()) and (low, high) == pytest.approx((ci.low, ci.high))
    assert mean_difference([1.0], [0.5, 0.7])[1:] == (-math.inf, math.inf)
    low, high = binomial_interval(77.0, 50_000)
    half = stats.norm.ppf(0.975) * math.sqrt(0.77 * 0.23 / 50_000) * 100
    assert (low, high) == pytest.approx((77.0 - half, 77.0 + half))


# --------------------------------------------------------------------------------------------- the claims


def test_every_claim_has_numbers_from_the_reference_data(monkeypatch):
    """The paper's numbers are read, never typed: change the reference data and the statements follow."""
    import ecalib.reference as reference

    rows = [dict(r) for r in reference.paper_table_rows()]
    for row in rows:
        if (row["source"], row["backbone"], row["method"], row["metric"]) == ("paper", "ResNet-50", "ECA-Net", "top1"):
            row["value"] = "99.99"
        if (row["table"], row["backbone"], row["method"], row["metric"]) == (
            "Table 5",
            "ResNet-50",
            "RetinaNet ECA",
            "AP",
        ):
            row["value"] = "88.8"
    monkeypatch.setattr(reference, "paper_table_rows", lambda: tuple(rows))
    statements = {c.key: c.statement() for c in CLAIMS}
    assert "99.99" in statements["imagenet-resnet50"] and "+24.79" in statements["imagenet-resnet50"]
    assert "88.8" in statements["coco-retinanet"] and "99.99" in statements["eca-vs-se-cbam"]


def test_claims_cover_the_chapters_and_the_chapters_show_them():
    import nbformat
    from helpers import toc_docnames

    executed = {f.removeprefix("book/executed/") for f in toc_docnames() if f.startswith("book/executed/")}
    assert set(CHAPTERS) | set(APPENDICES) == executed and not set(CHAPTERS) & set(APPENDICES)
    keys = [c.key for c in CLAIMS]
    assert len(keys) == len(set(keys)) >= 15
    for chapter in CHAPTERS:
        if chapter == "findings":
            continue
        assert any(chapter in c.chapters for c in CLAIMS), chapter
        cells = nbformat.read(ROOT / "notebooks" / f"{chapter}.ipynb", as_version=4).cells
        title = next(i for i, c in enumerate(cells) if c.cell_type == "markdown")
        assert f'chapter_opening("{chapter}")' in cells[title + 1].source, chapter
        closing = [i for i, c in enumerate(cells) if f'chapter_closing("{chapter}")' in c.source]
        assert len(closing) == 1 and cells[closing[0] - 1].source == "## What the evidence says", chapter
        headings = [c.source.split("\n")[0] for c in cells[closing[0] :] if c.cell_type == "markdown"]
        assert headings[:1] in ([], ["## Run it yourself"], ["## Provenance"]), (chapter, headings)


def test_kernel_readings_against_the_formula():
    def rule(c):  # Eq. 12 written out here, gamma 2, b 1
        t = int(abs((math.log2(c) + 1) / 2))
        return t if t % 2 else t + 1

    table = kernel_readings()
    r50 = table.loc["ECA-ResNet-50 (ImageNet)"]
    assert r50["released"] == "3557"
    assert r50["rule, C = channels rescaled"] == "".join(str(rule(c)) for c in (256, 512, 1024, 2048))
    assert r50["rule, C = block width (RC2020)"] == "".join(str(rule(c)) for c in (64, 128, 256, 512)) == "3555"
    assert table.loc["ECA-ResNet-50 in Mask R-CNN (COCO)", "released"] == "3377"
    assert not table["follows a reading"].any()


def test_released_resnet_kernels_count_the_eca_weights_the_built_networks_have():
    table = released_resnet_kernels()
    assert list(table.index) == [f"ECA-ResNet-{d}" for d in (18, 34, 50, 101, 152)]
    for name, row in table.iterrows():
        model = create_model("eca_resnet" + name.removeprefix("ECA-ResNet-"))
        eca = {n: m.conv.weight for n, m in model.named_modules() if n.endswith(".eca")}
        assert row["ECA parameters (released)"] == sum(w.numel() for w in eca.values()), name
        first_blocks = "".join(str(eca[f"layer{i}.0.eca"].shape[-1]) for i in range(1, 5))
        assert row["released k (checkpoint file)"] == first_blocks, name
    assert table.loc["ECA-ResNet-50", "stages that differ"] == 1  # 3557 against 5557


# ---------------------------------------------------------------------------------------- result folders


def _write(folder: Path, **files) -> Path:
    folder.mkdir(parents=True)
    for name, content in files.items():
        text = content if isinstance(content, str) else json.dumps(content)
        (folder / name.replace("_json", ".json").replace("_csv", ".csv")).write_text(text)
    return folder


GPU_ENV = {"device": "NVIDIA H100 80GB HBM3", "git_commit": "abc123", "cuda": "12.8"}
CPU_ENV = {"device": "CPU: x86_64 (2 threads)", "git_commit": "abc123"}


def _evaluation(root: Path, name: str, top1: float, kind: str = "imagefolder", classes: int = 1000, **final):
    params = {
        "command": "evaluate",
        "model": "eca_resnet50",
        "checkpoint": "eca_resnet50_k3557.pth.tar",
        "data_source": {"kind": kind},
    }
    metrics = {"top1": top1, "top5": 93.6, "loss": 1.0, "images": 50_000, "classes": classes, **final}
    return _write(root / "imagenet-eval" / name, params_json=params, env_json=GPU_ENV, final_json=metrics)


def _verdict(root, key: str):
    (assessment,) = assess(root, keys=(key,))
    return assessment


def test_an_imagenet_evaluation_flips_the_resnet50_verdict_each_way(tmp_path):
    assert _verdict(tmp_path, "imagenet-resnet50").verdict == V.UNTESTED
    good = tmp_path / "good"
    _evaluation(good, "eca_resnet50-1", 77.45)
    a = _verdict(good, "imagenet-resnet50")
    assert a.verdict == V.CONFIRMED, a.parts
    assert any("eca_resnet50-1" in i.source and "NVIDIA H100" in i.source for i in a.evidence if i.counts)
    bad = tmp_path / "bad"
    _evaluation(bad, "eca_resnet50-1", 74.0)
    assert _verdict(bad, "imagenet-resnet50").verdict == V.CONTRADICTED
    # the released checkpoint above torchvision's weights but short of the paper's number: partly
    between = tmp_path / "between"
    _evaluation(between, "eca_resnet50-1", 76.9)
    assert _verdict(between, "imagenet-resnet50").verdict == V.PARTLY


def test_synthetic_and_malformed_evaluations_are_named_and_not_counted(tmp_path):
    _evaluation(tmp_path, "synthetic", 99.0, kind="synthetic", classes=4)
    _evaluation(tmp_path, "nan", float("nan"))
    _evaluation(tmp_path, "provenance-in-metrics", 77.5, model="eca_resnet101", data_source={"kind": "synthetic"})
    _write(tmp_path / "imagenet-eval" / "broken", params_json="{not json", env_json=GPU_ENV, final_json={"top1": 77})
    _write(tmp_path / "imagenet-eval" / "no-final", params_json={"model": "eca_resnet50"}, env_json=GPU_ENV)
    folders = ResultFolders(tmp_path)
    a = _verdict(folders, "imagenet-resnet50")
    assert a.verdict == V.CONFIRMED  # only the well-formed real evaluation ("provenance-in-metrics") counts
    rejected = {Path(r.folder).name: r.reason for r in folders.rejected}
    assert set(rejected) == {"nan", "broken", "no-final"}, rejected
    assert "top1" in rejected["nan"] and "final.json" in rejected["no-final"]
    assert any("synthetic" in i.text and not i.counts for i in a.evidence)
    assert "broken" in ledger_html(folders, [a])  # the ledger names what it left out


def _run(root: Path, name: str, attention: str, top1, seed: int, protocol: str = "ablation", data="cifar10", **final):
    networks = {"none": "resnet18_cifar", "eca": "eca_resnet18_cifar"}
    params = {
        "task": "cifar10",
        "recipe": protocol,
        "protocol": protocol,
        "profile": "full",
        "attention": attention,
        "config": {"model": networks.get(attention, f"{attention}_resnet18_cifar"), "seed": seed, "epochs": 50},
        "experiment": {"model": {"k_size": final.pop("k_size", None)}},
        "data_source": {"kind": data, "n": 50_000},
    }
    history = f"epoch,test_top1,epoch_time\n50,{top1},1.0\n"
    return _write(
        root / "cifar10" / name,
        params_json=params,
        env_json=GPU_ENV,
        final_json={"test_top1": top1, "test_loss": 0.3, **final},
        history_csv=history,
    )


def _table2_runs(root: Path, var2: float, var3: float):
    for seed, jitter in enumerate((-0.1, 0.0, 0.1)):
        _run(root, f"se-{seed}", "se", 94.0 + jitter, seed)
        _run(root, f"var2-{seed}", "se_var2", var2 + jitter, seed)
        _run(root, f"var3-{seed}", "se_var3", var3 + jitter, seed)


def test_cifar10_ablation_runs_flip_the_table2_verdict_each_way(tmp_path):
    up, down = tmp_path / "up", tmp_path / "down"
    _table2_runs(up, 95.0, 95.2)
    _table2_runs(down, 93.0, 92.8)
    a = _verdict(up, "no-reduction")
    assert a.verdict == V.CONFIRMED and all("CIFAR-10 proxy" in p.name for p in a.parts), a.parts
    assert _verdict(down, "no-reduction").verdict == V.CONTRADICTED
    assert _verdict(up, "local-interaction").verdict == V.UNTESTED  # no ECA, ECA-NS or SE-GC runs
    # a run with a NaN metric, a synthetic run and a run whose metrics try to rewrite its provenance do not count
    _run(up, "nan", "se", float("nan"), 9)
    _run(up, "synthetic", "se", 99.9, 10, data="synthetic")
    _run(up, "faked", "se", 99.9, 11, data="synthetic", device="NVIDIA A100")
    (up / "cifar10" / "garbled").mkdir()
    (up / "cifar10" / "garbled" / "final.json").write_text("[1, 2")
    folders = ResultFolders(up)
    a = _verdict(folders, "no-reduction")
    assert a.verdict == V.CONFIRMED and all("3 vs 3 runs" in p.name for p in a.parts), a.parts
    rejected = {Path(r.folder).name: r.reason for r in folders.rejected}
    assert set(rejected) == {"nan", "garbled", "faked"}  # the synthetic run is simply not counted
    assert "final.json sets ['device']" in rejected["faked"]


def test_the_rc2020_row_reads_the_digitised_curves_and_committed_runs(tmp_path):
    a = _verdict(tmp_path, "rc2020-cifar10")
    assert a.verdict == V.PARTLY  # CBAM, ECA, SE above the plain network within the bands; Triplet below
    for seed in range(3):
        _run(tmp_path, f"eca-{seed}", "eca", 80.0 + 0.1 * seed, seed, protocol="rc2020")
        _run(tmp_path, f"none-{seed}", "none", 79.0 + 0.1 * seed, seed, protocol="rc2020")
    a = _verdict(tmp_path, "rc2020-cifar10")
    ours = [p for p in a.parts if "ecalib" in p.name]
    assert len(ours) == 1 and ours[0].verdict == V.CONFIRMED


BENCH_COLUMNS = [
    "backbone",
    "mechanism",
    "model",
    "eca_impl",
    "eca_impl_used",
    "precision",
    "compile",
    "batch_size",
    "input_size",
    "mode",
    "images_per_s",
    "vs none (paired)",
    "vs none ci_low",
    "vs none ci_high",
]


def _bench(root: Path, name: str, ratios: dict, env=GPU_ENV, rate: float = 1000.0) -> Path:
    rows = []
    for mode, by_mechanism in ratios.items():
        for mechanism, ratio in by_mechanism.items():
            impl = "reference" if mechanism == "eca" else "-"
            rows.append(
                [
                    "resnet50",
                    mechanism,
                    f"{mechanism}_resnet50",
                    impl,
                    impl,
                    "fp32",
                    "eager",
                    256,
                    224,
                    mode,
                    rate * ratio,
                    ratio,
                    ratio - 0.01,
                    ratio + 0.01,
                ]
            )
    table = pd.DataFrame(rows, columns=BENCH_COLUMNS).to_csv(index=False)
    return _write(
        root / "benchmarks" / "speed" / name, params_json={"command": "bench"}, env_json=env, results_csv=table
    )


def test_a_gpu_bench_folder_flips_the_speed_verdict_each_way(tmp_path):
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    mechanisms = lambda eca, se, cbam: {"none": 1.0, "se": se, "cbam": cbam, "eca": eca}  # noqa: E731
    _bench(
        fast, "20270101T000000Z-nvidia-h100", {"train": mechanisms(0.95, 0.8, 0.6), "infer": mechanisms(0.99, 0.9, 0.7)}
    )
    _bench(
        slow, "20270101T000000Z-nvidia-h100", {"train": mechanisms(0.6, 0.8, 0.7), "infer": mechanisms(0.9, 0.92, 0.95)}
    )
    _bench(slow, "cpu-only", {"train": mechanisms(0.99, 0.5, 0.5)}, env=CPU_ENV)
    assert _verdict(fast, "speed").verdict == V.CONFIRMED
    from ecalib.reports.compute import rate

    measured = rate("resnet50", "train", ResultFolders(fast).bench)  # the projections follow a GPU measurement
    assert measured.measured_here and "NVIDIA H100" in measured.basis and measured.images_per_s == 1000.0
    assert not rate("resnet50", "train", ResultFolders(tmp_path / "none").bench).measured_here  # the paper's
    a = _verdict(slow, "speed")
    assert a.verdict == V.CONTRADICTED, a.parts
    assert not any("cpu-only" in p.name for p in a.parts)  # a CPU folder is shown, never counted
    assert any("cpu-only" in i.source and not i.counts for i in a.evidence)
    _write(
        slow / "benchmarks" / "speed" / "bad",
        params_json={"command": "bench"},
        env_json=GPU_ENV,
        results_csv="backbone,mechanism,mode,images_per_s\nresnet50,none,train,-5\n",
    )
    folders = ResultFolders(slow)
    assert _verdict(folders.root, "speed").verdict == V.CONTRADICTED
    folders.bench  # noqa: B018  (read)
    assert [Path(r.folder).name for r in folders.rejected] == ["bad"]


@pytest.mark.slow
def test_a_folder_written_by_ecalib_bench_reaches_the_ledger(tmp_path):
    """The real writer's format: a CPU run of ecalib bench, then the same folder as if measured on a GPU."""
    out = tmp_path / "benchmarks" / "speed"
    tiny = ["--batch-size", 2, "--input-size", 64, "--steps", 1, "--warmup", 0, "--repeats", 2, "--modes", "infer"]
    done = run_cli("bench", "--backbones", "resnet50", "--mechanisms", "none", "se", "cbam", "eca", *tiny,
                   "--device", "cpu", "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert _verdict(tmp_path, "speed").verdict == V.UNTESTED  # CPU only
    (folder,) = out.iterdir()
    env = json.loads((folder / "env.json").read_text())
    (folder / "env.json").write_text(json.dumps({**env, "device": "NVIDIA H100 80GB HBM3", "cuda": "12.8"}))
    a = _verdict(tmp_path, "speed")
    assert a.verdict != V.UNTESTED and all(folder.name in p.name for p in a.parts), a.parts
    assert len(a.parts) == 3  # inference: the paper's ratio, faster than SE, faster than CBAM


def test_coco_runs_give_the_mask_rcnn_row_a_verdict(tmp_path):
    def coco_run(name, model, box):
        params = {
            "task": "coco",
            "recipe": "maskrcnn_1x",
            "profile": "full",
            "config": {"model": model, "epochs": 12},
            "data_source": {"kind": "coco"},
        }
        _write(
            tmp_path / "coco" / name,
            params_json=params,
            env_json=GPU_ENV,
            final_json={"bbox_AP": box, "segm_AP": box - 0.03},
            history_csv="epoch\n12\n",
        )

    coco_run("plain", "resnet50", 0.372)
    coco_run("eca", "eca_resnet50", 0.385)
    a = _verdict(tmp_path, "coco-mask-r-cnn")
    assert a.verdict == V.PARTLY and len(a.parts) == 2  # box and mask AP, one run each: the direction only
    assert _verdict(tmp_path, "coco-retinanet").verdict == V.NOT_TESTABLE


def test_the_committed_results_give_the_verdicts_the_book_shows():
    frame = ledger_frame(assess(ROOT / "results"))
    assert frame.loc["params-flops", "verdict"] == "confirmed"
    assert frame.loc["kernel-rule", "verdict"] == "contradicted"
    assert frame.loc["eca-vs-se-cbam", "parts"].startswith("confirmed: fewer parameters than SE")  # counted
    assert frame["command"].str.len().gt(0).all()
    html = chapter_opening("speed", ROOT / "results").data + chapter_closing("speed", ROOT / "results").data
    assert "<caption" in html and "untested" in html and "ecalib bench" in html


def test_claims_module_reads_folders_only_through_evidence():
    """One place reads result folders (ecalib.reports.evidence), so a change of format is one edit."""
    source = Path(claims_module.__file__).read_text()
    assert "read_text(" not in source and "json.loads" not in source and "glob(" not in source


def test_every_command_the_ledger_proposes_parses():
    import shlex

    from ecalib.cli import build_parser

    commands = {step.command for a in assess(ROOT / "results") for step in a.steps}
    checked = 0
    for command in commands:
        for line in command.split(";"):
            words = shlex.split(line)
            if "<" in line:  # a placeholder the ledger names (a config that is not written)
                continue
            assert words[0] == "ecalib", command
            args = build_parser().parse_args(words[1:])
            assert callable(args.func), command
            checked += 1
    assert checked >= 12
