"""Write a label view of a pack (`Pack.with_labels`) as a pack of its own.

The samples are not copied: ``audio.int16`` (and the noise bank) are hard-linked from the source
pack (copied when the two folders are on different file systems). Packs are read-only once
written and ``prepare`` replaces a pack by renaming a new folder into place, so a link never sees
its samples change. The new ``index.npz`` may hold extra arrays (e.g. the labels as given), which
`Pack.open` ignores; ``pack.json`` gets fresh counts, a checksum of its own and what the caller adds.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from wavetag.data.pack import EXCLUDED_SPLIT, Pack
from wavetag.data.pack_writer import AUDIO_FILE, NOISE_FILE, check_target, commit_pack
from wavetag.data.splits import SPLITS
from wavetag.errors import DataError

LINKED_FILES = (AUDIO_FILE, NOISE_FILE)
COPIED_FILES = ("noise.json", "rejected.csv")


def write_pack_copy(
    pack: Pack,
    out: str | Path,
    *,
    info: dict,
    index_extra: dict[str, np.ndarray] | None = None,
    csv_extra: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write ``pack`` (a view with its own labels) as a pack at ``out``; returns ``out``.

    ``info``: fields added to ``pack.json``; ``index_extra``: arrays [N] added to ``index.npz``;
    ``csv_extra``: columns [N] added to ``index.csv``. An older pack at ``out`` is replaced.
    """
    out = Path(out).expanduser().resolve()
    if out == pack.path.resolve():
        raise DataError(f"{out}: is the pack being relabelled; write the new pack to another folder (-o)")
    check_target(out)
    if (pack.index.split == EXCLUDED_SPLIT).any():
        raise DataError("the label view leaves clips out of every split; a pack on disk keeps every clip in a split")
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _link_samples(pack.path, tmp)
        _write_index(pack, tmp, index_extra or {})
        _write_index_csv(pack, tmp, csv_extra or {})
        (tmp / "labels.json").write_text(json.dumps(pack.labels, indent=1) + "\n")
        manifest = {**pack.info, **info, "checksum": _checksum(pack, info)}
        (tmp / "pack.json").write_text(json.dumps(manifest, indent=1) + "\n")
        commit_pack(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _link_samples(src: Path, dst: Path) -> None:
    for name in LINKED_FILES:
        if (src / name).is_file():
            try:
                os.link(src / name, dst / name)
            except OSError:  # another file system, or links not allowed
                shutil.copyfile(src / name, dst / name)
    for name in COPIED_FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)


def _write_index(pack: Pack, dst: Path, extra: dict[str, np.ndarray]) -> None:
    i = pack.index
    arrays = {
        "offset": i.offset,
        "length": i.length,
        "label": i.label,
        "split": i.split,
        "verified": i.verified,
        "group": i.group,
        "path": i.path,
        **{f"meta_{k}": v for k, v in i.meta.items()},
    }
    clash = sorted(set(arrays) & set(extra))
    if clash:
        raise DataError(f"index arrays {clash} are the pack's own; name the extra arrays otherwise")
    np.savez(dst / "index.npz", **arrays, **{k: np.asarray(v) for k, v in extra.items()})
    if pack.multi_label:
        np.save(dst / "labels.npy", i.labels)


def _write_index_csv(pack: Pack, dst: Path, extra: dict[str, np.ndarray]) -> None:
    i, labels, rate = pack.index, pack.labels, pack.sample_rate
    with open(dst / "index.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "path", "labels", "split", "group", "verified", "offset", "length", "seconds", *extra])
        for k in range(len(pack)):
            tags = np.flatnonzero(i.labels[k]) if pack.multi_label else ([i.label[k]] if i.label[k] >= 0 else [])
            w.writerow(
                [
                    k,
                    i.path[k],
                    ",".join(labels[t] for t in tags),
                    SPLITS[i.split[k]],
                    i.group[k],
                    int(i.verified[k]),
                    i.offset[k],
                    i.length[k],
                    f"{i.length[k] / rate:.3f}",
                    *(v[k] for v in extra.values()),
                ]
            )


def _checksum(pack: Pack, info: dict) -> str:
    """A checksum of the source pack's and the new labels (so embeddings made from one are not taken for the other)."""
    h = hashlib.sha256(str(pack.info.get("checksum")).encode())
    h.update(json.dumps(info, sort_keys=True, default=str).encode())
    for array in (pack.index.label, pack.index.verified, pack.index.split):
        h.update(np.ascontiguousarray(array).tobytes())
    if pack.multi_label:
        h.update(np.ascontiguousarray(pack.index.labels).tobytes())
    return "sha256:" + h.hexdigest()
