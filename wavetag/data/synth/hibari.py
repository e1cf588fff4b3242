"""hibari voices: small neural voices distilled from Kokoro-82M, with a source-filter vocoder.

The ``hibari-tts`` wheel (Apache-2.0) carries one voice, ``heart`` (distilled from Kokoro's
``af_heart``: American English, female; the wheel's own spelling-to-sound rules, misaki's). Its
network predicts, per 12.5-ms frame, an F0 curve and the spectra of a harmonic and a noise branch;
the wheel's vocoder (`hibari.dsp.synth`) turns them into 24-kHz samples. Because F0 is one of
those outputs, a speaker's pitch and the range of its melody are set here without touching the
formants (`speak`), which no other engine of wavetag does: pitch and vocal-tract length vary
independently (the warp is `speech_commands`' job).

Voices: ``heart`` from the wheel, and any other hibari voice file already in hibari's own cache
(``$HIBARI_HOME``, else ``~/.cache/hibari``; e.g. ``bf_emma.int8.onnx`` copied there by hand).
Nothing is ever downloaded: hibari fetches missing voices from the network on first use, so
wavetag asks it only for files that are already on disk.
"""

from __future__ import annotations

import functools
from importlib import util as importlib_util

import numpy as np

from wavetag.errors import AudioError

PACKAGE = "hibari"
SAMPLE_RATE = 24_000
INSTALL_HINT = "pip install --no-deps hibari-tts==0.2.1 (make installs it)"
UNVOICED_HZ = 40.0  # the vocoder's voicing threshold (`hibari.dsp.pulses`): frames under it get no pulses


class HibariError(AudioError):
    """The hibari package or a voice is missing, or a voice failed to speak."""


def installed() -> bool:
    return importlib_util.find_spec(PACKAGE) is not None


def find_voices() -> dict[str, str]:
    """Voice name -> ONNX file, for the voices on disk (the wheel's and those in hibari's cache)."""
    if not installed():
        return {}
    from hibari.voices import VOICES, voice_path

    found = {}
    for name in VOICES:
        try:
            found[name] = voice_path(name, download_missing=False)
        except FileNotFoundError:
            continue
    return found


@functools.cache
def load_voice(voice: str):
    """The voice's `hibari.Hibari` (one ONNX Runtime thread; one per voice and process)."""
    if not installed():
        raise HibariError(f"hibari is not installed: {INSTALL_HINT}")
    found = find_voices()
    path = found.get(voice)
    if path is None:
        raise HibariError(
            f"hibari has no voice {voice!r} on disk (found: {', '.join(found) or 'none'}); "
            f"other voices go in hibari's cache folder ($HIBARI_HOME), copied there by hand"
        )
    from hibari import Hibari

    try:
        return Hibari(voice=voice, model=path, threads=1)
    except Exception as exc:  # noqa: BLE001 - onnxruntime's errors are not one type
        raise HibariError(f"hibari voice {voice!r} ({path}): ONNX Runtime cannot run it ({exc})") from exc


def shape_f0(f0: np.ndarray, *, pitch: float, pitch_range: float) -> np.ndarray:
    """An F0 curve (Hz, per frame) with its voiced frames moved: the median times ``pitch``, and each
    frame's distance from the median (in log frequency) times ``pitch_range``. Unvoiced frames stay.

    >>> shape_f0(np.array([0.0, 100.0, 200.0]), pitch=2.0, pitch_range=0.0).tolist()
    [0.0, 282.842712474619, 282.842712474619]
    """
    f0 = np.asarray(f0, dtype=np.float64)
    voiced = f0 > UNVOICED_HZ
    if not voiced.any():
        return f0
    log_f0 = np.log(f0[voiced])
    centre = np.median(log_f0)
    out = f0.copy()
    moved = np.exp(centre + np.log(pitch) + pitch_range * (log_f0 - centre))
    out[voiced] = np.maximum(moved, UNVOICED_HZ + 1.0)  # a voiced frame stays voiced
    return out


def word_phonemes(voice: str, word: str, *, ending: str = ".") -> str:
    """A lone word's phonemes, said as a sentence: the voice's own reading with ``ending`` after it.

    The word is read alone and the ending added to its phonemes, not to its text: hibari's text
    normaliser reads "no." as the abbreviation "number". A word with only secondary stress (misaki
    gives function words like *up*, *on*, *go* that) gets primary stress, as a command said alone has.
    """
    phonemes = " ".join(load_voice(voice).phonemize(word))
    if "ˈ" not in phonemes:
        phonemes = phonemes.replace("ˌ", "ˈ", 1)
    return phonemes + ending


def speak(voice: str, word: str, *, pitch: float, pitch_range: float, speed: float, seed: int) -> np.ndarray:
    """Say ``word`` (as a sentence, `word_phonemes`) -> float32 samples at `SAMPLE_RATE`. ``pitch``:
    factor on the voice's median F0; ``pitch_range``: factor on its melody's excursions (log F0 around
    the median); ``speed``: hibari's (> 1 is faster). ``seed`` fixes the vocoder's noise, so the same
    call gives the same samples."""
    from hibari import dsp

    tts = load_voice(voice)
    ids = tts.ids(word_phonemes(voice, word))
    if len(ids) < 4:
        raise HibariError(f"hibari voice {voice!r} found no phonemes in {word!r}")
    feed = {"ids": np.asarray([ids], np.int64), "speed": np.asarray([speed], np.float32)}
    try:
        lh, th, ln, lr, phi, f0 = (o[0] for o in tts.sess.run(None, feed))
    except Exception as exc:  # noqa: BLE001
        raise HibariError(f"hibari voice {voice!r} failed on {word!r} ({exc})") from exc
    f0 = shape_f0(f0, pitch=pitch, pitch_range=pitch_range).astype(np.float32)
    return dsp.synth(lh, th, ln, lr, phi, f0, np.random.default_rng(seed))
