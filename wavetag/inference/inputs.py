"""What the Predictor accepts: a path, the bytes of an audio file, or an array with its rate.

Everything becomes mono float32 ``[T]`` at the model's sample rate: files decode through
`wavetag.audio.load` (any rate, any channel count), bytes through soundfile, arrays are mixed
down (channels first, ``[C, T]``) and resampled from the ``sample_rate`` the caller states.
"""

from __future__ import annotations

import dataclasses
import io
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wavetag import audio
from wavetag.data.clips import walk_audio
from wavetag.errors import AudioError, ConfigError

MAX_CHANNELS = 32  # a 2-D array with more rows than this and few columns is taken to be [T, C]
HEADER_READ_BYTES = 1 << 16  # where a WAV's fmt and data chunk headers are looked for
TRUNCATED_RATIO = 0.99  # decoded audio under this share of what the header declares: truncated

AudioInput = str | os.PathLike | bytes | np.ndarray | tuple  # tuple = (array, sample_rate)


@dataclass
class Waveform:
    """Mono samples ``[T]`` at ``sample_rate``, with a name for messages and reports."""

    samples: np.ndarray
    sample_rate: int
    source: str
    warnings: list[str] = field(default_factory=list)  # one line each: why an answer may be wrong

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def to_waveform(item: AudioInput, *, sample_rate: int | None, target_rate: int, name: str | None = None) -> Waveform:
    """Decode / mix down / resample ``item`` to mono float32 ``[T]`` at ``target_rate`` Hz.

    ``item``: a path, the bytes of an audio file, an array ``[T]`` or ``[C, T]`` (then
    ``sample_rate`` is required), or a tuple ``(array, sample_rate)``.
    """
    if isinstance(item, tuple):
        if len(item) != 2:
            raise ConfigError(f"an audio tuple must be (array, sample_rate), got {len(item)} items")
        item, sample_rate = item
    if isinstance(item, (str, os.PathLike)):
        x, _ = audio.load(item, sample_rate=target_rate, mono=True)
        wav = Waveform(x, target_rate, name or str(item))
        try:
            with open(item, "rb") as f:
                head = f.read(HEADER_READ_BYTES)
        except OSError:
            head = b""
        return _check_truncated(wav, head)
    if isinstance(item, (bytes, bytearray, memoryview)):
        data = bytes(item)
        return _check_truncated(_from_bytes(data, target_rate, name or "<bytes>"), data[:HEADER_READ_BYTES])
    if hasattr(item, "detach") and hasattr(item, "numpy"):  # a torch tensor
        item = item.detach().cpu().numpy()
    if isinstance(item, np.ndarray):
        return _from_array(item, sample_rate, target_rate, name or "<array>")
    raise ConfigError(
        f"cannot predict on a {type(item).__name__}; give a file path, the bytes of an audio file, "
        "or a waveform array [T] / [C, T] with sample_rate="
    )


def wav_declared_seconds(head: bytes) -> float | None:
    """Seconds of audio a RIFF/WAVE header declares (its ``data`` chunk size), or None when
    ``head`` is not a WAV header or declares no definite size (streamed WAVs write 0 or 2^32-1)."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, rate, block = 12, 0, 0
    while pos + 8 <= len(head):
        chunk, size = head[pos : pos + 4], struct.unpack("<I", head[pos + 4 : pos + 8])[0]
        if chunk == b"fmt " and pos + 22 <= len(head):
            (rate,) = struct.unpack("<I", head[pos + 12 : pos + 16])
            (block,) = struct.unpack("<H", head[pos + 20 : pos + 22])
        elif chunk == b"data":
            if rate <= 0 or block <= 0 or size in (0, 0xFFFFFFFF):
                return None
            return size // block / rate
        pos += 8 + size + (size & 1)
    return None


def truncation_warning(source: str, duration_s: float, head: bytes) -> str | None:
    """One line when ``duration_s`` (what decoded) is shorter than the WAV header ``head`` says."""
    declared = wav_declared_seconds(head)
    if declared is None or duration_s >= TRUNCATED_RATIO * declared:
        return None
    return (
        f"{source}: {duration_s:.3f} s of audio, but its header declares {declared:.3f} s; the file is "
        "truncated, so the answer may be wrong (re-record or re-copy it)"
    )


def file_truncation_warning(path: str | os.PathLike) -> str | None:
    """`truncation_warning` for an audio file on disk (None when it is whole, or not a WAV)."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_READ_BYTES)
        return truncation_warning(str(path), audio.info(path).duration_s, head)
    except Exception:  # noqa: BLE001 - a file that cannot be read is reported by the decoder, not here
        return None


def _check_truncated(wav: Waveform, head: bytes) -> Waveform:
    """Add a warning when the audio is shorter than its WAV header says (a truncated file)."""
    warning = truncation_warning(wav.source, wav.duration_s, head)
    if warning:
        wav.warnings.append(warning)
    return wav


class SeekableBytes(io.BytesIO):
    """In-memory audio for libsndfile's virtual IO: a seek before the start fails as lseek does.

    soundfile's seek callback calls ``seek`` then returns ``tell()``; ``BytesIO.seek`` raises on a
    negative position (damaged headers ask for one), and an exception in a cffi callback is
    printed and swallowed, handing libsndfile a position of 0. Here such a seek leaves the
    position alone and the next ``tell()`` answers -1, lseek's error, so libsndfile sees it fail.
    """

    _failed = False

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: super().tell(), io.SEEK_END: len(self.getbuffer())}.get(whence, 0)
        if base + offset < 0:
            self._failed = True
            return -1
        self._failed = False
        return super().seek(offset, whence)

    def tell(self) -> int:
        if self._failed:
            self._failed = False
            return -1
        return super().tell()


def _from_bytes(data: bytes, target_rate: int, name: str) -> Waveform:
    import soundfile as sf

    if not data:
        raise AudioError(f"{name}: 0 bytes received, expected an audio file (WAV, FLAC, OGG, MP3)")
    try:
        with sf.SoundFile(SeekableBytes(data)) as f:
            rate = f.samplerate
            x = audio.read_frames(f)  # in blocks: a header claiming 2^35 frames allocates nothing for them
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        reason = str(exc).split(":")[-1].strip() or type(exc).__name__
        raise AudioError(
            f"{name}: cannot decode {len(data):,} bytes as audio (libsndfile: {reason}; first bytes {data[:8]!r}); "
            "expected WAV, FLAC, OGG/Vorbis or MP3"
        ) from None
    return _finish(x.T, int(rate), target_rate, name)


def _from_array(x: np.ndarray, sample_rate: int | None, target_rate: int, name: str) -> Waveform:
    if sample_rate is None:
        raise ConfigError(
            f"{name}: a waveform array needs its sample_rate= (Hz; predict_many takes (array, sample_rate) tuples); "
            f"the model runs at {target_rate} Hz: pass sample_rate={target_rate} if the array is already at that "
            "rate, other rates are resampled"
        )
    if x.ndim not in (1, 2):
        raise AudioError(f"{name}: array of shape {x.shape}; expected [T] (mono) or [C, T] (channels first)")
    if x.ndim == 2 and x.shape[1] <= MAX_CHANNELS < x.shape[0]:
        raise AudioError(
            f"{name}: array of shape {x.shape} looks like [T, C] (samples first); expected channels first "
            f"[C, T]: pass x.T"
        )
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / np.float32(np.iinfo(x.dtype).max + 1)
    elif not np.issubdtype(x.dtype, np.floating):
        raise AudioError(f"{name}: array of dtype {x.dtype}; expected float samples in [-1, 1] or integer PCM")
    elif x.size and x.dtype.itemsize > 4:
        with np.errstate(invalid="ignore"):
            over = int((np.abs(x) > np.finfo(np.float32).max).sum())
        if over:
            raise AudioError(
                f"{name}: {over} samples beyond the float32 range (largest {np.nanmax(np.abs(x)):.3g}); "
                "expected float samples in [-1, 1]"
            )
    return _finish(np.asarray(x, dtype=np.float32), int(sample_rate), target_rate, name)


def _finish(x: np.ndarray, rate: int, target_rate: int, name: str) -> Waveform:
    if rate <= 0:
        raise ConfigError(f"{name}: sample_rate = {rate}; expected a positive rate in Hz")
    if x.shape[-1] == 0:
        raise AudioError(f"{name}: 0 samples (expected at least 1); the audio is empty")
    if not np.isfinite(x).all():
        raise AudioError(f"{name}: {int((~np.isfinite(x)).sum())} NaN/Inf samples; expected finite values")
    audio.check_resampled_length(name, x.shape[-1], rate, target_rate)
    y = audio.resample(audio.to_mono(x), rate, target_rate)
    if len(y) == 0:
        raise AudioError(
            f"{name}: {x.shape[-1]} samples at {rate:,} Hz is less than one sample at {target_rate:,} Hz; "
            "expected a longer recording (or a correct sample rate in its header)"
        )
    if not np.isfinite(y).all():  # float32 samples near its limit overflow in the resampler's filter
        raise AudioError(
            f"{name}: samples as large as {float(np.abs(x).max()):.3g} overflow when resampled from {rate:,} to "
            f"{target_rate:,} Hz; expected float samples in [-1, 1]"
        )
    return Waveform(np.ascontiguousarray(y, dtype=np.float32), target_rate, name)


def expand_inputs(paths: Iterable[str | os.PathLike], *, skipped: list | None = None) -> list[Path]:
    """Files as given, and the audio files under each folder (recursively, sorted, hidden skipped).

    A path that does not exist is kept, so the caller reports it with the other failures. What a
    folder holds that cannot be used (broken links, link loops, unreadable folders, non-UTF-8
    names, a folder named ``x.wav``) is left out and appended to ``skipped`` (`Rejected` rows).
    """
    out: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            rejected: list = []
            found = [p for p, _, _, _ in walk_audio(path, path, rejected=rejected)]
            if not found and not rejected:
                raise AudioError(f"{path}: no audio files ({', '.join(audio.AUDIO_EXTENSIONS)}) in this folder")
            out.extend(found)
            if skipped is not None:
                skipped.extend(dataclasses.replace(r, path=str(path / r.path)) for r in rejected)
        else:
            out.append(path)
    return out
