"""Classification metrics as pure numpy functions.

Conventions (N clips, C classes):

- ``y_true [N]``: class indices ``0..C-1`` (multiclass), or 0/1 (binary).
- ``targets [N, C]``: multi-hot 0/1 (multi-label).
- ``probs [N, C]``: per-class scores. Ranking metrics only use their order (logits work too);
  calibration needs probabilities in ``[0, 1]``.
- ``scores [N]``: the positive-class score of a binary problem.

Ties are broken the same way everywhere: a higher score ranks first, then the lower class index
(``np.argmax`` does the same), so ``top_k_accuracy(k=1) == accuracy``. Undefined per-class values
(a class with no clips and no predictions, AP of a class with no positives) are NaN, never 0.
Each metric that scikit-learn has is checked against it in ``tests/test_evaluate_metrics.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from wavetag.errors import ConfigError, DataError

# ---------------------------------------------------------------------------- input checks


def _class_indices(y: Any, name: str = "y_true") -> np.ndarray:
    """``[N]`` integer-valued array → int64; anything else raises `DataError`."""
    a = np.asarray(y)
    if a.ndim != 1:
        raise DataError(f"{name} has shape {a.shape}; expected [N] class indices")
    if a.size == 0:
        raise DataError(f"{name} is empty; there are no clips to evaluate")
    if not np.issubdtype(a.dtype, np.integer):
        if a.dtype == bool or np.all(np.asarray(a, dtype=np.float64) % 1 == 0):
            return a.astype(np.int64)
        raise DataError(f"{name} holds non-integer values (e.g. {a[a % 1 != 0][0]!r}); expected class indices")
    return a.astype(np.int64)


def _score_matrix(probs: Any, n: int, name: str = "probs") -> np.ndarray:
    """``[N, C]`` finite float scores for ``n`` clips."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != n or p.shape[1] < 1:
        raise DataError(f"{name} has shape {p.shape}; expected [{n}, num_classes] (one row per clip)")
    if not np.all(np.isfinite(p)):
        raise DataError(f"{name} contains NaN or inf; the model output is broken")
    return p


def _multi_hot(targets: Any, name: str = "targets") -> np.ndarray:
    """``[N, C]`` 0/1 array (bool or numeric) → float64."""
    t = np.asarray(targets)
    if t.ndim != 2 or t.shape[0] == 0:
        raise DataError(f"{name} has shape {t.shape}; expected [N, num_classes] multi-hot 0/1")
    t = t.astype(np.float64)
    if not np.all((t == 0) | (t == 1)):
        raise DataError(f"{name} holds values other than 0 and 1; expected multi-hot targets")
    return t


def _check_range(y: np.ndarray, num_classes: int, name: str) -> None:
    if y.min() < 0 or y.max() >= num_classes:
        bad = y[(y < 0) | (y >= num_classes)][0]
        raise DataError(f"{name} holds class index {bad}; expected 0 <= index < {num_classes}")


def _predicted(y: np.ndarray, probs: Any, num_classes: int | None) -> tuple[np.ndarray, int]:
    """Predicted indices ``[N]`` and C from ``probs [N, C]`` (arg-max) or ``[N]`` indices."""
    p = np.asarray(probs)
    if p.ndim == 2:
        p = _score_matrix(p, len(y))
        pred, c = p.argmax(axis=1), p.shape[1]
    else:
        pred = _class_indices(p, "y_pred")
        if len(pred) != len(y):
            raise DataError(f"y_pred has {len(pred)} clips but y_true has {len(y)}")
        c = num_classes if num_classes is not None else int(max(y.max(), pred.max())) + 1
        _check_range(pred, c, "y_pred")
    _check_range(y, c, "y_true")
    return pred, c


def _top_k_indices(probs: np.ndarray, k: int) -> np.ndarray:
    """``[N, min(k, C)]`` class indices, best first (ties: lower class index first)."""
    if k < 1:
        raise ConfigError(f"k = {k}; expected k >= 1")
    return np.argsort(-probs, axis=1, kind="stable")[:, :k]


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den == 0`` (scikit-learn's ``zero_division=0``)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


# ---------------------------------------------------------------------------- single-label


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int) -> np.ndarray:
    """Counts ``[C, C]`` (int64): row = true class, column = predicted class.

    ``y_true [N]``, ``y_pred [N]``: class indices in ``0..num_classes-1``.
    """
    y, pred = _class_indices(y_true), _class_indices(y_pred, "y_pred")
    if len(y) != len(pred):
        raise DataError(f"y_pred has {len(pred)} clips but y_true has {len(y)}")
    _check_range(y, num_classes, "y_true")
    _check_range(pred, num_classes, "y_pred")
    flat = np.bincount(y * num_classes + pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def normalize_confusion_matrix(cm: Any) -> np.ndarray:
    """Row-normalised ``[C, C]``: each row sums to 1 (fraction of the true class's clips);
    rows of classes with no clips are all 0."""
    cm = np.asarray(cm, dtype=np.float64)
    return _safe_divide(cm, cm.sum(axis=1, keepdims=True) + np.zeros_like(cm))


def accuracy(y_true: Any, probs: Any) -> float:
    """Fraction of clips whose arg-max class is the true one.

    ``y_true [N]``; ``probs [N, C]`` scores, or ``[N]`` predicted class indices.
    """
    y = _class_indices(y_true)
    pred, _ = _predicted(y, probs, None)
    return float(np.mean(pred == y))


def per_class_prf(y_true: Any, probs: Any, *, num_classes: int | None = None) -> dict[str, np.ndarray]:
    """Per-class ``precision``, ``recall``, ``f1`` (float ``[C]``), ``support`` and
    ``predicted`` (int ``[C]``: clips whose true / predicted class it is).

    ``probs [N, C]`` scores or ``[N]`` predicted indices (then ``num_classes`` sets C). A class
    never predicted has precision 0; a class with no clips has recall 0 (scikit-learn's
    ``zero_division=0``). Support is the number of clips whose true class it is.
    """
    y = _class_indices(y_true)
    pred, c = _predicted(y, probs, num_classes)
    return _prf_from_counts(confusion_matrix(y, pred, c))


def _prf_from_counts(cm: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.diag(cm).astype(np.float64)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    return _prf(tp, predicted, support)


def _prf(tp: np.ndarray, predicted: np.ndarray, support: np.ndarray) -> dict[str, np.ndarray]:
    precision, recall = _safe_divide(tp, predicted), _safe_divide(tp, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": np.asarray(support, dtype=np.int64),
        "predicted": np.asarray(predicted, dtype=np.int64),
    }


def balanced_accuracy(y_true: Any, probs: Any) -> float:
    """Mean recall over the classes that have clips (classes with none are left out).

    ``y_true [N]``; ``probs [N, C]`` scores or ``[N]`` predicted indices.
    """
    prf = per_class_prf(y_true, probs)
    return float(prf["recall"][prf["support"] > 0].mean())


def macro_f1(y_true: Any, probs: Any) -> float:
    """Unweighted mean F1 over the classes that occur as truth or prediction.

    A class that is neither true nor predicted for any clip has no F1 and is left out (as in
    scikit-learn's ``f1_score(average="macro")``). ``probs [N, C]`` or ``[N]`` indices.
    """
    return macro_mean_f1(per_class_prf(y_true, probs))


def macro_mean_f1(prf: dict[str, np.ndarray]) -> float:
    """Macro-F1 from a `per_class_prf` / `multilabel_prf` result (same rule as `macro_f1`)."""
    seen = (prf["support"] > 0) | (prf["predicted"] > 0)
    return float(prf["f1"][seen].mean()) if seen.any() else float("nan")


def top_k_accuracy(y_true: Any, probs: Any, *, k: int) -> float:
    """Fraction of clips whose true class is among the ``k`` highest scores.

    ``y_true [N]``; ``probs [N, C]``. ``k >= C`` gives 1.0.
    """
    y = _class_indices(y_true)
    p = _score_matrix(probs, len(y))
    _check_range(y, p.shape[1], "y_true")
    top = _top_k_indices(p, k)
    return float(np.mean((top == y[:, None]).any(axis=1)))


def most_confused_pairs(cm: Any, labels: Sequence[str], k: int = 10) -> list[dict[str, Any]]:
    """The ``k`` largest off-diagonal cells of a confusion matrix ``cm [C, C]``.

    Returns ``[{"true", "predicted", "count", "fraction"}]``, largest count first; ``fraction``
    is the share of the true class's clips that went to ``predicted``. Empty cells are omitted.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(labels):
        raise DataError(f"confusion matrix has shape {cm.shape} for {len(labels)} labels; expected [C, C]")
    off = cm.astype(np.int64).copy()
    np.fill_diagonal(off, 0)
    rows, cols = np.nonzero(off)
    order = sorted(zip(rows, cols, strict=False), key=lambda rc: (-off[rc], rc))[:k]
    share = normalize_confusion_matrix(cm)
    return [
        {"true": labels[i], "predicted": labels[j], "count": int(off[i, j]), "fraction": float(share[i, j])}
        for i, j in order
    ]


# ---------------------------------------------------------------------------- multi-label / ranking


def multilabel_prf(targets: Any, probs: Any, *, threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Per-class precision/recall/F1/support ``[C]`` of ``probs >= threshold`` vs ``targets [N, C]``."""
    t = _multi_hot(targets)
    p = _score_matrix(probs, t.shape[0])
    if p.shape != t.shape:
        raise DataError(f"probs has shape {p.shape} but targets has {t.shape}")
    hit = p >= threshold
    tp = (hit & (t > 0)).sum(axis=0).astype(np.float64)
    return _prf(tp, hit.sum(axis=0), t.sum(axis=0))


def _binary_average_precision(y: np.ndarray, s: np.ndarray) -> float:
    """AP = sum over thresholds of (R_n - R_{n-1}) * P_n; equal scores form one threshold."""
    if y.sum() == 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]  # the last clip of each run of equal scores
    tp = np.cumsum(y_sorted)[last]
    fp = np.cumsum(1 - y_sorted)[last]
    precision, recall = tp / (tp + fp), tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def average_precision(targets: Any, scores: Any) -> np.ndarray | float:
    """Average precision (area under the step precision-recall curve, scikit-learn's definition).

    ``targets [N, C]`` multi-hot and ``scores [N, C]`` → per-class AP ``[C]`` (NaN for a class
    with no positive clip); ``targets [N]`` 0/1 and ``scores [N]`` → one float.
    """
    if np.ndim(targets) == 1:
        t = _multi_hot(np.asarray(targets)[:, None])
        s = _score_matrix(np.asarray(scores, dtype=np.float64).reshape(-1, 1), t.shape[0], "scores")
        return _binary_average_precision(t[:, 0], s[:, 0])
    t = _multi_hot(targets)
    s = _score_matrix(scores, t.shape[0], "scores")
    if s.shape != t.shape:
        raise DataError(f"scores has shape {s.shape} but targets has {t.shape}")
    return np.array([_binary_average_precision(t[:, c], s[:, c]) for c in range(t.shape[1])])


def mean_average_precision(targets: Any, scores: Any) -> tuple[float, list[int]]:
    """Mean of the per-class `average_precision` over the classes that have positives.

    ``targets [N, C]``, ``scores [N, C]``. Returns ``(mAP, skipped)`` where ``skipped`` lists the
    class indices left out for having no positive clip; mAP is NaN if every class was skipped.
    """
    ap = np.asarray(average_precision(targets, scores)).reshape(-1)
    skipped = [int(c) for c in np.flatnonzero(np.isnan(ap))]
    value = float(np.nanmean(ap)) if len(skipped) < len(ap) else float("nan")
    return value, skipped


def _label_ranking_precisions(t: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``[N, C]``: for each positive (clip i, class c), (positives of clip i scored >= s[i, c]) /
    (classes scored >= s[i, c]); 0 elsewhere. Equal scores share the worse rank."""
    order = np.argsort(-s, axis=1, kind="stable")
    s_sorted = np.take_along_axis(s, order, axis=1)
    pos = np.take_along_axis(t, order, axis=1)
    c = s.shape[1]
    last = np.ones(s.shape, dtype=bool)
    last[:, :-1] = s_sorted[:, :-1] != s_sorted[:, 1:]  # last member of a run of equal scores
    end = np.where(last, np.arange(c), c)
    end = np.minimum.accumulate(end[:, ::-1], axis=1)[:, ::-1]  # end of each entry's run
    hits = np.take_along_axis(np.cumsum(pos, axis=1), end, axis=1)
    precision_sorted = np.where(pos > 0, hits / (end + 1), 0.0)
    precision = np.empty_like(precision_sorted)
    np.put_along_axis(precision, order, precision_sorted, axis=1)
    return precision


def lwlrap_per_class(targets: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-class label-ranking average precision ``[C]`` (NaN for a class with no positives) and
    each class's weight ``[C]`` (its share of all positive labels); see `lwlrap`."""
    t = _multi_hot(targets)
    s = _score_matrix(scores, t.shape[0], "scores")
    if s.shape != t.shape:
        raise DataError(f"scores has shape {s.shape} but targets has {t.shape}")
    precision = _label_ranking_precisions(t, s)
    count = t.sum(axis=0)
    per_class = np.divide(precision.sum(axis=0), count, out=np.full(len(count), np.nan), where=count > 0)
    weight = count / count.sum() if count.sum() > 0 else np.zeros_like(count)
    return per_class, weight


def lwlrap(targets: Any, scores: Any) -> float:
    """Label-weighted label-ranking average precision (DCASE 2019 task 2).

    ``targets [N, C]`` multi-hot, ``scores [N, C]``. For every positive label of every clip, the
    precision of the clip's ranked label list at that label's rank; lwlrap is the mean over all
    (clip, positive label) pairs, so each class weighs in proportion to its positives. Clips with
    no positive label add nothing; NaN if there is no positive label at all.
    """
    per_class, weight = lwlrap_per_class(targets, scores)
    if weight.sum() == 0:
        return float("nan")
    return float(np.sum(np.nan_to_num(per_class) * weight))


def map_at_k(y_true: Any, probs: Any, *, k: int = 3) -> float:
    """Mean average precision at k (the FSDKaggle2018 metric, MAP@3).

    ``y_true [N]`` class indices or ``[N, C]`` multi-hot; ``probs [N, C]``. With one true label a
    clip scores ``1/rank`` if the label is among the top ``k`` predictions, else 0. With several,
    the clip's AP@k: sum of precision@i at each hit in the top ``k``, divided by
    ``min(#labels, k)``. Clips with no true label are left out.
    """
    y = np.asarray(y_true)
    if y.ndim == 1:
        y = _class_indices(y)
        p = _score_matrix(probs, len(y))
        _check_range(y, p.shape[1], "y_true")
        t = np.eye(p.shape[1])[y]
    else:
        t = _multi_hot(y, "y_true")
        p = _score_matrix(probs, t.shape[0])
    top = _top_k_indices(p, k)
    hits = np.take_along_axis(t, top, axis=1)  # [N, k]
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, top.shape[1] + 1)
    n_pos = t.sum(axis=1)
    keep = n_pos > 0
    if not keep.any():
        return float("nan")
    ap = (precision_at * hits).sum(axis=1)[keep] / np.minimum(n_pos[keep], k)
    return float(ap.mean())


# ---------------------------------------------------------------------------- binary


def _binary_inputs(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y = _class_indices(y_true)
    _check_range(y, 2, "y_true")
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(s) != len(y):
        raise DataError(f"scores has {len(s)} values but y_true has {len(y)} clips")
    if not np.all(np.isfinite(s)):
        raise DataError("scores contains NaN or inf; the model output is broken")
    n_pos = int(y.sum())
    if n_pos in (0, len(y)):
        only = "positive" if n_pos else "negative"
        raise DataError(
            f"y_true has only {only} clips ({len(y)}); ROC and EER need both classes, "
            "so evaluate on a split that has both"
        )
    return y, s


def roc_curve(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)``, each ``[M]``, thresholds decreasing, the first ``inf`` (0, 0).

    ``y_true [N]`` 0/1, ``scores [N]`` positive-class scores; one point per distinct score
    (scikit-learn's ``roc_curve(..., drop_intermediate=False)``). Needs both classes.
    """
    y, s = _binary_inputs(y_true, scores)
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    tps = np.r_[0, np.cumsum(y_sorted)[last]]
    fps = np.r_[0, np.cumsum(1 - y_sorted)[last]]
    return fps / fps[-1], tps / tps[-1], np.r_[np.inf, s_sorted[last]]


def roc_auc(y_true: Any, scores: Any) -> float:
    """Area under the ROC curve (trapezoids). ``y_true [N]`` 0/1, ``scores [N]``."""
    fpr, tpr, _ = roc_curve(y_true, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def eer(y_true: Any, scores: Any) -> tuple[float, float]:
    """Equal error rate and its threshold. ``y_true [N]`` 0/1, ``scores [N]``.

    The EER is where the false-positive rate equals the false-negative rate, interpolated
    linearly between the two ROC points around the crossing. The threshold is the score of the
    first ROC point where FNR <= FPR (predict positive when ``score >= threshold``).
    """
    fpr, tpr, thresholds = roc_curve(y_true, scores)
    gap = (1 - tpr) - fpr  # decreases from 1 to -1 along the curve
    j = int(np.argmax(gap <= 0))
    if gap[j] == 0 or j == 0:
        return float(fpr[j]), float(thresholds[j])
    w = gap[j - 1] / (gap[j - 1] - gap[j])
    return float(fpr[j - 1] + w * (fpr[j] - fpr[j - 1])), float(thresholds[j])


# ---------------------------------------------------------------------------- calibration


def _confidence(probs: Any, y_true: Any) -> tuple[np.ndarray, np.ndarray]:
    """Top-label confidence ``[N]`` and correctness ``[N]``. Binary ``probs [N]`` hold P(class 1),
    predicted when ``>= 0.5``."""
    y = _class_indices(y_true)
    p = np.asarray(probs, dtype=np.float64)
    binary = p.ndim == 1 or (p.ndim == 2 and p.shape[1] == 1)
    p = _score_matrix(p.reshape(-1, 1) if binary else p, len(y))
    if p.min() < 0 or p.max() > 1:
        raise DataError(
            f"probs range from {p.min():.3g} to {p.max():.3g}; calibration needs probabilities "
            "in [0, 1] (apply softmax or sigmoid to the logits first)"
        )
    _check_range(y, 2 if binary else p.shape[1], "y_true")
    if binary:
        pred = (p[:, 0] >= 0.5).astype(np.int64)
        conf = np.where(pred == 1, p[:, 0], 1 - p[:, 0])
    else:
        pred = p.argmax(axis=1)
        conf = p[np.arange(len(y)), pred]
    return conf, (pred == y).astype(np.float64)


def expected_calibration_error(probs: Any, y_true: Any, n_bins: int = 15) -> tuple[float, dict[str, np.ndarray]]:
    """Expected calibration error of the top-label confidence (Guo et al. 2017).

    ``probs [N, C]`` probabilities (or ``[N]`` positive-class probabilities of a binary
    problem), ``y_true [N]``. Confidences fall into ``n_bins`` equal bins ``(lo, hi]`` on
    [0, 1]; ECE = sum over bins of ``count / N * |accuracy - mean confidence|``. Returns
    ``(ece, bins)`` with ``bins = {"edges" [n_bins+1], "confidence" [n_bins], "accuracy"
    [n_bins], "count" [n_bins]}`` (confidence and accuracy NaN in empty bins).
    """
    if n_bins < 1:
        raise ConfigError(f"n_bins = {n_bins}; expected n_bins >= 1")
    conf, correct = _confidence(probs, y_true)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct, minlength=n_bins)
    ece = float(np.abs(acc_sum - conf_sum).sum() / len(conf))
    with np.errstate(invalid="ignore", divide="ignore"):
        bins = {"edges": edges, "confidence": conf_sum / count, "accuracy": acc_sum / count, "count": count}
    return ece, bins
