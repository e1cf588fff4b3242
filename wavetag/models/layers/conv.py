"""Convolution blocks shared by the families: causal 1-D, TF-"SAME" 2-D, conv + norm + act."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class CausalConv1d(nn.Conv1d):
    """``Conv1d`` that only sees the past: ``(kernel_size - 1) * dilation`` zeros on the left,
    so ``[B, C_in, T] -> [B, C_out, T]`` and output ``t`` depends on inputs ``<= t``."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, *, dilation: int = 1, bias: bool = True
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation, bias=bias)
        self.left_pad = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left_pad, 0)))  # (B, C_out, T)


def same_pad_amounts(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) along one axis: output = ceil(size / stride)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """``Conv2d`` with TensorFlow "SAME" padding (asymmetric when the total is odd), for models
    ported from TF (DS-CNN). The amounts depend only on the input's spatial size, which is fixed
    for an exported model. ``channels_last=True`` runs the convolution in NHWC (input and a
    channels-last view of the weight; the parameter itself stays contiguous, so state dicts save
    as they are) — much faster in oneDNN for depthwise and 1×1 convs on small maps."""

    def __init__(self, *args, channels_last: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        top, bottom = same_pad_amounts(int(x.shape[-2]), kh, sh, dh)
        left, right = same_pad_amounts(int(x.shape[-1]), kw, sw, dw)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        weight = self.weight
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
            weight = weight.contiguous(memory_format=torch.channels_last)
        return self._conv_forward(x, weight, self.bias)


def conv_bn_act(
    in_channels: int,
    out_channels: int,
    kernel_size: int | tuple,
    *,
    stride: int | tuple = 1,
    padding: int | tuple | None = None,
    groups: int = 1,
    dims: int = 2,
    act: type[nn.Module] | None = nn.ReLU,
) -> nn.Sequential:
    """Conv (no bias) → BatchNorm → activation; ``padding=None`` keeps the size ("same", odd kernels)."""
    conv_cls, bn_cls = (nn.Conv1d, nn.BatchNorm1d) if dims == 1 else (nn.Conv2d, nn.BatchNorm2d)
    if padding is None:
        ks = kernel_size if isinstance(kernel_size, tuple) else (kernel_size,) * dims
        padding = tuple(k // 2 for k in ks)
    layers: list[nn.Module] = [
        conv_cls(in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups, bias=False),
        bn_cls(out_channels),
    ]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)
