"""Detection thresholds tuned on the validation split for a target false-accept rate.

    validation clips placed in background noise (`wavetag.inference.streams.make_streams`)
      --posteriors every hop_s, smoothed over smooth_s (once)--> per class, sweep THRESHOLD_GRID:
      keep the thresholds whose false accepts per hour (that class's) are <= the target, and among
      them those with the fewest misses; take the middle one of those (a margin both ways)

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
from wavetag.errors import DataError
from wavetag.inference.detector import DEFAULT_HOP_S, DEFAULT_SMOOTH_S, DEFAULT_THRESHOLD, DetectionSettings
from wavetag.inference.stream_eval import DEFAULT_COLLAR_S, THRESHOLD_GRID, count_class, score_stream
from wavetag.inference.streams import make_streams

MIN_CLIPS_PER_CLASS = 5


def tune_thresholds(
    model,
    pack,
    *,
    split: str = "validation",
    target_fa_per_hour: float = 1.0,
    hop_s: float = DEFAULT_HOP_S,
    smooth_s: float = DEFAULT_SMOOTH_S,
    refractory_s: float | None = None,
    minutes: float = 30.0,
    seed: int = 0,
    snr_db: float = 10.0,
    min_clips_per_class: int = MIN_CLIPS_PER_CLASS,
    collar_s: float = DEFAULT_COLLAR_S,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Per-class thresholds meeting ``target_fa_per_hour`` (per class) with the fewest misses.

    Args:
        model: a `Predictor`, an in-memory `Classifier` (its labels are the pack's), or a model dir.
        pack: a `wavetag.data.Pack` or its path; ``split`` gives the clips of the tuning streams.
        minutes: at most this much stream is built (each clip used once).
        refractory_s: default one model window.

    Returns:
        ``{"thresholds": {label: value}, "hop_s", "smooth_s", "refractory_s", "target_fa_per_hour",
        "collar_s", "fallback": None | reason, "measured": {...}}`` (JSON-able).
    """
    from wavetag.data.pack import Pack

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
        hop_s,
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
            for s in make_streams(pack, split=split, minutes=minutes, seed=seed, snr_db=snr_db)
        ]
    except DataError as exc:
        return {**out, "fallback": f"not tuned: {exc}; default thresholds"}
    hours = sum(s.duration_s for s in scored) / 3600.0
    per_class, thresholds, few = {}, {}, []
    for k, label in enumerate(predictor.labels):
        if label not in targets:
            continue
        curve = [
            count_class(scored, k, label, threshold=float(t), refractory_s=settings.refractory_s, collar_s=collar_s)
            for t in THRESHOLD_GRID
        ]
        if curve[0].clips < min_clips_per_class:
            few.append(f"{label} ({curve[0].clips})")
            thresholds[label] = DEFAULT_THRESHOLD
            per_class[label] = {"threshold": DEFAULT_THRESHOLD, "clips": curve[0].clips, "tuned": False}
            continue
        i, met = _pick(curve, hours, target_fa_per_hour)
        thresholds[label] = float(THRESHOLD_GRID[i])
        per_class[label] = {"threshold": thresholds[label], "tuned": True, "met_target": met, **curve[i].summary(hours)}
    fallback = None
    if few:
        fallback = (
            f"fewer than {min_clips_per_class} {split} clips for {', '.join(few)}: "
            f"default threshold {DEFAULT_THRESHOLD} for these"
        )
    out["measured"].update(
        stream_hours=hours,
        streams=len(scored),
        fa_resolution_per_hour=1.0 / hours if hours > 0 else None,
        per_class=per_class,
    )
    return {**out, "thresholds": thresholds, "fallback": fallback}


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


def _as_predictor(model, pack):
    from wavetag.inference.predictor import Predictor

    if isinstance(model, Predictor):
        return model
    if isinstance(model, (str, os.PathLike)):
        return Predictor.load(model)
    return Predictor.from_model(model, labels=pack.labels)


def save_detection(model_dir: str | Path, detection: dict[str, Any]) -> Path:
    """Store ``detection`` (from `tune_thresholds`) as the ``detection`` block of
    ``model_dir/config.json``, written atomically. Returns the config path."""
    from wavetag.models.io import CONFIG_NAME, read_config

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


def tune_model_dir(model_dir: str | Path, pack, **kwargs) -> dict[str, Any]:
    """`tune_thresholds` on the model in ``model_dir`` and `save_detection` into it (one call for
    the end of training). Returns the stored dict."""
    from wavetag.inference.predictor import resolve_model_dir

    model_dir = resolve_model_dir(model_dir)
    detection = tune_thresholds(str(model_dir), pack, **kwargs)
    save_detection(model_dir, detection)
    return detection
