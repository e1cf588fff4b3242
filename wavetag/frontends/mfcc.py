"""``mfcc``: MFCCs with optional deltas. ``[B, 1, T] -> [B, 1 + delta_order, n_mfcc, frames]``.

As librosa ``feature.mfcc``: mel power → dB (``top_db`` 80) → orthonormal DCT-II. Deltas are
Savitzky-Golay derivatives over ``delta_width`` frames with edge replication (librosa
``feature.delta(mode="nearest")``), stacked as channels: MFCC, delta, delta-delta.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wavetag.config import check_range
from wavetag.frontends import dsp
from wavetag.frontends.base import register_frontend
from wavetag.frontends.logmel import LogMel, LogMelConfig


@dataclass
class MfccConfig(LogMelConfig):
    """``n_mfcc`` coefficients of ``n_mels`` bands; ``delta_order`` 0, 1 (delta) or 2 (delta and
    delta-delta); ``delta_width`` frames (odd). ``scale`` applies before the DCT (default "db")."""

    n_mfcc: int = 40
    scale: str = "db"
    delta_order: int = 0
    delta_width: int = 9

    def validate(self) -> None:
        super().validate()
        check_range("n_mfcc", self.n_mfcc, 1, self.n_mels)
        check_range("delta_order", self.delta_order, 0, 2)


@register_frontend
class Mfcc(LogMel):
    name = "mfcc"
    config_class = MfccConfig

    def __init__(self, config: MfccConfig) -> None:
        super().__init__(config)
        self.register_buffer("dct", dsp.dct_matrix(config.n_mfcc, config.n_mels), persistent=False)
        for order in range(1, config.delta_order + 1):
            self.register_buffer(f"delta{order}", dsp.savgol_kernel(config.delta_width, order), persistent=False)

    def band_shape(self) -> tuple[int, int]:
        return (1 + self.config.delta_order, self.config.n_mfcc)

    def features(self, power: torch.Tensor) -> torch.Tensor:
        logmel = super().features(power).squeeze(1)  # (B, n_mels, frames)
        coeffs = torch.matmul(self.dct, logmel)  # (B, n_mfcc, frames)
        if self.config.delta_order == 0:
            return coeffs.unsqueeze(1)  # (B, 1, n_mfcc, frames)
        stack = [coeffs] + [
            dsp.apply_delta(coeffs, getattr(self, f"delta{o}")) for o in range(1, self.config.delta_order + 1)
        ]
        return torch.stack(stack, dim=1)  # (B, 1 + delta_order, n_mfcc, frames)
