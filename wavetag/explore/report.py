"""Write the dataset report: report.md, report.html, explore.json, clips.csv, spectra.npz, plots/, audio/.

The page is built once as a list of blocks (heading, paragraph, table, figure, list) and rendered
twice, to Markdown and to HTML; every string from the data (file names, labels, groups, paths)
is escaped by the renderer. The HTML needs no network: plots and the outliers' audio sit beside it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from wavetag import __version__, audio
from wavetag.data.splits import SPLITS
from wavetag.evaluate.breakdown import pct
from wavetag.evaluate.compute import to_json_ready
from wavetag.evaluate.reference import REFERENCE_CSV, Hearing, clip_rows, listener_summary, write_reference_csv
from wavetag.evaluate.report import HTML_TEMPLATE, html_escape, html_table, md_escape
from wavetag.explore import plots
from wavetag.explore.duplicates import clip_labels
from wavetag.explore.stats import (
    FRAME_S,
    SILENCE_BELOW_LOUDEST_DB,
    SILENCE_FLOOR_DBFS,
    SPEC_SECONDS,
    SUMMARY_SEGMENTS,
    ClipStats,
    membership,
)

MAX_ROWS = 100  # rows of the duplicate / leak tables on the page (all of them in explore.json, up to MAX_PAIRS)
MAX_PAIRS = 10_000  # duplicate pairs kept in explore.json
MAX_AUDIO_S = 10.0  # outlier clips are cut to this in audio/
CLIPPED_DBFS = -0.1  # a peak at or above this is counted as (possibly) clipped
MOSTLY_SILENT = 0.9  # silence share from which a clip counts as mostly silent
PLOT_TITLES = {
    "class_counts": "Clips per class and split",
    "durations": "Durations",
    "sample_rates": "Original sample rates",
    "levels": "Peak and RMS levels",
    "silence": "Silence share",
    "mean_spectra": "Mean magnitude spectrum per class",
    "class_spectrograms": f"Mean log-spectrogram per class (first {SPEC_SECONDS:g} s)",
    "band_violins": "Band energies per class",
    "pca": "PCA of per-clip log spectra",
}


@dataclass
class Media:
    """A table cell holding an audio file (a player in HTML, a link in Markdown)."""

    path: str


@dataclass
class ExplorePaths:
    """What `explore` wrote, all inside ``out_dir``."""

    out_dir: Path
    report_md: Path
    report_html: Path
    explore_json: Path
    clips_csv: Path
    spectra_npz: Path
    plots: dict[str, Path] = field(default_factory=dict)
    audio: list[Path] = field(default_factory=list)


def write_report(
    out_dir: Path,
    *,
    pack,
    context: dict,
    notes: list[str],
    stats: ClipStats,
    projection,
    class_of: np.ndarray,
    outlier_rows: np.ndarray,
    outliers: list,
    duplicates: list,
    leak_check,
    reference: Hearing | None = None,
) -> ExplorePaths:
    """Write every file of the report into ``out_dir`` and return their paths (``reference``: what
    the reference listener heard, or None)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = ExplorePaths(
        out, out / "report.md", out / "report.html", out / "explore.json", out / "clips.csv", out / "spectra.npz"
    )
    data = _numbers(pack, context, notes, stats, projection, outliers, duplicates, leak_check)
    paths.plots = _plots(out / "plots", pack, stats, projection, class_of, outlier_rows, data)
    paths.audio = _outlier_audio(out / "audio", pack, outliers)
    data["files"] = {k: str(p.relative_to(out)) for k, p in paths.plots.items()}
    if reference is not None:
        data["reference"] = _reference_numbers(pack, reference)
        write_reference_csv(out / REFERENCE_CSV, clip_rows(pack, reference))
    paths.explore_json.write_text(json.dumps(to_json_ready(data), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    _write_clips_csv(paths.clips_csv, pack, stats, projection, class_of)
    np.savez_compressed(
        paths.spectra_npz,
        labels=np.array(pack.labels, dtype=str),
        freqs_hz=stats.analysis.freqs_hz,
        mean_magnitude_db=stats.mean_magnitude_db,
        frame_times_s=stats.analysis.frame_times_s,
        mean_log_spec_db=stats.mean_log_spec_db,
    )
    blocks = _blocks(data, paths, outliers, duplicates, leak_check)
    paths.report_md.write_text(render_markdown(blocks), encoding="utf-8")
    paths.report_html.write_text(render_html(blocks, title=data["title"]), encoding="utf-8")
    return paths


# ---------------------------------------------------------------------------- numbers


def _summary(x: np.ndarray) -> dict[str, float | None]:
    x = np.asarray(x, dtype=np.float64)
    if not len(x):
        return {"min": None, "median": None, "mean": None, "max": None}
    return {"min": float(x.min()), "median": float(np.median(x)), "mean": float(x.mean()), "max": float(x.max())}


def _histogram(x: np.ndarray, bins: int = 30) -> dict[str, list]:
    counts, edges = np.histogram(np.asarray(x, dtype=np.float64), bins=bins)
    return {"edges": np.round(edges, 4).tolist(), "counts": counts.tolist()}


def sample_rates(pack) -> dict[int, int]:
    """Clips per original sample rate, from ``pack.json`` (resampled counts; the rest were at the pack's rate)."""
    resampled = {int(rate): int(k) for rate, k in (pack.info.get("resampled") or {}).items()}
    rest = len(pack) - sum(resampled.values())
    return dict(sorted({**resampled, **({pack.sample_rate: rest} if rest else {})}.items()))


def _numbers(pack, context, notes, stats, projection, outliers, duplicates, leak_check) -> dict[str, Any]:
    durations = pack.index.length / pack.sample_rate
    analysed = len(stats.indices)
    data = {
        "title": f"wavetag dataset report: {Path(str(context['input'])).name}",
        "wavetag_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "input": str(context["input"]),
        "pack": str(context["pack"]),
        "prepared": context["prepared"],
        "prepare_options": context["prepare_options"],
        "sample_rate": pack.sample_rate,
        "clip_seconds": pack.clip_seconds,
        "multi_label": pack.multi_label,
        "labels": list(pack.labels),
        "num_clips": len(pack),
        "num_analysed": analysed,
        "max_clips": context["max_clips"],
        "seed": context["seed"],
        "total_seconds": float(pack.info["total_seconds"]),
        "counts": pack.counts(),
        "per_class": _per_class(pack, stats),
        "durations": {**_summary(durations), "histogram": _histogram(durations)},
        "sample_rates": {str(k): v for k, v in sample_rates(pack).items()},
        "levels": {
            "peak_dbfs": _summary(stats.peak_dbfs),
            "rms_dbfs": _summary(stats.rms_dbfs),
            "clipped_clips": int((stats.peak_dbfs >= CLIPPED_DBFS).sum()),
            "digitally_silent_clips": int((stats.peak_dbfs <= -199).sum()),
        },
        "silence": {
            "rule": _silence_rule(),
            **_summary(stats.silence_share),
            "mostly_silent_clips": int((stats.silence_share >= MOSTLY_SILENT).sum()),
            "histogram": _histogram(stats.silence_share, bins=20),
        },
        "bands_hz": [list(b) for b in stats.analysis.bands_hz],
        "mean_spectrum": {
            "freqs_hz": np.round(stats.analysis.freqs_hz, 2).tolist(),
            "db": {name: np.round(stats.mean_magnitude_db[k], 2).tolist() for k, name in enumerate(pack.labels)},
        },
        "pca": {"explained_variance_ratio": np.round(projection.explained, 4).tolist()},
        "outliers": [o.to_dict() for o in outliers],
        "duplicates": {
            "threshold": context["near_duplicate_threshold"],
            "exact_pairs": sum(d.kind == "exact" for d in duplicates),
            "near_pairs": sum(d.kind == "near" for d in duplicates),
            "cross_split_pairs": sum(d.cross_split for d in duplicates),
            "pairs": [d.to_dict() for d in duplicates[:MAX_PAIRS]],
        },
        "leakage": leak_check.to_dict(),
        "notes": list(notes),
    }
    if len(duplicates) > MAX_PAIRS:
        data["notes"].append(f"{len(duplicates):,} duplicate pairs; explore.json keeps the first {MAX_PAIRS:,}")
    return data


def _silence_rule() -> str:
    return (
        f"share of {FRAME_S * 1000:g}-ms frames (half-overlapping) whose RMS is below "
        f"max({SILENCE_FLOOR_DBFS:g} dBFS, the clip's loudest frame - {SILENCE_BELOW_LOUDEST_DB:g} dB)"
    )


def _median(x: np.ndarray) -> float | None:
    return float(np.median(x)) if len(x) else None


def _per_class(pack, stats: ClipStats) -> list[dict[str, Any]]:
    counts, y = pack.counts(), membership(pack, stats.indices).astype(bool)
    rows = []
    for k, name in enumerate(pack.labels):
        m = y[:, k]
        rows.append(
            {
                "label": name,
                **{s: counts[s].get(name, 0) for s in SPLITS},
                "total": sum(counts[s].get(name, 0) for s in SPLITS),
                "analysed": int(m.sum()),
                "median_duration_s": _median(stats.duration_s[m]),
                "median_rms_dbfs": _median(stats.rms_dbfs[m]),
                "median_silence_share": _median(stats.silence_share[m]),
                "median_band_db": [_median(stats.band_db[m, b]) for b in range(stats.band_db.shape[1])],
            }
        )
    return rows


# ---------------------------------------------------------------------------- files


def _plots(plot_dir: Path, pack, stats: ClipStats, projection, class_of, outlier_rows, data) -> dict[str, Path]:
    labels, a = list(pack.labels), stats.analysis
    shown = _top_classes(stats.class_clips, plots.MAX_CLASSES)
    cut = f" ({len(shown)} most frequent of {len(labels)} classes)" if len(shown) < len(labels) else ""
    made = {
        "class_counts": plots.plot_class_counts(labels, pack.counts(), plot_dir / "class_counts.png"),
        "durations": plots.plot_histogram(
            pack.index.length / pack.sample_rate,
            plot_dir / "durations.png",
            xlabel="duration (s)",
            title="clip durations",
            log_y=False,
        ),
        "sample_rates": plots.plot_sample_rates(sample_rates(pack), pack.sample_rate, plot_dir / "sample_rates.png"),
        "levels": plots.plot_levels(stats.peak_dbfs, stats.rms_dbfs, plot_dir / "levels.png"),
        "silence": plots.plot_histogram(
            stats.silence_share,
            plot_dir / "silence.png",
            xlabel="share of silent frames",
            title="silence share per clip",
            bins=20,
        ),
        "mean_spectra": plots.plot_mean_spectra(
            a.freqs_hz, stats.mean_magnitude_db[shown], [labels[k] for k in shown], plot_dir / "mean_spectra.png"
        ),
        "class_spectrograms": _class_spectrograms(plot_dir, stats, shown, labels, cut),
    }
    keep = np.isin(class_of, shown)
    remap = np.full(len(labels) + 1, -1)
    remap[shown] = np.arange(len(shown))
    made["band_violins"] = plots.plot_band_violins(
        stats.band_db[keep],
        remap[class_of[keep]],
        [labels[k] for k in shown],
        a.bands_hz,
        plot_dir / "band_violins.png",
    )
    made["pca"] = plots.plot_pca(
        projection.coords, class_of, labels, projection.explained, outlier_rows, plot_dir / "pca.png"
    )
    return made


def _class_spectrograms(plot_dir: Path, stats: ClipStats, shown: np.ndarray, labels: list[str], cut: str) -> Path:
    """The per-class spectrogram grid, cut to the frames some clip reaches (short clips end early)."""
    a, spec = stats.analysis, stats.mean_log_spec_db[shown]
    reached = np.flatnonzero(np.isfinite(spec).any(axis=(0, 1)))
    frames = int(reached[-1]) + 1 if len(reached) else 1
    seconds = (frames - 1) * a.hop / a.sample_rate + a.win / a.sample_rate
    return plots.plot_class_spectrograms(
        spec[..., :frames],
        [labels[k] for k in shown],
        a.freqs_hz,
        seconds,
        plot_dir / "class_spectrograms.png",
        title=f"mean log-spectrogram (dB) of the first {SPEC_SECONDS:g} s{cut}",
    )


def _top_classes(class_clips: np.ndarray, limit: int) -> np.ndarray:
    present = np.flatnonzero(class_clips > 0)
    if len(present) <= limit:
        return present
    return np.sort(present[np.argsort(-class_clips[present], kind="stable")[:limit]])


def _outlier_audio(audio_dir: Path, pack, outliers: list) -> list[Path]:
    written = []
    for o in outliers:
        samples = pack.waveform(o.index)[: int(MAX_AUDIO_S * pack.sample_rate)]
        written.append(audio.save(audio_dir / f"outlier_{o.rank:03d}.wav", samples, pack.sample_rate))
    return written


def _write_clips_csv(path: Path, pack, stats: ClipStats, projection, class_of) -> None:
    """One row per analysed clip: where it is, what it is, and every number measured on it."""
    names, bands = clip_labels(pack), [f"band_db_{lo:g}_{hi:g}_hz" for lo, hi in stats.analysis.bands_hz]
    idx = stats.indices
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "index",
                "path",
                "label",
                "split",
                "group",
                "duration_s",
                "peak_dbfs",
                "rms_dbfs",
                "silence_share",
                *bands,
                "pc1",
                "pc2",
                "outlier_score",
            ]
        )
        for row, i in enumerate(idx.tolist()):
            w.writerow(
                [
                    i,
                    pack.index.path[i],
                    names[i],
                    SPLITS[pack.index.split[i]],
                    pack.index.group[i],
                    f"{stats.duration_s[row]:.3f}",
                    f"{stats.peak_dbfs[row]:.2f}",
                    f"{stats.rms_dbfs[row]:.2f}",
                    f"{stats.silence_share[row]:.3f}",
                    *(f"{v:.2f}" for v in stats.band_db[row]),
                    f"{projection.coords[row, 0]:.4f}",
                    f"{projection.coords[row, 1]:.4f}",
                    f"{projection.scores[row]:.3f}",
                ]
            )


# ---------------------------------------------------------------------------- page


def _blocks(data: dict, paths, outliers: list, duplicates: list, leak_check) -> list[tuple]:
    """The page as blocks: ("h1"|"h2"|"p"|"strong", text), ("list", items), ("table", header, rows), ("img", key)."""
    b: list[tuple] = [("h1", data["title"]), ("p", _header(data))]
    b += [("h2", "Findings"), ("list", _findings(data, outliers, leak_check))]
    if data["notes"]:
        b += [("h2", "Notes"), ("list", data["notes"])]
    b += [("h2", "Classes and splits"), ("img", "class_counts")]
    b += [
        (
            "table",
            [
                "class",
                "train",
                "validation",
                "test",
                "total",
                "analysed",
                "median s",
                "median RMS dBFS",
                "median silence",
            ],
            [_class_row(r) for r in data["per_class"]],
        )
    ]
    b += [("h2", "Durations, sample rates and levels"), ("p", _levels_text(data))]
    b += [("img", k) for k in ("durations", "sample_rates", "levels", "silence")]
    b += [
        ("h2", "Spectra"),
        (
            "p",
            "Mean magnitude spectrum of each class (mean over clips of each clip's mean |FFT| "
            "over 30-ms frames), and the mean dB spectrogram of the first second of its clips.",
        ),
    ]
    b += [("img", "mean_spectra"), ("img", "class_spectrograms"), ("img", "band_violins")]
    b += _outlier_blocks(data, outliers)
    b += _duplicate_blocks(data, duplicates)
    b += _leak_blocks(leak_check)
    b += _reference_blocks(data["reference"]) if "reference" in data else []
    files = [
        "report.md / report.html (this page)",
        "explore.json (every number on this page)",
        "clips.csv (one row per analysed clip)",
        "spectra.npz (per-class mean spectra and spectrograms)",
    ]
    if "reference" in data:
        files.append(f"{REFERENCE_CSV} (the reference listener's verdict on each word clip)")
    return b + [("h2", "Files"), ("list", files)]


def _header(data: dict) -> str:
    kind = "source prepared into " + data["pack"] if data["prepared"] else "pack " + data["pack"]
    return (
        f"{kind} · {data['num_clips']:,} clips · {len(data['labels'])} classes · "
        f"{_duration(data['total_seconds'])} · {data['sample_rate']:,} Hz · "
        f"{'multi-label' if data['multi_label'] else 'single-label'} · analysed {data['num_analysed']:,} clips"
    )


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def _findings(data: dict, outliers: list, leak_check) -> list[str]:
    d, leaks = data["duplicates"], leak_check.leaks
    leak = (
        f"LEAKAGE: {len(leaks)} speaker(s)/group(s) in more than one split: "
        + ", ".join(x.group for x in leaks[:10])
        + (" ..." if len(leaks) > 10 else "")
        if leaks
        else f"no speaker/group in more than one split ({leak_check.groups:,} groups checked"
        + (f"; {leak_check.clips_without_group:,} clips have no group" if leak_check.clips_without_group else "")
        + ")"
    )
    out = [
        leak,
        f"{d['exact_pairs']} exact duplicate pair(s), {d['near_pairs']} near-duplicate pair(s) "
        f"(similarity ≥ {d['threshold']:g}); {d['cross_split_pairs']} cross splits (leakage)",
    ]
    if outliers:
        top = outliers[0]
        out.append(f"most unusual clip: {top.path} ({top.label}, score {top.score:.1f}); {len(outliers)} listed below")
    lv = data["levels"]
    out.append(
        f"{lv['clipped_clips']} clip(s) peak at ≥ {CLIPPED_DBFS:g} dBFS (possibly clipped); "
        f"{lv['digitally_silent_clips']} digitally silent; {data['silence']['mostly_silent_clips']} mostly silent "
        f"(≥ {MOSTLY_SILENT:.0%} silent frames)"
    )
    ref = data.get("reference")
    if ref:
        out.append(
            f"the reference listener heard {pct(ref['accuracy'])} of {ref['clips']:,} word clips as their word; "
            f"{ref['clips_not_heard']:,} as another word or nothing (listed below)"
        )
    return out


def _class_row(r: dict) -> list[str]:
    f = lambda v, fmt: "n/a" if v is None else format(v, fmt)  # noqa: E731
    return [
        r["label"],
        *(f"{r[s]:,}" for s in SPLITS),
        f"{r['total']:,}",
        f"{r['analysed']:,}",
        f(r["median_duration_s"], ".2f"),
        f(r["median_rms_dbfs"], ".1f"),
        f(r["median_silence_share"], ".0%"),
    ]


def _levels_text(data: dict) -> str:
    dur, lv = data["durations"], data["levels"]
    fixed = f" (padded/trimmed to {data['clip_seconds']:g} s by prepare)" if data["clip_seconds"] else ""
    rates = ", ".join(f"{int(r):,} Hz: {n:,}" for r, n in data["sample_rates"].items())
    return (
        f"Durations{fixed}: min {dur['min']:.2f} s, median {dur['median']:.2f} s, max {dur['max']:.2f} s. "
        f"Original sample rates (from pack.json): {rates}. Median peak {lv['peak_dbfs']['median']:.1f} dBFS, "
        f"median RMS {lv['rms_dbfs']['median']:.1f} dBFS. Silence share: {data['silence']['rule']}."
    )


def _outlier_blocks(data: dict, outliers: list) -> list[tuple]:
    ev = data["pca"]["explained_variance_ratio"]
    text = (
        "Each clip's mean log-mel spectrum, standardised per band, projected on its principal axes "
        f"(the first two explain {sum(ev[:2]):.0%} of the variance). Outlier score: robust distance from the "
        "median of the clip's own class over the first principal axes, in typical deviations of that class "
        "(3 = unusual, 10 = very unusual). Listen to them: mislabelled, corrupted, clipped or empty clips "
        "come first."
    )
    rows = [
        [
            str(o.rank),
            o.path,
            o.label,
            o.split,
            f"{o.score:.2f}",
            f"{o.duration_s:.2f}",
            f"{o.rms_dbfs:.1f}",
            Media(f"audio/outlier_{o.rank:03d}.wav"),
        ]
        for o in outliers
    ]
    return [
        ("h2", "PCA and outliers"),
        ("p", text),
        ("img", "pca"),
        ("table", ["#", "file", "label", "split", "score", "s", "RMS dBFS", "listen"], rows),
    ]


def _duplicate_blocks(data: dict, duplicates: list) -> list[tuple]:
    d = data["duplicates"]
    text = (
        f"Exact: identical samples in the pack. Near: cosine similarity ≥ {d['threshold']:g} of the clips' "
        f"log-mel summaries ({SUMMARY_SEGMENTS} time segments, gain removed). Pairs across splits come first: "
        "the same sound in train and test inflates the test score."
    )
    rows = [
        [
            p.kind,
            p.path_a,
            p.path_b,
            p.label_a if p.label_a == p.label_b else f"{p.label_a} / {p.label_b}",
            f"{p.split_a} / {p.split_b}",
            f"{p.similarity:.4f}",
            "LEAK" if p.cross_split else "",
        ]
        for p in duplicates[:MAX_ROWS]
    ]
    more = (
        [("p", f"Showing {MAX_ROWS} of {len(duplicates):,} pairs; explore.json has them all.")]
        if len(duplicates) > MAX_ROWS
        else []
    )
    table = (
        [("table", ["kind", "file", "duplicate", "label", "splits", "similarity", "cross split"], rows)]
        if rows
        else [("p", "None found.")]
    )
    return [("h2", "Duplicates"), ("p", text)] + table + more


def _leak_blocks(leak_check) -> list[tuple]:
    text = (
        "Groups (speakers: the SPEAKER_nohash_ file-name prefix, or a speaker/group column) found in more than one "
        "split. "
        "A speaker heard in training makes the validation and test scores optimistic; re-split with "
        "'wavetag prepare --split hash' or '--split group:speaker'."
    )
    if leak_check.noise_clips:
        text += f" {leak_check.noise_clips:,} _silence_ clips cut from the background noise are not checked."
    if leak_check.clips_without_group:
        text += f" {leak_check.clips_without_group:,} clips have no group and cannot be checked."
    rows = [
        [x.group, *(f"{x.clips.get(s, 0):,}" for s in SPLITS), ", ".join(x.labels[:5])]
        for x in leak_check.leaks[:MAX_ROWS]
    ]
    table = [("table", ["speaker / group", *SPLITS, "labels"], rows)] if rows else [("p", "No leakage found.")]
    more = (
        [("p", f"Showing {MAX_ROWS} of {len(leak_check.leaks):,} groups; explore.json has them all.")]
        if len(leak_check.leaks) > MAX_ROWS
        else []
    )
    return [("h2", "Speaker / group leakage"), ("p", text)] + table + more


def _reference_numbers(pack, hearing: Hearing) -> dict[str, Any]:
    """`listener_summary`, and the clips heard as another word (the first `MAX_PAIRS`)."""
    out = listener_summary(pack, hearing)
    rows = clip_rows(pack, hearing)
    out["not_heard"] = [
        {**row, "heard": row["heard"] or "(nothing)"} for row, a in zip(rows, hearing.agrees, strict=True) if not a
    ][:MAX_PAIRS]
    return out


def _reference_blocks(ref: dict) -> list[tuple]:
    text = (
        f"A second opinion from {ref['listener']}, forced to choose among the word labels: a clip it hears as "
        "another word (or as nothing) may be mislabelled, cut short or unclear - or said in a way the listener, "
        "weaker than a trained model, does not know. Listen before dropping anything."
    )
    per_label = [[r["label"], f"{r['clips']:,}", pct(r["accuracy"])] for r in ref["by_label"]]
    rows = [[c["path"], c["label"], c["heard"], c["split"]] for c in ref["not_heard"][:MAX_ROWS]]
    more = (
        [("p", f"Showing {MAX_ROWS} of {ref['clips_not_heard']:,} clips; {REFERENCE_CSV} has them all.")]
        if ref["clips_not_heard"] > MAX_ROWS
        else []
    )
    table = [("table", ["file", "label", "heard", "split"], rows)] if rows else [("p", "It heard every clip right.")]
    header = ["word clips", "heard as their word"]
    by_group = [
        ("table", [key, *header], [[r["value"], f"{r['clips']:,}", pct(r["accuracy"])] for r in ref[f"by_{key}"]])
        for key in ("engine", "voice")
        if len(ref.get(f"by_{key}") or []) > 1
    ]
    head = [("h2", "Reference listener"), ("p", text), ("table", ["label", *header], per_label)]
    return head + by_group + table + more


# ---------------------------------------------------------------------------- rendering


def render_markdown(blocks: Sequence[tuple]) -> str:
    out: list[str] = []
    for kind, *rest in blocks:
        if kind == "h1":
            out += [f"# {_md_text(rest[0])}", ""]
        elif kind == "h2":
            out += [f"## {_md_text(rest[0])}", ""]
        elif kind == "p":
            out += [_md_text(rest[0]), ""]
        elif kind == "list":
            out += [f"- {_md_text(item)}" for item in rest[0]] + [""]
        elif kind == "img":
            out += [f"![{PLOT_TITLES[rest[0]]}](plots/{rest[0]}.png)", ""]
        elif kind == "table":
            header, rows = rest
            out += ["| " + " | ".join(_md_text(h) for h in header) + " |", "|---" * len(header) + "|"]
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows] + [""]
    return "\n".join(out) + "\n"


def _md_cell(cell: Any) -> str:
    return f"[wav]({cell.path})" if isinstance(cell, Media) else _md_text(cell)


def _md_text(text: Any) -> str:
    """`md_escape` (HTML-safe, table-safe) plus Markdown's emphasis characters: ``_silence_`` stays as written."""
    return md_escape(str(text).replace("\\", "\\\\")).replace("*", "\\*").replace("_", "\\_")


def render_html(blocks: Sequence[tuple], *, title: str) -> str:
    body: list[str] = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2", "p"):
            body.append(f"<{kind}>{html_escape(rest[0])}</{kind}>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{html_escape(item)}</li>" for item in rest[0]) + "</ul>")
        elif kind == "img":
            name = PLOT_TITLES[rest[0]]
            body.append(
                f"<figure><img src='plots/{html_escape(rest[0])}.png' alt='{html_escape(name)}'>"
                f"<figcaption>{html_escape(name)}</figcaption></figure>"
            )
        elif kind == "table":
            header, rows = rest
            body.append(html_table(list(header), [[_html_cell(c) for c in row] for row in rows]))
    return HTML_TEMPLATE.format(title=html_escape(title), body="\n".join(body))


def _html_cell(cell: Any) -> str:
    if isinstance(cell, Media):
        return f"<audio controls preload='none' src='{html_escape(cell.path)}'></audio>"
    return html_escape(cell)
