"""Streaming evaluation: run the detector over streams with known clip times and count.

For each reported class, in time order, a detection *hits* the earliest not yet hit clip of its
class whose span, widened by ``collar_s`` on each side, overlaps the detection's span; any other
detection is a *false accept* (a second detection of an already hit clip, a detection on a
clip of another class, on an ``_unknown_`` distractor or on the background). A detection that
stays on past its clip counts one more false accept per ``refractory_s`` (at least one hop) of
its time outside the clips of its class, so a detector stuck "on" over the background is not
scored as one hit. Reported:

- ``miss_rate``: clips of the class with no hit / clips of the class;
- ``fa_per_hour``: false accepts per hour of stream (all streams together);
- latency: ``fired_s`` minus the keyword's end time, over the hits (mean, median, 90th
  percentile): how long after the word a live detector speaks up (negative: before it ended);
- DET curves: per class, miss rate against that class's false accepts per hour as its threshold
  sweeps `THRESHOLD_GRID`, and for all classes with one shared threshold; written as
  ``det_curve.csv`` and ``det_curve.png`` (the operating point of the actual thresholds marked);
- ``miss_at_fa_per_hour``: per class, the lowest miss rate on its DET curve with at most 0.5 / 1
  / 2 false accepts per hour (`FA_PER_HOUR_POINTS`), and the threshold that gives it; None when
  no threshold gets that low. A stream of H hours resolves 1/H false accepts per hour: below that,
  the figure is the miss rate with no false accept at all (``fa_resolution_per_hour`` says it).

Posteriors are computed once per stream; the sweep only re-runs the cheap event rules.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wavetag.errors import DataError
from wavetag.inference.detector import (
    DetectionSettings,
    class_events,
    frame_times,
    resolve_settings,
    smooth_posteriors,
    stream_posteriors,
)
from wavetag.inference.streams import Placement, read_streams

THRESHOLD_GRID = np.unique(
    np.round(np.concatenate([np.arange(0.05, 0.95, 0.025), 1 - np.geomspace(0.05, 1e-4, 12)]), 6)
)
DEFAULT_COLLAR_S = 0.25  # slack around a clip's span when matching detections to it
RESULT_FILE = "stream_eval.json"
DET_PLOT_FILE = "det_curve.png"
DET_CSV_FILE = "det_curve.csv"
FA_PER_HOUR_POINTS = (0.5, 1.0, 2.0)  # operating points reported per class
LATENCY_PERCENTILE = 90


@dataclass
class ScoredStream:
    """Smoothed posteriors ``[N, K]`` of one stream with the frame times and the ground truth."""

    name: str
    smoothed: np.ndarray
    value_s: np.ndarray
    fired_s: np.ndarray
    hop_s: float
    duration_s: float
    truth: list[Placement]


@dataclass
class ClassCounts:
    clips: int = 0
    hits: int = 0
    false_accepts: int = 0
    latencies: list[float] | None = None

    def add(self, other: ClassCounts) -> None:
        self.clips += other.clips
        self.hits += other.hits
        self.false_accepts += other.false_accepts
        self.latencies = (self.latencies or []) + (other.latencies or [])

    def summary(self, hours: float) -> dict[str, Any]:
        lat = self.latencies or []
        return {
            "clips": self.clips,
            "detected": self.hits,
            "missed": self.clips - self.hits,
            "miss_rate": (self.clips - self.hits) / self.clips if self.clips else None,
            "false_accepts": self.false_accepts,
            "fa_per_hour": self.false_accepts / hours if hours > 0 else None,
            "latency_mean_s": float(np.mean(lat)) if lat else None,
            "latency_median_s": float(np.median(lat)) if lat else None,
            f"latency_p{LATENCY_PERCENTILE}_s": float(np.percentile(lat, LATENCY_PERCENTILE)) if lat else None,
        }


def score_stream(
    predictor,
    audio,
    truth: list[Placement],
    settings: DetectionSettings,
    *,
    name: str,
    sample_rate: int | None = None,
    batch_size: int = 64,
) -> ScoredStream:
    """Posteriors of one stream (a path, or an array with ``sample_rate``), smoothed as ``settings`` say."""
    post = stream_posteriors(
        predictor, audio, sample_rate=sample_rate, hop_s=settings.hop_s, batch_size=batch_size, name=name
    )
    return smoothed(post, truth, settings.smooth_frames(), name=name)


def smoothed(post, truth: list[Placement], frames: int, *, name: str) -> ScoredStream:
    """``post`` (`wavetag.inference.detector.Posteriors`) smoothed over ``frames`` posteriors."""
    value_s, fired_s = frame_times(post, frames)
    return ScoredStream(
        name, smooth_posteriors(post.probs, frames), value_s, fired_s, post.hop_s, post.duration_s, truth
    )


def count_class(
    streams: list[ScoredStream],
    k: int,
    label: str,
    *,
    threshold: float,
    refractory_s: float,
    collar_s: float = DEFAULT_COLLAR_S,
) -> ClassCounts:
    """Hits, false accepts and latencies (``fired_s`` minus the clip's end) of class ``label``
    (column ``k``) at ``threshold``."""
    total = ClassCounts(latencies=[])
    for s in streams:
        events = class_events(
            s.smoothed[:, k],
            s.value_s,
            s.fired_s,
            label=label,
            threshold=threshold,
            refractory_s=refractory_s,
            hop_s=s.hop_s,
            duration_s=s.duration_s,
        )
        truth = sorted((p for p in s.truth if p.label == label), key=lambda p: p.start_s)
        starts = np.array([p.start_s - collar_s for p in truth])
        ends = np.array([p.end_s + collar_s for p in truth])
        hit = np.zeros(len(truth), bool)
        counts = ClassCounts(clips=len(truth), latencies=[])
        unit = max(refractory_s, s.hop_s)
        for e in events:
            free = np.flatnonzero(~hit & (starts < e.end_s) & (ends > e.start_s))
            outside = (e.end_s - e.start_s) - _covered_s(e.start_s, e.end_s, starts, ends)
            if len(free):
                hit[free[0]] = True
                counts.hits += 1
                counts.latencies.append(e.fired_s - truth[free[0]].end_s)
                counts.false_accepts += int(outside // unit)
            else:
                counts.false_accepts += max(1, int(outside // unit))
        total.add(counts)
    return total


def _covered_s(start_s: float, end_s: float, starts: np.ndarray, ends: np.ndarray) -> float:
    """Seconds of ``[start_s, end_s]`` inside the union of the intervals ``[starts[i], ends[i]]`` (sorted by start)."""
    covered, reach = 0.0, start_s
    for a, b in zip(starts.tolist(), ends.tolist(), strict=False):
        a, b = max(a, reach), min(b, end_s)
        if b > a:
            covered += b - a
            reach = b
    return covered


def evaluate_streams(
    predictor,
    streams_dir: str | Path,
    *,
    hop_s: float | None = None,
    smooth_s: float | None = None,
    thresholds: dict[str, float] | float | None = None,
    refractory_s: float | None = None,
    collar_s: float = DEFAULT_COLLAR_S,
    out_dir: str | Path | None = None,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Detect on every stream of ``streams_dir`` (made by `wavetag.inference.streams.build_streams`)
    and score against its labels.csv. With ``out_dir``, writes ``stream_eval.json`` and
    ``det_curve.csv`` and ``det_curve.png`` there. ``progress(n)`` is called after each stream."""
    settings = resolve_settings(
        predictor, hop_s=hop_s, smooth_s=smooth_s, thresholds=thresholds, refractory_s=refractory_s
    )
    manifest, truth = read_streams(streams_dir)
    check_stream_labels(predictor, truth, Path(streams_dir))
    scored = []
    for name, placements in truth.items():
        scored.append(
            score_stream(predictor, Path(streams_dir) / name, placements, settings, name=name, batch_size=batch_size)
        )
        if progress:
            progress(1)
    hours = sum(s.duration_s for s in scored) / 3600.0
    result = summarize(predictor, scored, settings, collar_s=collar_s)
    result.update(
        model=str(predictor.model_dir) if predictor.model_dir else None,
        streams=str(streams_dir),
        split=manifest.get("split"),
        files=len(scored),
        hours=hours,
    )
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        result["det_plot"] = str(plot_det(result, out / DET_PLOT_FILE))
        result["det_csv"] = str(write_det_csv(result, out / DET_CSV_FILE))
        result["json"] = str(out / RESULT_FILE)
        (out / RESULT_FILE).write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
    return result


def summarize(predictor, scored: list[ScoredStream], settings: DetectionSettings, *, collar_s: float) -> dict[str, Any]:
    """Operating-point metrics per class and overall, plus the DET sweep."""
    hours = sum(s.duration_s for s in scored) / 3600.0
    targets = [(k, label) for k, label in enumerate(predictor.labels) if label in settings.thresholds]
    overall, per_class = ClassCounts(latencies=[]), {}
    for k, label in targets:
        c = count_class(
            scored,
            k,
            label,
            threshold=settings.thresholds[label],
            refractory_s=settings.refractory_s,
            collar_s=collar_s,
        )
        per_class[label] = {"threshold": settings.thresholds[label], **c.summary(hours)}
        overall.add(c)
    det: dict[str, Any] = {
        "thresholds": THRESHOLD_GRID.tolist(),
        "overall": {"miss_rate": [], "fa_per_hour": []},
        "per_class": {},
    }
    for k, label in targets:
        curve = [
            count_class(scored, k, label, threshold=float(t), refractory_s=settings.refractory_s, collar_s=collar_s)
            for t in THRESHOLD_GRID
        ]
        det["per_class"][label] = _curve(curve, hours)
    for i in range(len(THRESHOLD_GRID)):
        clips = sum(per_class[label]["clips"] for _, label in targets)
        missed = sum(det["per_class"][label]["missed"][i] for _, label in targets)
        fas = sum(det["per_class"][label]["false_accepts"][i] for _, label in targets)
        det["overall"]["miss_rate"].append(missed / clips if clips else None)
        det["overall"]["fa_per_hour"].append(fas / hours if hours > 0 else None)
    for _, label in targets:
        per_class[label]["miss_at_fa_per_hour"] = miss_at_fa(det["per_class"][label])
    overall_summary = overall.summary(hours)
    overall_summary["miss_at_fa_per_hour"] = miss_at_fa(det["overall"])
    overall_summary["fa_resolution_per_hour"] = 1.0 / hours if hours > 0 else None
    return {
        "settings": settings.to_dict(),
        "collar_s": collar_s,
        "overall": overall_summary,
        "per_class": per_class,
        "det": det,
    }


def miss_at_fa(curve: dict[str, list], points: tuple[float, ...] = FA_PER_HOUR_POINTS) -> dict[str, Any]:
    """``{"0.5": {"miss_rate", "fa_per_hour", "threshold"} | None, "1": ..., "2": ...}``: for each
    point, the lowest miss rate of a DET ``curve`` (lists over `THRESHOLD_GRID`) among thresholds
    with at most that many false accepts per hour (the lowest such threshold on ties)."""
    miss = np.array([np.inf if m is None else m for m in curve["miss_rate"]])
    fa = np.array([np.inf if f is None else f for f in curve["fa_per_hour"]])
    out: dict[str, Any] = {}
    for point in points:
        ok = np.flatnonzero((fa <= point + 1e-9) & np.isfinite(miss))
        if not len(ok):
            out[f"{point:g}"] = None
            continue
        i = int(ok[np.argmin(miss[ok])])
        out[f"{point:g}"] = {
            "miss_rate": float(miss[i]),
            "fa_per_hour": float(fa[i]),
            "threshold": float(THRESHOLD_GRID[i]),
        }
    return out


def write_det_csv(result: dict[str, Any], path: str | Path) -> Path:
    """The DET sweep of `summarize`'s result as CSV: one row per (class, threshold), the class
    ``_all_`` being every class with one shared threshold."""
    det = result["det"]
    path = Path(path)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["class", "threshold", "miss_rate", "fa_per_hour", "missed", "false_accepts"])
        for label, curve in det["per_class"].items():
            for i, t in enumerate(det["thresholds"]):
                miss = curve["miss_rate"][i]
                writer.writerow(
                    [
                        label,
                        f"{t:.4f}",
                        "" if miss is None else f"{miss:.4f}",
                        f"{curve['fa_per_hour'][i]:.3f}",
                        curve["missed"][i],
                        curve["false_accepts"][i],
                    ]
                )
        for i, t in enumerate(det["thresholds"]):
            miss, fa = det["overall"]["miss_rate"][i], det["overall"]["fa_per_hour"][i]
            writer.writerow(
                ["_all_", f"{t:.4f}", "" if miss is None else f"{miss:.4f}", "" if fa is None else f"{fa:.3f}", "", ""]
            )
    return path


def _curve(counts: list[ClassCounts], hours: float) -> dict[str, list]:
    return {
        "miss_rate": [(c.clips - c.hits) / c.clips if c.clips else None for c in counts],
        "fa_per_hour": [c.false_accepts / hours if hours > 0 else None for c in counts],
        "missed": [c.clips - c.hits for c in counts],
        "false_accepts": [c.false_accepts for c in counts],
    }


def check_stream_labels(predictor, truth: dict[str, list[Placement]], root: Path) -> None:
    found = {p.label for placements in truth.values() for p in placements}
    unknown = sorted(x for x in found if x not in predictor.labels and not x.startswith("_"))
    if unknown:
        raise DataError(
            f"{root}: labels.csv has classes the model does not know ({', '.join(unknown)}; the model's: "
            f"{', '.join(predictor.labels)}); build the streams from a pack with the model's classes"
        )


def plot_det(result: dict[str, Any], path: str | Path) -> Path:
    """DET curve (miss rate against false accepts per hour) of `summarize`'s result → PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    det, hours = result["det"], max(result.get("hours") or 0.0, 1e-9)
    fig = Figure(figsize=(6.4, 4.8), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for label, curve in det["per_class"].items():
        if None in curve["miss_rate"]:  # no clip of this class in the streams
            continue
        ax.plot(curve["fa_per_hour"], [100 * m for m in curve["miss_rate"]], lw=0.8, alpha=0.5, label=label)
    ax.plot(
        det["overall"]["fa_per_hour"],
        [100 * (m or 0) for m in det["overall"]["miss_rate"]],
        color="black",
        lw=2,
        label="all classes (shared threshold)",
    )
    op = result["overall"]
    if op["miss_rate"] is not None:
        ax.plot(
            [op["fa_per_hour"]],
            [100 * op["miss_rate"]],
            "o",
            color="red",
            ms=8,
            label="operating point (per-class thresholds)",
        )
    for point in FA_PER_HOUR_POINTS:
        ax.axvline(point, color="grey", ls=":", lw=0.8)
    ax.set_xscale("symlog", linthresh=max(1.0 / hours, 0.1))
    ax.set_xlim(left=0.0)  # dotted: 0.5, 1 and 2 false accepts per hour
    ax.set_xlabel("false accepts per hour")
    ax.set_ylabel("miss rate (%)")
    ax.set_ylim(-2, 102)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(f"DET: {result.get('files', '?')} streams, {hours:.2f} h")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
