"""DS-CNN: depthwise-separable CNN for keyword spotting ("Hello Edge").

Zhang, Suda, Lai, Chandra, "Hello Edge: Keyword Spotting on Microcontrollers", arXiv 1711.07128;
layer specs from ARM-software/ML-KWS-for-MCU ``train_commands.txt`` (``--model_size_info``) and
``models.py`` ``create_ds_cnn_model``. Input 10 MFCC × 49 frames (40 ms window, 20 ms hop).
A first conv (10 time × 4 frequency, TF "SAME" padding) + BN + ReLU, then depthwise 3×3 +
BN + ReLU + pointwise 1×1 + BN + ReLU blocks, global average pooling. Convs carry no bias (BN
follows). Sizes (12 classes): S 23.2k params, M 137k, L 414k — the published layer specs.
Our layout is (frequency, time), so TF's (time, frequency) kernels and strides are swapped here.
"""

from __future__ import annotations

import torch
from torch import nn

from wavetag.models.base import Classifier
from wavetag.models.factory import InputSpec, build_classifier
from wavetag.models.layers import Conv2dSame
from wavetag.models.registry import register_model

SOURCE = (
    "Zhang et al., Hello Edge: Keyword Spotting on Microcontrollers (arXiv 1711.07128); ARM-software/ML-KWS-for-MCU"
)
DEFAULT_FRONTEND = {
    "name": "mfcc",
    "n_mfcc": 10,
    "n_mels": 40,
    "win_s": 0.04,
    "hop_s": 0.02,
    "n_fft": 640,
    "center": False,
}


class DSBlock(nn.Sequential):
    """Depthwise 3×3 (stride) + BN + ReLU, pointwise 1×1 + BN + ReLU."""

    def __init__(self, channels: int, stride: tuple[int, int]) -> None:
        super().__init__(
            Conv2dSame(channels, channels, 3, stride=stride, groups=channels, bias=False, channels_last=True),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            Conv2dSame(channels, channels, 1, bias=False, channels_last=True),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        )


class DSCNN(nn.Module):
    """Backbone: MFCC image ``[B, C, F, T]`` → embedding ``[B, channels]``.

    ``first_kernel`` / ``first_stride`` and ``block_strides`` are (frequency, time)."""

    def __init__(
        self,
        inp: InputSpec,
        *,
        channels: int = 64,
        first_kernel: tuple = (4, 10),
        first_stride: tuple = (2, 2),
        block_strides: tuple = ((1, 1),) * 4,
        head_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            Conv2dSame(
                inp.shape[0], channels, tuple(first_kernel), stride=tuple(first_stride), bias=False, channels_last=True
            ),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        )
        self.blocks = nn.Sequential(*[DSBlock(channels, tuple(s)) for s in block_strides])
        self.num_features = channels
        self.head_dropout = head_dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The convs run channels-last (`Conv2dSame(channels_last=True)`): oneDNN's depthwise and
        # 1×1 convs are several times faster in NHWC on these small maps (training at batch 32 on
        # one core: ~1,000 → ~1,450 clips/s of CPU time).
        return self.blocks(self.stem(x)).mean(dim=(2, 3))  # (B, channels)


def _create_ds_cnn(variant: str, arch: dict, **kwargs) -> Classifier:
    return build_classifier(variant, DSCNN, arch, **kwargs)


def _reg(name: str):
    return register_model(name, family="ds_cnn", input_kind="image", default_frontend=DEFAULT_FRONTEND, source=SOURCE)


@_reg("ds_cnn_s")
def ds_cnn_s(**kwargs) -> Classifier:
    return _create_ds_cnn("ds_cnn_s", dict(channels=64, first_stride=(2, 2), block_strides=((1, 1),) * 4), **kwargs)


@_reg("ds_cnn_m")
def ds_cnn_m(**kwargs) -> Classifier:
    return _create_ds_cnn(
        "ds_cnn_m", dict(channels=172, first_stride=(1, 2), block_strides=((2, 2),) + ((1, 1),) * 3), **kwargs
    )


@_reg("ds_cnn_l")
def ds_cnn_l(**kwargs) -> Classifier:
    return _create_ds_cnn(
        "ds_cnn_l", dict(channels=276, first_stride=(1, 2), block_strides=((2, 2),) + ((1, 1),) * 4), **kwargs
    )
