"""Source readers: turn a folder, a CSV or an npz into a list of `ClipRef` (nothing is decoded here).

A reader returns a `Listing`: the clips with their labels, groups and (when the source says so)
splits; the files it refused with the reason (they end up in ``rejected.csv``); the background
noise files; and a fingerprint (path, size, mtime) of everything it read, which makes re-running
``prepare`` on an unchanged source a no-op.

Readers register in `SOURCES` under the names the CLI offers: ``folder``, ``speech-commands``
(in `wavetag.data.speech_commands_source`), ``csv`` and ``npz``.
"""

from __future__ import annotations

import csv
import errno
import os
import stat
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wavetag.audio import AUDIO_EXTENSIONS
from wavetag.data.splits import SPLIT_ALIASES, normalise_split_name
from wavetag.errors import ConfigError, DataError
from wavetag.registry import Registry

AUDIO_SUFFIXES = frozenset(AUDIO_EXTENSIONS) | {".opus"}
NOISE_DIR = "_background_noise_"
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
FILE_COLUMNS = ("fname", "file_name", "filename", "file", "path")  # FSDKaggle, HF audiofolder, ...
GROUP_COLUMNS = ("group", "speaker", "speaker_id", "client_id")


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


SOURCES: Registry[Callable[[Path, SourceOptions], Listing]] = Registry("source")


def get_source(name: str) -> Callable[[Path, SourceOptions], Listing]:
    import wavetag.data.speech_commands_source  # noqa: F401  (registers "speech-commands")

    return SOURCES.get(name)


def source_names() -> list[str]:
    get_source("folder")
    return SOURCES.names()


def detect_source(src: Path, opts: SourceOptions) -> str:
    """The source kind of ``src`` for ``source="auto"``."""
    if src.is_file():
        suffix = src.suffix.lower()
        if suffix in (".npz", ".csv"):
            return suffix[1:]
        raise DataError(
            f"{src}: cannot tell the source kind of a {suffix or 'suffix-less'} file; give a folder, "
            "a .csv (with --audio-root) or an .npz, or name it with --source"
        )
    if opts.csv:
        return "csv"
    if (src / "validation_list.txt").is_file() or (src / "testing_list.txt").is_file():
        return "speech-commands"
    if (src / NOISE_DIR).is_dir() and _speech_commands_names(src):
        return "speech-commands"
    return "folder"


def _speech_commands_names(src: Path) -> bool:
    """Do the first files of a few word folders look like ``<speaker>_nohash_<n>.wav``?"""
    words = [d for d in subdirs(src) if not d.name.startswith("_")][:3]
    firsts = [next((p.name for p in _safe_listing(d) if p.suffix.lower() == ".wav"), "") for d in words]
    return bool(firsts) and all("_nohash_" in name for name in firsts)


def _safe_listing(directory: Path) -> list[Path]:
    try:
        return sorted(directory.iterdir())
    except OSError:
        return []


def check_root(src: str | Path) -> Path:
    """``src`` as a resolved path; a `DataError` with the fix when it does not exist."""
    path = Path(src).expanduser()
    if not path.exists():
        parent = path.parent if str(path.parent) else Path(".")
        hint = ""
        if parent.is_dir():
            names = sorted(p.name for p in parent.iterdir())[:10]
            hint = f" ({parent} holds: {', '.join(names) or 'nothing'})"
        raise DataError(f"{src}: source not found{hint}; check the path (relative paths start at {Path.cwd()})")
    return path.resolve()


def check_label_case(refs: list[ClipRef]) -> None:
    """Refuse labels that differ only in case ("Dog" and "dog"), naming both and their files."""
    spellings: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for ref in refs:
        for label in ref.labels:
            spellings[label.casefold()][label].append(ref.rel_path)
    for forms in spellings.values():
        if len(forms) > 1:
            shown = "; ".join(
                f"{label!r} ({len(files)} files, e.g. {', '.join(files[:3])})" for label, files in sorted(forms.items())
            )
            raise DataError(
                f"labels that differ only in case: {shown}. They would become separate classes; "
                "rename the folders or CSV labels so each class has one spelling, then run prepare again"
            )


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
        p for p in children if not p.name.startswith(".") and _safe(p.is_dir) and not _safe((p / "pack.json").is_file)
    ]


def _safe(check: Callable[[], bool]) -> bool:
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


# ---------------------------------------------------------------- folder


@SOURCES.register("folder", help="root/<label>/*.wav|flac|ogg|mp3, or a Hugging Face audiofolder with metadata.csv")
def read_folder(root: Path, opts: SourceOptions) -> Listing:
    """``root/<label>/**/*.{wav,flac,ogg,mp3}``; ``root/<split>/<label>/...``; or ``metadata.csv``.

    With ``metadata.csv`` (``file_name,label`` or ``file_name,labels`` for multi-label, optional
    ``split`` and speaker/group columns) the labels come from the CSV, as in the Hugging Face
    audiofolder convention; audio files it does not list are rejected as "no label".
    """
    if not root.is_dir():
        raise DataError(f"{root}: expected a folder of class folders (root/<label>/*.wav) for source 'folder'")
    listing = Listing(kind="folder", root=root)
    split_dirs = {d: SPLIT_ALIASES[d.name.lower()] for d in subdirs(root) if d.name.lower() in SPLIT_ALIASES}
    other_dirs = [d for d in subdirs(root) if d not in split_dirs and d.name != NOISE_DIR]
    bases = list(split_dirs.items()) if split_dirs and not other_dirs else [(root, None)]
    if bases[0][1] is not None:
        listing.default_split = "lists"
    for base, split in bases:
        if (base / "metadata.csv").is_file():
            _read_metadata(base, split, listing, opts)
        else:
            _read_class_folders(base, split, listing)
    if (root / NOISE_DIR).is_dir() and not opts.noise_dir:
        list_noise(root / NOISE_DIR, listing)
    if any(ref.split for ref in listing.refs):
        listing.default_split = "lists"
    return listing


def _read_class_folders(base: Path, split: str | None, listing: Listing) -> None:
    root = listing.root
    for entry in sorted(os.scandir(base), key=lambda e: e.name):
        if _safe(entry.is_file) and os.path.splitext(entry.name)[1].lower() in AUDIO_SUFFIXES:
            rel = printable(Path(entry.path).relative_to(root).as_posix())
            listing.rejected.append(
                Rejected(
                    rel,
                    "no label",
                    (
                        f"{rel}: the file lies directly in {base}, so it has no class; move it into "
                        f"{base}/<label>/ (or list it in metadata.csv)"
                    ),
                )
            )
    for class_dir in subdirs(base):
        if class_dir.name == NOISE_DIR:
            continue
        found = 0
        for path, rel, size, mtime in walk_audio(class_dir, root, rejected=listing.rejected):
            found += 1
            listing.refs.append(ClipRef(str(path), rel, (class_dir.name,), _group_of(path.name), split, size=size))
            listing.fingerprint.append((rel, size, mtime))
        rel = printable(class_dir.relative_to(root).as_posix()) + "/"
        if not found and not any(r.path == rel for r in listing.rejected[-1:]):  # not already refused (a loop)
            listing.rejected.append(
                Rejected(
                    rel,
                    "empty class folder",
                    (
                        f"{rel}: no audio files (.wav/.flac/.ogg/.mp3) in this class folder, so class "
                        f"{class_dir.name!r} is left out; add clips or remove the folder"
                    ),
                )
            )
            listing.warnings.append(f"class folder {rel} is empty; class {class_dir.name!r} left out")


def _group_of(filename: str) -> str:
    return filename.split("_nohash_")[0] if "_nohash_" in filename else ""


def _read_metadata(base: Path, split: str | None, listing: Listing, opts: SourceOptions) -> None:
    meta = base / "metadata.csv"
    listing.fingerprint.append(stat_entry(meta, listing.root))
    listed = read_label_csv(meta, base, listing, opts, split=split)
    for path, rel, _size, _ in walk_audio(base, listing.root, rejected=listing.rejected):
        if path.resolve() not in listed and NOISE_DIR not in path.parts:
            listing.rejected.append(
                Rejected(
                    rel,
                    "no label",
                    (
                        f"{rel}: not listed in {meta.relative_to(listing.root)}, so it has no label; "
                        "add a row (file_name,label) or move the file out of the folder"
                    ),
                )
            )


# ---------------------------------------------------------------- csv


@SOURCES.register(
    "csv", help="fname,label[,manually_verified] (FSDKaggle2018) or fname,labels (multi-label) + an audio root"
)
def read_csv_source(src: Path, opts: SourceOptions) -> Listing:
    """A CSV of ``fname,label[,manually_verified]`` (or ``labels`` = comma-separated tags).

    ``src`` is the CSV itself, or a folder with ``opts.csv`` naming the CSV inside it. Audio files
    are looked up under ``opts.audio_root`` (default: the folder of ``src``).
    """
    if src.is_file():
        csv_path, default_root = src, src.parent
    else:
        if not opts.csv:
            raise ConfigError(f"{src}: source 'csv' needs the CSV file: pass --csv FILE (or give the .csv as SRC)")
        csv_path = Path(opts.csv) if Path(opts.csv).is_absolute() else src / opts.csv
        default_root = src
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: CSV file not found; check --csv (relative paths start at {src})")
    audio_root = Path(opts.audio_root).expanduser().resolve() if opts.audio_root else default_root
    if not audio_root.is_dir():
        raise DataError(
            f"{audio_root}: audio root not found; pass --audio-root DIR, the folder that holds the CSV's files"
        )
    listing = Listing(kind="csv", root=audio_root)
    listing.fingerprint.append(stat_entry(csv_path, audio_root))
    read_label_csv(csv_path, audio_root, listing, opts)
    if opts.noise_dir is None and (audio_root / NOISE_DIR).is_dir():
        list_noise(audio_root / NOISE_DIR, listing)
    if any(ref.split for ref in listing.refs):
        listing.default_split = "lists"
    return listing


def read_label_csv(
    csv_path: Path, audio_root: Path, listing: Listing, opts: SourceOptions, *, split: str | None = None
) -> set[Path]:
    """Add one `ClipRef` per usable row of ``csv_path`` to ``listing``; returns the files listed.

    Rows whose file is missing or whose label is empty are rejected with the row number.
    """
    listed: set[Path] = set()
    row_no = 0
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in reader.fieldnames or []]
            reader.fieldnames = columns
            file_col, label_col, group_col = _csv_columns(csv_path, columns, opts)
            listing.multi_label = listing.multi_label or label_col == "labels"
            listing.extra["csv_columns"] = columns
            for row_no, row in enumerate(reader, start=1):
                ref = _csv_row(row, row_no, csv_path, audio_root, listing, (file_col, label_col, group_col), split)
                if ref is not None:
                    listing.refs.append(ref)
                    listed.add(Path(ref.path).resolve())
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(
            f"{csv_path}: cannot read it as a UTF-8 CSV near data row {row_no + 1} ({exc}); "
            "save it as UTF-8 comma-separated text with a header row"
        ) from None
    return listed


def _csv_columns(csv_path: Path, columns: list[str], opts: SourceOptions) -> tuple[str, str, str | None]:
    file_col = next((c for c in FILE_COLUMNS if c in columns), None)
    label_col = next((c for c in ("labels", "label") if c in columns), None)
    if file_col is None or label_col is None:
        missing = (
            "a file column (" + "/".join(FILE_COLUMNS) + ")" if file_col is None else "a 'label' or 'labels' column"
        )
        raise DataError(
            f"{csv_path}: no {missing}; found columns {columns}. Expected e.g. 'fname,label' "
            "(FSDKaggle2018), 'fname,labels' (multi-label) or 'file_name,label' (audiofolder)"
        )
    group_col = opts.group_column or next((c for c in GROUP_COLUMNS if c in columns), None)
    if group_col is not None and group_col not in columns:
        from wavetag.registry import unknown_name_message

        raise ConfigError(unknown_name_message(f"group column of {csv_path.name}", group_col, columns))
    return file_col, label_col, group_col


def _csv_row(row: dict, row_no: int, csv_path: Path, audio_root: Path, listing: Listing, cols, split) -> ClipRef | None:
    file_col, label_col, group_col = cols
    name = (row.get(file_col) or "").strip()
    where = f"{csv_path.name} row {row_no}"
    if not name:
        listing.rejected.append(
            Rejected("", "no file name", f"{where}: empty '{file_col}'; fill it in or delete the row", row_no)
        )
        return None
    raw = (row.get(label_col) or "").strip()
    labels = (
        tuple(dict.fromkeys(t.strip() for t in raw.split(",") if t.strip()))
        if label_col == "labels"
        else ((raw,) if raw else ())
    )
    path = Path(name) if Path(name).is_absolute() else audio_root / name
    rel = name
    if not labels:
        listing.rejected.append(
            Rejected(
                rel, "no label", f"{where}: {name} has an empty '{label_col}'; add its label or delete the row", row_no
            )
        )
        return None
    try:
        st = path.stat()
    except OSError:
        listing.rejected.append(
            Rejected(
                rel,
                "missing file",
                (
                    f"{where}: {name} not found under {audio_root}; fix the name, pass the right --audio-root, or "
                    "delete the row"
                ),
                row_no,
            )
        )
        return None
    listing.fingerprint.append((rel, st.st_size, st.st_mtime_ns))
    verified = (row.get("manually_verified") or "1").strip() not in ("0", "false", "False", "no")
    row_split = (row.get("split") or "").strip()
    if row_split:
        split = normalise_split_name(row_split, where=f"{where} column 'split'")
    group = (row.get(group_col) or "").strip() if group_col else _group_of(Path(name).name)
    return ClipRef(str(path), rel, labels, group, split, verified, size=st.st_size)


# ---------------------------------------------------------------- npz


@SOURCES.register(
    "npz", help="wav_vals [N, T] + label_vals [N, 1] at --source-sample-rate (the 8 kHz notebook's format)"
)
def read_npz(src: Path, opts: SourceOptions) -> Listing:
    """``wav_vals`` [N, T] (float in [-1, 1] or int16) and ``label_vals`` [N] or [N, 1].

    Labels are strings, or integers (named by an optional ``label_names`` [C] array). The rate of
    the samples is ``opts.source_sample_rate`` or a ``sample_rate`` entry in the file.
    """
    listing = Listing(kind="npz", root=src.parent)
    listing.fingerprint.append(stat_entry(src, src.parent))
    try:
        with np.load(src, allow_pickle=False) as z:
            keys = set(z.files)
            if not {"wav_vals", "label_vals"} <= keys:
                raise DataError(
                    f"{src}: expected arrays 'wav_vals' [N, T] and 'label_vals' [N, 1]; found {sorted(keys)}"
                )
            wav_shape = z["wav_vals"].shape
            label_vals = z["label_vals"]
            names = z["label_names"] if "label_names" in keys else None
            stored_rate = int(z["sample_rate"]) if "sample_rate" in keys else None
    except (OSError, ValueError) as exc:
        raise DataError(f"{src}: cannot read the npz ({exc}); expected numpy arrays without pickled objects") from None
    label_vals = label_vals.reshape(len(label_vals), -1)[:, 0] if label_vals.ndim > 1 else label_vals
    if len(wav_shape) != 2 or wav_shape[0] != len(label_vals):
        raise DataError(
            f"{src}: wav_vals has shape {wav_shape} and label_vals {len(label_vals)} rows; expected [N, T] and [N, 1]"
        )
    rate = opts.source_sample_rate or stored_rate
    if not rate:
        raise ConfigError(
            f"{src}: the npz has no 'sample_rate' entry; pass the rate of wav_vals, e.g. --source-sample-rate 8000"
        )
    listing.source_sample_rate = int(rate)
    for i, value in enumerate(label_vals.tolist()):
        label = _npz_label(value, names)
        rel = f"{src.name}#row={i}"
        if label:
            listing.refs.append(ClipRef(str(src), rel, (label,), row=i))
        else:
            listing.rejected.append(
                Rejected(rel, "no label", f"{src.name} row {i}: empty label; drop the row or label it")
            )
    return listing


def _npz_label(value, names) -> str:
    if isinstance(value, (int, np.integer)) and names is not None:
        if not 0 <= value < len(names):
            return ""
        return str(names[value])
    return str(value).strip()
