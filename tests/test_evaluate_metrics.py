"""Metrics against scikit-learn, brute force and hand-checkable cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from wavetag.errors import ConfigError, DataError
from wavetag.evaluate import metrics as M

N, C = 200, 6


@pytest.fixture(scope="module")
def multiclass():
    rng = np.random.default_rng(0)
    y = rng.integers(0, C, N)
    logits = rng.normal(size=(N, C)) + 1.5 * np.eye(C)[y]  # better than chance, far from perfect
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs


@pytest.fixture(scope="module")
def multilabel():
    rng = np.random.default_rng(1)
    targets = (rng.random((60, 7)) < 0.3).astype(int)
    scores = np.round(rng.random((60, 7)) + 0.4 * targets, 1)  # rounded: plenty of ties
    return targets, scores


# ---------------------------------------------------------------- single-label vs scikit-learn


def test_accuracy_balanced_accuracy_macro_f1_match_sklearn(multiclass):
    y, probs = multiclass
    pred = probs.argmax(axis=1)
    assert M.accuracy(y, probs) == pytest.approx(skm.accuracy_score(y, pred))
    assert M.balanced_accuracy(y, probs) == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert M.macro_f1(y, probs) == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
    assert M.accuracy(y, pred) == M.accuracy(y, probs)  # predicted indices work too


def test_macro_f1_skips_classes_never_seen_like_sklearn():
    y, pred = np.array([0, 0, 1, 1, 3]), np.array([0, 1, 1, 1, 0])  # class 2 neither true nor predicted
    assert M.macro_f1(y, np.eye(4)[pred]) == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))


def test_per_class_prf_matches_sklearn(multiclass):
    y, probs = multiclass
    prf = M.per_class_prf(y, probs)
    p, r, f, s = skm.precision_recall_fscore_support(y, probs.argmax(1), labels=range(C), zero_division=0)
    np.testing.assert_allclose(prf["precision"], p)
    np.testing.assert_allclose(prf["recall"], r)
    np.testing.assert_allclose(prf["f1"], f)
    np.testing.assert_array_equal(prf["support"], s)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_top_k_accuracy_matches_sklearn(multiclass, k):
    y, probs = multiclass
    assert M.top_k_accuracy(y, probs, k=k) == pytest.approx(skm.top_k_accuracy_score(y, probs, k=k, labels=range(C)))


def test_top_1_equals_accuracy_even_with_ties():
    y = np.array([0, 1, 2, 2])
    probs = np.full((4, 3), 1 / 3)  # all tied: arg-max says class 0 everywhere
    assert M.top_k_accuracy(y, probs, k=1) == M.accuracy(y, probs) == 0.25


def test_confusion_matrix_matches_sklearn(multiclass):
    y, probs = multiclass
    pred = probs.argmax(1)
    np.testing.assert_array_equal(M.confusion_matrix(y, pred, C), skm.confusion_matrix(y, pred, labels=range(C)))


def test_normalized_confusion_rows_sum_to_one_or_zero():
    cm = np.array([[3, 1, 0], [0, 0, 0], [1, 1, 2]])
    norm = M.normalize_confusion_matrix(cm)
    np.testing.assert_allclose(norm.sum(axis=1), [1, 0, 1])
    assert norm[0, 1] == pytest.approx(0.25)


def test_most_confused_pairs_hand_checked():
    cm = np.array([[5, 3, 0], [1, 6, 0], [0, 3, 1]])
    pairs = M.most_confused_pairs(cm, ["a", "b", "c"], k=2)
    assert pairs == [
        {"true": "a", "predicted": "b", "count": 3, "fraction": pytest.approx(3 / 8)},
        {"true": "c", "predicted": "b", "count": 3, "fraction": pytest.approx(3 / 4)},
    ]


# ---------------------------------------------------------------- ranking and multi-label


def test_average_precision_matches_sklearn_with_ties(multilabel):
    targets, scores = multilabel
    ap = M.average_precision(targets, scores)
    expected = [skm.average_precision_score(targets[:, c], scores[:, c]) for c in range(targets.shape[1])]
    np.testing.assert_allclose(ap, expected)
    assert M.average_precision(targets[:, 0], scores[:, 0]) == pytest.approx(expected[0])


def test_mean_average_precision_skips_and_names_classes_without_positives(multilabel):
    targets, scores = multilabel
    targets = targets.copy()
    targets[:, 2] = 0
    value, skipped = M.mean_average_precision(targets, scores)
    assert skipped == [2]
    keep = [c for c in range(targets.shape[1]) if c != 2]
    assert value == pytest.approx(skm.average_precision_score(targets[:, keep], scores[:, keep], average="macro"))


def _lwlrap_brute_force(targets: np.ndarray, scores: np.ndarray) -> float:
    """Straight from the definition: loop over every (clip, positive label) pair."""
    precisions = []
    for t, s in zip(targets, scores, strict=False):
        for c in np.flatnonzero(t):
            ranked_above = s >= s[c]  # this label and every label scored at least as high
            precisions.append(t[ranked_above].sum() / ranked_above.sum())
    return float(np.mean(precisions))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lwlrap_matches_brute_force_and_weighted_lrap(seed):
    rng = np.random.default_rng(seed)
    targets = (rng.random((25, 5)) < 0.35).astype(int)
    scores = rng.random((25, 5)) if seed else np.round(rng.random((25, 5)), 1)  # seed 0: ties
    expected = _lwlrap_brute_force(targets, scores)
    assert M.lwlrap(targets, scores) == pytest.approx(expected)
    per_class, weight = M.lwlrap_per_class(targets, scores)
    assert np.nansum(per_class * weight) == pytest.approx(expected)
    has_pos = targets.sum(1) > 0  # lwlrap = LRAP with each clip weighted by its number of labels
    lrap = skm.label_ranking_average_precision_score(
        targets[has_pos], scores[has_pos], sample_weight=targets.sum(1)[has_pos]
    )
    assert M.lwlrap(targets, scores) == pytest.approx(lrap)


def test_lwlrap_is_one_for_a_perfect_ranking():
    targets = np.array([[1, 0, 1], [0, 1, 0]])
    assert M.lwlrap(targets, targets + 0.1) == 1.0


def test_map_at_3_four_clip_example():
    # the true class ranks 1st, 2nd, 3rd and 4th: MAP@3 = (1 + 1/2 + 1/3 + 0) / 4
    y = np.array([0, 1, 2, 3])
    probs = np.array(
        [
            [0.7, 0.1, 0.1, 0.1],
            [0.6, 0.3, 0.05, 0.05],
            [0.5, 0.3, 0.15, 0.05],
            [0.4, 0.3, 0.2, 0.1],
        ]
    )
    assert M.map_at_k(y, probs, k=3) == pytest.approx((1 + 1 / 2 + 1 / 3) / 4)
    assert M.map_at_k(np.eye(4)[y], probs, k=3) == pytest.approx((1 + 1 / 2 + 1 / 3) / 4)


def test_map_at_3_with_two_true_labels():
    # labels {0, 2}; ranking 0, 1, 2: hits at ranks 1 and 3 -> (1/1 + 2/3) / min(2, 3)
    assert M.map_at_k(np.array([[1, 0, 1, 0]]), np.array([[0.9, 0.5, 0.4, 0.1]]), k=3) == pytest.approx((1 + 2 / 3) / 2)


# ---------------------------------------------------------------- binary


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 150)
    scores = np.round(np.clip(rng.normal(0.4 + 0.25 * y, 0.2), 0, 1), 2)  # ties included
    return y, scores


def test_roc_curve_and_auc_match_sklearn(binary):
    y, scores = binary
    fpr, tpr, thr = M.roc_curve(y, scores)
    sk_fpr, sk_tpr, sk_thr = skm.roc_curve(y, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    assert thr[0] == np.inf
    assert M.roc_auc(y, scores) == pytest.approx(skm.roc_auc_score(y, scores))


def test_eer_is_zero_when_perfectly_separable():
    y = np.array([0, 0, 0, 1, 1])
    value, threshold = M.eer(y, np.array([0.1, 0.2, 0.3, 0.8, 0.9]))
    assert value == 0.0
    assert threshold == 0.8


def test_eer_hand_checked():
    # ROC points (0,0) (0,.5) (.5,.5) (.5,1) (1,1): FPR = FNR = 0.5 at threshold 0.6
    assert M.eer(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9])) == (0.5, 0.6)


def test_eer_lies_where_fpr_meets_fnr(binary):
    y, scores = binary
    value, _ = M.eer(y, scores)
    fpr, tpr, _ = skm.roc_curve(y, scores)
    fnr = 1 - tpr
    j = np.argmin(np.abs(fnr - fpr))
    assert abs(value - (fpr[j] + fnr[j]) / 2) < 0.05


# ---------------------------------------------------------------- calibration


def test_ece_of_perfectly_calibrated_toy_is_zero():
    # 10 clips at confidence 0.8 of which 8 are right; 5 at 0.6 of which 3 are right
    probs = np.array([[0.8, 0.2]] * 10 + [[0.4, 0.6]] * 5)
    y = np.array([0] * 8 + [1] * 2 + [1] * 3 + [0] * 2)
    ece, bins = M.expected_calibration_error(probs, y, n_bins=10)
    assert ece == pytest.approx(0.0, abs=1e-12)
    assert bins["count"].sum() == 15 and bins["count"][7] == 10 and bins["count"][5] == 5
    assert bins["accuracy"][7] == pytest.approx(0.8)
    assert np.isnan(bins["accuracy"][0])


def test_ece_hand_checked_overconfident_and_binary_input():
    y = np.array([0, 0, 1, 1])
    ece, _ = M.expected_calibration_error(np.array([[1.0, 0.0]] * 4), y)  # certain, half right
    assert ece == pytest.approx(0.5)
    ece_1d, _ = M.expected_calibration_error(np.array([0.0, 0.0, 0.0, 0.0]), y)  # same as P(class 1)
    assert ece_1d == pytest.approx(0.5)


# ---------------------------------------------------------------- errors


def test_errors_name_the_problem():
    with pytest.raises(DataError, match=r"probs has shape \(3, 2\); expected \[4, num_classes\]"):
        M.accuracy(np.array([0, 1, 0, 1]), np.zeros((3, 2)))
    with pytest.raises(DataError, match="y_true holds class index 5; expected 0 <= index < 3"):
        M.accuracy(np.array([0, 5]), np.zeros((2, 3)))
    with pytest.raises(DataError, match="only negative clips .*need both classes"):
        M.roc_auc(np.array([0, 0, 0]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(DataError, match=r"calibration needs probabilities in \[0, 1\]"):
        M.expected_calibration_error(np.array([[2.0, -1.0]]), np.array([0]))
    with pytest.raises(DataError, match="values other than 0 and 1"):
        M.lwlrap(np.array([[0.5, 1.0]]), np.array([[0.1, 0.2]]))
    with pytest.raises(DataError, match="y_true is empty"):
        M.accuracy(np.array([], dtype=int), np.zeros((0, 3)))
    with pytest.raises(ConfigError, match="k = 0; expected k >= 1"):
        M.top_k_accuracy(np.array([0]), np.array([[1.0, 0.0]]), k=0)
