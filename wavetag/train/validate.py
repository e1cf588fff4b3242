"""Validation during training: sliding-window logits over a split, loss and the task metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from wavetag.data.pack import Pack
from wavetag.evaluate.compute import compute_metrics
from wavetag.inference.windows import split_logits
from wavetag.metric_names import LOWER_IS_BETTER
from wavetag.models import Classifier


@dataclass
class SplitResult:
    """Logits ``[N, K]``, targets (``[N]`` ids or ``[N, C]`` multi-hot), and the scalars logged."""

    logits: torch.Tensor
    targets: torch.Tensor
    scalars: dict[str, float] = field(default_factory=dict)
    confusion: np.ndarray | None = None


def is_better(metric: str, new: float, old: float | None) -> bool:
    if old is None:
        return True
    return new < old if metric in LOWER_IS_BETTER else new > old


def evaluate_split(
    model: Classifier, pack: Pack, split: str, *, clip_seconds: float, batch_size: int = 128
) -> SplitResult:
    """Loss and the ``overall`` metrics of `compute_metrics` on ``split`` of ``pack``, prefixed
    ``val_`` (``val_loss``, ``val_accuracy``, ``val_macro_f1``, ``val_mAP``, ...)."""
    indices = pack.split_indices(split)
    if len(indices) == 0:
        return SplitResult(torch.zeros(0, 1), torch.zeros(0), {})
    logits = split_logits(model, pack, indices, clip_seconds=clip_seconds, batch_size=batch_size)
    targets = torch.from_numpy(pack.targets(indices))
    loss = float(model.loss(logits, targets))
    metrics = compute_metrics(model.probabilities(logits).numpy(), targets.numpy(), task=model.task, labels=pack.labels)
    scalars = {f"val_{k}": float(v) for k, v in metrics["overall"].items() if isinstance(v, (int, float))}
    confusion = np.asarray(metrics["confusion_matrix"]["counts"]) if metrics.get("confusion_matrix") else None
    return SplitResult(logits, targets, {"val_loss": loss, **scalars}, confusion)
