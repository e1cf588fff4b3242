"""`compute_metrics`: every metric a task calls for, as one JSON-ready dict (``metrics.json``).

Keys by task (all tasks also have ``task``, ``num_clips``, ``num_classes``, ``labels``,
``task_metric {name, value}``, ``overall``, ``per_class`` (one row per label), ``confusion_matrix
{labels, counts, normalized}``, ``most_confused``, ``calibration {ece, n_bins, bins}`` and
``notes``, a list of plain sentences about what was left out and why):

- multiclass: ``overall`` = accuracy, balanced_accuracy, macro_f1, top_3_accuracy,
  top_5_accuracy (those with k < C), map_at_3.
- multilabel: ``overall`` = top1_accuracy (the best-scored label is one of the clip's labels),
  macro_f1 and micro_f1 (at ``threshold``), mAP, lwlrap, map_at_3; ``per_class`` rows add ``ap``.
  The confusion matrix covers the clips with exactly one label (true vs best-scored label).
- binary: ``overall`` = accuracy, balanced_accuracy, macro_f1 (at ``threshold``), roc_auc, eer,
  eer_threshold, average_precision; plus ``roc {fpr, tpr, thresholds}`` for the curve.

NaN (undefined) values become ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from wavetag.config import check_choice, check_range
from wavetag.errors import DataError
from wavetag.evaluate import metrics as M
from wavetag.metric_names import DEFAULT_TASK_METRIC
from wavetag.tasks import TASK_NAMES

TOP_K = (3, 5)
MAX_CURVE_POINTS = 501  # the ROC curve stored in metrics.json (enough for a plot)


def compute_metrics(
    probs: Any,
    targets: Any,
    *,
    task: str,
    labels: Sequence[str],
    threshold: float = 0.5,
    task_metric: str | None = None,
    n_bins: int = 15,
    top_confused: int = 10,
) -> dict[str, Any]:
    """All metrics for ``task`` as a JSON-serialisable dict (see the module docstring).

    - multiclass: ``probs [N, C]`` probabilities, ``targets [N]`` class indices.
    - multilabel: ``probs [N, C]`` per-class probabilities, ``targets [N, C]`` multi-hot.
    - binary: ``probs [N]`` or ``[N, 1]`` positive-class probabilities, ``targets [N]`` 0/1,
      ``labels = [negative, positive]``.

    ``threshold``: decision threshold of multilabel and binary predictions. ``task_metric``: the
    ``overall`` key reported as the headline number (default: accuracy / lwlrap / roc_auc;
    ``"map_at_3"`` for FSDKaggle2018).
    """
    check_choice("task", task, TASK_NAMES)
    check_range("threshold", threshold, 0.0, 1.0)
    labels = [str(x) for x in labels]
    probs = _check_probs(probs, task, len(labels))
    build = {"multiclass": _multiclass, "multilabel": _multilabel, "binary": _binary}[task]
    out = build(probs, targets, labels=labels, threshold=threshold, n_bins=n_bins, top_confused=top_confused)
    name = task_metric or DEFAULT_TASK_METRIC[task]
    check_choice("task_metric", name, list(out["overall"]))
    out["task_metric"] = {"name": name, "value": out["overall"][name]}
    head = {"task": task, "num_clips": len(probs), "num_classes": len(labels), "labels": labels}
    return to_json_ready({**head, **out})


def _check_probs(probs: Any, task: str, num_labels: int) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if task == "binary":
        if num_labels != 2:
            raise DataError(f"binary task needs labels [negative, positive]; got {num_labels} labels")
        if p.ndim == 2 and p.shape[1] == 1:
            p = p[:, 0]
        if p.ndim != 1:
            raise DataError(f"binary probs have shape {p.shape}; expected [N] or [N, 1] positive-class probabilities")
    elif p.ndim != 2 or p.shape[1] != num_labels:
        raise DataError(f"probs have shape {p.shape}; expected [N, {num_labels}] (one column per label)")
    if len(p) == 0:
        raise DataError("probs are empty; there are no clips to evaluate")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise DataError(
            f"probs hold values outside [0, 1] (min {np.nanmin(p):.3g}, max {np.nanmax(p):.3g}) or NaN; "
            "expected probabilities: apply softmax (multiclass) or sigmoid (multilabel, binary) to the logits"
        )
    return p


def _single_label_block(y: np.ndarray, pred: np.ndarray, labels: list[str], top_confused: int) -> dict[str, Any]:
    cm = M.confusion_matrix(y, pred, len(labels))
    return {
        "confusion_matrix": {"labels": labels, "counts": cm, "normalized": M.normalize_confusion_matrix(cm)},
        "most_confused": M.most_confused_pairs(cm, labels, top_confused),
    }


def _per_class_rows(labels: list[str], prf: dict[str, np.ndarray], **extra: np.ndarray) -> list[dict[str, Any]]:
    cols = ("precision", "recall", "f1", "support")
    return [
        {"label": lab, **{c: prf[c][i] for c in cols}, **{k: v[i] for k, v in extra.items()}}
        for i, lab in enumerate(labels)
    ]


def _calibration(probs: np.ndarray, y: np.ndarray, n_bins: int) -> dict[str, Any]:
    ece, bins = M.expected_calibration_error(probs, y, n_bins=n_bins)
    return {"ece": ece, "n_bins": n_bins, "bins": bins}


def _multiclass(probs, targets, *, labels, threshold, n_bins, top_confused) -> dict[str, Any]:
    y = M._class_indices(targets, "targets")
    if len(y) != len(probs):
        raise DataError(f"targets have {len(y)} clips but probs have {len(probs)}")
    M._check_range(y, len(labels), "targets")
    pred = probs.argmax(axis=1)
    prf = M.per_class_prf(y, probs)
    overall = {
        "accuracy": M.accuracy(y, probs),
        "balanced_accuracy": M.balanced_accuracy(y, probs),
        "macro_f1": M.macro_mean_f1(prf),
    }
    trivial = [k for k in TOP_K if k >= len(labels)]
    for k in TOP_K:
        if k not in trivial:
            overall[f"top_{k}_accuracy"] = M.top_k_accuracy(y, probs, k=k)
    notes = []
    if trivial:
        names = " and ".join(f"top-{k}" for k in trivial)
        notes.append(f"{names} accuracy left out: with {len(labels)} classes it is always 1.")
    overall["map_at_3"] = M.map_at_k(y, probs, k=3)
    notes += _absent_classes(labels, prf["support"])
    return {
        "overall": overall,
        "per_class": _per_class_rows(labels, prf),
        **_single_label_block(y, pred, labels, top_confused),
        "calibration": _calibration(probs, y, n_bins),
        "notes": notes,
    }


def _multilabel(probs, targets, *, labels, threshold, n_bins, top_confused) -> dict[str, Any]:
    t = M._multi_hot(targets)
    if t.shape != probs.shape:
        raise DataError(f"targets have shape {t.shape} but probs have {probs.shape}")
    prf = M.multilabel_prf(t, probs, threshold=threshold)
    ap = M.average_precision(t, probs)
    mean_ap, skipped = M.mean_average_precision(t, probs)
    best = probs.argmax(axis=1)
    hit = (probs >= threshold) & (t > 0)
    micro = 2 * hit.sum() / max((probs >= threshold).sum() + t.sum(), 1)
    overall = {
        "top1_accuracy": float(np.mean(t[np.arange(len(t)), best] > 0)),
        "macro_f1": M.macro_mean_f1(prf),
        "micro_f1": float(micro),
        "mAP": mean_ap,
        "lwlrap": M.lwlrap(t, probs),
        "map_at_3": M.map_at_k(t, probs, k=3),
    }
    notes = [f"macro_f1, micro_f1 and the per-class precision/recall/F1 use threshold {threshold:g}."]
    if skipped:
        names = ", ".join(repr(labels[c]) for c in skipped)
        notes.append(f"{len(skipped)} class(es) with no positive clip skipped in mAP: {names}.")
    single = t.sum(axis=1) == 1
    y_single = t[single].argmax(axis=1)
    out: dict[str, Any] = {"overall": overall, "per_class": _per_class_rows(labels, prf, ap=ap), "threshold": threshold}
    if single.any():
        out.update(_single_label_block(y_single, best[single], labels, top_confused))
        out["calibration"] = _calibration(_renormalise(probs[single]), y_single, n_bins)
        notes.append(
            f"confusion matrix and calibration: the {int(single.sum())} of {len(t)} clips with exactly "
            "one label (true label vs best-scored label; calibration on the scores renormalised to sum to 1)."
        )
    else:
        notes.append("no clip has exactly one label: confusion matrix and calibration left out.")
    return {**out, "notes": notes}


def _renormalise(probs: np.ndarray) -> np.ndarray:
    total = probs.sum(axis=1, keepdims=True)
    return np.divide(probs, total, out=np.full_like(probs, 1.0 / probs.shape[1]), where=total > 0)


def _binary(probs, targets, *, labels, threshold, n_bins, top_confused) -> dict[str, Any]:
    y = M._class_indices(targets, "targets")
    if len(y) != len(probs):
        raise DataError(f"targets have {len(y)} clips but probs have {len(probs)}")
    M._check_range(y, 2, "targets")
    pred = (probs >= threshold).astype(np.int64)
    prf = M.per_class_prf(y, pred, num_classes=2)
    overall = {
        "accuracy": M.accuracy(y, pred),
        "balanced_accuracy": M.balanced_accuracy(y, pred),
        "macro_f1": M.macro_mean_f1(prf),
    }
    notes = [f"accuracy, F1 and the confusion matrix use threshold {threshold:g} on P({labels[1]})."]
    out: dict[str, Any] = {"threshold": threshold}
    if 0 < y.sum() < len(y):
        fpr, tpr, thr = M.roc_curve(y, probs)
        eer, eer_threshold = M.eer(y, probs)
        overall.update(roc_auc=M.roc_auc(y, probs), eer=eer, eer_threshold=eer_threshold)
        overall["average_precision"] = M.average_precision(y, probs)
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), MAX_CURVE_POINTS)).round().astype(int))
        out["roc"] = {"fpr": fpr[keep], "tpr": tpr[keep], "thresholds": thr[keep]}
    else:
        overall.update(roc_auc=None, eer=None, eer_threshold=None, average_precision=None)
        notes.append("only one class among the clips: ROC-AUC, EER and AP are undefined.")
    return {
        **out,
        "overall": overall,
        "per_class": _per_class_rows(labels, prf),
        **_single_label_block(y, pred, labels, top_confused),
        "calibration": _calibration(probs, y, n_bins),
        "notes": notes + _absent_classes(labels, prf["support"]),
    }


def _absent_classes(labels: list[str], support: np.ndarray) -> list[str]:
    missing = [labels[i] for i in np.flatnonzero(support == 0)]
    if not missing:
        return []
    names = ", ".join(repr(x) for x in missing)
    return [f"{len(missing)} class(es) have no clip in this split (recall undefined, shown as 0): {names}."]


def to_json_ready(obj: Any) -> Any:
    """numpy arrays/scalars → lists/numbers, NaN and inf → None, tuples → lists, recursively."""
    if isinstance(obj, dict):
        return {str(k): to_json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_json_ready(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
