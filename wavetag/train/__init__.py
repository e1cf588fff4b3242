"""Training: config dataclasses, the loop, checkpoints for exact resume, DDP under torchrun."""

from wavetag.train.config import OptimizerConfig, ScheduleConfig, TrainConfig
from wavetag.train.loop import TrainingError, TrainResult, train
from wavetag.train.recipes import RECIPES, train_config

__all__ = [
    "RECIPES",
    "train_config",
    "OptimizerConfig",
    "ScheduleConfig",
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "train",
]
