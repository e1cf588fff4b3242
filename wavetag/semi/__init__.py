"""Noisy and missing labels: embeddings, an autoencoder, label spreading, pseudo-labelling, ensembles.

The FSDKaggle2018 recipe (a minority of verified labels, a majority of unverified ones)::

    pack --embed (a classifier's forward_features, or the autoencoder's bottleneck)--> E [N, D]
      --relabel (label spreading from verified to unverified clips)--> relabelled pack
      --train_semi (rounds of pseudo-labelling with a scheduled confidence bound)--> model
      --build_ensemble (mean | geometric | weighted mean of several models)--> one model directory

Names are imported on first use (no torch or scikit-learn until one is asked for).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wavetag.lazy import lazy_getattr

_EXPORTS = {
    "embed": "wavetag.semi.embeddings",
    "save_embeddings": "wavetag.semi.embeddings",
    "load_embeddings": "wavetag.semi.embeddings",
    "AutoencoderConfig": "wavetag.semi.autoencoder",
    "train_autoencoder": "wavetag.semi.autoencoder",
    "load_autoencoder": "wavetag.semi.autoencoder",
    "relabel": "wavetag.semi.relabel",
    "write_relabelled": "wavetag.semi.relabel",
    "RelabelResult": "wavetag.semi.relabel",
    "train_semi": "wavetag.semi.pseudo",
    "SemiResult": "wavetag.semi.pseudo",
    "build_ensemble": "wavetag.semi.ensemble",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from wavetag.semi.autoencoder import AutoencoderConfig, load_autoencoder, train_autoencoder
    from wavetag.semi.embeddings import embed, load_embeddings, save_embeddings
    from wavetag.semi.ensemble import build_ensemble
    from wavetag.semi.pseudo import SemiResult, train_semi
    from wavetag.semi.relabel import RelabelResult, relabel, write_relabelled


__getattr__ = lazy_getattr(__name__, _EXPORTS)
