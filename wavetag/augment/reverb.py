"""``reverb``: convolve each clip with a simulated room impulse response.

Real recordings are made in rooms; synthetic speech is dry. A bank of ``rooms`` impulse
responses is simulated once per process with pyroomacoustics' image-source method (Allen & Berkley
1979; Scheibler et al., ICASSP 2018): shoebox rooms of random size, walls whose absorption gives a
reverberation time RT60 uniform in ``[min_rt60_s, max_rt60_s]`` (Sabine's formula,
``pyroomacoustics.inverse_sabine``; reflection order capped at `MAX_ORDER` to bound the cost),
source and microphone at random places at least 0.5 m from the walls. Each response starts at its
direct-path peak (so the word does not move), is cut to ``max_rir_s`` and is applied by FFT
convolution; the result is scaled back to the clip's RMS, so reverb changes the colour and the
tail, not the level.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

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
    on_drawn_clips,
    register_augmentation,
    uniform,
)
from wavetag.config import check_min_max, check_range
from wavetag.errors import ConfigError

MAX_ORDER = 12  # image-source reflection order cap: ~1.5 s for 64 rooms on one core
ROOM_MIN_M = (3.0, 3.0, 2.4)
ROOM_MAX_M = (10.0, 8.0, 4.0)
WALL_MARGIN_M = 0.5


@dataclass
class ReverbConfig(AugmentationConfig):
    """``rooms`` impulse responses (simulated once, from ``seed``) with RT60 uniform in
    ``[min_rt60_s, max_rt60_s]`` seconds, each cut to ``max_rir_s`` seconds."""

    p: float = 0.0
    rooms: int = 64
    min_rt60_s: float = 0.15
    max_rt60_s: float = 0.8
    max_rir_s: float = 0.5
    seed: int = 0

    def validate(self) -> None:
        super().validate()
        check_range("rooms", self.rooms, 1, 4096)
        check_range("min_rt60_s", self.min_rt60_s, 0.05, 3.0)
        check_range("max_rt60_s", self.max_rt60_s, 0.05, 3.0)
        check_min_max("min_rt60_s", self.min_rt60_s, "max_rt60_s", self.max_rt60_s)
        check_range("max_rir_s", self.max_rir_s, 0.01, 4.0)


@dataclass
class ReverbParams(Params):
    room: torch.Tensor  # int64 [B]: which impulse response of the bank


@functools.lru_cache(maxsize=4)
def room_impulse_responses(
    rooms: int, min_rt60_s: float, max_rt60_s: float, max_rir_s: float, seed: int, sample_rate: int
) -> torch.Tensor:
    """float32 ``[rooms, L]``: simulated impulse responses, direct path first, zero-padded to one length."""
    try:
        import pyroomacoustics as pra
    except ImportError:
        raise ConfigError(
            "augment.reverb needs the 'pyroomacoustics' package; run 'pip install pyroomacoustics'"
        ) from None
    rng = np.random.default_rng(seed)
    keep = int(round(max_rir_s * sample_rate))
    bank = np.zeros((rooms, keep), np.float32)
    for i in range(rooms):
        dims = rng.uniform(ROOM_MIN_M, ROOM_MAX_M)
        rt60 = rng.uniform(min_rt60_s, max_rt60_s)
        absorption, order, dims = _walls_for(pra, rt60, dims)
        room = pra.ShoeBox(
            dims, fs=sample_rate, materials=pra.Material(min(absorption, 1.0)), max_order=min(order, MAX_ORDER)
        )
        room.add_source(rng.uniform(WALL_MARGIN_M, dims - WALL_MARGIN_M))
        room.add_microphone(rng.uniform(WALL_MARGIN_M, dims - WALL_MARGIN_M))
        room.compute_rir()
        rir = np.asarray(room.rir[0][0], np.float64)
        rir = rir[int(np.argmax(np.abs(rir))) :][:keep]
        bank[i, : len(rir)] = rir / np.abs(rir).max()
    return torch.from_numpy(bank)


def _walls_for(pra, rt60_s: float, dims: np.ndarray):
    """(absorption, reflection order, dims) giving ``rt60_s``; a room too large for so short a
    reverberation (absorption would pass 1) shrinks until it fits."""
    for _ in range(20):
        try:
            absorption, order = pra.inverse_sabine(rt60_s, dims)
            return absorption, order, dims
        except ValueError:
            dims = np.maximum(dims * 0.8, 2 * WALL_MARGIN_M + 0.1)
    raise ConfigError(f"augment.reverb: no room gives RT60 = {rt60_s:.3f} s; raise min_rt60_s")


@register_augmentation
class Reverb(Augmentation):
    name = "reverb"
    config_class = ReverbConfig

    def __init__(self, config: ReverbConfig | None = None, *, sample_rate: int = 16000) -> None:
        super().__init__(config, sample_rate=sample_rate)
        self._bank: torch.Tensor | None = None

    @property
    def bank(self) -> torch.Tensor:
        """The impulse responses ``[rooms, L]`` (simulated on first use)."""
        if self._bank is None:
            c = self.config
            self._bank = room_impulse_responses(
                c.rooms, c.min_rt60_s, c.max_rt60_s, c.max_rir_s, c.seed, self.sample_rate
            )
        return self._bank

    def sample(
        self, batch_size: int, *, generator: torch.Generator, device: Device = None, num_samples: int | None = None
    ) -> ReverbParams:
        applied = self.applied_mask(batch_size, generator=generator, device=device)
        room = (uniform(batch_size, generator=generator, device=device) * self.config.rooms).long()
        return ReverbParams(applied=applied, room=room.clamp_max(self.config.rooms - 1))

    def apply(self, x: torch.Tensor, params: ReverbParams) -> torch.Tensor:
        check_waveform(x, self.name)
        return on_drawn_clips(x, params, self._reverberate)  # only the drawn clips pay for the FFTs

    def _reverberate(self, dry: torch.Tensor, params: ReverbParams) -> torch.Tensor:
        rir = self.bank.to(dry.device)[params.room.to(dry.device)]  # (b, L)
        n_samples = dry.shape[-1]
        n = 1 << (n_samples + rir.shape[-1] - 1).bit_length()
        wet = torch.fft.irfft(torch.fft.rfft(dry, n=n) * torch.fft.rfft(rir, n=n).unsqueeze(1), n=n)[..., :n_samples]
        return wet * (clip_rms(dry) / clip_rms(wet).clamp_min(RMS_EPS))
