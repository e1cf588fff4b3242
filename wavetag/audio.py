"""Audio in and out: load, resample, mix down, pad/trim/chop, levels, silence trimming.

Everything decodes through soundfile/libsndfile (WAV incl. WAVE_FORMAT_EXTENSIBLE and 8/16/24/32-bit
int and 32/64-bit float, FLAC, OGG/Vorbis, MP3, AIFF, ...) and resamples with soxr. Samples are
float32 in [-1, 1]; mono signals are ``[T]``, multichannel ``[C, T]`` (channels first). Anything
that cannot be read raises `AudioError` naming the file, what was found and what to do.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from wavetag.errors import AudioError, ConfigError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".au", ".w64", ".caf")
VAD_SAMPLE_RATES = (8000, 16000, 32000, 48000)  # the rates WebRTC VAD accepts
VAD_FRAME_S = 0.03  # 30 ms frames, one of the three lengths WebRTC VAD accepts (10/20/30 ms)
RESAMPLE_MARGIN_S = 0.05  # context read around a window so the resampler's edges fall outside it
MIN_DBFS = -200.0  # the level reported for digital silence
HEADER_BYTES = 512  # bytes read to describe a file libsndfile refuses
READ_BLOCK_SAMPLES = 1 << 22  # samples (all channels) per read: 16 MiB of float32
MAX_RESAMPLED_SAMPLES = 1 << 29  # 2 GiB of float32 = 9.3 h at 16 kHz; beyond, use iter_windows
WAV_CODECS = {  # WAV format tags worth naming in an error (libsndfile decodes PCM, float, A/μ-law, ADPCM, GSM)
    0x0002: "MS ADPCM",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG",
    0x0055: "MPEG Layer III",
    0x00FF: "AAC",
    0x0160: "Windows Media Audio 1",
    0x0161: "Windows Media Audio",
    0x0162: "Windows Media Audio Pro",
    0x1610: "HE-AAC",
    0x2000: "AC-3",
}


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header without decoding the samples."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def info(path: str | Path) -> AudioInfo:
    """Header facts of ``path``: sample rate, channels, frames, duration, container and codec."""
    path = _check_path(path)
    try:
        i = sf.info(os.fsencode(path))  # bytes: a non-UTF-8 name opens too
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(_decode_message(path, exc)) from None
    return AudioInfo(str(path), int(i.samplerate), int(i.channels), int(i.frames), i.format, i.subtype)


def load(
    path: str | Path,
    *,
    sample_rate: int | None = None,
    mono: bool = True,
    start_s: float = 0.0,
    duration_s: float | None = None,
    nonfinite: str = "raise",
) -> tuple[np.ndarray, int]:
    """Decode ``path`` (or a window of it) to float32.

    Args:
        sample_rate: resample to this rate (Hz); ``None`` keeps the file's rate.
        mono: average the channels to ``[T]``; otherwise return ``[C, T]``.
        start_s, duration_s: read only this window; the rest of the file is never decoded.
        nonfinite: ``"raise"`` on NaN/Inf samples (float files), or ``"zero"`` to replace them.

    Returns:
        ``(samples, sample_rate)`` with samples ``[T]`` (mono) or ``[C, T]``.
    """
    path = _check_path(path)
    if nonfinite not in ("raise", "zero"):
        raise ConfigError(f"nonfinite = {nonfinite!r}; expected 'raise' or 'zero'")
    try:
        with sf.SoundFile(os.fsencode(path)) as f:  # bytes: a non-UTF-8 name opens too
            file_rate = int(f.samplerate)
            target = file_rate if sample_rate is None else int(sample_rate)
            x, skip = _read_window(f, start_s, duration_s, target)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(_decode_message(path, exc)) from None
    x = _check_finite(path, x.T, nonfinite)  # (C, T)
    check_resampled_length(str(path), x.shape[1], file_rate, target)
    if x.shape[1] > 0:
        if mono:
            x = to_mono(x)
        if target != file_rate:
            x = resample(x, file_rate, target)
            if skip or duration_s is not None:
                length = None if duration_s is None else int(round(duration_s * target))
                x = x[..., skip : None if length is None else skip + length]
    if x.shape[-1] == 0:
        raise AudioError(
            f"{path}: 0 samples after decoding (expected at least 1); the file is empty or "
            f"truncated, or the window starts past its end"
        )
    return np.ascontiguousarray(x, dtype=np.float32), target


def check_resampled_length(name: str, frames: int, orig_sr: int, target_sr: int) -> None:
    """Refuse audio whose resampled copy would pass `MAX_RESAMPLED_SAMPLES` (a damaged header's
    1-Hz rate turns 200 kB into 60 GB at 16 kHz), before any memory is taken for it."""
    out = frames * target_sr / orig_sr
    if target_sr != orig_sr and out > MAX_RESAMPLED_SAMPLES:
        raise AudioError(
            f"{name}: {frames:,} samples at {orig_sr:,} Hz would be {out:,.0f} samples at {target_sr:,} Hz "
            f"(expected at most {MAX_RESAMPLED_SAMPLES:,}); check the file's sample rate (a damaged header?), or "
            "read long recordings in windows (wavetag detect / audio.iter_windows)"
        )


def _read_window(f: sf.SoundFile, start_s: float, duration_s: float | None, target: int) -> tuple[np.ndarray, int]:
    """Frames ``(T, C)`` of the window; returns ``(frames, skip)``.

    Without resampling the frames are the window itself (``skip`` = 0). With resampling they
    carry context on both sides, and the read starts on a file sample that falls exactly on the
    target rate's grid, so the resampled window equals the same slice of the resampled file;
    ``skip`` is the number of resampled samples before the window.
    """
    rate = int(f.samplerate)
    if start_s < 0 or (duration_s is not None and duration_s <= 0):
        raise ConfigError(
            f"window start_s={start_s}, duration_s={duration_s}; expected start_s >= 0 and duration_s > 0"
        )
    if start_s == 0 and duration_s is None:
        return read_frames(f), 0
    if not f.seekable():
        raise AudioError(
            f"{os.fsdecode(f.name)}: a {f.subtype} file cannot be read from the middle; convert it to PCM WAV or FLAC "
            "(e.g. ffmpeg -i IN -ar 16000 OUT.wav)"
        )
    start = int(round(start_s * rate))
    if target == rate:
        f.seek(min(start, f.frames))
        frames = -1 if duration_s is None else int(round(duration_s * rate))
        return read_frames(f, frames), 0
    g = math.gcd(rate, target)
    margin = int(RESAMPLE_MARGIN_S * rate)
    first = max(0, start - margin) // (rate // g) * (rate // g)  # on the target grid
    f.seek(min(first, f.frames))
    frames = -1 if duration_s is None else (start - first) + int(round(duration_s * rate)) + margin
    x = read_frames(f, frames)
    skip = int(round(start_s * target)) - first // (rate // g) * (target // g)
    return x, max(0, skip)


def read_frames(f: sf.SoundFile, frames: int = -1) -> np.ndarray:
    """``frames`` frames ``(T, C)`` float32 from the current position (-1: to the end), read in
    blocks of `READ_BLOCK_SAMPLES`: memory follows the data actually there, never the frame count
    a (damaged) header claims. Also reads formats that cannot seek (GSM 6.10 in WAV)."""
    per_block = max(1, READ_BLOCK_SAMPLES // max(1, f.channels))
    blocks, total = [], 0
    while frames < 0 or total < frames:
        want = per_block if frames < 0 else min(per_block, frames - total)
        block = f.read(frames=want, dtype="float32", always_2d=True)
        if len(block):
            blocks.append(block)
            total += len(block)
        if len(block) < want:
            break
    return np.concatenate(blocks) if len(blocks) > 1 else blocks[0] if blocks else np.zeros((0, f.channels), np.float32)


def save(path: str | Path, samples: np.ndarray, sample_rate: int, *, subtype: str = "PCM_16") -> Path:
    """Write ``samples`` (``[T]`` or ``[C, T]``) to ``path``; the format follows the extension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.asarray(samples)
    sf.write(str(path), x.T if x.ndim == 2 else x, int(sample_rate), subtype=subtype)
    return path


def to_mono(x: np.ndarray) -> np.ndarray:
    """``[C, T]`` → ``[T]`` by averaging channels; ``[T]`` is returned unchanged."""
    x = np.asarray(x)
    return x if x.ndim == 1 else x.mean(axis=0, dtype=np.float32)


def resample(x: np.ndarray, orig_sr: int, target_sr: int, *, quality: str = "HQ") -> np.ndarray:
    """Resample ``[T]`` or ``[C, T]`` from ``orig_sr`` to ``target_sr`` Hz with soxr."""
    if orig_sr <= 0 or target_sr <= 0:
        raise ConfigError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr:
        return np.asarray(x, dtype=np.float32)
    x = np.asarray(x, dtype=np.float32)
    y = soxr.resample(x.T if x.ndim == 2 else x, orig_sr, target_sr, quality=quality)
    return np.ascontiguousarray(y.T if x.ndim == 2 else y, dtype=np.float32)


def pad_or_trim(x: np.ndarray, num_samples: int, *, align: str = "start") -> np.ndarray:
    """Zero-pad or cut the last axis to ``num_samples``.

    ``align="start"`` keeps the beginning (pads/cuts at the end); ``"center"`` pads/cuts evenly on
    both sides.
    """
    if num_samples <= 0:
        raise ConfigError(f"num_samples = {num_samples}; expected > 0")
    if align not in ("start", "center"):
        raise ConfigError(f"align = {align!r}; expected 'start' or 'center'")
    n = x.shape[-1]
    if n == num_samples:
        return x
    if n > num_samples:
        start = (n - num_samples) // 2 if align == "center" else 0
        return x[..., start : start + num_samples]
    before = (num_samples - n) // 2 if align == "center" else 0
    pad = [(0, 0)] * (x.ndim - 1) + [(before, num_samples - n - before)]
    return np.pad(x, pad)


def chop(x: np.ndarray, num_samples: int, *, hop_samples: int | None = None, pad_last: bool = True) -> np.ndarray:
    """Cut ``[T]`` into pieces ``[N, num_samples]`` every ``hop_samples`` (default: no overlap).

    The last piece is zero-padded when ``pad_last``; otherwise a short tail is dropped. A signal
    shorter than one piece gives one padded piece (or none without ``pad_last``).
    """
    hop = num_samples if hop_samples is None else hop_samples
    if num_samples <= 0 or hop <= 0:
        raise ConfigError(f"num_samples = {num_samples}, hop_samples = {hop}; expected both > 0")
    n = x.shape[-1]
    count = 1 + max(0, math.ceil((n - num_samples) / hop)) if pad_last else max(0, (n - num_samples) // hop + 1)
    if count == 0:
        return np.zeros((0, num_samples), dtype=x.dtype)
    total = (count - 1) * hop + num_samples
    x = np.pad(x, (0, max(0, total - n)))
    idx = np.arange(count)[:, None] * hop + np.arange(num_samples)[None, :]
    return x[idx]


def peak_dbfs(x: np.ndarray) -> float:
    """Peak level in dB relative to full scale (1.0 → 0 dBFS; silence → -200)."""
    peak = float(np.max(np.abs(x))) if np.size(x) else 0.0
    return 20 * math.log10(peak) if peak > 0 else MIN_DBFS


def rms_dbfs(x: np.ndarray) -> float:
    """RMS level in dB relative to full scale (a full-scale sine → -3.01 dBFS)."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if np.size(x) else 0.0
    return 20 * math.log10(rms) if rms > 0 else MIN_DBFS


def trim_silence(
    x: np.ndarray,
    sample_rate: int,
    *,
    method: str = "vad",
    aggressiveness: int = 2,
    threshold_db: float = -40.0,
    pad_s: float = 0.05,
) -> np.ndarray:
    """Cut leading and trailing silence from mono ``[T]``.

    ``method="vad"`` uses WebRTC VAD (aggressiveness 0–3; any sample rate, resampled internally
    to the nearest rate VAD accepts) and falls back to the energy rule when it finds no speech;
    ``"energy"`` keeps 30-ms frames whose RMS lies within ``threshold_db`` of the loudest frame.
    ``pad_s`` of context is kept on each side. All-silent input is returned unchanged.
    """
    if method not in ("vad", "energy"):
        raise ConfigError(f"method = {method!r}; expected 'vad' or 'energy'")
    if not 0 <= aggressiveness <= 3:
        raise ConfigError(f"aggressiveness = {aggressiveness}; expected 0, 1, 2 or 3")
    active = _vad_frames(x, sample_rate, aggressiveness) if method == "vad" else None
    if active is None or not active.any():
        active = _energy_frames(x, sample_rate, threshold_db)
    start, end = _span(active, len(x), sample_rate, pad_s)
    return x[start:end]


def active_span(x: np.ndarray, sample_rate: int, *, threshold_db: float = -40.0, pad_s: float = 0.0) -> tuple[int, int]:
    """``(start, end)`` samples of ``x [T]`` that `trim_silence` with the energy rule keeps: 30-ms
    frames within ``threshold_db`` of the loudest, first to last, ``pad_s`` of context on each side.
    ``(0, T)`` for all-silent input."""
    return _span(_energy_frames(x, sample_rate, threshold_db), len(x), sample_rate, pad_s)


def _span(active: np.ndarray, length: int, sample_rate: int, pad_s: float) -> tuple[int, int]:
    if not active.any():
        return 0, length
    frame = int(VAD_FRAME_S * sample_rate)
    first, last = np.flatnonzero(active)[[0, -1]]
    pad = int(pad_s * sample_rate)
    return max(0, int(first) * frame - pad), min(length, (int(last) + 1) * frame + pad)


def _vad_frames(x: np.ndarray, sample_rate: int, aggressiveness: int) -> np.ndarray:
    """Per 30-ms frame (at ``sample_rate``) speech flags from WebRTC VAD."""
    import webrtcvad

    vad_rate = min(VAD_SAMPLE_RATES, key=lambda r: abs(r - sample_rate))
    y = resample(x, sample_rate, vad_rate)
    pcm = (np.clip(y, -1, 1) * 32767).astype("<i2")
    frame = int(VAD_FRAME_S * vad_rate)
    vad = webrtcvad.Vad(aggressiveness)
    n = len(pcm) // frame
    flags = np.array(
        [vad.is_speech(pcm[i * frame : (i + 1) * frame].tobytes(), vad_rate) for i in range(n)], dtype=bool
    )
    out = np.zeros(len(x) // int(VAD_FRAME_S * sample_rate), dtype=bool)  # one flag per frame of x
    m = min(len(out), n)
    out[:m] = flags[:m]
    return out


def _energy_frames(x: np.ndarray, sample_rate: int, threshold_db: float) -> np.ndarray:
    frame = int(VAD_FRAME_S * sample_rate)
    n = len(x) // frame
    if n == 0:
        return np.zeros(0, dtype=bool)
    frames = x[: n * frame].reshape(n, frame).astype(np.float64)
    rms_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
    return rms_db > rms_db.max() + threshold_db


def iter_windows(
    path: str | Path,
    *,
    window_s: float,
    hop_s: float | None = None,
    sample_rate: int | None = None,
    block_s: float = 60.0,
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(start_s, window [T])`` over a long file, decoding ``block_s`` at a time.

    Memory stays bounded by one block however long the file is. The last window is zero-padded.
    """
    hop_s = window_s if hop_s is None else hop_s
    if window_s <= 0 or hop_s <= 0 or block_s < window_s:
        raise ConfigError(
            f"window_s={window_s}, hop_s={hop_s}, block_s={block_s}; expected positive, block_s >= window_s"
        )
    file_info = info(path)
    rate = file_info.sample_rate if sample_rate is None else sample_rate
    win, hop = int(round(window_s * rate)), int(round(hop_s * rate))
    total = int(round(file_info.duration_s * rate))
    count = 1 + max(0, math.ceil((total - win) / hop))
    per_block = max(1, int((block_s - window_s) // hop_s) + 1)
    for first in range(0, count, per_block):
        n = min(per_block, count - first)
        span = (n - 1) * hop + win
        block, _ = load(path, sample_rate=rate, start_s=first * hop / rate, duration_s=span / rate)
        for k, piece in enumerate(chop(pad_or_trim(block, span), win, hop_samples=hop)):
            yield (first + k) * hop / rate, piece


def _check_path(path: str | Path) -> Path:
    path = Path(path)
    try:
        st = path.stat()  # one stat: the file may vanish between two
    except FileNotFoundError:
        broken = " (a symbolic link to a missing file)" if path.is_symlink() else ""
        raise AudioError(
            f"{path}: no such file{broken}; check the path (relative paths start at {Path.cwd()})"
        ) from None
    except OSError as exc:
        raise AudioError(f"{path}: cannot read it ({exc.strerror or exc}); check its permissions and links") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioError(
            f"{path}: is a directory, expected an audio file; give a file, or use 'wavetag prepare' for folders"
        )
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
        raise AudioError(f"{path}: not a regular file (a device, FIFO or socket), expected an audio file")
    if st.st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes), expected audio; re-export or remove it")
    return path


def _check_finite(path: Path, x: np.ndarray, nonfinite: str) -> np.ndarray:
    bad = ~np.isfinite(x)
    if bad.any():
        if nonfinite == "raise":
            raise AudioError(
                f"{path}: {int(bad.sum())} NaN/Inf samples in {x.size} (expected finite values); "
                f"the float file is corrupt; pass nonfinite='zero' to replace them with 0"
            )
        x = np.where(bad, 0.0, x).astype(np.float32)
    return x


def _decode_message(path: Path, exc: Exception) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEADER_BYTES)  # never the whole file: it may be an hour long
    except OSError as os_exc:  # vanished or unreadable since it was opened
        return f"{path}: cannot read it ({os_exc.strerror or os_exc}); check that it exists and is readable"
    kind = _sniff(head)
    reason = str(exc).split(":")[-1].strip() or type(exc).__name__
    if kind is None:
        found = f"first bytes {head[:8]!r}, not a known audio header"
    else:
        found = f"looks like {kind} (libsndfile: {reason})"
    return (
        f"{path}: cannot decode audio: {found}; expected WAV (PCM or float), FLAC, OGG/Vorbis, MP3 "
        f"or AIFF. The file may be truncated, in an unsupported codec, or not audio: convert it "
        f"(e.g. ffmpeg -i IN -ar 16000 OUT.wav) or remove it"
    )


def _sniff(head: bytes) -> str | None:
    if head[:4] in (b"RIFF", b"RIFX", b"RF64"):
        return "WAV" + _wav_codec(head)
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[:4] == b"OggS":
        return "OGG"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):  # MPEG frame sync
        return "MP3"
    if head[4:8] == b"ftyp":
        return "MP4/M4A (AAC), which libsndfile does not decode"
    if head[:4] == b"FORM":
        return "AIFF"
    return None


def _wav_codec(head: bytes) -> str:
    """The codec of a WAV for an error message: " with format tag 0x0161 (Windows Media Audio)",
    or "" for PCM/float or a missing fmt chunk (e.g. a truncated header)."""
    at = head.find(b"fmt ", 12)
    if at < 0 or len(head) < at + 10:
        return ""
    tag = int.from_bytes(head[at + 8 : at + 10], "little")
    if tag in (0x0001, 0x0003, 0xFFFE):
        return ""
    return f" with format tag 0x{tag:04X} ({WAV_CODECS.get(tag, 'an unknown codec')})"
