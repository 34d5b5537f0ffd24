"""Every result folder the claims ledger (:mod:`ecalib.reports.claims`) reads, read here and nowhere else.

Under the results root (``results/`` in the repository):

- ``imagenet-eval/<folder>/``: ``ecalib evaluate --out`` (``ecalib.tasks.imagenet.write_evaluation``):
  ``params.json`` (what was evaluated, on which data), ``env.json`` (device, versions, commit), ``final.json``
  (``top1``, ``top5``, ``images``, ``classes``).
- ``cifar10/<run>/``, ``imagenet/<run>/``, ``coco/<run>/``: training runs, read by
  :func:`ecalib.reports.runs.read_runs` (provenance from ``params.json``/``env.json``, metrics from
  ``final.json``).
- ``benchmarks/<kind>/<stamp>-<device>/``: any folder whose ``params.json`` ``command`` starts with ``bench``
  (``ecalib bench``, whatever suite or preset wrote it), read by
  :func:`ecalib.bench_results.folder_rows`: ``results.csv`` rows with backbone, mechanism, mode,
  precision, compile, batch_size, images_per_s and, from interleaved runs, ``vs none (paired)`` with its
  interval; the device from ``env.json``.

A folder that cannot be read (a missing or malformed file, a metric that is missing or not finite, a value
out of range) is listed in ``ResultFolders.rejected`` with the reason, and never counted.
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path

import pandas as pd

from ecalib.limits import MAX_RESULT_JSON_BYTES, json_object
from ecalib.reports.runs import Rejected, read_runs

# the metric a training run of each task is judged by (final.json), and its range
RUN_METRICS = {"cifar10": ("test_top1", 0, 100), "imagenet": ("test_top1", 0, 100), "coco": ("bbox_AP", 0, 1)}
READ_ERRORS = (OSError, ValueError, TypeError, KeyError, AttributeError, pd.errors.ParserError)


def _finite_in(value, low: float, high: float) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    )


def _json_object(path: Path) -> dict:
    return json_object(path, MAX_RESULT_JSON_BYTES)


class ResultFolders:
    """The result folders under ``root``, read on first use; ``rejected`` lists those left out."""

    def __init__(self, root: str | Path = "results"):
        self.root = Path(root)
        self.rejected: list[Rejected] = []
        self._runs: dict[str, pd.DataFrame] = {}

    def _reject(self, folder, reason: str) -> None:
        entry = Rejected(str(folder), reason)
        if entry not in self.rejected:
            self.rejected.append(entry)

    @cached_property
    def evaluations(self) -> pd.DataFrame:
        """One row per ImageNet evaluation of a checkpoint (model, top1, images, data kind, device...)."""
        rows = []
        for folder in sorted(p for p in (self.root / "imagenet-eval").glob("*") if p.is_dir()):
            try:
                params, env = _json_object(folder / "params.json"), _json_object(folder / "env.json")
                final = _json_object(folder / "final.json")
                images, classes = final.get("images"), final.get("classes")
                for key in ("top1", "top5"):
                    if not _finite_in(final.get(key), 0, 100):
                        raise ValueError(f"final.json {key} is {final.get(key)!r}, not a percentage")
                if not (isinstance(images, int) and images > 0 and isinstance(classes, int) and classes > 0):
                    raise ValueError(f"final.json images/classes are {images!r}/{classes!r}, not positive counts")
                rows.append(
                    {
                        "folder": str(folder),
                        "model": str(params["model"]),
                        "checkpoint": Path(str(params.get("checkpoint", ""))).name,
                        "k_per_stage": params.get("k_per_stage"),
                        "data": str((params.get("data_source") or {}).get("kind", "unknown")),
                        "device": str(env.get("device", "unknown")),
                        "commit": str(env.get("git_commit") or "")[:10],
                        "top1": float(final["top1"]),
                        "top5": float(final["top5"]),
                        "images": images,
                        "classes": classes,
                    }
                )
            except READ_ERRORS as error:
                self._reject(folder, f"{type(error).__name__}: {error}")
        return pd.DataFrame(rows)

    def runs(self, task: str) -> pd.DataFrame:
        """Complete training runs of ``task`` (``results/<task>/``), with a finite metric in range."""
        return self._runs[task] if task in self._runs else self._read_runs(task)

    def _read_runs(self, task: str) -> pd.DataFrame:
        metric, low, high = RUN_METRICS[task]
        found = read_runs(self.root / task, task=task, metric=metric)
        for rejected in found.rejected:
            self._reject(rejected.folder, rejected.reason)
        runs = pd.DataFrame([record.row() for record in found.runs])
        if len(runs):
            values = runs[metric] if metric in runs else pd.Series(float("nan"), index=runs.index)
            bad = ~values.map(lambda v: _finite_in(v, low, high))
            for path, value in zip(runs.loc[bad, "path"], values[bad]):
                self._reject(path, f"final.json {metric} is {value!r}, not a finite value in [{low}, {high}]")
            runs = runs[~bad].reset_index(drop=True)
        self._runs[task] = runs
        return runs

    @cached_property
    def bench(self) -> pd.DataFrame:
        """Every ``ecalib bench`` row under ``benchmarks/``, with device, folder (relative path) and commit."""
        from ecalib.bench_results import folder_rows

        frames = []
        for params_path in sorted((self.root / "benchmarks").glob("*/*/params.json")):
            folder = params_path.parent
            try:
                if not str(_json_object(params_path).get("command", "")).startswith("bench"):
                    continue  # another benchmark's folder (benchmarks/*.py), not ecalib bench
                frame = folder_rows(folder)
                missing = {"backbone", "mechanism", "mode", "images_per_s"} - set(frame.columns)
                if missing:
                    raise KeyError(f"results.csv lacks {', '.join(sorted(missing))}")
                rates = pd.to_numeric(frame["images_per_s"], errors="coerce")
                if not (rates.notna() & (rates > 0) & rates.map(math.isfinite)).all():
                    raise ValueError("results.csv has an images_per_s that is missing, not positive or not finite")
                frames.append(frame.assign(folder=str(folder.relative_to(self.root))))
            except READ_ERRORS as error:
                self._reject(folder, f"{type(error).__name__}: {error}")
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
