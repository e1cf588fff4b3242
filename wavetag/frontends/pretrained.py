"""What the frozen pretrained front ends (`speech_embedding`, `whisper_encoder`) share: the folder
of an installed package that carries their weights, their one sample rate, and the zero padding
around a clip."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F

from wavetag.errors import ConfigError


def package_folder(package: str) -> Path | None:
    """The folder of installed ``package``, found without importing it; None if not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def check_sample_rate(frontend: str, sample_rate: int, expected: int) -> None:
    """A `ConfigError` unless ``sample_rate`` is the pretrained model's one rate."""
    if sample_rate != expected:
        raise ConfigError(
            f"front end {frontend}: sample_rate = {sample_rate}; the pretrained model takes {expected} Hz only "
            f"(prepare the pack with --sample-rate {expected})"
        )


def pad_clip(wav: torch.Tensor, pad: int, min_samples: int) -> torch.Tensor:
    """``wav [B, 1, T]`` with ``pad`` zeros on both sides, then zeros at the end up to
    ``min_samples`` in all."""
    short = max(0, min_samples - (wav.shape[-1] + 2 * pad))
    return F.pad(wav, (pad, pad + short)) if pad or short else wav
