"""2-D CNN on spectrograms: the `wavetag.models.cnn1d` design with 2-D layers.

Layer spec of wavetag issue 4 (the spectrogram counterpart of the Kaggle raw-waveform Conv1D
kernels): stages of Conv2D 32/32, 64/64, 128×3, 256×3 (kernel 9×9, "same" padding, ReLU), each
followed by 2×2 max-pooling and dropout 0.3; flatten; dense 256 + BN + ReLU.
"""

from __future__ import annotations

import torch
from torch import nn

from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier, probe_shape
from wavetag.models.registry import register_model

SOURCE = "Kaggle TensorFlow Speech Recognition Challenge spectrogram CNN kernels (2017); layer spec of wavetag issue 4"
DEFAULT_FRONTEND = {"name": "logmel", "n_mels": 40}
STAGES = ((32, 32), (64, 64), (128, 128, 128), (256, 256, 256))


class CNN2d(nn.Module):
    """Backbone: image ``[B, C, F, T]`` → ``[B, dense_dim]``."""

    def __init__(
        self,
        inp: InputSpec,
        *,
        stages: tuple = STAGES,
        kernel_size: int = 9,
        pool: int = 2,
        dropout: float = 0.3,
        dense_dim: int = 256,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = inp.shape[0]
        for widths in stages:
            for w in widths:
                layers += [nn.Conv2d(c, w, kernel_size, padding=kernel_size // 2), nn.ReLU()]
                c = w
            layers += [nn.MaxPool2d(pool), nn.Dropout(dropout)]
        self.features = nn.Sequential(*layers)
        flat = c * _prod(probe_shape(self.features, inp.shape, what="cnn2d")[1:])
        self.dense = nn.Sequential(nn.Linear(flat, dense_dim), nn.BatchNorm1d(dense_dim), nn.ReLU())
        self.num_features = dense_dim
        self.head_dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.features(x).flatten(1))  # (B, dense_dim)


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for s in shape:
        out *= s
    return out


@register_model("cnn2d", family="cnn2d", input_kind="image", default_frontend=DEFAULT_FRONTEND, source=SOURCE)
def cnn2d(**kwargs) -> Classifier:
    return build_classifier("cnn2d", CNN2d, {}, **kwargs)
