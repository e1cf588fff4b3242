"""AlexNet on spectrograms, with torchvision's parameter names.

Krizhevsky, "One weird trick for parallelizing convolutional neural networks", arXiv 1404.5997
(the single-tower variant torchvision implements; original: Krizhevsky et al., NIPS 2012);
``torchvision.models.alexnet``. ``features`` and the first two layers of ``classifier`` (fc6,
fc7) keep torchvision's indices; fc8 is this model's head. The 6×6 adaptive average pool is
exported as matrix products (`wavetag.models.layers.AdaptiveAvgPool2d`). Needs at least 63 × 63
input bands × frames (three 3/2 max-pools after an 11/4 conv).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier, probe_shape
from wavetag.models.layers import AdaptiveAvgPool2d
from wavetag.models.pretrained import IMAGENET_FRONTEND, IMAGENET_SOURCE, load_torchvision_weights
from wavetag.models.registry import register_model

SOURCE = f"Krizhevsky, One weird trick for parallelizing CNNs (arXiv 1404.5997); {IMAGENET_SOURCE}"


class AlexNet(nn.Module):
    """Backbone: image ``[B, C, F, T]`` → fc7 activations ``[B, hidden_dim]``."""

    def __init__(self, inp: InputSpec, *, pool_size: int = 6, hidden_dim: int = 4096, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(inp.shape[0], 64, 11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
        )
        probe_shape(self.features, inp.shape, what="alexnet")
        self.avgpool = AdaptiveAvgPool2d(pool_size)
        self.classifier = nn.Sequential(  # torchvision indices 0-5; index 6 (fc8) is the head
            nn.Dropout(dropout),
            nn.Linear(256 * pool_size * pool_size, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(inplace=True),
        )
        self.num_features = hidden_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))  # (B, 256, 6, 6)
        return self.classifier(x.flatten(1))


def load_alexnet_pretrained(model: Classifier, path: Path) -> None:
    load_torchvision_weights(model, path, first_conv="features.0.weight", drop=("classifier.6.",))


@register_model(
    "alexnet", family="alexnet", input_kind="image", default_frontend=IMAGENET_FRONTEND, source=SOURCE, pretrained=True
)
def alexnet(**kwargs) -> Classifier:
    return build_classifier("alexnet", AlexNet, {}, load_pretrained=load_alexnet_pretrained, **kwargs)
