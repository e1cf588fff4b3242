"""Shared fixtures: seeded randomness and tiny synthetic audio made in code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """Three words synthesised by espeak-ng at different levels and offsets, int16-exact floats
    ``[3, 16000]`` at 16 kHz (for the pretrained front ends' parity tests)."""
    import soxr

    from wavetag.data.synth.espeak import get_espeak

    es = get_espeak()
    clips = []
    for word, level, offset in (("yes", 0.5, 1000), ("seven", 0.05, 3000), ("stop", 0.9, 0)):
        x = soxr.resample(es.synth(word, voice="en-us").astype(np.float32) / 32768, es.sample_rate, 16000)
        x = x[: 16000 - offset]
        clip = np.zeros(16000, np.float32)
        clip[offset : offset + len(x)] = x / np.abs(x).max() * level
        clips.append(np.round(clip * 32767) / 32768)
    return np.stack(clips).astype(np.float32)


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh generator with a fixed seed, so every test sees the same "random" data."""
    return np.random.default_rng(0)


def sine(sample_rate: int, freq_hz: float = 440.0, *, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    """``amplitude * sin(2π f t)`` as float32 ``[T]``, starting at phase 0."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


@pytest.fixture
def make_sine() -> Callable[..., np.ndarray]:
    """`sine` as a fixture: ``make_sine(16000, 1000, seconds=0.5)``."""
    return sine


@pytest.fixture
def write_audio(tmp_path: Path) -> Callable[..., Path]:
    """Write ``[T]`` or ``[C, T]`` samples under ``tmp_path``; ``**kwargs`` go to ``soundfile.write``
    (``subtype="PCM_24"``, ``format="FLAC"``, ...). Returns the path."""
    import soundfile as sf

    def write(name: str, samples: np.ndarray, sample_rate: int, **kwargs) -> Path:
        path = tmp_path / name
        x = np.asarray(samples)
        sf.write(str(path), x.T if x.ndim == 2 else x, sample_rate, **kwargs)
        return path

    return write


def write_two_tone_pack(root: Path, *, clips_per_class: int, sample_rate: int = 8000) -> Path:
    """A pack of 2 classes of tones (low 400 Hz / high 2000 Hz with a little noise), 0.25-s clips of
    4 speakers, at ``root/pack`` (sources in ``root/src``); seeded, so every caller gets the same."""
    import soundfile as sf

    from wavetag.data import prepare

    rng = np.random.default_rng(0)
    t = np.arange(sample_rate // 4) / sample_rate
    for label, freq in (("low", 400), ("high", 2000)):
        (root / "src" / label).mkdir(parents=True)
        for i in range(clips_per_class):
            x = 0.3 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(len(t))
            sf.write(
                root / "src" / label / f"spk{i % 4}_nohash_{i}.wav", x.astype(np.float32), sample_rate, subtype="PCM_16"
            )
    prepare(root / "src", root / "pack", sample_rate=sample_rate, clip_seconds=0.25, jobs=1, progress=False)
    return root / "pack"
