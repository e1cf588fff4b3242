"""DenseNet-121 on spectrograms, with torchvision's parameter names.

Huang, Liu, van der Maaten, Weinberger, "Densely Connected Convolutional Networks", CVPR 2017,
arXiv 1608.06993; ``torchvision.models.densenet121`` (growth 32, blocks 6/12/24/16, bottleneck
4×, compression 0.5). ``pretrained=PATH`` also accepts torchvision's legacy key names
(``norm.1`` → ``norm1``).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier
from wavetag.models.pretrained import IMAGENET_FRONTEND, IMAGENET_SOURCE, densenet_rename, load_torchvision_weights
from wavetag.models.registry import register_model

SOURCE = f"Huang et al., Densely Connected Convolutional Networks (arXiv 1608.06993); {IMAGENET_SOURCE}"


class DenseLayer(nn.Module):
    def __init__(self, in_features: int, growth_rate: int, bn_size: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_features, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))
        return self.conv2(self.relu2(self.norm2(x)))


class DenseBlock(nn.ModuleDict):
    def __init__(self, num_layers: int, in_features: int, bn_size: int, growth_rate: int) -> None:
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}", DenseLayer(in_features + i * growth_rate, growth_rate, bn_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_features, out_features, 1, bias=False)
        self.pool = nn.AvgPool2d(2, stride=2)


class DenseNet(nn.Module):
    """Backbone: image ``[B, C, F, T]`` → ``[B, 1024]`` (DenseNet-121)."""

    def __init__(
        self,
        inp: InputSpec,
        *,
        growth_rate: int = 32,
        block_config: tuple = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
    ) -> None:
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv0=nn.Conv2d(inp.shape[0], num_init_features, 7, stride=2, padding=3, bias=False),
            norm0=nn.BatchNorm2d(num_init_features),
            relu0=nn.ReLU(inplace=True),
            pool0=nn.MaxPool2d(3, stride=2, padding=1),
        )
        c = num_init_features
        for i, num_layers in enumerate(block_config):
            layers[f"denseblock{i + 1}"] = DenseBlock(num_layers, c, bn_size, growth_rate)
            c += num_layers * growth_rate
            if i != len(block_config) - 1:
                layers[f"transition{i + 1}"] = Transition(c, c // 2)
                c //= 2
        layers["norm5"] = nn.BatchNorm2d(c)
        self.features = nn.Sequential(layers)
        self.num_features = c
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.features(x)).mean(dim=(2, 3))  # (B, 1024)


def load_densenet_pretrained(model: Classifier, path: Path) -> None:
    load_torchvision_weights(
        model, path, first_conv="features.conv0.weight", drop=("classifier.",), rename=densenet_rename
    )


@register_model(
    "densenet121",
    family="densenet",
    input_kind="image",
    default_frontend=IMAGENET_FRONTEND,
    source=SOURCE,
    pretrained=True,
)
def densenet121(**kwargs) -> Classifier:
    return build_classifier("densenet121", DenseNet, {}, load_pretrained=load_densenet_pretrained, **kwargs)
