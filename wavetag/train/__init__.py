"""Training: config dataclasses, the loop, checkpoints for exact resume, DDP under torchrun."""
from wavetag.train.config import OptimizerConfig, ScheduleConfig, TrainConfig
from wavetag.train.loop import TrainingError, TrainResult, train

__all__ = ["OptimizerConfig", "ScheduleConfig", "TrainConfig", "TrainResult", "TrainingError", "train"]
