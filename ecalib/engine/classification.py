"""The classification side of the engine: model, loss, accuracy and evaluation (CIFAR-10, ImageNet)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ecalib.engine.config import TrainConfig
from ecalib.engine.distributed import all_reduce_sum


def topk_correct(logits: torch.Tensor, target: torch.Tensor, ks=(1, 5)) -> list[torch.Tensor]:
    """Number of samples whose target is among the top-k logits, for each k (on device, no sync)."""
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = top == target[:, None]
    return [hits[:, :k].any(dim=1).sum() for k in ks]


class ClassificationHooks:
    """Cross-entropy training with top-1/top-5, evaluated on the held-out split (CIFAR test, ImageNet val)."""

    best_metric = "test_top1"
    final_keys = ("epoch", "test_top1", "test_top5", "test_loss", "train_loss", "train_top1")
    # history keys -> W&B names of the reproduction's train_cifar.py (tasks may pass their own)
    wandb_names = {
        "lr": "lr",
        "test_top1": "Top-1 accuracy",
        "test_top5": "Top-5 accuracy",
        "test_loss": "loss",
        "train_top1": "train Top-1 accuracy",
        "train_top5": "train Top-5 accuracy",
        "train_loss": "train loss",
        "images_per_s": "images/s",
    }

    def build_model(self, cfg: TrainConfig) -> nn.Module:
        from ecalib.models import create_model

        return create_model(cfg.model, num_classes=cfg.num_classes, **cfg.model_kwargs)

    def train_step(self, model: nn.Module, batch, autocast) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Loss to back-propagate, per-batch sums (loss x n, top-1 hits, top-5 hits) and the batch size."""
        x, y = batch
        with autocast():
            out = model(x)
            loss = F.cross_entropy(out, y)
        c1, c5 = topk_correct(out.detach(), y)
        n = y.shape[0]
        return loss, torch.stack([loss.detach().double() * n, c1.double(), c5.double()]), n

    def summarize_train(self, sums: torch.Tensor, count: float) -> dict:
        return {
            "train_loss": sums[0].item() / count,
            "train_top1": 100.0 * sums[1].item() / count,
            "train_top5": 100.0 * sums[2].item() / count,
        }

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches, context) -> dict:
        model.eval()
        device = context.device
        sums = torch.zeros(4, device=device, dtype=torch.float64)
        for x, y in batches.epoch(0):
            with context.autocast():
                out = model(x)
            c1, c5 = topk_correct(out, y)
            sums += torch.stack(
                [
                    F.cross_entropy(out.float(), y, reduction="sum").double(),
                    c1.double(),
                    c5.double(),
                    torch.tensor(float(y.shape[0]), device=device, dtype=torch.float64),
                ]
            )
        all_reduce_sum(sums, info=context.dist)
        n = sums[3].item()
        return {
            "test_loss": sums[0].item() / n,
            "test_top1": 100.0 * sums[1].item() / n,
            "test_top5": 100.0 * sums[2].item() / n,
        }
