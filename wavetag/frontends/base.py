"""Front-end registry and base class.

A front end is an ``nn.Module`` inside the model: ``wav [B, 1, T] -> features``. Its config is a
dataclass, so a model directory rebuilds it from ``config.json`` alone. ``output_kind`` tells a
model what it receives:

- ``"waveform"``: ``[B, 1, T]``
- ``"sequence"``: ``[B, C, T']`` (e.g. μ-law one-hot ``[B, 256, T]``)
- ``"image"``:    ``[B, C, F, frames]`` (spectrogram-like; C = 1, or 1 + delta orders for MFCC)
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, get_args, get_type_hints

import torch
from torch import nn

from wavetag.config import check_range, check_types, config_from_dict, config_to_dict
from wavetag.errors import ConfigError
from wavetag.registry import Registry

AUTOCAST_DEVICES = ("cpu", "cuda")  # where autocast exists (MACs are counted on the meta device)
FRONTENDS: Registry[type[FrontEnd]] = Registry("front end")
OUTPUT_KINDS = ("waveform", "sequence", "image")


@dataclass
class FrontEndConfig:
    """Fields every front end has. ``sample_rate`` in Hz."""

    sample_rate: int = 16000

    def validate(self) -> None:
        check_types(type(self), self)  # every field of the subclass, from its annotations
        check_range("sample_rate", self.sample_rate, 1000, 384000)


def in_float32(fn: Callable[[torch.Tensor], torch.Tensor], wav: torch.Tensor) -> torch.Tensor:
    """``fn(wav)`` computed in float32, also inside an autocast region."""
    if wav.device.type in AUTOCAST_DEVICES and torch.is_autocast_enabled(wav.device.type):
        with torch.autocast(device_type=wav.device.type, enabled=False):
            return fn(wav.float())
    return fn(wav)


class FrontEnd(nn.Module, abc.ABC):
    """Base class: subclasses set ``name``, ``config_class``, ``output_kind`` and implement
    ``forward`` and ``output_shape``."""

    name: ClassVar[str]
    config_class: ClassVar[type[FrontEndConfig]]
    output_kind: ClassVar[str]

    def __init__(self, config: FrontEndConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def bf16_in_training(self) -> bool:
        """Whether this front end computes inside the training step's bfloat16 autocast (a
        front end whose config asks for it, e.g. ``whisper_encoder``'s ``bf16_in_training``)."""
        return False

    def __call__(self, wav: torch.Tensor) -> torch.Tensor:
        # Features are computed in float32, also inside a bfloat16 autocast (`train --bf16`):
        # log-mels and the frozen speech embedding lose precision in bfloat16, and predict, serve
        # and the ONNX export compute them in float32, so training does too. The one exception is
        # a front end that asks for bfloat16 in training (`bf16_in_training`), and only in train mode.
        if self.training and self.bf16_in_training:
            return super().__call__(wav)
        return in_float32(super().__call__, wav)

    @abc.abstractmethod
    def output_shape(self, num_samples: int) -> tuple[int, ...]:
        """Per-clip output shape (no batch axis) for ``num_samples`` input samples."""

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., **config}``; `frontend_from_dict` turns it back into this front end."""
        return {"name": self.name, **config_to_dict(self.config)}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in config_to_dict(self.config).items())

    @staticmethod
    def check_input(wav: torch.Tensor) -> None:
        if wav.dim() != 3 or wav.shape[1] != 1:
            raise ConfigError(f"front end input has shape {tuple(wav.shape)}; expected [batch, 1, samples]")


def register_frontend(cls: type[FrontEnd]) -> type[FrontEnd]:
    """Class decorator: add a `FrontEnd` subclass to the registry under ``cls.name``."""
    assert cls.output_kind in OUTPUT_KINDS, cls.output_kind
    return FRONTENDS.register(cls.name, output_kind=cls.output_kind)(cls)


def create_frontend(name: str, *, sample_rate: int = 16000, **kwargs: Any) -> FrontEnd:
    """Build front end ``name``; ``kwargs`` are fields of its config (``None`` = default).

    >>> fe = create_frontend("logmel", n_mels=40)
    >>> fe.output_shape(16000)
    (1, 40, 101)
    """
    cls = FRONTENDS.get(name)
    config = config_from_dict(cls.config_class, {"sample_rate": sample_rate, **kwargs}, where=f"frontend {name}")
    return cls(config)


def frontend_from_dict(spec: dict[str, Any]) -> FrontEnd:
    """Rebuild a front end from `FrontEnd.to_dict` output.

    In `create_frontend` ``None`` means "the default" (an unset CLI flag). Here, for a field that
    admits ``None`` (``top_db: null`` = no dB floor), it is the saved value and is kept, so a
    saved front end comes back as it was; elsewhere it still means the default.
    """
    if not isinstance(spec, dict) or "name" not in spec:
        raise ConfigError(f"front end spec {spec!r}; expected a mapping with a 'name' field")
    spec = dict(spec)
    name = spec.pop("name")
    cls = FRONTENDS.get(name)
    config = config_from_dict(cls.config_class, spec, where=f"frontend {name}")
    hints = get_type_hints(cls.config_class)
    saved_none = {k: None for k, v in spec.items() if v is None and type(None) in get_args(hints.get(k))}
    return cls(dataclasses.replace(config, **saved_none))


def list_frontends() -> list[str]:
    return FRONTENDS.names()


def config_fields(name: str) -> list[dataclasses.Field]:
    """The config fields of front end ``name`` (for help texts and the CLI)."""
    return list(dataclasses.fields(FRONTENDS.get(name).config_class))
