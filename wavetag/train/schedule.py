"""Learning-rate schedules as a pure function of the step (so resume needs no scheduler state)."""

from __future__ import annotations

import math

from wavetag.train.config import ScheduleConfig


def lr_at(step: int, *, total_steps: int, steps_per_epoch: int, peak_lr: float, config: ScheduleConfig) -> float:
    """Learning rate for optimiser step ``step`` (0-based) of ``total_steps``.

    "cosine": linear warm-up from ~0 over ``warmup_epochs``, then half-cosine down to
    ``final_lr_ratio × peak_lr``; "onecycle": cosine rise from peak/25 over ``pct_start`` of the
    run, then cosine fall to peak/1e4 (torch ``OneCycleLR`` defaults); "constant": warm-up then flat.
    """
    total = max(1, total_steps)
    if config.name == "onecycle":
        rise = max(1, int(config.pct_start * total))
        start, end = peak_lr / 25.0, peak_lr / 1e4
        if step < rise:
            return _cos_interp(start, peak_lr, step / rise)
        return _cos_interp(peak_lr, end, (step - rise) / max(1, total - rise))
    warmup = int(round(config.warmup_epochs * steps_per_epoch))
    if step < warmup:
        return peak_lr * (step + 1) / warmup
    if config.name == "constant":
        return peak_lr
    final = config.final_lr_ratio * peak_lr
    progress = (step - warmup) / max(1, total - warmup)
    return _cos_interp(peak_lr, final, min(1.0, progress))


def _cos_interp(start: float, end: float, t: float) -> float:
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * t))
