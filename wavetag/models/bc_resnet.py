"""BC-ResNet: broadcasted residual learning for keyword spotting.

Kim, Chang, Lee, Sung, "Broadcasted Residual Learning for Efficient Keyword Spotting",
Interspeech 2021, arXiv 2106.04140; reference code Qualcomm-AI-research/bcresnet (``bcresnet.py``).
Input 40 log-mels × 101 frames. Each block has a 2-D part (frequency-depthwise 3×1 conv +
SubSpectralNorm with 5 sub-bands), averages over frequency, runs a 1-D part (temporal
depthwise 1×3 conv, dilated 2^stage, BN, SiLU, pointwise conv, channel dropout) and broadcasts
it back over frequency. BC-ResNet-τ has base width 8τ; for 12 classes the parameter counts are
the paper's: 9,232 (τ=1) / 17.2k / 27.3k / 54,168 / 188k / 321,068 (τ=8).
"""

from __future__ import annotations

import torch
from torch import nn

from wavetag.errors import ConfigError
from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier
from wavetag.models.layers import SubSpectralNorm
from wavetag.models.registry import register_model

SOURCE = (
    "Kim et al., Broadcasted Residual Learning for Efficient Keyword Spotting, Interspeech 2021 "
    "(arXiv 2106.04140); Qualcomm-AI-research/bcresnet"
)
DEFAULT_FRONTEND = {"name": "logmel", "n_mels": 40}
STAGE_REPEATS = (2, 2, 4, 4)
STRIDED_STAGES = (1, 2)  # stages whose first block halves the frequency axis


def _ceil_half(n: int) -> int:
    return (n + 1) // 2


class BCResBlock(nn.Module):
    """``[B, C_in, F, T] -> [B, C_out, F / stride, T]``; identity shortcut when C_in == C_out."""

    def __init__(
        self, in_channels: int, out_channels: int, *, stage: int, stride: int, sub_bands: int, dropout: float
    ) -> None:
        super().__init__()
        self.transition = in_channels != out_channels
        f2: list[nn.Module] = []
        if self.transition:
            f2 += [nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU()]
        f2 += [
            nn.Conv2d(
                out_channels, out_channels, (3, 1), stride=(stride, 1), padding=(1, 0), groups=out_channels, bias=False
            ),
            SubSpectralNorm(out_channels, sub_bands),
        ]
        self.f2 = nn.Sequential(*f2)
        dilation = 2**stage
        self.f1 = nn.Sequential(
            nn.Conv2d(
                out_channels,
                out_channels,
                (1, 3),
                padding=(0, dilation),
                dilation=(1, dilation),
                groups=out_channels,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels),
            nn.SiLU(),
            nn.Conv2d(out_channels, out_channels, 1, bias=False),
            nn.Dropout2d(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x2d = self.f2(x)  # (B, C, F', T)
        x = self.f1(x2d.mean(dim=2, keepdim=True)) + x2d  # (B, C, 1, T) broadcast over F'
        if not self.transition:
            x = x + shortcut
        return torch.relu(x)


class BCResNet(nn.Module):
    """Backbone: log-mel image ``[B, C, F, T]`` → embedding ``[B, 4 · base_channels]``."""

    def __init__(self, inp: InputSpec, *, base_channels: int = 8, sub_bands: int = 5, dropout: float = 0.1) -> None:
        super().__init__()
        in_channels, num_bands = inp.shape[0], inp.shape[1]
        c = base_channels
        widths = [2 * c, c, int(1.5 * c), 2 * c, int(2.5 * c), 4 * c]
        _check_bands(num_bands, sub_bands)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 5, stride=(2, 1), padding=2, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        blocks = []
        for stage, repeats in enumerate(STAGE_REPEATS):
            stride = 2 if stage in STRIDED_STAGES else 1
            blocks.append(
                BCResBlock(
                    widths[stage], widths[stage + 1], stage=stage, stride=stride, sub_bands=sub_bands, dropout=dropout
                )
            )
            blocks += [
                BCResBlock(
                    widths[stage + 1], widths[stage + 1], stage=stage, stride=1, sub_bands=sub_bands, dropout=dropout
                )
                for _ in range(repeats - 1)
            ]
        self.blocks = nn.Sequential(*blocks)
        self.tail = nn.Sequential(
            nn.Conv2d(widths[-2], widths[-2], 5, padding=(0, 2), groups=widths[-2], bias=False),
            nn.Conv2d(widths[-2], widths[-1], 1, bias=False),
            nn.BatchNorm2d(widths[-1]),
            nn.ReLU(),
        )
        self.num_features = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))  # (B, 2.5c, F/8, T)
        return self.tail(x).mean(dim=(2, 3))  # (B, 4c)


def _check_bands(num_bands: int, sub_bands: int) -> None:
    """Each SubSpectralNorm needs its frequency size divisible by ``sub_bands``; the tail's 5×5
    conv needs at least 5 bands left."""
    f = _ceil_half(num_bands)
    sizes = []
    for stage in range(len(STAGE_REPEATS)):
        if stage in STRIDED_STAGES:
            f = _ceil_half(f)
        sizes.append(f)
    if any(s % sub_bands for s in sizes) or sizes[-1] < 5:
        raise ConfigError(
            f"bc_resnet on {num_bands} frequency bands: the stages see {sizes} bands, which must be >= 5 and "
            f"divisible by sub_bands = {sub_bands}; use n_mels = 40 (or 80), or set sub_bands"
        )


def _create_bc_resnet(variant: str, arch: dict, **kwargs) -> Classifier:
    return build_classifier(variant, BCResNet, arch, **kwargs)


def _reg(name: str):
    return register_model(
        name, family="bc_resnet", input_kind="image", default_frontend=DEFAULT_FRONTEND, source=SOURCE
    )


@_reg("bc_resnet_1")
def bc_resnet_1(**kwargs) -> Classifier:
    return _create_bc_resnet("bc_resnet_1", dict(base_channels=8), **kwargs)


@_reg("bc_resnet_1_5")
def bc_resnet_1_5(**kwargs) -> Classifier:
    return _create_bc_resnet("bc_resnet_1_5", dict(base_channels=12), **kwargs)


@_reg("bc_resnet_2")
def bc_resnet_2(**kwargs) -> Classifier:
    return _create_bc_resnet("bc_resnet_2", dict(base_channels=16), **kwargs)


@_reg("bc_resnet_3")
def bc_resnet_3(**kwargs) -> Classifier:
    return _create_bc_resnet("bc_resnet_3", dict(base_channels=24), **kwargs)


@_reg("bc_resnet_6")
def bc_resnet_6(**kwargs) -> Classifier:
    return _create_bc_resnet("bc_resnet_6", dict(base_channels=48), **kwargs)


@_reg("bc_resnet_8")
def bc_resnet_8(**kwargs) -> Classifier:
    return _create_bc_resnet("bc_resnet_8", dict(base_channels=64), **kwargs)
