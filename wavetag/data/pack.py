"""Read a pack: `Pack.open(path)` gives the manifest, the index as numpy arrays and O(1) clips.

The samples stay on disk as an int16 memmap, shared by every reader (DataLoader workers, DDP
ranks, a server) through the page cache. A pack pickles without its samples and maps them again
where it is unpickled, so it can go to spawned worker processes cheaply.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wavetag.data.pack_writer import AUDIO_FILE, META_PREFIX, NOISE_FILE, PACK_FORMAT, PACK_FORMAT_VERSION, SAMPLE_DTYPE
from wavetag.data.splits import SPLIT_CODES, SPLITS
from wavetag.errors import DataError
from wavetag.jsonfile import read_json

INT16_SCALE = 32768.0
EXCLUDED_SPLIT = 255  # split code of the clips a label view leaves out of every split (`Pack.with_labels`)
REBUILD = "rebuild the pack with 'wavetag prepare ... --force'"


@dataclass(frozen=True)
class PackIndex:
    """One row per clip; every field is a numpy array of length N."""

    offset: np.ndarray  # int64 [N], first sample of the clip in audio.int16
    length: np.ndarray  # int64 [N], samples
    label: np.ndarray  # int32 [N], class id; -1 = none (multi-label packs use `labels`)
    labels: np.ndarray | None  # uint8 [N, C] multi-hot (multi-label packs), else None
    split: np.ndarray  # uint8 [N]: 0 train, 1 validation, 2 test
    group: np.ndarray  # str [N], speaker / recording ("" = none)
    path: np.ndarray  # str [N], source file relative to the source root
    verified: np.ndarray  # bool [N]
    meta: dict[str, np.ndarray] = field(default_factory=dict)  # key -> str [N] ("" = unknown): engine, voice, word

    def __len__(self) -> int:
        return len(self.offset)


class Pack:
    """A read-only pack directory (see `wavetag.data.pack_writer` for the files)."""

    def __init__(self, path: Path, manifest: dict, labels: list[str], index: PackIndex) -> None:
        self.path = Path(path)
        self.info = manifest
        self.labels = labels
        self.index = index
        self._audio: np.memmap | None = None

    @classmethod
    def open(cls, path: str | Path) -> Pack:
        """Open and check a pack written by ``wavetag prepare``."""
        path = Path(path).expanduser()
        manifest = _read_manifest(path)
        labels = read_json(path / "labels.json", error=DataError, advice=REBUILD, expect_object=False)
        with np.load(path / "index.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("offset", "length", "label", "split", "group", "path", "verified")}
            meta = {k[len(META_PREFIX) :]: z[k] for k in z.files if k.startswith(META_PREFIX)}
        multi = np.load(path / "labels.npy", allow_pickle=False) if manifest["multi_label"] else None
        pack = cls(path, manifest, labels, PackIndex(labels=multi, meta=meta, **arrays))
        pack._check()
        return pack

    # ------------------------------------------------------------ facts

    @property
    def sample_rate(self) -> int:
        return int(self.info["sample_rate"])

    @property
    def clip_seconds(self) -> float | None:
        return self.info["clip_seconds"]

    @property
    def multi_label(self) -> bool:
        return bool(self.info["multi_label"])

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        return (
            f"Pack({str(self.path)!r}, clips={len(self)}, classes={self.num_classes}, "
            f"sample_rate={self.sample_rate}, multi_label={self.multi_label})"
        )

    def counts(self) -> dict[str, dict[str, int]]:
        """Clips per split and class, as written in pack.json."""
        return self.info["counts"]

    # ------------------------------------------------------------ access

    @property
    def audio(self) -> np.memmap:
        """All samples, int16 ``[num_samples]`` (mapped on first use in each process)."""
        if self._audio is None:
            self._audio = np.memmap(self.path / AUDIO_FILE, dtype=SAMPLE_DTYPE, mode="r")
        return self._audio

    def split_indices(self, split: str) -> np.ndarray:
        """Clip indices (int64) of ``"train"``, ``"validation"``, ``"test"`` or ``"all"``."""
        if split == "all":
            return np.arange(len(self), dtype=np.int64)
        if split not in SPLIT_CODES:
            raise DataError(f"split {split!r}: expected one of {', '.join(SPLITS)} or 'all'")
        return np.flatnonzero(self.index.split == SPLIT_CODES[split]).astype(np.int64)

    def clip(self, i: int) -> np.ndarray:
        """The int16 samples ``[T]`` of clip ``i`` (a read-only view; no copy)."""
        start = int(self.index.offset[i])
        return self.audio[start : start + int(self.index.length[i])]

    def waveform(self, i: int) -> np.ndarray:
        """Clip ``i`` as float32 ``[T]`` in [-1, 1)."""
        return self.clip(i).astype(np.float32) / np.float32(INT16_SCALE)

    def targets(self, indices: np.ndarray) -> np.ndarray:
        """What a model learns for clips ``indices``: class ids int64 ``[N]`` (single-label) or
        multi-hot float32 ``[N, C]`` (multi-label). The one place a target is read from the index."""
        if self.multi_label:
            return self.index.labels[indices].astype(np.float32)
        return self.index.label[indices].astype(np.int64)

    def noise_bank(self) -> np.ndarray:
        """The background-noise recordings, concatenated: float32 ``[N_noise]`` (empty if none).

        `noise_files` gives where each recording starts and ends, to avoid windows that straddle two.
        """
        path = self.path / NOISE_FILE
        if not path.is_file() or path.stat().st_size == 0:
            return np.zeros(0, np.float32)
        return np.fromfile(path, dtype=SAMPLE_DTYPE).astype(np.float32) / np.float32(INT16_SCALE)

    def noise_files(self) -> list[dict]:
        """``[{"path", "offset", "length"}]`` of the recordings in `noise_bank` (samples)."""
        path = self.path / "noise.json"
        return read_json(path, error=DataError, advice=REBUILD)["files"] if path.is_file() else []

    # ------------------------------------------------------------ label views (issue 7)

    def with_labels(
        self,
        label: np.ndarray | None = None,
        *,
        labels: np.ndarray | None = None,
        verified: np.ndarray | None = None,
        include: np.ndarray | None = None,
    ) -> Pack:
        """An in-memory view of this pack with other labels; the samples are shared, nothing is written.

        ``label`` int [N] (class ids, -1 = none; single-label packs), ``labels`` multi-hot [N, C]
        (multi-label packs), ``verified`` bool [N]; ``None`` keeps the pack's own. ``include`` bool
        [N]: clips where it is False leave every split (their split code becomes
        `EXCLUDED_SPLIT`), so ``split_indices("train")`` and training skip them; ``"all"`` still
        lists every clip. ``counts()`` of the view describes the view.
        """
        n, index = len(self), self.index
        if label is not None:
            if self.multi_label:
                raise DataError(f"{self.path}: a multi-label pack takes labels= (multi-hot [N, C]), not label=")
            label = _view_array("label", label, (n,), np.int32)
            if label.size and (label.min() < -1 or label.max() >= self.num_classes):
                raise DataError(
                    f"label: values {label.min()}..{label.max()}; expected -1 (none) or 0..{self.num_classes - 1}"
                )
        if labels is not None:
            if not self.multi_label:
                raise DataError(f"{self.path}: a single-label pack takes label= (class ids [N]), not labels=")
            labels = _view_array("labels", labels, (n, self.num_classes), np.uint8)
        split = index.split
        if include is not None:
            split = np.where(_view_array("include", include, (n,), bool), index.split, EXCLUDED_SPLIT).astype(np.uint8)
        new = dataclasses.replace(
            index,
            label=index.label if label is None else label,
            labels=index.labels if labels is None else labels,
            verified=index.verified if verified is None else _view_array("verified", verified, (n,), bool),
            split=split,
        )
        info = {**self.info, "counts": _split_counts(new, self.labels)}
        view = Pack(self.path, info, self.labels, new)
        view._audio = self.audio  # one mapping of the samples for the pack and its views
        return view

    # ------------------------------------------------------------ pickling (workers)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_audio"] = None  # re-mapped lazily in the new process
        return state

    def _check(self) -> None:
        n, total = len(self.index), int(self.info["num_samples"])
        size = (self.path / AUDIO_FILE).stat().st_size
        if size != 2 * total:
            raise DataError(
                f"{self.path / AUDIO_FILE}: {size:,} bytes, expected {2 * total:,} (pack.json num_samples); "
                "the pack is truncated or was edited; rebuild it with 'wavetag prepare ... --force'"
            )
        if n != self.info["num_clips"] or (n and int(self.index.offset[-1] + self.index.length[-1]) != total):
            raise DataError(
                f"{self.path}: index.npz does not match pack.json; rebuild it with 'wavetag prepare ... --force'"
            )
        if self.index.labels is not None and self.index.labels.shape != (n, len(self.labels)):
            raise DataError(
                f"{self.path / 'labels.npy'}: shape {self.index.labels.shape}, expected ({n}, {len(self.labels)})"
            )


def _view_array(name: str, value, shape: tuple[int, ...], dtype) -> np.ndarray:
    array = np.asarray(value)
    if array.shape != shape:
        raise DataError(f"{name}: shape {array.shape}, expected {shape} (one row per clip of the pack)")
    return array.astype(dtype, copy=True)


def _split_counts(index: PackIndex, labels: list[str]) -> dict[str, dict[str, int]]:
    """Clips per split and class (a multi-label clip counts once per tag), as in pack.json."""
    hot = (
        index.labels.astype(bool)
        if index.labels is not None
        else index.label[:, None] == np.arange(len(labels))[None, :]
    )
    return {
        split: dict(zip(labels, hot[index.split == code].sum(axis=0).astype(int).tolist(), strict=False))
        for split, code in SPLIT_CODES.items()
    }


def _read_manifest(path: Path) -> dict:
    if not path.is_dir():
        raise DataError(f"{path}: pack not found; create it with 'wavetag prepare SRC -o {path}'")
    manifest_path = path / "pack.json"
    if not manifest_path.is_file():
        raise DataError(f"{path}: not a wavetag pack (no pack.json); create one with 'wavetag prepare SRC -o {path}'")
    manifest = read_json(manifest_path, error=DataError, advice=REBUILD)
    if manifest.get("format") != PACK_FORMAT or manifest.get("format_version") != PACK_FORMAT_VERSION:
        raise DataError(
            f"{manifest_path}: pack format {manifest.get('format')!r} version {manifest.get('format_version')!r}, "
            f"expected {PACK_FORMAT!r} version {PACK_FORMAT_VERSION}; rebuild it with this wavetag's 'prepare --force'"
        )
    for name in (AUDIO_FILE, "index.npz", "labels.json") + (("labels.npy",) if manifest.get("multi_label") else ()):
        if not (path / name).is_file():
            raise DataError(f"{path / name}: missing from the pack; rebuild it with 'wavetag prepare ... --force'")
    return manifest
