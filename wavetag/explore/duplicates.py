"""Exact and near-duplicate clips, and the ones that cross splits (leakage).

- Exact: the same int16 samples (BLAKE2b of the bytes; equal lengths by construction).
- Near: cosine similarity >= ``threshold`` between the clips' summary vectors (`stats.ClipStats
  .summary`: mel dB in eight time segments, centred, unit length; a gain change or a little
  added noise leaves it almost unchanged). The search is exact yet far below N^2 x D work: every
  vector is projected on its first `PROJECTION_DIMS` principal axes, a projection can only bring
  points closer, so all pairs within the cosine radius are among the pairs within the same radius
  in the projection; those candidates are found blockwise with one matrix product per block and
  then checked on the full vectors. Sorting on the first axis limits each block to the rows
  whose first coordinate lies within the radius. At most `MAX_NEIGHBOURS` near duplicates are
  kept per clip.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import asdict, dataclass

import numpy as np

from wavetag.data.splits import SPLITS

PROJECTION_DIMS = 24
BLOCK_ROWS = 512  # rows of the sorted projection compared with their window at once
MAX_NEIGHBOURS = 10  # near duplicates kept per clip (the most similar)


@dataclass(frozen=True)
class DuplicatePair:
    """Two clips that are the same (``kind="exact"``) or nearly (``"near"``, with the similarity)."""

    kind: str
    a: int  # clip ids in the pack, a < b
    b: int
    path_a: str
    path_b: str
    label_a: str
    label_b: str
    split_a: str
    split_b: str
    similarity: float  # cosine similarity of the summary vectors (1.0 for exact duplicates)

    @property
    def cross_split(self) -> bool:
        """The two copies are in different splits: the model is tested on what it trained on."""
        return self.split_a != self.split_b

    def to_dict(self) -> dict:
        return {**asdict(self), "cross_split": self.cross_split}


def exact_duplicates(pack, indices: np.ndarray) -> list[tuple[int, int]]:
    """Pairs ``(first, other)`` of clips with identical samples: each copy paired with the first one."""
    audio, offset, length = pack.audio, pack.index.offset, pack.index.length
    groups: dict[bytes, list[int]] = defaultdict(list)
    for i in np.asarray(indices).tolist():
        o = int(offset[i])
        digest = hashlib.blake2b(memoryview(audio[o : o + int(length[i])]).cast("B"), digest_size=16).digest()
        groups[digest].append(i)
    return [(g[0], other) for g in groups.values() if len(g) > 1 for other in g[1:]]


def near_duplicates(
    summary: np.ndarray, threshold: float, *, skip: np.ndarray | None = None, max_neighbours: int = MAX_NEIGHBOURS
) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, cosine)`` (positions in ``summary`` ``[N, D]`` of unit rows, i < j) with cosine >= ``threshold``.

    ``skip [N]`` bool: rows left out of the search.
    """
    keep = np.flatnonzero(~skip) if skip is not None else np.arange(len(summary))
    if len(keep) < 2:
        return []
    x = summary[keep].astype(np.float32)
    radius = float(np.sqrt(2.0 * (1.0 - threshold))) + 1e-3  # |u - v|^2 = 2 (1 - cos) for unit vectors
    p = _project(x)
    order = np.argsort(p[:, 0], kind="stable")  # a pair within the radius is within it on axis 0 too
    p, first_axis = p[order], p[order, 0]
    sq = np.einsum("ij,ij->i", p, p)
    found: list[tuple[int, int, float]] = []
    for start in range(0, len(p), BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, len(p))
        end = int(np.searchsorted(first_axis, first_axis[stop - 1] + radius, side="right"))
        d2 = sq[start:stop, None] + sq[None, start:end] - 2.0 * (p[start:stop] @ p[start:end].T)
        r, c = np.nonzero(d2 <= radius * radius)
        upper = c > r
        i, j = order[r[upper] + start], order[c[upper] + start]
        if len(i):
            cos = np.einsum("ij,ij->i", x[i], x[j])
            ok = cos >= threshold
            found += (
                (min(a, b), max(a, b), sim)
                for a, b, sim in zip(keep[i[ok]].tolist(), keep[j[ok]].tolist(), cos[ok].tolist(), strict=False)
            )
    return _limit(found, max_neighbours)


def _project(x: np.ndarray) -> np.ndarray:
    """``x`` centred and projected on its first `PROJECTION_DIMS` principal axes (distances only shrink)."""
    if x.shape[1] <= PROJECTION_DIMS:
        return x
    centred = x - x.mean(axis=0)
    sample = centred[np.random.default_rng(0).permutation(len(x))[:20000]]
    _, _, vt = np.linalg.svd(sample, full_matrices=False)
    return (centred @ vt[:PROJECTION_DIMS].T).astype(np.float32)


def _limit(pairs: list[tuple[int, int, float]], k: int) -> list[tuple[int, int, float]]:
    """Keep, for every clip, its ``k`` most similar partners (a pair stays if either end keeps it)."""
    pairs.sort(key=lambda t: -t[2])
    taken: dict[int, int] = defaultdict(int)
    out = []
    for i, j, cos in pairs:
        if taken[i] < k or taken[j] < k:
            out.append((i, j, cos))
            taken[i] += 1
            taken[j] += 1
    return out


def describe(pack, pairs, kind: str) -> list[DuplicatePair]:
    """`DuplicatePair` records (files, labels, splits) for ``(a, b[, similarity])`` pack clip ids."""
    index = pack.index
    out = []
    for pair in pairs:
        a, b = sorted((int(pair[0]), int(pair[1])))
        similarity = float(pair[2]) if len(pair) > 2 else 1.0
        out.append(
            DuplicatePair(
                kind,
                a,
                b,
                str(index.path[a]),
                str(index.path[b]),
                clip_label(pack, a),
                clip_label(pack, b),
                SPLITS[index.split[a]],
                SPLITS[index.split[b]],
                round(similarity, 6),
            )
        )
    return ordered(out)


def ordered(pairs: list[DuplicatePair]) -> list[DuplicatePair]:
    """Cross-split pairs first, then exact before near, most similar first."""
    return sorted(pairs, key=lambda d: (not d.cross_split, d.kind != "exact", -d.similarity, d.a, d.b))


def clip_label(pack, i: int) -> str:
    """The clip's label (multi-label: its tags joined with ``;``)."""
    if pack.index.labels is not None:
        return ";".join(pack.labels[k] for k in np.flatnonzero(pack.index.labels[i]))
    label = int(pack.index.label[i])
    return pack.labels[label] if label >= 0 else ""


def clip_labels(pack) -> np.ndarray:
    """The label of every clip as a string ``[N]`` (multi-label: tags joined with ``;``)."""
    if pack.index.labels is None:
        names = np.array(list(pack.labels) + [""], dtype=str)
        return names[np.where(pack.index.label >= 0, pack.index.label, len(pack.labels))]
    return np.array([clip_label(pack, i) for i in range(len(pack))], dtype=str)
