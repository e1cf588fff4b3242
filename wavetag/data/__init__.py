"""Data: sources -> ``prepare`` -> pack -> datasets, samplers and batches.

Names are imported on first use, so ``import wavetag.data`` stays light (no torch until a
dataset or batch is asked for).

    >>> from wavetag.data import prepare, Pack, PackDataset
    >>> summary = prepare("speech_commands_v0.02", "packs/sc12", clip_seconds=1.0)  # doctest: +SKIP
    >>> pack = Pack.open("packs/sc12")                                               # doctest: +SKIP
    >>> batch = next(iter(PackDataset(pack, "train", num_samples=16000).loader(batch_size=128)))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wavetag.lazy import lazy_getattr

_EXPORTS = {
    "prepare": "wavetag.data.prepare_pack",
    "PrepareSummary": "wavetag.data.prepare_pack",
    "Pack": "wavetag.data.pack",
    "PackIndex": "wavetag.data.pack",
    "PackDataset": "wavetag.data.dataset",
    "Batch": "wavetag.data.dataset",
    "make_batch": "wavetag.data.dataset",
    "ClassBalancedSampler": "wavetag.data.dataset",
    "ShuffledBatchSampler": "wavetag.data.dataset",
    "ClipRef": "wavetag.data.clips",
    "which_set": "wavetag.data.splits",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from wavetag.data.clips import ClipRef
    from wavetag.data.dataset import Batch, ClassBalancedSampler, PackDataset, ShuffledBatchSampler, make_batch
    from wavetag.data.pack import Pack, PackIndex
    from wavetag.data.prepare_pack import PrepareSummary, prepare
    from wavetag.data.splits import which_set


__getattr__ = lazy_getattr(__name__, _EXPORTS)
