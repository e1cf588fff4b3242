"""Live audio bytes → mono float32 at the model's rate: raw PCM, and WAV streams read from a pipe.

- `PcmFormat`: what the bytes are (rate, channels, sample format: ``s16le`` | ``s24le`` |
  ``s32le`` | ``f32le`` | ``u8``).
- `PcmDecoder`: ``feed(bytes) -> float32 [n]`` at the target rate; a partial frame at the end of
  a chunk waits for the next chunk; channels are averaged; other rates go through a streaming
  soxr resampler (its state carried between chunks, so chunking does not change the output).
- `read_wav_header`: the header of a WAV *stream* (``arecord -f S16_LE -r 16000 -c 1``): RIFF
  and data sizes may be 0 or 0xFFFFFFFF ("unknown", as arecord writes when it cannot seek); then
  the samples run to the end of the stream.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from wavetag.errors import AudioError, ConfigError

SAMPLE_FORMATS = {"s16le": (2, "<i2"), "s24le": (3, None), "s32le": (4, "<i4"), "f32le": (4, "<f4"), "u8": (1, "u1")}
MAX_CHANNELS = 32
MAX_HEADER_BYTES = 1 << 16  # chunks before "data" (LIST, fact, ...) beyond this: not a WAV stream
UNKNOWN_SIZES = (0, 0xFFFFFFFF, 0x7FFFFFFF)  # what streaming writers put in the size fields
MAX_FLOAT_PEAK = 16.0  # float samples beyond this (24 dB over full scale) are not float audio
WAVE_FORMAT_PCM, WAVE_FORMAT_FLOAT, WAVE_FORMAT_EXTENSIBLE = 1, 3, 0xFFFE


@dataclass(frozen=True)
class PcmFormat:
    """Raw PCM: ``sample_rate`` Hz, ``channels`` interleaved, ``sample_format`` little-endian."""

    sample_rate: int
    channels: int = 1
    sample_format: str = "s16le"

    def validate(self, where: str = "audio") -> PcmFormat:
        if self.sample_format not in SAMPLE_FORMATS:
            raise ConfigError(
                f"{where}: sample format {self.sample_format!r}; expected one of {', '.join(SAMPLE_FORMATS)}"
            )
        if not isinstance(self.sample_rate, int) or not 1000 <= self.sample_rate <= 384_000:
            raise ConfigError(f"{where}: sample rate {self.sample_rate!r}; expected an integer in 1000..384000 Hz")
        if not isinstance(self.channels, int) or not 1 <= self.channels <= MAX_CHANNELS:
            raise ConfigError(f"{where}: {self.channels!r} channels; expected 1..{MAX_CHANNELS}")
        return self

    @property
    def frame_bytes(self) -> int:
        return SAMPLE_FORMATS[self.sample_format][0] * self.channels

    def describe(self) -> str:
        return f"{self.sample_format} {self.sample_rate} Hz {self.channels} ch"


class PcmDecoder:
    """Bytes of ``fmt`` → mono float32 at ``target_rate``; see the module docstring."""

    def __init__(self, fmt: PcmFormat, *, target_rate: int) -> None:
        self.fmt = fmt.validate()
        self.target_rate = int(target_rate)
        self._rest = b""
        self._resampler = None
        if fmt.sample_rate != self.target_rate:
            import soxr

            self._resampler = soxr.ResampleStream(fmt.sample_rate, self.target_rate, 1, dtype="float32")
        self.frames_in = 0  # input frames decoded

    def feed(self, data: bytes) -> np.ndarray:
        data = self._rest + bytes(data)
        usable = len(data) - len(data) % self.fmt.frame_bytes
        self._rest = data[usable:]
        x = decode_pcm(data[:usable], self.fmt)
        self.frames_in += len(x)
        if self._resampler is not None:
            x = self._resampler.resample_chunk(x)
        return np.ascontiguousarray(x, dtype=np.float32)

    def flush(self) -> np.ndarray:
        """The resampler's last samples (none without resampling); a trailing partial frame is dropped."""
        self._rest = b""
        if self._resampler is None:
            return np.zeros(0, np.float32)
        return np.ascontiguousarray(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))


def decode_pcm(data: bytes, fmt: PcmFormat) -> np.ndarray:
    """Whole frames of ``fmt`` → mono float32 ``[frames]`` in [-1, 1]."""
    width, dtype = SAMPLE_FORMATS[fmt.sample_format]
    if fmt.sample_format == "s24le":
        b = np.frombuffer(data, np.uint8).reshape(-1, 3)
        ints = (b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8) | (b[:, 2].astype(np.int32) << 16)) << 8
        x = (ints >> 8).astype(np.float32) / 8_388_608.0
    else:
        raw = np.frombuffer(data, dtype)
        if fmt.sample_format == "s16le":
            x = raw.astype(np.float32) / 32768.0
        elif fmt.sample_format == "s32le":
            x = (raw.astype(np.float64) / 2_147_483_648.0).astype(np.float32)
        elif fmt.sample_format == "u8":
            x = (raw.astype(np.float32) - 128.0) / 128.0
        else:
            x = raw.astype(np.float32)
            if not np.isfinite(x).all():
                raise AudioError("float32 samples hold NaN or Inf; expected finite values in [-1, 1]")
            peak = float(np.abs(x).max()) if x.size else 0.0
            if peak > MAX_FLOAT_PEAK:
                raise AudioError(
                    f"float32 samples reach {peak:.3g}; expected values in [-1, 1] (at most {MAX_FLOAT_PEAK:g}): "
                    "is the audio int16 (format s16le)?"
                )
    if fmt.channels > 1:
        x = x.reshape(-1, fmt.channels).mean(axis=1, dtype=np.float32)
    return x


def read_wav_header(stream: BinaryIO, *, name: str = "stdin") -> tuple[PcmFormat, int | None]:
    """Read a WAV header from ``stream`` up to the first sample; returns the format and the data
    size in bytes (``None``: unknown, read to the end). Raises `AudioError` naming ``name``."""
    head = _read_exact(stream, 12, name, "a WAV header")
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise AudioError(
            f"{name}: first bytes {head[:12]!r} are not a WAV header (expected 'RIFF....WAVE'); for raw PCM give "
            "--raw with --rate (and --format, --channels)"
        )
    fmt: PcmFormat | None = None
    seen = 12
    while True:
        chunk = _read_exact(stream, 8, name, "a chunk header before the 'data' chunk")
        kind, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        seen += 8
        if kind == b"data":
            if fmt is None:
                raise AudioError(f"{name}: the 'data' chunk comes before any 'fmt ' chunk; the WAV header is broken")
            return fmt, None if size in UNKNOWN_SIZES else size
        if size > MAX_HEADER_BYTES - seen:
            raise AudioError(
                f"{name}: chunk {kind!r} of {size} bytes before the samples (expected the 'data' chunk within "
                f"{MAX_HEADER_BYTES} bytes); not a WAV stream"
            )
        body = _read_exact(stream, size + (size & 1), name, f"the {kind!r} chunk")
        seen += len(body)
        if kind == b"fmt ":
            fmt = _parse_fmt(body, name)


def _parse_fmt(body: bytes, name: str) -> PcmFormat:
    if len(body) < 16:
        raise AudioError(f"{name}: 'fmt ' chunk of {len(body)} bytes; expected at least 16")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
        tag = struct.unpack("<H", body[24:26])[0]  # the sub-format GUID starts with the real tag
    kinds = {(WAVE_FORMAT_PCM, 8): "u8", (WAVE_FORMAT_PCM, 16): "s16le", (WAVE_FORMAT_PCM, 24): "s24le"}
    kinds |= {(WAVE_FORMAT_PCM, 32): "s32le", (WAVE_FORMAT_FLOAT, 32): "f32le"}
    sample_format = kinds.get((tag, bits))
    if sample_format is None:
        raise AudioError(
            f"{name}: WAV format tag {tag} with {bits} bits per sample; expected PCM (8, 16, 24 or 32 bits) or "
            "32-bit float, e.g. arecord -f S16_LE"
        )
    return PcmFormat(int(rate), int(channels), sample_format).validate(name)


def _read_exact(stream: BinaryIO, n: int, name: str, what: str) -> bytes:
    out = b""
    while len(out) < n:
        block = stream.read(n - len(out))
        if not block:
            raise AudioError(f"{name}: the stream ended after {len(out)} of the {n} bytes of {what}")
        out += block
    return out
