"""Speaker / group leakage: groups whose clips are in more than one split.

A model evaluated on a speaker it was trained on scores better than it will on new speakers, so
a group (the pack's ``group`` column: the ``<speaker>_nohash_`` prefix, or a speaker/group CSV
column) must sit in one split only. Clips without a group cannot be checked. ``_silence_`` clips
that ``prepare`` cut from the background-noise recordings (group ``noise:<file>``) are left out:
the Speech Commands recipe cuts every split's silence from the same few recordings on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wavetag.data.splits import SPLITS

NOISE_GROUP_PREFIX = "noise:"


@dataclass(frozen=True)
class Leak:
    """A group found in several splits, with its clips per split."""

    group: str
    clips: dict[str, int]  # split -> clips (only splits that hold the group)
    labels: list[str] = field(default_factory=list)  # labels of its clips, most common first

    @property
    def total(self) -> int:
        return sum(self.clips.values())

    def to_dict(self) -> dict:
        return {"group": self.group, "clips": dict(self.clips), "total": self.total, "labels": list(self.labels)}


@dataclass
class LeakCheck:
    """The leaks found and what the check could see."""

    leaks: list[Leak]
    groups: int  # groups checked
    clips_without_group: int
    noise_clips: int  # silence clips cut from the noise bank (not checked)

    def to_dict(self) -> dict:
        return {
            "leaks": [leak.to_dict() for leak in self.leaks],
            "groups": self.groups,
            "clips_without_group": self.clips_without_group,
            "noise_clips": self.noise_clips,
        }


def find_leaks(group: np.ndarray, split: np.ndarray, label_names: np.ndarray | None = None) -> LeakCheck:
    """Groups of ``group [N]`` (str) that occur in more than one value of ``split [N]`` (0/1/2).

    ``label_names [N]`` (str), when given, lists the labels of each leaking group's clips.
    Leaks come most clips first.
    """
    group = np.asarray(group).astype(str)
    noise = np.char.startswith(group, NOISE_GROUP_PREFIX)
    checked = np.flatnonzero((group != "") & ~noise)
    names, inverse = np.unique(group[checked], return_inverse=True)
    counts = np.zeros((len(names), len(SPLITS)), np.int64)
    np.add.at(counts, (inverse, np.asarray(split)[checked].astype(np.int64)), 1)
    leaking = np.flatnonzero((counts > 0).sum(axis=1) > 1)
    leaks = []
    for g in leaking[np.argsort(-counts[leaking].sum(axis=1), kind="stable")]:
        per_split = {SPLITS[s]: int(counts[g, s]) for s in range(len(SPLITS)) if counts[g, s]}
        labels = []
        if label_names is not None:
            values, n = np.unique(np.asarray(label_names)[checked[inverse == g]], return_counts=True)
            labels = [str(v) for v in values[np.argsort(-n, kind="stable")]]
        leaks.append(Leak(str(names[g]), per_split, labels))
    return LeakCheck(leaks, len(names), int((group == "").sum()), int(noise.sum()))
