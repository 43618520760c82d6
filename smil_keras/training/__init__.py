"""Training with the paper's recipe (section 4.2): configs, `model.fit`, checkpoints, resume."""

from smil_keras.training.batch_statistics import (
    RecomputeBatchStatistics,
    recompute_batch_statistics,
)
from smil_keras.training.learning_rate import step_decay
from smil_keras.training.train_config import TrainConfig
from smil_keras.training.train_result import TrainResult
from smil_keras.training.trainer import read_history, train

__all__ = [
    "RecomputeBatchStatistics",
    "TrainConfig",
    "TrainResult",
    "read_history",
    "recompute_batch_statistics",
    "step_decay",
    "train",
]
