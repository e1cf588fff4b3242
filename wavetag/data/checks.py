"""Checks `prepare` runs on the classes of a pack: refusals before anything is written, and
warnings where training or the report would quietly give a wrong answer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from wavetag.errors import DataError

EVAL_SPLITS = ("validation", "test")


def check_two_classes(
    root: Path, labels: Sequence[str], clips_per_label: Counter | dict | None = None, *, multi_label: bool = False
) -> None:
    """Refuse a pack with fewer than two classes, saying which task would fit instead.

    A classifier needs two classes at least; a single class is a detector's job (binary task:
    that class against everything else), which needs clips of "everything else" too."""
    if len(labels) >= 2:
        return
    if not labels:
        raise DataError(f"{root}: no class found; expected at least two classes (one folder or label each)")
    name = labels[0]
    count = f", {clips_per_label[name]:,} clips" if clips_per_label and name in clips_per_label else ""
    tags = "tag" if multi_label else "class"
    raise DataError(
        f"{root}: only one {tags} ({name!r}{count}); a classifier needs at least two. For a detector of {name!r} "
        f"(the binary task: {name!r} against everything else), add clips that are not {name!r} as a second class, "
        f"e.g. a folder {root / ('not_' + name)} (or _background_) of other sounds, then prepare again"
    )


def split_warnings(counts: dict[str, dict[str, int]], fractions: Sequence[float] | None = None) -> list[str]:
    """One line per class that has no clip in a validation or test split others use.

    ``counts``: ``{split: {class: clips}}`` (`PackWriter.counts`). Such a class is trained on but
    never measured: its accuracy in the report is undefined, and best/ is picked without it."""
    in_use = [s for s in EVAL_SPLITS if sum(counts.get(s, {}).values()) > 0]
    labels = list(counts.get("train", {}))
    out = []
    for label in labels:
        missing = [s for s in in_use if counts[s].get(label, 0) == 0]
        if not missing:
            continue
        total = sum(counts[s].get(label, 0) for s in counts)
        need = ""
        if fractions and min(fractions[1:] or [1.0]) > 0:
            need = (
                f"; with fractions {','.join(f'{f:g}' for f in fractions)} a class needs about "
                f"{max(3, round(1 / min(fractions[1:])))} clips to reach every split"
            )
        out.append(
            f"class {label!r} has {total} clip{'s' if total != 1 else ''} and none in {' or '.join(missing)}, "
            f"so it is never measured there{need}; add clips of {label!r} or merge it into another class"
        )
    return out
