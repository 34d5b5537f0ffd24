"""The one ``train`` every task shares: skip a finished run, prepare data once under torchrun, the engine's
run folder, W&B; and the table of tasks by name."""

from __future__ import annotations

from pathlib import Path

from ecalib.devices import resolve_device
from ecalib.engine import Trainer, TrainResult, init_distributed
from ecalib.engine.distributed import barrier
from ecalib.engine.results import completed_run
from ecalib.paths import DEFAULT_RESULTS_DIR
from ecalib.recipes.resolve import Run
from ecalib.tasks.base import Task
from ecalib.tasks.cifar10 import TASK as CIFAR10
from ecalib.tasks.coco import TASK as COCO
from ecalib.tasks.imagenet import TASK as IMAGENET

TASKS: dict[str, Task] = {"cifar10": CIFAR10, "imagenet": IMAGENET, "coco": COCO}


def task_of(run: Run) -> Task:
    return TASKS[run.task]


def run_dir_for(run: Run, results_dir: str | Path = DEFAULT_RESULTS_DIR) -> Path:
    """``<results_dir>/<task>/<run name>``."""
    return Path(results_dir) / run.task / run.name


def prepare_data(runs: list[Run], ways_out: str = "python") -> None:
    """Check every run's data before the first one trains (its model was checked when it was resolved);
    ``ways_out`` spells the fixes for the front end (``cli``, ``papermill`` or ``python``: a key of
    ``ecalib.data.cifar.WAYS_OUT``)."""
    for run in runs:
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
        "network": c.model.arch,  # the registered model it builds (model.name may be a mechanism or backbone)
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
