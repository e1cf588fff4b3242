"""PNG plots of the noisy-label tools: t-SNE of embeddings before/after relabelling, and
autoencoder reconstructions next to their originals.

Each function draws on its own Agg ``Figure`` (no pyplot, no global backend), writes ``path``
and returns it; matplotlib and scikit-learn are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DPI = 110
TSNE_MAX_POINTS = 2000
UNCERTAIN_COLOUR = "#9e9e9e"


def _figure(width_in: float, height_in: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def tsne_2d(embeddings: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """t-SNE of ``embeddings [n, D]`` → ``[n, 2]`` (PCA start, seeded; perplexity fitted to small n)."""
    from sklearn.manifold import TSNE

    n = len(embeddings)
    if n < 4:
        return np.zeros((n, 2))
    perplexity = float(min(30.0, max(2.0, (n - 1) / 3.0)))
    return TSNE(
        n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed
    ).fit_transform(np.asarray(embeddings, dtype=np.float32))


def plot_relabel_tsne(
    embeddings: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    status: Sequence[str],
    labels: Sequence[str],
    path: str | Path,
    *,
    seed: int = 0,
    max_points: int = TSNE_MAX_POINTS,
) -> Path:
    """Two panels on one t-SNE map of ``embeddings [n, D]``: coloured by the labels as given
    (``before``; verified clips filled, unverified hollow) and after relabelling (``after``;
    changed clips ringed in black, uncertain ones grey). At most ``max_points`` clips, a seeded sample."""
    rng = np.random.default_rng(seed)
    keep = (
        np.sort(rng.choice(len(embeddings), max_points, replace=False))
        if len(embeddings) > max_points
        else np.arange(len(embeddings))
    )
    xy = tsne_2d(embeddings[keep], seed=seed)
    status = np.asarray(status)[keep]
    before, after = np.asarray(before)[keep], np.asarray(after)[keep]
    colours = _colours(len(labels))
    fig = _figure(12.0, 5.6)
    for k, (title, lab) in enumerate((("labels as given", before), ("after label spreading", after)), start=1):
        ax = fig.add_subplot(1, 2, k)
        for c, name in enumerate(labels):
            sel = lab == c
            seeds = sel & (status == "verified")
            ax.scatter(xy[seeds, 0], xy[seeds, 1], s=14, color=colours[c], label=name)
            rest = sel & (status != "verified") & ~((status == "uncertain") & (k == 2))
            edge = ["black" if s == "changed" else colours[c] for s in status[rest]] if k == 2 else colours[c]
            face = colours[c] if k == 2 else "none"
            ax.scatter(xy[rest, 0], xy[rest, 1], s=14, facecolors=face, edgecolors=edge, linewidths=0.8)
        if k == 2:
            unsure = status == "uncertain"
            ax.scatter(xy[unsure, 0], xy[unsure, 1], s=14, color=UNCERTAIN_COLOUR, label="uncertain")
        ax.set_title(f"{title} ({len(keep)} clips)")
        ax.set_xticks([])
        ax.set_yticks([])
        if len(labels) <= 20:
            ax.legend(fontsize=7, markerscale=1.2, loc="best")
    return _save(fig, path)


def plot_reconstructions(
    originals: np.ndarray, reconstructions: np.ndarray, path: str | Path, *, names: Sequence[str] | None = None
) -> Path:
    """Feature images ``[n, F, T]`` (bands × frames) side by side with their reconstructions."""
    n = len(originals)
    fig = _figure(7.0, 1.8 * n + 0.4)
    lo, hi = np.percentile(originals, [1, 99])
    for row in range(n):
        for col, (image, title) in enumerate(((originals[row], "original"), (reconstructions[row], "reconstruction"))):
            ax = fig.add_subplot(n, 2, 2 * row + col + 1)
            ax.imshow(image, origin="lower", aspect="auto", vmin=lo, vmax=hi, cmap="magma", interpolation="nearest")
            name = f"{names[row]}: " if names is not None else ""
            ax.set_title(f"{name}{title}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    return _save(fig, path)


def _colours(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]
