"""timm's own model tests on ecalib's models.

``tests/test_models.py`` of the installed timm's source release (fetched once with ``pip download``,
cached in ``_build/timm-suite/``, unedited) runs in a subprocess through ``tests/timm_suite_conftest.py``,
which only narrows timm's model lists to ecalib's. A new timm pin brings its own suite. The default run
takes a representative set (every attention type, ECA-ResNet-50, a CIFAR model, ECA-MobileNetV2); the test marked
``all_models`` (and ``slow``; deselected by default) takes every registered ecalib model. Both write their
table and junit report to ``_build/timm-suite/<set>.{md,xml}``.
"""

import fcntl
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest
import timm

from ecalib.layers import ATTENTION_TYPES
from ecalib.models import list_models, model_info

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "_build" / "timm-suite"


def timm_source_release(version: str = timm.__version__) -> Path:
    """The unpacked source release of timm ``version`` (``pip download``, once; later runs reuse it)."""
    root = CACHE / f"timm-{version}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest processes running side by side fetch it once
        if (root / "tests" / "test_models.py").is_file():
            return root
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps"]
            fetched = subprocess.run([*cmd, f"timm=={version}", "-d", tmp], capture_output=True, text=True)
            archives = list(Path(tmp).glob(f"timm-{version}.tar.gz"))
            if fetched.returncode or not archives:
                pytest.fail(
                    f"could not fetch timm {version}'s source release from the package registry:\n"
                    + (fetched.stdout + fetched.stderr)[-2000:],
                    pytrace=False,
                )
            with tarfile.open(archives[0]) as archive:
                archive.extractall(tmp, filter="data")
            os.replace(Path(tmp) / f"timm-{version}", root)
    return root


def representative_models() -> list[str]:
    """timm names of the representative set: every attention type on the shallowest ImageNet ResNet that has it,
    ECA on a bottleneck ResNet (the released ECA-ResNet-50), one CIFAR model and ECA-MobileNetV2."""
    resnets = sorted(
        (info.depth, info.name, info.attention, info.timm_name)
        for info in map(model_info, list_models())
        if info.family == "resnet" and info.stem == "imagenet"
    )
    shallowest = {}
    for *_, attention, timm_name in resnets:
        shallowest.setdefault(attention, timm_name)
    missing = [a for a in ATTENTION_TYPES if a not in shallowest]
    assert not missing, f"attention types without a registered ImageNet ResNet: {missing} (see ecalib_timm.py)"
    return [*(shallowest[a] for a in ATTENTION_TYPES), "eca_resnet50", "eca_resnet20_cifar", "eca_mobilenet_v2"]


def run_timm_suite(models: list[str], report: Path, timeout: int) -> dict[str, dict[str, tuple[str, str]]]:
    """Run timm's test_models.py on ``models``; returns ``{test function: {model: (outcome, message)}}``."""
    root = timm_source_release()
    conftest = root / f"conftest.py.{os.getpid()}"
    shutil.copy(ROOT / "tests" / "timm_suite_conftest.py", conftest)
    os.replace(conftest, root / "conftest.py")
    env = {**os.environ, "ECALIB_TIMM_SUITE_MODELS": ",".join(models)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.pop("GITHUB_ACTIONS", None)  # test_models.py drops some tests on GitHub's runners; run them all
    cmd = [sys.executable, "-m", "pytest", str(root / "tests" / "test_models.py"), "-c", str(root / "pyproject.toml")]
    cmd += ["--rootdir", str(root), "--import-mode=importlib", "-p", "no:cacheprovider", "-q", f"--junitxml={report}"]
    run = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if not report.is_file():
        pytest.fail(f"timm's suite did not run ({run.returncode}):\n{(run.stdout + run.stderr)[-3000:]}", pytrace=False)
    results = defaultdict(dict)
    for case in ET.parse(report).iter("testcase"):
        function, _, ids = case.get("name").partition("[")
        model = next(p for p in ids.rstrip("]").split("-") if p in models)
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        if problem is not None:
            results[function][model] = ("failed", _first_lines(problem.get("message") or problem.text or ""))
        elif skipped is not None:
            results[function][model] = ("skipped", skipped.get("message") or "")
        else:
            results[function][model] = ("passed", "")
    return dict(results)


def _first_lines(text: str, limit: int = 400) -> str:
    return " / ".join(line.strip() for line in text.splitlines() if line.strip())[:limit]


def summary(results: dict, models: list[str]) -> tuple[str, list[str]]:
    """A Markdown table (test function: passed/failed/skipped of the models) and the problems."""
    lines = ["| timm test function | passed | failed | skipped |", "|---|---|---|---|"]
    problems = []
    for function, by_model in sorted(results.items()):
        counts = {o: sum(r[0] == o for r in by_model.values()) for o in ("passed", "failed", "skipped")}
        lines.append(f"| {function} | {counts['passed']} | {counts['failed']} | {counts['skipped']} |")
        problems += [f"{function}[{m}] not collected" for m in models if m not in by_model]
        problems += [f"{function}[{m}]: {msg}" for m, (o, msg) in sorted(by_model.items()) if o == "failed"]
    return "\n".join(lines), problems


def check(models: list[str], label: str, timeout: int, tmp_path: Path) -> None:
    results = run_timm_suite(models, tmp_path / "junit.xml", timeout)
    table, problems = summary(results, models)
    text = f"timm {timm.__version__} tests/test_models.py on {len(models)} ecalib models ({label}):\n\n{table}\n"
    text += f"\nModels: {', '.join(models)}\n"
    (CACHE / f"{label}.md").write_text(text)
    shutil.copy(tmp_path / "junit.xml", CACHE / f"{label}.xml")  # every test and message, for reading later
    print(text)
    assert results, "timm's suite collected no test for ecalib's models"
    if problems:
        pytest.fail(text + "\nProblems:\n" + "\n".join(problems), pytrace=False)


def test_timm_suite_representative_models(tmp_path):
    check(representative_models(), "representative", timeout=1200, tmp_path=tmp_path)


@pytest.mark.slow
@pytest.mark.all_models  # deselected by default (pyproject.toml): `pytest -m all_models` or `-m slow`
def test_timm_suite_every_model(tmp_path):
    check([model_info(n).timm_name for n in list_models()], "every-model", timeout=3 * 3600, tmp_path=tmp_path)


def test_summary_reports_failures_and_missing_models():
    results = {
        "test_model_forward": {"a": ("passed", ""), "b": ("failed", "AssertionError: boom")},
        "test_model_backward": {"a": ("skipped", "too big")},
    }
    table, problems = summary(results, ["a", "b"])
    assert "| test_model_forward | 1 | 1 | 0 |" in table and "| test_model_backward | 0 | 0 | 1 |" in table
    assert problems == ["test_model_backward[b] not collected", "test_model_forward[b]: AssertionError: boom"]
