"""Split rules: given lists, the Speech Commands speaker hash, a group column, stratified random.

Every rule maps clips to one of `SPLITS` ("train", "validation", "test"). Speech Commands names
its sets "training"/"validation"/"testing"; `which_set` keeps those names (it is the dataset's
own rule) and `SC_TO_PACK` maps them to the pack's names.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import PurePath

import numpy as np

from wavetag.errors import ConfigError

SPLITS = ("train", "validation", "test")
SPLIT_CODES = {name: code for code, name in enumerate(SPLITS)}  # stored as uint8 in the pack
SC_TO_PACK = {"training": "train", "validation": "validation", "testing": "test"}

# TF speech_commands/input_data.py: ~134M files at most; the hash is taken modulo this.
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1

# Aliases users write for split names (folder layouts, CSV "split" columns).
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
    "testing": "test",
    "eval": "test",
}


def speaker_of(filename: str) -> str:
    """The speaker/group part of a Speech Commands name: ``"yes/0a7c2a8d_nohash_1.wav"`` -> ``"0a7c2a8d"``.

    Names without ``_nohash_`` give their stem, so every file is its own group.
    """
    base = PurePath(filename).name
    return re.sub(r"_nohash_.*$", "", base) if "_nohash_" in base else PurePath(base).stem


def which_set(filename: str, validation_percentage: float = 10.0, testing_percentage: float = 10.0) -> str:
    """The Speech Commands rule: ``"training"``, ``"validation"`` or ``"testing"`` for ``filename``.

    The SHA-1 of the part of the base name before ``_nohash_`` picks the set, so all clips of a
    speaker land in the same set, and the set of a file never changes as files are added
    (TensorFlow ``examples/speech_commands/input_data.py``).
    """
    base = PurePath(filename).name
    hash_name = re.sub(r"_nohash_.*$", "", base)
    hashed = hashlib.sha1(hash_name.encode("utf-8")).hexdigest()
    percentage = (int(hashed, 16) % (MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / MAX_NUM_WAVS_PER_CLASS)
    if percentage < validation_percentage:
        return "validation"
    if percentage < validation_percentage + testing_percentage:
        return "testing"
    return "training"


def normalise_split_name(value: str, *, where: str) -> str:
    """``"Training"`` -> ``"train"``; a `ConfigError` naming ``where`` for anything unknown."""
    name = SPLIT_ALIASES.get(str(value).strip().lower())
    if name is None:
        raise ConfigError(f"{where}: unknown split {value!r} (expected one of {', '.join(sorted(SPLIT_ALIASES))})")
    return name


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validate ``(train, validation, test)`` fractions: three numbers >= 0 that sum to 1."""
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3 or any(f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise ConfigError(
            f"fractions = {fractions!r}: expected three numbers >= 0 for train, validation, test "
            "that sum to 1, e.g. 0.8,0.1,0.1"
        )
    return fr  # type: ignore[return-value]


def hash_splits(names: Sequence[str], fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> list[str]:
    """Pack split names by the Speech Commands speaker hash, with ``fractions`` as percentages."""
    _, val, test = check_fractions(fractions)
    return [SC_TO_PACK[which_set(n, 100.0 * val, 100.0 * test)] for n in names]


def stratified_splits(
    strata: Sequence[str], fractions: Sequence[float] = (0.8, 0.1, 0.1), *, seed: int = 0
) -> list[str]:
    """Random split that keeps each stratum's (label's) share in every split.

    Within each stratum the clips are shuffled with ``seed``; ``round(n * f_val)`` go to
    validation, ``round(n * f_test)`` to test, the rest to train.
    """
    _, f_val, f_test = check_fractions(fractions)
    rng = np.random.default_rng(seed)
    out = ["train"] * len(strata)
    by_stratum: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(strata):
        by_stratum[s].append(i)
    for key in sorted(by_stratum):
        members = np.array(by_stratum[key])[rng.permutation(len(by_stratum[key]))]
        n_val, n_test = int(round(len(members) * f_val)), int(round(len(members) * f_test))
        for i in members[:n_val]:
            out[i] = "validation"
        for i in members[n_val : n_val + n_test]:
            out[i] = "test"
    return out


def group_splits(groups: Sequence[str], fractions: Sequence[float] = (0.8, 0.1, 0.1), *, seed: int = 0) -> list[str]:
    """Split whole groups (speakers, recordings): no group appears in two splits.

    Groups are shuffled with ``seed`` and cut where the running clip count passes the
    validation and validation + test fractions. Clips with an empty group are each their own group.
    """
    _, f_val, f_test = check_fractions(fractions)
    keys = [g if g else f"\0{i}" for i, g in enumerate(groups)]
    sizes: dict[str, int] = defaultdict(int)
    for k in keys:
        sizes[k] += 1
    order = sorted(sizes)
    order = [order[i] for i in np.random.default_rng(seed).permutation(len(order))]
    total, running, assigned = len(keys), 0, {}
    for k in order:
        position = running / max(total, 1)
        assigned[k] = "validation" if position < f_val else "test" if position < f_val + f_test else "train"
        running += sizes[k]
    return [assigned[k] for k in keys]
