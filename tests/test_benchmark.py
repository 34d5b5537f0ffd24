import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers import run_tiny_bench

from ecalib.benchmark import measure_throughput
from ecalib.models import create_model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))  # update_eca_auto: derive_auto_policy
sys.path.insert(0, str(ROOT / "benchmarks"))  # eca_block_tail: the block-tail fixture


def test_measure_throughput_reports_rates_and_memory():
    model = create_model("eca_resnet20_cifar")
    for mode in ("train", "infer"):
        r = measure_throughput(model, 8, 32, torch.device("cpu"), mode, steps=2, warmup=1, repeats=2)
        assert r["mode"] == mode and r["images_per_s"] > 0 and r["peak_memory_mb"] > 0
        assert r["images_per_s_min"] <= r["images_per_s"] <= r["images_per_s_max"]
    with pytest.raises(ValueError, match="mode"):
        measure_throughput(model, 8, 32, torch.device("cpu"), "backward")


def test_cifar10_speed_script_writes_a_result_folder(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "cifar10_speed.py"),
            "--protocol",
            "rc2020_sweep",
            "--device",
            "cpu",
            "--mechanisms",
            "none",
            "eca",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--repeats",
            "1",
            "--batch-size",
            "16",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    (folder,) = list(tmp_path.iterdir())
    assert {p.name for p in folder.iterdir()} == {"params.json", "env.json", "results.csv"}
    table = pd.read_csv(folder / "results.csv")
    assert set(table["mechanism"]) == {"none", "eca"} and set(table["mode"]) == {"train", "infer"}
    assert "study_minutes" in (folder / "params.json").read_text()


def test_paper_ratios_come_from_table_3():
    from ecalib.reports.speed import paper_speed_ratios

    ratios = paper_speed_ratios().set_index(["backbone", "mechanism", "mode"])
    assert ratios.loc[("resnet50", "eca", "train"), "paper vs none"] == pytest.approx(785 / 1024)
    assert ratios.loc[("resnet50", "eca", "infer"), "paper vs none"] == pytest.approx(1805 / 1855)
    assert ratios.loc[("mobilenet_v2", "se", "train"), "paper vs none"] == pytest.approx(671 / 711)
    assert ratios.loc[("resnet50", "none", "train"), "paper vs none"] == 1.0


def test_bench_cli_writes_a_result_folder_with_ratios(tmp_path):
    from ecalib.reports.speed import ratio_table

    out = run_tiny_bench(tmp_path, "resnet18_cifar", "none", "eca", batch_size=4)
    assert out.returncode == 0, out.stderr
    (folder,) = list(tmp_path.iterdir())
    table = pd.read_csv(folder / "results.csv")
    assert len(table) == 4 and set(table["model"]) == {"resnet18_cifar", "eca_resnet18_cifar"}
    ratios = ratio_table(table)
    assert (ratios[ratios["mechanism"] == "none"]["vs none"] == 1.0).all()
    assert ratios["vs none"].notna().all()
    with pytest.raises(ValueError, match="unknown backbones"):
        from ecalib.bench_suite import run_suite

        run_suite(["vgg16"], ["none"], torch.device("cpu"))


def test_suite_times_each_eca_implementation_and_the_scaling_grid():
    from ecalib.bench_suite import run_suite
    from ecalib.reports.speed import ratio_table

    table = run_suite(
        ["resnet18_cifar"], ["none", "eca"], torch.device("cpu"), modes=("infer",), batch_size=[2, 4],
        steps=1, warmup=0, repeats=1, progress=lambda _: None, input_sizes=[16, 32], eca_impls=("reference", "auto"),
    )  # fmt: skip
    assert len(table) == 2 * 2 * 3  # batch sizes x resolutions x (none, eca reference, eca auto)
    eca = table[table["mechanism"] == "eca"]
    assert set(zip(eca["eca_impl"], eca["eca_impl_used"])) == {("reference", "reference"), ("auto", "torch")}
    assert (eca["eca_layers"] == 8).all() and (table[table["mechanism"] == "none"]["eca_impl"] == "-").all()
    ratios = ratio_table(table.assign(device="cpu"))
    assert ratios["vs none"].notna().all() and len(ratios) == len(table)
    with pytest.raises(ValueError, match="unknown ECA implementation"):
        run_suite(["resnet18_cifar"], ["eca"], torch.device("cpu"), eca_impls=("fast",))


def test_block_tails_compute_the_same_function_and_are_timed():
    from eca_block_tail import block_tail, measure_block_tail

    x, r = torch.randn(2, 32, 5, 5), torch.randn(2, 32, 5, 5)
    reference = block_tail("reference")
    fused = block_tail("torch")
    fused.load_state_dict(reference.state_dict())
    torch.testing.assert_close(fused(x, r), reference(x, r))
    torch.testing.assert_close(block_tail("plain")(x, r), torch.relu(x + r))
    row = measure_block_tail("torch", 2, 32, 5, torch.device("cpu"), steps=1, repeats=2)
    assert row["us_per_call"] > 0 and row["activation_mb"] == pytest.approx(2 * 32 * 25 * 4 / 2**20)
    with pytest.raises(ValueError, match="plain, reference, torch, triton"):
        block_tail("cuda")


def test_block_tail_script_writes_ratios_against_the_plain_tail(tmp_path):
    script = ROOT / "benchmarks" / "eca_block_tail.py"
    args = ["--device", "cpu", "--batch-size", "1", "--dtype", "float32", "--modes", "train", "--stages", "layer4"]
    out = subprocess.run(
        [sys.executable, str(script), *args, "--steps", "1", "--repeats", "1", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (folder,) = list(tmp_path.iterdir())
    table = pd.read_csv(folder / "results.csv")
    assert set(table["variant"]) == {"plain", "reference", "torch"}
    assert (table[table["variant"] == "plain"]["vs plain"] == 1.0).all() and (table["vs plain"] > 0).all()
    assert {"params.json", "env.json"} <= {p.name for p in folder.iterdir()}


def _bench_rows(device, mode, rates_by_impl, folder="f1"):
    """Rows as run_suite writes them, for one interleaved group with the given per-round rates."""
    return [
        {
            "device": device, "backbone": "resnet50", "precision": "fp32", "compile": "eager", "batch_size": 8,
            "input_size": 160, "mode": mode, "folder": folder, "commit": "abc", "mechanism": "eca",
            "eca_impl": impl, "eca_impl_used": impl, "round_rates": json.dumps(rates),
        }
        for impl, rates in rates_by_impl.items()
    ]  # fmt: skip


def test_auto_policy_is_the_fastest_paired_measurement():
    from update_eca_auto import derive_auto_policy

    cpu = "cpu x86-64 2 threads"
    rows = _bench_rows(cpu, "train", {"torch": [10, 11, 9, 10, 12], "reference": [11, 12, 10, 11, 13]})
    rows += _bench_rows(cpu, "infer", {"torch": [20, 21, 22, 20, 21], "reference": [18, 19, 20, 18, 19]})
    rows += _bench_rows("NVIDIA H200", "train", {"torch": [100, 100, 100], "triton": [150, 151, 149]})
    policy = derive_auto_policy(pd.DataFrame(rows))
    assert policy["choices"] == {"cpu": {"train": "reference", "infer": "torch"}, "cuda": {"train": "triton"}}
    train = policy["evidence"]["cpu"]["train"]
    ratio, low, high = train["speed vs torch (median, 95% interval)"]["reference"]
    assert ratio == pytest.approx(11 / 10, rel=1e-3) and low > 1 and train["clear"] and train["paired rounds"] == 5


def _assert_policy_follows_its_measurements(policy, root=ROOT):
    """Each device type's choices are what its committed folders give; one without any says "not measured"."""
    from update_eca_auto import derive_auto_policy

    from ecalib.bench_results import load_results

    for dtype, choices in policy["choices"].items():
        evidence = policy["evidence"][dtype]
        if isinstance(evidence, str):
            assert evidence.startswith("not measured"), dtype  # a guess is labelled as one
            continue
        results = pd.concat([load_results(root / r) for r in evidence["measured in"]], ignore_index=True)
        measured = {mode: impl for mode, impl in choices.items() if mode in evidence}
        folders = [f for mode in measured for f in evidence[mode]["folders"]]
        assert measured and derive_auto_policy(results[results["folder"].isin(folders)])["choices"][dtype] == measured


def test_shipped_auto_policy_is_what_its_committed_measurements_give():
    from ecalib.layers.eca import auto_policy

    policy = auto_policy()
    assert isinstance(policy["evidence"]["cpu"], dict)  # measured here
    _assert_policy_follows_its_measurements(policy)


def test_update_tool_replaces_not_measured_only_where_folders_cover_the_device(tmp_path, monkeypatch):
    """Both states of a device type's entry: CPU folders leave CUDA "not measured"; a CUDA folder measures it."""
    import shutil

    import update_eca_auto as tool

    policy_file = tmp_path / "eca_auto.json"
    shutil.copy(tool.POLICY, policy_file)
    monkeypatch.setattr(tool, "POLICY", policy_file)
    cpu, gpu = tmp_path / "cpu", tmp_path / "gpu"
    shutil.copytree(ROOT / "results" / "benchmarks" / "eca-auto", cpu)
    first = sorted(cpu.iterdir())[0]
    shutil.copytree(first, gpu / first.name)  # the same rounds, as if measured on a GPU
    env = json.loads((gpu / first.name / "env.json").read_text())
    (gpu / first.name / "env.json").write_text(json.dumps(env | {"device": "NVIDIA H100 80GB HBM3"}))

    monkeypatch.setattr(sys, "argv", ["update_eca_auto.py", str(cpu)])
    tool.main()
    policy = json.loads(policy_file.read_text())
    assert policy["evidence"]["cuda"].startswith("not measured")
    _assert_policy_follows_its_measurements(policy, tmp_path)

    monkeypatch.setattr(sys, "argv", ["update_eca_auto.py", str(gpu)])
    tool.main()
    policy = json.loads(policy_file.read_text())
    assert policy["evidence"]["cuda"]["measured in"] == [str(gpu)]
    assert set(policy["choices"]["cuda"]) == {"train", "infer"}  # modes not measured keep their entry
    _assert_policy_follows_its_measurements(policy, tmp_path)


def test_auto_follows_the_policy_per_mode(monkeypatch):
    from ecalib.layers import eca

    monkeypatch.setattr(eca, "auto_policy", lambda: {"choices": {"cpu": {"train": "reference", "infer": "torch"}}})
    x = torch.randn(2, 8, 4, 4)
    assert eca.resolve_eca_impl("auto", x) == "torch"
    assert eca.resolve_eca_impl("auto", x.requires_grad_()) == "reference"
    with torch.no_grad():
        assert eca.resolve_eca_impl("auto", x) == "torch"
    assert eca.resolve_eca_impl("auto", x, training=False) == "torch"
    assert eca.resolve_eca_impl("reference", x, training=False) == "reference"
    # The layer takes the chosen path: 'reference' is the official unfused tail.
    layer = eca.EcaLayer(k_size=3)
    calls = []
    monkeypatch.setattr(torch, "addcmul", lambda *a, **k: calls.append("fused"))
    layer.forward_residual(x, torch.randn(2, 8, 4, 4))
    assert calls == []


def test_interleaved_rounds_visit_every_case_in_shuffled_order():
    from ecalib.benchmark import measure_interleaved

    seen = []
    cases = {label: (lambda label=label: seen.append(label), lambda: 0) for label in "abc"}
    measured = measure_interleaved(cases, torch.device("cpu"), batch_size=1, steps=1, warmup=0, rounds=6)
    assert all(len(rates) == 6 for rates, _ in measured.values())
    rounds = [seen[i : i + 3] for i in range(0, 18, 3)]
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds) and len({tuple(r) for r in rounds}) > 1


def test_the_speed_figure_sets_table3_beside_each_committed_session_measured_at_its_input_size():
    from ecalib.bench_results import load_results
    from ecalib.reference import reference_metrics
    from ecalib.reports.speed import mechanism_ratios, table3_comparison

    folder = ROOT / "results" / "benchmarks" / "speed"
    results = load_results(folder)
    shown = table3_comparison(mechanism_ratios(results))
    assert table3_comparison(mechanism_ratios(results.iloc[:0])).equals(shown[shown["source"].str.startswith("paper")])
    paper = shown[shown["source"].str.startswith("paper")].set_index(["backbone", "mechanism", "mode"])["ratio"]
    eca50, r50 = reference_metrics("paper", "ResNet-50", "ECA-Net"), reference_metrics("paper", "ResNet-50", "ResNet")
    assert paper[("resnet50", "eca", "train")] == pytest.approx(float(eca50["train_fps"]) / float(r50["train_fps"]))
    assert ("resnet50", "none", "train") not in paper.index and len(paper) == 20  # 10 attention rows x 2 modes
    measured = shown[shown["source"].str.startswith("measured")]
    assert len(measured) > 0
    # Oracle: each folder's results.csv read directly: the network's images/s over its plain backbone's,
    # same folder, mode, precision, batch and compile mode, at 224 x 224 with ECA as it runs by default
    for row in measured.itertuples():
        stamp = row.source.rsplit("(", 1)[1].rstrip(")")
        (csv,) = folder.glob(f"{stamp}-*/results.csv")
        rows = pd.read_csv(csv)
        if "eca_impl" not in rows:  # a folder from before the fused kernels: ECA ran its reference code
            rows["eca_impl"] = rows["mechanism"].map(lambda m: "reference" if m == "eca" else "-")
        rows = rows[(rows["backbone"] == row.backbone) & (rows["mode"] == row.mode) & (rows["input_size"] == 224)]
        head, tail = row.source.split(" batch ")
        precision, compile_mode = head.split()[-2:]
        rows = rows[(rows["batch_size"] == int(tail.split()[0])) & (rows["precision"] == precision)]
        rows = rows[rows["compile"] == compile_mode]
        ours = rows[(rows["mechanism"] == row.mechanism) & rows["eca_impl"].isin(["auto", "-"])]["images_per_s"]
        plain = rows[rows["mechanism"] == "none"]["images_per_s"]
        assert len(ours) == len(plain) == 1, (row, ours, plain)
        assert row.ratio == pytest.approx(ours.iloc[0] / plain.iloc[0])
    # every session at the paper's input size appears, and only those
    sessions = {s.rsplit("(", 1)[1].rstrip(")") for s in measured["source"]}
    at_224 = {f.split("-")[0] for f in results[results["input_size"] == 224]["folder"]}
    assert sessions <= at_224
