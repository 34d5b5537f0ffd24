"""The training engine: one loop for every task (classification on CIFAR-10 and ImageNet, detection on COCO).

The task supplies :class:`TaskHooks` (model, loss, evaluation); the engine owns everything else.

What it guarantees:
- checkpoints in the official ECANet layout (``checkpoint.pth.tar``: ``epoch``, ``arch``,
  ``module.``-prefixed ``state_dict``, ``best_prec1``, ``optimizer``; plus ecalib's ``config``,
  ``history`` and fp16 ``scaler``), written atomically every ``checkpoint_every`` epochs and at the
  end; ``model_best.pth.tar`` holds the best epoch's state even when that epoch wrote no checkpoint
  (kept in memory until the next commit) and always matches the checkpoint's ``best_prec1``: it is
  written as ``model_best.pending.pth.tar`` before the checkpoint and renamed after it, and a resume
  finishes (or discards) a promotion a crash interrupted; ``history.csv`` follows the checkpoint,
  never ahead of it;
- exact resume: the data order, augmentation and dropout of epoch ``e`` depend only on
  ``(seed, e)``, so a resumed run ends where an uninterrupted one does; a checkpoint written by
  the official code resumes too;
- one run per folder: the folder's ``params.json`` and checkpoint must record the same identity
  (:mod:`ecalib.engine.identity`: every setting that changes the result); only operational
  settings (device, compile, checkpoint_every, ...) may differ when a run continues in its folder;
- continuing a run with changed hyper-parameters (more epochs, another lr, ...) is explicit:
  ``resume_from`` names the earlier run (or any checkpoint) and the new run starts from it in its
  own folder; the changes are applied (the lr is recomputed from the config every epoch) and logged;
- a non-finite loss stops the run naming the epoch and iteration; nothing is written after it,
  so the last checkpoint stays the last good one;
- distributed data parallel under ``torchrun``: metrics are reduced over ranks and only rank 0
  writes checkpoints, results and W&B.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import nn
from tqdm import tqdm

from ecalib.atomic import atomic_file, remove_orphans
from ecalib.checkpoint import atomic_torch_save, load_weights_strict
from ecalib.data.seeding import SEED_RANGE
from ecalib.devices import resolve_device
from ecalib.engine.classification import ClassificationHooks
from ecalib.engine.config import RESUMABLE_CHANGES, TrainConfig, config_changes
from ecalib.engine.distributed import DistInfo, all_reduce_sum, any_rank, barrier, init_distributed
from ecalib.engine.identity import OPERATIONAL, identity_differences
from ecalib.engine.results import RunDir, TrainResult, run_record
from ecalib.engine.schedule import lr_at, warmup_factor
from ecalib.engine.wandb_logger import WandbLogger
from ecalib.errors import UsageError, UserError
from ecalib.provenance import environment


class Batches(Protocol):
    """What the engine needs from a data source (see :class:`ecalib.data.DeviceBatches`).

    ``epoch(e)`` yields this rank's batches of epoch ``e``; ``num_samples`` counts them.
    """

    num_samples: int

    def __len__(self) -> int: ...

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...


MakeBatches = Callable[[TrainConfig, torch.device, DistInfo], tuple[Batches, Batches]]


class TaskHooks(Protocol):
    """What a task tells the engine (see :class:`ecalib.engine.classification.ClassificationHooks`)."""

    best_metric: str  # history key whose maximum selects model_best.pth.tar
    final_keys: tuple[str, ...]  # history keys copied into final.json
    wandb_names: dict[str, str]  # history key -> W&B metric name

    def build_model(self, cfg: TrainConfig) -> nn.Module: ...

    def train_step(self, model: nn.Module, batch, autocast) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(loss to back-propagate, per-batch sums to accumulate, number of images)."""

    def summarize_train(self, sums: torch.Tensor, count: float) -> dict: ...

    def evaluate(self, model: nn.Module, batches: Batches, context: EvalContext) -> dict:
        """Held-out metrics after one epoch (``context``: what the evaluation may use of the run)."""


@dataclass(frozen=True)
class EvalContext:
    """What a task's evaluation gets from the engine, instead of the whole Trainer."""

    device: torch.device
    dist: DistInfo  # metrics are reduced over these ranks; only the main rank writes
    autocast: Callable  # () -> the mixed-precision context of the run
    epoch: int  # 1-based epoch just trained
    run_dir: Path  # the run folder (e.g. for per-epoch images)


class NonFiniteLossError(UserError, RuntimeError):
    """The training loss became NaN or infinite; the run stopped without writing anything."""


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=cfg.nesterov
        )
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def _cpu_copy(obj):
    """A detached CPU copy of a (nested) checkpoint payload, safe from later training steps."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_cpu_copy(v) for v in obj)
    return copy.deepcopy(obj)


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of everything random in one epoch on one rank (augmentation, dropout, order)."""
    return (seed * 1_000_003 + epoch * 7_919 + rank * 104_729) % SEED_RANGE


class Trainer:
    """Train ``cfg.model`` on ``make_batches(cfg, device, dist) -> (train, test)`` into ``run_dir``.

    ``cfg.batch_size`` is the global batch; each of the ``world_size`` ranks takes an equal share.
    ``run_info`` (the experiment, data source, protocol, ...) is ``params.json``, with the config where it holds
    no experiment; ``identity`` (default: the config) is the settings that name the run (see
    :mod:`ecalib.engine.identity` and :func:`ecalib.engine.results.run_record`).
    """

    def __init__(
        self,
        cfg: TrainConfig,
        make_batches: MakeBatches,
        run_dir: str | Path,
        run_info: dict | None = None,
        wandb_project: str = "ecalib",
        wandb_group: str | None = None,
        wandb_names: dict[str, str] | None = None,
        progress: bool = True,
        verbose: bool = True,
        hooks: TaskHooks | None = None,
        identity: dict | None = None,
    ):
        self.cfg = cfg
        self.identity = identity if identity is not None else {"config": cfg.to_dict()}
        self.hooks = hooks or ClassificationHooks()
        self.run = RunDir(run_dir)
        self.run_info = dict(run_info or {})
        self.make_batches = make_batches
        self.wandb_project, self.wandb_group = wandb_project, wandb_group
        self.wandb_names = wandb_names or self.hooks.wandb_names
        self.device = resolve_device(cfg.device)
        self.dist = init_distributed(self.device)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        self.progress = progress and self.dist.is_main
        self.verbose = verbose and self.dist.is_main
        if cfg.amp == "fp16" and self.device.type != "cuda":
            raise UsageError("amp='fp16' needs a CUDA device; use amp='bf16' or 'none' on CPU")
        if cfg.batch_size % self.dist.world_size:
            raise UsageError(
                f"batch_size {cfg.batch_size} (global) must be divisible by the {self.dist.world_size} processes"
            )
        torch.manual_seed(cfg.seed)
        self.model = self.hooks.build_model(cfg).to(self.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = build_optimizer(self.model, self.cfg)
        self.scaler = torch.amp.GradScaler("cuda") if cfg.amp == "fp16" else None
        self.history: list[dict] = []
        self.start_epoch = 0
        self.saved_epoch = 0  # epoch of the checkpoint on disk, for error messages
        self.best_score = float("-inf")
        self._best_due = False  # a new best since the last commit, not yet in model_best.pth.tar
        self._pending_best: dict | None = None  # its state (CPU copy) when its epoch wrote no checkpoint

    @property
    def checkpoint_path(self) -> Path:
        return self.run.checkpoint

    @property
    def best_path(self) -> Path:
        return self.run.best_checkpoint

    # -- state -------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        if self.verbose:
            tqdm.write(text)

    def _restore(self, path: Path, own: bool) -> None:
        """Continue from ``path``: the run folder's own checkpoint (``own``: only operational settings
        may differ) or another run's (``resume_from``: the hyper-parameters in RESUMABLE_CHANGES may).

        Every field of the file is checked (:func:`ecalib.engine.training_state.read_training_state`) before
        anything is loaded, trained or written: a bad file never costs an epoch or the run's checkpoint."""
        from ecalib.checkpoint import CheckpointError
        from ecalib.engine.training_state import read_training_state

        try:
            state = read_training_state(path, self.model, self.optimizer)
        except CheckpointError as err:
            text = str(err)
            if not text.startswith("cannot resume"):
                text = f"cannot resume: {text}" if text.startswith(str(path)) else f"cannot resume from {path}: {text}"
            raise UserError(text) from None
        saved_config = state.config
        changes = config_changes(saved_config, self.cfg.to_dict()) if saved_config else {}
        if own:
            fixed = identity_differences({"config": saved_config or {}}, {"config": self.cfg.to_dict()})
            if saved_config and fixed:
                listed = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in fixed.items())
                raise UsageError(
                    f"cannot resume {path}: it belongs to another run; these settings differ from its config: "
                    f"{listed}. Use another run folder, or start the changed run from it with --resume-from "
                    f"{self.run.path} (resume_from=)."
                )
        else:
            fixed = {k: v for k, v in changes.items() if k not in RESUMABLE_CHANGES and k not in OPERATIONAL}
            if fixed:
                raise UsageError(
                    f"cannot resume from {path}: these settings differ from the checkpoint and cannot change "
                    f"mid-run: {fixed} (old, new). Use another run folder for a new run."
                )
        if state.epoch > self.cfg.epochs:
            raise UserError(
                f"cannot resume from {path}: it is after epoch {state.epoch}, beyond the {self.cfg.epochs} epochs "
                f"asked for (--epochs {self.cfg.epochs}); ask for at least {state.epoch} epochs or use another folder"
            )
        try:
            load_weights_strict(self.model, state.state_dict, str(path))
            self.optimizer.load_state_dict(state.optimizer)
            if self.scaler is not None and state.scaler:
                self.scaler.load_state_dict(state.scaler)
        except (CheckpointError, ValueError, KeyError, TypeError, RuntimeError) as err:  # checked above; a last guard
            raise UserError(f"cannot resume from {path}: {err}") from err
        self.start_epoch, self.history, self.best_score = state.epoch, state.history, state.best
        if self.dist.is_main:
            record = {
                "at_epoch": self.start_epoch,
                "from": str(path),
                "changes": changes,
                "date": environment()["date"],
            }
            if not saved_config:
                record["note"] = "checkpoint without an ecalib config (e.g. written by the official main.py)"
            self.run.append_log("resume_log.jsonl", record)
        self._say(f"resumed from {path} after epoch {self.start_epoch}")
        for key, (old, new) in changes.items():
            self._say(f"  {key}: {old} -> {new} (applied from epoch {self.start_epoch + 1})")

    def _state(self, epoch: int) -> dict:
        """The checkpoint payload after ``epoch`` epochs."""
        return {
            "epoch": epoch,
            "arch": self.cfg.model,
            "state_dict": {f"module.{k}": v for k, v in self.model.state_dict().items()},
            "best_prec1": torch.tensor(self.best_score),
            "optimizer": self.optimizer.state_dict(),
            "config": self.cfg.to_dict(),
            "history": self.history,
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
        }

    @property
    def pending_best_path(self) -> Path:
        return self.best_path.with_name("model_best.pending.pth.tar")

    def _save(self, epoch: int) -> None:
        """Commit: the pending best (if any) first, then the checkpoint, then promote the best, then history."""
        if not self.dist.is_main:
            return
        state = self._state(epoch)
        if self._best_due:
            atomic_torch_save(self._pending_best or state, self.pending_best_path)
        atomic_torch_save(state, self.checkpoint_path)
        if self._best_due:
            self._promote_best()
            self._best_due, self._pending_best = False, None
        self.run.write_history(self.history)

    def _promote_best(self) -> None:
        os.replace(self.pending_best_path, self.best_path)

    def _best_epoch(self) -> int | None:
        """The (first) epoch whose held-out metric is the checkpoint's best, from the stored history."""
        key = self.hooks.best_metric
        rows = [r for r in self.history if isinstance(r, dict) and key in r and "epoch" in r]
        matches = [r for r in rows if math.isclose(float(r[key]), self.best_score, rel_tol=1e-6, abs_tol=1e-6)]
        return int(matches[0]["epoch"]) if matches else None

    def _holds_best(self, path: Path, epoch: int) -> bool:
        from ecalib.checkpoint import checkpoint_meta

        if not path.is_file():
            return False
        try:
            meta = checkpoint_meta(torch.load(path, map_location="cpu", weights_only=True, mmap=True), path)
        except Exception:  # noqa: BLE001 - a torn or foreign file is simply not the best
            return False
        best = meta.get("best_prec1")
        return (
            best is not None
            and meta.get("epoch") == epoch
            and math.isclose(best, self.best_score, rel_tol=1e-6, abs_tol=1e-6)
        )

    def _repair_best(self) -> None:
        """After resuming the run's own checkpoint: make model_best.pth.tar hold its recorded best."""
        epoch = self._best_epoch()
        if not self.dist.is_main or epoch is None:
            return
        pending = self.pending_best_path
        if pending.exists():
            if self._holds_best(pending, epoch):  # the crash came after the checkpoint commit
                self._promote_best()
                self._say(f"model_best.pth.tar: promoted the best of epoch {epoch} a crash left pending")
            else:  # written before a checkpoint that never came: that epoch is trained again
                pending.unlink()
        if self._holds_best(self.best_path, epoch):
            return
        if epoch == self.start_epoch:  # the checkpoint itself is the best epoch's state
            with atomic_file(self.best_path) as out, open(self.checkpoint_path, "rb") as src:
                shutil.copyfileobj(src, out)
            self._say(f"model_best.pth.tar: restored from the checkpoint of epoch {epoch}")
        else:
            note = f"model_best.pth.tar does not hold the best epoch ({epoch}) and cannot be rebuilt"
            self._say(f"warning: {note}")
            self.run.append_log("resume_log.jsonl", {"at_epoch": self.start_epoch, "warning": note})

    def _apply_hyperparameters(self, epoch: int) -> float:
        lr = lr_at(epoch, self.cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
            group["weight_decay"] = self.cfg.weight_decay
            if "momentum" in group:
                group["momentum"] = self.cfg.momentum
        return lr

    # -- loops -------------------------------------------------------------------------------
    def autocast(self):
        if self.cfg.amp == "none":
            return nullcontext()
        dtype = torch.bfloat16 if self.cfg.amp == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _train_epoch(self, model: nn.Module, batches: Batches, epoch: int) -> dict:
        model.train()
        torch.manual_seed(epoch_seed(self.cfg.seed, epoch, self.dist.rank))  # dropout, loader workers
        n = len(batches)
        losses = torch.zeros(n, device=self.device)
        sums, count = None, torch.zeros((), device=self.device, dtype=torch.float64)
        check_every = 1 if self.device.type == "cpu" else 25
        bar = tqdm(total=n, desc=f"epoch {epoch + 1}/{self.cfg.epochs}", leave=False, disable=not self.progress)
        base_lr = self.optimizer.param_groups[0]["lr"]
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        for i, batch in enumerate(batches.epoch(epoch)):
            iteration = epoch * n + i
            if iteration <= self.cfg.warmup_iters:
                for group in self.optimizer.param_groups:
                    group["lr"] = base_lr * warmup_factor(iteration, self.cfg)
            loss, stats, batch_size = self.hooks.train_step(model, batch, self.autocast)
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss.backward()
                self.optimizer.step()
            losses[i] = loss.detach().float()
            sums = stats if sums is None else sums + stats
            count += batch_size
            if (i + 1) % check_every == 0 or i + 1 == n:
                self._check_finite(losses[: i + 1], epoch, n)
            bar.update()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elapsed = time.perf_counter() - start
        bar.close()
        all_reduce_sum(sums, count, info=self.dist)
        total = count.item()
        return {**self.hooks.summarize_train(sums, total), "train_time": elapsed, "images_per_s": total / elapsed}

    def _check_finite(self, losses: torch.Tensor, epoch: int, n: int) -> None:
        bad = ~torch.isfinite(losses)
        if any_rank(bool(bad.any()), self.device, self.dist):
            where = f"iteration {int(bad.nonzero()[0, 0]) + 1}/{n}" if bool(bad.any()) else "another rank"
            value = losses[bad][0].item() if bool(bad.any()) else float("nan")
            last = (
                f"{self.checkpoint_path} (after epoch {self.saved_epoch})"
                if self.checkpoint_path.exists()
                else "none yet"
            )
            raise NonFiniteLossError(
                f"training loss is {value} at epoch {epoch + 1}, {where} "
                f"(lr {self.optimizer.param_groups[0]['lr']:g}). The run stopped without saving; the last good "
                f"checkpoint is {last} and is intact. Resume from it with a lower lr."
            )

    # -- driver ------------------------------------------------------------------------------
    def fit(self, resume: bool = True, resume_from: str | Path | None = None) -> TrainResult:
        """Train to ``cfg.epochs``; continue the run folder's own checkpoint (``resume``), else start from
        ``resume_from``: an earlier run's folder or any checkpoint in the official layout (e.g. written by
        the official code). The folder's own checkpoint wins, so re-running the same command continues."""
        cfg = self.cfg
        train, test = self.make_batches(cfg, self.device, self.dist)
        images = train.num_samples * self.dist.world_size
        if cfg.batch_size > images:
            raise UsageError(
                f"--batch-size {cfg.batch_size} is larger than the training set ({images} images); use at most {images}"
            )
        with self.run.lock() if self.dist.is_main else nullcontext():  # one process per run folder
            return self._fit(train, test, resume, resume_from)

    def _fit(self, train: Batches, test: Batches, resume: bool, resume_from: str | Path | None) -> TrainResult:
        cfg = self.cfg
        if self.dist.is_main:  # temporaries of writes a crash interrupted
            for folder in (self.run.path, self.checkpoint_path.parent):
                remove_orphans(folder)
        self.run.check_identity(self.identity)
        link = self.checkpoint_path
        if link.is_symlink() and not link.exists():
            raise UserError(
                f"{link} is a symbolic link to {os.readlink(link)}, which does not exist: restore that file, "
                "or remove the link to start the run over"
            )
        if self.checkpoint_path.exists():
            if not resume:
                raise FileExistsError(f"{self.run.path} already holds a run; resume it or use another folder")
            if resume_from is not None:
                self._say(f"{self.run.path} has its own checkpoint; continuing it (resume_from {resume_from} not used)")
            self._restore(self.checkpoint_path, own=True)
            self._repair_best()
        elif resume_from is not None:
            source = Path(resume_from)
            self._restore(RunDir(source).checkpoint if source.is_dir() else source, own=False)
        self.saved_epoch = self.start_epoch
        if self.dist.is_main:
            info = run_record(cfg.to_dict(), self.run_info, self.identity, self.dist.world_size)
            self.run.write_json("params.json", info)
            self.run.write_json("env.json", environment(self.device, self.run_info.get("data_source", {}).get("kind")))
            self.run.write_history(self.history)  # what the checkpoint holds (a crash may have left it behind)
        model: nn.Module = self.model
        if self.dist.enabled:
            ids = [self.dist.local_rank] if self.device.type == "cuda" else None
            model = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        if cfg.compile:
            model = torch.compile(model)
        logger = (
            WandbLogger(
                cfg.wandb_mode,
                self.wandb_project,
                self.run.path.name,
                {**cfg.to_dict(), **self.run_info},
                self.run.path,
                self.wandb_group,
            )
            if self.dist.is_main
            else None
        )
        try:
            for epoch in range(self.start_epoch, cfg.epochs):
                lr = self._apply_hyperparameters(epoch)
                start = time.perf_counter()
                row = {"epoch": epoch + 1, "lr": lr, **self._train_epoch(model, train, epoch)}
                context = EvalContext(self.device, self.dist, self.autocast, epoch + 1, self.run.path)
                row.update(self.hooks.evaluate(self.model, test, context))  # unwrapped: no collectives per batch
                row["epoch_time"] = time.perf_counter() - start
                self.history.append(row)
                best = self.hooks.best_metric
                is_best = row[best] > self.best_score
                self.best_score = max(self.best_score, row[best])
                commit = (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == cfg.epochs
                if is_best and self.dist.is_main:  # keep it until the next commit writes it
                    self._best_due = True
                    self._pending_best = None if commit else _cpu_copy(self._state(epoch + 1))
                if self.dist.is_main:
                    names = self.wandb_names.items()
                    logger.log({"epoch": epoch, **{name: row[key] for key, name in names if key in row}}, step=epoch)
                self._say(self._epoch_line(row))
                if commit:
                    self._save(epoch + 1)
                    self.saved_epoch = epoch + 1
        finally:
            if logger is not None:
                logger.finish()
        barrier(self.dist)
        final = self._final()
        if self.dist.is_main:
            self.run.write_json("final.json", final)
        return TrainResult(self.run.path, final, self.history)

    def _epoch_line(self, row: dict) -> str:
        shown = [f"epoch {row['epoch']}/{self.cfg.epochs}", f"lr {row['lr']:.4g}"]
        for key, value in row.items():
            if key.startswith(("train_loss", "test_")) and isinstance(value, float):
                shown.append(f"{key} {value:.4f}")
        return " ".join(shown) + f" ({row['images_per_s']:.0f} img/s)"

    def _final(self) -> dict:
        last = self.history[-1]
        best = self.hooks.best_metric
        final = {k: last[k] for k in self.hooks.final_keys if k in last}
        final[f"best_{best}"] = max(r[best] for r in self.history)
        final["mean_images_per_s"] = sum(r["images_per_s"] for r in self.history) / len(self.history)
        final["params"] = sum(p.numel() for p in self.model.parameters())
        return final
