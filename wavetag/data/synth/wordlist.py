"""Non-keyword words for the ``_unknown_`` class, from a word-frequency list (the `wordfreq` package).

"Not a keyword" is learned from variety: a model that only ever heard twenty other words calls
many a new word a keyword. `other_words` takes the most frequent English words (wordfreq's
``top_n_list``), keeps plain lower-case words of 2-12 letters, and leaves out every word whose
espeak-ng reading (in US and British English) equals a target word's (``know`` for "no",
``write`` for "right"), since a clip of it would be a keyword with the wrong label.

Each word gets a fixed split by the Speech Commands hash rule applied to the word itself
(`word_split`), and each synthetic speaker says only words of its own split: the words of the
test speakers are then never heard in training, so the test split measures how often a model
calls a *new* word a keyword.

`near_words` picks the hard negatives: frequent words one coarse phoneme from a keyword
(``use``, ``less`` for "yes"; ``of``, ``if`` for "off"; ``top``, ``cup`` for "up"), the words
most easily taken for one, given more clips than their share of a frequency list gives them. On
the demo's set they lowered the non-keywords taken for a keyword in clips, not in streams (README
"Using a model").
"""

from __future__ import annotations

import functools
import re

from wavetag.data.splits import which_set
from wavetag.data.synth.engines import edit_distance, fold_ipa
from wavetag.data.synth.espeak import get_espeak
from wavetag.errors import ConfigError

WORD_PATTERN = re.compile(r"^[a-z]{2,12}$")
READING_VOICES = ("en-us", "en")  # espeak voices whose readings are compared
MAX_WORDS = 20_000


@functools.lru_cache(maxsize=8)
def other_words(n: int, exclude: tuple[str, ...]) -> tuple[str, ...]:
    """The ``n`` most frequent English words that are not in ``exclude`` and do not sound like one."""
    if not 0 <= n <= MAX_WORDS:
        raise ConfigError(f"unknown_words = {n}; expected 0 to {MAX_WORDS:,}")
    if n == 0:
        return ()
    readings = _readings(tuple(sorted(exclude)))
    out: list[str] = []
    for word in _candidates(exclude):
        if len(out) == n:
            break
        if not (_readings((word,)) & readings):
            out.append(word)
    return tuple(out)


@functools.lru_cache(maxsize=8)
def near_words(n: int, targets: tuple[str, ...], exclude: tuple[str, ...]) -> tuple[str, ...]:
    """Up to ``n`` frequent words one coarse phoneme from a word of ``targets`` (its hard negatives).

    A word is near a target when the edit distance between their folded espeak-ng readings
    (`fold_ipa`, in US or British English) is exactly 1 - one sound added, dropped or swapped -
    among the `MAX_WORDS` most frequent words; words in ``exclude`` or read like one are left out,
    as in `other_words`. The targets take turns, each giving its most frequent neighbour not yet
    taken, so every keyword gets its share while it has neighbours left. Ordered by that deal.
    """
    if not 0 <= n <= MAX_WORDS:
        raise ConfigError(f"near_words = {n}; expected 0 to {MAX_WORDS:,}")
    if n == 0 or not targets:
        return ()
    left_out = tuple(sorted(set(exclude) | set(targets)))
    excluded = _readings(left_out)
    target_readings = [_readings((t,)) for t in targets]
    near: list[list[str]] = [[] for _ in targets]
    for word in _candidates(left_out)[:MAX_WORDS]:
        reading = _readings((word,))
        if reading & excluded:
            continue
        for i, wanted in enumerate(target_readings):
            if any(abs(len(a) - len(b)) <= 1 and edit_distance(a, b) == 1 for a in reading for b in wanted):
                near[i].append(word)
    out: list[str] = []
    taken: set[str] = set()
    while len(out) < n and any(near):
        for queue in near:
            while queue and queue[0] in taken:
                queue.pop(0)
            if queue and len(out) < n:
                taken.add(queue[0])
                out.append(queue.pop(0))
    return tuple(out)


@functools.lru_cache(maxsize=8)
def _candidates(exclude: tuple[str, ...]) -> tuple[str, ...]:
    """wordfreq's most frequent English words that are plain (2-12 letters) and not in ``exclude``."""
    try:
        from wordfreq import top_n_list
    except ImportError:
        raise ConfigError("unknown_words needs the 'wordfreq' package; run 'pip install wordfreq'") from None
    excluded = set(exclude)
    return tuple(w for w in top_n_list("en", MAX_WORDS * 3) if WORD_PATTERN.match(w) and w not in excluded)


@functools.cache
def _readings(words: tuple[str, ...]) -> frozenset[str]:
    es = get_espeak()
    return frozenset(fold_ipa(es.phonemes(w, voice=v)) for w in words for v in READING_VOICES)


def word_split(word: str) -> str:
    """``"training"``, ``"validation"`` or ``"testing"`` for a non-keyword word (10 % / 10 %)."""
    return which_set(f"{word}_nohash_0.wav")
