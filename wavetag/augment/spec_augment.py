"""``spec_augment``: SpecAugment time and frequency masks on features ``[B, C, F, frames]``.

``time_masks`` masks, each ``U{0..time_mask_width}`` frames wide, and ``freq_masks`` masks of
``U{0..freq_mask_width}`` bins, at uniform positions; masks may overlap; no time warp (the
BC-ResNet recipe: 2 × 20 frames, 2 × up to 7 bins for BC-ResNet-6/8 — it uses narrower frequency
masks for smaller models, down to none for BC-ResNet-1). Masked cells take ``mask_value``:
"mean" (each clip's mean over all its features: right for raw log-mel, where 0 is not silence,
and equal to 0 after per-utterance normalisation) or "zero".

Widths are capped at the feature size. The training loop applies this between the model's front
end and its backbone; the masks come from broadcast comparisons of ``arange`` against the
sampled starts and widths (no loop over clips or masks).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wavetag.augment.base import (
    Augmentation,
    AugmentationConfig,
    Device,
    Params,
    register_augmentation,
    uniform,
)
from wavetag.config import check_choice, check_range
from wavetag.errors import ConfigError

MASK_VALUES = ("mean", "zero")


@dataclass
class SpecAugmentConfig(AugmentationConfig):
    """Mask counts and their largest widths (frames for time, bins for frequency)."""

    p: float = 1.0
    time_masks: int = 2
    time_mask_width: int = 20
    freq_masks: int = 2
    freq_mask_width: int = 7
    mask_value: str = "mean"

    def validate(self) -> None:
        super().validate()
        check_range("time_masks", self.time_masks, 0, 100)
        check_range("time_mask_width", self.time_mask_width, 0, 100000)
        check_range("freq_masks", self.freq_masks, 0, 100)
        check_range("freq_mask_width", self.freq_mask_width, 0, 10000)
        check_choice("mask_value", self.mask_value, MASK_VALUES)


@dataclass
class SpecAugmentParams(Params):
    """Fractions in [0, 1); `SpecAugment.bands` turns them into bins/frames for a feature size."""

    time_width: torch.Tensor  # float32 [B, time_masks]
    time_start: torch.Tensor  # float32 [B, time_masks]
    freq_width: torch.Tensor  # float32 [B, freq_masks]
    freq_start: torch.Tensor  # float32 [B, freq_masks]


@register_augmentation
class SpecAugment(Augmentation):
    name = "spec_augment"
    config_class = SpecAugmentConfig

    @property
    def active(self) -> bool:
        c = self.config
        return c.p > 0 and (c.time_masks * c.time_mask_width + c.freq_masks * c.freq_mask_width) > 0

    def sample(
        self, batch_size: int, *, generator: torch.Generator, device: Device = None, num_samples: int | None = None
    ) -> SpecAugmentParams:
        c = self.config
        applied = self.applied_mask(batch_size, generator=generator, device=device)

        def draw(n: int) -> torch.Tensor:
            return uniform(batch_size, n, generator=generator, device=device)

        return SpecAugmentParams(
            applied, draw(c.time_masks), draw(c.time_masks), draw(c.freq_masks), draw(c.freq_masks)
        )

    def bands(self, params: SpecAugmentParams, n_freq: int, n_frames: int) -> dict[str, torch.Tensor]:
        """int64 ``freq_start``, ``freq_width`` ``[B, freq_masks]`` and ``time_start``,
        ``time_width`` ``[B, time_masks]``: mask k covers ``[start, start + width)``."""
        c = self.config
        fs, fw = _band(params.freq_start, params.freq_width, min(c.freq_mask_width, n_freq), n_freq)
        ts, tw = _band(params.time_start, params.time_width, min(c.time_mask_width, n_frames), n_frames)
        return {"freq_start": fs, "freq_width": fw, "time_start": ts, "time_width": tw}

    def apply(self, x: torch.Tensor, params: SpecAugmentParams) -> torch.Tensor:
        if x.dim() < 3:
            raise ConfigError(
                f"spec_augment: input has shape {tuple(x.shape)}; expected features [batch, ..., freq, frames]"
            )
        n_freq, n_frames = x.shape[-2:]
        b = {k: v.to(x.device) for k, v in self.bands(params, n_freq, n_frames).items()}
        applied = params.applied.to(x.device)[:, None]
        freq = _covered(b["freq_start"], b["freq_width"], n_freq) & applied  # (B, F)
        time = _covered(b["time_start"], b["time_width"], n_frames) & applied  # (B, frames)
        mask = freq[:, :, None] | time[:, None, :]  # (B, F, frames)
        mask = mask.reshape(x.shape[0], *([1] * (x.dim() - 3)), n_freq, n_frames)
        if self.config.mask_value == "zero":
            return x.masked_fill(mask, 0.0)
        mean = x.mean(dim=tuple(range(1, x.dim())), keepdim=True)
        return torch.where(mask, mean, x)


def _band(start_u: torch.Tensor, width_u: torch.Tensor, max_width: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Width uniform in {0..max_width}, start uniform in {0..size - width}, from fractions."""
    width = (width_u * (max_width + 1)).long().clamp(0, max_width)
    start = (start_u * (size - width + 1).to(start_u.dtype)).long()
    return torch.minimum(start, size - width), width


def _covered(start: torch.Tensor, width: torch.Tensor, size: int) -> torch.Tensor:
    """bool ``[B, size]``: positions inside any band ``[start, start + width)`` of the clip."""
    pos = torch.arange(size, device=start.device)[None, None, :]  # (1, 1, size)
    inside = (pos >= start[:, :, None]) & (pos < (start + width)[:, :, None])  # (B, masks, size)
    return inside.any(dim=1)
