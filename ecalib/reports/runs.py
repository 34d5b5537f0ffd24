"""Collect training result folders (``params.json`` + ``history.csv`` + ``final.json``) into tables."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ecalib.limits import MAX_RESULT_JSON_BYTES, json_object, quoted


def data_label(source: dict) -> str:
    """What a run was trained on, from its recorded ``data_source``: the data set, or the synthetic set's size."""
    kind = source.get("kind", "unknown")
    generator = source.get("generator") or {}
    size = generator.get("n_train", source.get("n_train", source.get("n")))
    return f"synthetic ({size} train images)" if kind == "synthetic" and size else kind


# Columns that say where a run comes from: read from its params.json and env.json only, never from final.json.
PROVENANCE = (
    "run", "results", "path", "task", "attention", "protocol", "recipe", "profile", "seed", "model", "k_size",
    "data", "n_train", "device", "commit", "epochs", "batch_size",
)  # fmt: skip


class RejectedRun(Exception):
    """A folder with a ``final.json`` that is not a complete, trustworthy run (the message says why)."""


@dataclass(frozen=True)
class RunRecord:
    """One complete run: where it comes from (``provenance``) apart from what it measured (``metrics``)."""

    provenance: dict  # PROVENANCE keys, from params.json and env.json
    metrics: dict  # final.json: finite numbers only, none of them a provenance key
    history: pd.DataFrame  # history.csv, one row per epoch

    def row(self) -> dict:
        return {**self.provenance, **self.metrics}


@dataclass(frozen=True)
class Rejected:
    folder: str
    reason: str


@dataclass
class RunFolders:
    """What :func:`read_runs` found: the complete runs, and the folders left out with the reason."""

    runs: list[RunRecord] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def _json_object(path: Path) -> dict:
    if not path.is_file():
        raise RejectedRun(f"no {path.name}")
    try:
        return json_object(path, MAX_RESULT_JSON_BYTES)
    except ValueError as why:
        raise RejectedRun(str(why)) from None


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def run_settings(params: dict) -> dict:
    """The network, seed, epochs and batch size a run's ``params.json`` records: from its experiment, or from
    the engine's config (runs of the engine used alone, and folders written before params.json held the
    experiment once); empty when it holds neither."""
    experiment, config = params.get("experiment"), params.get("config")
    if isinstance(experiment, dict) and "network" in params:
        return {
            "model": params["network"],
            "seed": experiment.get("seed"),
            "epochs": (experiment.get("schedule") or {}).get("epochs"),
            "batch_size": (experiment.get("data") or {}).get("batch_size"),
        }
    return {k: config.get(k) for k in ("model", "seed", "epochs", "batch_size")} if isinstance(config, dict) else {}


def read_run(folder: str | Path, results: str | Path, metric: str = "test_top1", task: str | None = None):
    """The :class:`RunRecord` of one result folder, None if it belongs to another ``task``, or
    :class:`RejectedRun` saying why it cannot count as a complete run: unreadable files, ``metric``
    missing or not a finite number, metrics that are not numbers, metrics named like provenance (a
    ``final.json`` cannot say where a run comes from), or final epochs short of the configured ones."""
    folder = Path(folder)
    params = _json_object(folder / "params.json")
    if task and params.get("task") != task:
        return None
    env = _json_object(folder / "env.json") if (folder / "env.json").exists() else {}
    final = _json_object(folder / "final.json")
    cfg, source = run_settings(params), params.get("data_source")
    if not cfg or not isinstance(source, dict):
        raise RejectedRun("params.json has no experiment (or config) or no data_source record")
    claimed = sorted(set(final) & set(PROVENANCE))
    if claimed:
        raise RejectedRun(f"final.json sets {claimed}; where a run comes from is read from params.json/env.json only")
    if not _finite(final.get(metric)):
        raise RejectedRun(f"final.json has no finite {metric} (it has {quoted(final.get(metric))})")
    odd = [key for key, value in final.items() if not _finite(value)]
    if odd:
        raise RejectedRun(f"final.json holds values that are not finite numbers: {odd[:5]}")
    if cfg.get("epochs") is not None and final.get("epoch") not in (None, cfg["epochs"]):
        raise RejectedRun(f"final.json is at epoch {final['epoch']} of {cfg['epochs']}")
    try:
        history = pd.read_csv(folder / "history.csv")
    except (OSError, ValueError) as err:
        raise RejectedRun(f"history.csv cannot be read ({str(err)[:80]})") from None
    if history.empty or "epoch" not in history:
        raise RejectedRun("history.csv has no epoch rows")
    provenance = {
        "run": folder.name,
        "results": str(results),
        "path": str(folder),
        "task": params.get("task"),
        "attention": params.get("attention"),
        "protocol": params.get("protocol"),
        "recipe": params.get("recipe"),
        "profile": params.get("profile"),
        "seed": cfg.get("seed"),
        "model": cfg.get("model"),
        "k_size": ((params.get("experiment") or {}).get("model") or {}).get("k_size"),
        "data": data_label(source),
        "n_train": source.get("n"),
        "device": env.get("device", "unknown"),
        "commit": env.get("git_commit"),
        "epochs": cfg.get("epochs"),
        "batch_size": cfg.get("batch_size"),
    }
    return RunRecord(provenance, dict(final), history)


def read_runs(*roots: str | Path, task: str | None = None, metric: str = "test_top1") -> RunFolders:
    """Every folder under ``roots`` with a ``final.json``: the complete runs of ``task`` (see :func:`read_run`)
    and the folders left out, each with its reason. The one reader of result folders: tables, plots and
    the claims ledger all read runs through it."""
    found = RunFolders()
    for root in roots:
        for final_path in sorted(Path(root).glob("*/final.json")):
            try:
                record = read_run(final_path.parent, root, metric, task)
            except RejectedRun as why:
                found.rejected.append(Rejected(str(final_path.parent), str(why)))
                continue
            if record is not None:
                found.runs.append(record)
    return found


def collect_runs(
    *roots: str | Path, task: str | None = None, metric: str = "test_top1"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every complete run under ``roots``: (one row per run, one row per run and epoch).

    Runs are labelled with the folder they were found in (``results``: e.g. the committed
    ``results/cifar10`` or this build's ``runs/cifar10``), their protocol, profile, attention, seed,
    data source and device, so synthetic smoke runs can never be mistaken for real ones. ``data``
    is the source its ``params.json`` records: the data set, or ``synthetic (<n> train images)``.
    Folders left out (see :func:`read_run`) are listed in ``runs.attrs["rejected"]`` with the reason.
    """
    found = read_runs(*roots, task=task, metric=metric)
    runs = [record.row() for record in found.runs]
    histories = []
    for record, row in zip(found.runs, runs, strict=True):
        history = record.history.copy()
        for key in ("run", "results", "attention", "protocol", "profile", "seed", "data", "device"):
            history[key] = row[key]
        histories.append(history)
    runs_df = pd.DataFrame(runs)
    runs_df.attrs["rejected"] = [(r.folder, r.reason) for r in found.rejected]
    history_df = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
    return runs_df, history_df


def confidence_interval(values, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean (NaN-wide for a single value)."""
    import numpy as np
    from scipy import stats

    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / np.sqrt(n)
    return float(values.mean() - half), float(values.mean() + half)


GROUP = ["results", "protocol", "profile", "data", "device"]  # runs of different folders or data never mix


def _mean(group: pd.DataFrame, column: str) -> float:
    return group[column].mean() if column in group else float("nan")


def summary_table(runs: pd.DataFrame, baseline: str = "none") -> pd.DataFrame:
    """Final accuracy per mechanism: mean, std, 95 % CI, loss, parameters and throughput vs the baseline."""
    rows = []
    for keys, group in runs.groupby(GROUP + ["attention"], dropna=False):
        low, high = confidence_interval(group["test_top1"])
        rows.append(
            {
                **dict(zip(GROUP + ["attention"], keys)),
                "runs": len(group),
                "top-1 mean": group["test_top1"].mean(),
                "top-1 std": group["test_top1"].std(ddof=1) if len(group) > 1 else float("nan"),
                "top-1 95% CI": f"[{low:.2f}, {high:.2f}]" if len(group) > 1 else "n/a (1 run)",
                "loss mean": _mean(group, "test_loss"),
                "params": group["params"].iloc[0] if "params" in group else float("nan"),
                "train img/s": _mean(group, "mean_images_per_s"),
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    for _, group in table.groupby(GROUP, dropna=False):
        base = group[group["attention"] == baseline]
        if len(base):
            idx = group.index
            table.loc[idx, "params overhead %"] = 100 * (group["params"] / base["params"].iloc[0] - 1)
            table.loc[idx, "throughput vs none"] = group["train img/s"] / base["train img/s"].iloc[0]
    return table


def collect_speed_benchmarks(root: str | Path) -> pd.DataFrame:
    """Every ``benchmarks/cifar10_speed.py`` result folder under ``root``, with ratios to the plain network."""
    frames = []
    for results in sorted(Path(root).glob("*/results.csv")):
        folder = results.parent
        params = json.loads((folder / "params.json").read_text())
        env = json.loads((folder / "env.json").read_text())
        table = pd.read_csv(results)
        base = table[table["mechanism"] == "none"].set_index("mode")["images_per_s"]
        table["vs none"] = table["images_per_s"] / table["mode"].map(base)
        table["folder"] = folder.name
        table["device"] = env.get("device")
        table["commit"] = (env.get("git_commit") or "")[:10]
        table["protocol"] = params.get("protocol")
        table["amp"] = params.get("amp")
        table["study minutes (projected)"] = params.get("projection", {}).get("study_minutes")
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
