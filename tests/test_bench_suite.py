"""`ecalib bench --suite table3`: the preset, its budget, the folder it writes and who reads it."""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecalib.bench_budget import Budget, CostModel, GroupCost
from ecalib.recipes.bench import parse_duration, resolve_preset

ROOT = Path(__file__).resolve().parents[1]

# What Table 3 compares (the list, written out independently of the preset file): backbone ->
# its networks; every network in train and infer, fp32 and bf16, eager and compiled.
TABLE3_NETWORKS = {
    "resnet50": ["resnet50", "se_resnet50", "cbam_resnet50", "eca_resnet50:reference", "eca_resnet50:auto"],
    "resnet101": ["resnet101", "se_resnet101", "cbam_resnet101", "eca_resnet101:reference", "eca_resnet101:auto"],
    "mobilenet_v2": ["mobilenet_v2", "eca_mobilenet_v2:reference", "eca_mobilenet_v2:auto"],
}
TABLE3_ROWS = {
    (network.split(":")[0], network.split(":")[1] if ":" in network else "-", precision, compiled, mode)
    for networks in TABLE3_NETWORKS.values()
    for network, precision, compiled, mode in itertools.product(
        networks, ["fp32", "bf16"], ["eager", "compile"], ["train", "infer"]
    )
}
ROW_KEY = ["model", "eca_impl", "precision", "compile", "mode"]


# -- the GPU script in its CPU smoke size: the preset as `make test` runs it --------------------------------


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """benchmarks/table3_gpu.sh with PROFILE=smoke on the CPU: the table3 preset's smoke size, then the profile."""
    out = tmp_path_factory.mktemp("table3-smoke")
    env = os.environ | {
        "OUT": str(out), "PROFILE": "smoke", "DEVICE": "cpu", "PYTHON": sys.executable,
        "WHEELS": str(tmp_path_factory.mktemp("no-wheels")), "PYTHONPATH": str(ROOT),
    }  # fmt: skip
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "table3_gpu.sh")], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (folder,) = (out / "speed").iterdir()
    return out, folder


@pytest.mark.slow
def test_smoke_preset_accounts_for_every_table3_row(smoke_run):
    _, folder = smoke_run
    files = {"params.json", "env.json", "results.csv", "dropped.csv", "budget.json"}
    assert {p.name for p in folder.iterdir()} == files
    results, dropped = pd.read_csv(folder / "results.csv"), pd.read_csv(folder / "dropped.csv")
    measured = set(map(tuple, results[ROW_KEY].astype(str).to_numpy()))
    left_out = set(map(tuple, dropped[ROW_KEY].astype(str).to_numpy()))
    assert not measured & left_out and measured | left_out == TABLE3_ROWS  # each row exactly once
    assert len(results) + len(dropped) == len(TABLE3_ROWS)
    budget = json.loads((folder / "budget.json").read_text())
    assert budget["status"] == "complete" and budget["budget_s"] == 30 and budget["rows_planned"] == len(TABLE3_ROWS)
    assert budget["rows_measured"] == len(results) and budget["rows_dropped"] == len(dropped)
    # The first group is always measured (ResNet-50, fp32, eager, training); torch.compile does not fit 30 s.
    first = results[(results["backbone"] == "resnet50") & (results["precision"] == "fp32")]
    first = first[first["mode"] == "train"]
    assert len(first) == 5 and (first["compile"] == "eager").all() and (first["rounds"] >= 2).all()
    assert (dropped[dropped["compile"] == "compile"]["reason"].str.startswith("over budget")).all()
    assert set(dropped["compile"]) >= {"compile"}
    assert (results["channels_last"]).all() and (results["device_type"] == "cpu").all()
    assert (results["batch_size"] == 2).all() and (results["input_size"] == 32).all()
    params, env = json.loads((folder / "params.json").read_text()), json.loads((folder / "env.json").read_text())
    assert params["suite"] == "table3" and params["profile"] == "smoke" and params["preset"]["budget"] == "30s"
    assert env["device"].startswith("CPU") and env["cuda"] is None and env["git_commit"]


@pytest.mark.slow
def test_the_speed_chapter_and_the_ratio_reader_read_the_smoke_folder(smoke_run):
    from ecalib.bench_results import load_results
    from ecalib.reports.speed import goal_check, is_table3_gpu, mechanism_ratios, ratio_table

    _, folder = smoke_run
    table = ratio_table(load_results(folder.parent))  # as notebooks/speed.py reads results/benchmarks/speed
    assert len(table) == len(pd.read_csv(folder / "results.csv")) and table["vs none"].notna().all()
    ratios = mechanism_ratios(folder)
    assert set(ratios["suite"]) == {"table3"} and set(ratios["profile"]) == {"smoke"}
    assert not is_table3_gpu(folder) and goal_check(ratios).empty  # a CPU smoke check is no GPU evidence
    # Oracle: the median over rounds of each round's rate over the plain network's rate in that round.
    rows = pd.read_csv(folder / "results.csv")
    for r in ratios.itertuples():
        same = rows[(rows["model"] == r.model) & (rows["eca_impl"] == r.eca_impl) & (rows["precision"] == r.precision)
                    & (rows["mode"] == r.mode)]  # fmt: skip
        base = rows[(rows["model"] == rows["backbone"]) & (rows["backbone"] == r.backbone)
                    & (rows["precision"] == r.precision) & (rows["mode"] == r.mode)]  # fmt: skip
        per_round = np.divide(*(json.loads(rows_["round_rates"].iloc[0]) for rows_ in (same, base)))
        assert r.ratio == pytest.approx(np.median(per_round), rel=1e-3)
        if (r.backbone, r.mode) == ("resnet50", "train"):  # Table 3's train FPS over ResNet-50's 1024
            paper_fps = {"none": 1024, "se": 759, "cbam": 472, "eca": 785}
            assert r.paper_ratio * 1024 == pytest.approx(paper_fps[r.mechanism])


@pytest.mark.slow
def test_gpu_script_output_fits_what_the_device_brings_back(smoke_run):
    out, _ = smoke_run
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) <= 8 and all(len(p.relative_to(out).parts) <= 3 for p in files)  # $OUT/a/b/file at most
    assert all(set(p.name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") for p in files)
    report = (out / "profile" / "profile.md").read_text()
    assert "eca_resnet50[reference]" in report and "Where eca_resnet50[torch]'s extra time goes" in report
    assert "block tail" in report  # the residual tails are marked, 16 per ResNet-50
    ops = pd.read_csv(out / "profile" / "profile.csv")
    tails = ops[ops["name"] == "block tail"].set_index("network")["calls"]
    assert (tails == 16).all() and set(tails.index) == {"resnet50", "eca_resnet50[reference]", "eca_resnet50[torch]"}
    assert "table3_gpu: profile exit 0" in (out / "table3.log").read_text()


# -- the preset: validated and overridden like a recipe ------------------------------------------------------


def test_table3_preset_plans_what_table3_compares():
    from ecalib.bench_suite import preset_groups

    preset, origin = resolve_preset("table3")
    assert origin == "configs/bench/table3.yaml" and preset.budget_seconds is None
    groups = preset_groups(preset)
    planned = {(name, impl, g.precision, g.compile, g.mode) for g in groups for _, name, impl in g.members()}
    assert planned == TABLE3_ROWS
    assert {g.batch for g in groups if g.backbone != "mobilenet_v2"} == {256} and {g.size for g in groups} == {224}
    assert {g.batch for g in groups if g.backbone == "mobilenet_v2"} == {96} and all(g.channels_last for g in groups)
    assert groups[0].describe() == "resnet50 fp32 eager channels-last b256 224px train"  # the first to measure


def test_a_preset_file_may_start_from_a_shipped_one(tmp_path):
    from ecalib.recipes.bench import BENCH_ROOT

    mine = tmp_path / "mine.yaml"
    mine.write_text(f"base: {BENCH_ROOT / 'table3.yaml'}\nbudget: 5m\n")
    preset, shipped = resolve_preset(mine)[0], resolve_preset("table3", sets=["budget=5m"])[0]
    assert preset.suite == "mine" and preset.budget_seconds == 300  # its own name, the base's settings
    assert preset.model_dump(exclude={"suite"}) == shipped.model_dump(exclude={"suite"})


def test_preset_overrides_use_the_recipe_syntax():
    from ecalib.bench_suite import preset_groups

    preset, origin = resolve_preset(
        "table3", "smoke", ["budget=5m", "parts.resnet101_compile=null", "parts.resnet50_eager.precisions=[bf16]",
                            "parts.extra={backbones: [resnet152], mechanisms: [none, eca]}"],
    )  # fmt: skip
    assert preset.budget_seconds == 300 and preset.profile == "smoke" and "budget=5m" in origin
    parts = [g.part for g in preset_groups(preset)]
    assert "resnet101_compile" not in parts and parts[-1] == "extra"  # added parts come last: lowest priority
    assert {g.precision for g in preset_groups(preset) if g.part == "resnet50_eager"} == {"bf16"}
    assert resolve_preset("table3", sets=["budget=none"])[0].budget is None


@pytest.mark.parametrize(
    "sets, message",
    [
        (["parts.resnet50_eager.precision=[bf16]"], "unknown key 'parts.resnet50_eager.precision'; allowed at "
         "parts.resnet50_eager: backbones, mechanisms, precisions, compile_modes"),
        (["stepz=3"], "unknown key 'stepz'; allowed at the top level: suite, profile, budget"),
        (["budget=soon"], "budget (--budget)='soon' is not allowed: a duration is like 8m"),
        (["budget=-5"], "a duration must be a positive"),
        (["parts.resnet50_eager.backbones=[vgg16]"], "unknown backbones ['vgg16']"),
        (["rounds.min=9"], "rounds.min (9) must not exceed rounds.max (8)"),
        (["eca_impls=[fast]"], "unknown ECA implementations ['fast']"),
        (["steps=0"], "steps=0 is not allowed: must be greater than or equal to 1"),
    ],
)  # fmt: skip
def test_bad_preset_values_are_one_clear_error(sets, message):
    from ecalib.errors import UsageError

    with pytest.raises(UsageError) as error:
        resolve_preset("table3", sets=sets)
    assert message in str(error.value)


def test_bench_command_line_refuses_mixed_or_unknown_suites(capsys, tmp_path):
    from ecalib.cli import main

    for argv, expected in [
        (["--suite", "table3", "--steps", "3"], "--steps cannot be combined with --suite: change the preset with"),
        (["--suite", "table9"], "unknown suite 'table9'; give a YAML file or one of: table3"),
        (["--suite", "table3", "--profile", "tiny"], "--profile tiny is not allowed for bench; choose one of: full"),
        (["--suite", "table3", "--budget", "8 minutes"], "--budget"),
    ]:  # fmt: skip
        assert main(["bench", *argv, "--device", "cpu", "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.iterdir())  # nothing written


def test_durations():
    assert parse_duration("8m") == 480 and parse_duration("90s") == 90 and parse_duration("1h30m") == 5400
    assert parse_duration("5m30s") == 330 and parse_duration(45) == 45 and parse_duration("2.5m") == 150
    for bad in ("", "m", "8 min", "0s", True):
        with pytest.raises(ValueError):
            parse_duration(bad)


# -- the budget: what is dropped, how many rounds ------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def cost(backbone="resnet50", mode="train", compiled=False, networks=5, work=10.0, fresh=0):
    return GroupCost(f"{backbone} {mode}", backbone, mode, "fp32", compiled, networks, work, fresh)


def test_budget_keeps_the_first_group_then_drops_what_does_not_fit():
    clock = Clock()
    budget = Budget(100, CostModel(compile_prior=60), steps=5, warmup=2, min_rounds=2, max_rounds=10, clock=clock)
    assert budget.admit(cost(compiled=True, networks=5)) is None  # nothing measured yet: always admitted
    budget.costs.learn(cost(), step_seconds=1.0, setup_seconds=0.5, build_seconds=2.0)  # 0.1 s per unit of work
    clock.now = 40
    # Another eager ResNet-50 training group: 5 x 0.5 s set-up + 1 s x (2 + 2 x 5) steps = 14.5 s: fits in 60 s.
    assert budget.minimum(cost()) == pytest.approx(14.5)
    assert budget.admit(cost()) is None
    # A compiled one: the prior, 60 s per network, until one is measured.
    reason = budget.admit(cost(compiled=True))
    assert reason == "over budget: needs about 312 s at 2 rounds, 60 s left"
    # ResNet-101 (twice the work) falls back on ResNet-50's rate; its 5 new networks take 2 s each to build.
    assert budget.minimum(cost("resnet101", work=20.0, fresh=5)) == pytest.approx(2.5 + 10 + 2 * 12)
    clock.now = 100
    assert budget.admit(cost()).endswith("0 s left") and budget.out_of_time()


def test_rounds_fill_what_is_left_after_the_later_groups_that_fit():
    clock = Clock()
    budget = Budget(200, CostModel(), steps=5, warmup=2, min_rounds=2, max_rounds=10, clock=clock)
    budget.costs.learn(cost(), step_seconds=1.0, setup_seconds=0.0, build_seconds=None)  # rounds of 5 s
    later = [cost(), cost()]  # 1 s x (2 + 2 x 5) = 12 s each at their fewest rounds
    assert budget.rounds_for(5.0, later) == 10  # 200 - 24 s leaves room for 35 rounds: at most 10
    clock.now = 150  # 50 s left: keep 24 s for the later two, 26 s for this one: 5 rounds
    assert budget.rounds_for(5.0, later) == 5
    clock.now = 180  # 20 s left: 10 s for its 2 rounds, room for none of the later ones: 4 rounds
    assert budget.rounds_for(5.0, later) == 4
    clock.now = 199
    assert budget.rounds_for(5.0, later) == 2  # never fewer than min_rounds (the group was admitted)
    unlimited = Budget(None, CostModel(), steps=5, warmup=2, min_rounds=2, max_rounds=10)
    assert unlimited.rounds_for(1e9, later) == 10 and unlimited.admit(cost(compiled=True)) is None


def test_step_estimates_prefer_the_closest_measurement():
    costs = CostModel()
    costs.learn(cost("resnet50", "train"), step_seconds=2.0, setup_seconds=0.0, build_seconds=None)
    costs.learn(cost("resnet50", "infer"), step_seconds=0.5, setup_seconds=0.0, build_seconds=None)
    costs.learn(cost("mobilenet_v2", "infer", work=1.0), step_seconds=0.5, setup_seconds=0.0, build_seconds=None)
    assert costs.step_seconds(cost("resnet50", "infer")) == pytest.approx(0.5)  # its own
    assert costs.step_seconds(cost("resnet101", "train", work=20.0)) == pytest.approx(4.0)  # same settings, scaled
    assert costs.step_seconds(cost("resnet101", "infer", work=20.0)) == pytest.approx(20 * np.median([0.05, 0.5]))
    costs.refine(cost("resnet50", "train"), step_seconds=3.0)  # the timed rounds replace the warm-up's estimate
    assert costs.step_seconds(cost("resnet50", "train")) == pytest.approx(3.0)
    assert CostModel().step_seconds(cost()) is None


# -- what the readers make of other folders ------------------------------------------------------------------


def _as_gpu_run(smoke: Path, folder: Path) -> Path:
    """The smoke folder relabelled as a full GPU run (a test fixture, not a measurement)."""
    import shutil

    folder = shutil.copytree(smoke, folder)
    relabel = {"env.json": {"device": "NVIDIA test GPU", "cuda": "13.0"}, "params.json": {"profile": "full"}}
    for name, change in relabel.items():
        (folder / name).write_text(json.dumps(json.loads((folder / name).read_text()) | change))
    rows = pd.read_csv(folder / "results.csv")
    rows.assign(device="NVIDIA test GPU", device_type="cuda").to_csv(folder / "results.csv", index=False)
    return folder


@pytest.mark.slow
def test_a_gpu_table3_folder_is_told_apart_and_checked_against_the_goals(smoke_run, tmp_path):
    from ecalib.reports.speed import SPEED_GOALS, goal_check, is_table3_gpu, mechanism_ratios

    _, smoke = smoke_run
    folder = _as_gpu_run(smoke, tmp_path / "20990101T000000Z-nvidia-test-gpu")
    rows = pd.read_csv(folder / "results.csv")
    assert is_table3_gpu(folder) and not is_table3_gpu(smoke)
    checked = goal_check(mechanism_ratios(folder))
    assert len(checked) == len(rows[(rows["backbone"] == "resnet50") & (rows["mechanism"] == "eca")])
    for r in checked.itertuples():
        expected = r.ratio >= SPEED_GOALS[r.mode] and r.memory_ratio <= SPEED_GOALS["memory"]
        assert r.meets_goal == expected


@pytest.mark.slow
def test_the_ledger_reads_the_preset_folder_and_a_gpu_one_settles_the_speed_claim(smoke_run, tmp_path):
    """Committing the preset's folder under results/benchmarks/speed/ is the only edit the speed verdict needs."""
    import shutil

    from ecalib.reports.claims import assess, bench_command
    from ecalib.reports.verdicts import Verdict

    _, smoke = smoke_run
    speed = tmp_path / "benchmarks" / "speed"
    shutil.copytree(smoke, speed / smoke.name)
    (cpu,) = assess(tmp_path, keys=("speed",))
    assert cpu.verdict == Verdict.UNTESTED  # a CPU smoke check is shown, never counted
    assert any(smoke.name in item.source and not item.counts for item in cpu.evidence), cpu.evidence
    assert [step.command for step in cpu.steps] == [bench_command()]
    assert bench_command().split()[:4] == ["ecalib", "bench", "--suite", "table3"]

    gpu = _as_gpu_run(smoke, speed / "20990101T000000Z-nvidia-test-gpu")
    (judged,) = assess(tmp_path, keys=("speed",))
    assert judged.verdict != Verdict.UNTESTED and judged.parts
    assert all(gpu.name in part.name for part in judged.parts), judged.parts
    # Oracle: ECA-ResNet-50's paired ratio (official operations, fp32, eager) read from results.csv itself
    rows, checked = pd.read_csv(gpu / "results.csv"), 0
    for mode in ("train", "infer"):
        eca = rows[(rows["model"] == "eca_resnet50") & (rows["eca_impl"] == "reference") & (rows["mode"] == mode)
                   & (rows["precision"] == "fp32") & (rows["compile"] == "eager")]  # fmt: skip
        if len(eca):
            shown = f"{float(eca['vs none (paired)'].iloc[0]):.3f}x"
            assert any(mode in item.text and shown in item.text for item in judged.evidence), (shown, judged.evidence)
            checked += 1
    assert checked  # the smoke size times ResNet-50 in fp32, eager


def test_a_network_that_fails_is_dropped_and_the_others_are_timed(monkeypatch):
    import torch

    from ecalib import bench_suite

    real = bench_suite._prepare

    def prepare(group, mechanism, name, impl, device):
        if mechanism == "eca":
            raise RuntimeError("no Triton kernel for this GPU\n(details)")
        return real(group, mechanism, name, impl, device)

    monkeypatch.setattr(bench_suite, "_prepare", prepare)
    groups = bench_suite.suite_groups(["resnet18_cifar"], ["none", "se", "eca"], modes=["infer"], batch_sizes=[2])
    run = bench_suite.run_groups(groups, torch.device("cpu"), steps=1, warmup=0, rounds=(2, 2), progress=lambda _: None)
    assert [r["mechanism"] for r in run.rows] == ["none", "se"] and all(r["rounds"] == 2 for r in run.rows)
    assert [(d["mechanism"], d["reason"]) for d in run.dropped] == [
        ("eca", "error: RuntimeError: no Triton kernel for this GPU")
    ]
    assert run.groups[0]["status"] == "partly measured"


def test_an_interrupted_run_keeps_its_folder_and_says_so(tmp_path):
    import torch

    from ecalib.bench_results import load_results
    from ecalib.bench_suite import run_preset

    values = {"suite": "custom", "parts": {"one": {"backbones": ["resnet18_cifar"], "mechanisms": ["none"]}},
              "modes": ["infer"], "batch_size": [2], "steps": 1, "warmup": 0}  # fmt: skip
    preset, origin = resolve_preset("a test", values=values)

    def stop(_):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_preset(preset, torch.device("cpu"), tmp_path, {"origin": origin}, progress=stop)
    (folder,) = tmp_path.iterdir()
    assert json.loads((folder / "budget.json").read_text())["status"] == "interrupted"
    assert load_results(tmp_path).empty and (folder / "params.json").is_file() and (folder / "dropped.csv").is_file()
