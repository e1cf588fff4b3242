"""Long test streams: clips of a pack split placed at known times in background noise.

    clips of SPLIT (all but _silence_), shuffled --trimmed to their active part (energy)-->
      placed one after another with a random gap of gap_s between them
      --over a noise bed (the pack's noise bank, else generated pink noise) at snr_db below the
        median clip level--> STREAMS/stream_000.wav ... + labels.csv (file, label, start_s, end_s, source)
                            + streams.json (how they were made)

Clips keep their recorded level (the model saw them so); the noise bed is set once per stream so
that the median clip sits ``snr_db`` above it. Every clip is used at most once: ``minutes`` is an
upper bound, and the summary says how long the streams came out. Clips of background classes
other than ``_silence_`` (e.g. ``_unknown_`` words) are placed too, as distractors: they are in
labels.csv, and a detection on them is a false accept.

Keyword clips run out quickly, and measuring one false accept per hour takes hours of audio. So
``negative_minutes`` adds negative streams (``neg_000.wav`` ...) made cheaply from the same
split: long stretches of background noise alternating with stretches of talk, phrases of
`PHRASE_WORDS` non-keyword words (the split's ``_unknown_`` clips, drawn with replacement) said
one after another. Every clip comes from ``split``: with the validation or test split of a pack
split by speaker, no training speaker is heard (``streams.json`` counts the speakers and how many
of them are also in the training split).

    negatives: [background BACKGROUND_S][talk TALK_S: phrase, pause, phrase ...][background] ...
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wavetag import audio as audio_io
from wavetag.config import check_range
from wavetag.data.clips import SILENCE
from wavetag.data.pack import Pack
from wavetag.data.synth.noise import coloured_noise
from wavetag.errors import ConfigError, DataError
from wavetag.jsonfile import read_json

LABELS_FILE = "labels.csv"
MANIFEST_FILE = "streams.json"
FORMAT = "wavetag-streams"
TRIM_THRESHOLD_DB = -40.0  # clip edges more than this far below the loudest 30-ms frame are cut
ACTIVE_RANGE_DB = 20.0  # a clip's level = RMS of its 20-ms frames within this of the loudest
FADE_S = 0.005  # ramps on each noise piece, so joins between recordings do not click
NOISE_PIECE_S = 30.0  # longest stretch taken from one noise recording before switching
PEAK_LIMIT = 0.99  # a stream whose peak exceeds this is scaled down as a whole
BACKGROUND_S = (5.0, 40.0)  # negative streams: a stretch of background noise alone
TALK_S = (5.0, 30.0)  # ... then a stretch of non-keyword phrases
PHRASE_WORDS = (3, 8)  # words in a phrase
WORD_GAP_S = (0.03, 0.25)  # between the words of a phrase
PHRASE_GAP_S = (0.4, 1.5)  # between phrases
LEVEL_CLIPS = 200  # clips whose median level sets a negative stream's noise bed


@dataclass
class Placement:
    label: str
    start_s: float
    end_s: float
    source: str


@dataclass
class Stream:
    """One long recording in memory: ``samples [T]`` at ``sample_rate`` and where the clips are."""

    name: str
    samples: np.ndarray
    sample_rate: int
    placements: list[Placement] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass
class StreamsSummary:
    out_dir: Path
    files: list[str]
    hours: float
    clips: dict[str, int]  # label -> clips placed
    noise: str
    negative_hours: float = 0.0  # of ``hours``, in negative streams (no keyword)
    negative_talk_clips: int = 0  # distinct non-keyword clips their talk is made of
    speakers: int | None = None  # None: the pack names no speakers
    speakers_in_train: int | None = None

    @property
    def labels_csv(self) -> Path:
        return self.out_dir / LABELS_FILE


def make_streams(
    pack,
    *,
    split: str = "test",
    minutes: float = 10.0,
    seed: int = 0,
    gap_s: tuple[float, float] = (1.5, 4.0),
    snr_db: float = 10.0,
    file_minutes: float = 5.0,
    negative_minutes: float = 0.0,
) -> Iterator[Stream]:
    """Yield streams of at most ``file_minutes`` each, ``minutes`` in all (fewer if the split's
    clips run out), built from ``split`` of ``pack`` (a `wavetag.data.Pack`); then
    ``negative_minutes`` of negative streams (background and non-keyword talk, `negative_stream`).
    The keyword streams do not depend on ``negative_minutes``."""
    check_range("minutes", minutes, 1.0 / 60, 100000.0)
    check_range("negative_minutes", negative_minutes, 0.0, 100000.0)
    check_range("file_minutes", file_minutes, 0.1, 1440.0)
    check_range("snr_db", snr_db, -30.0, 100.0)
    gap_lo, gap_hi = (float(g) for g in gap_s)
    if not 0 <= gap_lo <= gap_hi:
        raise ConfigError(f"gap_s = {gap_s!r}; expected (min, max) seconds with 0 <= min <= max")
    if pack.multi_label:
        raise DataError(
            f"{pack.path}: a multi-label pack; streams are built from single-label packs (one event per clip)"
        )
    rng = np.random.default_rng(seed)
    rate = pack.sample_rate
    clips = [int(i) for i in rng.permutation(pack.split_indices(split)) if pack.labels[pack.index.label[i]] != SILENCE]
    if not clips:
        raise DataError(
            f"{pack.path}: the {split} split has no clips to place (besides {SILENCE}); choose another --split"
        )
    bank, segments = pack.noise_bank(), _segments(pack)
    budget = minutes * 60.0
    n = 0
    while clips and budget >= 1.0:
        length_s = min(file_minutes * 60.0, budget)
        stream, placed = _fill(f"stream_{n:03d}", pack, clips, length_s, rng, rate, (gap_lo, gap_hi))
        level = float(np.median([_active_rms(x) for x in placed]))
        _add_noise_bed(stream, level, snr_db, rng, bank, segments)
        budget -= stream.duration_s
        n += 1
        yield stream
    yield from negative_streams(
        pack, split=split, minutes=negative_minutes, seed=seed, snr_db=snr_db, file_minutes=file_minutes
    )


def negative_streams(
    pack, *, split: str, minutes: float, seed: int = 0, snr_db: float = 10.0, file_minutes: float = 5.0
) -> Iterator[Stream]:
    """``minutes`` of streams with no keyword: stretches of background noise (`BACKGROUND_S`)
    alternating with talk (`TALK_S`): phrases of `PHRASE_WORDS` words drawn with replacement from
    the ``split``'s non-keyword clips (labels starting with "_", not ``_silence_``). Without such
    clips the streams are background alone. The noise bed sits ``snr_db`` below the median level
    of the split's clips, as in the keyword streams."""
    rng = np.random.default_rng([seed, 1])  # apart from the keyword streams' generator
    rate = pack.sample_rate
    indices = pack.split_indices(split)
    names = [pack.labels[pack.index.label[i]] for i in indices.tolist()]
    words = [int(i) for i, x in zip(indices.tolist(), names, strict=True) if x.startswith("_") and x != SILENCE]
    others = [int(i) for i, x in zip(indices.tolist(), names, strict=True) if x != SILENCE]
    if not others:
        return
    sample = rng.permutation(others)[:LEVEL_CLIPS]
    level = float(np.median([_active_rms(_trimmed(pack.waveform(int(i)), rate)) for i in sample]))
    bank, segments = pack.noise_bank(), _segments(pack)
    budget, n = minutes * 60.0, 0
    while budget >= 1.0:
        length_s = min(file_minutes * 60.0, budget)
        stream = _negative_fill(f"neg_{n:03d}", pack, words, length_s, rng)
        _add_noise_bed(stream, level, snr_db, rng, bank, segments)
        budget -= stream.duration_s
        n += 1
        yield stream


def _negative_fill(name: str, pack, words: list[int], length_s: float, rng: np.random.Generator) -> Stream:
    """``length_s`` seconds of silence and phrases of ``words`` (pack indices), before the noise bed."""
    rate = pack.sample_rate
    samples = np.zeros(int(round(length_s * rate)), np.float32)
    placements: list[Placement] = []
    t = rng.uniform(*BACKGROUND_S)
    while words and t < length_s:
        talk_end = min(length_s, t + rng.uniform(*TALK_S))
        while t < talk_end:
            for _ in range(int(rng.integers(PHRASE_WORDS[0], PHRASE_WORDS[1] + 1))):
                i = words[int(rng.integers(len(words)))]
                x = _trimmed(pack.waveform(i), rate)
                start = int(round(t * rate))
                if start + len(x) > len(samples):
                    break
                samples[start : start + len(x)] += x
                label = pack.labels[pack.index.label[i]]
                placements.append(Placement(label, start / rate, (start + len(x)) / rate, str(pack.index.path[i])))
                t = (start + len(x)) / rate + rng.uniform(*WORD_GAP_S)
            t += rng.uniform(*PHRASE_GAP_S)
        t += rng.uniform(*BACKGROUND_S)
    return Stream(name, samples, rate, placements)


def build_streams(
    pack,
    out_dir: str | Path,
    *,
    split: str = "test",
    minutes: float = 10.0,
    seed: int = 0,
    gap_s: tuple[float, float] = (1.5, 4.0),
    snr_db: float = 10.0,
    file_minutes: float = 5.0,
    negative_minutes: float = 0.0,
) -> StreamsSummary:
    """Write streams from ``split`` of ``pack`` (a path or `Pack`) to ``out_dir``: WAVs (16-bit,
    the pack's rate), ``labels.csv`` (file, label, start_s, end_s, source) and ``streams.json``;
    ``negative_minutes`` adds negative streams (`negative_streams`)."""
    pack = pack if isinstance(pack, Pack) else Pack.open(pack)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[list[Any]] = []
    files: list[dict[str, Any]] = []
    clips: dict[str, int] = {}
    sources: set[str] = set()
    negative_sources: set[str] = set()
    for stream in make_streams(
        pack,
        split=split,
        minutes=minutes,
        seed=seed,
        gap_s=gap_s,
        snr_db=snr_db,
        file_minutes=file_minutes,
        negative_minutes=negative_minutes,
    ):
        name = f"{stream.name}.wav"
        audio_io.save(out / name, stream.samples, stream.sample_rate)
        files.append({"file": name, "duration_s": round(stream.duration_s, 4), "clips": len(stream.placements)})
        for p in stream.placements:
            rows.append([name, p.label, f"{p.start_s:.4f}", f"{p.end_s:.4f}", p.source])
            clips[p.label] = clips.get(p.label, 0) + 1
            sources.add(p.source)
            if stream.name.startswith("neg_"):
                negative_sources.add(p.source)
    with open(out / LABELS_FILE, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "start_s", "end_s", "source"])
        writer.writerows(rows)
    hours = sum(f["duration_s"] for f in files) / 3600.0
    noise = (
        f"the pack's noise bank ({len(pack.noise_bank()) / pack.sample_rate:.1f} s)"
        if len(pack.noise_bank())
        else "generated pink noise (the pack has no noise bank)"
    )
    manifest = {
        "format": FORMAT,
        "format_version": 1,
        "pack": str(pack.path),
        "pack_checksum": pack.info.get("checksum"),
        "split": split,
        "sample_rate": pack.sample_rate,
        "seed": seed,
        "minutes_asked": minutes,
        "hours": round(hours, 6),
        "gap_s": list(gap_s),
        "snr_db": snr_db,
        "negative_minutes": negative_minutes,
        "negative_hours": round(sum(f["duration_s"] for f in files if f["file"].startswith("neg_")) / 3600.0, 6),
        "negative_talk_clips": len(negative_sources),  # distinct non-keyword clips the negative talk repeats
        **speaker_counts(pack, sources),
        "noise": noise,
        "labels": list(pack.labels),
        "clips": clips,
        "files": files,
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return StreamsSummary(
        out,
        [f["file"] for f in files],
        hours,
        clips,
        noise,
        manifest["negative_hours"],
        manifest["negative_talk_clips"],
        manifest["speakers"],
        manifest["speakers_in_train"],
    )


def speaker_counts(pack, sources: set[str]) -> dict[str, int | None]:
    """``{"speakers": distinct speakers (groups) among the clips whose path is in ``sources``,
    "speakers_in_train": how many of them also speak in the training split}``; both None when
    the pack names no speaker for these clips."""
    path, group = pack.index.path.astype(str), pack.index.group.astype(str)
    heard = {g for p, g in zip(path.tolist(), group.tolist(), strict=True) if p in sources and g}
    if not heard:
        return {"speakers": None, "speakers_in_train": None}
    train = set(group[pack.split_indices("train")].tolist())
    return {"speakers": len(heard), "speakers_in_train": len(heard & train)}


def read_streams(streams_dir: str | Path) -> tuple[dict[str, Any], dict[str, list[Placement]]]:
    """``(streams.json, {file: [Placement]})`` of a folder written by `build_streams`."""
    root = Path(streams_dir)
    manifest_path, labels_path = root / MANIFEST_FILE, root / LABELS_FILE
    for path in (manifest_path, labels_path):
        if not path.is_file():
            raise DataError(
                f"{path}: missing; {root} is not a streams folder (make one with 'wavetag streams PACK -o {root}')"
            )
    manifest = read_json(manifest_path, error=DataError, advice="rebuild the streams with 'wavetag streams'")
    truth: dict[str, list[Placement]] = {f["file"]: [] for f in manifest.get("files", [])}
    with open(labels_path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"file", "label", "start_s", "end_s"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{labels_path}: columns {sorted(missing)} missing; expected file,label,start_s,end_s")
        for line, row in enumerate(reader, start=2):
            try:
                p = Placement(row["label"], float(row["start_s"]), float(row["end_s"]), row.get("source") or "")
            except ValueError:
                raise DataError(
                    f"{labels_path}, line {line}: start_s/end_s {row['start_s']!r}/{row['end_s']!r} are not numbers"
                ) from None
            truth.setdefault(row["file"], []).append(p)
    for name in truth:
        if not (root / name).is_file():
            raise DataError(
                f"{root / name}: listed in {LABELS_FILE} but missing; rebuild the streams with 'wavetag streams'"
            )
    return manifest, truth


# ---------------------------------------------------------------------------- building blocks


def _fill(
    name: str, pack, clips: list[int], length_s: float, rng: np.random.Generator, rate: int, gap_s: tuple[float, float]
) -> tuple[Stream, list[np.ndarray]]:
    """Clips taken from the front of ``clips`` (consumed) until the next would not fit, placed
    on silence; returns the stream and the placed clips' samples."""
    placed: list[tuple[int, np.ndarray, Placement]] = []
    t = rng.uniform(*gap_s)
    while clips:
        x = _trimmed(pack.waveform(clips[0]), rate)
        if placed and t + len(x) / rate + gap_s[0] > length_s:
            break
        i = clips.pop(0)
        start = int(round(t * rate))
        placed.append(
            (
                start,
                x,
                Placement(
                    pack.labels[pack.index.label[i]], start / rate, (start + len(x)) / rate, str(pack.index.path[i])
                ),
            )
        )
        t = (start + len(x)) / rate + rng.uniform(*gap_s)
    total = int(round((length_s if clips else t) * rate))
    total = max(total, max(s + len(x) for s, x, _ in placed))
    samples = np.zeros(total, np.float32)
    for start, x, _ in placed:
        samples[start : start + len(x)] += x
    return Stream(name, samples, rate, [p for _, _, p in placed]), [x for _, x, _ in placed]


def _trimmed(x: np.ndarray, rate: int) -> np.ndarray:
    """The clip without leading/trailing near-silence (energy rule), so labels.csv times are tight."""
    return audio_io.trim_silence(x, rate, method="energy", threshold_db=TRIM_THRESHOLD_DB, pad_s=0.0)


def _active_rms(x: np.ndarray, frame: int = 160) -> float:
    n = max(1, len(x) // frame)
    frames = (
        np.resize(x.astype(np.float64), n * frame).reshape(n, frame)
        if len(x) >= frame
        else x[None, :].astype(np.float64)
    )
    power = np.mean(frames**2, axis=1)
    keep = power >= power.max() * 10 ** (-ACTIVE_RANGE_DB / 10)
    return float(np.sqrt(np.mean(power[keep]))) if power.max() > 0 else 0.0


def _segments(pack) -> list[tuple[int, int]]:
    """``(offset, length)`` of each noise recording in the pack's bank (one, if not listed)."""
    files = pack.noise_files()
    if files:
        return [(int(f["offset"]), int(f["length"])) for f in files if int(f["length"]) > 0]
    n = len(pack.noise_bank())
    return [(0, n)] if n else []


def _noise_bed(
    n: int, rate: int, rng: np.random.Generator, bank: np.ndarray, segments: list[tuple[int, int]]
) -> np.ndarray:
    """``n`` samples of noise at RMS 1: pieces of the bank's recordings (each scaled to RMS 1,
    with short ramps at the joins), or pink noise when the bank is empty or silent."""
    if not segments:
        return coloured_noise(n, exponent=-1.0, rng=rng, sample_rate=rate)
    out = np.zeros(n, np.float32)
    fade = max(1, int(FADE_S * rate))
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    at = 0
    while at < n:
        offset, length = segments[int(rng.integers(len(segments)))]
        take = min(n - at, length, int(NOISE_PIECE_S * rate))
        begin = offset + int(rng.integers(0, length - take + 1))
        piece = bank[begin : begin + take].astype(np.float32)
        rms = float(np.sqrt(np.mean(piece.astype(np.float64) ** 2)))
        piece = piece / rms if rms > 1e-6 else coloured_noise(take, exponent=-1.0, rng=rng, sample_rate=rate)
        if take > 2 * fade:
            piece[:fade] *= ramp
            piece[-fade:] *= ramp[::-1]
        out[at : at + take] = piece
        at += take
    return out


def _add_noise_bed(stream: Stream, level: float, snr_db: float, rng, bank, segments) -> None:
    """Add the background bed ``snr_db`` below ``level`` (RMS) to ``stream`` in place, then scale
    the stream down if its peak passes `PEAK_LIMIT`."""
    noise = _noise_bed(len(stream.samples), stream.sample_rate, rng, bank, segments)
    stream.samples += noise * np.float32(level / 10 ** (snr_db / 20))
    peak = float(np.max(np.abs(stream.samples)))
    if peak > PEAK_LIMIT:
        stream.samples *= np.float32(PEAK_LIMIT / peak)
