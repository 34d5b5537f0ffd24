"""Where a number came from: versions, device, git commit and data source, for every result."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from pathlib import Path

import torch


def git_commit(path: str | Path | None = None) -> str | None:
    """The checked-out commit (with ``+dirty`` if the tree has changes), or None outside git."""
    cwd = Path(path or Path(__file__).resolve().parent)
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


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


def environment(device: str | torch.device | None = None, data_source: str | None = None) -> dict:
    """A JSON-serialisable description of the software and hardware that produced a result."""
    import ecalib

    versions = {"ecalib": ecalib.__version__, "torch": torch.__version__, "python": platform.python_version()}
    for module in ("torchvision", "timm", "thop"):
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
        "platform": platform.platform(),
        "git_commit": git_commit(),
    }
    if data_source is not None:
        env["data_source"] = data_source
    return env
