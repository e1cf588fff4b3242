"""WavCeption: a stack of 1-D Inception modules on the raw waveform.

"WavCeption V1: a 1-D Inception approach" (Kaggle TensorFlow Speech Recognition Challenge
kernel, 2017), after Szegedy et al., "Going Deeper with Convolutions" (arXiv 1409.4842). Each
module runs 1×1; 1×1→3; 1×1→5; 1×1→7; maxpool 3/5 → 1×1; avgpool 3/5 → 1×1 in parallel (BN +
ReLU each) and concatenates them (`wavetag.models.layers.Inception1d`); modules are separated by
max-pooling (2); global average pooling; dense 128 + BN + ReLU.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from wavetag.errors import ConfigError
from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier
from wavetag.models.layers import Inception1d
from wavetag.models.registry import register_model

SOURCE = (
    "WavCeption V1: a 1-D Inception approach (Kaggle TF Speech Recognition Challenge kernel, 2017); "
    "Szegedy et al. arXiv 1409.4842"
)
DEFAULT_FRONTEND = {"name": "waveform"}
WIDTHS = (4, 8, 8, 16, 16, 32, 32, 32)  # per-branch width of each module; output 8 × width


class WavCeption(nn.Module):
    """Backbone: waveform ``[B, 1, T]``, sequence ``[B, C, T]`` or features ``[B, C, F, T]``
    (as ``C · F`` channels) → ``[B, dense_dim]``."""

    def __init__(
        self, inp: InputSpec, *, widths: tuple = WIDTHS, pool: int = 2, dense_dim: int = 128, dropout: float = 0.2
    ) -> None:
        super().__init__()
        if inp.shape[-1] // pool ** len(widths) < 1:
            raise ConfigError(
                f"wavception: {inp.shape[-1]} samples/frames pooled {len(widths)} times by {pool} leave none; "
                "use a longer clip, or --model-set pool=1 on spectral features"
            )
        layers: list[nn.Module] = []
        c = math.prod(inp.shape[:-1])
        for w in widths:
            module = Inception1d(c, w)
            layers += [module, nn.MaxPool1d(pool)]
            c = module.out_channels
        self.features = nn.Sequential(*layers)
        self.dense = nn.Sequential(nn.Linear(c, dense_dim), nn.BatchNorm1d(dense_dim), nn.ReLU())
        self.num_features = dense_dim
        self.head_dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1, -2)  # (B, C, T) as it is; (B, C, F, T) -> (B, C·F, T)
        return self.dense(self.features(x).mean(dim=-1))  # (B, dense_dim)


@register_model(
    "wavception",
    family="wavception",
    input_kind="waveform",
    default_frontend=DEFAULT_FRONTEND,
    source=SOURCE,
    features_as_channels=True,
)
def wavception(**kwargs) -> Classifier:
    return build_classifier("wavception", WavCeption, {}, **kwargs)
