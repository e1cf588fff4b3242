"""What relabelling and pseudo-labelling share: which clips are seeds and which are candidates.

- **seeds**: clips of the split whose label was checked by a person (``verified``) and that have one;
- **candidates**: clips of the split that are unverified or have no label (label -1) — the ones
  label spreading and pseudo-labelling may give a new label.
"""
from __future__ import annotations

import numpy as np

from wavetag.data.pack import Pack
from wavetag.errors import ConfigError, DataError


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
