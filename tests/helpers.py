"""Shared by the tests: run ecalib's CLI and notebooks in subprocesses, read notebook outputs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ecalib", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


# A child process capped in address space (and killed after ``timeout``): a case that would allocate or
# train in proportion to a huge value if a check regressed fails instead of taking the machine down.
CAPPED = (
    "import resource, sys; limit = int(sys.argv[1]) << 30; resource.setrlimit(resource.RLIMIT_AS, (limit, limit)); "
    "from ecalib.cli import main; sys.exit(main(sys.argv[2:]))"
)


def run_capped(argv, memory_gb: int = 8, timeout: int = 300, cwd: Path = ROOT, code: str = CAPPED):
    """``ecalib *argv`` (or ``code`` with those arguments) in a child capped at ``memory_gb`` GiB:
    (exit code, stdout, stderr)."""
    done = subprocess.run(
        [sys.executable, "-c", code, str(memory_gb), *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )
    return done.returncode, done.stdout, done.stderr


def run_tiny_bench(out: Path, *backbone_and_mechanisms: str, batch_size: int = 2) -> subprocess.CompletedProcess:
    """`ecalib bench` with one step per measurement on the CPU (for structure, not speed)."""
    backbone, *mechanisms = backbone_and_mechanisms
    return run_cli(
        "bench",
        "--backbones",
        backbone,
        "--mechanisms",
        *mechanisms,
        "--batch-size",
        batch_size,
        "--steps",
        1,
        "--warmup",
        0,
        "--repeats",
        1,
        "--device",
        "cpu",
        "--out",
        out,
    )


def papermill(name: str, out: Path, timeout: int = 900, **params) -> subprocess.CompletedProcess:
    """Execute notebooks/<name>.ipynb into ``out`` with papermill parameters ``params``."""
    cmd = [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / f"{name}.ipynb"), str(out)]
    for key, value in params.items():
        cmd += ["-p", key, str(value)]
    return subprocess.run(cmd + ["--cwd", str(ROOT)], capture_output=True, text=True, timeout=timeout)


def failure(result: subprocess.CompletedProcess) -> str:
    """The end of a failed run's output, without the ANSI colours papermill puts in tracebacks."""
    return re.sub(r"\x1b\[[0-9;]*m", "", result.stdout[-3000:] + result.stderr[-3000:])


def outputs_text(path: Path) -> str:
    nb = json.loads(path.read_text())
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            parts.append("".join(out.get("text", "")))
            for value in out.get("data", {}).values():
                parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


BUILT_HTML = ROOT / "_build" / "html"


def needs(ok: bool, reason: str) -> None:
    """Skip a test of the built book whose prerequisite is missing, or fail under ECALIB_REQUIRE_BROWSER=1 (CI)."""
    import pytest

    if ok:
        return
    if os.environ.get("ECALIB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (ECALIB_REQUIRE_BROWSER=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)


def toc_docnames() -> list[str]:
    """Every page of _toc.yml (root, parts, chapters, sections, at any depth), without suffix, in order."""
    import yaml

    names: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    names.append(re.sub(r"\.(md|ipynb|rst)$", "", node[key]))
            for value in node.values():
                if isinstance(value, list | dict):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    return names
