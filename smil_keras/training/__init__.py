"""Training with the paper's recipe (section 4.2): configs, `model.fit`, checkpoints, resume."""

from smil_keras.training.learning_rate import step_decay
from smil_keras.training.train_config import TrainConfig
from smil_keras.training.train_result import TrainResult
from smil_keras.training.trainer import read_history, train

__all__ = ["TrainConfig", "TrainResult", "read_history", "step_decay", "train"]
