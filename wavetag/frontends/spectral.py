"""Shared machinery of the STFT-based front ends (spectrogram, logspec, logmel, mfcc).

Window and hop are given in seconds (``win_s``, ``hop_s``) so one config works at every sample
rate; ``n_fft=None`` picks a default from the window length (see each front end).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wavetag.config import check_choice, check_range
from wavetag.errors import ConfigError
from wavetag.frontends import dsp
from wavetag.frontends.base import FrontEnd, FrontEndConfig
from wavetag.frontends.norm import NORM_MODES, FeatureNorm

PAD_MODES = ("constant", "reflect")


@dataclass
class SpectralConfig(FrontEndConfig):
    """STFT settings. ``win_s``/``hop_s`` in seconds; ``n_fft`` in samples (None: per front end);
    ``center`` pads ``n_fft // 2`` each side with ``pad_mode``; ``normalize``: "none" |
    "utterance" | "dataset" (see `wavetag.frontends.norm`)."""

    win_s: float = 0.03
    hop_s: float = 0.01
    n_fft: int | None = None
    window: str = "hann"
    center: bool = True
    pad_mode: str = "constant"
    normalize: str = "none"

    def validate(self) -> None:
        super().validate()
        check_range("win_s", self.win_s, 1e-4, 1.0)
        check_range("hop_s", self.hop_s, 1e-5, 1.0)
        check_choice("window", self.window, dsp.WINDOWS)
        check_choice("pad_mode", self.pad_mode, PAD_MODES)
        check_choice("normalize", self.normalize, NORM_MODES)

    @property
    def win_length(self) -> int:
        return int(round(self.win_s * self.sample_rate))

    @property
    def hop_length(self) -> int:
        return max(1, int(round(self.hop_s * self.sample_rate)))


class SpectralFrontEnd(FrontEnd):
    """STFT power → subclass ``features`` → normalisation. Output ``[B, C, F, frames]``."""

    output_kind = "image"
    pow2_n_fft = True  # n_fft=None → next power of two >= window (False: = window length)
    stft_power_exponent = 2.0

    def __init__(self, config: SpectralConfig) -> None:
        super().__init__(config)
        win = config.win_length
        self.n_fft = config.n_fft or (dsp.next_pow2(win) if self.pow2_n_fft else win)
        if win > self.n_fft:
            raise ConfigError(
                f"win_s = {config.win_s} s is {win} samples at {config.sample_rate} Hz, longer than "
                f"n_fft = {self.n_fft}; set n_fft >= {win} or leave it unset"
            )
        self.register_buffer("window", dsp.window_tensor(config.window, win), persistent=False)
        self.register_buffer("fft_window", dsp.centered_window(self.window, self.n_fft), persistent=False)
        self.norm = FeatureNorm(config.normalize, self.band_shape())

    def band_shape(self) -> tuple[int, int]:
        """(channels, bands) of the output."""
        return (1, self.n_fft // 2 + 1)

    def power(self, wav: torch.Tensor) -> torch.Tensor:
        """``wav [B, 1, T]`` → STFT power ``[B, n_fft // 2 + 1, frames]``."""
        self.check_input(wav)
        c = self.config
        return dsp.stft_power(
            wav.squeeze(1),
            n_fft=self.n_fft,
            hop_length=c.hop_length,
            window=self.fft_window,
            center=c.center,
            pad_mode=c.pad_mode,
            power=self.stft_power_exponent,
        )

    def features(self, power: torch.Tensor) -> torch.Tensor:
        """STFT power ``[B, bins, frames]`` → un-normalised features ``[B, C, F, frames]``."""
        return power.unsqueeze(1)

    def raw_features(self, wav: torch.Tensor) -> torch.Tensor:
        """Features before normalisation (what `FeatureNorm.fit` is fitted on).

        Large batches run in chunks of `dsp.STFT_CHUNK` clips so the STFT and its products stay
        in cache (a 256-clip complex STFT alone is 53 MB); the result is the same.
        """
        if dsp.exporting() or wav.shape[0] <= dsp.STFT_CHUNK:
            return self.features(self.power(wav))
        return torch.cat([self.features(self.power(c)) for c in wav.split(dsp.STFT_CHUNK)])

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.norm(self.raw_features(wav))  # (B, C, F, frames)

    def output_shape(self, num_samples: int) -> tuple[int, ...]:
        c = self.config
        frames = dsp.num_frames(num_samples, n_fft=self.n_fft, hop_length=c.hop_length, center=c.center)
        return (*self.band_shape(), frames)
