"""Iterative pseudo-labelling (``wavetag train --semi``): train, label the unlabelled, train again.

    round 0: train on the verified clips of the train split (candidates left out)
    round r >= 1: the previous round's best model predicts every candidate (unverified or
      unlabelled train clip, sliding windows as in evaluation); a candidate's given label, when it
      has one, is weighed in as evidence that is wrong with probability label_noise (posterior ∝
      model probability × P(given | class), see `wavetag.semi.common`); those whose top
      probability lies in [lower_r, upper] join round r with that label; the others stay out
      lower_r runs linearly from lower[0] (round 1) to lower[1] (last round)

The previous model's probabilities are first calibrated (a temperature fitted on the verified
validation clips), and ``label_noise="auto"`` estimates the share of wrong given labels each round
from that model's accuracy on those clips and its agreement with the given labels;
``label_noise=None`` ignores the given labels (the plain rule: the model's own prediction). The
estimate is capped to a sane range, and a model at chance on the verified clips (its agreement
then says nothing) is reported with a `LabelNoiseWarning` and a note in the summary. The
unverified labels of FSDKaggle-style data are mostly right, and a model trained on the few
verified clips alone is often less accurate than they are, so ignoring them loses information.

Each round is a plain training run (``OUT/round_<r>/``: config.yaml, history.csv, best/, last/) of
a **fresh** model with the same seed, not a continuation: a model fine-tuned on its own pseudo
labels drifts towards its own mistakes (confirmation bias), while a fresh model sees the pseudo
labels as plain data; every round is also a normal run that ``evaluate`` and ``--resume`` understand.
Validation uses the verified clips of the validation split whenever it has any (unverified
labels would bias model selection). ``OUT/round_<r>/pseudo_labels.csv`` lists the clips round r
added and their labels; ``OUT/semi_history.csv`` has one row per round;
``OUT/best/`` is a copy of the best round's model (by ``keep_best_by``), ``OUT/config.yaml`` the
round config, so ``wavetag evaluate OUT PACK`` takes ``OUT/best``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wavetag.config import config_to_dict, save_yaml
from wavetag.data.pack import Pack
from wavetag.data.splits import SPLIT_CODES
from wavetag.errors import ConfigError
from wavetag.inference.thresholds import tune_model_dir
from wavetag.inference.windows import split_logits
from wavetag.models import load_model_dir
from wavetag.semi.common import (
    check_label_noise,
    check_seed_classes,
    check_single_label,
    estimate_label_noise,
    fit_temperature,
    noisy_label_posterior,
    seeds_and_candidates,
    temper,
    warn_label_noise,
)
from wavetag.train import train
from wavetag.train.config import TrainConfig
from wavetag.train.loop import build_model
from wavetag.train.validate import is_better

HISTORY_FILE = "semi_history.csv"
PSEUDO_FILE = "pseudo_labels.csv"  # in OUT/round_<r>/: the clips round r added, with their pseudo labels
HISTORY_COLUMNS = (
    "round",
    "lower",
    "upper",
    "label_noise",
    "clips_used",
    "verified",
    "pseudo_labelled",
    "pseudo_agree_given",
    "epochs",
    "best_epoch",
    "train_loss",
    "train_accuracy",
    "val_metric",
    "val_value",
    "val_accuracy",
)


@dataclass
class SemiResult:
    """What `train_semi` did: one dict per round (the `HISTORY_COLUMNS`), the best round and its model."""

    out_dir: Path
    best_dir: Path
    best_round: int
    rounds: list[dict[str, Any]]
    seconds: float
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"semi-supervised: {len(self.rounds)} rounds in {self.seconds:.0f} s; best round {self.best_round}"]
        for r in self.rounds:
            lower = "-" if r["lower"] is None else f"{r['lower']:.3f}"
            noise = "" if r["label_noise"] is None else f", label noise {r['label_noise']:.2f}"
            lines.append(
                f"  round {r['round']}: lower {lower}{noise}, {r['clips_used']} clips ({r['verified']} verified + "
                f"{r['pseudo_labelled']} pseudo-labelled), {r['val_metric']} {r['val_value']:.4f}"
            )
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(
            f"  best model: {self.best_dir}\n  history: {self.out_dir / HISTORY_FILE}\n"
            f"  next: wavetag evaluate {self.out_dir} PACK"
        )
        return "\n".join(lines)


def parse_bounds(text: str, *, flag: str = "--semi-lower") -> tuple[float, float]:
    """``"0.35,0.65"`` → (0.35, 0.65); one number means a constant bound."""
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        values = []
    if len(values) not in (1, 2):
        raise ConfigError(f"{flag} {text!r}; expected START,END (e.g. 0.35,0.65) or one number")
    return (values[0], values[-1])


def check_bounds(lower: Sequence[float], upper: float, rounds: int) -> tuple[float, float]:
    """Validate the schedule; a `ConfigError` naming the option otherwise."""
    if int(rounds) != rounds or rounds < 1:
        raise ConfigError(
            f"rounds = {rounds!r} (--rounds); expected an integer >= 1 (round 0 trains on verified clips)"
        )
    lower = tuple(float(x) for x in (lower if isinstance(lower, (tuple, list)) else (lower, lower)))
    if len(lower) != 2:
        raise ConfigError(f"lower = {lower} (--semi-lower); expected (start, end)")
    for name, flag, value in (
        ("lower start", "--semi-lower", lower[0]),
        ("lower end", "--semi-lower", lower[1]),
        ("upper", "--semi-upper", upper),
    ):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(
                f"semi {name} bound = {value!r} ({flag}) is out of range; expected a probability in [0, 1]"
            )
    if max(lower) > upper:
        raise ConfigError(
            f"semi lower bound {max(lower):g} (--semi-lower) > upper bound {upper:g} (--semi-upper); "
            "no clip could be selected; expected lower <= upper"
        )
    return lower


def lower_bounds(rounds: int, lower: Sequence[float]) -> list[float | None]:
    """The lower bound of each round: None for round 0, then linear from ``lower[0]`` to ``lower[1]``.

    >>> lower_bounds(4, (0.35, 0.65))
    [None, 0.35, 0.5, 0.65]
    """
    start, end = lower
    later = rounds - 1
    return [None] + [round(start + (end - start) * (r / (later - 1) if later > 1 else 0.0), 6) for r in range(later)]


def select_pseudo_labels(probs: np.ndarray, *, lower: float, upper: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``probs`` ``[M, K]`` (softmax) or ``[M]`` / ``[M, 1]`` (binary, P(positive)) → ``(selected bool
    [M], predicted class [M], top probability [M])``; selected: ``lower <= top <= upper``."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1 or p.shape[1] == 1:
        p = p.reshape(-1)
        predicted, top = (p >= 0.5).astype(np.int64), np.maximum(p, 1.0 - p)
    else:
        predicted, top = p.argmax(1), p.max(1)
    return (top >= lower) & (top <= upper), predicted, top


def train_semi(
    pack: str | Path | Pack,
    config: TrainConfig | None = None,
    out_dir: str | Path = "runs/semi",
    *,
    rounds: int = 3,
    epochs_per_round: int | None = None,
    lower: Sequence[float] = (0.35, 0.65),
    upper: float = 1.0,
    label_noise: float | str | None = "auto",
    overwrite: bool = False,
    progress: bool = True,
    verbose: bool = True,
) -> SemiResult:
    """Iterative pseudo-labelling on ``pack`` (see the module docstring). ``epochs_per_round``:
    epochs of each round (default ``config.epochs``); ``lower``: (start, end) of the lower
    probability bound over rounds 1..; ``upper``: the upper bound; ``label_noise``: share of wrong
    given labels (a number in [0, 1), ``"auto"``, or ``None`` to ignore the given labels)."""
    started = time.perf_counter()
    lower = check_bounds(lower, upper, rounds)
    check_label_noise(label_noise, flag="--semi-label-noise")
    config = dataclasses.replace(config or TrainConfig())
    if epochs_per_round is not None:
        if int(epochs_per_round) != epochs_per_round or epochs_per_round < 1:
            raise ConfigError(f"epochs_per_round = {epochs_per_round!r} (--epochs-per-round); expected an integer >= 1")
        config.epochs = int(epochs_per_round)
    config.validate()
    pack = pack if isinstance(pack, Pack) else Pack.open(pack)
    check_single_label(pack, "pseudo-labelling")
    seeds, candidates = seeds_and_candidates(pack, "train")
    check_seed_classes(pack, seeds, candidates)
    out = Path(out_dir)
    build_model(
        config, pack, clip_seconds=config.clip_seconds or pack.clip_seconds or 1.0
    )  # model, front end: checked before --overwrite deletes anything
    _prepare_out(out, overwrite=overwrite)
    round_config = dataclasses.replace(config, tune_detection=False)
    save_yaml(config_to_dict(round_config), out / "config.yaml")
    keep_val, notes = _validation_mask(pack)
    bounds = lower_bounds(rounds, lower)
    if not candidates.any() and rounds > 1:
        bounds = bounds[:1]
        notes.append("every train clip is verified: nothing to pseudo-label, so only round 0 was trained")
    val_rows = np.flatnonzero(keep_val & (pack.index.split == SPLIT_CODES["validation"]) & (pack.index.label >= 0))
    history, model_dir = [], None
    for r, bound in enumerate(bounds):
        label, include = pack.index.label.copy(), keep_val & ~candidates
        chosen, predicted, noise = np.zeros(0, np.int64), np.zeros(0, np.int32), None
        if r > 0:
            chosen, predicted, top, noise = _pseudo_labels(
                model_dir,
                pack,
                candidates,
                val_rows,
                lower=bound,
                upper=upper,
                label_noise=label_noise,
                notes=notes,
                who=f"the round-{r - 1} model",
            )
            label[chosen], include[chosen] = predicted, True
        view = pack.with_labels(label, include=include)
        result = train(view, round_config, out / f"round_{r}", overwrite=overwrite, progress=progress, verbose=verbose)
        if r > 0:
            _write_pseudo_labels(out / f"round_{r}" / PSEUDO_FILE, pack, chosen, predicted, top)
        model_dir = result.best_dir
        agree = float(np.mean(pack.index.label[chosen] == predicted)) if len(chosen) else float("nan")
        history.append(
            {
                **_round_row(r, bound, upper, view, int(seeds.sum()), len(chosen), agree, result, config),
                "label_noise": noise,
            }
        )
        _write_history(out / HISTORY_FILE, history)
    best = _best_round(history, config.keep_best_by)
    _copy_model(out / f"round_{best}" / "best", out / "best")
    if config.tune_detection and (out / "best").is_dir():
        tune_model_dir(
            out / "best", pack.with_labels(include=keep_val), target_fa_per_hour=config.detection_target_fa_per_hour
        )
    semi = {
        "rounds": rounds,
        "epochs_per_round": config.epochs,
        "lower": list(lower),
        "upper": upper,
        "label_noise": label_noise,
        "lower_bounds": bounds,
        "best_round": best,
        "notes": notes,
    }
    (out / "semi.json").write_text(json.dumps(semi, indent=1) + "\n")
    return SemiResult(out, out / "best", best, history, time.perf_counter() - started, notes)


def _pseudo_labels(
    model_dir: Path,
    pack: Pack,
    candidates: np.ndarray,
    val_rows: np.ndarray,
    *,
    lower: float,
    upper: float,
    label_noise: float | str | None,
    notes: list[str],
    who: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float | None]:
    """Candidate clips (pack indices) selected with the model in ``model_dir``, their labels and
    probabilities, and the label noise used. The model's probabilities are calibrated and its
    accuracy measured on the verified validation clips ``val_rows`` (when the given labels count);
    a model at chance there is reported (`LabelNoiseWarning`, a line in ``notes``)."""
    model, _ = load_model_dir(model_dir)
    rows = np.flatnonzero(candidates)
    if len(rows) == 0:
        return rows, rows.astype(np.int32), np.zeros(0), None
    probs = _class_probs(model, pack, rows)
    given, noise = pack.index.label[rows], label_noise
    if len(val_rows):
        val_probs, truth = _class_probs(model, pack, val_rows), pack.index.label[val_rows]
        accuracy = float(np.mean(val_probs.argmax(1) == truth))
        if noise is not None:
            probs = temper(probs, fit_temperature(val_probs, truth))  # softmax outputs are over-confident too
        labelled = given >= 0
        agree = float(np.mean(probs[labelled].argmax(1) == given[labelled])) if labelled.any() else 1.0
        majority = float(np.bincount(truth).max() / len(truth))
        estimate = estimate_label_noise(
            accuracy, agree, probs.shape[1], num_verified=len(val_rows), majority_share=majority
        )
        warn_label_noise(estimate, who, notes, label_noise)
        if noise == "auto":
            noise = estimate.noise
    elif noise == "auto":
        noise = None  # no verified validation clip to measure the model on: the model's prediction alone
    posterior = noisy_label_posterior(probs, given, np.arange(probs.shape[1]), noise)
    selected, predicted, top = select_pseudo_labels(posterior, lower=lower, upper=upper)
    return rows[selected], predicted[selected].astype(np.int32), top[selected], noise


def _class_probs(model, pack: Pack, rows: np.ndarray) -> np.ndarray:
    """Class probabilities ``[n, K]`` of clips ``rows`` (binary: ``[P(negative), P(positive)]``)."""
    probs = model.probabilities(split_logits(model, pack, rows, clip_seconds=model.clip_seconds)).numpy()
    return np.concatenate([1.0 - probs, probs], axis=1) if probs.shape[1] == 1 else probs


def _write_pseudo_labels(path: Path, pack: Pack, rows: np.ndarray, predicted: np.ndarray, top: np.ndarray) -> None:
    """``index,path,given_label,pseudo_label,probability`` of the clips a round added."""
    names = list(pack.labels)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "path", "given_label", "pseudo_label", "probability"])
        for i, label, p in zip(rows.tolist(), predicted.tolist(), top.tolist(), strict=False):
            given = int(pack.index.label[i])
            w.writerow([i, pack.index.path[i], names[given] if given >= 0 else "", names[label], f"{p:.4f}"])


def _validation_mask(pack: Pack) -> tuple[np.ndarray, list[str]]:
    """Clips kept in their split: everything, except unverified validation clips when the
    validation split has verified ones."""
    val = pack.index.split == SPLIT_CODES["validation"]
    verified = pack.index.verified.astype(bool)
    keep = np.ones(len(pack), bool)
    if (val & verified).any() and (val & ~verified).any():
        keep[val & ~verified] = False
        return keep, [
            f"validation uses its {int((val & verified).sum())} verified clips "
            f"({int((val & ~verified).sum())} unverified left out)"
        ]
    if val.any() and not (val & verified).any():
        return keep, ["the validation split has no verified clip: model selection uses unverified labels"]
    return keep, []


def _round_row(
    r: int,
    bound: float | None,
    upper: float,
    view: Pack,
    verified: int,
    picked: int,
    agree: float,
    result: Any,
    config: TrainConfig,
) -> dict[str, Any]:
    last = result.history[-1] if result.history else {}
    best = next((h for h in result.history if h.get("epoch") == result.best_epoch), last)
    return {
        "round": r,
        "lower": bound,
        "upper": upper if r > 0 else None,
        "clips_used": int(len(view.split_indices("train"))),
        "verified": verified,
        "pseudo_labelled": picked,
        "pseudo_agree_given": agree,
        "epochs": result.epochs_done,
        "best_epoch": result.best_epoch,
        "train_loss": last.get("train_loss"),
        "train_accuracy": last.get("train_accuracy"),
        "val_metric": config.keep_best_by,
        "val_value": result.best_metric,
        "val_accuracy": best.get("val_accuracy"),
    }


def _best_round(history: list[dict[str, Any]], metric: str) -> int:
    best = None
    for row in history:
        value = row["val_value"]
        if (
            value is not None
            and np.isfinite(value)
            and (best is None or is_better(metric, value, history[best]["val_value"]))
        ):
            best = row["round"]
    return 0 if best is None else best


def _write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(HISTORY_COLUMNS))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: ("" if row[k] is None else (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]))
                    for k in HISTORY_COLUMNS
                }
            )


def _copy_model(src: Path, dst: Path) -> None:
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)


def _prepare_out(out: Path, *, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out}: the output directory exists and is not empty; use --overwrite or another --out")
    if overwrite:
        for old in out.glob("round_*"):
            shutil.rmtree(old, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
