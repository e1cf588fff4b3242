"""Per-clip and per-class features of a pack, computed in vectorised batches.

Every clip is cut into half-overlapping 30-ms frames (Hann window, zero-padded to ``n_fft``).
One ``rfft`` over all the frames of a batch of clips gives everything at once; per-clip numbers
come from ``np.*.reduceat`` over the frames of each clip, per-class sums from a matrix product
with the clips' class membership ``Y [B, C]`` (multi-label clips count once per tag):

- levels: peak and RMS in dBFS (full-scale sine RMS = -3.01 dBFS, as `wavetag.audio.rms_dbfs`);
- silence share: the fraction of frames whose RMS is below ``max(-50 dBFS, loudest frame - 40 dB)``
  (`SILENCE_FLOOR_DBFS`, `SILENCE_BELOW_LOUDEST_DB`): absolute for clips that are quiet
  throughout, relative to the clip's own loudest frame for loud clips with a noise floor;
- band energies: mean power in each ``(low_hz, high_hz)`` band, dB re full scale: the power of
  all bins adds up to the clip's mean square, so a full-scale sine reads -3.01 dB in its band;
- log-mel: mean dB of `MEL_BANDS` mel bands per clip (``[N, M]``: PCA and outliers) and a
  time-coarse summary (``[N, M * SUMMARY_SEGMENTS]``: the mean dB in each eighth of the clip,
  centred and L2-normalised, for near-duplicate search; the centring removes gain);
- per class: mean magnitude spectrum (average of the clips' mean ``|rfft|``) and mean dB
  spectrogram of the first `SPEC_SECONDS` of the clips.

The mean spectrum's magnitudes are scaled by ``2 / sum(window)``, so a sine of amplitude A
peaks at A (0 dB at full scale); powers (bands, mel, spectrograms) are scaled so that the bins of
a frame add up to its mean square (Parseval, window power normalised).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from wavetag.audio import MIN_DBFS, VAD_FRAME_S
from wavetag.errors import ConfigError

FRAME_S = VAD_FRAME_S  # 30 ms: the frames of the silence share and the spectra
HOP_S = FRAME_S / 2  # half-overlapping frames
MIN_N_FFT = 256  # FFT size = max(this, next power of two >= frame): 512 at 16 kHz (31.25 Hz bins)
MEL_BANDS = 32
SUMMARY_SEGMENTS = 8  # near-duplicate vector: MEL_BANDS mel bands x 8 time segments
SUMMARY_RANGE_DB = 80.0  # summary dB floored this far below the clip's loudest value
SPEC_SECONDS = 1.0  # the per-class mean spectrogram covers the first second of the clips
SILENCE_FLOOR_DBFS = -50.0
SILENCE_BELOW_LOUDEST_DB = 40.0
POWER_EPS = 1e-12  # -120 dB: the floor of every dB value computed from a spectrum
BATCH_SAMPLES = 1 << 19  # samples per batch (~33 s at 16 kHz): frames and FFT stay in cache (2-3x faster than 1 << 22)
INT16_SCALE = 32768.0


@dataclass(frozen=True)
class Analysis:
    """Frame geometry at one sample rate, and the matrices built from it."""

    sample_rate: int
    win: int  # frame length, samples
    hop: int
    n_fft: int
    window: np.ndarray  # float32 [win], periodic Hann
    power_scale: np.ndarray  # float32 [bins]: |X|^2 -> mean-square power per bin (Parseval; one-sided)
    mel_fb: np.ndarray  # float32 [bins, n_mels]
    band_matrix: np.ndarray  # float32 [bins, n_bands], 1 where the bin lies in the band
    bands_hz: tuple[tuple[float, float], ...]
    spec_frames: int  # frames in the first SPEC_SECONDS

    @classmethod
    def create(cls, sample_rate: int, bands_hz: Sequence[tuple[float, float]]) -> Analysis:
        win = int(round(FRAME_S * sample_rate))
        hop = max(1, win // 2)
        n_fft = max(MIN_N_FFT, 1 << (win - 1).bit_length())
        bins = n_fft // 2 + 1
        window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)).astype(np.float32)
        one_sided = np.full(bins, 2.0)
        one_sided[0] = one_sided[-1] = 1.0
        power_scale = (one_sided / (n_fft * np.sum(np.square(window, dtype=np.float64)))).astype(np.float32)
        freqs = np.arange(bins) * sample_rate / n_fft
        band_matrix = np.stack(
            [(freqs >= lo) & (freqs < hi if hi < sample_rate / 2 else freqs <= hi) for lo, hi in bands_hz], axis=1
        ).astype(np.float32)
        spec_frames = max(1, 1 + (int(round(SPEC_SECONDS * sample_rate)) - win) // hop)
        return cls(
            sample_rate,
            win,
            hop,
            n_fft,
            window,
            power_scale,
            _mel_matrix(sample_rate, n_fft),
            band_matrix,
            tuple(bands_hz),
            spec_frames,
        )

    @property
    def freqs_hz(self) -> np.ndarray:
        return np.arange(self.n_fft // 2 + 1) * self.sample_rate / self.n_fft

    @property
    def frame_times_s(self) -> np.ndarray:
        """Start of each frame of the per-class spectrogram, seconds ``[spec_frames]``."""
        return np.arange(self.spec_frames) * self.hop / self.sample_rate


def _mel_matrix(sample_rate: int, n_fft: int) -> np.ndarray:
    """Slaney mel filterbank ``[bins, n_mels]``, as the ``logmel`` front end's (librosa, without torch)."""
    import librosa

    n_mels = min(MEL_BANDS, (n_fft // 2 + 1) // 3)  # no empty bands at low rates
    fb = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=0.0, fmax=sample_rate / 2, norm="slaney")
    return np.ascontiguousarray(fb.T, dtype=np.float32)


def parse_bands(text: str | Sequence[tuple[float, float]] | None, sample_rate: int) -> tuple[tuple[float, float], ...]:
    """``"0-500,500-2000"`` (Hz) -> ``((0, 500), (500, 2000))``; bands past Nyquist are cut to it.

    ``None`` gives 0-500, 500-2000 and 2000-Nyquist (0-500 and 500-Nyquist below 4 kHz).
    """
    nyquist = sample_rate / 2
    if text is None:
        edges = [0.0, 500.0, 2000.0, nyquist] if nyquist > 2000 else [0.0, 500.0, nyquist]
        return tuple(zip(edges[:-1], edges[1:], strict=False))
    if isinstance(text, str):
        pairs = []
        for part in (p.strip() for p in text.split(",") if p.strip()):
            lo, sep, hi = part.partition("-")
            try:
                pairs.append((float(lo), float(hi)))
            except ValueError:
                raise ConfigError(
                    f"--bands {text!r}: {part!r} is not LOW-HIGH in Hz; expected e.g. 0-500,500-2000,2000-8000"
                ) from None
    else:
        pairs = [(float(lo), float(hi)) for lo, hi in text]
    if not pairs:
        raise ConfigError(f"bands = {text!r}: no band given; expected e.g. 0-500,500-2000,2000-8000 (Hz)")
    out = []
    for lo, hi in pairs:
        if not 0 <= lo < hi:
            raise ConfigError(f"band {lo:g}-{hi:g} Hz: expected 0 <= low < high")
        if lo >= nyquist:
            raise ConfigError(
                f"band {lo:g}-{hi:g} Hz lies above the pack's Nyquist frequency ({nyquist:g} Hz at "
                f"{sample_rate:,} Hz); choose bands below {nyquist:g} Hz"
            )
        out.append((lo, min(hi, nyquist)))
    return tuple(out)


@dataclass
class ClipStats:
    """What `compute_stats` measured. Per-clip arrays follow ``indices``; per-class ones the labels."""

    indices: np.ndarray  # int64 [N], clip ids in the pack
    duration_s: np.ndarray  # float32 [N]
    peak_dbfs: np.ndarray  # float32 [N]
    rms_dbfs: np.ndarray  # float32 [N]
    silence_share: np.ndarray  # float32 [N], 0..1
    band_db: np.ndarray  # float32 [N, n_bands]
    log_mel_db: np.ndarray  # float32 [N, n_mels], mean over frames
    summary: np.ndarray  # float32 [N, n_mels * SUMMARY_SEGMENTS], unit length
    class_clips: np.ndarray  # int64 [C], clips measured per class
    mean_magnitude: np.ndarray  # float64 [C, bins], mean |rfft| (NaN for classes with no clip)
    mean_log_spec_db: np.ndarray  # float32 [C, bins, spec_frames] (NaN where no clip reached)
    analysis: Analysis

    @property
    def mean_magnitude_db(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return 20 * np.log10(np.maximum(self.mean_magnitude, math.sqrt(POWER_EPS)))


def membership(pack, indices: np.ndarray) -> np.ndarray:
    """Class membership ``[len(indices), C]`` float32: one-hot, or the multi-hot tags."""
    if pack.index.labels is not None:
        return pack.index.labels[indices].astype(np.float32)
    y = np.zeros((len(indices), pack.num_classes), np.float32)
    label = pack.index.label[indices]
    ok = label >= 0
    y[np.flatnonzero(ok), label[ok]] = 1.0
    return y


def batches(lengths: np.ndarray, max_samples: int) -> list[slice]:
    """Consecutive slices of ``lengths`` of at most ``max_samples`` samples (at least one clip each)."""
    out, start, n = [], 0, len(lengths)
    ends = np.cumsum(lengths)
    while start < n:
        base = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + max_samples, side="right")))
        out.append(slice(start, min(stop, n)))
        start = stop
    return out


def compute_stats(
    pack,
    indices: np.ndarray,
    *,
    bands_hz: Sequence[tuple[float, float]],
    advance: Callable[[int], None] = lambda n: None,
) -> ClipStats:
    """Measure the clips ``indices`` of ``pack`` (see the module docstring); ``advance(n)`` after each batch."""
    a = Analysis.create(pack.sample_rate, bands_hz)
    n, c, bins = len(indices), pack.num_classes, a.n_fft // 2 + 1
    acc = _Accumulator(n, c, bins, a)
    lengths = pack.index.length[indices]
    for part in batches(lengths, BATCH_SAMPLES):
        idx = indices[part]
        y = membership(pack, idx)
        buf, starts = _batch_buffer(pack, idx, a)
        per_clip, mag_sum, spec_sum, spec_count = _measure(buf, starts, pack.index.length[idx], y, a)
        acc.add(part, per_clip, y, mag_sum, spec_sum, spec_count)
        advance(len(idx))
    return acc.finish(indices, lengths / pack.sample_rate)


class _Accumulator:
    def __init__(self, n: int, c: int, bins: int, a: Analysis) -> None:
        m = a.mel_fb.shape[1]
        self.a = a
        self.cols = {
            "peak_dbfs": np.zeros(n, np.float32),
            "rms_dbfs": np.zeros(n, np.float32),
            "silence_share": np.zeros(n, np.float32),
            "band_db": np.zeros((n, len(a.bands_hz)), np.float32),
            "log_mel_db": np.zeros((n, m), np.float32),
            "summary": np.zeros((n, m * SUMMARY_SEGMENTS), np.float32),
        }
        self.class_clips = np.zeros(c, np.float64)
        self.mag_sum = np.zeros((c, bins), np.float64)
        self.spec_sum = np.zeros((c, bins, a.spec_frames), np.float64)
        self.spec_count = np.zeros((c, a.spec_frames), np.float64)

    def add(self, part: slice, per_clip: dict, y: np.ndarray, mag_sum, spec_sum, spec_count) -> None:
        for key, values in per_clip.items():
            self.cols[key][part] = values
        self.class_clips += y.sum(axis=0)
        self.mag_sum += mag_sum
        self.spec_sum += spec_sum
        self.spec_count += spec_count

    def finish(self, indices: np.ndarray, duration_s: np.ndarray) -> ClipStats:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_mag = self.mag_sum / self.class_clips[:, None]
            mean_spec = (self.spec_sum / self.spec_count[:, None, :]).astype(np.float32)
        mean_mag[self.class_clips == 0] = np.nan
        return ClipStats(
            indices=np.asarray(indices, np.int64),
            duration_s=duration_s.astype(np.float32),
            class_clips=self.class_clips.astype(np.int64),
            mean_magnitude=mean_mag,
            mean_log_spec_db=mean_spec,
            analysis=self.a,
            **self.cols,
        )


def _batch_buffer(pack, idx: np.ndarray, a: Analysis) -> tuple[np.ndarray, np.ndarray]:
    """The clips' samples as float32, each starting at a multiple of ``hop`` and at least one frame
    long (zero padding between clips); returns ``(buffer, starts)``."""
    lengths = pack.index.length[idx]
    room = np.maximum(lengths, a.win)
    room = -(-room // a.hop) * a.hop  # round up to whole hops
    starts = np.concatenate([[0], np.cumsum(room)[:-1]]).astype(np.int64)
    buf = np.zeros(int(room.sum()) + a.win, np.float32)
    audio, offsets = pack.audio, pack.index.offset[idx]
    for start, offset, length in zip(starts.tolist(), offsets.tolist(), lengths.tolist(), strict=False):
        buf[start : start + length] = audio[offset : offset + length]
    buf *= np.float32(1.0 / INT16_SCALE)
    return buf, starts


def _measure(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, y: np.ndarray, a: Analysis):
    """Per-clip features and per-class sums of one batch."""
    import scipy.fft

    nf = np.maximum(1, 1 + (lengths - a.win) // a.hop)  # frames per clip (whole frames inside the clip)
    first = np.concatenate([[0], np.cumsum(nf)[:-1]])  # first frame of each clip
    clip = np.repeat(np.arange(len(nf)), nf)  # clip of each frame
    j = np.arange(int(nf.sum())) - first[clip]  # frame number within its clip
    rows = starts[clip] // a.hop + j
    frames = np.lib.stride_tricks.sliding_window_view(buf, a.win)[:: a.hop][rows]  # (F, win)
    frame_db = 10 * np.log10(np.mean(np.square(frames), axis=1) + POWER_EPS)  # (F,)
    spec = scipy.fft.rfft(frames * a.window, n=a.n_fft, axis=1, workers=-1)  # (F, bins) complex64
    mag = np.abs(spec)
    power = np.square(mag) * a.power_scale  # bins of a frame add up to its mean square
    mag *= np.float32(2.0 / a.window.sum())  # a sine of amplitude A peaks at A
    per_clip = _levels(buf, starts, lengths, frame_db, first, nf, clip)
    clip_power = np.add.reduceat(power, first, axis=0) / nf[:, None]  # (B, bins)
    per_clip["band_db"] = 10 * np.log10(clip_power @ a.band_matrix + POWER_EPS)
    mel_db = 10 * np.log10(power @ a.mel_fb + POWER_EPS)  # (F, n_mels)
    per_clip["log_mel_db"] = np.add.reduceat(mel_db, first, axis=0) / nf[:, None]
    per_clip["summary"] = _summary(mel_db, first, nf, clip, j)
    mag_sum = y.T @ (np.add.reduceat(mag, first, axis=0) / nf[:, None])  # (C, bins)
    spec_sum, spec_count = _first_second(power, clip, j, y, a)
    return per_clip, mag_sum, spec_sum, spec_count


def _levels(buf, starts, lengths, frame_db, first, nf, clip) -> dict[str, np.ndarray]:
    """Peak and RMS dBFS of each clip, and its share of silent frames."""
    peak = np.maximum.reduceat(np.abs(buf[: starts[-1] + lengths[-1]]), starts)  # padding is zeros
    energy = np.add.reduceat(np.square(buf[: starts[-1] + lengths[-1]], dtype=np.float64), starts)
    loudest = np.maximum.reduceat(frame_db, first)
    threshold = np.maximum(SILENCE_FLOOR_DBFS, loudest - SILENCE_BELOW_LOUDEST_DB)
    silent = np.add.reduceat((frame_db < threshold[clip]).astype(np.float32), first) / nf
    with np.errstate(divide="ignore"):
        peak_db = np.where(peak > 0, 20 * np.log10(np.maximum(peak, 1e-30)), MIN_DBFS)
        rms_db = np.where(energy > 0, 10 * np.log10(np.maximum(energy / lengths, 1e-30)), MIN_DBFS)
    return {"peak_dbfs": peak_db, "rms_dbfs": rms_db, "silence_share": silent}


def _summary(mel_db: np.ndarray, first: np.ndarray, nf: np.ndarray, clip: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Mean mel dB in `SUMMARY_SEGMENTS` equal parts of each clip, centred, unit length ``[B, M*S]``."""
    b, m, s = len(nf), mel_db.shape[1], SUMMARY_SEGMENTS
    floor = np.maximum.reduceat(mel_db.max(axis=1), first) - SUMMARY_RANGE_DB
    x = np.maximum(mel_db, floor[clip][:, None])
    key = clip * s + (j * s) // nf[clip]  # non-decreasing in frame order
    change = np.flatnonzero(np.diff(key, prepend=-1))
    counts = np.diff(np.append(change, len(key)))
    seg = np.full((b * s, m), np.nan, np.float32)
    seg[key[change]] = np.add.reduceat(x, change, axis=0) / counts[:, None]
    seg = seg.reshape(b, s, m)
    clip_mean = np.add.reduceat(x, first, axis=0) / nf[:, None]
    seg = np.where(np.isnan(seg), clip_mean[:, None, :], seg).reshape(b, s * m)  # clips shorter than S frames
    seg -= seg.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(seg, axis=1, keepdims=True)
    return seg / np.maximum(norm, 1e-12)


def _first_second(power, clip, j, y, a: Analysis) -> tuple[np.ndarray, np.ndarray]:
    """Per-class sums of the dB spectrogram of the first `SPEC_SECONDS`: ``[C, bins, frames]``, counts ``[C, frames]``.

    One sparse product: row ``class * frames + j`` of the sum collects frame ``j`` of every clip of the class.
    """
    from scipy.sparse import csr_matrix

    c, t = y.shape[1], a.spec_frames
    keep = np.flatnonzero(j < t)
    member = y[clip[keep]]  # (F_keep, C)
    f, k = np.nonzero(member)
    rows = k * t + j[keep][f]
    select = csr_matrix((member[f, k], (rows, f)), shape=(c * t, len(keep)))
    sums = select @ (10 * np.log10(power[keep] + POWER_EPS))  # (C * t, bins)
    counts = np.asarray(select.sum(axis=1)).reshape(c, t)
    return np.asarray(sums).reshape(c, t, -1).transpose(0, 2, 1), counts
