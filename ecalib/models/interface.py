"""timm's model interface shared by ecalib's ResNet and MobileNetV2 (built on timm's own helpers).

A model lists its feature levels as runs of child modules (``_feature_levels``); intermediates,
gradient checkpointing and timm's feature wrappers all walk those runs in order, so every ECA
layer keeps its fused path (no FX tracing).
"""

from __future__ import annotations

import torch
from torch import nn

from ecalib.errors import UsageError

POOL_TYPES = ("avg", "max", "avgmax", "catavgmax", "fast", "fastavg", "fastmax", "fastavgmax", "fastcatavgmax", "")


def create_pool(num_features: int, pool_type: str) -> tuple[nn.Module, int]:
    """timm's ``SelectAdaptivePool2d`` (flattening) and the pooled feature count; '' keeps the map."""
    from timm.layers import SelectAdaptivePool2d

    if pool_type not in POOL_TYPES:
        raise UsageError(f"unknown global_pool {pool_type!r}; valid: {', '.join(map(repr, POOL_TYPES))}")
    pool = SelectAdaptivePool2d(pool_type=pool_type, flatten=bool(pool_type))
    return pool, num_features * pool.feat_mult()


class TimmInterface:
    """``set_grad_checkpointing``, ``forward_intermediates`` and ``get_classifier`` as timm models have them."""

    grad_checkpointing: bool = False

    def _feature_levels(self) -> list[list[nn.Module]]:
        raise NotImplementedError

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block in the backward pass instead of storing its activations (timm's checkpoint_seq)."""
        self.grad_checkpointing = enable

    def _run(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.grad_checkpointing and isinstance(module, nn.Sequential):
            from timm.models import checkpoint_seq

            return checkpoint_seq(module, x)
        return module(x)

    def _run_levels(self, x: torch.Tensor) -> torch.Tensor:
        for level in self._feature_levels():
            for module in level:
                x = self._run(module, x)
        return x

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ):
        """timm's API: the feature maps of ``indices`` (last n if an int, all if None) and the final features."""
        from timm.models._features import feature_take_indices

        if output_fmt != "NCHW":
            raise UsageError(f"output_fmt must be 'NCHW' for this model, got {output_fmt!r}")
        levels = self._feature_levels()
        take_indices, max_index = feature_take_indices(len(levels), indices)
        intermediates = []
        for i, level in enumerate(levels[: max_index + 1] if stop_early else levels):
            for module in level:
                x = self._run(module, x)
            if i in take_indices:
                intermediates.append(x)
        return intermediates if intermediates_only else (x, intermediates)
