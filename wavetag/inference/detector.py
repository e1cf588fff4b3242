"""Streaming event (keyword) detection over a long recording.

    audio --a window of the model's length every hop_s--> posteriors [N, K]
      --causal moving average over smooth_s--> smoothed [N, K]
      --per reported class: runs of frames at or above its threshold--> events
      --refractory: a run that starts within refractory_s of the class's last firing extends
        that event instead of firing again--> [Event] sorted by start

Every decision uses only the past (the smoothing is causal), so the same rules run live. Times:

- ``fired_s``: when a live detector would fire: the end of the window whose smoothed posterior
  first reached the threshold (latency = ``fired_s`` - the true start of the keyword).
- ``start_s``/``end_s``: the span of the run, each smoothed value placed at the mean centre of
  the windows it averages, widened by half a hop on each side. For an event as long as the window
  this recovers the event itself; shorter events come out a little wider.

Background classes (names starting with "_", and a binary model's negative class) are never
reported. For a binary detector, `on_off_segments` turns its events into a timeline of
alternating positive / negative segments covering the whole recording (``detect --timeline``).
Settings left ``None`` come from the ``detection`` block of the model's config.json (written by
`wavetag.inference.thresholds.save_detection`), else the defaults below.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wavetag import audio as audio_io
from wavetag.config import check_range
from wavetag.errors import AudioError, CheckpointError, ConfigError
from wavetag.inference.inputs import AudioInput, to_waveform
from wavetag.inference.windows import cut_window, window_starts
from wavetag.registry import unknown_name_message

DEFAULT_HOP_S = 0.1  # a posterior every 100 ms
DEFAULT_SMOOTH_S = 0.3  # moving average over 3 posteriors at the default hop
DEFAULT_THRESHOLD = 0.5  # per class, when the model directory holds no tuned thresholds
BLOCK_S = 60.0  # long files are decoded this many seconds at a time


@dataclass
class Event:
    """A detected event: class, span in the recording (seconds), peak smoothed posterior, and the
    time a live detector would have fired."""

    label: str
    start_s: float
    end_s: float
    score: float
    fired_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "label": self.label,
            "start_s": round(self.start_s, 4),
            "end_s": round(self.end_s, 4),
            "score": self.score,
        }
        if self.fired_s is not None:
            out["fired_s"] = round(self.fired_s, 4)
        return out


@dataclass(frozen=True)
class DetectionSettings:
    """Resolved detection settings: seconds, and a threshold per reported class."""

    hop_s: float
    smooth_s: float
    refractory_s: float
    thresholds: dict[str, float] = field(default_factory=dict)

    def smooth_frames(self) -> int:
        return max(1, int(round(self.smooth_s / self.hop_s)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "hop_s": self.hop_s,
            "smooth_s": self.smooth_s,
            "refractory_s": self.refractory_s,
            "thresholds": dict(self.thresholds),
        }


@dataclass
class Posteriors:
    """Per-window class probabilities over a recording: ``probs [N, K]``, window ``i`` starting at
    ``start_s[i]`` seconds; ``duration_s`` of the recording."""

    start_s: np.ndarray
    probs: np.ndarray
    window_s: float
    hop_s: float
    duration_s: float
    source: str


def resolve_settings(
    predictor,
    *,
    hop_s: float | None = None,
    smooth_s: float | None = None,
    thresholds: dict[str, float] | float | None = None,
    refractory_s: float | None = None,
) -> DetectionSettings:
    """Arguments > the model's stored ``detection`` block > defaults (refractory: one window)."""
    stored = predictor.config.get("detection") or {}
    where = f"{predictor.model_dir / 'config.json' if predictor.model_dir else 'config'}: field 'detection'"
    if not isinstance(stored, dict):
        raise CheckpointError(f"{where} is {type(stored).__name__}, expected an object")
    hop = _first(hop_s, stored.get("hop_s"), DEFAULT_HOP_S)
    smooth = _first(smooth_s, stored.get("smooth_s"), DEFAULT_SMOOTH_S)
    refractory = _first(refractory_s, stored.get("refractory_s"), predictor.window_s)
    check_range("hop_s", hop, 1.0 / predictor.sample_rate, predictor.window_s)  # larger hops would skip audio
    check_range("smooth_s", smooth, 0.0, 60.0)
    check_range("refractory_s", refractory, 0.0, 3600.0)
    targets = [x for x in predictor.labels if x not in predictor.background_labels]
    values = {label: DEFAULT_THRESHOLD for label in targets}
    values.update(
        _checked_thresholds(stored.get("thresholds") or {}, predictor, where=f"{where}.thresholds", stored=True)
    )
    if isinstance(thresholds, (int, float)) and not isinstance(thresholds, bool):
        values = {label: float(thresholds) for label in targets}
    elif thresholds:
        values.update(_checked_thresholds(thresholds, predictor, where="thresholds", stored=False))
    for label, value in values.items():
        check_range(f"threshold of {label!r}", value, 1e-6, 1.0)
    return DetectionSettings(float(hop), float(smooth), float(refractory), values)


def _first(*values):
    return next(float(v) for v in values if v is not None)


def _checked_thresholds(values: Any, predictor, *, where: str, stored: bool) -> dict[str, float]:
    if not isinstance(values, dict):
        raise (CheckpointError if stored else ConfigError)(
            f"{where}: expected a mapping of label to threshold, got {values!r}"
        )
    out = {}
    for label, value in values.items():
        if label not in predictor.labels:
            message = unknown_name_message(f"label in {where}", str(label), list(predictor.labels))
            raise (CheckpointError if stored else ConfigError)(message)
        if label in predictor.background_labels:
            if stored:
                continue
            raise ConfigError(
                f"{where}: {label!r} is a background class, never reported as an event; set thresholds "
                f"of {', '.join(x for x in predictor.labels if x not in predictor.background_labels)}"
            )
        try:
            out[label] = float(value)
        except (TypeError, ValueError):
            raise (CheckpointError if stored else ConfigError)(
                f"{where}: threshold of {label!r} is {value!r}, expected a number in (0, 1]"
            ) from None
    return out


# ---------------------------------------------------------------------------- posteriors


def stream_posteriors(
    predictor,
    audio: AudioInput,
    *,
    sample_rate: int | None = None,
    hop_s: float = DEFAULT_HOP_S,
    batch_size: int = 64,
    name: str | None = None,
) -> Posteriors:
    """Class probabilities of a window every ``hop_s`` over ``audio`` (a file is decoded
    `BLOCK_S` at a time, so memory stays bounded however long it is).

    Raises `AudioError` when the recording is shorter than one window.
    """
    hop = predictor._hop_samples(hop_s)
    rate, window = predictor.sample_rate, predictor.window
    if isinstance(audio, (str, os.PathLike)):
        source = name or str(audio)
        total = int(round(audio_io.info(audio).duration_s * rate))
        _check_length(source, total, predictor)
        windows: Iterator[np.ndarray] = (
            w
            for _, w in audio_io.iter_windows(
                audio,
                window_s=window / rate,
                hop_s=hop / rate,
                sample_rate=rate,
                block_s=max(BLOCK_S, 4 * window / rate),
            )
        )
    else:
        item = (audio, sample_rate) if isinstance(audio, np.ndarray) else audio
        wav = to_waveform(item, sample_rate=None, target_rate=rate, name=name)
        source, total = wav.source, len(wav.samples)
        _check_length(source, total, predictor)
        starts = window_starts(total, window, hop).tolist()
        windows = (cut_window(wav.samples, s, window) for s in starts)  # the last one zero-padded
    count = len(window_starts(total, window, hop))
    probs = np.zeros((count, len(predictor.labels)), np.float32)
    done = 0
    batch: list[np.ndarray] = []
    for w in windows:
        batch.append(w)
        if len(batch) == batch_size:
            probs[done : done + len(batch)] = predictor.probabilities(predictor.logits(np.stack(batch)))
            done, batch = done + len(batch), []
    if batch:
        probs[done : done + len(batch)] = predictor.probabilities(predictor.logits(np.stack(batch)))
        done += len(batch)
    starts = np.arange(done) * hop / rate
    return Posteriors(starts, probs[:done], window / rate, hop / rate, total / rate, source)


def _check_length(source: str, total: int, predictor) -> None:
    if total < predictor.window:
        raise AudioError(
            f"{source}: {total / predictor.sample_rate:.3f} s long, shorter than the model's window of "
            f"{predictor.window_s:g} s; detection needs at least one full window (use 'wavetag predict' for short "
            "clips)"
        )


# ---------------------------------------------------------------------------- events


def smooth_posteriors(probs: np.ndarray, frames: int) -> np.ndarray:
    """Causal moving average of ``probs [N, K]`` over ``frames`` rows (fewer at the start)."""
    if frames <= 1:
        return probs
    c = np.concatenate([np.zeros((1, probs.shape[1])), np.cumsum(probs, axis=0, dtype=np.float64)])
    i = np.arange(1, len(probs) + 1)
    lo = np.maximum(0, i - frames)
    return ((c[i] - c[lo]) / (i - lo)[:, None]).astype(np.float32)


def frame_times(post: Posteriors, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """``(value_s, fired_s)`` per frame: the time each smoothed value describes (mean centre of
    the windows averaged) and the time it is known (end of the newest window)."""
    i = np.arange(len(post.start_s))
    value_s = post.start_s + post.window_s / 2 - np.minimum(i, frames - 1) * post.hop_s / 2
    fired_s = np.minimum(post.start_s + post.window_s, post.duration_s)
    return value_s, fired_s


def class_events(
    values: np.ndarray,
    value_s: np.ndarray,
    fired_s: np.ndarray,
    *,
    label: str,
    threshold: float,
    refractory_s: float,
    hop_s: float,
    duration_s: float,
) -> list[Event]:
    """Events of one class from its smoothed posterior ``values [N]``."""
    above = np.concatenate([[False], values >= threshold, [False]]).astype(np.int8)
    edges = np.diff(above)
    events: list[Event] = []
    for a, b in zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist(), strict=False):
        score = float(values[a : b + 1].max())
        start, end = max(0.0, float(value_s[a]) - hop_s / 2), min(duration_s, float(value_s[b]) + hop_s / 2)
        last = events[-1] if events else None
        if last is not None and float(fired_s[a]) - last.fired_s < refractory_s:
            last.end_s, last.score = max(last.end_s, end), max(last.score, score)
            continue
        events.append(Event(label, start, end, score, float(fired_s[a])))
    return events


def find_events(post: Posteriors, settings: DetectionSettings, labels: list[str]) -> list[Event]:
    """Events of every class in ``settings.thresholds`` (the reported classes), sorted by start."""
    frames = settings.smooth_frames()
    smoothed = smooth_posteriors(post.probs, frames)
    value_s, fired_s = frame_times(post, frames)
    events: list[Event] = []
    for k, label in enumerate(labels):
        if label in settings.thresholds:
            events += class_events(
                smoothed[:, k],
                value_s,
                fired_s,
                label=label,
                threshold=settings.thresholds[label],
                refractory_s=settings.refractory_s,
                hop_s=post.hop_s,
                duration_s=post.duration_s,
            )
    return sorted(events, key=lambda e: (e.start_s, e.label))


@dataclass
class Segment:
    """A stretch of a recording and the state of a binary detector over it."""

    label: str
    start_s: float
    end_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "start_s": round(self.start_s, 4), "end_s": round(self.end_s, 4)}


def on_off_segments(
    events: list[Event], duration_s: float, *, on_label: str, off_label: str, min_gap_s: float = 0.0
) -> list[Segment]:
    """A binary detector's timeline: the whole of ``[0, duration_s]`` as alternating segments,
    ``on_label`` where an event of it runs (overlapping or touching events, and those less than
    ``min_gap_s`` apart, merged) and ``off_label`` in between. No zero-length segments."""
    spans: list[list[float]] = []
    for e in sorted((e for e in events if e.label == on_label), key=lambda e: e.start_s):
        start, end = max(0.0, e.start_s), min(duration_s, e.end_s)
        if spans and start - spans[-1][1] <= min_gap_s:
            spans[-1][1] = max(spans[-1][1], end)
        elif end > start:
            spans.append([start, end])
    out: list[Segment] = []
    t = 0.0
    for start, end in spans:
        if start > t:
            out.append(Segment(off_label, t, start))
        out.append(Segment(on_label, start, end))
        t = end
    if duration_s > t:
        out.append(Segment(off_label, t, duration_s))
    return out


def detect(
    predictor,
    audio: AudioInput,
    *,
    sample_rate: int | None = None,
    hop_s: float | None = None,
    smooth_s: float | None = None,
    thresholds: dict[str, float] | float | None = None,
    refractory_s: float | None = None,
    batch_size: int = 64,
    name: str | None = None,
) -> list[Event]:
    """Events in ``audio`` (a path, bytes, or an array with ``sample_rate``).

    ``thresholds``: ``{label: value}`` overriding the stored ones, or one number for every class.
    """
    settings = resolve_settings(
        predictor, hop_s=hop_s, smooth_s=smooth_s, thresholds=thresholds, refractory_s=refractory_s
    )
    post = stream_posteriors(
        predictor, audio, sample_rate=sample_rate, hop_s=settings.hop_s, batch_size=batch_size, name=name
    )
    return find_events(post, settings, predictor.labels)
