"""SqueezeNet 1.1 on spectrograms, with torchvision's parameter names.

Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model
size", arXiv 1602.07360 (v1.1 from forresti/SqueezeNet); ``torchvision.models.squeezenet1_1``.
torchvision's head (dropout, 1×1 conv to the classes, ReLU, average pool) becomes: average pool
of ``features`` → embedding [B, 512] → dropout → linear head; ``classifier.*`` weights are skipped.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier, probe_shape
from wavetag.models.pretrained import IMAGENET_FRONTEND, IMAGENET_SOURCE, load_torchvision_weights
from wavetag.models.registry import register_model

SOURCE = f"Iandola et al., SqueezeNet (arXiv 1602.07360); {IMAGENET_SOURCE}"


class Fire(nn.Module):
    def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int, expand3x3_planes: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1
        )


class SqueezeNet(nn.Module):
    """Backbone: image ``[B, C, F, T]`` → ``[B, 512]``."""

    def __init__(self, inp: InputSpec, *, head_dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(inp.shape[0], 64, 3, stride=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(64, 16, 64, 64),
            Fire(128, 16, 64, 64),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(128, 32, 128, 128),
            Fire(256, 32, 128, 128),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(256, 48, 192, 192),
            Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256),
            Fire(512, 64, 256, 256),
        )
        probe_shape(self.features, inp.shape, what="squeezenet1_1")
        self.num_features = 512
        self.head_dropout = head_dropout
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))  # (B, 512)


def load_squeezenet_pretrained(model: Classifier, path: Path) -> None:
    load_torchvision_weights(model, path, first_conv="features.0.weight", drop=("classifier.",))


@register_model(
    "squeezenet1_1",
    family="squeezenet",
    input_kind="image",
    default_frontend=IMAGENET_FRONTEND,
    source=SOURCE,
    pretrained=True,
)
def squeezenet1_1(**kwargs) -> Classifier:
    return build_classifier("squeezenet1_1", SqueezeNet, {}, load_pretrained=load_squeezenet_pretrained, **kwargs)
