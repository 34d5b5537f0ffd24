"""The training engine shared by every classification task."""

from ecalib.engine.config import TrainConfig, config_changes
from ecalib.engine.results import RunDir
from ecalib.engine.schedule import lr_at
from ecalib.engine.trainer import NonFiniteLossError, Trainer, TrainResult, resolve_device

__all__ = [
    "NonFiniteLossError",
    "RunDir",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "config_changes",
    "lr_at",
    "resolve_device",
]
