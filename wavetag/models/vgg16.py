"""VGG-16 (configuration D) on spectrograms, with torchvision's parameter names.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015, arXiv 1409.1556; ``torchvision.models.vgg16``. ``features`` and ``classifier`` 0-5
(fc6, fc7) keep torchvision's indices; fc8 is this model's head. The 7×7 adaptive average pool
exports as matrix products. See `wavetag.models.vgg` for the smaller VGG-like audio CNNs.
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

SOURCE = f"Simonyan & Zisserman, Very Deep Convolutional Networks (arXiv 1409.1556); {IMAGENET_SOURCE}"
CFG_D = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG16(nn.Module):
    """Backbone: image ``[B, C, F, T]`` → fc7 activations ``[B, hidden_dim]``."""

    def __init__(self, inp: InputSpec, *, pool_size: int = 7, hidden_dim: int = 4096, dropout: float = 0.5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = inp.shape[0]
        for v in CFG_D:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        probe_shape(self.features, inp.shape, what="vgg16")
        self.avgpool = AdaptiveAvgPool2d(pool_size)
        self.classifier = nn.Sequential(  # torchvision indices 0-5; index 6 (fc8) is the head
            nn.Linear(512 * pool_size * pool_size, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )
        self.num_features = hidden_dim
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))  # (B, 512, 7, 7)
        return self.classifier(x.flatten(1))


def load_vgg16_pretrained(model: Classifier, path: Path) -> None:
    load_torchvision_weights(model, path, first_conv="features.0.weight", drop=("classifier.6.",))


@register_model(
    "vgg16", family="vgg16", input_kind="image", default_frontend=IMAGENET_FRONTEND, source=SOURCE, pretrained=True
)
def vgg16(**kwargs) -> Classifier:
    return build_classifier("vgg16", VGG16, {}, load_pretrained=load_vgg16_pretrained, **kwargs)
