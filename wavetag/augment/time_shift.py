"""``time_shift``: move each clip by up to ±``max_shift_s``, filling the gap with zeros.

The Speech Commands recipe (TF example, BC-ResNet): shift U(-100 ms, +100 ms) on every clip.
A positive shift delays the clip (a click at sample n moves to n + shift); what moves past either
end is dropped. One gather on a ``[B, T]`` index grid shifts the whole batch (no ``torch.roll``
per clip).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wavetag.augment.base import (
    Augmentation,
    AugmentationConfig,
    Device,
    Params,
    check_waveform,
    randint,
    register_augmentation,
)
from wavetag.config import check_range


@dataclass
class TimeShiftConfig(AugmentationConfig):
    """Shift by an integer number of samples uniform in ``[-max_shift_s, +max_shift_s]``."""

    p: float = 1.0
    max_shift_s: float = 0.1

    def validate(self) -> None:
        super().validate()
        check_range("max_shift_s", self.max_shift_s, 0.0, 10.0)


@dataclass
class TimeShiftParams(Params):
    shift_samples: torch.Tensor  # int64 [B]; > 0 delays the clip


@register_augmentation
class TimeShift(Augmentation):
    name = "time_shift"
    config_class = TimeShiftConfig

    @property
    def max_shift_samples(self) -> int:
        return int(round(self.config.max_shift_s * self.sample_rate))

    def sample(
        self, batch_size: int, *, generator: torch.Generator, device: Device = None, num_samples: int | None = None
    ) -> TimeShiftParams:
        applied = self.applied_mask(batch_size, generator=generator, device=device)
        m = self.max_shift_samples
        shift = randint(-m, m, batch_size, generator=generator, device=device)
        return TimeShiftParams(applied=applied, shift_samples=torch.where(applied, shift, 0))

    def apply(self, x: torch.Tensor, params: TimeShiftParams) -> torch.Tensor:
        check_waveform(x, self.name)
        return shift_waveform(x, torch.where(params.applied, params.shift_samples, 0))


def shift_waveform(x: torch.Tensor, shift_samples: torch.Tensor) -> torch.Tensor:
    """``x [B, C, T]`` with clip b delayed by ``shift_samples[b]`` (negative: advanced), zero-filled."""
    n = x.shape[-1]
    src = torch.arange(n, device=x.device)[None, :] - shift_samples.to(x.device)[:, None]  # (B, T)
    valid = (src >= 0) & (src < n)
    src = src.clamp(0, n - 1)[:, None, :].expand(-1, x.shape[1], -1)  # (B, C, T)
    return torch.gather(x, 2, src) * valid[:, None, :].to(x.dtype)
