"""compute_metrics: the promised keys per task, JSON-ready, consistent with the metric functions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from wavetag.errors import ConfigError, DataError
from wavetag.evaluate import compute_metrics
from wavetag.evaluate import metrics as M
from wavetag.inference.windows import pool_window_logits
from wavetag.metric_names import MONITORS, OVERALL_METRICS

COMMON_KEYS = {
    "task",
    "num_clips",
    "num_classes",
    "labels",
    "task_metric",
    "overall",
    "per_class",
    "confusion_matrix",
    "most_confused",
    "calibration",
    "notes",
}
OVERALL_KEYS = {task: set(names) for task, names in OVERALL_METRICS.items()}


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _data(task: str, n: int = 80, c: int = 7, seed: int = 0):
    rng = np.random.default_rng(seed)
    if task == "multiclass":
        y = rng.integers(0, c, n)
        return _softmax(rng.normal(size=(n, c)) + 2 * np.eye(c)[y]), y, [f"class{i}" for i in range(c)]
    if task == "multilabel":
        t = (rng.random((n, c)) < 0.25).astype(int)
        t[np.arange(0, n, 3), :] = 0
        t[np.arange(0, n, 3), rng.integers(0, c, len(range(0, n, 3)))] = 1  # some single-label clips
        return 1 / (1 + np.exp(-(rng.normal(size=(n, c)) + 2 * t - 1))), t, [f"tag{i}" for i in range(c)]
    y = rng.integers(0, 2, n)
    return np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1), y, ["off", "on"]


@pytest.mark.parametrize("task", ["multiclass", "multilabel", "binary"])
def test_promised_keys_and_json_serialisable(task):
    probs, targets, labels = _data(task)
    m = compute_metrics(probs, targets, task=task, labels=labels)
    assert COMMON_KEYS <= set(m)
    assert set(m["overall"]) == OVERALL_KEYS[task]
    assert m["num_clips"] == 80 and m["labels"] == labels
    assert m["task_metric"]["value"] == m["overall"][m["task_metric"]["name"]]
    assert [r["label"] for r in m["per_class"]] == labels
    assert {"precision", "recall", "f1", "support"} <= set(m["per_class"][0])
    cm = m["confusion_matrix"]
    assert len(cm["counts"]) == len(labels) and len(cm["normalized"][0]) == len(labels)
    assert set(m["calibration"]) == {"ece", "n_bins", "bins"}
    json.loads(json.dumps(m, allow_nan=False))  # strict JSON: no NaN, no numpy types
    if task == "multilabel":
        assert "ap" in m["per_class"][0]
    if task == "binary":
        assert set(m["roc"]) == {"fpr", "tpr", "thresholds"}


def test_multiclass_values_agree_with_the_metric_functions():
    probs, y, labels = _data("multiclass")
    m = compute_metrics(probs, y, task="multiclass", labels=labels)
    assert m["overall"]["accuracy"] == pytest.approx(M.accuracy(y, probs))
    assert m["overall"]["top_3_accuracy"] == pytest.approx(M.top_k_accuracy(y, probs, k=3))
    assert np.sum(m["confusion_matrix"]["counts"]) == 80
    assert sum(r["support"] for r in m["per_class"]) == 80
    assert m["calibration"]["ece"] == pytest.approx(M.expected_calibration_error(probs, y)[0])


def test_multiclass_with_few_classes_leaves_trivial_top_k_out_and_says_so():
    probs, y, _ = _data("multiclass", c=3)
    m = compute_metrics(probs, y, task="multiclass", labels=["a", "b", "c"], task_metric="map_at_3")
    assert "top_3_accuracy" not in m["overall"] and "top_5_accuracy" not in m["overall"]
    assert any("top-3 and top-5 accuracy left out" in n for n in m["notes"])
    assert m["task_metric"] == {"name": "map_at_3", "value": m["overall"]["map_at_3"]}


def test_multilabel_skipped_class_is_null_and_named():
    probs, t, labels = _data("multilabel")
    t[:, 4] = 0
    m = compute_metrics(probs, t, task="multilabel", labels=labels)
    assert m["per_class"][4]["ap"] is None
    assert any("skipped in mAP: 'tag4'" in n for n in m["notes"])
    assert m["overall"]["lwlrap"] == pytest.approx(M.lwlrap(t, probs))


def test_binary_accepts_n_by_1_and_matches_roc_auc():
    probs, y, labels = _data("binary")
    m = compute_metrics(probs[:, None], y, task="binary", labels=labels)
    assert m["overall"]["roc_auc"] == pytest.approx(M.roc_auc(y, probs))
    assert m["task_metric"]["name"] == "roc_auc"
    assert m["overall"]["accuracy"] == pytest.approx(np.mean((probs >= 0.5) == y))


def test_binary_with_one_class_reports_null_and_a_note():
    m = compute_metrics(np.array([0.2, 0.7, 0.4]), np.array([1, 1, 1]), task="binary", labels=["off", "on"])
    assert m["overall"]["roc_auc"] is None and "roc" not in m
    assert any("only one class" in n for n in m["notes"])


def test_compute_metrics_errors():
    probs, y, labels = _data("multiclass")
    with pytest.raises(DataError, match=r"expected \[N, 6\] \(one column per label\)"):
        compute_metrics(probs, y, task="multiclass", labels=labels[:6])
    with pytest.raises(DataError, match="apply softmax"):
        compute_metrics(probs * 3 - 1, y, task="multiclass", labels=labels)
    with pytest.raises(DataError, match="labels \\[negative, positive\\]"):
        compute_metrics(probs[:, 0], y, task="binary", labels=labels)
    with pytest.raises(ConfigError, match="unknown task 'multi_class'; did you mean 'multiclass'"):
        compute_metrics(probs, y, task="multi_class", labels=labels)
    with pytest.raises(ConfigError, match="unknown task_metric 'lwlrap'"):
        compute_metrics(probs, y, task="multiclass", labels=labels, task_metric="lwlrap")


def test_pool_window_logits_mean_and_max_numpy_and_torch():
    logits = np.array([[1.0, -2.0], [3.0, 0.0], [-1.0, 5.0]])  # [W=3, C=2]
    np.testing.assert_allclose(pool_window_logits(logits), [1.0, 1.0])
    np.testing.assert_allclose(pool_window_logits(logits, method="max"), [3.0, 5.0])
    batched = torch.tensor(np.stack([logits, -logits]))  # [B=2, W=3, C=2]
    assert torch.equal(
        pool_window_logits(batched, method="max"), torch.tensor([[3.0, 5.0], [1.0, 2.0]], dtype=torch.float64)
    )
    with pytest.raises(ConfigError, match="unknown pool method 'median'"):
        pool_window_logits(logits, method="median")
    with pytest.raises(DataError, match="expected \\[..., windows >= 1, classes\\]"):
        pool_window_logits(np.zeros((0, 3)))


def test_every_monitor_is_a_logged_metric():
    logged = {"val_loss"} | {f"val_{k}" for keys in OVERALL_METRICS.values() for k in keys}
    assert set(MONITORS) <= logged and "val_top1_accuracy" in MONITORS and "val_eer" not in MONITORS
