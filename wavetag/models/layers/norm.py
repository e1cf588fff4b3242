"""SubSpectralNorm: batch normalisation per frequency sub-band.

Chang et al., "Subspectral Normalization for Neural Audio Data Processing", ICASSP 2021,
arXiv 2103.13620; as used in BC-ResNet (Qualcomm-AI-research/bcresnet ``SubSpectralNorm``,
``affine="Sub"``: one affine pair per channel and sub-band).
"""

from __future__ import annotations

import torch
from torch import nn

from wavetag.errors import ConfigError


class SubSpectralNorm(nn.Module):
    """``[B, C, F, T]``: split F into ``sub_bands`` equal bands and batch-normalise each
    (channel, band) pair separately. F must be divisible by ``sub_bands``."""

    def __init__(self, channels: int, sub_bands: int = 5, *, eps: float = 1e-5) -> None:
        super().__init__()
        if sub_bands < 1:
            raise ConfigError(f"sub_bands = {sub_bands}; expected >= 1")
        self.sub_bands = sub_bands
        self.bn = nn.BatchNorm2d(channels * sub_bands, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, c, f, t = x.shape
        s = self.sub_bands
        if self.training or not self.bn.track_running_stats:
            x = self.bn(x.reshape(-1, c * s, f // s, t))  # (B, C * S, F / S, T)
            return x.reshape(-1, c, f, t)
        # Inference: one affine per (channel, band), broadcast over time. The scale and shift
        # depend only on parameters, so ONNX Runtime folds them and runs a single Mul + Add.
        scale, shift = self._affine(int(f))
        return x * scale + shift  # (B, C, F, T)

    def _affine(self, bands: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-(channel, band) scale and shift ``[C, F, 1]`` from the running statistics."""
        bn, s = self.bn, self.sub_bands
        channels = bn.num_features // s
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)  # (C * S,)
        shift = bn.bias - bn.running_mean * scale
        per_band = lambda v: v.reshape(channels, s, 1).expand(channels, s, bands // s).reshape(channels, bands, 1)  # noqa: E731
        return per_band(scale), per_band(shift)

    def extra_repr(self) -> str:
        return f"sub_bands={self.sub_bands}"
