"""``mulaw``: μ-law companding to Q levels (the WaveNet classifier's input).

``one_hot=True``: ``[B, 1, T] -> [B, Q, T]`` one-hot of the quantised level (kind "sequence");
``one_hot=False``: ``[B, 1, T] -> [B, 1, T]``, the companded value quantised to Q levels, in [-1, 1]
(kind "waveform", the WaveNet "scalar_input" mode). Source: van den Oord et al. 2016, §2.2;
ibab/tensorflow-wavenet ``mu_law_encode``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from wavetag.config import check_choice, check_range
from wavetag.frontends.base import FrontEnd, FrontEndConfig, register_frontend
from wavetag.frontends.waveform import WAVEFORM_SCALINGS, scale_waveform


@dataclass
class MulawConfig(FrontEndConfig):
    """``quantization_channels``: Q levels (μ = Q - 1); ``one_hot``: one-hot [B, Q, T] or scalar;
    ``normalize``: per-clip "none" | "peak" | "rms" scaling before companding."""

    quantization_channels: int = 256
    one_hot: bool = True
    normalize: str = "none"

    def validate(self) -> None:
        super().validate()
        check_range("quantization_channels", self.quantization_channels, 2, 65536)
        check_choice("normalize", self.normalize, WAVEFORM_SCALINGS)


def mulaw_encode(wav: torch.Tensor, quantization_channels: int) -> torch.Tensor:
    """Float samples in [-1, 1] → integer levels in [0, Q - 1] (same shape, int64)."""
    mu = quantization_channels - 1
    x = wav.clamp(-1.0, 1.0)
    companded = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return torch.floor((companded + 1) / 2 * mu + 0.5).long()


def mulaw_decode(levels: torch.Tensor, quantization_channels: int) -> torch.Tensor:
    """Integer levels in [0, Q - 1] → float samples in [-1, 1] (inverse of `mulaw_encode`)."""
    mu = quantization_channels - 1
    y = 2 * levels.float() / mu - 1
    return torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu


@register_frontend
class Mulaw(FrontEnd):
    name = "mulaw"
    config_class = MulawConfig
    output_kind = "sequence"

    def __init__(self, config: MulawConfig) -> None:
        super().__init__(config)
        self.register_buffer("levels", torch.arange(config.quantization_channels).view(1, -1, 1), persistent=False)
        if not config.one_hot:
            self.output_kind = "waveform"

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        self.check_input(wav)
        q = mulaw_encode(scale_waveform(wav, self.config.normalize), self.config.quantization_channels)  # (B, 1, T)
        if self.config.one_hot:
            return (q == self.levels).float()  # (B, Q, T)
        companded = 2 * q.float() / (self.config.quantization_channels - 1) - 1
        return companded  # (B, 1, T)

    def output_shape(self, num_samples: int) -> tuple[int, ...]:
        return (self.config.quantization_channels if self.config.one_hot else 1, num_samples)
