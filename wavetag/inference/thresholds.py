"""Detection thresholds tuned on the validation split for a target false-accept rate.

    validation clips placed in background noise (`wavetag.inference.streams.make_streams`)
      --posteriors every hop_s, smoothed over smooth_s (once)--> per class, sweep THRESHOLD_GRID:
      keep the thresholds whose false accepts per hour (that class's) are <= the target, and among
      them those with the fewest misses; take the middle one of those (a margin both ways)

`tune_on_streams` tunes on a streams folder instead (`wavetag streams --split validation
--negative-minutes 60`: an hour or more of background and non-keyword talk from speakers never
heard in training, so that one false accept per hour can be measured), and picks the posterior
smoothing too.

The result is a plain dict for the ``detection`` block of the model's config.json (see
`save_detection`); `Predictor.detect` reads it. Classes with fewer than ``min_clips_per_class``
validation clips keep `DEFAULT_THRESHOLD`, and the dict says so under ``fallback``, as it does when
nothing could be tuned (a multi-label pack, an empty split).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from wavetag.config import check_range
from wavetag.data.pack import Pack
from wavetag.errors import ConfigError, DataError
from wavetag.inference.detector import (
    DEFAULT_HOP_S,
    DEFAULT_SMOOTH_S,
    DEFAULT_THRESHOLD,
    DetectionSettings,
    stream_posteriors,
)
from wavetag.inference.predictor import Predictor, resolve_model_dir
from wavetag.inference.stream_eval import (
    DEFAULT_COLLAR_S,
    THRESHOLD_GRID,
    check_stream_labels,
    count_class,
    score_stream,
    smoothed,
)
from wavetag.inference.streams import make_streams, read_streams
from wavetag.models.io import CONFIG_NAME, read_config

MIN_CLIPS_PER_CLASS = 5
SMOOTH_GRID_S = (0.0, 0.1, 0.2, 0.3, 0.5, 0.8)  # posterior smoothings tried by `tune_on_streams`


def tune_thresholds(
    model,
    pack,
    *,
    split: str = "validation",
    target_fa_per_hour: float = 1.0,
    hop_s: float | None = None,
    smooth_s: float = DEFAULT_SMOOTH_S,
    refractory_s: float | None = None,
    minutes: float = 30.0,
    seed: int = 0,
    snr_db: float = 10.0,
    min_clips_per_class: int = MIN_CLIPS_PER_CLASS,
    collar_s: float = DEFAULT_COLLAR_S,
    batch_size: int = 64,
    negative_minutes: float = 0.0,
) -> dict[str, Any]:
    """Per-class thresholds meeting ``target_fa_per_hour`` (per class) with the fewest misses.

    Args:
        model: a `Predictor`, an in-memory `Classifier` (its labels are the pack's), or a model dir.
        pack: a `wavetag.data.Pack` or its path; ``split`` gives the clips of the tuning streams.
        minutes: at most this much stream is built (each clip used once).
        negative_minutes: this much more stream without keywords (background and non-keyword
            talk, `wavetag.inference.streams.negative_streams`): 60 resolves 1 false accept per hour.
        refractory_s: default one model window.

    Returns:
        ``{"thresholds": {label: value}, "hop_s", "smooth_s", "refractory_s", "target_fa_per_hour",
        "collar_s", "fallback": None | reason, "measured": {...}}`` (JSON-able).
    """
    check_range("target_fa_per_hour", target_fa_per_hour, 0.0, 1e6)
    pack = pack if isinstance(pack, Pack) else Pack.open(pack)
    predictor = _as_predictor(model, pack)
    if list(predictor.labels) != list(pack.labels):
        raise DataError(
            f"the model's labels {predictor.labels} differ from the pack's {pack.labels} ({pack.path}); "
            "tune on the pack the model was trained on"
        )
    targets = [x for x in predictor.labels if x not in predictor.background_labels]
    settings = DetectionSettings(
        model_hop_s(predictor, hop_s),
        smooth_s,
        predictor.window_s if refractory_s is None else refractory_s,
        {label: DEFAULT_THRESHOLD for label in targets},
    )
    out = {
        **settings.to_dict(),
        "target_fa_per_hour": target_fa_per_hour,
        "collar_s": collar_s,
        "fallback": None,
        "measured": {"split": split, "pack": str(pack.path)},
    }
    if pack.multi_label:
        return {
            **out,
            "fallback": "not tuned: a multi-label pack (streams need one label per clip); default thresholds",
        }
    try:
        scored = [
            score_stream(
                predictor,
                s.samples,
                s.placements,
                settings,
                name=s.name,
                sample_rate=s.sample_rate,
                batch_size=batch_size,
            )
            for s in make_streams(
                pack, split=split, minutes=minutes, seed=seed, snr_db=snr_db, negative_minutes=negative_minutes
            )
        ]
    except DataError as exc:
        return {**out, "fallback": f"not tuned: {exc}; default thresholds"}
    thresholds, per_class, fallback = _tune_classes(
        predictor, scored, settings.refractory_s, target_fa_per_hour, min_clips_per_class, collar_s, split
    )
    hours = sum(s.duration_s for s in scored) / 3600.0
    out["measured"].update(
        stream_hours=hours,
        streams=len(scored),
        fa_resolution_per_hour=1.0 / hours if hours > 0 else None,
        per_class=per_class,
    )
    return {**out, "thresholds": thresholds, "fallback": fallback}


def _tune_classes(
    predictor, scored: list, refractory_s: float, target: float, min_clips: int, collar_s: float, where: str
) -> tuple[dict[str, float], dict[str, Any], str | None]:
    """Per reported class of ``predictor``: the `_pick`ed threshold on ``scored`` streams, what it
    measured there, and a fallback note naming the classes with fewer than ``min_clips`` clips."""
    hours = sum(s.duration_s for s in scored) / 3600.0
    per_class, thresholds, few = {}, {}, []
    for k, label in enumerate(predictor.labels):
        if label in predictor.background_labels:
            continue
        curve = [
            count_class(scored, k, label, threshold=float(t), refractory_s=refractory_s, collar_s=collar_s)
            for t in THRESHOLD_GRID
        ]
        if curve[0].clips < min_clips:
            few.append(f"{label} ({curve[0].clips})")
            thresholds[label] = DEFAULT_THRESHOLD
            per_class[label] = {"threshold": DEFAULT_THRESHOLD, "clips": curve[0].clips, "tuned": False}
            continue
        i, met = _pick(curve, hours, target)
        thresholds[label] = float(THRESHOLD_GRID[i])
        per_class[label] = {"threshold": thresholds[label], "tuned": True, "met_target": met, **curve[i].summary(hours)}
    fallback = None
    if few:
        fallback = (
            f"fewer than {min_clips} {where} clips for {', '.join(few)}: "
            f"default threshold {DEFAULT_THRESHOLD} for these"
        )
    return thresholds, per_class, fallback


def tune_on_streams(
    model,
    streams_dir: str | Path,
    *,
    target_fa_per_hour: float = 1.0,
    hop_s: float | None = None,
    smooth_s: float | None = None,
    refractory_s: float | None = None,
    min_clips_per_class: int = MIN_CLIPS_PER_CLASS,
    collar_s: float = DEFAULT_COLLAR_S,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Per-class thresholds and the posterior smoothing tuned on a streams folder (`build_streams`
    of the validation split, with an hour or more of ``negative_minutes``).

    Posteriors are computed once per stream; for each smoothing of `SMOOTH_GRID_S` (or ``smooth_s``
    alone when given) every class gets the threshold with the fewest misses among those meeting
    ``target_fa_per_hour`` (that class's false accepts), and the smoothing that leaves the fewest
    classes off target, then the fewest misses, wins. Streams of the training split, or with
    speakers heard in training, are refused: thresholds tuned on them would be too confident.

    Returns the dict of `tune_thresholds` (for `save_detection`); ``measured`` also holds
    ``streams``, ``negative_hours``, the smoothings tried, and a ``note`` when the streams are too
    short to resolve the target (one false accept in H hours is 1/H per hour).
    """
    check_range("target_fa_per_hour", target_fa_per_hour, 0.0, 1e6)
    root = Path(streams_dir)
    manifest, truth = read_streams(root)
    _check_tuning_streams(manifest, root)
    predictor = _as_predictor(model, manifest.get("labels"))
    check_stream_labels(predictor, truth, root)
    hop_s = model_hop_s(predictor, hop_s)
    refractory = predictor.window_s if refractory_s is None else refractory_s
    posts = {
        name: stream_posteriors(predictor, root / name, hop_s=hop_s, batch_size=batch_size, name=name) for name in truth
    }
    tried, best, seen = {}, None, set()
    for smooth in SMOOTH_GRID_S if smooth_s is None else (smooth_s,):
        frames = max(1, int(round(smooth / hop_s)))
        if frames in seen:  # the same moving average at this hop
            continue
        seen.add(frames)
        scored = [smoothed(posts[name], truth[name], frames, name=name) for name in truth]
        found = _tune_classes(
            predictor, scored, refractory, target_fa_per_hour, min_clips_per_class, collar_s, "stream"
        )
        tuned = [m for m in found[1].values() if m.get("tuned")]
        key = (sum(not m["met_target"] for m in tuned), sum(m["missed"] for m in tuned))
        tried[f"{smooth:g}"] = {"classes_off_target": key[0], "missed": key[1]}
        if best is None or key < best[0]:
            best = (key, smooth, found)
    _, smooth, (thresholds, per_class, fallback) = best
    hours = sum(p.duration_s for p in posts.values()) / 3600.0
    measured = {
        "streams": str(root),
        "split": manifest.get("split"),
        "stream_hours": hours,
        "negative_hours": manifest.get("negative_hours", 0.0),
        "speakers": manifest.get("speakers"),
        "fa_resolution_per_hour": 1.0 / hours if hours > 0 else None,
        "smooth_s_tried": tried,
        "per_class": per_class,
    }
    if hours > 0 and 1.0 / hours > target_fa_per_hour:
        measured["note"] = (
            f"the streams hold {hours:.2f} h: one false accept is {1.0 / hours:.2g} per hour, coarser than the target "
            f"{target_fa_per_hour:g}; build at least {1.0 / max(target_fa_per_hour, 1e-9):.2g} h "
            "(wavetag streams --negative-minutes)"
        )
    settings = DetectionSettings(hop_s, smooth, refractory, thresholds)
    return {
        **settings.to_dict(),
        "target_fa_per_hour": target_fa_per_hour,
        "collar_s": collar_s,
        "fallback": fallback,
        "measured": measured,
    }


def _check_tuning_streams(manifest: dict[str, Any], root: Path) -> None:
    if manifest.get("split") == "train":
        raise ConfigError(
            f"{root}: streams of the training split; tune on streams of the validation split "
            f"('wavetag streams PACK --split validation --negative-minutes 60 -o DIR'): the model has heard "
            "these speakers, so thresholds tuned on them would be too confident"
        )
    if manifest.get("speakers_in_train"):
        raise ConfigError(
            f"{root}: {manifest['speakers_in_train']} of the streams' {manifest.get('speakers')} speakers also speak "
            "in the training split; tune on streams whose speakers the model has never heard (a pack split by "
            "speaker, e.g. 'wavetag prepare' of a speech-commands folder)"
        )


def _pick(curve: list, hours: float, target: float) -> tuple[int, bool]:
    """Index into `THRESHOLD_GRID`: among thresholds meeting the target, the fewest misses, and
    the middle of the tied ones; if none meets it, the one with the fewest false accepts."""
    fa = np.array([c.false_accepts / hours for c in curve])
    missed = np.array([c.clips - c.hits for c in curve])
    ok = fa <= target
    if not ok.any():
        best = np.flatnonzero(fa == fa.min())
        return int(best[-1]), False
    tied = np.flatnonzero(ok & (missed == missed[ok].min()))
    return int(tied[len(tied) // 2]), True


def _as_predictor(model, labels):
    """A `Predictor` from a `Predictor`, a model directory, or a `Classifier` with ``labels``
    (a list, or a `Pack` whose labels are taken)."""
    if isinstance(model, Predictor):
        return model
    if isinstance(model, (str, os.PathLike)):
        return Predictor.load(model)
    return Predictor.from_model(model, labels=list(getattr(labels, "labels", labels)))


def save_detection(model_dir: str | Path, detection: dict[str, Any]) -> Path:
    """Store ``detection`` (from `tune_thresholds`) as the ``detection`` block of
    ``model_dir/config.json``, written atomically. Returns the config path."""
    model_dir = Path(model_dir)
    config = read_config(model_dir)
    config["detection"] = detection
    text = json.dumps(config, indent=2, allow_nan=False) + "\n"
    target = model_dir / CONFIG_NAME
    tmp = target.with_name(f".{CONFIG_NAME}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def model_hop_s(predictor, hop_s: float | None = None) -> float:
    """``hop_s``, else the hop stored in the model's detection settings (a recipe may set it, e.g.
    ``detection_hop_s``), else `DEFAULT_HOP_S`: re-tuning keeps the hop a model was tuned at."""
    if hop_s is not None:
        return float(hop_s)
    stored = (getattr(predictor, "config", None) or {}).get("detection")
    return float(stored.get("hop_s", DEFAULT_HOP_S)) if isinstance(stored, dict) else DEFAULT_HOP_S


def tune_model_dir(model_dir: str | Path, pack, **kwargs) -> dict[str, Any]:
    """`tune_thresholds` on the model in ``model_dir`` and `save_detection` into it (one call for
    the end of training). Returns the stored dict."""
    model_dir = resolve_model_dir(model_dir)
    detection = tune_thresholds(str(model_dir), pack, **kwargs)
    save_detection(model_dir, detection)
    return detection
