"""Binder-equivalent check: an environment built from binder/ alone runs every smoke-profile notebook.

    python tools/check_binder.py [--limit-mib 2048] [--pypi-torch-if-unreachable [--memory-advisory-if-substituted]]

What repo2docker does, on this machine: copy the repository's files (tracked and untracked, not
ignored) to _build/binder-check/repo, create a fresh virtual environment _build/binder-venv,
``pip install -r binder/requirements.txt``, run ``binder/postBuild`` from the copy's root; then
execute each notebook of the ``smoke`` profile (tools/run_notebooks.py) in that environment while
sampling the memory of the process tree (runner, kernel and its workers). Fails when a step or
notebook fails, or when the peak exceeds --limit-mib (Binder gives about 2 GB). Writes
_build/binder-check/report.json.

binder/requirements.txt takes torch from https://download.pytorch.org/whl/cpu. Where that index is
unreachable, --pypi-torch-if-unreachable installs the same torch/torchvision versions from PyPI
(CUDA builds, run on the CPU) instead; the substitution is printed and recorded in the report.
Those builds take about 300 MiB more resident memory than the CPU wheels, so their peaks overstate
Binder's; --memory-advisory-if-substituted then reports the limit without failing on it. Where the
CPU wheels are installed, the limit is always enforced.

A substituted torch with its CUDA libraries is about 6 GB on disk. --link-project-torch takes it from
the project's own .venv when that holds exactly the substituted versions (PyPI's build): torch,
torchvision, triton and the nvidia-*/cuda-* packages are linked from _build/binder-check/linked, put
on the Binder venv's path by a .pth file, so pip finds them installed; it neither downloads nor, being
outside the Binder venv, ever modifies them. Recorded in the report as a further substitution.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "_build" / "binder-check"
VENV = ROOT / "_build" / "binder-venv"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
MIB = 2**20


def cpu_index_reachable(timeout: float = 15) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(f"{CPU_INDEX}/torch/", timeout=timeout) as response:
            return response.status == 200, f"HTTP {response.status}"
    except Exception as exc:  # DNS, TLS, proxy, HTTP errors: all mean "not usable from here"
        return False, f"{type(exc).__name__}: {exc}"


def pypi_torch_requirements(text: str) -> tuple[str, list[str]]:
    """binder/requirements.txt with the CPU index dropped and ``+cpu`` pins replaced by PyPI's builds."""
    changes, lines = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("--extra-index-url", "--index-url")) and "download.pytorch.org" in stripped:
            changes.append(f"dropped {stripped!r}")
            continue
        match = re.fullmatch(r"(torch|torchvision|torchaudio)==([^\s+]+)\+cpu", stripped)
        if match:
            name, version = match.groups()
            # != excludes a local CPU-only wheel of the same version that pip might prefer
            new = f"{name}=={version},!={version}+cpu"
            changes.append(f"{stripped} -> {new} (PyPI build, CUDA libraries included, runs on the CPU)")
            line = new
        lines.append(line)
    return "\n".join(lines) + "\n", changes


# Distributions that make up PyPI's torch build on Linux: the heavy part of a substituted install.
LINKED_PREFIXES = ("nvidia-", "cuda-")
LINKED_NAMES = {"torch", "torchvision", "triton"}


def pinned_versions(requirements: str) -> dict[str, str]:
    """``name -> version`` of the ``name==version`` pins (first clause) of a requirements text."""
    from packaging.requirements import InvalidRequirement, Requirement

    found = {}
    for line in requirements.splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith("-"):  # options such as --extra-index-url
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        exact = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        if exact:
            found[requirement.name.lower()] = exact[0]
    return found


def link_project_torch(requirements: str, farm: Path) -> tuple[list[str], str]:
    """Link the project's torch build into ``farm`` when it is the build ``requirements`` pins.

    Returns (linked distributions, why not) — an empty list with the reason when versions differ."""
    from importlib import metadata

    pins = pinned_versions(requirements)
    for name in ("torch", "torchvision"):
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            return [], f"the project's venv has no {name}"
        if have != pins.get(name):
            return [], f"the project's venv has {name} {have}, binder pins {pins.get(name)}"
    dists = [
        d
        for d in metadata.distributions()
        if (d.metadata["Name"] or "").lower() in LINKED_NAMES
        or (d.metadata["Name"] or "").lower().startswith(LINKED_PREFIXES)
    ]
    if farm.exists():
        shutil.rmtree(farm)
    farm.mkdir(parents=True)
    entries = set()
    for dist in dists:
        site = Path(dist.locate_file(""))
        entries |= {(site, str(f).split("/")[0]) for f in dist.files or [] if not str(f).startswith("..")}
    for site, entry in sorted(entries):
        if not (farm / entry).exists():
            os.symlink(site / entry, farm / entry)
    return sorted(f"{d.metadata['Name']}=={d.version}" for d in dists), ""


def copy_repository(dest: Path) -> int:
    """Copy what repo2docker would see: git's tracked and untracked files, not the ignored ones, with
    symbolic links kept as links (``configs`` -> ``ecalib/configs``)."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    if dest.exists():
        shutil.rmtree(dest)
    count = 0
    for name in filter(None, (f.decode() for f in files)):
        src = ROOT / name
        if src.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(src), dest / name)
            count += 1
        elif src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
            count += 1
    return count


def clean_env() -> dict[str, str]:
    """The caller's environment without its Python setup, with the Binder venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    env.setdefault("WANDB_MODE", "disabled")
    return env


def step(title: str, cmd: list[str], cwd: Path, log: Path) -> float:
    print(f"== {title}: {' '.join(map(str, cmd))}", flush=True)
    start = time.time()
    with log.open("w") as out:
        result = subprocess.run(cmd, cwd=cwd, env=clean_env(), stdout=out, stderr=subprocess.STDOUT)
    seconds = time.time() - start
    if result.returncode:
        print(log.read_text()[-4000:])
        raise SystemExit(f"{title} failed (exit {result.returncode}); full log: {log}")
    print(f"   done in {seconds:.0f}s (log: {log.relative_to(ROOT)})", flush=True)
    return seconds


class TreeSampler(threading.Thread):
    """Samples the resident memory of a process and all its descendants every ``interval`` s."""

    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.root, self.interval = psutil.Process(pid), interval
        self.peak_tree = self.peak_kernel = 0
        self.peak_at = 0.0  # time.time() of the tree's peak
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            tree = kernel = 0
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                    is_kernel = "ipykernel" in " ".join(proc.cmdline())
                except psutil.Error:
                    continue
                tree += rss
                kernel += rss if is_kernel else 0
            if tree > self.peak_tree:
                self.peak_tree, self.peak_at = tree, time.time()
            self.peak_kernel = max(self.peak_kernel, kernel)
            self.done.wait(self.interval)


def cell_at(executed: Path, when: float) -> str:
    """The last code cell that papermill had started by ``when`` (its cell timings): the one running
    then, or the last one that ran (memory rarely drops, so a peak is often reached near the end)."""
    try:
        cells = json.loads(executed.read_text())["cells"]
    except (OSError, ValueError):
        return ""
    found = ""
    for index, cell in enumerate(cells):
        start = cell.get("metadata", {}).get("papermill", {}).get("start_time")
        if cell["cell_type"] != "code" or not start:
            continue
        if datetime.datetime.fromisoformat(start).timestamp() > when:
            break
        source = "".join(cell["source"]).strip().splitlines()
        found = f"cell {index}: {source[0][:80] if source else ''}"
    return found


def run_notebook(name: str, repo: Path, log: Path) -> dict:
    cmd = [str(VENV / "bin" / "python"), "tools/run_notebooks.py", "--profile", "smoke"]
    cmd += ["--out", str(WORK / "executed"), "--only", name]
    if (repo / "binder" / "start").exists():  # repo2docker starts the server (and kernels) through it
        cmd = [str(repo / "binder" / "start"), *cmd]
    start = time.time()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=repo, env=clean_env(), stdout=out, stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        # wait4 reports the largest resident set of any process of the finished subtree (exact, not sampled)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.done.set()
        sampler.join()
    return {
        "notebook": name,
        "seconds": round(time.time() - start, 1),
        "returncode": proc.returncode,
        "peak_tree_mib": round(sampler.peak_tree / MIB),
        "peak_kernel_mib": round(sampler.peak_kernel / MIB),
        "max_single_process_mib": round(usage.ru_maxrss * 1024 / MIB),  # ru_maxrss is in KiB on Linux
        "peak_cell": cell_at(WORK / "executed" / f"{name}.ipynb", sampler.peak_at),
        "log": str(log.relative_to(ROOT)),
    }


def banner(lines: list[str]) -> None:
    print("!" * 100)
    for line in lines:
        print(f"!!! {line}")
    print("!" * 100, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit-mib", type=int, default=2048, help="memory limit per notebook (default: 2048)")
    parser.add_argument(
        "--pypi-torch-if-unreachable",
        action="store_true",
        help=f"if {CPU_INDEX} is unreachable, install the same torch versions from PyPI (reported as a substitution)",
    )
    parser.add_argument(
        "--memory-advisory-if-substituted",
        action="store_true",
        help="with a substituted torch, report peaks above the limit without failing (they include the CUDA build)",
    )
    parser.add_argument(
        "--link-project-torch",
        action="store_true",
        help="with a substituted torch, link the project venv's identical build instead of installing a second copy",
    )
    parser.add_argument("--reuse-venv", action="store_true", help="keep an existing _build/binder-venv (faster reruns)")
    parser.add_argument("--only", nargs="*", help="notebooks of the smoke profile to run (default: all)")
    args = parser.parse_args(argv)

    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "logs").mkdir(exist_ok=True)
    requirements = (ROOT / "binder" / "requirements.txt").read_text()
    reachable, how = cpu_index_reachable()
    substitutions: list[str] = []
    if reachable:
        print(f"{CPU_INDEX}: reachable ({how}); installing binder/requirements.txt as it is")
    elif args.pypi_torch_if_unreachable:
        requirements, substitutions = pypi_torch_requirements(requirements)
        banner(
            [
                f"SUBSTITUTION: {CPU_INDEX} is unreachable from here ({how}).",
                "This check does NOT install binder/requirements.txt as written; instead:",
                *substitutions,
                "Everything else (the other pins, postBuild, the notebooks) is as on Binder.",
            ]
        )
    else:
        raise SystemExit(
            f"{CPU_INDEX} is unreachable ({how}), so binder/requirements.txt cannot be installed here. "
            "Pass --pypi-torch-if-unreachable to use PyPI's build of the same torch version instead."
        )

    repo = WORK / "repo"
    copied = copy_repository(repo)
    print(f"copied {copied} files to {repo.relative_to(ROOT)}")
    req_file = repo / "binder" / "requirements.txt"
    req_file.write_text(requirements)
    report: dict = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} ({os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB)",
        "cpu_index": CPU_INDEX,
        "cpu_index_reachable": reachable,
        "substitutions": substitutions,
        "limit_mib": args.limit_mib,
        "limit_enforced": not (substitutions and args.memory_advisory_if_substituted),
    }

    timings = {}
    if not (args.reuse_venv and (VENV / "bin" / "python").exists()):
        if VENV.exists():
            shutil.rmtree(VENV)
        timings["venv_s"] = step("venv", [sys.executable, "-m", "venv", str(VENV)], ROOT, WORK / "logs" / "venv.log")
        if substitutions and args.link_project_torch:
            linked, why_not = link_project_torch(requirements, WORK / "linked")
            if linked:
                site = subprocess.run(
                    [str(VENV / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
                (Path(site) / "project_torch.pth").write_text(f"{WORK / 'linked'}\n")
                substitutions.append(f"linked from the project's venv instead of downloaded: {', '.join(linked)}")
                banner([f"SUBSTITUTION: {substitutions[-1]}"])
            else:
                print(f"--link-project-torch: not linking ({why_not}); installing from PyPI")
        timings["requirements_s"] = step(
            "pip install -r binder/requirements.txt",
            [str(VENV / "bin" / "python"), "-m", "pip", "install", "-r", str(req_file)],
            repo,
            WORK / "logs" / "requirements.log",
        )
    timings["postBuild_s"] = step(
        "binder/postBuild", ["bash", "binder/postBuild"], repo, WORK / "logs" / "postBuild.log"
    )
    report["timings"] = {k: round(v, 1) for k, v in timings.items()}

    probe = (
        "import json, resource, sys, torch, torchvision, ecalib; "
        "from jupyter_client.kernelspec import KernelSpecManager as K; "
        "print(json.dumps({'python': sys.version.split()[0], 'torch': torch.__version__, "
        "'torch_cuda_build': torch.version.cuda, 'torch_file': torch.__file__, 'torchvision': torchvision.__version__, "
        "'ecalib': ecalib.__file__, 'kernel_argv0': K().get_kernel_spec('python3').argv[0], "
        "'import_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))"
    )
    env_info = json.loads(
        subprocess.run(
            [str(VENV / "bin" / "python"), "-c", probe],
            cwd=repo,
            env=clean_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    report["environment"] = env_info
    print("environment:", json.dumps(env_info))
    kernel = env_info["kernel_argv0"]
    if os.path.isabs(kernel) and not kernel.startswith(str(VENV)):
        raise SystemExit(f"the python3 kernel runs {kernel}, not the Binder venv: a kernelspec outside it wins")
    if not env_info["ecalib"].startswith(str(repo)):
        raise SystemExit(f"ecalib imports from {env_info['ecalib']}, not from the Binder copy {repo}")

    smoke = list(yaml.safe_load((repo / "notebooks" / "profiles.yaml").read_text())["smoke"])
    names = args.only or smoke
    results = []
    for name in names:
        print(f"== notebook {name} (smoke profile)", flush=True)
        result = run_notebook(name, repo, WORK / "logs" / f"{name}.log")
        results.append(result)
        print(
            f"   exit {result['returncode']} in {result['seconds']:.0f}s; peak memory: process tree "
            f"{result['peak_tree_mib']} MiB (kernel {result['peak_kernel_mib']} MiB), largest single process "
            f"{result['max_single_process_mib']} MiB; tree peak in or after {result['peak_cell'] or '?'}",
            flush=True,
        )
        if result["returncode"]:
            print((ROOT / result["log"]).read_text()[-4000:])
    peak = max((max(r["peak_tree_mib"], r["max_single_process_mib"]) for r in results), default=0)
    failed = [r["notebook"] for r in results if r["returncode"]]
    over = [r["notebook"] for r in results if max(r["peak_tree_mib"], r["max_single_process_mib"]) > args.limit_mib]
    report.update(
        notebooks=results,
        notebooks_seconds=round(sum(r["seconds"] for r in results), 1),
        peak_mib=peak,
        failed=failed,
        over_limit=over,
        ok=not failed and not (over and report["limit_enforced"]) and set(names) == set(smoke),
    )
    (WORK / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"report: {(WORK / 'report.json').relative_to(ROOT)}; peak {peak} MiB of {args.limit_mib} MiB")
    if substitutions:
        banner(["This result used a SUBSTITUTED torch (see above), not the CPU wheels of binder/requirements.txt."])
    if failed:
        print(f"FAILED notebooks: {failed}")
    if over:
        advisory = (
            "" if report["limit_enforced"] else " (ADVISORY ONLY: measured with the substituted CUDA build of torch)"
        )
        print(f"OVER the {args.limit_mib} MiB limit: {over}{advisory}")
    if args.only and set(names) != set(smoke):
        print("only part of the smoke profile ran (--only): not a complete check")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
