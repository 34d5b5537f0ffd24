"""The notebooks run under papermill, with the runner `make book` uses, and validate their parameters."""

import json
import re
import subprocess
import sys

import pytest
from helpers import ROOT, failure, outputs_text, papermill, run_tiny_bench

from ecalib.reference import rc2020_cifar10_curves
from ecalib.reports.rc2020 import rounded, summarise_rc2020_curves
from ecalib.reports.tables import format_number

pytestmark = pytest.mark.notebook


def run_notebook(tmp_path, *args):
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "run_notebooks.py"), "--out", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )


def test_complexity_notebook_smoke_profile(tmp_path):
    result = run_notebook(tmp_path, "--profile", "smoke", "--only", "complexity")
    assert result.returncode == 0, result.stdout + result.stderr
    text = outputs_text(tmp_path / "complexity.ipynb")
    assert "eca_resnet18" in text and "1.70G" in text and "319.9M" in text
    assert "git_commit" in text and "Source: counted by ecalib" in text
    assert "image/png" in (tmp_path / "complexity.ipynb").read_text()
    cells = json.loads((tmp_path / "complexity.ipynb").read_text())["cells"]
    injected = [c["metadata"]["tags"] for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected == [["injected-parameters", "hide-input"]]  # the profile's values, collapsed in the book


def test_complexity_notebook_rejects_unknown_models(tmp_path):
    result = papermill("complexity", tmp_path / "bad.ipynb", models="['eca_resnet_50']")
    assert result.returncode != 0
    assert "unknown model(s) ['eca_resnet_50']; allowed:" in failure(result)


def test_unknown_profile_is_an_error(tmp_path):
    result = run_notebook(tmp_path, "--profile", "nope")
    assert result.returncode != 0 and "profiles: default, smoke" in result.stderr


def test_unknown_parameters_and_non_booleans_are_refused(tmp_path):
    # papermill itself only warns about a name the notebook lacks, and passes `-p x maybe` as a string
    result = papermill("complexity", tmp_path / "typo.ipynb", epoch=3)
    assert result.returncode != 0
    assert "unknown parameter(s) ['epoch']; this notebook's parameters are: models, contrast_models, input_size" in (
        failure(result)
    )
    result = papermill("cifar10", tmp_path / "bool.ipynb", profile="smoke", channels_last="maybe")
    assert result.returncode != 0
    assert "parameter channels_last must be True or False, got 'maybe'" in failure(result)


def test_cifar10_notebook_without_data_fails_at_once_in_one_line(tmp_path):
    result = papermill("cifar10", tmp_path / "nodata.ipynb", timeout=300, download="false", data_dir=tmp_path / "d")
    assert result.returncode != 0
    cells = json.loads((tmp_path / "nodata.ipynb").read_text())["cells"]
    errors = [o for c in cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert len(errors) == 1 and len(errors[0]["traceback"]) == 1, errors  # one line, not a traceback
    assert errors[0]["traceback"][0] == (
        f"UsageError: CIFAR-10 is not in {tmp_path / 'd' / 'cifar-10-batches-py'}: -p download true downloads it "
        "there (online), -p profile smoke runs on generated data"
    )
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())


@pytest.fixture(scope="module")
def cifar_results(tmp_path_factory):
    """The cifar10 notebook in the smoke profile (two mechanisms), shared by the compare test."""
    out = tmp_path_factory.mktemp("nb")
    results = out / "results"
    result = papermill(
        "cifar10",
        out / "cifar10.ipynb",
        model="none,eca",
        profile="smoke",
        wandb_mode="disabled",
        results_dir=results,
        data_dir=out / "data",
        show_progress="false",  # as the book runs it
    )
    assert result.returncode == 0, failure(result)
    return out, results


def test_cifar10_notebook_smoke(cifar_results):
    out, results = cifar_results
    text = outputs_text(out / "cifar10.ipynb")
    from ecalib.cli import build_parser, plan_from_args
    from ecalib.recipes import plan

    # papermill, the command line and Python with the same settings: one resolved config, one folder
    argv = ["train", "cifar10", "--profile", "smoke", "--model", "none,eca", "--wandb-mode", "disabled"]
    args = build_parser().parse_args([*argv, "--data-dir", str(out / "data"), "--download"])
    args.dotted = []
    cli = plan_from_args(args)
    api = plan("cifar10", "smoke", model="none,eca", wandb_mode="disabled", data_dir=str(out / "data"), download=True)
    names = [r.name for r in cli]
    assert names == [r.name for r in api] and [r.resolved for r in cli] == [r.resolved for r in api]
    assert f"2 run(s): {names[0]}, {names[1]}" in text
    for run in cli:
        params = json.loads((results / "cifar10" / run.name / "params.json").read_text())
        assert params["experiment"] == run.resolved and params["run_id"] == run.run_id
    assert "'kind': 'synthetic'" in text
    assert (results / "cifar10" / names[1] / "final.json").exists()
    assert "epoch 1/2" not in text and "img/s" not in text, "per-epoch lines in the book's page"
    assert "results/cifar10" in text  # the evidence comes before the smoke run
    assert "a pipeline check, not a result" in text  # synthetic runs are not shown as results
    assert "Claims and verdicts" not in text and "RC2020: attention on CIFAR-10" in text  # this chapter's rows
    cells = json.loads((out / "cifar10.ipynb").read_text())["cells"]
    heading = next(i for i, c in enumerate(cells) if "".join(c["source"]).startswith("## Pipeline check on synthetic"))
    run_it = next(i for i, c in enumerate(cells) if "".join(c["source"]).startswith("## Run it yourself"))
    assert run_it < heading
    outputs = [c for c in cells[heading:] if c["cell_type"] == "code" and c.get("outputs")]
    tags = [c["metadata"].get("tags", []) for c in outputs]
    assert tags and all("hide-output" in t or "hide-cell" in t for t in tags[1:]), tags  # collapsed after the plan


def test_cifar10_notebook_rejects_bad_parameters(tmp_path):
    result = papermill("cifar10", tmp_path / "bad.ipynb", timeout=600, model="gc", profile="smoke")
    assert result.returncode != 0
    assert "model.name='gc' is not one of this recipe's: none, se, cbam, triplet, eca" in failure(result)
    result = papermill("cifar10", tmp_path / "bad.ipynb", timeout=600, profile="smoke", overrides="optimizer.lrr=1")
    assert result.returncode != 0
    assert "unknown key 'optimizer.lrr'; allowed at optimizer: name, lr, base_lr" in failure(result)


def test_cifar10_compare_notebook(cifar_results, tmp_path):
    _, results = cifar_results
    out = tmp_path / "compare.ipynb"
    result = papermill("cifar10_compare", out, timeout=600, results_dirs=f"{results}/cifar10,{tmp_path}/nothing-here")
    assert result.returncode == 0, failure(result)
    text = outputs_text(out)
    assert "0 complete real run(s)" in text and "2 synthetic run(s)" in text
    raw = out.read_text()
    # the RC2020 summary table shows what the shipped curves give, mechanism by mechanism
    table = next(p for p in re.split(r"(?=<table)", outputs_text(out)) if "catch-up epoch" in p.split("</thead>")[0])
    shown = dict(re.findall(r'<th [^>]*class="row_heading[^"]*"[^>]*>(\w+)</th>(.*?)</tr>', table, flags=re.S))
    summary = rounded(summarise_rc2020_curves(rc2020_cifar10_curves()))
    assert set(shown) == set(summary.index)
    for mech, row in shown.items():
        cells = re.findall(r"<td [^>]*>([^<]*)</td>", row)
        expected = summary.loc[mech, ["final_top1", "baseline_catch_up_epoch"]]
        assert [cells[0], cells[-1]] == [format_number(v, 2) for v in expected], mech
    assert 'data-ecalib-figure=\\"rc2020-cifar10-curves\\"' in raw and "image/png" in raw


def test_pipeline_checks_list_what_each_smoke_run_proved(cifar_results, tmp_path):
    _, results = cifar_results
    out = tmp_path / "checks.ipynb"
    result = papermill("pipeline_checks", out, timeout=600, results_dir=results)
    assert result.returncode == 0, failure(result)
    text = outputs_text(out)
    assert "CIFAR-10 (cifar10 chapter): what each smoke run proved" in text and "2 of 2" in text
    assert text.count("✓") >= 2 * 3  # checkpoint written, evaluated, curves drawn, for each of the two runs
    assert "ImageNet (imagenet chapter): no run in" in text  # a pipeline that did not run says so


def test_cifar10_sweep_notebook_two_trials(tmp_path):
    out = tmp_path / "sweep.ipynb"
    result = papermill(
        "cifar10_sweep",
        out,
        profile="smoke",
        method="grid",
        trials=2,
        wandb_mode="disabled",
        results_dir=tmp_path / "results",
        data_dir=tmp_path / "data",
    )
    assert result.returncode == 0, failure(result)
    sweep_csv = tmp_path / "results" / "cifar10-sweeps" / "rc2020-attention" / "sweep.csv"
    assert len(sweep_csv.read_text().splitlines()) == 3
    assert "a pipeline check, not a result" in outputs_text(out)


def test_imagenet_notebook_smoke(tmp_path):
    out = tmp_path / "imagenet.ipynb"
    result = papermill(
        "imagenet",
        out,
        model="eca_resnet18",
        profile="smoke",
        wandb_mode="disabled",
        data_dir=tmp_path / "data",
        results_dir=tmp_path / "results",
    )
    assert result.returncode == 0, failure(result)
    text = outputs_text(out)
    assert "ECA-Net50" in text and "Table 3" in text and "1805" in text  # both reference tables
    assert "linear scaling: 0.1 x 16/256" in text and "synthetic data: the published ImageNet values" in text
    assert "a pipeline check, not a result" in text


def test_coco_weights_notebook(tmp_path):
    out = tmp_path / "coco_weights.ipynb"
    result = papermill("coco_weights", out, work_dir=tmp_path / "work")
    assert result.returncode == 0, failure(result)
    text = outputs_text(out)
    assert "k per stage 3377" in text and "16 ECA kernels" in text and "refused:" in text
    assert "roi_head.bbox_head.fc_reg.weight" in text and "background row now last: True" in text


def test_coco_maskrcnn_notebook_smoke(tmp_path):
    out = tmp_path / "coco_maskrcnn.ipynb"
    result = papermill(
        "coco_maskrcnn",
        out,
        timeout=1200,
        profile="smoke",
        wandb_mode="disabled",
        data_dir=tmp_path / "data",
        results_dir=tmp_path / "results",
    )
    assert result.returncode == 0, failure(result)
    text = outputs_text(out)
    assert "27850" in text and "0.0025" in text and "0.341" in text  # the reproduction's evidence
    raw = out.read_text()
    assert "this build, synthetic data" in text and "image/gif" in raw and "image/png" in raw


def test_findings_notebook(tmp_path):
    result = run_notebook(tmp_path, "--profile", "smoke", "--only", "findings")
    assert result.returncode == 0, result.stdout + result.stderr
    text = outputs_text(tmp_path / "findings.ipynb")
    assert "README prints 57.41M" in text and "the lr stays at 0.1 in every epoch" in text
    assert "27,850" in text and "5557" in text and "3555" in text  # both readings of Eq. 12
    assert "Claims and verdicts. Source:" in text and "untested" in text and "contradicted" in text
    assert "SE-Var3" in text and "ecalib study table2-cifar10" in text and "GPU-hours" in text
    assert "se 75.36 % [74.17, 76.54]" in text  # rounded once, as on the CIFAR-10 pages


def test_speed_notebook_renders_bench_folders(tmp_path):
    bench = run_tiny_bench(tmp_path / "speed", "resnet18_cifar", "none", "eca")
    assert bench.returncode == 0, bench.stderr
    out = tmp_path / "speed.ipynb"
    result = papermill("speed", out, timeout=600, results_dir=tmp_path / "speed")
    assert result.returncode == 0, failure(result)
    text = outputs_text(out)
    assert "0.767" in text and "Not measured: no GPU result folder" in text  # 785/1024 from Table 3
    assert 'data-ecalib-figure=\\"speed-ratios\\"' in out.read_text() and "image/png" in out.read_text()
    appendix = tmp_path / "speed_appendix.ipynb"
    result = papermill("speed_appendix", appendix, timeout=600, results_dir=tmp_path / "speed")
    assert result.returncode == 0, failure(result)
    text = outputs_text(appendix)
    assert "resnet18_cifar" in text and "paper vs none" in text and "ecalib bench result folder" in text


def test_eca_module_notebook_smoke_profile(tmp_path):
    result = run_notebook(tmp_path, "--profile", "smoke", "--only", "eca_module")
    assert result.returncode == 0, result.stdout + result.stderr
    path = tmp_path / "eca_module.ipynb"
    text, raw = outputs_text(path), path.read_text()
    assert "No checkpoint given: with `-p checkpoint" in text  # no untrained noise in its place
    assert "ECA-ResNet-18" in text and "3, 5, 7, 7" in text  # released kernels beside the rule's
    assert "max |conv1d(y) - W y|" in text and "image/png" in raw
    assert 'data-ecalib-figure=\\"eq12-explorer\\"' in raw and "application/papermill.record" in raw
    assert "widget" not in raw  # the explorer runs in the page, without ipywidgets or a kernel


def test_eca_module_notebook_shows_a_checkpoints_learned_kernels(tmp_path):
    from ecalib.detection.synthetic_checkpoints import write_official_imagenet_checkpoint

    checkpoint = write_official_imagenet_checkpoint(tmp_path / "eca_resnet50_k3557.pth.tar", k_size="3557")
    out = tmp_path / "eca.ipynb"
    result = papermill("eca_module", out, timeout=600, checkpoint=checkpoint, input_size=128)
    assert result.returncode == 0, failure(result)
    raw = out.read_text()
    for name in ("learned-kernels", "band-matrix", "channel-weights"):
        assert f'data-ecalib-figure=\\"{name}\\"' in raw, name
    assert "official checkpoint eca_resnet50_k3557.pth.tar" in outputs_text(out) and "top-5:" in outputs_text(out)


def test_eca_module_notebook_rejects_bad_parameters(tmp_path):
    result = papermill("eca_module", tmp_path / "bad.ipynb", image="cat.jpg")
    assert result.returncode != 0
    assert "image='cat.jpg' is not allowed; choose one of: chelsea, astronaut, coffee" in failure(result)


def test_a_kernel_that_stops_answering_gets_one_fresh_kernel_and_a_cell_error_none(monkeypatch, tmp_path):
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    sys.path.insert(0, str(ROOT / "tools"))
    import run_notebooks

    calls = []

    def dies_once(*args, **kwargs):
        calls.append(kwargs["execution_timeout"])
        if len(calls) == 1:
            raise DeadKernelError("Kernel died")

    monkeypatch.setattr(run_notebooks.pm, "execute_notebook", dies_once)
    run_notebooks.execute(tmp_path / "a.ipynb", tmp_path / "out.ipynb", {})
    assert calls == [run_notebooks.CELL_TIMEOUT_S] * 2

    def cell_error(*args, **kwargs):
        calls.append("error")
        raise PapermillExecutionError(0, 1, "x = 1 / 0", "ZeroDivisionError", "division by zero", [])

    calls.clear()
    monkeypatch.setattr(run_notebooks.pm, "execute_notebook", cell_error)
    with pytest.raises(PapermillExecutionError):
        run_notebooks.execute(tmp_path / "a.ipynb", tmp_path / "out.ipynb", {})
    assert calls == ["error"]
