"""Batches from a pack: `make_batch` crops/pads on the batch; `epoch_order` picks the clips.

Training (`wavetag.train.loop.Trainer`) uses no DataLoader::

    epoch_order(pack, train indices, seed, epoch, balanced) --pack indices, one slice per step-->
      make_batch (crop seeded by (seed, epoch, step))
      --> Batch(wav [B, 1, T] float32, target [B] int64 | [B, C] float32, index [B], length [B])

For other uses, `PackDataset.loader` wires the same pieces into a `torch.utils.data.DataLoader`
whose workers build whole batches (no per-clip collate): a `ShuffledBatchSampler` or a
`ClassBalancedSampler` (the loop's `balanced_draws`) gives positions, ``__getitems__`` the batch.
`fit_normalization` fits a front end's dataset statistics on such batches. Randomness comes from
explicit seeds, so a run can be repeated.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from wavetag.config import check_choice
from wavetag.data.pack import INT16_SCALE, Pack
from wavetag.errors import ConfigError, DataError

CROPS = ("random", "center", "start")


@dataclass
class Batch:
    """A batch of clips, cropped or zero-padded to one length ``T``."""

    wav: torch.Tensor  # float32 [B, 1, T], int16 / 32768
    target: torch.Tensor  # int64 [B] (class ids) or float32 [B, C] (multi-hot, multi-label packs)
    index: torch.Tensor  # int64 [B], clip index in the pack
    length: torch.Tensor  # int64 [B], valid samples before zero padding (<= T)

    def __len__(self) -> int:
        return self.wav.shape[0]

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> Batch:
        return Batch(
            *(t.to(device, non_blocking=non_blocking) for t in (self.wav, self.target, self.index, self.length))
        )

    def pin_memory(self) -> Batch:
        """Called by a DataLoader with ``pin_memory=True``."""
        return Batch(*(t.pin_memory() for t in (self.wav, self.target, self.index, self.length)))


Generator = np.random.Generator | torch.Generator | int | None


def make_batch(
    pack: Pack,
    indices: Sequence[int] | np.ndarray,
    *,
    num_samples: int | None = None,
    crop: str = "random",
    generator: Generator = None,
) -> Batch:
    """Gather clips ``indices`` of ``pack`` into a `Batch` of ``num_samples`` samples each.

    A clip longer than ``num_samples`` is cropped: a window at a uniformly random start
    (``"random"``, drawn from ``generator``), the middle (``"center"``) or the beginning
    (``"start"``). A shorter clip is placed at the start and zero-padded at the end; ``length``
    says how many samples are real. ``num_samples=None`` pads to the longest clip in the batch.
    """
    check_choice("crop", crop, CROPS)
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size == 0:
        raise DataError("make_batch: no indices; a batch needs at least one clip")
    lengths = pack.index.length[idx]
    size = int(lengths.max()) if num_samples is None else int(num_samples)
    if size <= 0:
        raise ConfigError(f"num_samples = {num_samples}; expected > 0")
    valid = np.minimum(lengths, size)
    starts = pack.index.offset[idx] + _crop_starts(lengths - valid, crop, generator)
    # One casting copy per clip straight into float32, from a plain ndarray view of the memmap (its
    # slices skip np.memmap's per-slice overhead), zeroing only the padding: on an idle core this
    # is ~4x faster than one fancy-index gather of all B x T samples (measured for bench/pack.py).
    buf = np.empty((len(idx), size), dtype=np.float32)
    audio = pack.audio.view(np.ndarray)
    for row, (start, n) in enumerate(zip(starts.tolist(), valid.tolist(), strict=False)):
        buf[row, :n] = audio[start : start + n]
        if n < size:
            buf[row, n:] = 0.0
    buf *= np.float32(1.0 / INT16_SCALE)
    wav = torch.from_numpy(buf).unsqueeze(1)
    target = torch.from_numpy(pack.targets(idx))
    return Batch(wav, target, torch.from_numpy(idx), torch.from_numpy(valid.astype(np.int64)))


def _crop_starts(excess: np.ndarray, crop: str, generator: Generator) -> np.ndarray:
    """Offsets in [0, excess] (samples) of the crop window within each clip."""
    if crop == "start" or not excess.any():
        return np.zeros_like(excess)
    if crop == "center":
        return excess // 2
    u = _uniform(len(excess), generator)
    return np.minimum((u * (excess + 1)).astype(np.int64), excess)


def _uniform(n: int, generator: Generator) -> np.ndarray:
    if isinstance(generator, torch.Generator):
        return torch.rand(n, generator=generator, dtype=torch.float64).numpy()
    if isinstance(generator, np.random.Generator):
        return generator.random(n)
    return np.random.default_rng(generator).random(n)


class PackDataset(torch.utils.data.Dataset):
    """The clips of one split of a pack; ``dataset[i]`` is position ``i`` within the split.

    ``__getitems__(positions)`` builds a whole `Batch` at once (a DataLoader calls it with a
    batch sampler), so no per-clip collate runs in the hot loop.
    """

    def __init__(
        self,
        pack: Pack | str | Path,
        split: str = "train",
        *,
        num_samples: int | None = None,
        crop: str = "random",
        seed: int = 0,
    ) -> None:
        check_choice("crop", crop, CROPS)
        self.pack = pack if isinstance(pack, Pack) else Pack.open(pack)
        self.split = split
        self.indices = self.pack.split_indices(split)  # int64 [N_split], pack clip indices
        self.num_samples = num_samples
        self.crop = crop
        self.seed = seed
        self._rng: np.random.Generator | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> Batch:
        """One clip as a `Batch` of size 1."""
        return self.__getitems__([position])

    def __getitems__(self, positions: Sequence[int]) -> Batch:
        if self._rng is None:  # one stream per process (DataLoader workers differ by worker id)
            worker = torch.utils.data.get_worker_info()
            self._rng = np.random.default_rng([self.seed, 0 if worker is None else worker.id + 1])
        return make_batch(
            self.pack,
            self.indices[np.asarray(positions, dtype=np.int64)],
            num_samples=self.num_samples,
            crop=self.crop,
            generator=self._rng,
        )

    @property
    def targets(self) -> np.ndarray:
        """Class ids int64 [N_split] (single-label) or multi-hot float32 [N_split, C]."""
        return self.pack.targets(self.indices)

    def loader(
        self,
        *,
        batch_size: int,
        shuffle: bool = True,
        balanced: bool = False,
        drop_last: bool = False,
        num_workers: int = 0,
        seed: int | None = None,
        pin_memory: bool = False,
    ) -> torch.utils.data.DataLoader:
        """A DataLoader of `Batch` es: shuffled, in order, or class-balanced (``balanced``)."""
        seed = self.seed if seed is None else seed
        if balanced:
            sampler = ClassBalancedSampler(self, batch_size=batch_size, seed=seed)
        else:
            sampler = ShuffledBatchSampler(
                len(self), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed
            )
        return torch.utils.data.DataLoader(
            self,
            batch_sampler=sampler,
            collate_fn=_identity,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=num_workers > 0,
        )


def _identity(batch: Batch) -> Batch:
    return batch


class ShuffledBatchSampler:
    """Batches of positions ``0 .. n-1``: a fresh permutation each epoch (or in order).

    Epoch ``e`` uses ``default_rng([seed, e])``; `set_epoch` makes a resumed run repeat the order.
    """

    def __init__(
        self, n: int, *, batch_size: int, shuffle: bool = True, drop_last: bool = False, seed: int = 0
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size = {batch_size}; expected >= 1")
        self.n, self.batch_size, self.shuffle, self.drop_last, self.seed = n, batch_size, shuffle, drop_last, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = (
            np.random.default_rng([self.seed, self.epoch]).permutation(self.n) if self.shuffle else np.arange(self.n)
        )
        self.epoch += 1
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield order[start : start + self.batch_size].tolist()


class ClassBalancedSampler:
    """Batches in which every class is equally frequent (`balanced_draws`, as the training loop
    draws with ``balanced_sampler``).

    Clips are drawn with replacement, so rare classes repeat and common ones are subsampled.
    Multi-label packs draw per tag: a clip carrying it. ``num_batches`` per epoch defaults to
    ``len(dataset) // batch_size`` (one epoch sees about as many clips as the split holds).
    """

    def __init__(self, dataset: PackDataset, *, batch_size: int, num_batches: int | None = None, seed: int = 0) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size = {batch_size}; expected >= 1")
        self.members = class_members(dataset.targets, dataset.pack.num_classes)
        if not self.members:
            raise DataError(f"split {dataset.split!r} of {dataset.pack.path} has no labelled clips to balance")
        self.batch_size, self.seed, self.epoch = batch_size, seed, 0
        self.num_batches = num_batches or max(1, len(dataset) // batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        order = balanced_draws(self.members, self.num_batches * self.batch_size, rng)
        for start in range(0, len(order), self.batch_size):
            yield order[start : start + self.batch_size].tolist()


def class_members(targets: np.ndarray, num_classes: int) -> list[np.ndarray]:
    """Positions in ``targets`` (class ids ``[N]`` or multi-hot ``[N, C]``) of each class that has
    clips, in class order; a multi-hot row counts for every tag it carries."""
    hot = targets.astype(bool) if targets.ndim == 2 else targets[:, None] == np.arange(num_classes)[None, :]
    return [np.flatnonzero(hot[:, c]) for c in range(hot.shape[1]) if hot[:, c].any()]


def balanced_draws(members: list[np.ndarray], count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` positions in which every class is equally frequent: ``ceil(count / classes)``
    draws with replacement from each class's ``members``, shuffled and cut to ``count``."""
    per_class = math.ceil(count / len(members))
    picks = np.concatenate([rng.choice(m, per_class, replace=True) for m in members])
    return rng.permutation(picks)[:count]


def epoch_order(
    pack: Pack,
    indices: np.ndarray,
    *,
    seed: int,
    epoch: int,
    balanced: bool = False,
    balance_by: str | None = None,
) -> np.ndarray:
    """Pack ``indices`` in the order of training epoch ``epoch``: a permutation seeded by ``(seed,
    epoch)``; or, ``balanced``, as many class-balanced draws (single- and multi-label packs); or,
    ``balance_by`` (a column of the pack's clip metadata, e.g. ``"engine"``), as many draws in
    which each of that column's values is equally frequent among the clips that have one (clips
    without a value, such as ``_silence_``, are each taken once, as in a permutation)."""
    rng = np.random.default_rng([seed, epoch, 7])
    if balance_by is not None:
        groups = group_column(pack, balance_by)[indices]
        loose = np.flatnonzero(groups == "")
        members = [np.flatnonzero(groups == g) for g in np.unique(groups[groups != ""])]
        if not members:
            raise DataError(f"{pack.path}: no training clip has a {balance_by!r} value to balance; train without it")
        drawn = balanced_draws(members, len(indices) - len(loose), rng)
        return indices[rng.permutation(np.concatenate([loose, drawn]))]
    if not balanced:
        return rng.permutation(indices)
    members = class_members(pack.targets(indices), pack.num_classes)
    if not members:
        raise DataError(f"{pack.path}: no labelled training clips to balance; train without --balanced")
    return indices[balanced_draws(members, len(indices), rng)]


def group_column(pack: Pack, column: str) -> np.ndarray:
    """The pack's clip-metadata ``column`` as strings ``[N]`` ("" where a clip has no value).

    Raises `ConfigError` naming the columns the pack has when it lacks this one."""
    meta = pack.index.meta
    if column not in meta:
        have = ", ".join(sorted(meta)) or "none (packs of a `wavetag synth` set have engine, voice, word)"
        raise ConfigError(f"balance_by = {column!r}: {pack.path} has no such clip column; its columns: {have}")
    return np.asarray(meta[column]).astype(str)


@torch.no_grad()
def fit_normalization(
    frontend: torch.nn.Module,
    pack: Pack,
    indices: np.ndarray,
    *,
    num_samples: int,
    batch_size: int,
    batches: int,
    seed: int,
) -> None:
    """Fit the dataset mean/std of ``frontend`` (when its normaliser asks for them) on ``batches``
    random-crop batches of ``batch_size`` clips drawn from ``indices``."""
    norm = getattr(frontend, "norm", None)
    if norm is None or norm.mode != "dataset":
        return
    rng = np.random.default_rng(seed)
    picks = rng.permutation(indices)[: batches * batch_size]
    chunks = np.array_split(picks, max(1, math.ceil(len(picks) / batch_size)))
    norm.fit(
        frontend.raw_features(make_batch(pack, c, num_samples=num_samples, crop="random", generator=rng).wav)
        for c in chunks
    )
