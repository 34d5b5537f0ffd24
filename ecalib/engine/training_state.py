"""Resumable training state: a checkpoint of a run, every field checked before anything is loaded."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
from torch import nn

from ecalib.checkpoint import (
    CheckpointError,
    checkpoint_meta,
    extract_state_dict,
    load_state_file,
    state_dict_problems,
    stored_number,
)
from ecalib.limits import quoted


def _history_problem(history: object, epoch: int) -> str | None:
    """Why ``history`` is not the per-epoch record of a run at ``epoch``: one mapping of numbers per epoch,
    for consecutive epochs ending at ``epoch`` (a run started from an official file records only its own)."""
    if not isinstance(history, list):
        return f"its history is a {type(history).__name__}, not a list of epoch records"
    if len(history) > epoch:
        return f"its history has {len(history)} epoch records at epoch {epoch}"
    first = epoch - len(history) + 1
    for i, row in enumerate(history):
        if not isinstance(row, dict) or not all(isinstance(k, str) for k in row):
            return f"its history record {i + 1} is {quoted(row)}, not a mapping of metric names to numbers"
        bad = next((k for k, v in row.items() if stored_number(v) is None), None)
        if bad is not None:
            return f"its history record {i + 1} holds {bad}={quoted(row[bad])}, not a number"
        if row.get("epoch") != first + i:
            return f"its history record {i + 1} says epoch {quoted(row.get('epoch'))}, not {first + i}"
    return None


def _same_kind(saved: object, live: object) -> bool:
    """Whether an optimizer hyper-parameter read from a file has the kind of the live optimizer's value."""
    if isinstance(live, bool) or live is None:
        return saved is None or isinstance(saved, bool)
    if isinstance(live, int | float):
        number = stored_number(saved)
        return number is not None and math.isfinite(number)
    if isinstance(live, tuple | list):
        same_length = isinstance(saved, tuple | list) and len(saved) == len(live)
        return same_length and all(_same_kind(a, b) for a, b in zip(saved, live))
    return True


def optimizer_state_problems(saved: object, optimizer: torch.optim.Optimizer) -> list[str]:
    """What keeps ``saved`` (an ``optimizer.state_dict()`` read from a file) from loading into ``optimizer``
    and stepping: its layout, the parameter groups and counts, hyper-parameter kinds, and the shape and
    finiteness of every per-parameter tensor (torch checks only the counts, and a wrong shape fails later)."""
    if not isinstance(saved, dict):
        return [f"its optimizer state is {quoted(saved)}, not a mapping with 'state' and 'param_groups'"]
    if not isinstance(saved.get("state"), dict):
        return [f"its optimizer's state is {quoted(saved.get('state'))}, not a mapping of per-parameter states"]
    groups, live = saved.get("param_groups"), optimizer.param_groups
    listed = isinstance(groups, list) and all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups)
    if not listed:
        return [f"its optimizer param_groups are {quoted(groups)}, not a list of groups with 'params'"]
    if len(groups) != len(live):
        return [f"its optimizer has {len(groups)} parameter groups, this run's {len(live)}"]
    problems, shapes = [], {}
    for n, (group, ours) in enumerate(zip(groups, live)):
        ids = group["params"]
        if len(ids) != len(ours["params"]) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            problems.append(f"optimizer group {n} lists {quoted(ids)}, not the {len(ours['params'])} parameter ids")
            continue
        odd = [k for k, v in group.items() if k != "params" and k in ours and not _same_kind(v, ours[k])]
        problems += [f"optimizer group {n} has {k}={quoted(group[k])}" for k in odd]
        shapes.update(zip(ids, (p.shape for p in ours["params"])))
    for pid, entry in saved["state"].items():
        if pid not in shapes or not isinstance(entry, dict):
            problems.append(f"its optimizer state has {quoted(entry)} for parameter {quoted(pid)}")
            continue
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                if value.dim() > 0 and value.shape != shapes[pid]:
                    problems.append(
                        f"optimizer {name} of parameter {pid} is {list(value.shape)}, the parameter {list(shapes[pid])}"
                    )
                elif value.is_floating_point() and not torch.isfinite(value).all():
                    problems.append(f"optimizer {name} of parameter {pid} is not finite")
            elif value is not None and stored_number(value) is None:
                problems.append(f"optimizer {name} of parameter {pid} is {quoted(value)}")
    return problems[:5]


@dataclass
class TrainingState:
    """A resumable checkpoint whose every field was checked (:func:`read_training_state`)."""

    epoch: int
    best: float  # best_prec1 (-inf when the file has none)
    history: list[dict]
    state_dict: dict[str, torch.Tensor]
    optimizer: dict
    scaler: dict
    config: dict | None  # ecalib's training config (None: e.g. a file of the official main.py)


def read_training_state(
    path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer, where: str | None = None
) -> TrainingState:
    """Read a checkpoint to resume ``model`` and ``optimizer`` from, checking every field before anything
    is loaded or written: epoch, best_prec1, history, weights (keys, shapes, finite), optimizer state,
    scaler and config. Problems are one :class:`~ecalib.checkpoint.CheckpointError` line starting with ``where``."""
    where = where or f"cannot resume from {path}: it is damaged or not from a training run"
    state = load_state_file(path)
    if not isinstance(state, dict) or "state_dict" not in state or "optimizer" not in state:
        raise CheckpointError(f"{path} is not a training checkpoint (needs 'state_dict', 'optimizer' and 'epoch')")
    meta = checkpoint_meta(state, where)
    if "epoch" not in meta:
        raise CheckpointError(f"{where}: it has no epoch")
    history = state.get("history", [])
    problem = _history_problem(history, meta["epoch"])
    if problem:
        raise CheckpointError(f"{where}: {problem}")
    weights = extract_state_dict(state, path)
    problems = state_dict_problems(model.state_dict(), weights)
    if any("non-finite" in p for p in problems):
        bad = next(k for k, v in weights.items() if v.is_floating_point() and not torch.isfinite(v).all())
        raise CheckpointError(
            f"{where}: its weights are not finite ({bad} holds NaN or inf); resume from an earlier checkpoint "
            "or start the run over"
        )
    problems += optimizer_state_problems(state["optimizer"], optimizer)
    scaler, config = state.get("scaler") or {}, state.get("config")
    if not isinstance(scaler, dict) or any(stored_number(v) is None for v in scaler.values()):
        problems.append(f"its scaler is {quoted(scaler)}, not a mapping of numbers")
    if config is not None and not (isinstance(config, dict) and all(isinstance(k, str) for k in config)):
        problems.append(f"its config is {quoted(config)}, not a mapping of settings")
    if problems:
        raise CheckpointError(f"{where}: " + "; ".join(problems))
    best = meta.get("best_prec1", float("-inf"))
    return TrainingState(meta["epoch"], best, list(history), weights, state["optimizer"], scaler, config or None)
