"""A self-describing result folder per run: params, environment, per-epoch history, final metrics.

<run>/params.json     the run's description once (the experiment; the engine's config when used alone),
                      data source, runtime facts (processes, workers...) and the run id
<run>/env.json        versions, device, git commit (ecalib.provenance)
<run>/history.csv     one row per finished epoch
<run>/final.json      final metrics; written last, so its presence marks a complete run
<run>/resume_log.jsonl  every resume, with the hyper-parameters that changed
<run>/run.lock        held (flock) by the process training the run: pid, host, command, start time
<run>/checkpoints/checkpoint.pth.tar, model_best.pth.tar  official layout (ignored by git)
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import socket
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ecalib.atomic import atomic_write_text
from ecalib.engine.identity import identity_differences, identity_settings, run_id
from ecalib.errors import UsageError, UserError
from ecalib.limits import json_object


@dataclass
class TrainResult:
    """What a finished run returns: its folder, ``final.json`` and the per-epoch history."""

    run_dir: Path
    final: dict
    history: list[dict]


class RunInUseError(UserError):
    """Another process is training in this run folder."""


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoints" / "checkpoint.pth.tar"

    @property
    def best_checkpoint(self) -> Path:
        return self.path / "checkpoints" / "model_best.pth.tar"

    def is_complete(self, epochs: int | None = None) -> bool:
        """``final.json`` exists (and covers ``epochs`` epochs, when given); an unreadable one is no finish."""
        final = self.path / "final.json"
        if not final.exists():
            return False
        try:
            record = json.loads(final.read_text())
        except (ValueError, RecursionError):
            return False
        return isinstance(record, dict) and (epochs is None or record.get("epoch") == epochs)

    @contextmanager
    def lock(self):
        """Hold the folder exclusively (``run.lock``, non-blocking flock), else raise
        :class:`~ecalib.engine.results.RunInUseError`.

        The kernel releases the lock when the process ends, however it ends; the file stays.
        """
        import datetime

        self.path.mkdir(parents=True, exist_ok=True)
        path = self.path / "run.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 4096).decode(errors="replace")
            os.close(fd)
            try:
                info = json.loads(holder)
                who = f"pid {info['pid']} on {info['host']} since {info['since']} ({info['command']})"
            except (ValueError, KeyError, TypeError):
                who = "another process"
            raise RunInUseError(
                f"run folder {self.path} is in use by {who}; wait for it to finish or use another folder"
            ) from None
        try:
            record = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "command": " ".join(sys.argv),
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
            yield
        finally:
            os.ftruncate(fd, 0)
            os.close(fd)  # releases the flock

    def check_identity(self, identity: dict) -> None:
        """Refuse a folder whose ``params.json`` records another run (settings that change the result differ)."""
        params = self.path / "params.json"
        if not params.exists():
            return
        try:
            stored = json_object(params)
        except ValueError as why:
            raise UsageError(f"{params} is not a run record ({why}); use another folder for this run") from None
        differences = identity_differences(recorded_identity(stored), identity)
        if differences:
            listed = "; ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in differences.items())
            raise UsageError(
                f"{self.path} holds another run: these settings differ from its params.json: {listed}. "
                "Use another folder (the default folder name follows the settings), or continue that run with "
                "changed settings into a new folder with --resume-from (resume_from=)."
            )

    def write_json(self, name: str, payload: dict) -> None:
        atomic_write_text(self.path / name, json.dumps(payload, indent=2, default=str) + "\n")

    def read_json(self, name: str) -> dict:
        return json.loads((self.path / name).read_text())

    def write_history(self, rows: list[dict]) -> None:
        if not rows:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path / "history.csv", buf.getvalue())

    def read_history(self):
        import pandas as pd

        return pd.read_csv(self.path / "history.csv")

    def append_log(self, name: str, record: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / name, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=str) + "\n")


def recorded_identity(params: dict) -> dict:
    """The identity a ``params.json`` records: stored as such (folders written before the record held the
    experiment once, or a caller's own identity), else its experiment's, else its engine config's."""
    if "identity" in params:
        return params["identity"]
    if isinstance(params.get("experiment"), dict):
        return identity_settings(params["experiment"])
    return {"config": params.get("config", {})}


def run_record(config: dict, run_info: dict, identity: dict, world_size: int) -> dict:
    """``params.json`` of a run: its description once (``run_info['experiment']``; the engine's ``config``
    where the engine is used alone), the runtime facts, and the run id. ``identity`` is written only when
    it cannot be recomputed from that description."""
    record = {**({} if "experiment" in run_info else {"config": config}), "world_size": world_size, **run_info}
    if identity_settings(recorded_identity(record)) != identity_settings(identity):
        record["identity"] = identity
    return record | {"run_id": run_id(identity)}


def completed_run(path: str | Path, identity: dict, epochs: int, verbose: bool = True):
    """The stored result of a run folder that already finished this run (same ``identity``), else None.

    A folder holding another run is refused (:meth:`RunDir.check_identity`), never returned.
    """
    folder = RunDir(path)
    folder.check_identity(identity)
    if not folder.is_complete(epochs):
        return None
    if verbose:
        print(f"{folder.path} is complete; skipping (delete it to re-run)")
    return TrainResult(folder.path, folder.read_json("final.json"), folder.read_history().to_dict("records"))
