"""VGG-like spectrogram CNNs for sound tagging.

The VGG-style log-mel CNNs of the DCASE 2018 task 2 / Freesound general-purpose audio tagging
entries (e.g. Iqbal et al., "General-purpose audio tagging from noisy labels using convolutional
neural networks", DCASE 2018; after Simonyan & Zisserman, arXiv 1409.1556), layer spec of
wavetag issue 4: blocks of two (``vgg_small``) or three (``vgg_large``) 3×3 convs with BN and
LeakyReLU, 2×2 max-pooling; flatten; dense 1024 (resp. 4096) with SELU and alpha dropout.
"""

from __future__ import annotations

import torch
from torch import nn

from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier, probe_shape
from wavetag.models.registry import register_model

SOURCE = (
    "VGG-style log-mel CNNs of DCASE 2018 task 2 (e.g. Iqbal et al. 2018), after Simonyan & Zisserman (arXiv 1409.1556)"
)
DEFAULT_FRONTEND = {"name": "logmel", "n_mels": 64}


class VGGLike(nn.Module):
    """Backbone: image ``[B, C, F, T]`` → ``[B, dense_dim]``."""

    def __init__(
        self,
        inp: InputSpec,
        *,
        widths: tuple = (32, 64, 128, 256),
        convs_per_block: int = 2,
        dense_dim: int = 1024,
        negative_slope: float = 0.1,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = inp.shape[0]
        for w in widths:
            for _ in range(convs_per_block):
                layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.LeakyReLU(negative_slope)]
                c = w
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        out = probe_shape(self.features, inp.shape, what="vgg")
        self.dense = nn.Sequential(nn.Linear(out[0] * out[1] * out[2], dense_dim), nn.SELU(), nn.AlphaDropout(dropout))
        self.num_features = dense_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.features(x).flatten(1))  # (B, dense_dim)


def _create_vgg(variant: str, arch: dict, **kwargs) -> Classifier:
    return build_classifier(variant, VGGLike, arch, **kwargs)


def _reg(name: str):
    return register_model(name, family="vgg", input_kind="image", default_frontend=DEFAULT_FRONTEND, source=SOURCE)


@_reg("vgg_small")
def vgg_small(**kwargs) -> Classifier:
    return _create_vgg("vgg_small", dict(widths=(32, 64, 128, 256), convs_per_block=2, dense_dim=1024), **kwargs)


@_reg("vgg_large")
def vgg_large(**kwargs) -> Classifier:
    return _create_vgg("vgg_large", dict(widths=(64, 128, 256, 512, 512), convs_per_block=3, dense_dim=4096), **kwargs)
