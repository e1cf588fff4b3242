"""``background_noise``: add a random window of recorded background noise to each clip.

The noise bank is a 1-D float32 tensor of background recordings concatenated, at the training
sample rate (``Pack.noise_bank()``; ``Pack.noise_files()`` gives the recordings' bounds so a
window never straddles two of them). Windows of the clip's length are cut from it with one
gather. Two ways to set the level:

- ``mode="volume"`` (default; the TF speech_commands / BC-ResNet recipe): the window times a
  volume uniform in ``[0, max_volume]``, applied to 80 % of the clips, volume up to 0.1.
  The level is absolute, so quiet words can drown, as in the recipe.
- ``mode="snr"``: the window scaled to an SNR uniform in ``[min_snr_db, max_snr_db]`` relative
  to the clip's RMS (over the whole clip, padding included). An all-zero clip gets no noise:
  its SNR is undefined and nothing may turn into NaN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from wavetag.augment.base import (
    RMS_EPS,
    Augmentation,
    AugmentationConfig,
    Device,
    Params,
    check_waveform,
    clip_rms,
    per_clip,
    register_augmentation,
    uniform,
)
from wavetag.config import check_choice, check_min_max, check_range
from wavetag.errors import ConfigError

NOISE_MODES = ("volume", "snr")


@dataclass
class BackgroundNoiseConfig(AugmentationConfig):
    """``mode``: "volume" (noise × U(0, ``max_volume``)) or "snr" (U(``min_snr_db``,
    ``max_snr_db``) dB below the clip). The fields of the other mode are ignored."""

    p: float = 0.8
    mode: str = "volume"
    max_volume: float = 0.1
    min_snr_db: float = 0.0
    max_snr_db: float = 20.0

    def validate(self) -> None:
        super().validate()
        check_choice("mode", self.mode, NOISE_MODES)
        check_range("max_volume", self.max_volume, 0.0, 10.0)
        check_range("min_snr_db", self.min_snr_db, -40.0, 100.0)
        check_range("max_snr_db", self.max_snr_db, -40.0, 100.0)
        check_min_max("min_snr_db", self.min_snr_db, "max_snr_db", self.max_snr_db)


@dataclass
class BackgroundNoiseParams(Params):
    position: torch.Tensor  # float64 [B] in [0, 1): where the window starts among all valid starts
    volume: torch.Tensor  # float32 [B] (mode "volume"; zeros in mode "snr")
    snr_db: torch.Tensor  # float32 [B] (mode "snr"; zeros in mode "volume")


Segments = Iterable[Mapping[str, Any] | tuple[int, int]]


@register_augmentation
class BackgroundNoise(Augmentation):
    name = "background_noise"
    config_class = BackgroundNoiseConfig

    def __init__(
        self,
        config: BackgroundNoiseConfig | None = None,
        *,
        sample_rate: int = 16000,
        noise_bank: torch.Tensor | np.ndarray | None = None,
        segments: Segments | None = None,
    ) -> None:
        super().__init__(config, sample_rate=sample_rate)
        self.bank: torch.Tensor | None = None
        self._segments = torch.zeros(0, 2, dtype=torch.int64)
        self._on_device: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
        if noise_bank is not None:
            self.set_noise_bank(noise_bank, segments=segments)

    def set_noise_bank(self, noise_bank: torch.Tensor | np.ndarray, *, segments: Segments | None = None) -> None:
        """Use ``noise_bank`` (float ``[N]``, at ``sample_rate``). ``segments``: the recordings in
        it as ``(offset, length)`` pairs or ``{"offset", "length"}`` mappings (``Pack.noise_files()``);
        None = one recording. An empty bank means "no noise bank"."""
        bank = torch.as_tensor(noise_bank).detach().to("cpu", torch.float32)
        if bank.dim() != 1:
            raise ConfigError(
                f"noise bank has shape {tuple(bank.shape)}; expected 1-D [samples] (recordings concatenated)"
            )
        if not torch.isfinite(bank).all():
            raise ConfigError("noise bank contains NaN or infinite samples; rebuild the pack's noise bank")
        self.bank = bank if bank.numel() else None
        self._segments = _segment_table(segments, bank.numel())
        self._on_device = {}

    @property
    def has_noise(self) -> bool:
        return self.bank is not None

    def sample(
        self, batch_size: int, *, generator: torch.Generator, device: Device = None, num_samples: int | None = None
    ) -> BackgroundNoiseParams:
        c = self.config
        applied = self.applied_mask(batch_size, generator=generator, device=device)
        position = uniform(batch_size, generator=generator, device=device, dtype=torch.float64)
        level = uniform(batch_size, generator=generator, device=device)
        zeros = torch.zeros_like(level)
        if c.mode == "volume":
            return BackgroundNoiseParams(applied, position, volume=level * c.max_volume, snr_db=zeros)
        snr_db = c.min_snr_db + (c.max_snr_db - c.min_snr_db) * level
        return BackgroundNoiseParams(applied, position, volume=zeros, snr_db=snr_db)

    def apply(self, x: torch.Tensor, params: BackgroundNoiseParams) -> torch.Tensor:
        check_waveform(x, self.name)
        noise = self.windows(params.position, x.shape[-1], device=x.device).to(x.dtype)[:, None, :]  # (B, 1, T)
        if self.config.mode == "volume":
            scale = per_clip(params.volume, x)
        else:
            # noise RMS must sit snr_db below the clip's RMS; a silent clip gets scale 0
            wanted = clip_rms(x) * per_clip(10.0 ** (-params.snr_db / 20.0), x)
            scale = wanted / clip_rms(noise).clamp_min(RMS_EPS)
        return x + noise * (scale * per_clip(params.applied, x))

    def windows(self, position: torch.Tensor, num_samples: int, *, device: Any = None) -> torch.Tensor:
        """float32 ``[B, num_samples]``: the noise windows that ``position [B]`` selects.

        A window lies inside one recording when any recording is long enough; otherwise the
        whole bank is read circularly (repeating short noise)."""
        if self.bank is None:
            raise ConfigError(
                "background_noise is on but there is no noise bank: prepare the pack with background "
                "noise (--noise-dir) or set augment.background_noise.p to 0"
            )
        device = torch.device(device) if device is not None else self.bank.device
        bank, segments = self._cached(device)
        offset, length = segments[:, 0], segments[:, 1]
        room = (length - num_samples + 1).clamp_min(0)  # valid starts per recording
        total = int(room.sum())
        pos = position.to(device=device, dtype=torch.float64)
        if total > 0:
            k = (pos * total).long().clamp(0, total - 1)  # the k-th valid start over all recordings
            ends = room.cumsum(0)
            seg = torch.searchsorted(ends, k, right=True)
            start = offset[seg] + k - (ends[seg] - room[seg])
        else:
            start = (pos * bank.numel()).long().clamp(0, bank.numel() - 1)
        idx = (start[:, None] + torch.arange(num_samples, device=device)[None, :]) % bank.numel()
        return bank[idx]

    def _cached(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._on_device:
            self._on_device[device] = (self.bank.to(device), self._segments.to(device))
        return self._on_device[device]


def _segment_table(segments: Segments | None, num_samples: int) -> torch.Tensor:
    """int64 ``[S, 2]`` of (offset, length), checked against the bank's size."""
    if segments is None:
        pairs = [(0, num_samples)] if num_samples else []
    else:
        pairs = [
            (int(s["offset"]), int(s["length"])) if isinstance(s, Mapping) else (int(s[0]), int(s[1])) for s in segments
        ]
    for offset, length in pairs:
        if offset < 0 or length < 0 or offset + length > num_samples:
            raise ConfigError(
                f"noise segment (offset {offset}, length {length}) lies outside the noise bank of "
                f"{num_samples} samples; the pack's noise.json does not match noise.int16 — rebuild the pack"
            )
    if not pairs and num_samples:
        pairs = [(0, num_samples)]
    return torch.tensor(pairs, dtype=torch.int64).reshape(-1, 2)
