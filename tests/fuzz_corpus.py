"""A seeded corpus of malformed and extreme audio files, made in code (no downloads).

`make_corpus(folder)` writes every file of `CASES` and returns their paths. Each case is either
audio that must decode (``"audio"``: odd but valid, e.g. 6 channels at 96 kHz in 24 bits) or a
file that must be refused with a `WavetagError` (``"error"``); ``"either"`` marks files a decoder
may reasonably read in part or refuse (a truncated data chunk, a corrupted FLAC frame).
The same seed gives byte-identical files (OGG files aside: libvorbis draws a random stream serial).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from wavetag.audio import AUDIO_EXTENSIONS

SR = 8000


@dataclass(frozen=True)
class Case:
    name: str  # file name (its extension is what the decoder is told)
    expect: str  # "audio" | "error" | "either"
    make: Callable[[np.random.Generator], bytes]


# ---------------------------------------------------------------------------- building blocks


def tone(seconds: float = 0.25, sample_rate: int = SR, channels: int = 1, freq_hz: float = 440.0) -> np.ndarray:
    """A sine at 0.5 amplitude, ``[T]`` or ``[T, C]`` (soundfile's layout)."""
    t = np.arange(max(1, int(round(seconds * sample_rate)))) / sample_rate
    x = (0.5 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1) if channels > 1 else x


def encoded(x: np.ndarray, sample_rate: int = SR, *, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    """``x`` written by libsndfile. A float WAV's PEAK chunk carries the time of writing (seconds):
    it is zeroed, so two corpora built a second apart are the same bytes."""
    buf = io.BytesIO()
    sf.write(buf, x, sample_rate, format=fmt, subtype=subtype)
    data = bytearray(buf.getvalue())
    peak = data.find(b"PEAK", 0, data.find(b"data")) if data[:4] == b"RIFF" else -1  # in the header only
    if peak >= 0:  # "PEAK", size, version, then the 4-byte timestamp
        data[peak + 12 : peak + 16] = bytes(4)
    return bytes(data)


def chunk(tag: bytes, payload: bytes, *, pad: bool = True, size: int | None = None) -> bytes:
    body = payload + (b"\0" if pad and len(payload) % 2 else b"")
    return tag + struct.pack("<I", len(payload) if size is None else size) + body


def fmt_chunk(*, tag: int = 1, channels: int = 1, rate: int = SR, bits: int = 16) -> bytes:
    block = min(0xFFFF, max(1, channels * bits // 8))
    return chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits))


def riff(*chunks: bytes, size: int | None = None) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body) if size is None else size) + body


def pcm16(seconds: float = 0.25) -> bytes:
    return (tone(seconds) * 32767).astype("<i2").tobytes()


def float_wav(values: np.ndarray) -> bytes:
    return riff(fmt_chunk(tag=3, bits=32), chunk(b"data", values.astype("<f4").tobytes()))


def flip_bytes(data: bytes, rng: np.random.Generator, *, start: int, count: int = 64) -> bytes:
    buf = bytearray(data)
    for i in rng.integers(min(start, len(buf) - 1), len(buf), size=count):
        buf[i] ^= 0xFF
    return bytes(buf)


def _set_byte(data: bytes, at: int, value: int) -> bytes:
    """``data`` with one byte changed (byte 22 of a FLAC: the STREAMINFO total-samples count)."""
    return data[:at] + bytes([value]) + data[at + 1 :]


def good_wav(seconds: float = 0.25) -> bytes:
    return riff(fmt_chunk(), chunk(b"data", pcm16(seconds)))


# ---------------------------------------------------------------------------- the cases


def _random(n: int) -> Callable[[np.random.Generator], bytes]:
    return lambda rng: rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()


def _nan_inf(value: float) -> Callable[[np.random.Generator], bytes]:
    def make(_rng):
        x = tone()
        x[100:110] = value
        return float_wav(x)

    return make


CASES: list[Case] = [
    # empty, header-only, truncated, lying headers
    Case("empty.wav", "error", lambda rng: b""),
    Case("header_only.wav", "error", lambda rng: riff(fmt_chunk(), chunk(b"data", b""))),
    Case("riff_only.wav", "error", lambda rng: b"RIFF\x04\x00\x00\x00WAVE"),
    Case("truncated_data.wav", "either", lambda rng: good_wav()[: 44 + 1001]),  # odd cut: half a sample
    Case("claims_more_data.wav", "either", lambda rng: riff(fmt_chunk(), chunk(b"data", pcm16(), size=0x7FFFFFF0))),
    Case("riff_size_zero.wav", "either", lambda rng: riff(fmt_chunk(), chunk(b"data", pcm16()), size=0)),
    Case("riff_size_huge.wav", "either", lambda rng: riff(fmt_chunk(), chunk(b"data", pcm16()), size=0xFFFFFFFF)),
    Case("no_fmt_chunk.wav", "error", lambda rng: riff(chunk(b"data", pcm16()))),
    Case("no_data_chunk.wav", "error", lambda rng: riff(fmt_chunk())),
    Case("data_before_fmt.wav", "either", lambda rng: riff(chunk(b"data", pcm16()), fmt_chunk())),
    Case(
        "two_data_chunks.wav", "either", lambda rng: riff(fmt_chunk(), chunk(b"data", pcm16()), chunk(b"data", pcm16()))
    ),
    Case("zero_channels.wav", "error", lambda rng: riff(fmt_chunk(channels=0), chunk(b"data", pcm16()))),
    Case("zero_rate.wav", "error", lambda rng: riff(fmt_chunk(rate=0), chunk(b"data", pcm16()))),
    Case("65535_channels.wav", "either", lambda rng: riff(fmt_chunk(channels=65535), chunk(b"data", pcm16()))),
    Case("7_bit_samples.wav", "either", lambda rng: riff(fmt_chunk(bits=7), chunk(b"data", pcm16()))),
    Case("0_bit_samples.wav", "error", lambda rng: riff(fmt_chunk(bits=0), chunk(b"data", pcm16()))),
    Case("wma_format_tag.wav", "error", lambda rng: riff(fmt_chunk(tag=0x0161), chunk(b"data", pcm16()))),
    Case("unknown_format_tag.wav", "error", lambda rng: riff(fmt_chunk(tag=0x7777), chunk(b"data", pcm16()))),
    Case(
        "odd_extra_chunk_padded.wav",
        "audio",
        lambda rng: riff(fmt_chunk(), chunk(b"LIST", b"INFOabc"), chunk(b"data", pcm16())),
    ),
    Case(
        "odd_extra_chunk_unpadded.wav",
        "either",
        lambda rng: riff(fmt_chunk(), chunk(b"junk", b"abc", pad=False), chunk(b"data", pcm16())),
    ),
    Case(
        "extra_chunk_claims_too_much.wav",
        "either",
        lambda rng: riff(fmt_chunk(), chunk(b"LIST", b"INFO", size=0x7FFFFFFF), chunk(b"data", pcm16())),
    ),
    Case("text_renamed.wav", "error", lambda rng: b"this is not audio, it is a text file renamed to .wav\n" * 20),
    Case("mp4_renamed.wav", "error", lambda rng: b"\0\0\0\x20ftypM4A \0\0\0\0M4A mp42isom" + bytes(200)),
    Case("rf64_garbage.wav", "error", lambda rng: b"RF64\xff\xff\xff\xffWAVE" + _random(300)(rng)),
    # random bytes under each extension
    # (headerless formats such as .au may read random bytes as noise: "either")
    *[
        Case(f"random{ext.replace('.', '_')}{ext}", "either" if ext == ".au" else "error", _random(4096))
        for ext in AUDIO_EXTENSIONS
    ],
    Case("random_after_riff_header.wav", "error", lambda rng: b"RIFF\x00\x10\x00\x00WAVE" + _random(4096)(rng)),
    # non-finite floats
    Case("nan_float32.wav", "error", _nan_inf(float("nan"))),
    Case("inf_float32.wav", "error", _nan_inf(float("inf"))),
    Case("neg_inf_float32.wav", "error", _nan_inf(float("-inf"))),
    Case("loud_float_above_1.wav", "audio", lambda rng: float_wav(tone() * 100)),
    # extreme but valid
    Case("one_sample.wav", "audio", lambda rng: encoded(np.array([0.25], np.float32))),
    Case("6ch_96k_24bit.wav", "audio", lambda rng: encoded(tone(0.25, 96000, 6), 96000, subtype="PCM_24")),
    Case("8bit_unsigned.wav", "audio", lambda rng: encoded(tone(), subtype="PCM_U8")),
    Case("alaw.wav", "audio", lambda rng: encoded(tone(), subtype="ALAW")),
    Case("ulaw.wav", "audio", lambda rng: encoded(tone(), subtype="ULAW")),
    Case("float64.wav", "audio", lambda rng: encoded(tone(), subtype="DOUBLE")),
    Case("ima_adpcm.wav", "audio", lambda rng: encoded(tone(), subtype="IMA_ADPCM")),
    Case("gsm610.wav", "audio", lambda rng: encoded(tone(), subtype="GSM610")),
    Case("rate_1hz.wav", "audio", lambda rng: encoded(np.array([0.1, -0.1, 0.2], np.float32), 1)),
    Case("rate_384k.wav", "audio", lambda rng: encoded(tone(0.1, 384000), 384000)),
    # 100,000 samples at 1 Hz: 28 hours, 1.6 billion samples at 16 kHz: refused before resampling
    # (read as it is, without resampling, it is valid: "either")
    Case(
        "rate_1hz_28_hours.wav", "either", lambda rng: encoded(np.full(100_000, 0.1, np.float32), 1, subtype="PCM_U8")
    ),
    Case(
        "full_scale_int16.wav",
        "audio",
        lambda rng: riff(fmt_chunk(), chunk(b"data", np.tile(np.array([-32768, 32767], "<i2"), 2000).tobytes())),
    ),
    Case("silence.wav", "audio", lambda rng: encoded(np.zeros(SR // 4, np.float32))),
    Case("valid.aiff", "audio", lambda rng: encoded(tone(), fmt="AIFF", subtype="PCM_16")),
    Case("valid.au", "audio", lambda rng: encoded(tone(), fmt="AU", subtype="PCM_16")),
    Case("wav_named.flac", "audio", lambda rng: good_wav()),  # the content decides, not the name
    # compressed formats, valid and damaged
    Case("valid.flac", "audio", lambda rng: encoded(tone(), fmt="FLAC", subtype="PCM_16")),
    Case(
        "corrupt.flac",
        "either",
        lambda rng: flip_bytes(encoded(tone(1.0), fmt="FLAC", subtype="PCM_16"), rng, start=200),
    ),
    Case("truncated.flac", "either", lambda rng: encoded(tone(1.0), fmt="FLAC", subtype="PCM_16")[:300]),
    Case(
        "claims_2e9_frames.flac",
        "either",
        lambda rng: _set_byte(encoded(tone(1.0), fmt="FLAC", subtype="PCM_16"), 22, 0xA4),
    ),
    Case("header_only.flac", "error", lambda rng: encoded(tone(1.0), fmt="FLAC", subtype="PCM_16")[:42]),
    Case("valid.ogg", "audio", lambda rng: encoded(tone(1.0), fmt="OGG", subtype="VORBIS")),
    Case(
        "corrupt.ogg", "either", lambda rng: flip_bytes(encoded(tone(1.0), fmt="OGG", subtype="VORBIS"), rng, start=400)
    ),
    Case("truncated.ogg", "either", lambda rng: encoded(tone(1.0), fmt="OGG", subtype="VORBIS")[:500]),
    Case("valid.mp3", "audio", lambda rng: encoded(tone(1.0), fmt="MP3", subtype="MPEG_LAYER_III")),
    Case(
        "corrupt.mp3",
        "either",
        lambda rng: flip_bytes(encoded(tone(1.0), fmt="MP3", subtype="MPEG_LAYER_III"), rng, start=100),
    ),
    Case("truncated.mp3", "either", lambda rng: encoded(tone(1.0), fmt="MP3", subtype="MPEG_LAYER_III")[:150]),
]


def make_corpus(folder: str | Path, *, seed: int = 0) -> dict[Path, Case]:
    """Write every case under ``folder`` (seeded: same bytes every time); returns ``{path: case}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for case in CASES:
        path = folder / case.name
        path.write_bytes(case.make(rng))
        out[path] = case
    return out
