"""``waveform``: the raw samples, optionally scaled per clip by peak or RMS. ``[B, 1, T] -> [B, 1, T]``."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wavetag.config import check_choice
from wavetag.frontends.base import FrontEnd, FrontEndConfig, register_frontend

WAVEFORM_SCALINGS = ("none", "peak", "rms")
SCALE_EPS = 1e-8


@dataclass
class WaveformConfig(FrontEndConfig):
    """``normalize``: "none", "peak" (max |x| = 1) or "rms" (RMS = 0.1, i.e. -20 dBFS) per clip."""

    normalize: str = "none"

    def validate(self) -> None:
        super().validate()
        check_choice("normalize", self.normalize, WAVEFORM_SCALINGS)


def scale_waveform(wav: torch.Tensor, mode: str) -> torch.Tensor:
    """Per-clip peak or RMS scaling of ``wav [B, 1, T]``."""
    if mode == "peak":
        return wav / (wav.abs().amax(dim=-1, keepdim=True) + SCALE_EPS)
    if mode == "rms":
        return 0.1 * wav / (wav.pow(2).mean(dim=-1, keepdim=True).sqrt() + SCALE_EPS)
    return wav


@register_frontend
class Waveform(FrontEnd):
    name = "waveform"
    config_class = WaveformConfig
    output_kind = "waveform"

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        self.check_input(wav)
        return scale_waveform(wav, self.config.normalize)  # (B, 1, T)

    def output_shape(self, num_samples: int) -> tuple[int, ...]:
        return (1, num_samples)
