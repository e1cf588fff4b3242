"""``prepare``: source -> pack, decoded and resampled once, in parallel, re-run as a no-op.

    listing = read source (no decoding)  ->  splits  ->  (speech commands: unknown + silence)
      -> decode in worker processes, streamed in order into audio.int16  ->  index + manifests
      -> atomic rename into place

Re-running on an unchanged source with the same options does nothing: the checksum of the
source listing (path, size, mtime of every file read) and the options is kept in ``pack.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from wavetag import __version__, audio
from wavetag.config import check_range
from wavetag.data.checks import check_two_classes, split_warnings
from wavetag.data.clips import ClipRef, Listing, Rejected, SourceOptions, list_noise
from wavetag.data.decode import (
    MIN_CLIP_S,
    Decoded,
    DecodeOptions,
    decode_rows,
    decode_stream,
    default_jobs,
    to_int16,
)
from wavetag.data.pack_writer import AUDIO_FILE, PackWriter, check_target, commit_pack, remove_stale_temporaries
from wavetag.data.sources import check_label_case, check_root, detect_source, get_source, source_names
from wavetag.data.speech_commands_source import finish_speech_commands
from wavetag.data.splits import check_fractions, group_splits, hash_splits, stratified_splits
from wavetag.errors import ConfigError, DataError
from wavetag.registry import unknown_name_message

SPLIT_RULES = ("auto", "lists", "hash", "random", "group:<column>")
NOISE_BLOCK_S = 60.0  # noise files are decoded this many seconds at a time


@dataclass
class PrepareSummary:
    """What `prepare` wrote (or found up to date): counts per class and split, time, refusals."""

    out: Path
    unchanged: bool
    source: str
    sample_rate: int
    clip_seconds: float | None
    labels: list[str]
    multi_label: bool
    counts: dict[str, dict[str, int]]  # split -> label -> clips
    num_clips: int
    total_seconds: float
    rejected: int
    rejected_reasons: dict[str, int]
    resampled: dict[str, int]  # original sample rate (Hz) -> files resampled from it
    noise_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def rejected_path(self) -> Path:
        return self.out / "rejected.csv"

    @property
    def total_hours(self) -> float:
        return self.total_seconds / 3600.0

    @property
    def clips_per_s(self) -> float:
        return (self.num_clips + self.rejected) / self.elapsed_s if self.elapsed_s > 0 else float("nan")

    @classmethod
    def from_manifest(cls, out: Path, manifest: dict, *, unchanged: bool, elapsed_s: float) -> PrepareSummary:
        return cls(
            out=Path(out),
            unchanged=unchanged,
            source=manifest["source"]["kind"],
            sample_rate=manifest["sample_rate"],
            clip_seconds=manifest["clip_seconds"],
            labels=manifest["labels"],
            multi_label=manifest["multi_label"],
            counts=manifest["counts"],
            num_clips=manifest["num_clips"],
            total_seconds=manifest["total_seconds"],
            rejected=manifest["rejected"]["count"],
            rejected_reasons=manifest["rejected"]["reasons"],
            resampled=manifest["resampled"],
            noise_seconds=manifest["noise"]["seconds"],
            warnings=list(manifest.get("warnings", [])),
            elapsed_s=elapsed_s,
        )


def prepare(
    src: str | Path,
    out: str | Path,
    *,
    source: str = "auto",
    sample_rate: int = 16000,
    clip_seconds: float | None = None,
    words: str | Sequence[str] | None = None,
    unknown_share: float = 0.1,
    silence_share: float | None = None,
    split: str = "auto",
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    hold_out: str | None = None,
    vad: bool = False,
    noise_dir: str | Path | None = None,
    jobs: int | None = None,
    csv: str | Path | None = None,
    audio_root: str | Path | None = None,
    source_sample_rate: int | None = None,
    force: bool = False,
    progress: bool = True,
) -> PrepareSummary:
    """Decode a source once into a pack at ``out`` (see `wavetag.data.pack_writer` for the layout).

    Args:
        source: ``"auto"``, ``"folder"``, ``"speech-commands"``, ``"csv"`` or ``"npz"``.
        sample_rate: rate of the pack (Hz); other rates are resampled (the summary says so).
        clip_seconds: pad/trim every clip to this length; ``None`` keeps clips whole.
        words: speech commands targets (comma-separated or a list; default the ten standard
            words; ``"all"`` = every word, the 35-class task). Other words become ``_unknown_``.
        unknown_share, silence_share: ``_unknown_`` / ``_silence_`` clips per split as a share of
            that split's target clips (silence default 0.1, or 0 with ``words="all"``).
        split: ``"auto"`` (the source's lists, else the speaker hash for speech commands, else
            random), ``"lists"``, ``"hash"``, ``"group:<column>"`` or ``"random"`` (stratified).
        fractions: train, validation, test shares for the hash, group and random rules.
        hold_out: ``"KEY=VALUE[,VALUE...]"``: every clip whose ``KEY`` is one of the values goes
            to test, and the test clips of the split rule go to validation, so the test split
            holds only what training never heard: ``"engine=flite"`` (leave one synthesis engine
            out), ``"voice=kal16,awb"``, ``"group=<speaker>"``. Keys: ``group`` and the pack's
            extra columns (``engine``, ``voice`` from a ``wavetag synth`` set; ``word``).
        vad: trim leading/trailing silence with WebRTC VAD.
        noise_dir: folder of background noise for the pack's noise bank (default
            ``SRC/_background_noise_`` when present).
        jobs: decode processes (default: all cores).
        csv, audio_root: the CSV and the folder its file names are relative to (csv source).
        source_sample_rate: the rate of an npz's ``wav_vals`` when the file does not say.
        force: rebuild even when the pack is up to date.
    """
    options = _check_options({k: v for k, v in locals().items() if k not in ("src", "out")})
    started = time.perf_counter()
    root = check_root(src)
    out = Path(out).expanduser().resolve()
    check_target(out)
    kind = _source_kind(root, options, source)
    listing = get_source(kind)(root, _source_options(options, split))
    column = split[len("group:") :] if split.startswith("group:") else None
    if column not in (None, "speaker") and "csv_columns" not in listing.extra:
        raise ConfigError(
            f"--split {split}: {root} is a {kind} source without a CSV, so it has no column {column!r}; "
            "use group:speaker (the <speaker>_nohash_ prefix of file names) or a CSV source"
        )
    if noise_dir is not None and kind in ("folder", "csv", "npz"):
        list_noise(check_root(noise_dir), listing)
    checksum = _checksum(listing, kind, options)
    current = _up_to_date(out, checksum) if not force else None
    if current is not None:
        return PrepareSummary.from_manifest(out, current, unchanged=True, elapsed_s=time.perf_counter() - started)
    refs, labels = _clips_and_labels(listing, kind, options)
    manifest = _write(listing, refs, labels, out, kind, options, checksum, started)
    return PrepareSummary.from_manifest(out, manifest, unchanged=False, elapsed_s=time.perf_counter() - started)


# ---------------------------------------------------------------- options


def _check_options(opts: dict) -> dict:
    check_range("sample_rate", opts["sample_rate"], 1000, 384000)
    if opts["clip_seconds"] is not None:
        check_range("clip_seconds", opts["clip_seconds"], MIN_CLIP_S, None)
    check_range("unknown_share", opts["unknown_share"], 0, 1)
    if opts["silence_share"] is not None:
        check_range("silence_share", opts["silence_share"], 0, 1)
    opts["fractions"] = list(check_fractions(opts["fractions"]))
    if opts["hold_out"] is not None:
        parse_hold_out(opts["hold_out"])
    rule = opts["split"]
    if rule not in ("auto", "lists", "hash", "random") and not (rule.startswith("group:") and len(rule) > 6):
        raise ConfigError(f"split = {rule!r}; expected one of {', '.join(SPLIT_RULES)}")
    if opts["jobs"] is not None:
        check_range("jobs", opts["jobs"], 1, 1024)
    if opts["source"] != "auto" and opts["source"] not in source_names():
        raise ConfigError(unknown_name_message("source", opts["source"], ["auto"] + source_names()))
    for key in ("noise_dir", "csv", "audio_root"):
        if opts[key] is not None:
            opts[key] = str(opts[key])
    if isinstance(opts["words"], (list, tuple)):
        opts["words"] = ",".join(opts["words"])
    return opts


def _source_kind(root: Path, options: dict, source: str) -> str:
    kind = detect_source(root, SourceOptions(csv=options["csv"])) if source == "auto" else source
    if options["words"] is not None and kind != "speech-commands":
        raise ConfigError(f"--words applies to speech-commands sources; {root} is a {kind} source")
    return kind


def _source_options(options: dict, split: str) -> SourceOptions:
    group_column = split[len("group:") :] if split.startswith("group:") else None
    return SourceOptions(
        csv=options["csv"],
        audio_root=options["audio_root"],
        words=options["words"],
        noise_dir=options["noise_dir"],
        group_column=group_column if group_column != "speaker" else None,
        source_sample_rate=options["source_sample_rate"],
    )


def _checksum(listing: Listing, kind: str, options: dict) -> str:
    """sha256 of the source listing (path, size, mtime) and every option that shapes the pack."""
    shaping = {k: v for k, v in options.items() if k not in ("source", "jobs", "progress", "force")}
    h = hashlib.sha256(json.dumps({"kind": kind, "options": shaping, "version": 1}, sort_keys=True).encode())
    for entry in sorted(listing.fingerprint):
        h.update(f"{entry[0]}\0{entry[1]}\0{entry[2]}\n".encode())
    return "sha256:" + h.hexdigest()


def _up_to_date(out: Path, checksum: str) -> dict | None:
    try:
        manifest = json.loads((out / "pack.json").read_text())
        complete = (out / AUDIO_FILE).stat().st_size == 2 * manifest["num_samples"]
    except (OSError, ValueError, KeyError):
        return None
    return manifest if complete and manifest.get("checksum") == checksum else None


# ---------------------------------------------------------------- clips, splits, labels


def _clips_and_labels(listing: Listing, kind: str, options: dict) -> tuple[list[ClipRef], list[str]]:
    refs = assign_splits(listing, options["split"], options["fractions"], options["seed"])
    if options["hold_out"]:
        refs = hold_out_splits(refs, options["hold_out"], root=listing.root)
    if kind == "speech-commands":
        all_words = listing.extra["words"] == listing.extra["all_words"]
        silence = options["silence_share"]
        refs, labels = finish_speech_commands(
            refs,
            listing,
            unknown_share=options["unknown_share"],
            silence_share=(0.0 if all_words else 0.1) if silence is None else silence,
            noise_durations_s=[audio.info(p).duration_s for p in listing.noise_files],
            clip_seconds=options["clip_seconds"],
            seed=options["seed"],
        )
    else:
        labels = sorted({name for ref in refs for name in ref.labels})
    check_label_case(refs)
    if not refs:
        reasons = Counter(r.reason for r in listing.rejected)
        found = f"; {len(listing.rejected)} rejected ({_reasons(reasons)})" if listing.rejected else ""
        raise DataError(f"{listing.root}: no labelled audio clips found{found}. {_layout_hint(kind)}")
    check_two_classes(
        listing.root, labels, Counter(name for ref in refs for name in ref.labels), multi_label=listing.multi_label
    )
    return refs, labels


def parse_hold_out(text: str) -> tuple[str, tuple[str, ...]]:
    """``"engine=flite,festival"`` -> ``("engine", ("flite", "festival"))``; a `ConfigError` otherwise."""
    key, sep, values = str(text).partition("=")
    chosen = tuple(v.strip() for v in values.split(",") if v.strip())
    if not sep or not key.strip() or not chosen:
        raise ConfigError(f"hold_out = {text!r}; expected KEY=VALUE[,VALUE...], e.g. engine=flite or voice=kal16,awb")
    return key.strip(), chosen


def hold_out_splits(refs: list[ClipRef], text: str, *, root: Path) -> list[ClipRef]:
    """Clips whose ``KEY`` is one of the values -> test; the rule's other test clips -> validation."""
    key, values = parse_hold_out(text)
    facts = [r.group if key == "group" else dict(r.meta).get(key, "") for r in refs]
    known = sorted({v for v in facts if v})
    if not known:
        keys = sorted({"group"} | {k for r in refs for k, _ in r.meta})
        raise ConfigError(
            f"hold_out {text}: no clip of {root} has a {key!r} (keys here: {', '.join(keys)}); engine and voice "
            "come from the synth.json of a 'wavetag synth' set"
        )
    missing = [v for v in values if v not in known]
    if missing:
        shown = ", ".join(known[:30]) + (" ..." if len(known) > 30 else "")
        raise ConfigError(f"hold_out {text}: no clip has {key} = {', '.join(missing)} (values here: {shown})")
    held = set(values)
    return [
        dataclasses.replace(r, split="test" if f in held else ("validation" if r.split == "test" else r.split))
        for r, f in zip(refs, facts, strict=False)
    ]


def assign_splits(listing: Listing, rule: str, fractions: Sequence[float], seed: int) -> list[ClipRef]:
    """Each ref with its split by ``rule`` (``"auto"`` = the source's own default)."""
    refs = listing.refs
    rule = listing.default_split if rule == "auto" else rule
    if rule == "lists":
        if refs and not any(r.split for r in refs):
            raise ConfigError(
                f"split 'lists': {listing.root} gives no splits (no validation_list.txt/testing_list.txt, "
                "split folders or 'split' column); use --split hash, random or group:<column>"
            )
        missing = sum(1 for r in refs if not r.split)
        if missing:
            listing.warnings.append(f"{missing} clips have no split in the source's lists; they go to train")
        splits = [r.split or "train" for r in refs]
    elif rule == "hash":
        splits = hash_splits([r.rel_path for r in refs], fractions)
    elif rule == "random":
        splits = stratified_splits([r.labels[0] for r in refs], fractions, seed=seed)
    else:  # group:<column>
        if not any(r.group for r in refs):
            listing.warnings.append(f"split {rule}: no clip has a group; every clip is its own group")
        splits = group_splits([r.group for r in refs], fractions, seed=seed)
    return [dataclasses.replace(r, split=s) for r, s in zip(refs, splits, strict=False)]


def _layout_hint(kind: str) -> str:
    return {
        "folder": "Expected root/<label>/*.wav|flac|ogg|mp3 or a metadata.csv with file_name,label",
        "speech-commands": "Expected root/<word>/<speaker>_nohash_<n>.wav",
        "csv": "Expected CSV rows fname,label whose files exist under --audio-root",
        "npz": "Expected wav_vals [N, T] and label_vals [N, 1]",
    }[kind]


def _reasons(reasons: Counter | dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))


# ---------------------------------------------------------------- writing


def _write(listing, refs, labels, out, kind, options, checksum, started) -> dict:
    rate = options["sample_rate"]
    clip_samples = None if options["clip_seconds"] is None else int(round(options["clip_seconds"] * rate))
    decode_opts = DecodeOptions(
        rate, clip_samples, options["vad"], int(math.ceil(MIN_CLIP_S * rate)), listing.source_sample_rate
    )
    remove_stale_temporaries(out)  # what a killed run left beside the pack
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    writer = PackWriter(tmp, labels=labels, multi_label=listing.multi_label)
    try:
        for rejected in listing.rejected:
            writer.reject(rejected)
        _decode_into(writer, listing, refs, decode_opts, options)
        empty = writer.drop_empty_labels()
        if writer.num_clips == 0:
            reasons = Counter(r.reason for r in writer.rejected)
            raise DataError(
                f"{listing.root}: all {len(refs)} clips were rejected ({_reasons(reasons)}); "
                f"first: {writer.rejected[0].detail if writer.rejected else '?'}; nothing was written"
            )
        check_two_classes(listing.root, writer.labels, multi_label=listing.multi_label)  # after the rejections
        warnings = list(listing.warnings) + [f"class {name!r} has no usable clip; left out" for name in empty]
        warnings += split_warnings(writer.counts(), options["fractions"])
        if writer.resampled:
            resampled = sum(writer.resampled.values())
            mixed = "mixed sample rates: " if len(writer.resampled) > 1 or resampled < writer.num_clips else ""
            rates = ", ".join(f"{k} from {r:,} Hz" for r, k in sorted(writer.resampled.items()))
            warnings.append(f"{mixed}resampled {resampled} files to {rate:,} Hz ({rates})")
        noise = _write_noise(writer, listing, rate)
        meta = {
            "wavetag_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "sample_rate": rate,
            "clip_seconds": options["clip_seconds"],
            "source": {"kind": kind, "path": str(listing.root)},
            "options": options,
            "checksum": checksum,
            "noise": noise,
            "warnings": warnings,
            "elapsed_s": round(time.perf_counter() - started, 3),
        }
        manifest = writer.finish(meta)
        commit_pack(tmp, out)
    except BaseException:
        writer.abort()
        raise
    return manifest


def _decode_into(writer: PackWriter, listing: Listing, refs: list[ClipRef], opts: DecodeOptions, options: dict) -> None:
    jobs = options["jobs"] or default_jobs()
    rate = opts.sample_rate
    with _progress(options["progress"], len(refs)) as advance:
        if listing.kind == "npz":
            with np.load(refs[0].path, allow_pickle=False) as z:
                wav_vals = z["wav_vals"]
            stream = zip(refs, decode_rows(refs, wav_vals, opts), strict=False)
        else:
            stream = decode_stream(refs, opts, jobs=jobs)
        try:
            for ref, result in stream:
                if isinstance(result, Decoded):
                    writer.add(ref, result.samples, result.orig_rate, rate)
                else:
                    writer.reject(result)
                advance(1)
        finally:
            if hasattr(stream, "close"):
                stream.close()  # on an error or Ctrl-C: stop the workers now, not at exit


def _write_noise(writer: PackWriter, listing: Listing, rate: int) -> dict:
    """Decode the noise files (a minute at a time) into the pack's noise bank."""
    pieces, seconds = [], 0.0
    for path in listing.noise_files:
        try:
            blocks = []
            duration = audio.info(path).duration_s
            for start in np.arange(0.0, duration, NOISE_BLOCK_S):
                x, _ = audio.load(path, sample_rate=rate, start_s=float(start), duration_s=NOISE_BLOCK_S)
                blocks.append(to_int16(x))
        except Exception as exc:  # noqa: BLE001 - a broken noise file is rejected like any other
            writer.reject(Rejected(str(path), "unreadable", f"noise file {path}: {exc}"))
            continue
        samples = np.concatenate(blocks) if blocks else np.zeros(0, np.int16)
        pieces.append((_noise_name(path, listing.root), samples))
        seconds += len(samples) / rate
    if not pieces:
        return {"files": 0, "num_samples": 0, "seconds": 0.0}
    info = writer.write_noise(pieces)
    return {**info, "seconds": seconds}


def _noise_name(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _progress(enabled: bool, total: int):
    """A context manager giving ``advance(n)``: a rich progress bar on stderr, or nothing."""
    if not enabled:
        return nullcontext(lambda n: None)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Speed(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed or 0:,.0f} clips/s")

    @contextmanager
    def bar():
        columns = (
            TextColumn("decoding"),
            BarColumn(),
            MofNCompleteColumn(),
            Speed(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=Console(stderr=True), transient=False) as p:
            task = p.add_task("decode", total=total)
            yield lambda n: p.advance(task, n)

    return bar()
