"""1-D CNN on the raw waveform, plain and with concatenated skip connections.

The raw-waveform Conv1D classifier of the TensorFlow Speech Recognition Challenge / Freesound
Kaggle kernels (2017-2018; cf. Dai et al., "Very Deep Convolutional Neural Networks for Raw
Waveforms", ICASSP 2017, arXiv 1610.00087), layer spec of wavetag issue 4: stages of Conv1D
32/32, 64/64, 128×3, 256×3 (kernel 9, "same" padding, ReLU), each followed by max-pooling (4)
and dropout 0.3; flatten; dense 256 + BN + ReLU. ``cnn1d_skip`` concatenates each stage's input
to its output before pooling (a DenseNet-style skip), so later stages see earlier features.

Any front end fits: a spectral feature ``[B, C, F, frames]`` is read as ``C · F`` channels over
frames, the 8-kHz notebook's "STFT 1-D CNN" (``frontend="spectrogram"``; with ~100 frames per
second use ``pool=2``, since four pools of 4 leave no frames of a 1-s clip).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from wavetag.errors import ConfigError
from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier
from wavetag.models.registry import register_model

SOURCE = (
    "Kaggle TensorFlow Speech Recognition Challenge raw-waveform Conv1D kernels (2017); "
    "cf. Dai et al., arXiv 1610.00087"
)
DEFAULT_FRONTEND = {"name": "waveform"}
STAGES = ((32, 32), (64, 64), (128, 128, 128), (256, 256, 256))


class Stage1d(nn.Module):
    """Convs (+ ReLU) → [concat input] → max-pool → dropout."""

    def __init__(
        self, in_channels: int, widths: tuple, *, kernel_size: int, pool: int, dropout: float, skip: bool
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for w in widths:
            layers += [nn.Conv1d(c, w, kernel_size, padding=kernel_size // 2), nn.ReLU()]
            c = w
        self.convs = nn.Sequential(*layers)
        self.skip = skip
        self.out_channels = c + (in_channels if skip else 0)
        self.pool = nn.MaxPool1d(pool)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convs(x)
        if self.skip:
            y = torch.cat([y, x], dim=1)
        return self.drop(self.pool(y))  # (B, C', T / pool)


class CNN1d(nn.Module):
    """Backbone: waveform ``[B, 1, T]``, sequence ``[B, C, T]`` or features ``[B, C, F, T]``
    (as ``C · F`` channels) → ``[B, dense_dim]``."""

    def __init__(
        self,
        inp: InputSpec,
        *,
        stages: tuple = STAGES,
        kernel_size: int = 9,
        pool: int = 4,
        dropout: float = 0.3,
        dense_dim: int = 256,
        skip: bool = False,
    ) -> None:
        super().__init__()
        blocks, c, t = [], math.prod(inp.shape[:-1]), inp.shape[-1]
        for widths in stages:
            blocks.append(Stage1d(c, tuple(widths), kernel_size=kernel_size, pool=pool, dropout=dropout, skip=skip))
            c, t = blocks[-1].out_channels, t // pool
        if t < 1:
            raise ConfigError(
                f"cnn1d: {inp.shape[-1]} samples/frames pooled {len(stages)} times by {pool} leave none; "
                "use a longer clip, or a smaller pool (--model-set pool=2) on spectral features"
            )
        self.stages = nn.Sequential(*blocks)
        self.dense = nn.Sequential(nn.Linear(c * t, dense_dim), nn.BatchNorm1d(dense_dim), nn.ReLU())
        self.num_features = dense_dim
        self.head_dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1, -2)  # (B, C, T) as it is; (B, C, F, T) -> (B, C·F, T)
        return self.dense(self.stages(x).flatten(1))  # (B, dense_dim)


def _create_cnn1d(variant: str, arch: dict, **kwargs) -> Classifier:
    return build_classifier(variant, CNN1d, arch, **kwargs)


def _reg(name: str):
    return register_model(
        name,
        family="cnn1d",
        input_kind="waveform",
        default_frontend=DEFAULT_FRONTEND,
        source=SOURCE,
        features_as_channels=True,
    )


@_reg("cnn1d")
def cnn1d(**kwargs) -> Classifier:
    return _create_cnn1d("cnn1d", dict(skip=False), **kwargs)


@_reg("cnn1d_skip")
def cnn1d_skip(**kwargs) -> Classifier:
    return _create_cnn1d("cnn1d_skip", dict(skip=True), **kwargs)
