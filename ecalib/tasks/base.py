"""The task skeleton: what CIFAR-10, ImageNet and COCO fill in, and the one ``train`` they share.

A task says how its data is checked, prepared and read, how batches are drawn, which hooks the
engine uses and what to do after training; :func:`train` does the rest the same way for all of
them (skip a finished run, prepare data once under torchrun, the engine's run folder, W&B).
"""

from __future__ import annotations

from pathlib import Path

from ecalib.devices import resolve_device
from ecalib.engine import DistInfo, TrainConfig, Trainer, TrainResult, init_distributed
from ecalib.engine.distributed import barrier
from ecalib.engine.results import completed_run
from ecalib.errors import UsageError
from ecalib.paths import DEFAULT_RESULTS_DIR
from ecalib.recipes.resolve import Run


class Task:
    """Defaults that suit classification; each task overrides what differs."""

    name: str
    wandb_names: dict[str, str] | None = None  # history key -> W&B name (None: the hooks')

    def check(self, run: Run) -> None:
        """Refuse a run this task cannot train, before anything is written (e.g. a model without a recipe)."""
        from ecalib.models import model_info

        model_info(run.config.model.arch)  # a registered model (the error lists close names)

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


def task_of(run: Run) -> Task:
    from ecalib.tasks import TASKS

    return TASKS[run.task]


def run_dir_for(run: Run, results_dir: str | Path = DEFAULT_RESULTS_DIR) -> Path:
    """``<results_dir>/<task>/<run name>``."""
    return Path(results_dir) / run.task / run.name


def prepare_data(runs: list[Run], ways_out: str = "python") -> None:
    """Check every run (model, data) before the first one trains; ``ways_out`` spells the fixes for
    the front end (``cli``, ``papermill`` or ``python``: a key of ``ecalib.data.cifar.WAYS_OUT``)."""
    for run in runs:
        task_of(run).check(run)
        task_of(run).check_data(run, ways_out)


def train(
    run: Run,
    results_dir: str | Path = DEFAULT_RESULTS_DIR,
    resume: bool = True,
    resume_from: str | Path | None = None,
    progress: bool = True,
    verbose: bool = True,
    wandb_group: str | None = None,
    run_dir: str | Path | None = None,
) -> TrainResult:
    """Train ``run`` into ``results_dir/<task>/<run.name>`` (or ``run_dir``); a finished run is returned
    as it is, an interrupted one continues (``resume=False`` refuses a folder that holds a run).

    ``resume_from`` (an earlier run's folder or checkpoint, e.g. one of the official code) starts this
    run from there: the way to continue a run with more epochs or another lr, in the new settings' own folder.
    """
    from ecalib.paths import writable_folder

    writable_folder(results_dir if run_dir is None else run_dir, "results_dir")  # the CLI's check, before any work
    task = task_of(run)
    task.check(run)
    path = Path(run_dir) if run_dir is not None else run_dir_for(run, results_dir)
    if done := completed_run(path, run.identity(), run.config.schedule.epochs, verbose):
        return done
    dist = init_distributed(resolve_device(run.config.device))
    if dist.is_main:
        task.prepare(run)
    barrier(dist)
    sets = task.datasets(run)
    c = run.config
    info = {
        "task": c.task,
        "recipe": c.recipe,
        "profile": c.profile,
        "model": c.model.name,
        "origin": run.origin,
        "lr_rule": run.lr_rule,
        "experiment": run.resolved,
        **task.run_info(run, sets),
        "data_source": task.data_source(run, sets),
    }
    trainer = Trainer(
        task.train_config(run, sets),
        lambda cfg, device, dist: task.batches(run, cfg, sets, device, dist),
        path,
        info,
        wandb_project=c.logging.wandb_project or f"ecalib-{c.task}",
        wandb_group=wandb_group or f"{c.profile}-{c.recipe}",
        wandb_names=task.wandb_names,
        progress=progress,
        verbose=verbose,
        hooks=task.hooks(run, sets),
        identity=run.identity(),
    )
    result = trainer.fit(resume=resume, resume_from=resume_from)
    task.finish(run, path, dist)
    return result
