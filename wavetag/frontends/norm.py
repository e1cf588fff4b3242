"""Feature normalisation that lives inside the front end (so it travels with the model).

- ``"none"``: features pass unchanged.
- ``"utterance"``: each band of each clip gets zero mean and unit variance over time
  (per-utterance CMVN; REFERENCES.md measured +11 points on unseen voices with it).
- ``"dataset"``: ``(x - mean) / std`` with per-band statistics stored as buffers; fitted on
  training batches with `FeatureNorm.fit`, saved in ``model.safetensors``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from wavetag.errors import ConfigError

NORM_MODES = ("none", "utterance", "dataset")
NORM_EPS = 1e-5
UTTERANCE_STD_FLOOR = 1e-2  # feature units (e.g. ln mel): keeps near-constant bands from blowing up round-off


class FeatureNorm(nn.Module):
    """Normalise ``x [B, C, F, frames]`` (or ``[B, C, frames]``) per band (C, F) over time."""

    def __init__(self, mode: str, band_shape: tuple[int, ...]) -> None:
        super().__init__()
        if mode not in NORM_MODES:
            raise ConfigError(f"normalize = {mode!r}; expected one of {', '.join(NORM_MODES)}")
        self.mode = mode
        shape = (*band_shape, 1)  # broadcast over frames
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "utterance":
            mean = x.mean(dim=-1, keepdim=True)
            std = x.std(dim=-1, keepdim=True, unbiased=False)
            return (x - mean) / std.clamp(min=UTTERANCE_STD_FLOOR)
        if self.mode == "dataset":
            return (x - self.mean) / (self.std + NORM_EPS)
        return x

    @torch.no_grad()
    def fit(self, features: Iterable[torch.Tensor]) -> None:
        """Set the dataset statistics from un-normalised feature batches (Chan's parallel update)."""
        count, mean, m2 = 0, None, None
        for x in features:
            x = x.movedim(0, -2).reshape(*self.mean.shape[:-1], -1)  # (C, [F,] B * frames)
            n = x.shape[-1]
            m = x.mean(dim=-1, keepdim=True)
            v = ((x - m) ** 2).sum(dim=-1, keepdim=True)
            if mean is None:
                count, mean, m2 = n, m, v
            else:
                delta = m - mean
                total = count + n
                mean = mean + delta * n / total
                m2 = m2 + v + delta**2 * count * n / total
                count = total
        if mean is None:
            raise ConfigError("cannot fit dataset normalisation on no batches; the training split is empty")
        self.mean.copy_(mean)
        self.std.copy_(torch.sqrt(m2 / max(1, count)))
        self.fitted.fill_(True)

    def extra_repr(self) -> str:
        return f"mode={self.mode}"
