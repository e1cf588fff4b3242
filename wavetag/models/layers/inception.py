"""The 1-D Inception module of WavCeption (see `wavetag.models.wavception`).

Eight parallel branches on ``[B, C, T]``, each ending in BatchNorm + ReLU, concatenated:
1×1; 1×1 → 3; 1×1 → 5; 1×1 → 7; maxpool 3 → 1×1; maxpool 5 → 1×1; avgpool 3 → 1×1;
avgpool 5 → 1×1 (pools with stride 1 and "same" padding). Output ``[B, 8 * width, T]``.
"""

from __future__ import annotations

import torch
from torch import nn

from wavetag.models.layers.conv import conv_bn_act


class Inception1d(nn.Module):
    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        self.out_channels = 8 * width
        self.conv1 = conv_bn_act(in_channels, width, 1, dims=1)
        self.conv3 = nn.Sequential(conv_bn_act(in_channels, width, 1, dims=1), conv_bn_act(width, width, 3, dims=1))
        self.conv5 = nn.Sequential(conv_bn_act(in_channels, width, 1, dims=1), conv_bn_act(width, width, 5, dims=1))
        self.conv7 = nn.Sequential(conv_bn_act(in_channels, width, 1, dims=1), conv_bn_act(width, width, 7, dims=1))
        self.max3 = nn.Sequential(nn.MaxPool1d(3, 1, 1), conv_bn_act(in_channels, width, 1, dims=1))
        self.max5 = nn.Sequential(nn.MaxPool1d(5, 1, 2), conv_bn_act(in_channels, width, 1, dims=1))
        self.avg3 = nn.Sequential(
            nn.AvgPool1d(3, 1, 1, count_include_pad=False), conv_bn_act(in_channels, width, 1, dims=1)
        )
        self.avg5 = nn.Sequential(
            nn.AvgPool1d(5, 1, 2, count_include_pad=False), conv_bn_act(in_channels, width, 1, dims=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.conv1, self.conv3, self.conv5, self.conv7, self.max3, self.max5, self.avg3, self.avg5)
        return torch.cat([b(x) for b in branches], dim=1)  # (B, 8 * width, T)
