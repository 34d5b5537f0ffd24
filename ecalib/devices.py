"""The torch device a run, a benchmark or a command asks for by name (``auto``, ``cpu``, ``cuda``, ...)."""

from __future__ import annotations

import torch

from ecalib.errors import UsageError

DEVICES = ("auto", "cpu", "cuda")  # what a run or command may ask for


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks CUDA when a GPU is there, else the CPU; ``cuda`` without a GPU is a UsageError."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("device='cuda' was requested but no CUDA GPU is available; use device='cpu' or 'auto'")
        return torch.device("cuda", local_rank)
    return torch.device(name)
