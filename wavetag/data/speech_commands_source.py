"""The Google Speech Commands layout (v0.01: 30 words, v0.02: 35 words).

``root/<word>/<speaker>_nohash_<n>.wav``, ``root/_background_noise_/*.wav``, and optionally
``validation_list.txt`` / ``testing_list.txt`` (paths relative to root). The reader lists every
word; `finish_speech_commands` then, per split, keeps the target words, samples other words into
``_unknown_`` and cuts ``_silence_`` clips from the background noise, as the TensorFlow example
(``examples/speech_commands/input_data.py``) does.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from wavetag.data.clips import (
    NOISE_DIR,
    SILENCE,
    UNKNOWN,
    ClipRef,
    Listing,
    Rejected,
    SourceOptions,
    list_noise,
    stat_entry,
    subdirs,
    walk_audio,
)
from wavetag.data.splits import SC_TO_PACK, SPLITS, speaker_of, which_set
from wavetag.errors import ConfigError, DataError

DEFAULT_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
LIST_FILES = {"validation": "validation_list.txt", "test": "testing_list.txt"}
SYNTH_MANIFEST = "synth.json"  # written by 'wavetag synth': speaker hash -> engine, voice
SILENCE_WINDOW_S = 1.0  # length of a silence clip when clips are kept whole
MAX_SILENCE_GAIN = 1.0  # silence clips are the noise scaled by U(0, MAX_SILENCE_GAIN)


def parse_words(words: str | list[str] | tuple[str, ...] | None, available: list[str], root: Path) -> list[str]:
    """The target words: default the ten standard ones; ``"all"`` = every word folder.

    An entry with no folder raises a `ConfigError` suggesting close words.
    """
    if words is None:
        chosen = list(DEFAULT_WORDS)
    elif isinstance(words, str):
        chosen = [w.strip() for w in words.split(",") if w.strip()]
    else:
        chosen = [str(w).strip() for w in words]
    if chosen == ["all"]:
        return list(available)
    if not chosen:
        raise ConfigError("--words is empty; give comma-separated words (e.g. yes,no,up) or 'all'")
    for word in chosen:
        if word not in available:
            close = difflib.get_close_matches(word, available, n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
            raise ConfigError(
                f"--words: {word!r} is not a word of {root} (no folder {word}/); {hint}"
                f"words there: {', '.join(available)}; or use --words all"
            )
    if len(set(chosen)) != len(chosen):
        raise ConfigError(f"--words lists a word twice: {','.join(chosen)}")
    return chosen


def read_speech_commands(root: Path, opts: SourceOptions) -> Listing:
    """List every word's clips; splits from the list files where present (else `which_set`)."""
    if not root.is_dir():
        raise DataError(f"{root}: expected the Speech Commands folder (<word>/*.wav, _background_noise_/)")
    listing = Listing(kind="speech-commands", root=root)
    available = [d.name for d in subdirs(root) if not d.name.startswith("_")]
    if not available:
        raise DataError(f"{root}: no word folders (root/<word>/*.wav); is this the Speech Commands root?")
    words = parse_words(opts.words, available, root)
    lists = _read_lists(root, listing)
    listing.default_split = "lists" if lists else "hash"
    speakers = synth_speakers(root, listing)
    seen: set[str] = set()
    for word in available:
        found = 0
        for path, rel, size, mtime in walk_audio(root / word, root, rejected=listing.rejected):
            found += 1
            seen.add(rel)
            speaker = speaker_of(path.name)
            meta = (("word", word), *speakers.get(speaker, ()))
            listing.refs.append(ClipRef(str(path), rel, (word,), speaker, _split_of(rel, lists), size=size, meta=meta))
            listing.fingerprint.append((rel, size, mtime))
        if not found:
            rel = f"{word}/"
            listing.rejected.append(Rejected(rel, "empty class folder", f"{rel}: no audio files; the word is left out"))
            listing.warnings.append(f"word folder {rel} is empty")
    for name, entries in lists.items():
        missing = len(entries - seen)
        if missing:
            listing.warnings.append(f"{missing} files named in {LIST_FILES[name]} are not in {root}; ignored")
    noise_dir = Path(opts.noise_dir) if opts.noise_dir else root / NOISE_DIR
    if opts.noise_dir or noise_dir.is_dir():
        list_noise(noise_dir, listing)
    listing.extra["words"] = words
    listing.extra["all_words"] = available
    return listing


def synth_speakers(root: Path, listing: Listing) -> dict[str, tuple[tuple[str, str], ...]]:
    """Speaker hash -> (("engine", ...), ("voice", ...)) from the ``synth.json`` that ``wavetag
    synth`` writes (empty for other sets; an unreadable file is a warning, not an error)."""
    path = root / SYNTH_MANIFEST
    if not path.is_file():
        return {}
    listing.fingerprint.append(stat_entry(path, root))
    try:
        speakers = json.loads(path.read_text())["speakers"]
        return {
            str(s["hash"]): (("engine", str(s["engine"])), ("voice", str(s.get("voice") or _voice_of(s))))
            for s in speakers
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        listing.warnings.append(f"{path}: unreadable ({type(exc).__name__}); clips have no engine/voice")
        return {}


def _voice_of(speaker: dict) -> str:
    """The voice in a description "engine/voice+variant pitch=..." (manifests before 'voice')."""
    return str(speaker["description"]).split(" ")[0].split("/", 1)[-1].split("+")[0]


def _read_lists(root: Path, listing: Listing) -> dict[str, set[str]]:
    lists = {}
    for split, name in LIST_FILES.items():
        path = root / name
        if path.is_file():
            listing.fingerprint.append(stat_entry(path, root))
            lists[split] = {line.strip() for line in path.read_text().splitlines() if line.strip()}
    return lists


def _split_of(rel: str, lists: dict[str, set[str]]) -> str | None:
    """Split from the lists; for a list that is absent, the hash rule decides that split."""
    if not lists:
        return None
    for split in ("test", "validation"):
        if rel in lists.get(split, ()):
            return split
    hashed = SC_TO_PACK[which_set(rel)]
    return hashed if hashed != "train" and hashed not in lists else "train"


def finish_speech_commands(
    refs: list[ClipRef],
    listing: Listing,
    *,
    unknown_share: float,
    silence_share: float,
    noise_durations_s: list[float],
    clip_seconds: float | None,
    seed: int,
) -> tuple[list[ClipRef], list[str]]:
    """Targets + sampled ``_unknown_`` + ``_silence_`` windows; returns (clips, labels in order).

    Per split, with ``n`` target clips: ``ceil(n * unknown_share)`` clips of other words become
    ``_unknown_`` and ``ceil(n * silence_share)`` silence clips are cut at random (seeded)
    offsets from the noise files, scaled by a random volume (the TF example's shares).
    """
    words = listing.extra["words"]
    rng = np.random.default_rng(seed)
    targets = [r for r in refs if r.label in words]
    others: dict[str, list[ClipRef]] = defaultdict(list)
    for r in refs:
        if r.label not in words:
            others[r.split].append(r)
    n_target = {s: sum(1 for r in targets if r.split == s) for s in SPLITS}
    unknown = []
    for split in SPLITS:
        pool = others.get(split, [])
        take = min(len(pool), math.ceil(n_target[split] * unknown_share))
        for i in sorted(rng.permutation(len(pool))[:take]):
            unknown.append(_relabel(pool[i], UNKNOWN))
    silence = _silence_clips(listing, n_target, silence_share, noise_durations_s, clip_seconds, rng)
    labels = ([SILENCE] if silence else []) + ([UNKNOWN] if unknown else []) + list(words)
    return targets + unknown + silence, labels


def _relabel(ref: ClipRef, label: str) -> ClipRef:
    return dataclasses.replace(ref, labels=(label,))


def _silence_clips(listing, n_target, share, durations, clip_seconds, rng) -> list[ClipRef]:
    counts = {s: math.ceil(n_target[s] * share) for s in SPLITS}
    if share <= 0 or not sum(counts.values()):
        return []
    window_s = clip_seconds or SILENCE_WINDOW_S
    usable = [(p, d) for p, d in zip(listing.noise_files, durations, strict=False) if d >= window_s]
    if not usable:
        raise DataError(
            f"silence share {share:g} needs background noise at least {window_s:g} s long, but "
            f"{listing.root / NOISE_DIR} has none; pass --silence-share 0 or --noise-dir DIR"
        )
    out = []
    for split in SPLITS:
        for _ in range(counts[split]):
            path, duration = usable[int(rng.integers(len(usable)))]
            start = float(np.floor(rng.uniform(0, duration - window_s) * 1000) / 1000)  # whole ms
            gain = float(rng.uniform(0, MAX_SILENCE_GAIN))
            rel = f"{_rel(path, listing.root)}#t={start:.3f},{start + window_s:.3f}"
            out.append(ClipRef(str(path), rel, (SILENCE,), f"noise:{path.stem}", split, True, start, window_s, gain))
    return out


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
