"""``logspec``: log power spectrogram, ``log(|X|² + eps)``. ``[B, 1, T] -> [B, 1, bins, frames]``.

Defaults follow the Kaggle speech-commands kernel: 20 ms Hann window, 10 ms step, n_fft = the
window length (161 bins at 16 kHz), eps 1e-10. (The kernel's ``scipy.signal.spectrogram`` also
scales by the window's energy, a constant offset in the log domain that normalisation removes.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wavetag.config import check_range
from wavetag.frontends.base import register_frontend
from wavetag.frontends.spectral import SpectralConfig, SpectralFrontEnd


@dataclass
class LogSpecConfig(SpectralConfig):
    """``eps``: added to the power before the natural log."""

    win_s: float = 0.02
    hop_s: float = 0.01
    eps: float = 1e-10

    def validate(self) -> None:
        super().validate()
        check_range("eps", self.eps, 1e-20, 1.0)


@register_frontend
class LogSpec(SpectralFrontEnd):
    name = "logspec"
    config_class = LogSpecConfig
    pow2_n_fft = False

    def features(self, power: torch.Tensor) -> torch.Tensor:
        return torch.log(power + self.config.eps).unsqueeze(1)  # (B, 1, bins, frames)
