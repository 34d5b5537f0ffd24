"""A self-describing result folder per run: params, environment, per-epoch history, final metrics.

<run>/params.json     configuration + data source + protocol/profile
<run>/env.json        versions, device, git commit (ecalib.provenance)
<run>/history.csv     one row per finished epoch
<run>/final.json      final metrics; written last, so its presence marks a complete run
<run>/resume_log.jsonl  every resume, with the hyper-parameters that changed
<run>/checkpoints/checkpoint.pth.tar, model_best.pth.tar  official layout (ignored by git)
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ecalib.atomic import atomic_file


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_file(path, "w") as f:
        f.write(text)


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
        """``final.json`` exists (and covers ``epochs`` epochs, when given)."""
        final = self.path / "final.json"
        return final.exists() and (epochs is None or json.loads(final.read_text()).get("epoch") == epochs)

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


def completed_run(path: str | Path, epochs: int, verbose: bool = True):
    """The stored result of a run folder that already covers ``epochs`` epochs, else None."""
    from ecalib.engine.trainer import TrainResult

    folder = RunDir(path)
    if not folder.is_complete(epochs):
        return None
    if verbose:
        print(f"{folder.path} is complete; skipping (delete it to re-run)")
    return TrainResult(folder.path, folder.read_json("final.json"), folder.read_history().to_dict("records"))
