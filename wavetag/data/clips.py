"""What a source reader returns: `ClipRef` (one clip to decode), `Rejected` (a file left out and
why), `SourceOptions`, `Listing`; and the file walk every reader shares (`walk_audio`: hidden,
broken, looping and non-audio entries are reported, never fatal).

The readers themselves are in `wavetag.data.sources` (folder, csv, npz) and
`wavetag.data.speech_commands_source`; both build on this module, which imports neither.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from wavetag.audio import AUDIO_EXTENSIONS
from wavetag.errors import DataError

AUDIO_SUFFIXES = frozenset(AUDIO_EXTENSIONS) | {".opus"}
NOISE_DIR = "_background_noise_"
SILENCE = "_silence_"
UNKNOWN = "_unknown_"


@dataclass(frozen=True)
class ClipRef:
    """One clip to decode: a file (or a window of it, or a row of an npz) and what it is."""

    path: str  # the file to decode (absolute)
    rel_path: str  # how the index names it: relative to the source root, with #t= / #row= fragments
    labels: tuple[str, ...]  # one label; several for multi-label sources
    group: str = ""  # speaker / recording id; "" = none
    split: str | None = None  # "train" | "validation" | "test" when the source says; else None
    verified: bool = True  # False for FSDKaggle rows with manually_verified = 0
    start_s: float = 0.0  # window to read (silence clips are cut from long noise files)
    duration_s: float | None = None
    gain: float = 1.0  # applied after decoding (random volume of silence clips)
    row: int = -1  # row of an npz source
    size: int = 0  # file size in bytes (to size the decode chunks)
    meta: tuple[tuple[str, str], ...] = ()  # extra per-clip facts, e.g. (("engine", "flite"), ("word", "bed"))

    @property
    def label(self) -> str | None:
        return self.labels[0] if self.labels else None


@dataclass(frozen=True)
class Rejected:
    """A file or row left out of the pack, and why (one line of ``rejected.csv``)."""

    path: str
    reason: str  # short kind: "missing file", "no label", "unreadable", "too short", ...
    detail: str = ""  # the full message: what was found, what was expected, what to do
    row: int | None = None  # 1-based data row of a CSV (header excluded)


@dataclass
class SourceOptions:
    """What a reader may need beyond the root; unset fields mean the reader's default."""

    csv: str | None = None
    audio_root: str | None = None
    words: str | list[str] | None = None
    noise_dir: str | None = None
    group_column: str | None = None
    source_sample_rate: int | None = None


@dataclass
class Listing:
    """What a reader found: clips, refusals, noise files, and the fingerprint of its inputs."""

    kind: str
    root: Path
    refs: list[ClipRef] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    noise_files: list[Path] = field(default_factory=list)
    fingerprint: list[tuple[str, int, int]] = field(default_factory=list)  # (path, size, mtime_ns)
    multi_label: bool = False
    default_split: str = "random"  # the rule "auto" picks: "lists" | "hash" | "random"
    warnings: list[str] = field(default_factory=list)
    source_sample_rate: int | None = None  # npz only: the rate of the stored samples
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------- file walking


def walk_audio(
    directory: Path, root: Path, *, rejected: list[Rejected] | None = None
) -> Iterator[tuple[Path, str, int, int]]:
    """``(path, rel_path, size, mtime_ns)`` of audio files under ``directory``, sorted, recursively.

    Hidden files and folders (``.git``, ``.DS_Store``) and non-audio files are skipped. Nothing
    under ``directory`` stops the walk: broken links, link loops, folders that cannot be listed,
    files that vanish, names that are not UTF-8 and non-files with an audio name (a folder called
    ``x.wav`` holding no audio, a FIFO) are appended to ``rejected`` with the reason.
    """
    rejected = [] if rejected is None else rejected
    directory, root = Path(directory), Path(root)
    chain = {key for key in map(_dir_key, _folders_above(directory, root)) if key is not None}  # for loops
    yield from _walk(directory, root, chain, rejected)


def _walk(directory: Path, root: Path, chain: set, rejected: list[Rejected]) -> Iterator[tuple[Path, str, int, int]]:
    rel = _rel(directory, root) + "/"
    try:
        st = os.stat(directory)
        if (st.st_dev, st.st_ino) in chain:
            rejected.append(
                Rejected(
                    rel,
                    "link loop",
                    (
                        f"{rel}: a link back to a folder above it ({os.path.realpath(directory)}); its files are "
                        "listed once, from the real folder; remove the link to silence this"
                    ),
                )
            )
            return
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        rejected.append(
            Rejected(
                rel,
                "unreadable folder",
                (
                    f"{rel}: cannot list this folder ({exc.strerror or exc}); its files are left out; "
                    "fix its permissions (chmod a+rx) or remove it"
                ),
            )
        )
        return
    chain = chain | {(st.st_dev, st.st_ino)}
    for entry in entries:
        if not entry.name.startswith("."):
            yield from _walk_entry(entry, root, chain, rejected)


def _walk_entry(
    entry: os.DirEntry, root: Path, chain: set, rejected: list[Rejected]
) -> Iterator[tuple[Path, str, int, int]]:
    path = Path(entry.path)
    audio_name = os.path.splitext(entry.name)[1].lower() in AUDIO_SUFFIXES
    if _is_dir(entry):
        before = len(rejected)
        found = 0
        for item in _walk(path, root, chain, rejected):
            found += 1
            yield item
        if audio_name and not found and len(rejected) == before:
            rel = _rel(path, root)
            rejected.append(
                Rejected(
                    rel,
                    "not a file",
                    (
                        f"{rel}: a folder with an audio file's name, holding no audio (expected a file); rename or "
                        "remove it"
                    ),
                )
            )
        return
    if not audio_name:
        return
    rel = _rel(path, root)
    try:
        st = entry.stat()  # follows links
    except OSError as exc:
        rejected.append(_unstattable(rel, entry, exc))
        return
    if not stat.S_ISREG(st.st_mode):
        rejected.append(
            Rejected(
                rel,
                "not a file",
                (f"{rel}: not a regular file (a device, FIFO or socket), expected an audio file; remove it"),
            )
        )
    elif rel != printable(rel):
        rejected.append(
            Rejected(
                printable(rel),
                "bad file name",
                (
                    f"{printable(rel)}: the name is not valid UTF-8 (undecodable bytes shown as \\x..), so it cannot "
                    "be written to the pack's index; rename it, e.g. with 'convmv -f latin1 -t utf8 --notest'"
                ),
            )
        )
    else:
        yield path, rel, st.st_size, st.st_mtime_ns


def _unstattable(rel: str, entry: os.DirEntry, exc: OSError) -> Rejected:
    if exc.errno == errno.ELOOP:
        return Rejected(
            printable(rel), "link loop", f"{printable(rel)}: a symbolic link that points back to itself; remove it"
        )
    if isinstance(exc, FileNotFoundError) and entry.is_symlink():
        target = os.readlink(entry.path) if os.path.islink(entry.path) else "?"
        return Rejected(
            printable(rel),
            "broken link",
            (f"{printable(rel)}: a symbolic link to {printable(target)}, which does not exist; fix or remove the link"),
        )
    if isinstance(exc, FileNotFoundError):
        return Rejected(printable(rel), "missing file", f"{printable(rel)}: vanished while the folder was being listed")
    return Rejected(
        printable(rel),
        "unreadable",
        f"{printable(rel)}: cannot read it ({exc.strerror or exc}); fix its permissions or remove it",
    )


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows links
    except OSError:
        return False


def _folders_above(directory: Path, root: Path) -> list[Path]:
    """``root`` and the folders between it and ``directory`` (exclusive); [] when not under root."""
    try:
        parts = directory.relative_to(root).parts
    except ValueError:
        return []
    return [root.joinpath(*parts[:i]) for i in range(len(parts))]


def _dir_key(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def printable(name: str) -> str:
    """``name`` with the undecodable bytes of a non-UTF-8 file name shown as ``\\xNN`` (writable as UTF-8)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def stat_entry(path: Path, root: Path) -> tuple[str, int, int]:
    st = path.stat()
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        rel = str(path)
    return rel, st.st_size, st.st_mtime_ns


def subdirs(path: Path) -> list[Path]:
    """Sub-folders, sorted; hidden ones and packs (a pack written inside its source) left out.

    A folder whose content cannot be checked is kept (the walk then reports it)."""
    try:
        children = sorted(path.iterdir())
    except OSError as exc:
        raise DataError(
            f"{path}: cannot list this folder ({exc.strerror or exc}); fix its permissions (chmod a+rx)"
        ) from None
    return [
        p
        for p in children
        if not p.name.startswith(".") and safe_check(p.is_dir) and not safe_check((p / "pack.json").is_file)
    ]


def safe_check(check: Callable[[], bool]) -> bool:
    """``check()``, or False when the file system refuses to say (permissions, loops)."""
    try:
        return check()
    except OSError:
        return False


def list_noise(noise_dir: Path, listing: Listing) -> None:
    """Add the audio files under ``noise_dir`` to the listing's noise bank."""
    if not noise_dir.is_dir():
        raise DataError(f"{noise_dir}: noise folder not found; give a folder of background recordings (--noise-dir)")
    for path, _, size, mtime in walk_audio(noise_dir, noise_dir, rejected=listing.rejected):
        listing.noise_files.append(path)
        listing.fingerprint.append((str(path), size, mtime))
