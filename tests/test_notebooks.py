"""The notebooks run under papermill, with the runner `make book` uses, and validate their parameters."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.notebook


def run_notebook(tmp_path, *args):
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "run_notebooks.py"), "--out", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )


def outputs_text(path: Path) -> str:
    nb = json.loads(path.read_text())
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            parts.append("".join(out.get("text", "")))
            for value in out.get("data", {}).values():
                parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


def test_complexity_notebook_smoke_profile(tmp_path):
    result = run_notebook(tmp_path, "--profile", "smoke", "--only", "complexity")
    assert result.returncode == 0, result.stdout + result.stderr
    text = outputs_text(tmp_path / "complexity.ipynb")
    assert "eca_resnet18" in text and "1.70G" in text and "319.9M" in text
    assert "git_commit" in text and "Source: counted by ecalib" in text
    assert "image/png" in (tmp_path / "complexity.ipynb").read_text()


def test_complexity_notebook_rejects_unknown_models(tmp_path):
    out = tmp_path / "bad.ipynb"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(ROOT / "notebooks" / "complexity.ipynb"),
            str(out),
            "-p",
            "models",
            "['eca_resnet_50']",
            "--cwd",
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode != 0
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.stderr + result.stdout)  # papermill colours tracebacks
    assert "unknown model(s) ['eca_resnet_50']; allowed:" in text


def test_unknown_profile_is_an_error(tmp_path):
    result = run_notebook(tmp_path, "--profile", "nope")
    assert result.returncode != 0 and "profiles: default, smoke" in result.stderr
