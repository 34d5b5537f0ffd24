#!/usr/bin/env bash
# Wheels of what ecalib needs beyond a stock PyTorch GPU image (PyTorch, torchvision, pandas, SciPy,
# PyYAML and tabulate are assumed there): pydantic with its parts, and timm and typing_extensions at
# the versions tested here. For a GPU machine that cannot reach a package index: they are downloaded
# into .whl/ (git-ignored), for CPython $PY_VERSION (default 3.12) on x86-64 Linux, and
# benchmarks/table3_gpu.sh installs them from there. Run it from any folder of the repository:
#
#   bash benchmarks/table3_wheels.sh            # then send .whl/ along with the working tree
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
pins=$("$py" -c 'from importlib.metadata import version
names = ("pydantic", "pydantic-core", "annotated-types", "typing-inspection", "typing-extensions", "timm")
print(" ".join(f"{n}=={version(n)}" for n in names))')
rm -rf .whl
mkdir -p .whl
# shellcheck disable=SC2086  # one argument per pin
"$py" -m pip download -q --no-deps --only-binary=:all: --python-version "${PY_VERSION:-3.12}" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $pins
ls -l .whl
