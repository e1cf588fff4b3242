"""PCA of the clips' log spectra, and the clips that do not look like their class.

Features: each clip's mean log-mel spectrum (`stats.ClipStats.log_mel_db`, dB, so level counts
too), standardised per band with the median and MAD of all clips. PCA (scikit-learn) keeps
`N_COMPONENTS` axes; the first two make the scatter plot.

Outlier score of a clip: its robust distance from the median of its own class in that space,
``sqrt(mean_k(((x_k - median_k) / scale_k)^2))`` with ``scale_k`` = 1.4826 x MAD of the class on
axis ``k`` (at least `MIN_SCALE_SHARE` of the axis's spread over all clips, so a very uniform
class does not turn small wobbles into huge scores). Classes with fewer than `MIN_CLASS_CLIPS`
clips are measured against all clips. A score of 3 means "three typical deviations away";
mislabelled, corrupted, clipped or silent clips come first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_COMPONENTS = 10
MIN_CLASS_CLIPS = 5
MIN_SCALE_SHARE = 0.25
MAD_TO_STD = 1.4826


@dataclass
class Projection:
    """PCA coordinates ``[N, K]`` of the clips, the variance share of each axis, the outlier scores ``[N]``."""

    coords: np.ndarray
    explained: np.ndarray
    scores: np.ndarray


def project(features: np.ndarray, class_of: np.ndarray, *, seed: int = 0) -> Projection:
    """PCA of ``features [N, D]`` and per-class robust outlier scores (``class_of [N]``, -1 = none)."""
    from sklearn.decomposition import PCA

    n, d = features.shape
    centre = np.median(features, axis=0)
    spread = np.maximum(MAD_TO_STD * np.median(np.abs(features - centre), axis=0), 1e-3)
    z = (features - centre) / spread
    k = max(1, min(N_COMPONENTS, d, n - 1))
    if n < 3:
        return Projection(np.zeros((n, 2)), np.zeros(2), np.zeros(n))
    pca = PCA(n_components=k, random_state=seed, svd_solver="auto").fit(z)
    coords = pca.transform(z)
    if k == 1:
        coords = np.concatenate([coords, np.zeros((n, 1))], axis=1)
    return Projection(coords, pca.explained_variance_ratio_, robust_scores(coords[:, :k], class_of))


def robust_scores(coords: np.ndarray, class_of: np.ndarray) -> np.ndarray:
    """Per-class robust distance of every row of ``coords [N, K]`` (see the module docstring)."""
    centre_all, scale_all = _centre_scale(coords)
    floor = MIN_SCALE_SHARE * scale_all
    scores = np.zeros(len(coords))
    for c in np.unique(class_of):
        rows = np.flatnonzero(class_of == c)
        centre, scale = (
            _centre_scale(coords[rows]) if len(rows) >= MIN_CLASS_CLIPS and c >= 0 else (centre_all, scale_all)
        )
        dev = (coords[rows] - centre) / np.maximum(scale, floor)
        scores[rows] = np.sqrt(np.mean(np.square(dev), axis=1))
    return scores


def _centre_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centre = np.median(x, axis=0)
    return centre, np.maximum(MAD_TO_STD * np.median(np.abs(x - centre), axis=0), 1e-9)


def main_class(membership: np.ndarray) -> np.ndarray:
    """The class each clip is compared with: its (first) tag; -1 for a clip with none."""
    has = membership.any(axis=1)
    return np.where(has, membership.argmax(axis=1), -1)
