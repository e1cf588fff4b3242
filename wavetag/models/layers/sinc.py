"""SincNet's learnable band-pass filter bank.

Ravanelli & Bengio, "Speaker Recognition from Raw Waveform with SincNet", SLT 2018,
arXiv 1808.00158; reference code mravanelli/SincNet ``SincConv_fast``. Each filter is the
difference of two windowed sinc low-passes, parametrised by its low cut-off and bandwidth in Hz
(learned), Hamming-windowed, initialised mel-spaced between 30 Hz and Nyquist.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595 * np.log10(1 + hz / 700)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700 * (10 ** (mel / 2595) - 1)


class SincConv1d(nn.Module):
    """``[B, 1, T] -> [B, out_channels, T']`` (no padding: T' = (T - kernel_size) // stride + 1).

    Parameters ``low_hz_`` and ``band_hz_`` (``[out_channels, 1]``, Hz); effective cut-offs are
    ``low = min_low_hz + |low_hz_|``, ``high = clamp(low + min_band_hz + |band_hz_|, .., sr/2)``.
    """

    def __init__(
        self,
        out_channels: int,
        kernel_size: int,
        *,
        sample_rate: int,
        stride: int = 1,
        min_low_hz: float = 50.0,
        min_band_hz: float = 50.0,
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            kernel_size += 1  # symmetric filters need an odd length
        self.out_channels, self.kernel_size, self.stride = out_channels, kernel_size, stride
        self.sample_rate, self.min_low_hz, self.min_band_hz = sample_rate, min_low_hz, min_band_hz
        high_hz = sample_rate / 2 - (min_low_hz + min_band_hz)
        hz = mel_to_hz(np.linspace(hz_to_mel(30.0), hz_to_mel(high_hz), out_channels + 1))
        self.low_hz_ = nn.Parameter(torch.tensor(hz[:-1], dtype=torch.float32).view(-1, 1))
        self.band_hz_ = nn.Parameter(torch.tensor(np.diff(hz), dtype=torch.float32).view(-1, 1))
        half = kernel_size // 2
        n_lin = torch.linspace(0, kernel_size / 2 - 1, steps=half)
        self.register_buffer("window_", 0.54 - 0.46 * torch.cos(2 * math.pi * n_lin / kernel_size), persistent=False)
        self.register_buffer(
            "n_", 2 * math.pi * torch.arange(-half, 0).view(1, -1).float() / sample_rate, persistent=False
        )

    def filters(self) -> torch.Tensor:
        """The current filter bank, ``[out_channels, 1, kernel_size]``."""
        low = self.min_low_hz + self.low_hz_.abs()
        high = torch.clamp(low + self.min_band_hz + self.band_hz_.abs(), self.min_low_hz, self.sample_rate / 2)
        band = (high - low)[:, 0]
        left = (torch.sin(high @ self.n_) - torch.sin(low @ self.n_)) / (self.n_ / 2) * self.window_
        center = 2 * band.view(-1, 1)
        right = torch.flip(left, dims=[1])
        bank = torch.cat([left, center, right], dim=1) / (2 * band[:, None])
        return bank.view(self.out_channels, 1, self.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.filters(), stride=self.stride)  # (B, out_channels, T')

    def count_macs(self, inputs: tuple, output: torch.Tensor) -> int:
        return output.numel() * self.kernel_size

    def extra_repr(self) -> str:
        return (
            f"{self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, sample_rate={self.sample_rate}"
        )
