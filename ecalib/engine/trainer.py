"""The training engine: one loop for every classification task (CIFAR-10 now, ImageNet later).

What it guarantees:
- exact resume: model, optimizer (and fp16 scaler) state are checkpointed atomically every
  ``checkpoint_every`` epochs and at the end; data order and augmentation depend only on
  ``(seed, epoch)``, so a resumed run ends where an uninterrupted one does;
- hyper-parameters changed on resume (lr, schedule, epochs, ...) are applied and logged,
  because the lr is recomputed from the config every epoch;
- a non-finite loss stops the run naming the epoch and iteration; nothing is written after it,
  so the last checkpoint stays the last good one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ecalib.checkpoint import atomic_torch_save
from ecalib.engine.config import RESUMABLE_CHANGES, TrainConfig, config_changes
from ecalib.engine.results import RunDir
from ecalib.engine.schedule import lr_at
from ecalib.engine.wandb_logger import WandbLogger
from ecalib.provenance import environment


class Batches(Protocol):
    """What the engine needs from a data source (see :class:`ecalib.data.DeviceBatches`)."""

    num_samples: int

    def __len__(self) -> int: ...

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the run stopped without writing anything."""


@dataclass
class TrainResult:
    run_dir: Path
    final: dict
    history: list[dict]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but no CUDA GPU is available; use device='cpu' or 'auto'")
    return torch.device(name)


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=cfg.nesterov
        )
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def topk_correct(logits: torch.Tensor, target: torch.Tensor, ks=(1, 5)) -> list[torch.Tensor]:
    """Number of samples whose target is among the top-k logits, for each k (on device, no sync)."""
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = top == target[:, None]
    return [hits[:, :k].any(dim=1).sum() for k in ks]


class Trainer:
    """Train ``cfg.model`` on ``make_batches(cfg, device) -> (train, test)`` into ``run_dir``.

    ``run_info`` (data source, protocol, ...) is stored with the config in ``params.json``.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        make_batches: Callable[[TrainConfig, torch.device], tuple[Batches, Batches]],
        run_dir: str | Path,
        run_info: dict | None = None,
        wandb_project: str = "ecalib",
        wandb_group: str | None = None,
        progress: bool = True,
        verbose: bool = True,
    ):
        self.cfg = cfg
        self.run = RunDir(run_dir)
        self.run_info = dict(run_info or {})
        self.make_batches = make_batches
        self.wandb_project, self.wandb_group = wandb_project, wandb_group
        self.progress, self.verbose = progress, verbose
        self.device = resolve_device(cfg.device)
        if cfg.amp == "fp16" and self.device.type != "cuda":
            raise ValueError("amp='fp16' needs a CUDA device; use amp='bf16' or 'none' on CPU")
        from ecalib.models import create_model

        torch.manual_seed(cfg.seed)
        self.model = create_model(cfg.model, num_classes=cfg.num_classes, **cfg.model_kwargs).to(self.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = build_optimizer(self.model, self.cfg)
        self.scaler = torch.amp.GradScaler("cuda") if cfg.amp == "fp16" else None
        self.history: list[dict] = []
        self.start_epoch = 0
        self.saved_epoch = 0  # epoch of the checkpoint on disk, for error messages

    # -- state -------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        if self.verbose:
            tqdm.write(text)

    def _restore(self) -> None:
        state = torch.load(self.run.checkpoint, map_location=self.device, weights_only=True)
        changes = config_changes(state["config"], self.cfg.to_dict())
        fixed = {k: v for k, v in changes.items() if k not in RESUMABLE_CHANGES}
        if fixed:
            raise ValueError(
                f"cannot resume {self.run.path}: these settings differ from the checkpoint and cannot change "
                f"mid-run: {fixed} (old, new). Use another run folder for a new run."
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.start_epoch, self.history = int(state["epoch"]), list(state["history"])
        self.run.append_log(
            "resume_log.jsonl", {"at_epoch": self.start_epoch, "changes": changes, "date": environment()["date"]}
        )
        self._say(f"resumed {self.run.path} after epoch {self.start_epoch}")
        for key, (old, new) in changes.items():
            self._say(f"  {key}: {old} -> {new} (applied from epoch {self.start_epoch + 1})")

    def _save(self, epoch: int) -> None:
        state = {
            "epoch": epoch,
            "config": self.cfg.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "history": self.history,
        }
        atomic_torch_save(state, self.run.checkpoint)

    def _apply_hyperparameters(self, epoch: int) -> float:
        lr = lr_at(epoch, self.cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
            group["weight_decay"] = self.cfg.weight_decay
            if "momentum" in group:
                group["momentum"] = self.cfg.momentum
        return lr

    # -- loops -------------------------------------------------------------------------------
    def _autocast(self):
        if self.cfg.amp == "none":
            return nullcontext()
        dtype = torch.bfloat16 if self.cfg.amp == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _train_epoch(self, model: nn.Module, batches: Batches, epoch: int) -> dict:
        model.train()
        n = len(batches)
        losses = torch.zeros(n, device=self.device)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        check_every = 1 if self.device.type == "cpu" else 25
        bar = tqdm(total=n, desc=f"epoch {epoch + 1}/{self.cfg.epochs}", leave=False, disable=not self.progress)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        for i, (x, y) in enumerate(batches.epoch(epoch)):
            with self._autocast():
                out = model(x)
                loss = F.cross_entropy(out, y)
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss.backward()
                self.optimizer.step()
            losses[i] = loss.detach().float()
            loss_sum += losses[i] * y.shape[0]
            correct += (out.argmax(dim=1) == y).sum()
            if (i + 1) % check_every == 0 or i + 1 == n:
                self._check_finite(losses[: i + 1], epoch, n)
            bar.update()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elapsed = time.perf_counter() - start
        bar.close()
        samples = batches.num_samples
        return {
            "train_loss": loss_sum.item() / samples,
            "train_top1": 100.0 * correct.item() / samples,
            "train_time": elapsed,
            "images_per_s": samples / elapsed,
        }

    def _check_finite(self, losses: torch.Tensor, epoch: int, n: int) -> None:
        bad = ~torch.isfinite(losses)
        if bool(bad.any()):
            first = int(bad.nonzero()[0, 0])
            last = (
                f"{self.run.checkpoint} (after epoch {self.saved_epoch})"
                if self.run.checkpoint.exists()
                else "none yet"
            )
            raise NonFiniteLossError(
                f"training loss is {losses[first].item()} at epoch {epoch + 1}, iteration {first + 1}/{n} "
                f"(lr {self.optimizer.param_groups[0]['lr']:g}). The run stopped without saving; the last good "
                f"checkpoint is {last} and is intact. Resume from it with a lower lr."
            )

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Batches) -> dict:
        model.eval()
        loss_sum = torch.zeros((), device=self.device)
        top1 = torch.zeros((), device=self.device, dtype=torch.long)
        top5 = torch.zeros_like(top1)
        for x, y in batches.epoch(0):
            with self._autocast():
                out = model(x)
            loss_sum += F.cross_entropy(out.float(), y, reduction="sum")
            c1, c5 = topk_correct(out, y)
            top1 += c1
            top5 += c5
        n = batches.num_samples
        return {
            "test_loss": loss_sum.item() / n,
            "test_top1": 100.0 * top1.item() / n,
            "test_top5": 100.0 * top5.item() / n,
        }

    # -- driver ------------------------------------------------------------------------------
    def fit(self, resume: bool = True) -> TrainResult:
        cfg = self.cfg
        if self.run.checkpoint.exists():
            if not resume:
                raise FileExistsError(f"{self.run.path} already holds a run; pass resume=True or use another folder")
            self._restore()
        self.saved_epoch = self.start_epoch
        self.run.write_json("params.json", {"config": cfg.to_dict(), **self.run_info})
        self.run.write_json("env.json", environment(self.device, self.run_info.get("data_source", {}).get("kind")))
        train, test = self.make_batches(cfg, self.device)
        model = torch.compile(self.model) if cfg.compile else self.model
        logger = WandbLogger(
            cfg.wandb_mode,
            self.wandb_project,
            self.run.path.name,
            {**cfg.to_dict(), **self.run_info},
            self.run.path,
            self.wandb_group,
        )
        try:
            for epoch in range(self.start_epoch, cfg.epochs):
                lr = self._apply_hyperparameters(epoch)
                start = time.perf_counter()
                row = {"epoch": epoch + 1, "lr": lr, **self._train_epoch(model, train, epoch)}
                row.update(self.evaluate(model, test))
                row["epoch_time"] = time.perf_counter() - start
                self.history.append(row)
                self.run.write_history(self.history)
                # the reproduction's metric names (train_cifar.py), plus train-side metrics
                logger.log(
                    {
                        "epoch": epoch,
                        "lr": lr,
                        "Top-1 accuracy": row["test_top1"],
                        "loss": row["test_loss"],
                        "Top-5 accuracy": row["test_top5"],
                        "train loss": row["train_loss"],
                        "train Top-1 accuracy": row["train_top1"],
                        "images/s": row["images_per_s"],
                    },
                    step=epoch,
                )
                self._say(
                    f"epoch {epoch + 1}/{cfg.epochs} lr {lr:.4g} train loss {row['train_loss']:.4f} "
                    f"test loss {row['test_loss']:.4f} top-1 {row['test_top1']:.2f}% "
                    f"({row['images_per_s']:.0f} img/s)"
                )
                if (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == cfg.epochs:
                    self._save(epoch + 1)
                    self.saved_epoch = epoch + 1
        finally:
            logger.finish()
        last = self.history[-1]
        final = {k: last[k] for k in ("epoch", "test_top1", "test_top5", "test_loss", "train_loss", "train_top1")}
        final["best_test_top1"] = max(r["test_top1"] for r in self.history)
        final["mean_images_per_s"] = sum(r["images_per_s"] for r in self.history) / len(self.history)
        final["params"] = sum(p.numel() for p in self.model.parameters())
        self.run.write_json("final.json", final)
        return TrainResult(self.run.path, final, self.history)
