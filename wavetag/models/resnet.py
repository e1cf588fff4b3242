"""ResNet-18/34/50 on spectrograms, with torchvision's parameter names.

He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, arXiv 1512.03385;
layout and names of ``torchvision.models.resnet`` (v1.5: stride on the 3×3 conv of the
bottleneck). Applied to log-mel images as in Hershey et al. 2017 (arXiv 1609.09430). The first
conv takes the front end's C channels (1 for a log-mel); ``pretrained=PATH`` loads a torchvision
ImageNet state dict (conv1 averaged over RGB, ``fc`` replaced by this model's head).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier
from wavetag.models.pretrained import IMAGENET_FRONTEND, IMAGENET_SOURCE, load_torchvision_weights
from wavetag.models.registry import register_model

SOURCE = f"He et al., Deep Residual Learning for Image Recognition (arXiv 1512.03385); {IMAGENET_SOURCE}"


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    """Backbone: image ``[B, C, F, T]`` → ``[B, 8 · width · expansion]`` (512 / 2048 at width 64)."""

    def __init__(self, inp: InputSpec, *, block: str = "basic", layers: tuple = (2, 2, 2, 2), width: int = 64) -> None:
        super().__init__()
        block_cls = BLOCKS[block]
        self.inplanes = width
        self.conv1 = nn.Conv2d(inp.shape[0], width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(block_cls, width, layers[0])
        self.layer2 = self._make_layer(block_cls, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block_cls, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block_cls, width * 8, layers[3], stride=2)
        self.num_features = width * 8 * block_cls.expansion
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block_cls: type, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block_cls.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block_cls.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block_cls.expansion),
            )
        layers = [block_cls(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block_cls.expansion
        layers += [block_cls(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, w, F/4, T/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 8w·e, F/32, T/32)
        return x.mean(dim=(2, 3))


def load_resnet_pretrained(model: Classifier, path: Path) -> None:
    load_torchvision_weights(model, path, first_conv="conv1.weight", drop=("fc.",))


def _create_resnet(variant: str, arch: dict, **kwargs) -> Classifier:
    return build_classifier(variant, ResNet, arch, load_pretrained=load_resnet_pretrained, **kwargs)


def _reg(name: str):
    return register_model(
        name, family="resnet", input_kind="image", default_frontend=IMAGENET_FRONTEND, source=SOURCE, pretrained=True
    )


@_reg("resnet18")
def resnet18(**kwargs) -> Classifier:
    return _create_resnet("resnet18", dict(block="basic", layers=(2, 2, 2, 2)), **kwargs)


@_reg("resnet34")
def resnet34(**kwargs) -> Classifier:
    return _create_resnet("resnet34", dict(block="basic", layers=(3, 4, 6, 3)), **kwargs)


@_reg("resnet50")
def resnet50(**kwargs) -> Classifier:
    return _create_resnet("resnet50", dict(block="bottleneck", layers=(3, 4, 6, 3)), **kwargs)
