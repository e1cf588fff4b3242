"""`StreamingDetector`: the events of `wavetag.inference.detector.detect`, computed as audio arrives.

    det = StreamingDetector(predictor)            # settings as detect(): arguments > config.json > defaults
    for chunk in chunks:                           # float32 [n] at predictor.sample_rate, any n
        for event in det.push(chunk): ...          # events as soon as they are final
    for event in det.flush(): ...                  # end of stream: the zero-padded last windows

State carried between calls: the samples not yet consumed by a window (under one window), the
engine's STFT frames (`wavetag.inference.incremental`), the running sum that gives the causal
moving average, and each class's open run and last event. Every window is computed once, when
the audio completing it arrives, so the work per call follows the new audio, not the chunk size.

Same events as offline ``detect`` on the same samples: the windows, the smoothing (the same
float64 running sum), the run/refractory rules and the times are the same; the posteriors equal
the offline ones up to float rounding. An event is handed out when nothing later can change it:
its run has ended and ``refractory_s`` has passed since it fired (a run starting sooner would
extend it), so it arrives at most ``refractory_s`` + the run's length after ``fired_s``.
``fired_s`` itself is when the live detector knew; `StreamingDetector.take_fired` hands out each
event at that moment, before it is final.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from wavetag import audio as audio_io
from wavetag.errors import ConfigError
from wavetag.inference.detector import BLOCK_S, DetectionSettings, Event, _check_length, resolve_settings
from wavetag.inference.incremental import Engine


@dataclass
class _Run:
    """One class's current run of frames at or above its threshold."""

    value_s: float  # value time of its first frame
    fired_s: float
    score: float
    merges: bool  # within refractory_s of the pending event: extends it instead of firing


class _ClassState:
    def __init__(self, label: str, threshold: float) -> None:
        self.label = label
        self.threshold = np.float32(threshold)  # compared in float32, as numpy compares offline
        self.run: _Run | None = None
        self.last_value_s = 0.0  # value time of the run's latest frame
        self.pending: Event | None = None  # the last event, still extendable


class StreamingDetector:
    """Incremental `detect` over a live stream; see the module docstring.

    ``predictor``: a loaded `Predictor`; settings as `detect`; ``batch_size``: most windows per
    forward pass when a chunk completes many; ``incremental=False`` runs every window through the
    predictor whole (the reference path). Not thread-safe: one detector per stream.
    """

    def __init__(
        self,
        predictor,
        *,
        hop_s: float | None = None,
        smooth_s: float | None = None,
        thresholds: dict[str, float] | float | None = None,
        refractory_s: float | None = None,
        batch_size: int = 64,
        incremental: bool = True,
    ) -> None:
        self.predictor = predictor
        self.settings: DetectionSettings = resolve_settings(
            predictor, hop_s=hop_s, smooth_s=smooth_s, thresholds=thresholds, refractory_s=refractory_s
        )
        self.rate, self.window = predictor.sample_rate, predictor.window
        self.hop = predictor._hop_samples(self.settings.hop_s)
        self.window_s, self.hop_s = self.window / self.rate, self.hop / self.rate
        self.frames = self.settings.smooth_frames()
        self.batch_size = max(1, int(batch_size))
        self.engine = Engine(predictor, hop=self.hop, incremental=incremental)
        predictor.logits(np.zeros((1, self.window), np.float32))  # warm-up (first calls are slow), not timed
        self.classes = [
            (k, _ClassState(label, self.settings.thresholds[label]))
            for k, label in enumerate(predictor.labels)
            if label in self.settings.thresholds
        ]
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0  # stream index of _buf[0]
        self.total = 0  # samples received
        self.windows = 0  # windows done (the next starts at windows * hop)
        self._sums: deque[np.ndarray] = deque([np.zeros(len(predictor.labels))], maxlen=self.frames + 1)
        self.cpu_s = 0.0  # process CPU time spent in push/flush
        self.closed = False
        self._duration_s: float | None = None  # set by flush
        self._fired: list[Event] = []

    # ------------------------------------------------------------------ input

    def push(self, samples: np.ndarray) -> list[Event]:
        """Add mono float32 samples at the model's rate; returns the events that became final."""
        if self.closed:
            raise ConfigError("this stream was flushed; start a new StreamingDetector for new audio")
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not x.size:
            return []
        t0 = time.process_time()
        self._buf = np.concatenate([self._buf, x])
        self.total += len(x)
        ready = (self.total - self.window) // self.hop + 1 - self.windows if self.total >= self.window else 0
        events: list[Event] = []
        while ready > 0:
            n = min(ready, self.batch_size)
            starts = [(self.windows + i) * self.hop for i in range(n)]
            logits = self.engine.logits(self._buf, self._buf_start, starts)
            events += self._frames(self.predictor.probabilities(logits))
            ready -= n
        drop = self.engine.keep_from(self.windows * self.hop) - self._buf_start
        if drop > 0:
            self._buf, self._buf_start = self._buf[drop:], self._buf_start + drop
        self.cpu_s += time.process_time() - t0
        return events

    def flush(self) -> list[Event]:
        """End of stream: the windows offline ``detect`` zero-pads at the end, then every open run
        and pending event. A stream shorter than one window gives no events (``detect`` refuses
        such a recording)."""
        if self.closed:
            return []
        self.closed = True
        t0 = time.process_time()
        events: list[Event] = []
        self._duration_s = self.total / self.rate
        if self.total >= self.window:
            count = 1 + math.ceil((self.total - self.window) / self.hop)
            starts = [k * self.hop for k in range(self.windows, count)]
            if starts:
                padded = np.pad(self._buf, (0, self.window))
                wins = np.stack([padded[s - self._buf_start : s - self._buf_start + self.window] for s in starts])
                probs = self.predictor.probabilities(self.predictor.logits(wins))
                events += self._frames(probs)
            for _, c in self.classes:
                self._close_run(c)
                if c.pending is not None:
                    events.append(c.pending)
                    c.pending = None
        self.cpu_s += time.process_time() - t0
        return events

    def take_fired(self) -> list[Event]:
        """Events that *fired* since the last call, at once (not yet final: ``end_s`` and ``score``
        are as known at ``fired_s``; the final event follows from `push`/`flush`). For live
        displays that cannot wait ``refractory_s``."""
        out, self._fired = self._fired, []
        return out

    @property
    def audio_s(self) -> float:
        return self.total / self.rate

    @property
    def real_time_factor(self) -> float:
        """CPU time spent / audio duration so far (process CPU time: all threads)."""
        return self.cpu_s / self.audio_s if self.total else 0.0

    # ------------------------------------------------------------------ events

    def _frames(self, probs: np.ndarray) -> list[Event]:
        """Smooth ``probs [n, K]`` of the next windows and advance every class; final events."""
        duration_s = self._duration_s
        events: list[Event] = []
        for p in probs:
            i = self.windows
            self.windows += 1
            if self.frames <= 1:
                value = p
            else:
                self._sums.append(self._sums[-1] + p.astype(np.float64))  # offline: one float64 cumsum
                lo = max(0, i + 1 - self.frames)
                value = ((self._sums[-1] - self._sums[0]) / (i + 1 - lo)).astype(np.float32)
            start_s = i * self.hop / self.rate
            value_s = start_s + self.window_s / 2 - min(i, self.frames - 1) * self.hop_s / 2
            fired_s = start_s + self.window_s
            if duration_s is not None:
                fired_s = min(fired_s, duration_s)
            for k, c in self.classes:
                events += self._advance(c, value[k], value_s, fired_s)
            events += self._release(self._next_fired_s(duration_s))
        return events

    def _advance(self, c: _ClassState, v: np.float32, value_s: float, fired_s: float) -> list[Event]:
        out: list[Event] = []
        if v >= c.threshold:
            v = float(v)
            if c.run is None:
                merges = c.pending is not None and fired_s - c.pending.fired_s < self.settings.refractory_s
                if c.pending is not None and not merges:
                    out.append(c.pending)
                    c.pending = None
                c.run = _Run(value_s, fired_s, v, merges)
                if not merges:
                    self._fired.append(Event(c.label, max(0.0, value_s - self.hop_s / 2), value_s, v, fired_s))
            else:
                c.run.score = max(c.run.score, v)
            c.last_value_s = value_s
        elif c.run is not None:
            self._close_run(c)
        return out

    def _close_run(self, c: _ClassState) -> None:
        run, c.run = c.run, None
        if run is None:
            return
        half = self.hop_s / 2
        start, end = max(0.0, run.value_s - half), c.last_value_s + half
        if self._duration_s is not None:  # only known at the end; earlier, end < the audio so far
            end = min(self._duration_s, end)
        if run.merges and c.pending is not None:
            c.pending.end_s, c.pending.score = max(c.pending.end_s, end), max(c.pending.score, run.score)
        else:
            c.pending = Event(c.label, start, end, run.score, run.fired_s)

    def _next_fired_s(self, duration_s: float | None) -> float:
        """A lower bound of the fired time of any later frame."""
        start_s = self.windows * self.hop / self.rate
        if duration_s is not None:
            return min(start_s + self.window_s, duration_s)
        return min(start_s + self.window_s, self.total / self.rate)

    def _release(self, next_fired_s: float) -> list[Event]:
        out = []
        for _, c in self.classes:
            if c.run is None and c.pending is not None:
                if next_fired_s - c.pending.fired_s >= self.settings.refractory_s:
                    out.append(c.pending)
                    c.pending = None
        return out


def detect_file(
    predictor,
    path: str | os.PathLike,
    *,
    block_s: float = BLOCK_S,
    batch_size: int = 64,
    **settings,
) -> tuple[list[Event], StreamingDetector]:
    """`detect` on a file through a `StreamingDetector`, fed ``block_s`` of decoded audio at a time
    (decoded and resampled as offline ``detect`` decodes it). Returns the events sorted by start, as
    `detect` does, and the detector (its ``real_time_factor``, ``engine``). Raises `AudioError`
    for a recording shorter than one window, as `detect` does."""
    rate = predictor.sample_rate
    total = int(round(audio_io.info(path).duration_s * rate))
    _check_length(str(path), total, predictor)
    detector = StreamingDetector(predictor, batch_size=batch_size, **settings)
    block = max(1, int(round(block_s * rate)))
    events: list[Event] = []
    for first in range(0, total, block):
        want = min(block, total - first)
        x, _ = audio_io.load(path, sample_rate=rate, start_s=first / rate, duration_s=want / rate)
        events += detector.push(x[:want])
        if len(x) < want:  # a truncated file (its header promises more): the audio ends here
            break
    events += detector.flush()
    return sorted(events, key=lambda e: (e.start_s, e.label)), detector
