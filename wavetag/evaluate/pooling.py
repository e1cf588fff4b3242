"""Pool the logits of the sliding windows over one long clip into one clip-level row."""

from __future__ import annotations

from typing import Any

import numpy as np

from wavetag.config import check_choice
from wavetag.errors import DataError

POOL_METHODS = ("mean", "max")


def pool_window_logits(logits: Any, method: str = "mean") -> Any:
    """``logits [..., W, C]`` (W windows) → ``[..., C]``; numpy in, numpy out, torch in, torch out.

    ``"mean"`` averages the windows' logits (a clip-level class, e.g. a keyword or a scene);
    ``"max"`` keeps each class's highest window (a short event anywhere in a long clip).
    """
    check_choice("pool method", method, POOL_METHODS)
    if logits.ndim < 2 or logits.shape[-2] == 0:
        raise DataError(f"window logits have shape {tuple(logits.shape)}; expected [..., windows >= 1, classes]")
    if isinstance(logits, np.ndarray):
        return logits.mean(axis=-2) if method == "mean" else logits.max(axis=-2)
    return logits.mean(dim=-2) if method == "mean" else logits.amax(dim=-2)  # torch.Tensor
