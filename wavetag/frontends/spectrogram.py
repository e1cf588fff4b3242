"""``spectrogram``: magnitude (or power) STFT. ``[B, 1, T] -> [B, 1, n_fft // 2 + 1, frames]``.

n_fft defaults to the window length; e.g. ``n_fft=258`` on 8 kHz audio gives 130 bins, the
images of the 8 kHz Kaggle notebook.
"""

from __future__ import annotations

from dataclasses import dataclass

from wavetag.config import check_range
from wavetag.frontends.base import register_frontend
from wavetag.frontends.spectral import SpectralConfig, SpectralFrontEnd


@dataclass
class SpectrogramConfig(SpectralConfig):
    """``power``: 1 = magnitude |X| (default), 2 = power |X|²."""

    power: float = 1.0

    def validate(self) -> None:
        super().validate()
        check_range("power", self.power, 0.5, 2.0)


@register_frontend
class Spectrogram(SpectralFrontEnd):
    name = "spectrogram"
    config_class = SpectrogramConfig
    pow2_n_fft = False

    def __init__(self, config: SpectrogramConfig) -> None:
        self.stft_power_exponent = config.power
        super().__init__(config)
