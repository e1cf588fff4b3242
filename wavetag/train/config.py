"""Training configuration: dataclasses whose defaults all work, validated in one place.

Precedence: these defaults < ``--config run.yaml`` < CLI flags. The fully resolved config is
written to ``RUN/config.yaml`` and read back by ``--resume``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from wavetag.augment import AugmentConfig
from wavetag.config import check_choice, check_range, check_types
from wavetag.data.talk import TalkConfig
from wavetag.errors import ConfigError
from wavetag.metric_names import MONITORS
from wavetag.tasks import TASK_NAMES

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "onecycle", "constant")


@dataclass
class OptimizerConfig:
    """``name``: "adamw" or "sgd" (momentum, Nesterov off); ``lr`` is the peak learning rate;
    ``weight_decay`` is decoupled for AdamW, L2 for SGD."""

    name: str = "adamw"
    lr: float = 3e-3
    weight_decay: float = 1e-2
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999

    def validate(self) -> None:
        check_types(OptimizerConfig, self, where="optimizer")
        check_choice("optimizer.name", self.name, OPTIMIZERS)
        check_range("optimizer.lr", self.lr, 1e-7, 10.0)
        check_range("optimizer.weight_decay", self.weight_decay, 0.0, 1.0)
        check_range("optimizer.momentum", self.momentum, 0.0, 0.999)


@dataclass
class ScheduleConfig:
    """``name``: "cosine" (linear warm-up over ``warmup_epochs``, then cosine to
    ``final_lr_ratio`` × lr), "onecycle" (torch OneCycleLR shape, ``pct_start`` of the run
    rising) or "constant" (after the warm-up)."""

    name: str = "cosine"
    warmup_epochs: float = 1.0
    final_lr_ratio: float = 0.0
    pct_start: float = 0.3

    def validate(self) -> None:
        check_types(ScheduleConfig, self, where="schedule")
        check_choice("schedule.name", self.name, SCHEDULES)
        check_range("schedule.warmup_epochs", self.warmup_epochs, 0.0, 1000.0)
        check_range("schedule.final_lr_ratio", self.final_lr_ratio, 0.0, 1.0)
        check_range("schedule.pct_start", self.pct_start, 0.01, 0.99)


@dataclass
class TrainConfig:
    """Everything a run needs besides the pack. Units in names; ``None`` means "derive it".

    - ``model``/``model_args``/``frontend``: passed to `wavetag.models.create_model`
      (``frontend`` None = the model's default front end; a mapping with ``name`` replaces it;
      a mapping without ``name`` overrides fields of the default, e.g. ``{normalize: utterance}``).
    - ``clip_seconds``: training crop length (None: the pack's clip length, else 1 s).
    - ``eval_every_steps``: validate every N optimiser steps as well as at each epoch end.
    - ``checkpoint_every_steps``: also write ``last/`` + state every N steps (exact resume).
    - ``keep_best_by``: metric that picks ``best/`` ("val_loss" is minimised, others maximised).
    - ``early_stopping_patience``: validations without improvement of ``monitor`` before stopping.
    - ``max_train_seconds``: wall-clock budget; when spent, the run validates, checkpoints and stops.
    - ``tb_histograms_every_steps``: TensorBoard histograms of every weight and bias (and its
      gradient) every N optimiser steps; None = at each validation; 0 = never.
    - ``talk``: rewrite a share of the training clips as windows of running speech
      (`wavetag.data.talk`): non-keywords in phrases, keywords between neighbours.
    - ``tune_detection``: after training, tune per-class detection thresholds on a validation
      stream for ``detection_target_fa_per_hour`` false accepts per hour, a window every
      ``detection_hop_s``, and store them in ``best/config.json`` (what ``wavetag detect``,
      ``listen`` and ``/v1/stream`` use).
    """

    model: str = "bc_resnet_1"
    model_args: dict[str, Any] = field(default_factory=dict)
    frontend: dict[str, Any] | None = None
    task: str | None = None
    epochs: int = 20
    batch_size: int = 64
    clip_seconds: float | None = None
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    label_smoothing: float = 0.0
    grad_clip_norm: float | None = 5.0
    class_weights: bool = False
    balanced_sampler: bool = False
    # a column of the pack's clip metadata (packs of `wavetag synth` sets: engine, voice, word): each
    # of its values drawn equally often, so an engine with few voices is not drowned by one with many
    balance_by: str | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    talk: TalkConfig = field(default_factory=TalkConfig)
    fit_normalization_batches: int = 20
    eval_every_steps: int | None = None
    eval_batch_size: int = 128
    checkpoint_every_steps: int | None = None
    keep_best_by: str = "val_loss"
    monitor: str = "val_loss"
    early_stopping_patience: int | None = None
    max_train_seconds: float | None = None
    tune_detection: bool = True
    detection_target_fa_per_hour: float = 1.0
    detection_hop_s: float = 0.1  # seconds between detection windows, stored with the thresholds
    # bfloat16 autocast of the backbones (front ends stay float32); "auto" = on where the CPU
    # computes bfloat16 natively (AVX512-BF16 or AMX), where it is 1.4-1.8x faster; elsewhere off
    bf16: bool | Literal["auto"] = False
    compile: bool = False
    seed: int = 0
    threads: int | None = None
    log_every_steps: int = 10
    tensorboard: bool = True
    tb_histograms_every_steps: int | None = None
    confusion_image: bool = True

    @property
    def use_bf16(self) -> bool:
        """Whether training autocasts to bfloat16 on this machine (``bf16`` resolved)."""
        return native_bf16() if self.bf16 == "auto" else bool(self.bf16)

    def validate(self) -> None:
        """Types of every field (strict, from the annotations), then ranges and choices."""
        check_types(TrainConfig, self)
        self.optimizer.validate()
        self.schedule.validate()
        self.augment.validate()
        self.talk.validate()
        check_range("epochs", self.epochs, 1, 100000)
        check_range("batch_size", self.batch_size, 1, 65536)
        if self.clip_seconds is not None:
            check_range("clip_seconds", self.clip_seconds, 0.05, 600.0)
        check_range("label_smoothing", self.label_smoothing, 0.0, 0.5)
        if self.grad_clip_norm is not None:
            check_range("grad_clip_norm", self.grad_clip_norm, 1e-6, 1e6)
        check_choice("keep_best_by", self.keep_best_by, MONITORS)
        check_choice("monitor", self.monitor, MONITORS)
        check_range("detection_target_fa_per_hour", self.detection_target_fa_per_hour, 0.0, 1e6)
        check_range("detection_hop_s", self.detection_hop_s, 0.001, 60.0)
        if self.max_train_seconds is not None:
            check_range("max_train_seconds", self.max_train_seconds, 1.0, 1e7)
        if self.tb_histograms_every_steps is not None:
            check_range("tb_histograms_every_steps", self.tb_histograms_every_steps, 0, 10**9)
        for name in ("eval_every_steps", "checkpoint_every_steps", "early_stopping_patience"):
            value = getattr(self, name)
            if value is not None:
                check_range(name, value, 1, 10**9)
        if self.balance_by is not None and self.balanced_sampler:
            raise ConfigError(
                f"balanced_sampler and balance_by = {self.balance_by!r} both set; expected one way to draw batches"
            )
        if self.task is not None:
            check_choice("task", self.task, TASK_NAMES)
        if not isinstance(self.model_args, dict):
            raise ConfigError(f"model_args = {self.model_args!r}; expected a mapping of model options")


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX tiles). Without it PyTorch
    emulates bfloat16 and autocast is slower than float32."""
    import torch

    cpu = torch.cpu
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, name, lambda: False)() for name in probes)
