"""binder/: CPU torch wheels, the same pins as requirements.txt, postBuild installing ecalib."""

import datetime
import json
import os
import re
import sys
from pathlib import Path

from helpers import ROOT

sys.path.insert(0, str(ROOT / "tools"))

from check_binder import pinned_versions, pypi_torch_requirements  # noqa: E402


def pins(path) -> dict[str, str]:
    return pinned_versions(path.read_text())


def test_binder_takes_cpu_wheels_and_the_project_pins():
    binder, project = pins(ROOT / "binder" / "requirements.txt"), pins(ROOT / "requirements.txt")
    text = (ROOT / "binder" / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text
    for name in ("torch", "torchvision"):
        assert binder[name] == f"{project[name]}+cpu", (name, binder[name], project[name])
    for name in ("jupyter-book", "papermill", "ipykernel", "matplotlib", "timm"):
        assert name in binder, f"binder/requirements.txt lacks {name}"
    development = {"pytest", "ruff", "playwright"}
    for name in development:
        assert name not in binder, f"{name} is a development tool, not for Binder"
    missing = set(project) - development - set(binder)
    assert not missing, f"binder/requirements.txt lacks what the notebooks and the library need: {sorted(missing)}"
    differ = {
        n: (v, project.get(n)) for n, v in binder.items() if n not in ("torch", "torchvision") and project.get(n) != v
    }
    assert not differ, f"binder/requirements.txt and requirements.txt pin differently: {differ}"
    assert "-r " not in text, "binder/requirements.txt must not pull in the CUDA torch of requirements.txt"


def test_postbuild_installs_ecalib_without_touching_the_pins():
    post = ROOT / "binder" / "postBuild"
    assert os.access(post, os.X_OK), "binder/postBuild must be executable (repo2docker runs it directly)"
    assert re.search(r"^pip install --no-deps -e \.$", post.read_text(), re.MULTILINE)
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"


def test_start_script_sets_its_environment_and_hands_over():
    """binder/start (repo2docker's runtime hook) must end by exec-ing its arguments, as the check uses it."""
    import subprocess

    start = ROOT / "binder" / "start"
    assert os.access(start, os.X_OK)
    out = subprocess.run([str(start), "sh", "-c", "echo $MALLOC_MMAP_THRESHOLD_"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "65536", out


def test_pypi_substitution_swaps_only_the_cpu_builds():
    text = "--extra-index-url https://download.pytorch.org/whl/cpu\ntorch==2.13.0+cpu\ntorchvision==0.28.0+cpu\ntimm==1.0.31\n"
    new, changes = pypi_torch_requirements(text)
    assert new.splitlines() == ["torch==2.13.0,!=2.13.0+cpu", "torchvision==0.28.0,!=0.28.0+cpu", "timm==1.0.31"]
    assert len(changes) == 3 and "download.pytorch.org" in changes[0]
    assert pypi_torch_requirements("timm==1.0.31\n") == ("timm==1.0.31\n", [])


def test_memory_peak_is_attributed_to_the_cell_running_then(tmp_path):
    from check_binder import cell_at

    def cell(source, start):
        return {"cell_type": "code", "source": source, "metadata": {"papermill": {"start_time": start}}}

    nb = {
        "cells": [
            cell("import torch", "2026-11-21T10:00:00+00:00"),
            {"cell_type": "markdown", "source": "text", "metadata": {}},
            cell("train()\nmore", "2026-11-21T10:00:05+00:00"),
            cell("plot()", "2026-11-21T10:01:00+00:00"),
        ]
    }
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    at = datetime.datetime(2026, 11, 21, 10, 0, 30, tzinfo=datetime.timezone.utc).timestamp()
    assert cell_at(path, at) == "cell 2: train()"
    assert cell_at(path, at + 3600) == "cell 3: plot()"
    assert cell_at(path, at - 3600) == ""
    assert cell_at(tmp_path / "missing.ipynb", at) == ""


def test_the_binder_copy_keeps_symbolic_links(tmp_path):
    """repo2docker keeps links; the copy checked by `make binder-check` must too (configs -> ecalib/configs)."""
    from check_binder import copy_repository

    copy_repository(tmp_path / "repo")
    link = tmp_path / "repo" / "configs"
    assert link.is_symlink() and (link / "sweep.yaml").is_file() and (link / "cifar10" / "rc2020.yaml").is_file()


def test_linked_torch_is_the_project_build_that_pip_will_find(tmp_path):
    """--link-project-torch: the farm shows pip the very torch/torchvision distributions the pins name,
    resolving to the project's own files; other versions are refused, not linked."""
    from importlib import metadata

    import torch
    from check_binder import link_project_torch

    versions = {n: metadata.version(n) for n in ("torch", "torchvision")}
    pins = "".join(f"{n}=={v},!={v}+cpu\n" for n, v in versions.items())
    farm = tmp_path / "linked"
    linked, why_not = link_project_torch(pins, farm)
    assert not why_not and f"torch=={versions['torch']}" in linked
    seen = {d.metadata["Name"].lower(): d.version for d in metadata.distributions(path=[str(farm)])}
    assert {n: seen.get(n) for n in versions} == versions
    assert (farm / "torch").resolve() == Path(torch.__file__).resolve().parent
    assert all(p.is_symlink() for p in farm.iterdir())

    other = tmp_path / "other"
    linked, why_not = link_project_torch(f"torch=={versions['torch']}.post9\ntorchvision==0.0.1\n", other)
    assert linked == [] and "torch" in why_not and not other.exists()
