"""timm's model interface shared by ecalib's ResNet and MobileNetV2 (built on timm's own helpers).

A model lists its feature levels as runs of registered child modules (``_feature_levels``);
intermediates, pruning, gradient checkpointing and timm's feature wrappers all walk those runs in
order, so every ECA layer keeps its fused path (no FX tracing needed) and FX or torchvision's
``create_feature_extractor`` trace the same registered modules.
"""

import functools
from contextlib import nullcontext

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


def builds_in_place(init):
    """Give a model's ``__init__`` timm's ``device=``/``dtype=`` factory arguments.

    Parameters and buffers are created on ``device`` (``torch.device`` as a context: no copy, so
    ``device='meta'`` allocates nothing) and then cast to ``dtype``.
    """

    @functools.wraps(init)
    def wrapper(self, *args, device=None, dtype=None, **kwargs):
        with torch.device(device) if device is not None else nullcontext():
            init(self, *args, **kwargs)
        if dtype is not None:
            self.to(dtype=dtype)

    return wrapper


def new_head(model: nn.Module, module: nn.Module) -> nn.Module:
    """``module`` (a new classifier or pool) on the model's device and dtype, in the model's train/eval mode."""
    reference = next(model.parameters(), None)
    if reference is not None:
        module = module.to(device=reference.device, dtype=reference.dtype)
    return module.train(model.training)


class TimmInterface:
    """``set_grad_checkpointing``, ``forward_intermediates``, ``prune_intermediate_layers`` and
    ``get_classifier`` as timm models have them.

    Attributes the models set: ``num_features`` (channels of ``forward_features``), ``head_hidden_size``
    (width of ``forward_head(pre_logits=True)``), ``in_chans``, ``num_classes`` and ``feature_info``.
    """

    grad_checkpointing: bool = False

    def _feature_levels(self) -> list[list]:
        """Per feature level (``feature_info``), the registered modules or lists of blocks that compute it."""
        raise NotImplementedError

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block in the backward pass instead of storing its activations (timm's checkpoint_seq)."""
        self.grad_checkpointing = enable

    def _run(self, unit, x: torch.Tensor) -> torch.Tensor:
        """Run one unit of a level: a module, or a list of blocks; with gradient checkpointing a stage
        (``nn.Sequential``) or a list of blocks is recomputed block by block."""
        if self.grad_checkpointing and (type(unit) is nn.Sequential or isinstance(unit, list)):
            from timm.models import checkpoint_seq

            return checkpoint_seq(unit, x)
        for module in unit if isinstance(unit, list) else [unit]:
            x = module(x)
        return x

    def _run_levels(self, x: torch.Tensor) -> torch.Tensor:
        for level in self._feature_levels():
            for unit in level:
                x = self._run(unit, x)
        return x

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """timm's API: the feature maps of ``indices`` (last n if an int, all if None) and the final features.

        ``norm`` has no effect (these models have no final norm).
        """
        from timm.models._features import feature_take_indices

        if output_fmt != "NCHW":
            raise UsageError(f"output_fmt must be 'NCHW' for this model, got {output_fmt!r}")
        levels = self._feature_levels()
        take_indices, max_index = feature_take_indices(len(levels), indices)
        intermediates = []
        for i, level in enumerate(levels[: max_index + 1] if stop_early else levels):
            for unit in level:
                x = self._run(unit, x)
            if i in take_indices:
                intermediates.append(x)
        return intermediates if intermediates_only else (x, intermediates)

    def _prune_after(self, level: int) -> None:
        """Remove the modules after feature level ``level`` (parameter-free stand-ins keep the attribute names)."""
        raise NotImplementedError

    def prune_intermediate_layers(
        self, indices: int | list[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """timm's API: drop the layers after the last of ``indices``; returns the (non-negative) indices kept.

        The features then end at that level; the head goes with ``prune_head`` or whenever layers were
        removed (it was sized for the final features). ``prune_norm`` has no effect (no final norm).
        """
        from timm.models._features import feature_take_indices

        take_indices, max_index = feature_take_indices(len(self.feature_info), indices)
        if max_index < len(self.feature_info) - 1:
            self._prune_after(max_index)
            self.num_features = self.head_hidden_size = self.feature_info[max_index]["num_chs"]
        if prune_head or max_index < len(self.feature_info) - 1:
            self.reset_classifier(0, "")
        return take_indices
