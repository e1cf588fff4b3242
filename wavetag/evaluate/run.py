"""``evaluate``: a trained model on a split of a pack → metrics.json, report.md/html, plots.

Clips longer than the model's window are classified with sliding windows (hop = half a window
by default) and their logits pooled, so a 30-s recording is judged on all of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wavetag.data.pack import Pack
from wavetag.errors import CheckpointError, ConfigError, DataError
from wavetag.evaluate.breakdown import breakdown
from wavetag.evaluate.compute import compute_metrics
from wavetag.evaluate.reference import REFERENCE_CSV, listener_for, reference_check, write_reference_csv
from wavetag.evaluate.report import ReportPaths, write_report
from wavetag.inference.windows import split_logits
from wavetag.models import Classifier, load_model_dir
from wavetag.outputs import rebase_paths, replaced_dir


@dataclass
class EvalResult:
    metrics: dict[str, Any]
    report: ReportPaths
    model_dir: Path
    split: str
    num_clips: int


def resolve_model_dir(path: str | Path) -> tuple[Path, Path | None]:
    """A run directory gives its ``best/`` (and its ``history.csv``); a model directory itself."""
    path = Path(path)
    if (path / "config.yaml").is_file() and (path / "best" / "config.json").is_file():
        history = path / "history.csv"
        return path / "best", history if history.is_file() else None
    if (path / "config.json").is_file():
        history = path.parent / "history.csv"
        return path, history if history.is_file() else None
    raise CheckpointError(
        f"{path}: neither a run directory (config.yaml + best/) nor a model directory (config.json + "
        f"model.safetensors); give the folder 'wavetag train' wrote, or its best/ or last/"
    )


def check_model_fits_pack(model: Classifier, config: dict[str, Any], pack: Pack, *, where: Path) -> None:
    """Same sample rate and the same labels in the same order, or a `DataError` naming the difference."""
    if model.sample_rate != pack.sample_rate:
        raise DataError(
            f"{where} runs at {model.sample_rate} Hz but the pack {pack.path} is at {pack.sample_rate} Hz; "
            f"prepare the pack with --sample-rate {model.sample_rate}"
        )
    labels = list(config.get("labels") or [])
    if labels != list(pack.labels):
        only_model = sorted(set(labels) - set(pack.labels))
        only_pack = sorted(set(pack.labels) - set(labels))
        detail = (
            f"only in the model: {only_model}; only in the pack: {only_pack}"
            if (only_model or only_pack)
            else "same labels in another order"
        )
        raise DataError(
            f"{where} and the pack {pack.path} have different label sets ({detail}); evaluate on a pack prepared with "
            "the same classes"
        )


def evaluate(
    model: str | Path,
    pack: str | Path | Pack,
    *,
    split: str = "test",
    out: str | Path | None = None,
    batch_size: int = 128,
    hop_s: float | None = None,
    pool: str = "mean",
    task_metric: str | None = None,
    max_examples: int = 50,
    reference: bool = False,
) -> EvalResult:
    """Evaluate ``model`` (a run or model directory) on ``split`` of ``pack``; writes the report
    to ``out`` (default: ``RUN/report-<split>`` or ``MODEL_DIR/report-<split>``). ``metrics["overall"]``
    starts with ``loss``: the model's training loss (cross-entropy, or binary cross-entropy per
    class) on the split, beside accuracy and the task metrics. ``reference``: also hear the split's
    word clips with the reference listener (`wavetag.evaluate.reference`): its figures go to
    ``metrics["breakdown"]["reference"]`` and its verdict per clip to ``reference.csv``."""
    model_dir, history = resolve_model_dir(model)
    net, config = load_model_dir(model_dir)
    pack = pack if isinstance(pack, Pack) else Pack.open(pack)
    check_model_fits_pack(net, config, pack, where=model_dir)
    if reference and net.task != "multiclass":
        raise ConfigError(
            f"--reference: the model's task is {net.task}; the reference listener hears single-word clips (multiclass)"
        )
    listener = listener_for(pack) if reference else None  # a missing package or non-word labels stop here
    indices = pack.split_indices(split)
    if len(indices) == 0:
        raise DataError(
            f"{pack.path}: the {split} split is empty; choose --split train, validation or test with clips in it"
        )
    logits = split_logits(
        net, pack, indices, clip_seconds=net.clip_seconds, hop_s=hop_s, batch_size=batch_size, pool=pool
    )
    probs = net.probabilities(logits).numpy()
    targets = pack.targets(indices)
    metrics = compute_metrics(probs, targets, task=net.task, labels=pack.labels, task_metric=task_metric)
    loss = float(net.loss(logits, torch.from_numpy(targets)))  # the training loss on the pooled logits
    metrics["overall"] = {"loss": loss, **metrics["overall"]}
    metrics["model"] = {"dir": str(model_dir), "name": net.name, "params": net.num_params()}
    # What prepare warned about the pack (e.g. a class with no clip in this split) belongs in the report too.
    metrics["notes"] = list(metrics.get("notes", [])) + [f"pack: {w}" for w in pack.info.get("warnings", [])]
    if not pack.multi_label and net.task == "multiclass":
        metrics["breakdown"] = breakdown(pack, indices, probs.argmax(axis=1), targets)
    clip_rows = None
    if listener is not None:
        ref = reference_check(pack, indices, probs.argmax(axis=1), targets, listener=listener)
        clip_rows = ref.pop("clip_rows")
        metrics["breakdown"]["reference"] = ref
    out = Path(out) if out is not None else (model_dir.parent if history else model_dir) / f"report-{split}"
    with replaced_dir(out) as stage:  # an earlier report stays whole if writing this one fails
        report = write_report(
            stage,
            metrics=metrics,
            labels=pack.labels,
            task=net.task,
            predictions=prediction_records(pack, indices, probs, net.task),
            get_audio=lambda i: (pack.waveform(int(i)), pack.sample_rate),
            history_csv=history,
            title=f"{net.name} on {pack.path.name} ({split})",
            split=split,
            max_examples=max_examples,
        )
        if clip_rows is not None:
            write_reference_csv(stage / REFERENCE_CSV, clip_rows)
    return EvalResult(metrics, rebase_paths(report, stage, out), model_dir, split, len(indices))


def prediction_records(pack: Pack, indices: np.ndarray, probs: np.ndarray, task: str) -> list[dict[str, Any]]:
    """One record per clip for `write_report`: index, path, true, predicted, score, top3."""
    labels = np.asarray(pack.labels, dtype=object)
    if probs.shape[1] != len(labels):  # binary: P(positive) [N, 1] → [1 - p, p]
        p = probs.reshape(-1)
        probs = np.stack([1 - p, p], axis=1)
    top = np.argsort(-probs, axis=1, kind="stable")[:, :3]
    records = []
    for row, i in enumerate(indices.tolist()):
        if pack.multi_label:
            true = [str(x) for x in labels[pack.index.labels[i].astype(bool)]]
            predicted = [str(x) for x in labels[probs[row] >= 0.5]] or [str(labels[top[row, 0]])]
        else:
            true, predicted = str(labels[pack.index.label[i]]), str(labels[top[row, 0]])
        records.append(
            {
                "index": i,
                "path": str(pack.index.path[i]),
                "true": true,
                "predicted": predicted,
                "score": float(probs[row, top[row, 0]]),
                "top3": [(str(labels[c]), float(probs[row, c])) for c in top[row]],
            }
        )
    return records
