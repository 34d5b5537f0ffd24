"""Where a number came from: versions, device, git commit and data source, for every result."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from pathlib import Path

import torch

COMMIT_VARIABLE = "ECALIB_GIT_COMMIT"  # the commit of a copy of the tree without git (a device machine)


def git_commit(path: str | Path | None = None) -> str | None:
    """The checked-out commit (with ``+dirty`` if the tree has changes); outside git, the commit named by
    the environment variable ``ECALIB_GIT_COMMIT`` (marked ``(given)``: the tree was not checked), or None."""
    given = os.environ.get(COMMIT_VARIABLE)
    given = f"{given} (given)" if given else None
    cwd = Path(path or Path(__file__).resolve().parent)
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return given
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return given


def nvidia_driver() -> str | None:
    """The NVIDIA driver version, from nvidia-smi (None when there is none)."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def device_name(device: str | torch.device | None = None) -> str:
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU: {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def _cuda_details(device) -> dict:
    """cuDNN, TF32 and the GPU's properties: settings that change speed."""
    props = torch.cuda.get_device_properties(torch.device(device))
    return {
        "cudnn": torch.backends.cudnn.version(),
        "tf32": {"cudnn": torch.backends.cudnn.allow_tf32, "matmul": torch.backends.cuda.matmul.allow_tf32},
        "gpu": {
            "capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1),
            "multiprocessors": props.multi_processor_count,
        },
    }


def environment(device: str | torch.device | None = None, data_source: str | None = None) -> dict:
    """A JSON-serialisable description of the software and hardware that produced a result."""
    import ecalib

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    versions = {"ecalib": ecalib.__version__, "torch": torch.__version__, "python": platform.python_version()}
    for module in ("torchvision", "timm", "thop", "triton"):
        try:
            from importlib.metadata import version

            versions[module] = version(module)
        except Exception:  # noqa: BLE001 - a missing optional package is just not reported
            pass
    env = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions,
        "device": device_name(device),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "driver": nvidia_driver() if torch.cuda.is_available() else None,
        **(_cuda_details(device) if device.type == "cuda" else {}),
        "platform": platform.platform(),
        "git_commit": git_commit(),
    }
    if data_source is not None:
        env["data_source"] = data_source
    return env
