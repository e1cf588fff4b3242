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
"""

from __future__ import annotations

import functools
import re

from wavetag.data.splits import which_set
from wavetag.data.synth.engines import fold_ipa
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
    try:
        from wordfreq import top_n_list
    except ImportError:
        raise ConfigError("unknown_words needs the 'wordfreq' package; run 'pip install wordfreq'") from None
    excluded = set(exclude)
    readings = _readings(tuple(sorted(excluded)))
    out: list[str] = []
    for word in top_n_list("en", min(MAX_WORDS * 3, 60_000)):
        if len(out) == n:
            break
        if WORD_PATTERN.match(word) and word not in excluded and not (_readings((word,)) & readings):
            out.append(word)
    return tuple(out)


@functools.cache
def _readings(words: tuple[str, ...]) -> frozenset[str]:
    es = get_espeak()
    return frozenset(fold_ipa(es.phonemes(w, voice=v)) for w in words for v in READING_VOICES)


def word_split(word: str) -> str:
    """``"training"``, ``"validation"`` or ``"testing"`` for a non-keyword word (10 % / 10 %)."""
    return which_set(f"{word}_nohash_0.wav")
