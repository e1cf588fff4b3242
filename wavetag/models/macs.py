"""Multiply-accumulate counting with forward hooks, as the papers count it.

Counted: ``nn.Conv1d``/``nn.Conv2d`` (output elements × input channels per group × kernel size),
``nn.Linear`` (output elements × input features), and any module with a ``count_macs(inputs,
output) -> int`` method (attention's two matmuls, SincNet's generated-filter convolution).
Not counted: biases, normalisation, activations, pooling, the front end. Figures are per clip
(the batch axis divided out).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def conv_macs(module: nn.modules.conv._ConvNd, output: torch.Tensor) -> int:
    per_output = (module.in_channels // module.groups) * math.prod(module.kernel_size)
    return output.numel() * per_output


def linear_macs(module: nn.Linear, output: torch.Tensor) -> int:
    return output.numel() * module.in_features


@torch.no_grad()
def count_macs(modules: list[nn.Module], run: callable, batch_size: int) -> int:
    """MACs per clip of the Conv/Linear/``count_macs`` modules inside ``modules`` while
    ``run()`` executes one forward pass on ``batch_size`` clips."""
    total = 0

    def hook(mod: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if hasattr(mod, "count_macs"):
            total += mod.count_macs(inputs, output)
        elif isinstance(mod, (nn.Conv1d, nn.Conv2d)):
            total += conv_macs(mod, output)
        elif isinstance(mod, nn.Linear):
            total += linear_macs(mod, output)

    handles = []
    for root in modules:
        for mod in root.modules():
            if hasattr(mod, "count_macs") or isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                handles.append(mod.register_forward_hook(hook))
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return total // batch_size
