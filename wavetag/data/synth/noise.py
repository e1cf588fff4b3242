"""Background noises made in code: coloured noise and a few household-like sounds.

Speech Commands ships a ``_background_noise_/`` folder (white and pink noise plus recordings of a
running tap, dishes, an exercise bike ...) that training mixes under the words. The built-in set
writes the same kind of folder without a download: `COLOURS` are exact power-law spectra, and
`HOUSEHOLD` are rough imitations made from filtered noise, tones and decaying clicks. They are
plausible backgrounds for augmentation, not recordings, and should be described as such.

All functions return float32 ``(n_samples,)`` arrays and take a numpy ``Generator``; the same
generator state gives the same samples.
"""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import signal

from wavetag.errors import ConfigError

SAMPLE_RATE = 16_000
# Power spectral density exponents: PSD ~ f ** exponent. Per octave the power changes by
# 10 * log10(2 ** exponent) = 3.01 * exponent dB (pink -3.01, brown -6.02, blue +3.01).
COLOURS: dict[str, float] = {"white": 0.0, "pink": -1.0, "brown": -2.0, "blue": 1.0}
# Below this frequency the coloured spectra stay flat (and DC is removed), so brown noise does
# not become a slow drift of the whole waveform.
COLOUR_F_MIN_HZ = 20.0
# Level every background file is written at (the real folder's files sit around -20 dBFS RMS).
BACKGROUND_RMS_DBFS = -20.0
PEAK_LIMIT = 0.98


def coloured_noise(
    n_samples: int, *, exponent: float, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Gaussian noise whose power spectral density falls as ``f ** exponent`` -> (n_samples,), RMS 1.

    ``exponent`` 0 = white, -1 = pink, -2 = brown (red), +1 = blue (see `COLOURS`). The shaping is
    exact in the frequency domain above `COLOUR_F_MIN_HZ`.
    """
    if n_samples <= 0:
        return np.zeros(0, dtype=np.float32)
    spectrum = np.fft.rfft(rng.standard_normal(n_samples))
    freqs_hz = np.fft.rfftfreq(n_samples, d=1.0 / sample_rate)
    gain = (np.maximum(freqs_hz, COLOUR_F_MIN_HZ) / 1000.0) ** (exponent / 2.0)
    gain[0] = 0.0
    out = np.fft.irfft(spectrum * gain, n=n_samples)
    return (out / max(float(np.sqrt(np.mean(out**2))), 1e-12)).astype(np.float32)


def noise_of_colour(
    colour: str, n_samples: int, *, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """`coloured_noise` by name (``"white"``, ``"pink"``, ``"brown"``, ``"blue"``)."""
    if colour not in COLOURS:
        raise ConfigError(f"unknown noise colour {colour!r} (choices: {', '.join(COLOURS)})")
    return coloured_noise(n_samples, exponent=COLOURS[colour], rng=rng, sample_rate=sample_rate)


def _slow_envelope(n_samples: int, *, rate_hz: float, depth: float, rng, sample_rate: int):
    """A smooth random gain around 1: low-passed noise, ``depth`` = relative swing."""
    env = coloured_noise(n_samples, exponent=-2.0, rng=rng, sample_rate=sample_rate)
    sos = signal.butter(2, rate_hz, btype="low", fs=sample_rate, output="sos")
    env = signal.sosfiltfilt(sos, env)
    env = env / max(float(np.max(np.abs(env))), 1e-12)
    return 1.0 + depth * env


def running_tap(n_samples: int, *, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE):
    """Water from a tap: band-passed hiss (0.4-6 kHz) with turbulent level swings and bubbles."""
    sos = signal.butter(4, [400, 6000], btype="band", fs=sample_rate, output="sos")
    hiss = signal.sosfilt(sos, rng.standard_normal(n_samples))
    hiss *= _slow_envelope(n_samples, rate_hz=8.0, depth=0.4, rng=rng, sample_rate=sample_rate)
    bubbles = np.zeros(n_samples)
    n_bubbles = int(rng.poisson(25 * n_samples / sample_rate))
    for start in rng.integers(0, max(n_samples - 1, 1), size=n_bubbles):
        dur = int(sample_rate * rng.uniform(0.004, 0.02))
        t = np.arange(min(dur, n_samples - start)) / sample_rate
        f0 = rng.uniform(600, 2500)
        chirp = np.sin(2 * np.pi * f0 * t * (1 + 8 * t)) * np.exp(-t / (dur / sample_rate / 3))
        bubbles[start : start + len(t)] += rng.uniform(0.5, 2.0) * chirp
    return _to_unit_rms(hiss / np.std(hiss) + 0.6 * bubbles)


def fan_hum(n_samples: int, *, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE):
    """A fan near a mains transformer: low rumble, blade-pass tone, 50/60 Hz hum with harmonics."""
    t = np.arange(n_samples) / sample_rate
    mains_hz = float(rng.choice([50.0, 60.0]))
    hum = sum(np.sin(2 * np.pi * mains_hz * k * t + rng.uniform(0, 2 * np.pi)) / k**1.2 for k in range(1, 8))
    sos = signal.butter(2, 1200, btype="low", fs=sample_rate, output="sos")
    air = signal.sosfilt(sos, coloured_noise(n_samples, exponent=-1.0, rng=rng))
    blade_hz = rng.uniform(20, 40) * int(rng.integers(3, 6))
    wobble = _slow_envelope(n_samples, rate_hz=0.5, depth=0.02, rng=rng, sample_rate=sample_rate)
    blade = np.sin(2 * np.pi * np.cumsum(blade_hz * wobble) / sample_rate)
    air *= 1.0 + 0.3 * blade
    return _to_unit_rms(0.35 * hum / np.std(hum) + air / np.std(air) + 0.2 * blade)


def doing_the_dishes(n_samples: int, *, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE):
    """Clinks of plates and cutlery (decaying inharmonic partials) over a soft sink wash."""
    out = 0.15 * running_tap(n_samples, rng=rng, sample_rate=sample_rate)
    n_clinks = int(rng.poisson(3 * n_samples / sample_rate))
    for start in rng.integers(0, max(n_samples - 1, 1), size=n_clinks):
        dur = int(sample_rate * rng.uniform(0.05, 0.4))
        t = np.arange(min(dur, n_samples - start)) / sample_rate
        base_hz = rng.uniform(800, 3500)
        partials = [(1.0, 1.0), (2.76, 0.6), (5.4, 0.4), (8.9, 0.25)]  # free-plate ratios
        decay_s = rng.uniform(0.02, 0.12)
        clink = sum(
            a * np.sin(2 * np.pi * base_hz * r * t) * np.exp(-t * r**0.5 / decay_s)
            for r, a in partials
            if base_hz * r < 0.45 * sample_rate
        )
        out[start : start + len(t)] += rng.uniform(1.0, 6.0) * clink
    return _to_unit_rms(out)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write int16 mono ``samples`` (n,) as a canonical 44-byte-header PCM WAV.

    The standard library's writer, not libsndfile: libsndfile fsyncs every file on close, which
    costs more than synthesising the word when thousands of small clips are written.
    """
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())


def _to_unit_rms(x: np.ndarray) -> np.ndarray:
    return (x / max(float(np.sqrt(np.mean(x**2))), 1e-12)).astype(np.float32)


def _colour_maker(colour: str) -> Callable[..., np.ndarray]:
    def make(n_samples: int, *, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE):
        return noise_of_colour(colour, n_samples, rng=rng, sample_rate=sample_rate)

    return make


# File stem in _background_noise_/ -> generator(n_samples, *, rng, sample_rate).
HOUSEHOLD: dict[str, Callable[..., np.ndarray]] = {
    "running_tap": running_tap,
    "fan_hum": fan_hum,
    "doing_the_dishes": doing_the_dishes,
}
BACKGROUND_NOISES: dict[str, Callable[..., np.ndarray]] = {
    **{f"{colour}_noise": _colour_maker(colour) for colour in COLOURS},
    **HOUSEHOLD,
}


def write_background_noises(
    folder: str | Path, *, seconds: float = 60.0, seed: int = 0, sample_rate: int = SAMPLE_RATE
) -> list[Path]:
    """Write every `BACKGROUND_NOISES` entry as ``folder/<name>.wav`` (int16 mono) -> the paths.

    Each file is ``seconds`` long at -20 dBFS RMS (less where that would clip), and depends only
    on ``seed`` and its name.
    """
    if seconds <= 0:
        raise ConfigError(f"noise_seconds={seconds} must be > 0")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_samples = int(round(seconds * sample_rate))
    paths = []
    for index, (name, make) in enumerate(BACKGROUND_NOISES.items()):
        rng = np.random.default_rng([seed, 0x4E015E, index])
        wav = make(n_samples, rng=rng, sample_rate=sample_rate)
        # -20 dBFS RMS, turned down further where the peaks would clip (the dishes' clinks).
        gain = min(10 ** (BACKGROUND_RMS_DBFS / 20), PEAK_LIMIT / max(float(np.abs(wav).max()), 1e-12))
        wav = wav * gain
        path = folder / f"{name}.wav"
        write_wav(path, np.round(wav * 32767).astype(np.int16), sample_rate)
        paths.append(path)
    (folder / "README.md").write_text(_README.format(seconds=seconds, seed=seed))
    return paths


_README = """\
Background noises made in code by `wavetag synth speech-commands` (seed {seed}, {seconds:g} s each,
16 kHz mono int16, -20 dBFS RMS or less): white, pink, brown and blue noise with exact power-law spectra,
and imitations of a running tap, a fan with mains hum and doing the dishes made from filtered
noise, tones and decaying clicks. They are not recordings.
"""
