"""A convolutional autoencoder on log-mel spectrograms; its bottleneck is a label-free embedding.

    wav [B, 1, T] --logmel (dataset-normalised, inside the model)--> [B, 1, F, frames]
      --keep the first F' = frames rounded down to a multiple of 2^S--> x [B, 1, F, F']
      --S × (conv 3×3 stride 2 + BN + ReLU)--> [B, C_S, F/2^S, F'/2^S] --linear--> z [B, bottleneck]
      --linear, S × (transposed conv 4×4 stride 2 (+ BN + ReLU))--> x̂ [B, 1, F, F']     loss: MSE(x̂, x)

Trained on fixed-size random crops of the train split (labels are not used, so verified and
unverified clips alike). The directory it writes describes itself like a model directory:
``config.json`` (``format: wavetag-autoencoder``, front end, sizes) + ``model.safetensors`` (no
pickle), plus ``history.csv`` and ``reconstructions.png`` (validation clips next to their
reconstructions). ``wavetag embed AE_DIR PACK`` turns it into embeddings for ``wavetag relabel``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from wavetag import __version__
from wavetag.config import check_range, check_types, config_to_dict
from wavetag.data.dataset import fit_normalization, make_batch
from wavetag.data.pack import Pack
from wavetag.errors import CheckpointError, ConfigError, DataError
from wavetag.frontends import FrontEnd, frontend_from_dict
from wavetag.jsonfile import read_json
from wavetag.models.io import load_state_strict, read_weights
from wavetag.semi.plots import plot_reconstructions

FORMAT = "wavetag-autoencoder"
FORMAT_VERSION = 1
DEFAULT_FRONTEND = {"name": "logmel", "n_mels": 64, "normalize": "dataset"}
RECONSTRUCTION_EXAMPLES = 4


@dataclass
class AutoencoderConfig:
    """``bottleneck``: embedding width; ``channels``: conv widths, one stride-2 stage each (the mel
    bands must divide by 2^stages); ``clip_seconds``: crop length (None: the pack's, else 1 s)."""

    bottleneck: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 64)
    frontend: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_FRONTEND))
    clip_seconds: float | None = None
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    fit_normalization_batches: int = 10
    seed: int = 0
    threads: int | None = None

    def validate(self) -> None:
        check_types(AutoencoderConfig, self)  # every field strictly, from the annotations
        check_range("bottleneck", self.bottleneck, 1, 65536)
        if not self.channels or any(c < 1 for c in self.channels):
            raise ConfigError(f"channels = {self.channels}; expected one or more positive widths")
        check_range("epochs", self.epochs, 1, 100000)
        check_range("batch_size", self.batch_size, 1, 65536)
        check_range("lr", self.lr, 1e-7, 10.0)
        if self.clip_seconds is not None:
            check_range("clip_seconds", self.clip_seconds, 0.05, 600.0)


class ConvAutoencoder(nn.Module):
    """``wav [B, 1, T]`` → ``forward_features``: bottleneck ``[B, bottleneck]``; ``forward``:
    ``(features x [B, 1, F, F'], reconstruction x̂ [B, 1, F, F'])``."""

    def __init__(
        self,
        frontend: FrontEnd,
        *,
        clip_seconds: float,
        bottleneck: int = 64,
        channels: tuple[int, ...] = (16, 32, 64, 64),
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.clip_seconds = float(clip_seconds)
        self.bottleneck, self.channels = int(bottleneck), tuple(int(c) for c in channels)
        _, bands, frames = frontend.output_shape(int(round(clip_seconds * frontend.sample_rate)))
        scale = 2 ** len(self.channels)
        self.frames = frames // scale * scale
        if bands % scale or self.frames == 0:
            raise ConfigError(
                f"autoencoder: {len(self.channels)} stride-2 stages need the bands ({bands}) to divide by {scale} "
                f"and at least {scale} frames ({frames} in {clip_seconds} s); change n_mels, channels or clip_seconds"
            )
        self.bands = bands
        self.map_shape = (self.channels[-1], bands // scale, self.frames // scale)
        widths = (1, *self.channels)
        self.encoder = nn.Sequential(
            *[
                nn.Sequential(nn.Conv2d(a, b, 3, stride=2, padding=1), nn.BatchNorm2d(b), nn.ReLU())
                for a, b in zip(widths[:-1], widths[1:], strict=False)
            ]
        )
        flat = math.prod(self.map_shape)
        self.to_code = nn.Linear(flat, self.bottleneck)
        self.from_code = nn.Linear(self.bottleneck, flat)
        back = widths[::-1]
        layers = []
        for k, (a, b) in enumerate(zip(back[:-1], back[1:], strict=False)):
            layers.append(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1))
            if k < len(back) - 2:
                layers += [nn.BatchNorm2d(b), nn.ReLU()]
        self.decoder = nn.Sequential(*layers)

    @property
    def sample_rate(self) -> int:
        return int(self.frontend.sample_rate)

    def features(self, wav: torch.Tensor) -> torch.Tensor:
        """``wav [B, 1, T]`` → the normalised log-mel crop ``[B, 1, F, F']`` the autoencoder sees."""
        x = self.frontend(wav)
        if x.shape[-1] < self.frames:
            x = nn.functional.pad(x, (0, self.frames - x.shape[-1]))
        return x[..., : self.frames]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_code(self.encoder(x).flatten(1))  # (B, bottleneck)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.from_code(z).view(-1, *self.map_shape))  # (B, 1, F, F')

    def forward_features(self, wav: torch.Tensor) -> torch.Tensor:
        return self.encode(self.features(wav))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.features(wav)
        return x, self.decode(self.encode(x))

    def describe(self) -> dict[str, Any]:
        return {
            "frontend": self.frontend.to_dict(),
            "sample_rate": self.sample_rate,
            "clip_seconds": self.clip_seconds,
            "bottleneck": self.bottleneck,
            "channels": list(self.channels),
            "input_shape": [1, self.bands, self.frames],
        }


@dataclass
class AutoencoderResult:
    out_dir: Path
    history: list[dict[str, float]]
    seconds: float
    reconstructions: Path | None


def build_autoencoder(config: AutoencoderConfig, *, sample_rate: int, clip_seconds: float) -> ConvAutoencoder:
    spec = {**config.frontend, "sample_rate": sample_rate}
    return ConvAutoencoder(
        frontend_from_dict(spec), clip_seconds=clip_seconds, bottleneck=config.bottleneck, channels=config.channels
    )


def train_autoencoder(
    pack: str | Path | Pack,
    config: AutoencoderConfig | None = None,
    out_dir: str | Path = "runs/autoencoder",
    *,
    progress: bool = True,
    log=print,
) -> AutoencoderResult:
    """Train the autoencoder on random crops of the train split of ``pack``; writes ``out_dir``
    (config.json, model.safetensors, history.csv, reconstructions.png)."""
    config = config or AutoencoderConfig()
    config.validate()
    pack = pack if isinstance(pack, Pack) else Pack.open(pack)
    torch.set_num_threads(config.threads or max(1, os.cpu_count() or 1))
    clip_seconds = config.clip_seconds or pack.clip_seconds or 1.0
    num_samples = int(round(clip_seconds * pack.sample_rate))
    train_idx, val_idx = pack.split_indices("train"), pack.split_indices("validation")
    if len(train_idx) == 0:
        raise DataError(f"{pack.path}: the train split is empty; the autoencoder trains on it")
    torch.manual_seed(config.seed)
    model = build_autoencoder(config, sample_rate=pack.sample_rate, clip_seconds=clip_seconds)
    fit_normalization(
        model.frontend,
        pack,
        train_idx,
        num_samples=num_samples,
        batch_size=config.batch_size,
        batches=config.fit_normalization_batches,
        seed=config.seed,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    history, started = [], time.perf_counter()
    for epoch in range(config.epochs):
        rng = np.random.default_rng([config.seed, epoch])
        order = rng.permutation(train_idx)
        model.train()
        total, count = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            rows = order[start : start + config.batch_size]
            wav = make_batch(pack, rows, num_samples=num_samples, crop="random", generator=rng).wav
            x, x_hat = model(wav)
            loss = nn.functional.mse_loss(x_hat, x)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * len(rows), count + len(rows)
        row = {
            "epoch": epoch + 1,
            "train_mse": total / count,
            "val_mse": reconstruction_mse(model, pack, val_idx, num_samples),
        }
        history.append(row)
        if progress:
            log(
                f"epoch {epoch + 1}/{config.epochs}: train MSE {row['train_mse']:.4f}, validation MSE "
                f"{row['val_mse']:.4f}"
            )
    out = save_autoencoder(
        model,
        out_dir,
        extra={
            "pack": {
                "path": str(pack.path),
                "sample_rate": pack.sample_rate,
                "audio_crc32": pack.info.get("audio_crc32"),
            },
            "train": config_to_dict(config),
        },
    )
    _write_history(out / "history.csv", history)
    picture = _plot_examples(
        model, pack, val_idx if len(val_idx) else train_idx, num_samples, out / "reconstructions.png"
    )
    return AutoencoderResult(out, history, time.perf_counter() - started, picture)


@torch.no_grad()
def reconstruction_mse(
    model: ConvAutoencoder, pack: Pack, indices: np.ndarray, num_samples: int, batch_size: int = 64
) -> float:
    """Mean squared reconstruction error over centre crops of ``indices`` (NaN when there are none)."""
    if len(indices) == 0:
        return float("nan")
    model.eval()
    total = 0.0
    for start in range(0, len(indices), batch_size):
        rows = indices[start : start + batch_size]
        x, x_hat = model(make_batch(pack, rows, num_samples=num_samples, crop="center").wav)
        total += nn.functional.mse_loss(x_hat, x, reduction="sum").item() / x[0].numel()
    return total / len(indices)


def save_autoencoder(model: ConvAutoencoder, out_dir: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """``config.json`` + ``model.safetensors`` in ``out_dir``."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **model.describe(),
        **(extra or {}),
        "versions": {"wavetag": __version__, "torch": torch.__version__.split("+")[0]},
    }
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        str(out / "model.safetensors"),
        metadata={"format": FORMAT},
    )
    (out / "config.json").write_text(json.dumps(config, indent=2, default=str) + "\n")
    return out


def load_autoencoder(path: str | Path) -> tuple[ConvAutoencoder, dict[str, Any]]:
    """Rebuild the autoencoder in ``path`` from ``config.json`` and load its weights (eval mode)."""
    path = Path(path)
    file = path / "config.json"
    config = read_json(file, error=CheckpointError, advice="train it again with 'wavetag train-autoencoder'")
    if config.get("format") != FORMAT:
        raise CheckpointError(f"{file}: field 'format' is {config.get('format')!r}, expected {FORMAT!r}")
    try:
        model = ConvAutoencoder(
            frontend_from_dict(config["frontend"]),
            clip_seconds=config["clip_seconds"],
            bottleneck=config["bottleneck"],
            channels=tuple(config["channels"]),
        )
    except KeyError as exc:
        raise CheckpointError(
            f"{file}: field {exc} is missing; the file was edited or written by another tool"
        ) from None
    load_state_strict(model, read_weights(path / "model.safetensors"), where=path / "model.safetensors")
    return model.eval(), config


def _write_history(path: Path, history: list[dict[str, float]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


@torch.no_grad()
def _plot_examples(model: ConvAutoencoder, pack: Pack, indices: np.ndarray, num_samples: int, path: Path) -> Path:
    rows = indices[np.linspace(0, len(indices) - 1, min(RECONSTRUCTION_EXAMPLES, len(indices))).astype(int)]
    model.eval()
    x, x_hat = model(make_batch(pack, rows, num_samples=num_samples, crop="center").wav)
    names = [pack.labels[pack.index.label[i]] if pack.index.label[i] >= 0 else str(pack.index.path[i]) for i in rows]
    return plot_reconstructions(x[:, 0].numpy(), x_hat[:, 0].numpy(), path, names=names)
