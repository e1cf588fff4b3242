"""Pooling that exports: adaptive average pooling to any size as two matrix products.

The legacy ONNX exporter only handles adaptive pooling when the output size is 1 or divides the
input size; torchvision's AlexNet/VGG pool spectrogram feature maps (e.g. 4 × 3) up to 6 × 6 /
7 × 7. Eager mode uses ``F.adaptive_avg_pool2d``; export uses the equivalent ``P_h @ x @ P_wᵀ``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def adaptive_pool_matrix(in_size: int, out_size: int, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``[out_size, in_size]``: row i averages inputs ``floor(i*in/out) .. ceil((i+1)*in/out) - 1``
    (PyTorch's adaptive pooling bins)."""
    m = torch.zeros(out_size, in_size, dtype=dtype)
    for i in range(out_size):
        start = (i * in_size) // out_size
        end = -((-(i + 1) * in_size) // out_size)
        m[i, start:end] = 1.0 / (end - start)
    return m


class AdaptiveAvgPool2d(nn.Module):
    """Drop-in for ``nn.AdaptiveAvgPool2d(output_size)`` (no parameters) that exports to ONNX."""

    def __init__(self, output_size: int | tuple[int, int]) -> None:
        super().__init__()
        self.output_size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.onnx.is_in_onnx_export():
            return F.adaptive_avg_pool2d(x, self.output_size)
        oh, ow = self.output_size
        ph = adaptive_pool_matrix(int(x.shape[-2]), oh, dtype=x.dtype).to(x.device)
        pw = adaptive_pool_matrix(int(x.shape[-1]), ow, dtype=x.dtype).to(x.device)
        return torch.matmul(torch.matmul(ph, x), pw.t())  # (B, C, oh, ow)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
