"""``mic_filter``: band-limiting and microphone colouring, as a random smooth EQ per clip.

Cheap microphones, phones and laptops do not hear what a studio does: low frequencies are cut
(``high_pass_hz`` uniform in ``[min_high_pass_hz, max_high_pass_hz]``), high ones are gone
(``low_pass_hz`` in ``[min_low_pass_hz, max_low_pass_hz]``, 3.4 kHz for a telephone) and the
response between them is uneven (``bumps`` random peaks and dips of up to ``max_bump_db`` dB, one
octave wide). The filter is a gain curve applied in the frequency domain (``rfft`` → multiply →
``irfft``): zero-phase, so the word stays where it was. Edges are 2nd-order Butterworth
magnitudes: ``1 / sqrt(1 + (f_c / f)^4)`` and ``1 / sqrt(1 + (f / f_c)^4)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from wavetag.augment.base import (
    Augmentation,
    AugmentationConfig,
    Device,
    Params,
    check_waveform,
    on_drawn_clips,
    register_augmentation,
    uniform,
)
from wavetag.config import check_min_max, check_range


@dataclass
class MicFilterConfig(AugmentationConfig):
    """Edges in Hz; ``bumps`` peaks/dips of at most ``max_bump_db`` dB at random frequencies."""

    p: float = 0.0
    min_high_pass_hz: float = 20.0
    max_high_pass_hz: float = 400.0
    min_low_pass_hz: float = 3400.0
    max_low_pass_hz: float = 8000.0
    bumps: int = 3
    max_bump_db: float = 6.0

    def validate(self) -> None:
        super().validate()
        for name in ("min_high_pass_hz", "max_high_pass_hz", "min_low_pass_hz", "max_low_pass_hz"):
            check_range(name, getattr(self, name), 1.0, 192000.0)
        check_min_max("min_high_pass_hz", self.min_high_pass_hz, "max_high_pass_hz", self.max_high_pass_hz)
        check_min_max("min_low_pass_hz", self.min_low_pass_hz, "max_low_pass_hz", self.max_low_pass_hz)
        check_min_max("max_high_pass_hz", self.max_high_pass_hz, "min_low_pass_hz", self.min_low_pass_hz)
        check_range("bumps", self.bumps, 0, 16)
        check_range("max_bump_db", self.max_bump_db, 0.0, 24.0)


@dataclass
class MicFilterParams(Params):
    high_pass_hz: torch.Tensor  # float32 [B]
    low_pass_hz: torch.Tensor  # float32 [B]
    bump_hz: torch.Tensor  # float32 [B, bumps], log-uniform between the edges
    bump_db: torch.Tensor  # float32 [B, bumps]


@register_augmentation
class MicFilter(Augmentation):
    name = "mic_filter"
    config_class = MicFilterConfig

    def sample(
        self, batch_size: int, *, generator: torch.Generator, device: Device = None, num_samples: int | None = None
    ) -> MicFilterParams:
        c = self.config
        applied = self.applied_mask(batch_size, generator=generator, device=device)
        high = uniform(batch_size, generator=generator, device=device, low=c.min_high_pass_hz, high=c.max_high_pass_hz)
        low = uniform(batch_size, generator=generator, device=device, low=c.min_low_pass_hz, high=c.max_low_pass_hz)
        where = uniform(batch_size, c.bumps, generator=generator, device=device)
        bump_hz = torch.exp(
            math.log(c.min_high_pass_hz) + where * (math.log(c.max_low_pass_hz) - math.log(c.min_high_pass_hz))
        )
        bump_db = uniform(
            batch_size, c.bumps, generator=generator, device=device, low=-c.max_bump_db, high=c.max_bump_db
        )
        return MicFilterParams(applied=applied, high_pass_hz=high, low_pass_hz=low, bump_hz=bump_hz, bump_db=bump_db)

    def gain_curve(self, params: MicFilterParams, n_fft: int, device: torch.device) -> torch.Tensor:
        """Magnitude response ``[B, n_fft // 2 + 1]`` at the rfft bin frequencies."""
        f = torch.linspace(0, self.sample_rate / 2, n_fft // 2 + 1, device=device).clamp_min(1.0)  # (F,)
        hp = params.high_pass_hz.to(device).unsqueeze(1)
        lp = params.low_pass_hz.to(device).unsqueeze(1)
        gain = torch.rsqrt(1 + (hp / f) ** 4) * torch.rsqrt(1 + (f / lp) ** 4)  # (B, F)
        octaves = torch.log2(f.view(1, 1, -1) / params.bump_hz.to(device).unsqueeze(2))  # (B, bumps, F)
        bumps_db = (params.bump_db.to(device).unsqueeze(2) * torch.exp(-0.5 * (2 * octaves) ** 2)).sum(dim=1)
        return gain * 10.0 ** (bumps_db / 20.0)

    def apply(self, x: torch.Tensor, params: MicFilterParams) -> torch.Tensor:
        check_waveform(x, self.name)
        return on_drawn_clips(x, params, self._filter)  # only the drawn clips are filtered

    def _filter(self, x: torch.Tensor, params: MicFilterParams) -> torch.Tensor:
        n = x.shape[-1]
        return torch.fft.irfft(torch.fft.rfft(x, n=n) * self.gain_curve(params, n, x.device).unsqueeze(1), n=n)
