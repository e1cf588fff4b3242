"""``speed``: play each clip faster or slower by a rate uniform in ``[min_rate, max_rate]``.

Resampling by linear interpolation on a per-clip sampling grid: output sample t reads the input
at ``c + (t - c) * rate`` with ``c`` the clip's middle, so the content stays centred and the
length is unchanged (a faster clip is zero-padded at both ends, a slower one cropped). Like a
tape played at another speed this changes **pitch and tempo together** (rate 1.1 is ~1.65
semitones up); it is not a time stretch. Linear interpolation is not band-limited: at rates
above 1, content above ``sample_rate / (2 * rate)`` aliases a little — harmless for the modest
rates this is meant for (the kws_streaming recipe uses ±15 %).

Off by default: heavy speed/gain augmentation cost 2–15 points in our synthetic-speech
measurements and the BC-ResNet recipe (best accuracy in REFERENCES.md) does without it.
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
    register_augmentation,
    uniform,
)
from wavetag.config import check_min_max, check_range


@dataclass
class SpeedConfig(AugmentationConfig):
    """Rate factor uniform in ``[min_rate, max_rate]``; > 1 is faster (shorter, higher)."""

    p: float = 0.0
    min_rate: float = 0.9
    max_rate: float = 1.1

    def validate(self) -> None:
        super().validate()
        check_range("min_rate", self.min_rate, 0.25, 4.0)
        check_range("max_rate", self.max_rate, 0.25, 4.0)
        check_min_max("min_rate", self.min_rate, "max_rate", self.max_rate)


@dataclass
class SpeedParams(Params):
    rate: torch.Tensor  # float32 [B]


@register_augmentation
class Speed(Augmentation):
    name = "speed"
    config_class = SpeedConfig

    def sample(
        self, batch_size: int, *, generator: torch.Generator, device: Device = None, num_samples: int | None = None
    ) -> SpeedParams:
        c = self.config
        applied = self.applied_mask(batch_size, generator=generator, device=device)
        rate = uniform(batch_size, generator=generator, device=device, low=c.min_rate, high=c.max_rate)
        return SpeedParams(applied=applied, rate=rate)

    def apply(self, x: torch.Tensor, params: SpeedParams) -> torch.Tensor:
        check_waveform(x, self.name)
        return change_speed(x, torch.where(params.applied, params.rate, 1.0))


def change_speed(x: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """``x [B, C, T]`` resampled about its middle by ``rate [B]`` (linear interpolation), length kept."""
    n = x.shape[-1]
    centre = (n - 1) / 2.0
    t = torch.arange(n, device=x.device, dtype=torch.float32) - centre
    pos = centre + t[None, :] * rate.to(device=x.device, dtype=torch.float32)[:, None]  # (B, T) source positions
    valid = (pos >= 0) & (pos <= n - 1)
    i0 = pos.floor().clamp(0, n - 1)
    frac = (pos - i0).clamp(0, 1).to(x.dtype)[:, None, :]  # (B, 1, T)
    i0 = i0.long()
    i1 = (i0 + 1).clamp(max=n - 1)
    size = (-1, x.shape[1], -1)
    a = torch.gather(x, 2, i0[:, None, :].expand(size))
    b = torch.gather(x, 2, i1[:, None, :].expand(size))
    return (a + (b - a) * frac) * valid[:, None, :].to(x.dtype)
