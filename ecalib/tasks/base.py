"""The task skeleton: what CIFAR-10, ImageNet and COCO fill in.

A task says how its data is checked, prepared and read, how batches are drawn, which hooks the
engine uses and what to do after training; :func:`ecalib.tasks.training.train` does the rest the
same way for all of them.
"""

from __future__ import annotations

from pathlib import Path

from ecalib.engine import DistInfo, TrainConfig
from ecalib.errors import UsageError
from ecalib.recipes.resolve import Run


class Task:
    """Defaults that suit classification; each task overrides what differs."""

    name: str
    wandb_names: dict[str, str] | None = None  # history key -> W&B name (None: the hooks')

    def check_data(self, run: Run, ways_out: str = "python") -> None:
        """Make sure real data is there before any run trains (one error naming the folder otherwise)."""

    def prepare(self, run: Run) -> None:
        """Generate (synthetic) or fetch the data; called by one process before the others read it."""

    def datasets(self, run: Run) -> tuple:
        """``(train set, evaluation set)``."""
        raise NotImplementedError

    def batches(self, run: Run, cfg: TrainConfig, sets: tuple, device, dist: DistInfo) -> tuple:
        """``(train batches, evaluation batches)`` of this rank (see :class:`ecalib.engine.trainer.Batches`)."""
        raise NotImplementedError

    def data_source(self, run: Run, sets: tuple) -> dict:
        """What the data is (kind, path, sizes): recorded with every result."""
        raise NotImplementedError

    def train_config(self, run: Run, sets: tuple) -> TrainConfig:
        return run.train_config()

    def hooks(self, run: Run, sets: tuple):
        """The engine's task hooks (None: classification)."""
        return None

    def run_info(self, run: Run, sets: tuple) -> dict:
        """Task-specific entries of ``params.json`` besides the resolved config."""
        return {}

    def finish(self, run: Run, path: Path, dist: DistInfo) -> None:
        """After training (e.g. COCO assembles its progress GIF)."""


class FolderTask(Task):
    """A task whose data is a folder of files (ImageNet's ImageFolder, COCO's images and json), or a
    generated look-alike of it in a folder of its own per generator spec under ``data.dir``."""

    synthetic_kind: str  # folder-name prefix of the generated sets

    def synthetic_writer(self):
        """The function that generates the look-alike (its keyword defaults complete a run's spec)."""
        raise NotImplementedError

    def check_splits(self, root: Path) -> None:
        """Refuse a real data folder without the splits the task reads (one error naming what is missing)."""
        raise NotImplementedError

    def data_folder(self, run: Run) -> Path:
        from ecalib.data.synthetic import synthetic_dir

        d = run.config.data
        if d.source == "synthetic":
            return synthetic_dir(d.dir, self.synthetic_kind, self.synthetic_writer(), d.synthetic)
        return Path(d.dir)

    def check_data(self, run: Run, ways_out: str = "python") -> None:
        if run.config.data.source != "synthetic":
            root = self.data_folder(run)
            if (root / "SYNTHETIC.json").exists():
                raise UsageError(f"{root} holds a generated look-alike; use data='synthetic' for it")
            self.check_splits(root)

    def prepare(self, run: Run) -> None:
        from ecalib.data.synthetic import ensure_synthetic

        if run.config.data.source == "synthetic":
            ensure_synthetic(self.data_folder(run), self.synthetic_writer(), run.config.data.synthetic)
        self.check_data(run)
