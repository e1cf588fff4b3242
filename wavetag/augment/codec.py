"""``codec``: the quantisation noise of a telephone-style codec (G.711 μ-law at a few bits).

Each clip is scaled to a peak of ``headroom`` (so the coarse levels are used fully), companded
with μ-law, quantised to ``levels`` uniform in ``[min_levels, max_levels]`` (256 = G.711's 8 bits;
fewer is harsher), expanded back and scaled to its original level. Pair it with ``mic_filter``
(``max_low_pass_hz`` 3400) for the telephone band.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wavetag.augment.base import (
    Augmentation,
    AugmentationConfig,
    Device,
    Params,
    check_waveform,
    on_drawn_clips,
    randint,
    register_augmentation,
)
from wavetag.config import check_min_max, check_range
from wavetag.frontends.mulaw import mulaw_decode, mulaw_encode

PEAK_EPS = 1e-8


@dataclass
class CodecConfig(AugmentationConfig):
    """μ-law quantisation to ``levels`` in ``[min_levels, max_levels]``; peak scaled to ``headroom``."""

    p: float = 0.0
    min_levels: int = 32
    max_levels: int = 256
    headroom: float = 0.9

    def validate(self) -> None:
        super().validate()
        check_range("min_levels", self.min_levels, 4, 65536)
        check_range("max_levels", self.max_levels, 4, 65536)
        check_min_max("min_levels", self.min_levels, "max_levels", self.max_levels)
        check_range("headroom", self.headroom, 0.01, 1.0)


@dataclass
class CodecParams(Params):
    levels: torch.Tensor  # int64 [B]


@register_augmentation
class Codec(Augmentation):
    name = "codec"
    config_class = CodecConfig

    def sample(
        self, batch_size: int, *, generator: torch.Generator, device: Device = None, num_samples: int | None = None
    ) -> CodecParams:
        c = self.config
        applied = self.applied_mask(batch_size, generator=generator, device=device)
        return CodecParams(
            applied=applied, levels=randint(c.min_levels, c.max_levels, batch_size, generator=generator, device=device)
        )

    def apply(self, x: torch.Tensor, params: CodecParams) -> torch.Tensor:
        check_waveform(x, self.name)
        return on_drawn_clips(x, params, self._quantise)

    def _quantise(self, x: torch.Tensor, params: CodecParams) -> torch.Tensor:
        scale = self.config.headroom / x.abs().amax(dim=(1, 2), keepdim=True).clamp_min(PEAK_EPS)
        out = torch.empty_like(x)
        for levels in params.levels.unique().tolist():  # a handful of distinct values per batch
            rows = params.levels.to(x.device) == levels
            y = (x[rows] * scale[rows]).clamp(-1.0, 1.0)
            out[rows] = mulaw_decode(mulaw_encode(y, levels), levels).to(x.dtype) / scale[rows]
        return out
