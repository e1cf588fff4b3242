"""Reading local pretrained weights: ``.safetensors`` or a ``torch.save`` state dict read with
``torch.load(weights_only=True)`` (tensors only; no code runs). Nothing is downloaded.

`load_torchvision_weights` loads an ImageNet state dict with torchvision's parameter names into
one of the image backbones: the first conv is averaged over its RGB channels (one channel for a
spectrogram; repeated for C > 1), the ImageNet classifier is dropped (the model keeps its own
freshly initialised head), and every other tensor must match by name and shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from wavetag.errors import CheckpointError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
IMAGENET_FRONTEND = {"name": "logmel", "n_mels": 128}
IMAGENET_SOURCE = (
    "Hershey et al., CNN Architectures for Large-Scale Audio Classification, ICASSP 2017 (arXiv 1609.09430); "
    "torchvision.models"
)


def weights_file(path: Path) -> Path:
    """``path`` itself, or the weights file inside directory ``path``."""
    if path.is_dir():
        for name in WEIGHT_FILES:
            if (path / name).is_file():
                return path / name
        found = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", *TORCH_SUFFIXES))
        if not found:
            raise CheckpointError(
                f"{path}: no weights file (looked for {', '.join(WEIGHT_FILES)}, *.safetensors, *.pth)"
            )
        return found[0]
    if not path.is_file():
        raise CheckpointError(f"{path}: pretrained weights not found")
    return path


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a local weights file or directory (see module docstring)."""
    file = weights_file(Path(path))
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(file))
        elif file.suffix in TORCH_SUFFIXES:
            state = torch.load(file, map_location="cpu", weights_only=True)
        else:
            raise CheckpointError(f"{file}: unknown weights format (expected .safetensors, .pth, .pt or .bin)")
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes one clear error
        raise CheckpointError(f"{file}: cannot read weights ({type(exc).__name__}: {exc})") from None
    for key in ("state_dict", "model"):  # training checkpoints wrap the weights
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{file}: expected a mapping of parameter names to tensors")
    return {_strip(k, "module."): v for k, v in state.items()}


def adapt_first_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """``[O, 3, ...]`` RGB kernel → ``[O, in_channels, ...]``: unchanged for 3, else the mean over
    the RGB channels repeated ``in_channels`` times."""
    if weight.shape[1] == in_channels:
        return weight
    return weight.mean(dim=1, keepdim=True).repeat(1, in_channels, *([1] * (weight.dim() - 2)))


def load_into(module: nn.Module, state: dict[str, torch.Tensor], *, where: Path, what: str) -> None:
    """Load ``state`` into ``module``: every tensor of the module must be present with its shape
    (BatchNorm ``num_batches_tracked`` counters, absent from older checkpoints, are kept)."""
    own = module.state_dict()
    state = {**{k: v for k, v in own.items() if k.endswith("num_batches_tracked")}, **state}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"{where}: not {what} weights for this configuration (missing: {_few(missing)}; unexpected: "
            f"{_few(unexpected)})"
        )
    for key in own:  # the model's order, so the first mismatch reported is the earliest layer
        value = state[key]
        if tuple(value.shape) != tuple(own[key].shape):
            raise CheckpointError(
                f"{where}: {key} has shape {tuple(value.shape)}, the {what} built here expects "
                f"{tuple(own[key].shape)}; "
                "build the model with the checkpoint's configuration"
            )
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def load_torchvision_weights(
    model: nn.Module,
    path: Path,
    *,
    first_conv: str,
    drop: tuple[str, ...],
    rename: Callable[[str], str] | None = None,
) -> None:
    """Load torchvision ImageNet weights into ``model.backbone`` (see module docstring).
    ``first_conv``: key of the first conv's weight; ``drop``: key prefixes of the ImageNet head
    and auxiliary classifiers; ``rename``: maps legacy key names."""
    state = read_state_dict(path)
    if rename is not None:
        state = {rename(k): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith(drop)}
    backbone = model.backbone
    if first_conv in state:
        in_channels = backbone.state_dict()[first_conv].shape[1]
        state[first_conv] = adapt_first_conv(state[first_conv], in_channels)
    load_into(backbone, state, where=path, what=f"{model.name} ImageNet")


def densenet_rename(key: str) -> str:
    """torchvision's legacy DenseNet names (``denselayer1.norm.1.weight`` → ``denselayer1.norm1.weight``)."""
    return re.sub(
        r"(denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$",
        lambda m: m.group(1) + m.group(2),
        key,
    )


def _strip(key: str, prefix: str) -> str:
    return key[len(prefix) :] if key.startswith(prefix) else key


def _few(keys: list[str], n: int = 4) -> str:
    if not keys:
        return "none"
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")
