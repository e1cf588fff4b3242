"""`explore`: a source folder or a pack in, a dataset report out.

pack (or source --prepare--> OUT/pack)
  -> stats: levels, silence, band energies, log-mel, per-class mean spectra (batched)
  -> duplicates: exact (hash of every clip) and near (summary vectors), cross-split flagged
  -> outliers: PCA of per-clip log spectra, robust distance from the clip's class
  -> leakage: groups (speakers) in more than one split
  -> report: report.md, report.html, explore.json, clips.csv, spectra.npz, plots/*.png
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wavetag.config import check_range
from wavetag.data import Pack, prepare
from wavetag.data.splits import SPLITS
from wavetag.errors import ConfigError
from wavetag.evaluate.reference import Hearing, hear_pack, listener_for, require_listener, word_clips
from wavetag.explore.duplicates import (
    DuplicatePair,
    clip_label,
    clip_labels,
    describe,
    exact_duplicates,
    near_duplicates,
    ordered,
)
from wavetag.explore.leakage import NOISE_GROUP_PREFIX, Leak, LeakCheck, find_leaks
from wavetag.explore.outliers import main_class, project
from wavetag.explore.report import ExplorePaths, write_report
from wavetag.explore.stats import compute_stats, membership, parse_bands
from wavetag.outputs import rebase_paths, replaced_dir
from wavetag.registry import unknown_name_message

PACK_DIR = "pack"  # where a source folder is prepared, inside the report folder


@dataclass(frozen=True)
class Outlier:
    """A clip that does not look like the rest of its class (rank 1 = the least alike)."""

    rank: int
    index: int  # clip id in the pack
    path: str
    label: str
    split: str
    score: float  # robust distance from the class median in PCA space (typical deviations)
    duration_s: float
    rms_dbfs: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class ExploreResult:
    """The findings of `explore` and where the report is. ``leaks`` non-empty = speaker leakage."""

    pack_path: Path
    prepared: bool  # the input was a source, prepared into pack_path
    labels: list[str]
    num_clips: int
    num_analysed: int
    total_seconds: float
    leak_check: LeakCheck
    duplicates: list[DuplicatePair]
    outliers: list[Outlier]
    paths: ExplorePaths
    notes: list[str]
    elapsed_s: float
    reference: Hearing | None = None  # what the reference listener heard (explore(reference=True))

    @property
    def leaks(self) -> list[Leak]:
        return self.leak_check.leaks

    @property
    def hours(self) -> float:
        return self.total_seconds / 3600.0

    @property
    def cross_split_duplicates(self) -> list[DuplicatePair]:
        return [d for d in self.duplicates if d.cross_split]


def explore(
    src_or_pack: str | Path,
    out: str | Path,
    *,
    bands: str | Sequence[tuple[float, float]] | None = None,
    max_clips: int | None = None,
    near_duplicate_threshold: float = 0.995,
    outliers: int = 20,
    seed: int = 0,
    prepare_options: dict[str, Any] | None = None,
    progress: bool = True,
    reference: bool = False,
) -> ExploreResult:
    """Write a dataset report on a pack (or on a source, prepared first into ``out/pack``).

    Args:
        src_or_pack: a pack folder (has ``pack.json``), or anything ``wavetag prepare`` reads.
        out: report folder (``report.html``, ``report.md``, ``explore.json``, ``clips.csv``,
            ``spectra.npz``, ``plots/``, ``audio/``). It must not lie inside the source or the pack.
        bands: frequency bands for the band-energy violins, ``"0-500,500-2000,2000-8000"`` (Hz)
            or pairs; default 0-500, 500-2000, 2000-Nyquist.
        max_clips: analyse a seeded random sample of this many clips (audio features, outliers,
            near duplicates); counts, durations, sample rates, exact duplicates and leakage
            always cover every clip. ``None`` analyses all.
        near_duplicate_threshold: cosine similarity of the summary vectors from which two clips
            count as near duplicates (0.9-1).
        outliers: how many outliers to list (most unusual first).
        seed: seed of the ``max_clips`` sample and the PCA.
        prepare_options: keyword arguments of `wavetag.data.prepare` for a source (its
            defaults otherwise, e.g. ``{"split": "group:speaker", "sample_rate": 8000}``).
        reference: hear the analysed clips of word labels with the reference listener
            (`wavetag.evaluate.reference`) and report those it hears as another word
            (``reference.csv``: its verdict per clip).
    """
    check_range("near_duplicate_threshold", near_duplicate_threshold, 0.9, 1.0)
    check_range("outliers", outliers, 0, 10_000)
    if max_clips is not None:
        check_range("max_clips", max_clips, 2, None)
    if reference:
        require_listener()  # before a source is prepared
    started = time.perf_counter()
    src, out = Path(src_or_pack).expanduser().resolve(), Path(out).expanduser().resolve()
    pack_path, prepared, notes = _pack_for(src, out, prepare_options or {}, progress)
    pack = Pack.open(pack_path)
    listener = listener_for(pack) if reference else None  # labels that are not words stop here
    bands_hz = parse_bands(bands, pack.sample_rate)
    indices = _sample(len(pack), max_clips, seed)
    if len(indices) < len(pack):
        notes.append(
            f"audio features, outliers and near duplicates cover a random sample of {len(indices):,} of "
            f"{len(pack):,} clips (seed {seed}); counts, durations, sample rates, exact duplicates and "
            "leakage cover every clip"
        )
    findings = _analyse(pack, indices, bands_hz, near_duplicate_threshold, outliers, seed, progress)
    hearing = None
    if listener is not None:
        with _progress(progress, len(word_clips(pack, indices, listener)), "listening") as advance:
            hearing = hear_pack(pack, indices, listener, advance=advance)
    findings["reference"] = hearing

    notes += findings.pop("notes")
    context = {
        "input": src,
        "pack": pack_path,
        "prepared": prepared,
        "prepare_options": prepare_options or {},
        "max_clips": max_clips,
        "seed": seed,
        "near_duplicate_threshold": near_duplicate_threshold,
    }
    with replaced_dir(out) as stage:  # an earlier report stays whole if writing this one fails
        paths = write_report(stage, pack=pack, context=context, notes=notes, **findings)
    paths = rebase_paths(paths, stage, Path(out))
    return ExploreResult(
        pack_path,
        prepared,
        list(pack.labels),
        len(pack),
        len(indices),
        float(pack.info["total_seconds"]),
        findings["leak_check"],
        findings["duplicates"],
        findings["outliers"],
        paths,
        notes,
        time.perf_counter() - started,
        hearing,
    )


def _pack_for(src: Path, out: Path, prepare_options: dict, progress: bool) -> tuple[Path, bool, list[str]]:
    """The pack to explore: ``src`` itself, or ``src`` prepared into ``out/pack``."""
    if out == src or src in out.parents:
        raise ConfigError(
            f"-o {out} lies inside {src}; write the report somewhere else (the source/pack stays as it is)"
        )
    if (src / "pack.json").is_file():
        if prepare_options:
            raise ConfigError(
                f"{src} is already a pack; prepare options ({', '.join(prepare_options)}) apply "
                "only to a source folder, CSV or npz; drop them or give the source"
            )
        return src, False, []
    _check_prepare_options(prepare_options)
    summary = prepare(src, out / PACK_DIR, progress=progress, **prepare_options)
    given = ", ".join(f"{k}={v!r}" for k, v in sorted(prepare_options.items()))
    shown = (
        f"{given} (other options: the defaults of 'wavetag prepare')" if given else "the defaults of 'wavetag prepare'"
    )
    state = "was up to date" if summary.unchanged else "was written"
    note = (
        f"{src} is a source, not a pack: it was prepared into {out / PACK_DIR} with {shown} "
        f"({summary.source} source, {summary.sample_rate:,} Hz; the pack {state}). "
        f"Train from that pack to get the same splits as this report."
    )
    return out / PACK_DIR, True, [note] + [f"prepare: {w}" for w in summary.warnings]


def _check_prepare_options(options: dict) -> None:
    allowed = [
        name
        for name, p in inspect.signature(prepare).parameters.items()
        if p.kind is p.KEYWORD_ONLY and name != "progress"
    ]
    for key in options:
        if key not in allowed:
            raise ConfigError(unknown_name_message("prepare option", key, allowed))


def _sample(n: int, max_clips: int | None, seed: int) -> np.ndarray:
    if max_clips is None or max_clips >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_clips, replace=False)).astype(np.int64)


def _analyse(pack, indices, bands_hz, threshold, n_outliers, seed, progress) -> dict[str, Any]:
    notes: list[str] = []
    with _progress(progress, len(indices), "analysing") as advance:
        stats = compute_stats(pack, indices, bands_hz=bands_hz, advance=advance)
    with _progress(progress, len(pack), "hashing") as advance:
        exact = exact_duplicates(pack, np.arange(len(pack)))
        advance(len(pack))
    noise = np.char.startswith(pack.index.group[indices].astype(str), NOISE_GROUP_PREFIX)
    near = near_duplicates(stats.summary, threshold, skip=noise)
    near = _drop_exact(exact, [(int(indices[i]), int(indices[j]), s) for i, j, s in near])
    if noise.any():
        notes.append(
            f"{int(noise.sum()):,} _silence_ clips cut from the background noise were left out of the "
            "near-duplicate search (they come from the same few recordings by design)"
        )
    class_of = main_class(membership(pack, indices))
    projection = project(stats.log_mel_db, class_of, seed=seed)
    order = np.argsort(-projection.scores, kind="stable")[:n_outliers]
    return {
        "stats": stats,
        "projection": projection,
        "class_of": class_of,
        "outlier_rows": order,
        "outliers": _outliers(pack, stats, projection.scores, order),
        "duplicates": ordered(describe(pack, exact, "exact") + describe(pack, near, "near")),
        "leak_check": find_leaks(pack.index.group, pack.index.split, clip_labels(pack)),
        "notes": notes,
    }


def _drop_exact(exact: list[tuple[int, int]], near: list[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    """Near pairs whose clips are copies of one another are already listed as exact."""
    first = {b: a for a, b in exact}
    root = lambda i: first.get(i, i)  # noqa: E731
    return [p for p in near if root(p[0]) != root(p[1])]


def _outliers(pack, stats, scores: np.ndarray, order: np.ndarray) -> list[Outlier]:
    out = []
    for rank, row in enumerate(order.tolist(), start=1):
        i = int(stats.indices[row])
        out.append(
            Outlier(
                rank,
                i,
                str(pack.index.path[i]),
                clip_label(pack, i),
                SPLITS[pack.index.split[i]],
                round(float(scores[row]), 3),
                round(float(stats.duration_s[row]), 3),
                round(float(stats.rms_dbfs[row]), 2),
            )
        )
    return out


def _progress(enabled: bool, total: int, what: str):
    """A context manager giving ``advance(n)``: a rich progress bar on stderr, or nothing."""
    if not enabled or total == 0:
        return nullcontext(lambda n: None)

    @contextmanager
    def bar():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as p:
            task = p.add_task(what, total=total)
            yield lambda n: p.advance(task, n)

    return bar()
