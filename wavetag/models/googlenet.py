"""GoogLeNet (Inception v1) on spectrograms, with torchvision's parameter names.

Szegedy et al., "Going Deeper with Convolutions", CVPR 2015, arXiv 1409.4842;
``torchvision.models.googlenet`` (BN after every conv; branch 3 uses a 3×3 conv as torchvision
does). The auxiliary classifiers are left out (their pretrained weights are skipped) and so is
``transform_input`` (it re-normalises RGB ImageNet input, which a spectrogram is not).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier, probe_shape
from wavetag.models.pretrained import IMAGENET_FRONTEND, IMAGENET_SOURCE, load_torchvision_weights
from wavetag.models.registry import register_model

SOURCE = f"Szegedy et al., Going Deeper with Convolutions (arXiv 1409.4842); {IMAGENET_SOURCE}"


class BasicConv2d(nn.Module):
    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    def __init__(
        self, in_ch: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int, pool_proj: int
    ) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_ch, ch1x1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(in_ch, ch3x3red, 1), BasicConv2d(ch3x3red, ch3x3, 3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_ch, ch5x5red, 1), BasicConv2d(ch5x5red, ch5x5, 3, padding=1))
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), BasicConv2d(in_ch, pool_proj, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class GoogLeNet(nn.Module):
    """Backbone: image ``[B, C, F, T]`` → ``[B, 1024]``."""

    def __init__(self, inp: InputSpec, *, head_dropout: float = 0.2) -> None:
        super().__init__()
        self.conv1 = BasicConv2d(inp.shape[0], 64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, 1)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        self.num_features = 1024
        self.head_dropout = head_dropout
        probe_shape(self, inp.shape, what="googlenet")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))  # (B, 192, F/8, T/8)
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4c(self.inception4b(self.inception4a(x)))
        x = self.maxpool4(self.inception4e(self.inception4d(x)))
        x = self.inception5b(self.inception5a(x))  # (B, 1024, F/32, T/32)
        return x.mean(dim=(2, 3))


def load_googlenet_pretrained(model: Classifier, path: Path) -> None:
    load_torchvision_weights(model, path, first_conv="conv1.conv.weight", drop=("fc.", "aux1.", "aux2."))


@register_model(
    "googlenet",
    family="googlenet",
    input_kind="image",
    default_frontend=IMAGENET_FRONTEND,
    source=SOURCE,
    pretrained=True,
)
def googlenet(**kwargs) -> Classifier:
    return build_classifier("googlenet", GoogLeNet, {}, load_pretrained=load_googlenet_pretrained, **kwargs)
