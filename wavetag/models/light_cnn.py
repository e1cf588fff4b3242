"""The light-weight 2-D CNN of the speech-commands Kaggle kernel.

DavidS, "Speech representation and data exploration", Kaggle TensorFlow Speech Recognition
Challenge kernel (2017; "Light-weight CNN LB 0.74"): BatchNorm on the input log spectrogram;
Conv2D 8, 8 (2×2) → max-pool 2 → dropout 0.2; Conv2D 16, 16 (3×3) → max-pool → dropout;
Conv2D 32 (3×3) → max-pool → dropout; flatten; two Dense 128 (ReLU) each followed by BN.
Convolutions are "valid" (unpadded), as in Keras' default.
"""

from __future__ import annotations

import torch
from torch import nn

from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier, probe_shape
from wavetag.models.registry import register_model

SOURCE = (
    "DavidS, Speech representation and data exploration (Kaggle TensorFlow Speech Recognition Challenge kernel, 2017)"
)
DEFAULT_FRONTEND = {"name": "logspec"}


class LightCNN(nn.Module):
    """Backbone: image ``[B, C, F, T]`` → ``[B, dense_dim]``."""

    def __init__(
        self, inp: InputSpec, *, filters: tuple = (8, 16, 32), dropout: float = 0.2, dense_dim: int = 128
    ) -> None:
        super().__init__()
        c = inp.shape[0]
        f1, f2, f3 = filters
        self.input_norm = nn.BatchNorm2d(c)
        self.features = nn.Sequential(
            nn.Conv2d(c, f1, 2),
            nn.ReLU(),
            nn.Conv2d(f1, f1, 2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(dropout),
            nn.Conv2d(f1, f2, 3),
            nn.ReLU(),
            nn.Conv2d(f2, f2, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(dropout),
            nn.Conv2d(f2, f3, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(dropout),
        )
        out = probe_shape(self.features, inp.shape, what="light_cnn")
        self.dense = nn.Sequential(
            nn.Linear(out[0] * out[1] * out[2], dense_dim),
            nn.ReLU(),
            nn.BatchNorm1d(dense_dim),
            nn.Linear(dense_dim, dense_dim),
            nn.ReLU(),
            nn.BatchNorm1d(dense_dim),
        )
        self.num_features = dense_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.features(self.input_norm(x)).flatten(1))  # (B, dense_dim)


@register_model("light_cnn", family="light_cnn", input_kind="image", default_frontend=DEFAULT_FRONTEND, source=SOURCE)
def light_cnn(**kwargs) -> Classifier:
    return build_classifier("light_cnn", LightCNN, {}, **kwargs)
