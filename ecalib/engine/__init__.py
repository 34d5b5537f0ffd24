"""The training engine shared by every classification task."""

from ecalib.engine.config import TrainConfig, config_changes
from ecalib.engine.distributed import DistInfo, init_distributed
from ecalib.engine.results import RunDir, TrainResult
from ecalib.engine.schedule import lr_at
from ecalib.engine.trainer import NonFiniteLossError, Trainer

__all__ = [
    "DistInfo",
    "NonFiniteLossError",
    "RunDir",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "config_changes",
    "init_distributed",
    "lr_at",
]
