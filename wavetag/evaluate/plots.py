"""PNG plots for the evaluation report and the leaderboard.

Every function draws on its own ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot, no
global backend switch, safe in threads and notebooks), writes ``path`` and returns it.
matplotlib (and torch, for spectrograms) is imported inside the functions, so importing this
module costs nothing.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DPI = 110
LR_COLUMN = "lr"
ANNOTATE_MAX_CLASSES = 20  # write the number in each confusion-matrix cell up to this many classes
SPECTROGRAM_N_MELS = 64


def new_figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: str | Path, *, tight: bool = True) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def plot_confusion_matrix(counts: Any, labels: Sequence[str], path: str | Path, *, title: str = "") -> Path:
    """Counts and row-normalised matrix ``[C, C]`` side by side; true class on the y axis."""
    counts = np.asarray(counts, dtype=np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    c = len(labels)
    side = min(max(4.0, 0.22 * c + 3.0), 14.0)  # inches per panel
    font = float(np.clip(0.6 * 0.7 * side * 72 / max(c, 1), 5.0, 9.0))  # ~60 % of a row's height, in pt
    fig = new_figure(2 * side + 1.0, side + 0.6)
    panels = (
        (fig.add_subplot(1, 2, 1), counts, max(counts.max(), 1.0), "counts", "{:.0f}"),
        (fig.add_subplot(1, 2, 2), norm, 1.0, "normalised by true class", "{:.2f}"),
    )
    for ax, data, top, name, fmt in panels:
        image = ax.imshow(data, cmap="Blues", vmin=0, vmax=top, interpolation="nearest")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        ticks = np.arange(c)
        ax.set_xticks(ticks, labels=[str(x) for x in labels], rotation=90, fontsize=font)
        ax.set_yticks(ticks, labels=[str(x) for x in labels], fontsize=font)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{title} {name}".strip())
        if c <= ANNOTATE_MAX_CLASSES:
            _annotate_cells(ax, data, top, fmt, font)
    return save_figure(fig, path)


def _annotate_cells(ax: Any, data: np.ndarray, top: float, fmt: str, font: float) -> None:
    for (i, j), value in np.ndenumerate(data):
        if value:
            colour = "white" if value > 0.6 * top else "black"
            ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=font, color=colour)


def read_history(history_csv: str | Path) -> dict[str, np.ndarray]:
    """Columns of a ``history.csv`` as float arrays; empty or non-numeric cells are NaN."""
    with open(history_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {name for row in rows for name in row if name}
    return {name: np.array([_number(row.get(name)) for row in rows]) for name in columns}


def _number(cell: str | None) -> float:
    try:
        return float(cell) if cell not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _history_x(history: dict[str, np.ndarray]) -> tuple[np.ndarray, str]:
    n = len(next(iter(history.values()))) if history else 0
    epoch = history.get("epoch")
    if epoch is not None and np.isfinite(epoch).all() and len(np.unique(epoch)) == n:
        return epoch, "epoch"  # one row per epoch
    step = history.get("step")
    if step is not None and np.isfinite(step).all():
        return step, "step"
    return np.arange(n, dtype=np.float64), "row"


def training_curve_panels(
    history: dict[str, np.ndarray], *, metric_name: str = "accuracy"
) -> list[tuple[str, list[str]]]:
    """The panels `plot_training_curves` draws: ``[(title, [column, ...]), ...]``.

    Loss (``train_loss``, ``val_loss``); the task metric (``train_<metric>``, ``val_<metric>``,
    and accuracy beside it when the task metric is another one, since training logs
    ``train_accuracy``); the learning rate. Columns without a finite value and panels left
    empty are dropped.
    """
    names = [metric_name] + (["accuracy"] if metric_name != "accuracy" else [])
    metric_cols = [f"{split}_{name}" for name in names for split in ("train", "val")]
    metric_cols += ["train_metric", "val_metric"]  # histories written before the columns were named
    panels = [("loss", ["train_loss", "val_loss"]), (" / ".join(names), metric_cols), ("learning rate", [LR_COLUMN])]
    kept = [(title, [c for c in cols if _has_data(history, c)]) for title, cols in panels]
    return [(title, cols) for title, cols in kept if cols]


def plot_training_curves(history_csv: str | Path, path: str | Path, *, metric_name: str = "accuracy") -> Path | None:
    """Loss and the task metric (train vs validation), and the learning rate, from ``history.csv``.

    ``metric_name``: the task metric as history.csv names it after ``train_``/``val_``
    (``accuracy``, ``macro_f1``, ``lwlrap``, ``roc_auc``...); see `training_curve_panels`.
    Returns None if there is nothing to draw.
    """
    history = read_history(history_csv)
    if not history:
        return None
    x, x_name = _history_x(history)
    panels = training_curve_panels(history, metric_name=metric_name)
    if not panels:
        return None
    fig = new_figure(4.2 * len(panels), 3.4)
    for k, (title, cols) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), k)
        for col in cols:
            y = history[col]
            ok = np.isfinite(y)
            style = "o-" if col.startswith("val_") else "-"
            ax.plot(x[ok], y[ok], style, markersize=3, label=col.replace("_", " "))
        ax.set_title(title)
        ax.set_xlabel(x_name)
        ax.grid(alpha=0.3)
        if cols != [LR_COLUMN]:
            ax.legend(fontsize=8)
    return save_figure(fig, path)


def _has_data(history: dict[str, np.ndarray], col: str | None) -> bool:
    return col is not None and col in history and bool(np.isfinite(history[col]).any())


def plot_roc_curve(
    fpr: Any,
    tpr: Any,
    path: str | Path,
    *,
    auc: float | None = None,
    eer: float | None = None,
    title: str = "ROC curve",
) -> Path:
    """ROC curve with the chance diagonal; the EER point marked when given."""
    fig = new_figure(4.6, 4.4)
    ax = fig.add_subplot(1, 1, 1)
    label = f"ROC (AUC = {auc:.3f})" if auc is not None else "ROC"
    ax.plot(fpr, tpr, lw=2, label=label)
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="chance")
    if eer is not None:
        ax.plot([eer], [1 - eer], "o", color="C3", label=f"EER = {eer:.3f}")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_reliability(bins: dict[str, Any], path: str | Path, *, ece: float | None = None) -> Path:
    """Reliability diagram: accuracy per confidence bin against the diagonal, counts below.

    ``bins``: `expected_calibration_error`'s bins (``edges``, ``accuracy``, ``count``; None/NaN in
    empty bins).
    """
    edges = np.asarray(bins["edges"], dtype=np.float64)
    acc = np.array([math.nan if a is None else a for a in bins["accuracy"]], dtype=np.float64)
    count = np.asarray(bins["count"], dtype=np.float64)
    centres, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    fig = new_figure(4.6, 5.2)
    ax = fig.add_axes((0.14, 0.36, 0.8, 0.56))
    ax.bar(centres, np.nan_to_num(acc), width=width, edgecolor="black", lw=0.5, label="accuracy")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title("reliability" + (f" (ECE = {ece:.3f})" if ece is not None else ""))
    ax.legend(loc="upper left", fontsize=8)
    ax.tick_params(labelbottom=False)
    low = fig.add_axes((0.14, 0.1, 0.8, 0.22), sharex=ax)
    low.bar(centres, count, width=width, color="grey", edgecolor="black", lw=0.5)
    low.set_xlabel("confidence")
    low.set_ylabel("clips")
    return save_figure(fig, path, tight=False)  # the axes are placed by hand


def plot_per_class(labels: Sequence[str], values: Any, path: str | Path, *, name: str = "F1") -> Path:
    """Horizontal bar per class, best at the top (undefined values drawn as empty bars)."""
    values = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    order = np.argsort(np.nan_to_num(values, nan=-1.0), kind="stable")  # ascending: best ends on top
    fig = new_figure(6.0, max(2.5, 0.22 * len(labels) + 1.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(np.arange(len(order)), np.nan_to_num(values[order]), color="C0")
    ax.set_yticks(np.arange(len(order)), labels=[str(labels[i]) for i in order], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel(name)
    ax.set_title(f"per-class {name}")
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)


def plot_spectrogram(samples: Any, sample_rate: int, path: str | Path, *, title: str = "") -> Path:
    """Log-mel spectrogram (dB) of a mono clip ``samples [T]``, time in seconds."""
    import torch  # here, with the front end: `import wavetag.evaluate` stays free of torch

    from wavetag.frontends import create_frontend

    wav = torch.as_tensor(np.asarray(samples, dtype=np.float32).reshape(1, 1, -1))
    n_mels = SPECTROGRAM_N_MELS if sample_rate >= 16000 else 40
    frontend = create_frontend("logmel", sample_rate=sample_rate, n_mels=n_mels, scale="db")
    with torch.no_grad():
        mel = frontend(wav)[0, 0].numpy()  # (n_mels, frames)
    seconds = wav.shape[-1] / sample_rate
    fig = new_figure(5.0, 2.4)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, mel.shape[0]))
    fig.colorbar(image, ax=ax, label="dB")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel band")
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def plot_leaderboard(
    models: Sequence[str],
    values: Sequence[float | None],
    path: str | Path,
    *,
    metric_name: str = "task metric",
    groups: Sequence[str | None] | None = None,
) -> Path:
    """One horizontal bar per model in the given order (first at the top), value written beside;
    bars coloured by ``groups`` (e.g. the model family, with a legend) when given."""
    vals = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    fig = new_figure(6.5 + (1.5 if groups else 0.0), max(2.5, 0.35 * len(models) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    pos = np.arange(len(models))[::-1]
    names = [str(g) if g else "other" for g in groups] if groups else ["C2"] * len(models)
    order = list(dict.fromkeys(names))
    colours = [f"C{order.index(n) % 10}" if groups else "C2" for n in names]
    ax.barh(pos, np.nan_to_num(vals), color=colours)
    if groups:
        from matplotlib.patches import Patch

        ax.legend(
            handles=[Patch(color=f"C{k % 10}", label=n) for k, n in enumerate(order)],
            title="family",
            fontsize=8,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
        )
    ax.set_yticks(pos, labels=[str(m) for m in models], fontsize=9)
    right = np.nanmax(vals) if np.isfinite(vals).any() else 1.0
    for y, v in zip(pos, vals, strict=False):
        ax.text(
            (0 if math.isnan(v) else v) + 0.01 * right,
            y,
            "n/a" if math.isnan(v) else f"{v:.4f}",
            va="center",
            fontsize=8,
        )
    ax.set_xlim(0, right * 1.15 if right > 0 else 1.0)
    ax.set_xlabel(metric_name)
    ax.set_title(f"leaderboard: {metric_name}")
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)
