"""``gain``: scale each clip by a gain uniform in ``[min_gain_db, max_gain_db]`` decibels.

Off by default: none of the reference keyword-spotting recipes use it, heavy gain/speed
augmentation cost 2–15 points in our synthetic-speech measurements (REFERENCES.md), and with
per-utterance feature normalisation a gain is almost undone by the front end anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wavetag.augment.base import (
    Augmentation,
    AugmentationConfig,
    Device,
    Params,
    per_clip,
    register_augmentation,
    uniform,
)
from wavetag.config import check_min_max, check_range


@dataclass
class GainConfig(AugmentationConfig):
    """Gain in dB, uniform in ``[min_gain_db, max_gain_db]`` (+6.02 dB doubles the samples)."""

    p: float = 0.0
    min_gain_db: float = -6.0
    max_gain_db: float = 6.0

    def validate(self) -> None:
        super().validate()
        check_range("min_gain_db", self.min_gain_db, -96.0, 48.0)
        check_range("max_gain_db", self.max_gain_db, -96.0, 48.0)
        check_min_max("min_gain_db", self.min_gain_db, "max_gain_db", self.max_gain_db)


@dataclass
class GainParams(Params):
    gain_db: torch.Tensor  # float32 [B]


@register_augmentation
class Gain(Augmentation):
    name = "gain"
    config_class = GainConfig

    def sample(
        self, batch_size: int, *, generator: torch.Generator, device: Device = None, num_samples: int | None = None
    ) -> GainParams:
        c = self.config
        applied = self.applied_mask(batch_size, generator=generator, device=device)
        gain_db = uniform(batch_size, generator=generator, device=device, low=c.min_gain_db, high=c.max_gain_db)
        return GainParams(applied=applied, gain_db=gain_db)

    def apply(self, x: torch.Tensor, params: GainParams) -> torch.Tensor:
        factor = torch.where(params.applied, 10.0 ** (params.gain_db / 20.0), 1.0)
        return x * per_clip(factor, x)
