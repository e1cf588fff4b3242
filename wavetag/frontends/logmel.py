"""``logmel``: log mel spectrogram. ``[B, 1, T] -> [B, 1, n_mels, frames]``.

Defaults are the BC-ResNet recipe: 40 mels, 30 ms Hann window in n_fft 512, 10 ms hop,
``log(mel + 1e-6)`` (``scale="log"``). ``scale="db"`` gives librosa's ``power_to_db`` (with
``top_db``), ``scale="power"`` the mel power itself. Filters: librosa ``filters.mel`` (Slaney).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wavetag.config import check_choice, check_range
from wavetag.frontends import dsp
from wavetag.frontends.base import register_frontend
from wavetag.frontends.spectral import SpectralConfig, SpectralFrontEnd

MEL_SCALES = ("log", "db", "power")


@dataclass
class LogMelConfig(SpectralConfig):
    """``n_mels`` bands between ``f_min_hz`` and ``f_max_hz`` (None = Nyquist); ``scale``: "log"
    (natural log of mel + ``log_eps``), "db" (10 log10, floored ``top_db`` below the clip's peak;
    None = no floor) or "power"; ``htk``: HTK mel formula instead of Slaney's."""

    n_mels: int = 40
    f_min_hz: float = 0.0
    f_max_hz: float | None = None
    scale: str = "log"
    log_eps: float = 1e-6
    top_db: float | None = 80.0
    htk: bool = False

    def validate(self) -> None:
        super().validate()
        check_range("n_mels", self.n_mels, 1, 512)
        check_choice("scale", self.scale, MEL_SCALES)
        check_range("log_eps", self.log_eps, 1e-20, 1.0)


@register_frontend
class LogMel(SpectralFrontEnd):
    name = "logmel"
    config_class = LogMelConfig

    def __init__(self, config: LogMelConfig) -> None:
        super().__init__(config)
        fb = dsp.mel_matrix(
            sample_rate=config.sample_rate,
            n_fft=self.n_fft,
            n_mels=config.n_mels,
            f_min_hz=config.f_min_hz,
            f_max_hz=config.f_max_hz,
            htk=config.htk,
        )
        self.register_buffer("mel_fb_t", fb.t().contiguous(), persistent=False)  # (bins, n_mels)

    def band_shape(self) -> tuple[int, int]:
        return (1, self.config.n_mels)

    def mel_power(self, power: torch.Tensor) -> torch.Tensor:
        # (B, frames, bins) @ (bins, n_mels): one GEMM over all frames of the batch
        return torch.matmul(power.transpose(1, 2), self.mel_fb_t).transpose(1, 2)  # (B, n_mels, frames)

    def features(self, power: torch.Tensor) -> torch.Tensor:
        mel = self.mel_power(power)
        c = self.config
        if c.scale == "log":
            mel = torch.log(mel.add_(c.log_eps))  # in place on the fresh GEMM output
        elif c.scale == "db":
            mel = dsp.power_to_db(mel, top_db=c.top_db)
        return mel.unsqueeze(1)  # (B, 1, n_mels, frames)
