"""Collect training result folders (``params.json`` + ``history.csv`` + ``final.json``) into tables."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def data_label(source: dict) -> str:
    """What a run was trained on, from its recorded ``data_source``: the data set, or the synthetic set's size."""
    kind = source.get("kind", "unknown")
    generator = source.get("generator") or {}
    size = generator.get("n_train", source.get("n_train", source.get("n")))
    return f"synthetic ({size} train images)" if kind == "synthetic" and size else kind


def collect_runs(
    *roots: str | Path, task: str | None = None, rejected: list | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every complete run under ``roots``: (one row per run, one row per run and epoch).

    Runs are labelled with the folder they were found in (``results``: e.g. the committed
    ``results/cifar10`` or this build's ``runs/cifar10``), their protocol, profile, attention, seed,
    data source and device, so synthetic smoke runs can never be mistaken for real ones. ``data``
    is the source its ``params.json`` records: the data set, or ``synthetic (<n> train images)``.
    Those labels come from ``params.json`` and ``env.json`` only: a key of ``final.json`` never replaces them.

    ``rejected``: a list that receives ``(folder, reason)`` for each folder that cannot be read (a missing
    or malformed file), which is then left out; without it such a folder raises.
    """
    runs, histories = [], []
    for root in roots:
        for final_path in sorted(Path(root).glob("*/final.json")):
            folder = final_path.parent
            try:
                row, history = _read_run(folder, root, task)
            except (OSError, ValueError, TypeError, AttributeError, KeyError, pd.errors.ParserError) as error:
                if rejected is None:
                    raise
                rejected.append((str(folder), f"{type(error).__name__}: {error}"))
                continue
            if row is not None:
                runs.append(row)
                histories.append(history)
    runs_df = pd.DataFrame(runs)
    history_df = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
    return runs_df, history_df


def _read_run(folder: Path, root, task: str | None):
    params = json.loads((folder / "params.json").read_text())
    if task and params.get("task") != task:
        return None, None
    env = json.loads((folder / "env.json").read_text()) if (folder / "env.json").exists() else {}
    final = json.loads((folder / "final.json").read_text())
    if not isinstance(final, dict):
        raise TypeError(f"final.json holds a {type(final).__name__}, not a mapping of metrics")
    cfg = params.get("config", {})
    source = params.get("data_source", {})
    row = {
        **final,
        "run": folder.name,
        "results": str(root),
        "path": str(folder),
        "attention": params.get("attention"),
        "protocol": params.get("protocol"),
        "recipe": params.get("recipe"),
        "profile": params.get("profile"),
        "seed": cfg.get("seed"),
        "model": cfg.get("model"),
        "k_size": (params.get("experiment", {}).get("model") or {}).get("k_size"),
        "data": data_label(source),
        "n_train": source.get("n"),
        "device": env.get("device", "unknown"),
        "commit": env.get("git_commit"),
        "epochs": cfg.get("epochs"),
        "batch_size": cfg.get("batch_size"),
    }
    history = pd.read_csv(folder / "history.csv")
    for key in ("run", "results", "attention", "protocol", "profile", "seed", "data", "device"):
        history[key] = row[key]
    return row, history


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
                "loss mean": group["test_loss"].mean(),
                "params": int(group["params"].iloc[0]),
                "train img/s": group["mean_images_per_s"].mean(),
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
