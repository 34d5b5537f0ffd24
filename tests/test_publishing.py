"""The GitHub Actions workflow and the CI script run commands that exist in this repository."""

import re
import shlex

import pytest
import yaml
from helpers import ROOT

MAKE_TARGETS = set(re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(), flags=re.M))


def _ci_commands() -> list[tuple[str, str]]:
    """(where, shell line) for every line the workflow's steps and .ci/run execute."""
    found = []
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        workflow, name = yaml.safe_load(path.read_text()), path.name
        for job, spec in workflow["jobs"].items():
            for step in spec["steps"]:
                found += [(f"{name}:{job}", line) for line in step.get("run", "").splitlines()]
    found += [(".ci/run", line) for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    return [(where, line.strip()) for where, line in found if line.strip() and not line.strip().startswith("#")]


@pytest.mark.parametrize("where, line", _ci_commands())
def test_ci_lines_name_make_targets_and_files_that_exist(where, line):
    words = shlex.split(line, comments=True)
    for i, word in enumerate(words[:-1]):
        if word == "make" and not words[i + 1].startswith("-"):
            assert words[i + 1] in MAKE_TARGETS, f"{where}: make {words[i + 1]} is not a Makefile target"
    for word in words:
        if re.fullmatch(r"(tools|tests|benchmarks|binder|\.ci)/[\w./-]+", word):
            assert (ROOT / word).exists(), f"{where}: {word} does not exist"
