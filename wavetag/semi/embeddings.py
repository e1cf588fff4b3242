"""Per-clip embeddings of a pack, from a trained classifier or from the convolutional autoencoder.

    model directory (classifier: ``forward_features``; autoencoder: its bottleneck)
      --windows of the model's clip length every half window over each clip (as evaluation does)
      --mean over a clip's windows--> embeddings float32 [N, D]  (rows in the pack's clip order)
      --> E.npy + E.json (pack path, audio checksum, clip count, split, model)

``E.json`` lets `load_embeddings` refuse embeddings made from other audio. Only the samples
matter, not the labels: embeddings of a pack also fit its relabelled copies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wavetag.data.pack import Pack
from wavetag.errors import CheckpointError, DataError
from wavetag.inference.predictor import resolve_model_dir
from wavetag.inference.windows import predict_windows
from wavetag.jsonfile import read_json
from wavetag.models import load_model_dir
from wavetag.semi.autoencoder import load_autoencoder

SIDECAR_SUFFIX = ".json"


def load_embedder(model_dir: str | Path) -> tuple[torch.nn.Module, dict[str, Any], Path]:
    """``(module with forward_features, config, directory)`` for a classifier model directory (or a
    run directory: its ``best/``) or an autoencoder directory (``wavetag train-autoencoder``)."""
    path = resolve_model_dir(model_dir)
    config_file = path / "config.json"
    if not config_file.is_file():
        raise CheckpointError(
            f"{path}: no config.json; give a model or run directory ('wavetag train') or an "
            "autoencoder directory ('wavetag train-autoencoder')"
        )
    kind = read_json(config_file, error=CheckpointError).get("format")
    if kind == "wavetag-autoencoder":
        model, config = load_autoencoder(path)
    else:
        model, config = load_model_dir(path)
    return model.eval(), config, path


@torch.no_grad()
def embed(
    model_dir: str | Path,
    pack: str | Path | Pack,
    *,
    split: str = "all",
    batch_size: int = 128,
    hop_s: float | None = None,
) -> np.ndarray:
    """Embeddings ``[N, D]`` float32 of the clips of ``split`` (``"all"``: every clip, in pack order).

    Windows of the model's ``clip_seconds`` every ``hop_s`` (default half a window) over each clip;
    a clip's embedding is the mean of its windows'. The model runs in eval mode, so the result is
    the same every time.
    """
    model, _, path = load_embedder(model_dir)
    pack = pack if isinstance(pack, Pack) else Pack.open(pack)
    if model.sample_rate != pack.sample_rate:
        raise DataError(
            f"{path} runs at {model.sample_rate} Hz but the pack {pack.path} is at {pack.sample_rate} Hz; "
            f"prepare the pack with --sample-rate {model.sample_rate}"
        )
    indices = pack.split_indices(split)
    if len(indices) == 0:
        raise DataError(f"{pack.path}: the {split} split is empty; nothing to embed")
    window = int(round(model.clip_seconds * pack.sample_rate))
    hop = int(round((hop_s or model.clip_seconds / 2) * pack.sample_rate))
    out = predict_windows(
        model.forward_features,
        pack.audio,
        pack.index.offset[indices],
        pack.index.length[indices],
        window=window,
        hop=max(1, hop),
        batch_size=batch_size,
        pool="mean",
    )
    return out.numpy().astype(np.float32)


def save_embeddings(
    path: str | Path, embeddings: np.ndarray, *, pack: Pack, model_dir: str | Path, split: str = "all"
) -> Path:
    """Write ``embeddings`` to ``path`` (``.npy``) and what they were made from to ``path`` + ``.json``."""
    path = Path(path)
    if path.suffix != ".npy":
        path = path.with_name(path.name + ".npy")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(embeddings, dtype=np.float32), allow_pickle=False)
    meta = {
        "pack": str(pack.path),
        "audio_crc32": pack.info.get("audio_crc32"),
        "num_clips": len(pack),
        "split": split,
        "rows": int(len(embeddings)),
        "dim": int(embeddings.shape[1]),
        "model": str(model_dir),
    }
    sidecar(path).write_text(json.dumps(meta, indent=1) + "\n")
    return path


def load_embeddings(path: str | Path, pack: Pack | None = None) -> np.ndarray:
    """Embeddings ``[N, D]`` from ``path`` (``.npy``); with ``pack``, checked to be one row per clip
    of that pack's audio (a `DataError` naming both counts otherwise)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: embeddings file not found; make it with 'wavetag embed MODEL PACK -o {path}'")
    try:
        emb = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a numpy .npy array of embeddings ({exc})") from None
    if emb.ndim != 2 or not np.issubdtype(emb.dtype, np.number):
        raise DataError(f"{path}: embeddings of shape {emb.shape} ({emb.dtype}); expected a number array [clips, dims]")
    if not np.isfinite(emb).all():
        raise DataError(f"{path}: embeddings hold NaN or infinite values; make them again")
    if pack is not None:
        check_embeddings_fit(emb, pack, path=path)
    return emb.astype(np.float32, copy=False)


def check_embeddings_fit(emb: np.ndarray, pack: Pack, *, path: Path | None = None) -> None:
    """One row per clip of ``pack``; made from its audio, when the file at ``path`` has an ``E.json``."""
    where = path if path is not None else "embeddings"
    if len(emb) != len(pack):
        raise DataError(
            f"{where}: {len(emb)} rows of embeddings but the pack {pack.path} has {len(pack)} clips; "
            f"make them from this pack: wavetag embed MODEL {pack.path} -o E.npy"
        )
    meta_file = sidecar(Path(path)) if path is not None else None
    if meta_file is not None and meta_file.is_file():
        meta = read_json(meta_file, error=DataError, advice="make the embeddings again with 'wavetag embed'")
        theirs, ours = meta.get("audio_crc32"), pack.info.get("audio_crc32")
        if theirs and ours and theirs != ours:
            raise DataError(
                f"{where}: made from the pack {meta.get('pack')} (audio checksum {theirs}), not from the audio "
                f"of {pack.path} ({ours}); make them from this pack with 'wavetag embed'"
            )


def sidecar(path: Path) -> Path:
    return path.with_name(path.stem + SIDECAR_SUFFIX)
