"""A small ctypes binding to libespeak-ng from the ``espeakng-loader`` wheel.

The wheel ships ``libespeak-ng.so`` and its data directory (voices, dictionaries), so speech
synthesis works wherever pip works: no system package, no network. The library keeps its state
in process globals (one voice, one parameter set, one callback), so this module keeps exactly one
initialised `Espeak` per process (`get_espeak`); parallel synthesis uses several processes.

>>> es = get_espeak()
>>> wav = es.synth("yes", voice="en-us+f3", rate_wpm=160, pitch=60)   # int16 at 22,050 Hz
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wavetag.errors import AudioError, ConfigError

# espeak_AUDIO_OUTPUT: AUDIO_OUTPUT_SYNCHRONOUS = 2 (synthesise in espeak_Synth, deliver audio
# to the callback, play nothing). espeakINITIALIZE_DONT_EXIT = 0x8000: report a missing data
# directory as an error code instead of calling exit() inside our process.
AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_INITIALIZE_DONT_EXIT = 0x8000
BUFFER_MS = 200
# espeak_PARAMETER values (speak_lib.h).
ESPEAK_RATE, ESPEAK_VOLUME, ESPEAK_PITCH, ESPEAK_RANGE = 1, 2, 3, 4
ESPEAK_CHARS_UTF8 = 1
POS_CHARACTER = 1
# espeak_TextToPhonemes phonememode: bit 1 set = IPA (UTF-8) instead of ASCII mnemonics.
PHONEMES_IPA = 0x02
EE_OK = 0

# Parameter ranges espeak-ng accepts (speak_lib.h): rate 80..450 words/min, pitch and range 0..100.
RATE_WPM_RANGE = (80, 450)
PITCH_RANGE = (0, 100)

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakError(AudioError):
    """libespeak-ng could not be loaded, initialised or asked to speak."""


class _Voice(ctypes.Structure):  # espeak_VOICE
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


@dataclass(frozen=True)
class VoiceInfo:
    """One espeak-ng voice: ``language`` is what `Espeak.synth` accepts (``"en-us"``)."""

    name: str
    language: str
    identifier: str
    gender: int


def _library_paths() -> tuple[str, str]:
    try:
        import espeakng_loader
    except ImportError as exc:
        raise EspeakError(
            "the espeakng-loader package is not installed (it ships libespeak-ng and its voices); "
            "install it with 'pip install espeakng-loader'"
        ) from exc
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


class Espeak:
    """One initialised libespeak-ng. Use `get_espeak` rather than building a second one.

    ``private_copy=True`` loads a copy of the shared library, whose global state is fresh even
    when this process already used the library (the engines fork speakers from such a copy to
    make synthesis independent of what the process said before).
    """

    def __init__(self, *, private_copy: bool = False) -> None:
        lib_path, self.data_path = _library_paths()
        try:
            self._lib = _load_private_copy(lib_path) if private_copy else ctypes.CDLL(lib_path)
        except OSError as exc:
            raise EspeakError(f"{lib_path}: cannot load libespeak-ng ({exc})") from exc
        self._declare()
        # espeak-ng looks for its data in <path>/espeak-ng-data.
        parent = str(Path(self.data_path).parent).encode()
        self.sample_rate = self._lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, BUFFER_MS, parent, ESPEAK_INITIALIZE_DONT_EXIT
        )
        if self.sample_rate <= 0:
            raise EspeakError(
                f"{self.data_path}: espeak_Initialize failed (returned {self.sample_rate}); "
                "the espeak-ng-data directory is missing or unreadable, reinstall espeakng-loader"
            )
        self._chunks: list[np.ndarray] = []
        self._callback = _SYNTH_CALLBACK(self._collect)  # kept alive as long as self
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lock = threading.Lock()

    def _declare(self) -> None:
        lib = self._lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.c_void_p,
        ]
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        if hasattr(lib, "espeak_ng_SetRandSeed"):  # espeak-ng >= 1.52
            lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
            lib.espeak_ng_SetRandSeed.restype = None

    def _collect(self, samples, n_samples, _events) -> int:
        if n_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(samples, shape=(n_samples,)).copy())
        return 0  # 0 = keep synthesising

    def voices(self) -> list[VoiceInfo]:
        """Every language voice in the data directory (variants are listed by `variants`)."""
        out = []
        table = self._lib.espeak_ListVoices(None)
        for i in range(100_000):
            if not table[i]:
                break
            v = table[i].contents
            # languages: (priority byte, name, NUL) pairs; the first name is the voice's own.
            language = (v.languages or b"\0")[1:].decode()
            out.append(VoiceInfo(v.name.decode(), language, v.identifier.decode(), v.gender))
        return out

    def variants(self) -> list[str]:
        """Names of the voice variants (files under ``voices/!v``), sorted."""
        folder = Path(self.data_path) / "voices" / "!v"
        return sorted(p.name for p in folder.iterdir() if p.is_file() and " " not in p.name)

    def synth(
        self,
        text: str,
        *,
        voice: str = "en",
        rate_wpm: int = 175,
        pitch: int = 50,
        pitch_range: int = 50,
    ) -> np.ndarray:
        """Speak ``text`` with ``voice`` (``"en-us"``, ``"en-us+f3"``) -> int16 (n,) at `sample_rate`.

        ``rate_wpm`` in words per minute (80..450), ``pitch`` and ``pitch_range`` in espeak units
        (0..100; 50 is the voice's own).
        """
        _check_int("rate_wpm", rate_wpm, RATE_WPM_RANGE)
        _check_int("pitch", pitch, PITCH_RANGE)
        _check_int("pitch_range", pitch_range, PITCH_RANGE)
        with self._lock:
            self._set_voice(voice)
            for param, value in (
                (ESPEAK_RATE, rate_wpm),
                (ESPEAK_PITCH, pitch),
                (ESPEAK_RANGE, pitch_range),
                (ESPEAK_VOLUME, 100),
            ):
                self._check(self._lib.espeak_SetParameter(param, int(value), 0), "SetParameter")
            self._chunks = []
            data = text.encode() + b"\0"
            err = self._lib.espeak_Synth(data, len(data), 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None)
            self._check(err, f"Synth({text!r})")
            self._check(self._lib.espeak_Synchronize(), "Synchronize")
            chunks, self._chunks = self._chunks, []
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(chunks).astype(np.int16, copy=False)

    def seed_random(self, seed: int) -> None:
        """Seed espeak-ng's own noise generator (breath, whisper); it seeds from the clock."""
        if hasattr(self._lib, "espeak_ng_SetRandSeed"):
            self._lib.espeak_ng_SetRandSeed(seed & 0x7FFFFFFF)

    def phonemes(self, text: str, *, voice: str = "en") -> str:
        """The IPA espeak-ng would speak for ``text`` with ``voice`` (for checks and tests)."""
        with self._lock:
            self._set_voice(voice)
            buf = ctypes.c_char_p(text.encode() + b"\0")
            ptr = ctypes.pointer(buf)
            parts = []
            while ptr.contents.value:
                res = self._lib.espeak_TextToPhonemes(ptr, ESPEAK_CHARS_UTF8, PHONEMES_IPA)
                parts.append((res or b"").decode("utf-8", "replace"))
        return " ".join(p.strip() for p in parts if p.strip())

    def _set_voice(self, voice: str) -> None:
        err = self._lib.espeak_SetVoiceByName(voice.encode())
        if err != EE_OK:
            raise EspeakError(
                f"espeak-ng voice {voice!r} not found (error {err}); voices are language codes "
                "such as 'en', 'en-us', 'de', optionally with '+variant' ('en-us+f3'); "
                "see `wavetag.data.synth.engines.list_voices('espeak')`"
            )

    @staticmethod
    def _check(err: int, what: str) -> None:
        if err != EE_OK:
            raise EspeakError(f"espeak_{what} failed with error code {err}")


def _load_private_copy(lib_path: str) -> ctypes.CDLL:
    """dlopen a temporary copy of the library (a new path = new globals), then delete the file."""
    folder = tempfile.mkdtemp(prefix="wavetag-espeak-")
    copy = os.path.join(folder, os.path.basename(lib_path))
    try:
        shutil.copyfile(lib_path, copy)
        return ctypes.CDLL(copy)
    finally:  # the mapping outlives the file on POSIX; elsewhere the copy may stay until reboot
        shutil.rmtree(folder, ignore_errors=True)


def _check_int(field: str, value: int, bounds: tuple[int, int]) -> None:
    lo, hi = bounds
    if not lo <= value <= hi:
        raise ConfigError(f"{field}={value} is out of range (expected {lo}..{hi})")


_INSTANCE: Espeak | None = None
_INSTANCE_PID: int | None = None


def get_espeak() -> Espeak:
    """The process's one `Espeak` (created on first use; a forked child makes its own)."""
    global _INSTANCE, _INSTANCE_PID
    if _INSTANCE is None or _INSTANCE_PID != os.getpid():
        _INSTANCE, _INSTANCE_PID = Espeak(), os.getpid()
    return _INSTANCE


__all__ = ["Espeak", "EspeakError", "VoiceInfo", "get_espeak"]
