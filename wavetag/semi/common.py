"""What relabelling and pseudo-labelling share: which clips are seeds and which are candidates.

- **seeds**: clips of the split whose label was checked by a person (``verified``) and that have one;
- **candidates**: clips of the split that are unverified or have no label (label -1) — the ones
  label spreading and pseudo-labelling may give a new label.

Both weigh a candidate's given label as evidence that is wrong with probability ``noise``
(`noisy_label_posterior`), with ``noise`` estimated from how often a predictor of known accuracy
agrees with the given labels (`noise_from_agreement`), after calibrating the predictor's
probabilities on verified clips with a temperature (`fit_temperature`, `temper`; Guo et al. 2017,
"On calibration of modern neural networks").
"""
from __future__ import annotations

import numpy as np

from wavetag.data.pack import Pack
from wavetag.errors import ConfigError, DataError

TEMPER_FLOOR = 1e-6  # probabilities below this count as this when tempered


def check_single_label(pack: Pack, what: str) -> None:
    """Refuse multi-label packs, naming ``what`` needs one label per clip."""
    if pack.multi_label:
        raise ConfigError(f"{pack.path}: a multi-label pack; {what} needs one label per clip (single-label packs, "
                          "multiclass or binary)")


def seeds_and_candidates(pack: Pack, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks ``[N]``: the seeds and the candidates of ``split`` (see the module docstring)."""
    in_split = np.zeros(len(pack), bool)
    in_split[pack.split_indices(split)] = True
    labelled = pack.index.label >= 0
    verified = pack.index.verified.astype(bool)
    return in_split & verified & labelled, in_split & ~(verified & labelled)


def check_seed_classes(pack: Pack, seeds: np.ndarray, candidates: np.ndarray, *, split: str = "train") -> None:
    """A `DataError` naming every class that has candidates (by their given label) but no seed."""
    label = pack.index.label
    have = np.bincount(label[seeds], minlength=pack.num_classes)
    want = np.bincount(label[candidates & (label >= 0)], minlength=pack.num_classes)
    if not seeds.any():
        raise DataError(f"{pack.path}: no verified clip in the {split} split ({int(candidates.sum())} unverified); "
                        "mark some clips manually_verified=1 in the CSV source and prepare the pack again")
    missing = [f"{pack.labels[c]!r} ({want[c]} unverified)" for c in np.flatnonzero((have == 0) & (want > 0))]
    if missing:
        raise DataError(
            f"{pack.path}: no verified clip in the {split} split for class(es) {', '.join(missing)}; nothing can "
            "carry a label to them. Verify a few of their clips (manually_verified=1), or merge each into a related "
            "class, then prepare the pack again"
        )


def noisy_label_posterior(dist: np.ndarray, given: np.ndarray, classes: np.ndarray, noise: float | None) -> np.ndarray:
    """``dist [n, k]`` (spread distributions over ``classes [k]``) times ``P(given | class)``: ``1 - noise``
    for the given class, ``noise / (k - 1)`` for each other one; rows renormalised. Rows whose
    given label is not among ``classes`` (e.g. -1, none) and ``noise=None`` keep ``dist``."""
    k = len(classes)
    if noise is None or k < 2:
        return dist
    match = given[:, None] == classes[None, :]
    likelihood = np.where(match, 1.0 - noise, noise / (k - 1))
    likelihood[~match.any(1)] = 1.0
    post = dist * likelihood
    with np.errstate(invalid="ignore", divide="ignore"):
        return post / post.sum(1, keepdims=True)


def noise_from_agreement(accuracy: float, agreement: float, num_classes: int) -> float:
    """The share of wrong given labels, from a predictor's ``accuracy`` (measured on verified clips)
    and its ``agreement`` with the given labels, errors being independent and spread evenly over
    the other classes: ``agreement = a (1 - e) + (1 - a) e / (K - 1)``, so
    ``e = (a - agreement) / (a - (1 - a) / (K - 1))``, clipped to [0, (K - 1) / K].

    >>> round(noise_from_agreement(0.9, 0.9 * 0.7 + 0.1 * 0.3 / 5, 6), 6)
    0.3
    """
    k = max(2, int(num_classes))
    chance = (1.0 - accuracy) / (k - 1)
    if accuracy <= chance:  # the predictor tells nothing about the labels: the given ones stand
        return 0.0
    return float(np.clip((accuracy - agreement) / (accuracy - chance), 0.0, (k - 1) / k))


def parse_label_noise(text: str | None, *, flag: str = "--label-noise") -> float | str | None:
    """``"auto"`` → "auto", ``"none"`` → None, ``"0.3"`` → 0.3 (the range is checked where it is used)."""
    if text is None or str(text).strip().lower() in ("none", ""):
        return None
    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r}; expected auto, none or a share in [0, 1) such as 0.3") from None


def check_label_noise(value: float | str | None, *, flag: str) -> None:
    """``None``, ``"auto"`` or a share in [0, 1); a `ConfigError` naming ``flag`` otherwise."""
    if value is None or value == "auto":
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"label_noise = {value!r} ({flag}); expected 'auto', 'none' or a share in [0, 1)")


def fit_temperature(dist: np.ndarray, truth: np.ndarray) -> float:
    """``T`` minimising the negative log-likelihood of ``truth`` under ``temper(dist, T)`` (0.05 to 20)."""
    from scipy.optimize import minimize_scalar

    log_d = np.log(np.clip(dist, TEMPER_FLOOR, 1.0))

    def nll(log_t: float) -> float:
        z = log_d / np.exp(log_t)
        z = z - z.max(1, keepdims=True)
        return float(-np.mean(z[np.arange(len(z)), truth] - np.log(np.exp(z).sum(1))))

    return float(np.exp(minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded").x))


def temper(dist: np.ndarray, temperature: float) -> np.ndarray:
    """``dist ** (1 / T)``, renormalised (NaN rows, clips the graph did not reach, stay NaN)."""
    lost = ~np.isfinite(dist).all(1)
    z = np.log(np.clip(np.nan_to_num(dist, nan=1.0), TEMPER_FLOOR, 1.0)) / temperature
    e = np.exp(z - z.max(1, keepdims=True))
    out = e / e.sum(1, keepdims=True)
    out[lost] = np.nan
    return out
