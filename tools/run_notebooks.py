"""Execute the notebooks with papermill under a named parameter profile (notebooks/profiles.yaml).

    python tools/run_notebooks.py --profile default --out book/executed [--only complexity]

Each notebook is written to OUT/<name>.ipynb; the book's table of contents points there.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
import papermill as pm
import yaml

ROOT = Path(__file__).resolve().parents[1]


def load_profile(name: str) -> dict[str, dict]:
    profiles = yaml.safe_load((ROOT / "notebooks" / "profiles.yaml").read_text())
    if name not in profiles:
        raise SystemExit(f"unknown profile {name!r}; profiles: {', '.join(profiles)}")
    return profiles[name]


def collapse_injected_parameters(path: Path) -> None:
    """The book shows the parameters papermill injected (the profile's) as a collapsed cell."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            cell.metadata["tags"] = [*tags, "hide-input"]
    nbformat.write(nb, path)


# A cell that runs longer than this is stuck (the longest, the COCO smoke training, takes a few minutes
# here): the notebook fails instead of hanging the build. A kernel that stops answering (seen once in
# CI: a widget cell waiting forever on an idle kernel) gets one fresh kernel; a cell error never does.
CELL_TIMEOUT_S = 1200


def execute(source: Path, output: Path, parameters: dict) -> None:
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    for attempt in (1, 2):
        try:
            pm.execute_notebook(
                source,
                output,
                parameters=parameters,
                cwd=ROOT,
                kernel_name="python3",
                progress_bar=False,
                execution_timeout=CELL_TIMEOUT_S,
            )
            return
        except (CellTimeoutError, DeadKernelError) as err:
            if attempt == 2:
                raise
            print(f"  {source.name}: the kernel stopped answering ({type(err).__name__}); once more", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--out", type=Path, default=ROOT / "book" / "executed")
    parser.add_argument("--only", nargs="*", help="notebook names to run (default: all in the profile)")
    args = parser.parse_args(argv)
    profile = load_profile(args.profile)
    names = args.only or list(profile)
    unknown = [n for n in names if n not in profile]
    if unknown:
        raise SystemExit(f"notebooks {unknown} are not in profile {args.profile!r}: {', '.join(profile)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        start = time.time()
        print(f"[{args.profile}] {name} ...", flush=True)
        execute(ROOT / "notebooks" / f"{name}.ipynb", args.out / f"{name}.ipynb", profile[name] or {})
        collapse_injected_parameters(args.out / f"{name}.ipynb")
        print(f"[{args.profile}] {name} done in {time.time() - start:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
