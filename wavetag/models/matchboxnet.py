"""MatchboxNet: 1-D time-channel separable convolutions for speech commands.

Majumdar & Ginsburg, "MatchboxNet: 1D Time-Channel Separable Convolutional Neural Network
Architecture for Speech Commands Recognition", Interspeech 2020, arXiv 2004.08531; configuration
NVIDIA/NeMo ``examples/asr/conf/matchboxnet/matchboxnet_3x1x64_v1.yaml``. Input 64 MFCC as
channels over time. A B×R×C network: prologue (separable 11-tap, 128 ch), B blocks of R
sub-blocks (depthwise k-tap → pointwise → BN → ReLU → dropout; the last sub-block adds a
pointwise + BN residual before its ReLU) with C channels and kernels 13, 15, 17, ..., epilogue
(separable 29-tap dilation 2, 128 ch; 1×1 conv 128 ch), average pooling, linear classifier
(3x1x64 ≈ 77k params for 35 classes).
"""

from __future__ import annotations

import torch
from torch import nn

from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier
from wavetag.models.registry import register_model

SOURCE = "Majumdar & Ginsburg, MatchboxNet, Interspeech 2020 (arXiv 2004.08531); NVIDIA/NeMo matchboxnet_3x1x64_v1.yaml"
DEFAULT_FRONTEND = {"name": "mfcc", "n_mfcc": 64, "n_mels": 64, "win_s": 0.025, "hop_s": 0.01, "n_fft": 512}


def _sep_conv_bn(
    in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1, separable: bool = True
) -> list[nn.Module]:
    pad = dilation * (kernel_size - 1) // 2
    if not separable:
        return [
            nn.Conv1d(in_channels, out_channels, kernel_size, padding=pad, dilation=dilation, bias=False),
            nn.BatchNorm1d(out_channels),
        ]
    return [
        nn.Conv1d(
            in_channels, in_channels, kernel_size, padding=pad, dilation=dilation, groups=in_channels, bias=False
        ),
        nn.Conv1d(in_channels, out_channels, 1, bias=False),
        nn.BatchNorm1d(out_channels),
    ]


class JasperBlock(nn.Module):
    """R separable sub-blocks ``[B, C_in, T] -> [B, C_out, T]``; optional residual (1×1 conv + BN)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        repeat: int = 1,
        dilation: int = 1,
        residual: bool = True,
        separable: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for i in range(repeat):
            layers += _sep_conv_bn(c, out_channels, kernel_size, dilation, separable)
            if i < repeat - 1:
                layers += [nn.ReLU(), nn.Dropout(dropout)]
            c = out_channels
        self.convs = nn.Sequential(*layers)
        self.residual = (
            nn.Sequential(nn.Conv1d(in_channels, out_channels, 1, bias=False), nn.BatchNorm1d(out_channels))
            if residual
            else None
        )
        self.out = nn.Sequential(nn.ReLU(), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convs(x)
        if self.residual is not None:
            y = y + self.residual(x)
        return self.out(y)


class MatchboxNet(nn.Module):
    """Backbone: MFCC image ``[B, C, F, T]`` (C·F channels over time) → ``[B, 128]``."""

    def __init__(
        self,
        inp: InputSpec,
        *,
        num_blocks: int = 3,
        repeat: int = 1,
        channels: int = 64,
        kernels: tuple = (13, 15, 17),
        dropout: float = 0.0,
        head_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        in_channels = inp.shape[0] * inp.shape[1]
        kernels = tuple(kernels) + tuple(kernels[-1] + 2 * (i + 1) for i in range(num_blocks - len(kernels)))
        layers = [JasperBlock(in_channels, 128, 11, residual=False, dropout=dropout)]
        c = 128
        for b in range(num_blocks):
            layers.append(JasperBlock(c, channels, kernels[b], repeat=repeat, dropout=dropout))
            c = channels
        layers.append(JasperBlock(c, 128, 29, dilation=2, residual=False, dropout=dropout))
        layers.append(JasperBlock(128, 128, 1, residual=False, separable=False, dropout=dropout))
        self.encoder = nn.Sequential(*layers)
        self.num_features = 128
        self.head_dropout = head_dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1, 2)).mean(dim=-1)  # (B, 128)


def _create_matchboxnet(variant: str, arch: dict, **kwargs) -> Classifier:
    return build_classifier(variant, MatchboxNet, arch, **kwargs)


@register_model(
    "matchboxnet_3x1x64", family="matchboxnet", input_kind="image", default_frontend=DEFAULT_FRONTEND, source=SOURCE
)
def matchboxnet_3x1x64(**kwargs) -> Classifier:
    return _create_matchboxnet("matchboxnet_3x1x64", dict(num_blocks=3, repeat=1, channels=64), **kwargs)
