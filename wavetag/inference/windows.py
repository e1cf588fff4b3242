"""Sliding windows: long clips are classified window by window and their logits pooled.

A clip of ``L`` samples gives ``1 + ceil(max(0, L - W) / H)`` windows of ``W`` samples every
``H`` (the last one zero-padded); a clip shorter than a window is one zero-padded window.
Validation, ``evaluate``, ``export`` (test accuracy), embeddings, the semi-supervised tools and
`Predictor` all cut and pool windows here: `split_logits` (clips of a pack), `predict_windows`
(clips back to back in one array), `pool_window_logits` (one clip's windows).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from wavetag.config import check_choice
from wavetag.data.pack import Pack
from wavetag.errors import ConfigError, DataError

POOLINGS = ("mean", "max")


def window_starts(length: int, window: int, hop: int) -> np.ndarray:
    """Start samples (int64) of the windows over a clip of ``length`` samples."""
    if window <= 0 or hop <= 0:
        raise ConfigError(f"window = {window}, hop = {hop} samples; expected both > 0")
    count = 1 + max(0, math.ceil((length - window) / hop))
    return np.arange(count, dtype=np.int64) * hop


def cut_window(samples: np.ndarray, start: int, window: int) -> np.ndarray:
    """``samples[start : start + window]``, zero-padded at the end to ``window`` samples."""
    piece = samples[start : start + window]
    return piece if len(piece) == window else np.pad(piece, (0, window - len(piece)))


def pool_window_logits(logits: Any, method: str = "mean") -> Any:
    """``logits [..., W, C]`` (W windows of one clip) → ``[..., C]``; numpy in, numpy out, torch
    in, torch out. ``"mean"`` averages the windows' logits (a clip-level class, e.g. a keyword or
    a scene); ``"max"`` keeps each class's highest window (a short event anywhere in a long clip)."""
    check_choice("pool method", method, POOLINGS)
    if logits.ndim < 2 or logits.shape[-2] == 0:
        raise DataError(f"window logits have shape {tuple(logits.shape)}; expected [..., windows >= 1, classes]")
    if isinstance(logits, np.ndarray):
        return logits.mean(axis=-2) if method == "mean" else logits.max(axis=-2)
    return logits.mean(dim=-2) if method == "mean" else logits.amax(dim=-2)


def pool_logits(logits: torch.Tensor, owner: torch.Tensor, num_clips: int, *, pool: str = "mean") -> torch.Tensor:
    """Pool window logits ``[W, K]`` of many clips into clip logits ``[N, K]``; ``owner [W]`` =
    clip of each window (`pool_window_logits` per clip, in one scatter)."""
    check_choice("pool", pool, POOLINGS)
    k = logits.shape[1]
    if pool == "max":
        out = torch.full((num_clips, k), -torch.inf, dtype=logits.dtype)
        return out.scatter_reduce(0, owner.view(-1, 1).expand(-1, k), logits, reduce="amax")
    total = torch.zeros(num_clips, k, dtype=logits.dtype).index_add_(0, owner, logits)
    counts = torch.bincount(owner, minlength=num_clips).clamp(min=1).to(logits.dtype)
    return total / counts.view(-1, 1)


@torch.no_grad()
def predict_windows(
    forward: Callable[[torch.Tensor], torch.Tensor],
    audio: np.ndarray,
    offsets: np.ndarray,
    lengths: np.ndarray,
    *,
    window: int,
    hop: int,
    batch_size: int = 128,
    pool: str = "mean",
    scale: float = 1.0 / 32768.0,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Clip logits ``[N, K]`` for clips stored back to back in ``audio`` (e.g. a pack's memmap).

    ``offsets``/``lengths`` (samples) locate the N clips; each is cut into windows of ``window``
    samples every ``hop``; ``forward(wav [b, 1, window]) -> logits [b, K]`` runs on batches of
    ``batch_size`` windows; window logits are pooled per clip (``pool`` "mean" or "max").
    ``progress(n)`` is called with the number of clips finished.
    """
    starts = [window_starts(int(n), window, hop) for n in lengths]
    owner = np.repeat(np.arange(len(lengths)), [len(s) for s in starts])
    absolute = np.zeros(0, np.int64)
    if starts:
        absolute = np.concatenate([o + s for o, s in zip(offsets, starts, strict=True)])
    ends = np.repeat(np.asarray(offsets) + np.asarray(lengths), [len(s) for s in starts])
    outputs = []
    for first in range(0, len(absolute), batch_size):
        rows = slice(first, first + batch_size)
        buf = np.zeros((len(absolute[rows]), window), dtype=np.float32)
        for r, (a, e) in enumerate(zip(absolute[rows].tolist(), ends[rows].tolist(), strict=False)):
            piece = audio[a : min(a + window, e)]
            buf[r, : len(piece)] = piece
        outputs.append(forward(torch.from_numpy(buf * np.float32(scale)).unsqueeze(1)).float())
        if progress is not None:
            progress(int(owner[min(first + batch_size, len(owner)) - 1]) + 1)
    if not outputs:
        raise ConfigError("no clips to predict")
    return pool_logits(torch.cat(outputs), torch.from_numpy(owner), len(lengths), pool=pool)


@torch.no_grad()
def split_logits(
    model: torch.nn.Module,
    pack: Pack,
    indices: np.ndarray,
    *,
    clip_seconds: float,
    hop_s: float | None = None,
    batch_size: int = 128,
    pool: str = "mean",
) -> torch.Tensor:
    """Logits ``[N, K]`` of clips ``indices`` of ``pack``: windows of ``clip_seconds`` every
    ``hop_s`` (default half a window) over each clip, pooled. Runs the model in eval mode."""
    was_training = model.training
    model.eval()
    try:
        window = int(round(clip_seconds * pack.sample_rate))
        hop = int(round((hop_s or clip_seconds / 2) * pack.sample_rate))
        return predict_windows(
            model,
            pack.audio,
            pack.index.offset[indices],
            pack.index.length[indices],
            window=window,
            hop=hop,
            batch_size=batch_size,
            pool=pool,
        )
    finally:
        model.train(was_training)
