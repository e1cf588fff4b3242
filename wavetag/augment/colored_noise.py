"""``colored_noise``: add white, pink, blue, brown or violet noise at a random SNR.

The noise is white Gaussian noise shaped in the frequency domain: ``rfft`` → multiply bin f by
``f ** (beta / 2)`` → ``irfft``, so its power spectrum goes as ``f ** beta``:

=======  ====  =====================
colour   beta  power slope
=======  ====  =====================
white     0     0 dB/octave
pink     -1    -3.01 dB/octave
brown    -2    -6.02 dB/octave
blue     +1    +3.01 dB/octave
violet   +2    +6.02 dB/octave
=======  ====  =====================

(10·log10(2) = 3.01 dB per octave per unit of beta.) The DC bin is set to zero. Each clip gets a
colour drawn uniformly from ``colors`` and an SNR uniform in ``[min_snr_db, max_snr_db]``
relative to the clip's RMS; an all-zero clip gets no noise. The white noise is drawn in
``sample`` (it is part of the params), so ``apply`` stays deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wavetag.augment.base import (
    RMS_EPS,
    Augmentation,
    AugmentationConfig,
    Device,
    Params,
    check_waveform,
    clip_rms,
    per_clip,
    randint,
    register_augmentation,
    uniform,
)
from wavetag.config import check_choice, check_min_max, check_range
from wavetag.errors import ConfigError

COLOR_BETAS = {"white": 0.0, "pink": -1.0, "blue": 1.0, "brown": -2.0, "violet": 2.0}
COLORS = tuple(COLOR_BETAS)


@dataclass
class ColoredNoiseConfig(AugmentationConfig):
    """``colors``: the colours to draw from (uniformly); SNR in dB relative to the clip's RMS."""

    p: float = 0.0
    colors: tuple[str, ...] = COLORS
    min_snr_db: float = 10.0
    max_snr_db: float = 40.0

    def validate(self) -> None:
        super().validate()
        if not self.colors:
            raise ConfigError(f"colors is empty; expected one or more of {', '.join(COLORS)}")
        for color in self.colors:
            check_choice("colors", color, COLORS)
        check_range("min_snr_db", self.min_snr_db, -40.0, 100.0)
        check_range("max_snr_db", self.max_snr_db, -40.0, 100.0)
        check_min_max("min_snr_db", self.min_snr_db, "max_snr_db", self.max_snr_db)


@dataclass
class ColoredNoiseParams(Params):
    color: torch.Tensor  # int64 [B], index into config.colors
    snr_db: torch.Tensor  # float32 [B]
    white: torch.Tensor  # float32 [B, T], standard normal


@register_augmentation
class ColoredNoise(Augmentation):
    name = "colored_noise"
    config_class = ColoredNoiseConfig

    def sample(
        self, batch_size: int, *, generator: torch.Generator, device: Device = None, num_samples: int | None = None
    ) -> ColoredNoiseParams:
        if num_samples is None:
            raise ConfigError("colored_noise.sample needs num_samples (the clip length) to draw its noise")
        c = self.config
        applied = self.applied_mask(batch_size, generator=generator, device=device)
        color = randint(0, len(c.colors) - 1, batch_size, generator=generator, device=device)
        snr_db = uniform(batch_size, generator=generator, device=device, low=c.min_snr_db, high=c.max_snr_db)
        white = torch.randn(batch_size, num_samples, generator=generator, device=generator.device)
        return ColoredNoiseParams(applied, color, snr_db, white.to(device) if device is not None else white)

    def apply(self, x: torch.Tensor, params: ColoredNoiseParams) -> torch.Tensor:
        check_waveform(x, self.name)
        if params.white.shape[-1] != x.shape[-1]:
            raise ConfigError(
                f"colored_noise params hold {params.white.shape[-1]} samples of noise; the clips have {x.shape[-1]}"
            )
        betas = torch.tensor([COLOR_BETAS[c] for c in self.config.colors], device=x.device)
        noise = colored_noise(params.white.to(x.device), betas[params.color.to(x.device)])[:, None, :]  # (B, 1, T)
        wanted = clip_rms(x) * per_clip(10.0 ** (-params.snr_db / 20.0), x)
        scale = wanted / clip_rms(noise).clamp_min(RMS_EPS)
        return x + noise.to(x.dtype) * (scale * per_clip(params.applied, x))


def colored_noise(white: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``white [B, T]`` shaped to a power spectrum ∝ ``f ** beta[b]``, returned at unit RMS."""
    n = white.shape[-1]
    spectrum = torch.fft.rfft(white.float(), dim=-1)  # (B, n//2 + 1)
    f = torch.arange(spectrum.shape[-1], device=white.device, dtype=torch.float32) / n
    f[0] = 1.0  # any finite value: the DC bin is zeroed below (f ** beta is infinite there for beta < 0)
    shape = f[None, :] ** (beta.float()[:, None] / 2)  # (B, F) amplitude shaping
    shape[:, 0] = 0.0
    noise = torch.fft.irfft(spectrum * shape, n=n, dim=-1)  # (B, T)
    return noise / noise.pow(2).mean(dim=-1, keepdim=True).sqrt().clamp_min(RMS_EPS)
