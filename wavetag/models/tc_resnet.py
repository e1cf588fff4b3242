"""TC-ResNet: temporal convolutions for real-time keyword spotting.

Choi, Park, Kim, Seo, Lee, Kang, Ha, "Temporal Convolution for Real-time Keyword Spotting on
Mobile Devices", Interspeech 2019, arXiv 1904.03814; reference code hyperconnect/TC-ResNet.
The 40 MFCCs are the channels of a 1-D signal over time: a 3-tap conv to 16·k channels, then
residual blocks (two 9-tap convs with BN, the first with stride 2; a 1×1 conv + BN shortcut when
the width changes), global average pooling. TC-ResNet8 ≈ 66k params, TC-ResNet14 ≈ 137k
(paper); ``width_mult`` = k (TC-ResNet14-1.5: ``width_mult=1.5``).
"""

from __future__ import annotations

import torch
from torch import nn

from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier
from wavetag.models.layers import conv_bn_act
from wavetag.models.registry import register_model

SOURCE = (
    "Choi et al., Temporal Convolution for Real-time Keyword Spotting on Mobile Devices, Interspeech 2019 "
    "(arXiv 1904.03814); hyperconnect/TC-ResNet"
)
DEFAULT_FRONTEND = {"name": "mfcc", "n_mfcc": 40, "n_mels": 40}


class TCBlock(nn.Module):
    """``[B, C_in, T] -> [B, C_out, T / stride]``."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int, kernel_size: int = 9) -> None:
        super().__init__()
        self.conv1 = conv_bn_act(in_channels, out_channels, kernel_size, stride=stride, dims=1)
        self.conv2 = conv_bn_act(out_channels, out_channels, kernel_size, dims=1, act=None)
        self.shortcut = (
            conv_bn_act(in_channels, out_channels, 1, stride=stride, dims=1)
            if stride != 1 or in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class TCResNet(nn.Module):
    """Backbone: MFCC image ``[B, C, F, T]`` (C·F channels over time) → ``[B, last width]``."""

    def __init__(
        self,
        inp: InputSpec,
        *,
        widths: tuple = (24, 32, 48),
        blocks_per_stage: int = 1,
        width_mult: float = 1.0,
        head_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        in_channels = inp.shape[0] * inp.shape[1]
        first = int(16 * width_mult)
        self.stem = conv_bn_act(in_channels, first, 3, dims=1)
        layers, c = [], first
        for w in widths:
            w = int(w * width_mult)
            layers.append(TCBlock(c, w, stride=2))
            layers += [TCBlock(w, w, stride=1) for _ in range(blocks_per_stage - 1)]
            c = w
        self.blocks = nn.Sequential(*layers)
        self.num_features = c
        self.head_dropout = head_dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1, 2)  # (B, C * F, T)
        return self.blocks(self.stem(x)).mean(dim=-1)  # (B, width)


def _create_tc_resnet(variant: str, arch: dict, **kwargs) -> Classifier:
    return build_classifier(variant, TCResNet, arch, **kwargs)


def _reg(name: str):
    return register_model(
        name, family="tc_resnet", input_kind="image", default_frontend=DEFAULT_FRONTEND, source=SOURCE
    )


@_reg("tc_resnet_8")
def tc_resnet_8(**kwargs) -> Classifier:
    return _create_tc_resnet("tc_resnet_8", dict(blocks_per_stage=1), **kwargs)


@_reg("tc_resnet_14")
def tc_resnet_14(**kwargs) -> Classifier:
    return _create_tc_resnet("tc_resnet_14", dict(blocks_per_stage=2), **kwargs)
