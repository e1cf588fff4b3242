"""PNG plots of the dataset report, in the house style of `wavetag.evaluate.plots`.

Each function draws one ``matplotlib.figure.Figure`` on the Agg canvas (no pyplot), writes
``path`` and returns it. Plots with one panel or row per class show at most `MAX_CLASSES`
classes (the most frequent), and say so in the title.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wavetag.evaluate.plots import new_figure, save_figure

MAX_CLASSES = 48  # classes drawn in per-class panels, violins and spectrum grids
MAX_LINES = 12  # mean spectra drawn as lines up to this many classes, as an image beyond
MAX_SCATTER_POINTS = 20000
MAX_MARKED = 10  # outliers circled on the PCA plot
SPLIT_COLOURS = {"train": "C0", "validation": "C1", "test": "C2"}


def plot_class_counts(labels: Sequence[str], counts: dict[str, dict[str, int]], path: str | Path) -> Path:
    """Clips per class, one stacked horizontal bar per class split into train / validation / test."""
    labels = list(labels)
    fig = new_figure(7.8, max(2.5, 0.24 * len(labels) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    pos = np.arange(len(labels))[::-1]
    left = np.zeros(len(labels))
    for split, colour in SPLIT_COLOURS.items():
        values = np.array([counts.get(split, {}).get(name, 0) for name in labels], dtype=float)
        ax.barh(pos, values, left=left, color=colour, label=split)
        left += values
    ax.set_yticks(pos, labels=labels, fontsize=_font(len(labels)))
    ax.set_xlabel("clips")
    ax.set_title("clips per class and split")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)


def plot_histogram(
    values: np.ndarray, path: str | Path, *, xlabel: str, title: str, bins: int = 50, log_y: bool = False
) -> Path:
    """A histogram of one per-clip number (NaN left out)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    fig = new_figure(5.2, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    if len(values) and np.ptp(values) == 0:
        ax.bar([values[0]], [len(values)], width=max(abs(values[0]) * 0.02, 0.01), color="C0")
    elif len(values):
        ax.hist(values, bins=bins, color="C0", edgecolor="white", lw=0.3)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("clips")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_levels(peak_dbfs: np.ndarray, rms_dbfs: np.ndarray, path: str | Path, *, floor_db: float = -100.0) -> Path:
    """Peak and RMS level histograms (dBFS) on one axis; digital silence drawn at ``floor_db``."""
    fig = new_figure(5.2, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    peak, rms = np.maximum(peak_dbfs, floor_db), np.maximum(rms_dbfs, floor_db)
    edges = np.linspace(floor_db, 0.0, 61)
    ax.hist(rms, bins=edges, alpha=0.65, color="C0", label="RMS")
    ax.hist(peak, bins=edges, alpha=0.65, color="C3", label="peak")
    ax.set_xlabel("level (dBFS)")
    ax.set_ylabel("clips")
    ax.set_title("clip levels")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_sample_rates(rates: dict[int, int], pack_rate: int, path: str | Path) -> Path:
    """Clips per original sample rate (one bar per rate; the pack's rate marked)."""
    items = sorted(rates.items())
    fig = new_figure(5.2, 3.0)
    ax = fig.add_subplot(1, 1, 1)
    pos = np.arange(len(items))
    colours = ["C2" if r == pack_rate else "C0" for r, _ in items]
    ax.bar(pos, [n for _, n in items], color=colours)
    ax.set_xticks(pos, labels=[f"{r / 1000:g} kHz" for r, _ in items])
    ax.set_ylabel("clips")
    ax.set_title(f"original sample rates (pack: {pack_rate / 1000:g} kHz, green)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def plot_mean_spectra(freqs_hz: np.ndarray, spectra_db: np.ndarray, labels: Sequence[str], path: str | Path) -> Path:
    """Mean magnitude spectrum per class (dB): lines up to `MAX_LINES` classes, else an image."""
    labels = list(labels)
    if len(labels) <= MAX_LINES:
        fig = new_figure(7.0, 3.8)
        ax = fig.add_subplot(1, 1, 1)
        lines = [
            ax.plot(freqs_hz, spectra_db[k], lw=1.0, color=class_colour(k, len(labels)))[0] for k in range(len(labels))
        ]
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel("mean magnitude (dB)")
        ax.legend(lines, labels, fontsize=7, ncol=2)  # explicit labels: '_silence_' would be hidden otherwise
        ax.grid(alpha=0.3)
    else:
        fig = new_figure(8.0, max(3.0, 0.2 * len(labels) + 1.2))
        ax = fig.add_subplot(1, 1, 1)
        lo, hi = _db_range(spectra_db)
        image = ax.imshow(
            spectra_db,
            aspect="auto",
            cmap="magma",
            vmin=lo,
            vmax=hi,
            interpolation="nearest",
            extent=(freqs_hz[0], freqs_hz[-1], len(labels) - 0.5, -0.5),
        )
        fig.colorbar(image, ax=ax, label="dB")
        ax.set_yticks(np.arange(len(labels)), labels=labels, fontsize=_font(len(labels)))
        ax.set_xlabel("frequency (Hz)")
    ax.set_title("mean magnitude spectrum per class")
    return save_figure(fig, path)


def plot_class_spectrograms(
    spec_db: np.ndarray, labels: Sequence[str], freqs_hz: np.ndarray, seconds: float, path: str | Path, *, title: str
) -> Path:
    """A grid of mean dB spectrograms ``spec_db [C, bins, frames]``, one panel per class, one colour scale."""
    c = len(labels)
    cols = min(6, max(1, c))
    rows = -(-c // cols)
    fig = new_figure(2.3 * cols + 1.0, 1.9 * rows + 0.8)
    lo, hi = _db_range(spec_db)
    image = None
    for k, name in enumerate(labels):
        ax = fig.add_subplot(rows, cols, k + 1)
        image = ax.imshow(
            spec_db[k],
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=lo,
            vmax=hi,
            extent=(0, seconds, freqs_hz[0] / 1000, freqs_hz[-1] / 1000),
            interpolation="nearest",
        )
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=6)
        if k % cols == 0:
            ax.set_ylabel("kHz", fontsize=7)
        if k >= c - cols:
            ax.set_xlabel("s", fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if image is not None:
        fig.colorbar(image, ax=fig.axes, label="dB", shrink=0.8)
    return save_figure(fig, path, tight=False)


def plot_band_violins(
    values: np.ndarray,
    class_of: np.ndarray,
    labels: Sequence[str],
    bands_hz: Sequence[tuple[float, float]],
    path: str | Path,
) -> Path:
    """One panel per band: the distribution of band energy (dB) of each class's clips, as violins."""
    labels = list(labels)
    shown = [k for k in range(len(labels)) if (class_of == k).any()]
    fig = new_figure(max(6.0, 0.32 * len(shown) + 2.0), 2.6 * len(bands_hz) + 0.6)
    for b, (lo, hi) in enumerate(bands_hz):
        ax = fig.add_subplot(len(bands_hz), 1, b + 1)
        data = [values[class_of == k, b] for k in shown]
        many = [i for i, d in enumerate(data) if len(d) >= 2]
        if many:
            ax.violinplot([data[i] for i in many], positions=many, showmedians=True, widths=0.8)
        for i, d in enumerate(data):
            if len(d) == 1:
                ax.plot([i], d, "o", color="C0", ms=3)
        ax.set_xticks(
            np.arange(len(shown)),
            labels=[labels[k] for k in shown] if b == len(bands_hz) - 1 else [],
            rotation=90,
            fontsize=_font(len(shown)),
        )
        ax.set_xlim(-0.7, len(shown) - 0.3)
        ax.set_ylabel("dB")
        ax.set_title(f"band energy {lo:g}-{hi:g} Hz", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def plot_pca(
    coords: np.ndarray,
    class_of: np.ndarray,
    labels: Sequence[str],
    explained: np.ndarray,
    outliers: np.ndarray,
    path: str | Path,
    *,
    seed: int = 0,
) -> Path:
    """2-D PCA scatter of the clips coloured by class; the listed outliers circled and numbered."""
    fig = new_figure(7.0, 5.6)
    ax = fig.add_subplot(1, 1, 1)
    show = np.arange(len(coords))
    if len(show) > MAX_SCATTER_POINTS:
        show = np.sort(np.random.default_rng(seed).choice(len(coords), MAX_SCATTER_POINTS, replace=False))
    handles, names = [], []
    for k in np.unique(class_of[show]):
        rows = show[class_of[show] == k]
        handles.append(
            ax.scatter(
                coords[rows, 0],
                coords[rows, 1],
                s=6,
                alpha=0.6,
                color=class_colour(int(k), len(labels)) if k >= 0 else "grey",
            )
        )
        names.append(labels[k] if k >= 0 else "(no label)")
    for rank, i in enumerate(outliers[:MAX_MARKED], start=1):
        ax.scatter(coords[i, 0], coords[i, 1], s=70, facecolors="none", edgecolors="red", lw=1.2)
        ax.annotate(
            str(rank), (coords[i, 0], coords[i, 1]), xytext=(4, 4), textcoords="offset points", fontsize=7, color="red"
        )
    ev = list(explained) + [0.0, 0.0]
    ax.set_xlabel(f"PC 1 ({ev[0]:.0%} of variance)")
    ax.set_ylabel(f"PC 2 ({ev[1]:.0%} of variance)")
    ax.set_title(
        f"PCA of per-clip log-mel spectra (top {min(len(outliers), MAX_MARKED)} outliers circled, by rank)", fontsize=10
    )
    if len(labels) <= 20:
        ax.legend(handles, names, fontsize=7, markerscale=2, loc="best")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def class_colour(k: int, n: int):
    """Colour of class ``k`` of ``n``: tab10, or tab20 with its dark shades first (distinct neighbours)."""
    from matplotlib import colormaps

    if n <= 10:
        return colormaps["tab10"](k % 10)
    return colormaps["tab20"]((2 * k) % 20 + (k // 10) % 2)


def _db_range(x: np.ndarray) -> tuple[float, float]:
    finite = x[np.isfinite(x)]
    if not len(finite):
        return -120.0, 0.0
    hi = float(np.percentile(finite, 99.5))
    return max(float(np.percentile(finite, 1.0)), hi - 90.0), hi


def _font(n: int) -> float:
    return float(np.clip(220.0 / max(n, 1), 5.0, 9.0))
