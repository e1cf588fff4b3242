"""Talk windows: training clips placed in running speech, the way a stream detector hears them.

A keyword model trained on isolated, centred words meets other windows in a stream: the end of
one word and the start of the next, two or three short words at once, a keyword with its
neighbours. Its false accepts come from such windows. `TalkWindows` rewrites a share of every
training batch into them, built from the training split's own clips (no other speaker is heard),
before the waveform augmentations (rooms, noise, microphones) are applied on top::

    non-keyword row (p_unknown):  [w1] gap [w2] gap ... [wn]   n in [min_words, max_words]; the
                                  row's own clip is one of the words, the others are drawn from
                                  the split's non-keyword clips
        --a window of T samples at a uniform offset (zero-filled where the phrase is shorter)-->
        label unchanged (e.g. _unknown_)
    keyword row (p_keyword):      [w] gap [KEYWORD] gap [w]
        --a window of T samples that holds the whole keyword, at a uniform offset--> label unchanged

Words are the clips' active parts (`wavetag.audio.active_span`, the energy rule at -40 dB that
``wavetag streams`` trims with), gaps are drawn from ``[min_gap_s, max_gap_s]`` (the gaps of the
streams' phrases). Non-keyword classes are the labels that start with ``_`` other than
``_silence_``; ``_silence_`` rows are left alone. Draws come from a generator seeded per step,
so a resumed run replays them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from wavetag.audio import active_span
from wavetag.config import check_min_max, check_range, check_types
from wavetag.data.clips import SILENCE
from wavetag.data.pack import Pack
from wavetag.errors import ConfigError

TRIM_THRESHOLD_DB = -40.0  # as `wavetag.inference.streams` trims the words of its phrases


@dataclass
class TalkConfig:
    """``p_unknown``: share of non-keyword clips (``_unknown_`` ...) turned into a window of a
    phrase of ``min_words``..``max_words`` words; ``p_keyword``: share of keyword clips placed
    between two non-keyword words; gaps between words in ``[min_gap_s, max_gap_s]``. Both p = 0
    (the default) turn it off."""

    p_unknown: float = 0.0
    p_keyword: float = 0.0
    min_words: int = 2
    max_words: int = 4
    min_gap_s: float = 0.03
    max_gap_s: float = 0.25

    @property
    def active(self) -> bool:
        return self.p_unknown > 0 or self.p_keyword > 0

    def validate(self) -> None:
        check_types(TalkConfig, self, where="talk")
        check_range("talk.p_unknown", self.p_unknown, 0.0, 1.0)
        check_range("talk.p_keyword", self.p_keyword, 0.0, 1.0)
        check_range("talk.min_words", self.min_words, 1, 20)
        check_range("talk.max_words", self.max_words, 1, 20)
        check_range("talk.min_gap_s", self.min_gap_s, 0.0, 5.0)
        check_range("talk.max_gap_s", self.max_gap_s, 0.0, 5.0)
        check_min_max("talk.min_words", self.min_words, "talk.max_words", self.max_words)
        check_min_max("talk.min_gap_s", self.min_gap_s, "talk.max_gap_s", self.max_gap_s)


class TalkWindows:
    """``talk(batch, rng) -> batch`` with a share of its rows rewritten as windows of running speech
    (see the module docstring). ``words``: the pack indices phrases are drawn from (the training
    split's non-keyword clips)."""

    def __init__(self, config: TalkConfig, pack: Pack, train_indices: np.ndarray) -> None:
        config.validate()
        self.config = config
        self.pack = pack
        self.rate = pack.sample_rate
        if config.active and pack.multi_label:
            raise ConfigError(
                f"talk.p_unknown / talk.p_keyword are set but {pack.path} is multi-label; talk windows are for "
                "single-label keyword packs (set both to 0)"
            )
        labels = list(pack.labels)
        self.background = np.array([x.startswith("_") for x in labels], dtype=bool)
        self.word_class = np.array([x.startswith("_") and x != SILENCE for x in labels], dtype=bool)
        train = np.asarray(train_indices, dtype=np.int64)
        self.words = train[self.word_class[pack.index.label[train]]] if not pack.multi_label else train[:0]
        if config.active and len(self.words) == 0:
            raise ConfigError(
                f"talk windows need non-keyword clips (a class such as _unknown_) in the train split of {pack.path}; "
                "it has none: prepare the pack with --unknown-share > 0, or set talk.p_unknown and talk.p_keyword to 0"
            )
        self._spans: dict[int, tuple[int, int]] = {}

    @property
    def active(self) -> bool:
        return self.config.active

    def word(self, i: int) -> np.ndarray:
        """Clip ``i``'s active part, float32 ``[n]`` (the span is computed once per clip)."""
        clip = self.pack.waveform(i)
        span = self._spans.get(i)
        if span is None:
            span = self._spans[i] = active_span(clip, self.rate, threshold_db=TRIM_THRESHOLD_DB)
        return clip[span[0] : span[1]]

    def __call__(self, batch, rng: np.random.Generator):
        """``batch`` (a `wavetag.data.dataset.Batch`, wav ``[B, 1, T]``) with rows rewritten in place."""
        if not self.active:
            return batch
        cfg = self.config
        labels = batch.target.numpy()
        draws = rng.random(len(labels))
        num_samples = batch.wav.shape[-1]
        for row, (i, label) in enumerate(zip(batch.index.tolist(), labels.tolist(), strict=True)):
            if self.word_class[label]:
                if draws[row] >= cfg.p_unknown:
                    continue
                n = int(rng.integers(cfg.min_words, cfg.max_words + 1))
                ids = [int(w) for w in rng.choice(self.words, size=n)]
                ids[int(rng.integers(n))] = i
                window = self._phrase_window(ids, None, num_samples, rng)
            elif not self.background[label]:
                if draws[row] >= cfg.p_keyword:
                    continue
                left, right = (int(w) for w in rng.choice(self.words, size=2))
                window = self._phrase_window([left, i, right], 1, num_samples, rng)
            else:
                continue
            if window is not None:
                batch.wav[row, 0] = torch.from_numpy(window)
                batch.length[row] = num_samples
        return batch

    def _phrase_window(
        self, ids: list[int], keep: int | None, num_samples: int, rng: np.random.Generator
    ) -> np.ndarray | None:
        """``num_samples`` of the phrase of words ``ids``, at a uniform offset; with ``keep``, only
        offsets that hold word ``keep`` whole (None when that word is longer than the window)."""
        cfg = self.config
        pieces, spans, t = [], [], 0
        for k, i in enumerate(ids):
            if k:
                gap = int(round(rng.uniform(cfg.min_gap_s, cfg.max_gap_s) * self.rate))
                pieces.append(np.zeros(gap, np.float32))
                t += gap
            x = self.word(i)
            pieces.append(x)
            spans.append((t, t + len(x)))
            t += len(x)
        phrase = np.concatenate(pieces)
        if keep is None:
            lo, hi = min(0, len(phrase) - num_samples), max(0, len(phrase) - num_samples)
        else:
            a, b = spans[keep]
            if b - a > num_samples:
                return None
            lo, hi = b - num_samples, a  # the window [s, s + T) holds [a, b)
        start = int(rng.integers(lo, hi + 1))
        return _cut(phrase, start, num_samples)


def _cut(x: np.ndarray, start: int, n: int) -> np.ndarray:
    """``x[start : start + n]``, zero-filled where that range leaves ``x`` (``start`` may be < 0)."""
    out = np.zeros(n, np.float32)
    a, b = max(0, start), min(len(x), start + n)
    if b > a:
        out[a - start : b - start] = x[a:b]
    return out
