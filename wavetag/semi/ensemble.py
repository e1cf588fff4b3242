"""``build_ensemble``: trained model directories → one ensemble model directory.

    MODEL_DIR... --check: same task, labels (same order), sample rate and window, else a DataError
      naming the difference--> members
      --method "weighted": each member's probabilities on the validation split of PACK (verified
        clips when it has any) --weights minimising the validation log-loss of the weighted mean
        (a convex problem: SLSQP on the simplex), averaged over 30 bootstrap resamples of the
        clips, so that a small validation split does not hand all the weight to one member--> w
      --> OUT/config.json + model.safetensors (`wavetag.models.ensemble.Ensemble`), which predict,
          evaluate, serve and export load like any model directory

With a pack, ``config.json`` also records each member's and the ensemble's validation
accuracy and log-loss, how differently the members err (`member_diversity`: error overlap,
disagreement, oracle accuracy) and a note when the ensemble does not beat its best member
(``ensemble.validation``). Members may come from any family and front end, and may have been
trained on different label views of the same classes (given, relabelled, verified only): that is
what makes their errors differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wavetag.config import check_choice
from wavetag.data.pack import Pack
from wavetag.errors import ConfigError, DataError
from wavetag.evaluate.run import check_model_fits_pack
from wavetag.inference.predictor import resolve_model_dir
from wavetag.inference.windows import split_logits
from wavetag.models import load_model_dir, save_model_dir
from wavetag.models.ensemble import METHODS, Ensemble
from wavetag.tasks import get_task

EPS = 1e-7
BOOTSTRAP_ROUNDS = 30  # resamples of the validation clips the weight search averages over


def combine_probabilities(member_probs: np.ndarray, weights: Sequence[float], *, method: str, task: str) -> np.ndarray:
    """Numpy reference of the ensemble: ``member_probs [M, N, K]`` (softmax rows, or sigmoid
    probabilities) → ``[N, K]``. Arithmetic (mean / weighted) or normalised geometric mean."""
    p = np.clip(np.asarray(member_probs, dtype=np.float64), EPS, 1 - EPS)
    w = np.asarray(weights, dtype=np.float64).reshape(-1, 1, 1) / np.sum(weights)
    if method != "geometric":
        return (w * p).sum(0)
    log_p = (w * np.log(p)).sum(0)
    if get_task(task).exclusive:
        e = np.exp(log_p - log_p.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    log_q = (w * np.log1p(-p)).sum(0)
    return 1.0 / (1.0 + np.exp(log_q - log_p))


def log_loss(probs: np.ndarray, targets: np.ndarray, *, task: str) -> float:
    """Mean negative log-likelihood of ``targets`` (class ids [N], or multi-hot / 0-1 for sigmoid tasks)."""
    return get_task(task).log_loss(probs, targets)


def search_weights(
    member_probs: np.ndarray, targets: np.ndarray, *, task: str, bootstrap: int = BOOTSTRAP_ROUNDS, seed: int = 0
) -> np.ndarray:
    """Weights ``[M]`` on the simplex for the weighted mean of ``member_probs [M, N, K]``: the
    log-loss optimum, averaged over ``bootstrap`` resamples of the N clips (``0``: the optimum on
    all of them). Members trained alike are close, and on a small validation split the single
    optimum puts all the weight on whichever happens to score best there; the average keeps the
    weight where it wins again and again."""
    p = np.clip(np.asarray(member_probs, dtype=np.float64), EPS, 1 - EPS)
    right = get_task(task).likelihood(p, targets)  # (M, N) true class, or (M, N, K) each tag's truth
    if bootstrap <= 0:
        return _best_weights(right.reshape(len(p), -1))
    rng = np.random.default_rng(seed)
    n = right.shape[1]
    draws = [_best_weights(right[:, rng.integers(0, n, n)].reshape(len(p), -1)) for _ in range(bootstrap)]
    w = np.mean(draws, axis=0)
    return np.round(w / w.sum(), 4)


def _best_weights(right: np.ndarray) -> np.ndarray:
    """The simplex weights minimising ``-mean(log(w @ right))`` (``right [M, n]``: the probability
    each member gives the truth), a convex problem: SLSQP, checked against uniform weights and each
    member alone."""
    from scipy.optimize import minimize

    m = len(right)

    def loss(w):
        mix = w @ right
        return -np.mean(np.log(mix)), -(right / mix).mean(1)

    start = np.full(m, 1.0 / m)
    res = minimize(
        loss,
        start,
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * m,
        options={"ftol": 1e-10, "maxiter": 500},
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)}],
    )
    found = np.clip(res.x, 0.0, None)
    found = found / found.sum() if found.sum() > 0 else start
    return min([found, start, *np.eye(m)], key=lambda w: loss(w)[0])


def build_ensemble(
    model_dirs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    method: str = "mean",
    pack: str | Path | Pack | None = None,
    weights: Sequence[float] | None = None,
) -> Path:
    """Combine the models in ``model_dirs`` (model or run directories) into an ensemble model
    directory at ``out_dir``; returns it. ``method``: "mean", "geometric" or "weighted" (weights
    searched on the validation split of ``pack``, unless ``weights`` are given)."""
    check_choice("method", method, METHODS)
    if len(model_dirs) < 2:
        raise ConfigError(
            f"an ensemble needs at least two models, got {len(model_dirs)}; give two or more MODEL directories"
        )
    dirs = [_resolve(d) for d in model_dirs]
    loaded = [load_model_dir(d) for d in dirs]
    check_compatible(dirs, loaded)
    members = [m for m, _ in loaded]
    config0 = loaded[0][1]
    the_pack = pack if pack is None or isinstance(pack, Pack) else Pack.open(pack)
    validation = None
    if the_pack is not None:
        for d, (m, c) in zip(dirs, loaded, strict=False):
            check_model_fits_pack(m, c, the_pack, where=d)
        probs, targets = member_validation_probs(members, the_pack)
        if method == "weighted" and weights is None:
            weights = search_weights(probs, targets, task=members[0].task).tolist()
        validation = _validation_scores(probs, targets, weights, method=method, task=members[0].task, dirs=dirs)
    elif method == "weighted" and weights is None:
        raise ConfigError(
            "method 'weighted' searches the weights on the validation split: give the pack (--pack PACK), "
            "or the weights themselves"
        )
    ensemble = Ensemble(members, method=method, weights=weights)
    pack_block = (
        {"path": str(the_pack.path), "sample_rate": the_pack.sample_rate, "checksum": the_pack.info.get("checksum")}
        if the_pack is not None
        else config0.get("pack")
    )
    extra = {
        "labels": list(config0["labels"]),
        "pack": pack_block,
        "ensemble": {
            "members": [str(d) for d in dirs],
            "method": method,
            "weights": list(ensemble.weight_values),
            "validation": validation,
        },
    }
    return save_model_dir(ensemble, out_dir, extra={k: v for k, v in extra.items() if v is not None})


def check_compatible(dirs: Sequence[Path], loaded: Sequence[tuple[Any, dict]]) -> None:
    """Members must share task, labels (in order), sample rate and window; a `DataError` names the difference."""
    (m0, c0), d0 = loaded[0], dirs[0]
    labels0 = list(c0.get("labels") or [])
    for d, (m, c) in zip(dirs[1:], loaded[1:], strict=False):
        labels = list(c.get("labels") or [])
        if labels != labels0:
            only0, only = sorted(set(labels0) - set(labels)), sorted(set(labels) - set(labels0))
            detail = (
                f"only in {d0}: {only0}; only in {d}: {only}" if (only0 or only) else "the same labels in another order"
            )
            raise DataError(
                f"{d0} and {d} have different label sets ({detail}); ensemble models trained on the same classes"
            )
        for what, a, b, unit in (
            ("sample rate", m0.sample_rate, m.sample_rate, " Hz"),
            ("task", m0.task, m.task, ""),
            ("window (clip_seconds)", m0.clip_seconds, m.clip_seconds, " s"),
        ):
            if a != b:
                raise DataError(
                    f"{d0} and {d} differ in {what}: {a}{unit} vs {b}{unit}; ensemble members must share it "
                    "(train them on the same pack with the same --clip-seconds)"
                )


def member_validation_probs(members: Sequence[Any], pack: Pack) -> tuple[np.ndarray, np.ndarray]:
    """Each member's probabilities on the validation split ``[M, N, K]`` (verified clips when it
    has any) and the targets ``[N]`` (or ``[N, C]``)."""
    indices = pack.split_indices("validation")
    verified = indices[pack.index.verified[indices].astype(bool)]
    indices = verified if len(verified) else indices
    if len(indices) == 0:
        raise DataError(f"{pack.path}: the validation split is empty; the ensemble weights are searched on it")
    probs = [m.probabilities(split_logits(m, pack, indices, clip_seconds=m.clip_seconds)).numpy() for m in members]
    return np.stack(probs), pack.targets(indices)


def _validation_scores(probs, targets, weights, *, method: str, task: str, dirs) -> dict[str, Any]:
    w = weights if weights is not None else [1.0] * len(probs)
    combined = combine_probabilities(probs, w, method=method, task=task)
    rows = [{"model": str(d), **_scores(p, targets, task)} for d, p in zip(dirs, probs, strict=False)]
    out = {
        "clips": int(len(targets)),
        "members": rows,
        "ensemble": _scores(combined, targets, task),
        "diversity": member_diversity(probs, targets, task=task),
    }
    note = ensemble_note(out)
    return {**out, "note": note} if note else out


def member_errors(probs: np.ndarray, targets: np.ndarray, *, task: str) -> np.ndarray:
    """``[M, N]`` booleans: member m's top-1 decision on clip n is wrong (as `_scores` counts accuracy)."""
    rule = get_task(task)
    return np.stack([~rule.hits(q, targets) for q in np.asarray(probs)])


def member_diversity(probs: np.ndarray, targets: np.ndarray, *, task: str) -> dict[str, Any]:
    """How differently the members err, on ``probs [M, N, K]``: ``error_overlap`` (mean over member
    pairs of |both wrong| / |either wrong|; 1 = the same mistakes, where averaging cannot help),
    ``disagreement`` (mean share of clips on which a pair's top-1 decisions differ) and
    ``oracle_accuracy`` (share of clips at least one member gets right: the ceiling of any
    combination of their decisions)."""
    wrong = member_errors(probs, targets, task=task)
    decisions = np.asarray(probs).reshape(len(wrong), wrong.shape[1], -1)
    decisions = decisions.argmax(-1) if decisions.shape[-1] > 1 else decisions[..., 0] >= 0.5
    overlaps, disagree = [], []
    for i in range(len(wrong)):
        for j in range(i + 1, len(wrong)):
            either = int((wrong[i] | wrong[j]).sum())
            if either:
                overlaps.append((wrong[i] & wrong[j]).sum() / either)
            disagree.append(float(np.mean(decisions[i] != decisions[j])))
    return {
        "error_overlap": round(float(np.mean(overlaps)), 4) if overlaps else None,
        "disagreement": round(float(np.mean(disagree)), 4) if disagree else 0.0,
        "oracle_accuracy": round(float(np.mean(~wrong.all(0))), 6),
    }


def ensemble_note(validation: dict[str, Any]) -> str | None:
    """A sentence when the ensemble does not beat its best member on validation accuracy."""
    best = max(m["accuracy"] for m in validation["members"])
    mine, div = validation["ensemble"]["accuracy"], validation["diversity"]
    if mine > best:
        return None
    overlap = "n/a" if div["error_overlap"] is None else f"{div['error_overlap']:.2f}"
    return (
        f"the ensemble does not beat its best member on validation (accuracy {mine:.4f} vs {best:.4f}); the members' "
        f"errors overlap {overlap} (1 = the same mistakes) and they disagree on {div['disagreement']:.1%} of the "
        "clips. "
        "Averaging helps when members err differently: train them on other label views (given, relabelled, "
        "verified only) or from other families and front ends (a spectrogram CNN and a waveform model)"
    )


def _scores(probs: np.ndarray, targets: np.ndarray, task: str) -> dict[str, float]:
    accuracy = float(np.mean(get_task(task).hits(probs, targets)))
    return {"accuracy": round(accuracy, 6), "log_loss": round(log_loss(probs, targets, task=task), 6)}


def _resolve(path: str | Path) -> Path:
    return resolve_model_dir(path)
