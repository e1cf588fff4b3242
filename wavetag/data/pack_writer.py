"""Write a pack directory: samples streamed into ``audio.int16``, then the index and the manifests.

Layout (all little-endian; nothing is pickled)::

    audio.int16    every clip's samples, concatenated (read back as a memmap)
    index.npz      offset, length (samples), label (int32, -1 = none), split (uint8: 0 train,
                   1 validation, 2 test), verified (bool), group and path (unicode), and one
                   ``meta_<key>`` (unicode, "" = unknown) per extra fact a source knows of its
                   clips: ``word`` (speech-commands folder), ``engine`` and ``voice`` (synthetic sets)
    labels.npy     multi-hot uint8 [N, C] (multi-label packs only)
    index.csv      the same index for people and spreadsheets
    labels.json    the class names, in class-id order
    pack.json      sample rate, options, counts, checksum of the source listing, versions
    rejected.csv   path,row,reason,detail of every file left out
    noise.int16 + noise.json   the background-noise bank, when there is one

The writer works in a temporary folder beside the target; `commit_pack` swaps it into place
atomically, so a pack is either the old one, the new one, or absent, never half-written.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import shutil
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from wavetag.data.clips import ClipRef, Rejected
from wavetag.data.splits import SPLIT_CODES, SPLITS
from wavetag.errors import DataError

PACK_FORMAT = "wavetag-pack"
PACK_FORMAT_VERSION = 1
AUDIO_FILE = "audio.int16"
META_PREFIX = "meta_"  # index.npz arrays of extra per-clip facts (meta_engine, meta_voice, meta_word)
NOISE_FILE = "noise.int16"
SAMPLE_DTYPE = np.dtype("<i2")


class PackWriter:
    """Append clips (int16 ``[T]``) and refusals; `finish` writes the index and manifests."""

    def __init__(self, directory: Path, *, labels: list[str], multi_label: bool) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True)
        self.labels = list(labels)
        self.label_ids = {name: i for i, name in enumerate(self.labels)}
        self.multi_label = multi_label
        self._audio = open(self.directory / AUDIO_FILE, "wb")
        self._crc = 0
        self.num_samples = 0
        self.offset: list[int] = []
        self.length: list[int] = []
        self.tags: list[tuple[int, ...]] = []
        self.split: list[int] = []
        self.group: list[str] = []
        self.path: list[str] = []
        self.verified: list[bool] = []
        self.meta: list[dict[str, str]] = []
        self.rejected: list[Rejected] = []
        self.resampled: Counter[int] = Counter()

    def add(self, ref: ClipRef, samples: np.ndarray, orig_rate: int, sample_rate: int) -> None:
        data = np.ascontiguousarray(samples, dtype=SAMPLE_DTYPE)
        self._audio.write(memoryview(data).cast("B"))
        self._crc = zlib.crc32(memoryview(data).cast("B"), self._crc)
        self.offset.append(self.num_samples)
        self.length.append(len(data))
        self.num_samples += len(data)
        self.tags.append(tuple(self.label_ids[name] for name in ref.labels))
        self.split.append(SPLIT_CODES[ref.split or "train"])
        self.group.append(ref.group)
        self.path.append(ref.rel_path)
        self.verified.append(ref.verified)
        self.meta.append(dict(ref.meta))
        if orig_rate != sample_rate:
            self.resampled[orig_rate] += 1

    def reject(self, rejected: Rejected) -> None:
        self.rejected.append(rejected)

    @property
    def num_clips(self) -> int:
        return len(self.offset)

    def write_noise(self, pieces: list[tuple[str, np.ndarray]]) -> dict:
        """Store the noise bank: ``pieces`` of (name, int16 [T]) concatenated, plus ``noise.json``."""
        files, offset = [], 0
        with open(self.directory / NOISE_FILE, "wb") as f:
            for name, samples in pieces:
                data = np.ascontiguousarray(samples, dtype=SAMPLE_DTYPE)
                f.write(memoryview(data).cast("B"))
                files.append({"path": name, "offset": offset, "length": len(data)})
                offset += len(data)
        (self.directory / "noise.json").write_text(json.dumps({"files": files, "num_samples": offset}, indent=1))
        return {"files": len(files), "num_samples": offset}

    def counts(self) -> dict[str, dict[str, int]]:
        """Clips per split and class (a multi-label clip counts once for each of its tags)."""
        out = {split: {name: 0 for name in self.labels} for split in SPLITS}
        for tags, split in zip(self.tags, self.split, strict=False):
            for t in tags:
                out[SPLITS[split]][self.labels[t]] += 1
        return out

    def drop_empty_labels(self) -> list[str]:
        """Remove classes no kept clip has (all their files were rejected); returns their names."""
        used = sorted({t for tags in self.tags for t in tags})
        empty = [name for i, name in enumerate(self.labels) if i not in set(used)]
        if empty:
            remap = {old: new for new, old in enumerate(used)}
            self.tags = [tuple(remap[t] for t in tags) for tags in self.tags]
            self.labels = [self.labels[i] for i in used]
            self.label_ids = {name: i for i, name in enumerate(self.labels)}
        return empty

    def finish(self, meta: dict) -> dict:
        """Close the audio, write index/labels/rejected/pack.json; returns the pack.json dict."""
        self._audio.close()
        n, c = self.num_clips, len(self.labels)
        label = np.array([tags[0] if len(tags) == 1 and not self.multi_label else -1 for tags in self.tags], np.int32)
        arrays = {
            "offset": np.array(self.offset, np.int64),
            "length": np.array(self.length, np.int64),
            "label": label.reshape(n),
            "split": np.array(self.split, np.uint8).reshape(n),
            "verified": np.array(self.verified, bool).reshape(n),
            "group": np.array(self.group, dtype=str).reshape(n),
            "path": np.array(self.path, dtype=str).reshape(n),
        }
        for key in self.meta_keys:
            arrays[META_PREFIX + key] = np.array([m.get(key, "") for m in self.meta], dtype=str).reshape(n)
        np.savez(self.directory / "index.npz", **arrays)
        if self.multi_label:
            hot = np.zeros((n, c), np.uint8)
            for i, tags in enumerate(self.tags):
                hot[i, list(tags)] = 1
            np.save(self.directory / "labels.npy", hot)
        self._write_index_csv(meta["sample_rate"])
        self._write_rejected()
        (self.directory / "labels.json").write_text(json.dumps(self.labels, indent=1) + "\n")
        manifest = dict(meta)
        manifest.update(
            format=PACK_FORMAT,
            format_version=PACK_FORMAT_VERSION,
            dtype="int16",
            byte_order="little",
            labels=self.labels,
            multi_label=self.multi_label,
            num_clips=n,
            num_samples=self.num_samples,
            total_seconds=self.num_samples / meta["sample_rate"],
            counts=self.counts(),
            rejected={"count": len(self.rejected), "reasons": dict(Counter(r.reason for r in self.rejected))},
            resampled={str(rate): k for rate, k in sorted(self.resampled.items())},
            audio_crc32=f"{self._crc:08x}",
        )
        (self.directory / "pack.json").write_text(json.dumps(manifest, indent=1) + "\n")
        return manifest

    @property
    def meta_keys(self) -> list[str]:
        """Names of the extra per-clip columns (``engine``, ``voice``, ``word`` ...), sorted."""
        return sorted({k for m in self.meta for k in m})

    def abort(self) -> None:
        """Close and delete the temporary folder (after an error or Ctrl-C)."""
        if not self._audio.closed:
            self._audio.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _write_index_csv(self, sample_rate: int) -> None:
        with open(self.directory / "index.csv", "w", newline="", encoding="utf-8", errors="backslashreplace") as f:
            w = csv.writer(f)
            keys = self.meta_keys
            w.writerow(["index", "path", "labels", "split", "group", "verified", "offset", "length", "seconds", *keys])
            for i in range(self.num_clips):
                names = ",".join(self.labels[t] for t in self.tags[i])
                w.writerow(
                    [
                        i,
                        self.path[i],
                        names,
                        SPLITS[self.split[i]],
                        self.group[i],
                        int(self.verified[i]),
                        self.offset[i],
                        self.length[i],
                        f"{self.length[i] / sample_rate:.3f}",
                        *(self.meta[i].get(k, "") for k in keys),
                    ]
                )

    def _write_rejected(self) -> None:
        with open(self.directory / "rejected.csv", "w", newline="", encoding="utf-8", errors="backslashreplace") as f:
            w = csv.writer(f)
            w.writerow(["path", "row", "reason", "detail"])
            for r in self.rejected:
                w.writerow([r.path, "" if r.row is None else r.row, r.reason, r.detail])


def check_target(out: Path) -> None:
    """Refuse to replace anything at ``out`` that is not a pack (or an empty folder)."""
    if out.is_file():
        raise DataError(f"{out}: is a file; give -o a folder for the pack")
    if out.is_dir() and not (out / "pack.json").is_file() and any(out.iterdir()):
        raise DataError(f"{out}: exists and is not a wavetag pack (no pack.json); choose another -o or empty it")


def commit_pack(tmp: Path, out: Path) -> None:
    """Move the finished ``tmp`` folder to ``out``, replacing an older pack there."""
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def remove_stale_temporaries(out: Path) -> list[Path]:
    """Delete the ``.<name>.partial-<pid>`` / ``.<name>.old-<pid>`` folders beside ``out`` that a
    killed `prepare` left (its process is gone); a live process's folders are left alone."""
    removed = []
    for path in sorted(out.parent.glob(f".{glob.escape(out.name)}.*-*")):
        kind, _, pid = path.name[len(out.name) + 2 :].rpartition("-")
        if kind in ("partial", "old") and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
