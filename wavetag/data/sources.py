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
import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from wavetag.data.clips import (
    AUDIO_SUFFIXES,
    NOISE_DIR,
    ClipRef,
    Listing,
    Rejected,
    SourceOptions,
    list_noise,
    printable,
    safe_check,
    stat_entry,
    subdirs,
    walk_audio,
)
from wavetag.data.speech_commands_source import read_speech_commands
from wavetag.data.splits import SPLIT_ALIASES, normalise_split_name
from wavetag.errors import ConfigError, DataError
from wavetag.registry import Registry, unknown_name_message

FILE_COLUMNS = ("fname", "file_name", "filename", "file", "path")  # FSDKaggle, HF audiofolder, ...
GROUP_COLUMNS = ("group", "speaker", "speaker_id", "client_id")


SOURCES: Registry[Callable[[Path, SourceOptions], Listing]] = Registry("source")


def get_source(name: str) -> Callable[[Path, SourceOptions], Listing]:
    return SOURCES.get(name)


def source_names() -> list[str]:
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
        if safe_check(entry.is_file) and os.path.splitext(entry.name)[1].lower() in AUDIO_SUFFIXES:
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


SOURCES.register("speech-commands", help="Google Speech Commands v0.01/v0.02: <word>/<speaker>_nohash_<n>.wav + lists")(
    read_speech_commands
)
