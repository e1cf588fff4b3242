"""What relabelling and pseudo-labelling share: which clips are seeds and which are candidates.

- **seeds**: clips of the split whose label was checked by a person (``verified``) and that have one;
- **candidates**: clips of the split that are unverified or have no label (label -1) — the ones
  label spreading and pseudo-labelling may give a new label.

Both weigh a candidate's given label as evidence that is wrong with probability ``noise``
(`noisy_label_posterior`), with ``noise`` estimated from how often a predictor of known accuracy
agrees with the given labels (`noise_from_agreement`), after calibrating the predictor's
probabilities on verified clips with a temperature (`fit_temperature`, `temper`; Guo et al. 2017,
"On calibration of modern neural networks").

`estimate_label_noise` wraps the estimate with two guards: the value is capped to
``[NOISE_FLOOR, NOISE_CEILING_SHARE · (K - 1) / K]`` (a given label never becomes certain, and
never worthless), and a predictor no better than chance on the verified clips (within two
standard errors) is flagged ``degenerate``: its agreement says nothing about the labels, and the
caller warns (`LabelNoiseWarning`) with the figures and what to change.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from wavetag.data.pack import Pack
from wavetag.errors import ConfigError, DataError

TEMPER_FLOOR = 1e-6  # probabilities below this count as this when tempered
NOISE_FLOOR = 0.05  # an estimated share of wrong labels below this is taken as this
NOISE_CEILING_SHARE = 0.9  # ... and above this share of (K - 1) / K (labels no better than random) as that
CHANCE_MARGIN_SE = 2.0  # "at chance": accuracy within this many standard errors of the chance level


class LabelNoiseWarning(UserWarning):
    """The label-noise estimate cannot be trusted (the predictor is at chance)."""


def check_single_label(pack: Pack, what: str) -> None:
    """Refuse multi-label packs, naming ``what`` needs one label per clip."""
    if pack.multi_label:
        raise ConfigError(
            f"{pack.path}: a multi-label pack; {what} needs one label per clip (single-label packs, "
            "multiclass or binary)"
        )


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
        raise DataError(
            f"{pack.path}: no verified clip in the {split} split ({int(candidates.sum())} unverified); "
            "mark some clips manually_verified=1 in the CSV source and prepare the pack again"
        )
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


@dataclass(frozen=True)
class NoiseEstimate:
    """`estimate_label_noise`'s answer: ``noise`` (capped; what to use), ``raw``
    (`noise_from_agreement`'s value), the figures it came from, and whether the predictor is at
    chance (``degenerate``: the estimate means nothing)."""

    noise: float
    raw: float
    accuracy: float
    agreement: float
    chance: float
    margin: float
    num_verified: int
    degenerate: bool

    def warning(self, who: str, label_noise: float | str | None = "auto") -> str | None:
        """The message for a degenerate estimate (None otherwise); ``who`` names the predictor,
        ``label_noise`` is the setting in use ("auto", a share, or None = given labels ignored)."""
        if not self.degenerate:
            return None
        if label_noise is None:
            effect = "with the given labels ignored, the new labels are guesses"
        elif label_noise == "auto":
            effect = (
                f"the label-noise estimate ({self.raw:.2f}) means nothing, so {self.noise:.2f} was used and the "
                f"given labels decide: the clips simply keep their given labels"
            )
        else:
            effect = f"with label noise {label_noise:g} the given labels decide: the clips simply keep them"
        return (
            f"{who} is at chance: accuracy {self.accuracy:.2f} on {self.num_verified} verified clips against a "
            f"chance level of {self.chance:.2f} (+{self.margin:.2f} for two standard errors), agreement with the "
            f"given labels {self.agreement:.2f}; {effect}. To change it: train that model longer (--epochs / "
            f"--epochs-per-round) or use another model or front end until it beats chance, verify more clips, or "
            f"set the label noise yourself (e.g. 0.3)"
        )


def estimate_label_noise(
    accuracy: float, agreement: float, num_classes: int, *, num_verified: int, majority_share: float | None = None
) -> NoiseEstimate:
    """`noise_from_agreement`, capped, with a check that the predictor beats chance.

    Chance is the larger of ``1 / K`` and ``majority_share`` (always guessing the commonest class
    of the verified clips); the predictor is ``degenerate`` when its ``accuracy`` on the
    ``num_verified`` clips is not above chance by ``CHANCE_MARGIN_SE`` binomial standard errors.
    """
    k = max(2, int(num_classes))
    chance = max(1.0 / k, float(majority_share or 0.0))
    margin = CHANCE_MARGIN_SE * math.sqrt(chance * (1.0 - chance) / max(1, num_verified))
    raw = noise_from_agreement(accuracy, agreement, k)
    noise = float(np.clip(raw, NOISE_FLOOR, NOISE_CEILING_SHARE * (k - 1) / k))
    return NoiseEstimate(
        noise,
        raw,
        float(accuracy),
        float(agreement),
        chance,
        margin,
        int(num_verified),
        degenerate=bool(accuracy <= chance + margin),
    )


def warn_label_noise(
    estimate: NoiseEstimate, who: str, notes: list[str], label_noise: float | str | None = "auto"
) -> None:
    """Say so (a `LabelNoiseWarning` and a line in ``notes``) when ``estimate`` is degenerate."""
    message = estimate.warning(who, label_noise)
    if message:
        warnings.warn(message, LabelNoiseWarning, stacklevel=3)
        notes.append(message)


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
