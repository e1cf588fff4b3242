"""Augmentation registry, base class and the random draws they share.

Every augmentation works on a whole batch with tensor ops and splits its work in two, as
audiomentations does:

- ``sample(batch_size, *, generator, device)`` draws *all* the randomness for a batch — including
  the per-clip "applied or not" mask from ``p`` — from the given ``torch.Generator`` (never the
  global RNG, so restoring the generator's state restores the augmentation stream exactly);
- ``apply(x, params)`` is pure: the same ``x`` and params always give the same output, and
  applying params to a batch equals applying each clip's slice of them to that clip.

``aug(x, generator)`` is ``aug.apply(x, aug.sample(len(x), ...))``; it is the identity when the
augmentation is off (``p == 0``) or in evaluation mode (``aug.eval()``).

Where the draw depends on the signal's size (a noise window start, a mask position), the params
hold a fraction in [0, 1) and ``apply`` turns it into an index for the size it is given.
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import torch

from wavetag.config import check_range, check_types, config_from_dict
from wavetag.errors import ConfigError
from wavetag.registry import Registry

AUGMENTATIONS: Registry[type[Augmentation]] = Registry("augmentation")

P = TypeVar("P", bound="Params")
Device = torch.device | str | None
RMS_EPS = 1e-12  # floor under an RMS we divide by: an all-zero clip or noise window gives 0, not NaN


@dataclass
class AugmentationConfig:
    """``p``: probability that a clip is augmented (drawn per clip); 0 turns it off."""

    p: float = 0.0

    def validate(self) -> None:
        check_types(type(self), self)  # every field of the subclass, from its annotations
        check_range("p", self.p, 0.0, 1.0)


@dataclass
class Params:
    """Random draws for one batch. Every field is a tensor whose first axis is the batch."""

    applied: torch.Tensor  # bool [B]: which clips this augmentation changes

    @property
    def batch_size(self) -> int:
        return int(self.applied.shape[0])

    def select(self: P, index: int | slice | torch.Tensor) -> P:
        """The params of clips ``index`` (an int keeps the batch axis: ``[i:i+1]``)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return dataclasses.replace(self, **{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})

    def to(self: P, device: torch.device | str) -> P:
        return dataclasses.replace(self, **{f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)})


class Augmentation(abc.ABC):
    """Base class: subclasses set ``name`` and ``config_class`` and implement ``sample`` and
    ``apply``. Build one with its config: ``Gain(GainConfig(p=0.5))`` or
    ``create_augmentation("gain", p=0.5)``."""

    name: ClassVar[str]
    config_class: ClassVar[type[AugmentationConfig]]

    def __init__(self, config: AugmentationConfig | None = None, *, sample_rate: int = 16000) -> None:
        config = self.config_class() if config is None else config
        if not isinstance(config, self.config_class):
            raise ConfigError(
                f"{self.name}: config is a {type(config).__name__}; expected {self.config_class.__name__}"
            )
        config.validate()
        check_range("sample_rate", sample_rate, 1000, 384000)
        self.config = config
        self.sample_rate = int(sample_rate)
        self.training = True

    @property
    def active(self) -> bool:
        """False when the config turns this augmentation off (``p == 0``)."""
        return self.config.p > 0

    def train(self, mode: bool = True) -> Augmentation:
        self.training = bool(mode)
        return self

    def eval(self) -> Augmentation:
        return self.train(False)

    @abc.abstractmethod
    def sample(
        self, batch_size: int, *, generator: torch.Generator, device: Device = None, num_samples: int | None = None
    ) -> Params:
        """Draw the params for ``batch_size`` clips (``num_samples``: their length, for the few
        augmentations whose draws are signal-sized)."""

    @abc.abstractmethod
    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        """The augmented batch, a deterministic function of ``x`` and ``params``."""

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if not (self.training and self.active):
            return x
        params = self.sample(x.shape[0], generator=generator, device=x.device, num_samples=x.shape[-1])
        return self.apply(x, params)

    def applied_mask(self, batch_size: int, *, generator: torch.Generator, device: Device) -> torch.Tensor:
        """bool ``[B]``: each clip is augmented with probability ``p``."""
        return uniform(batch_size, generator=generator, device=device) < self.config.p

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self.config, f.name)!r}" for f in dataclasses.fields(self.config))
        return f"{type(self).__name__}({fields})"


def register_augmentation(cls: type[Augmentation]) -> type[Augmentation]:
    """Class decorator: add an `Augmentation` subclass to the registry under ``cls.name``."""
    return AUGMENTATIONS.register(cls.name)(cls)


def create_augmentation(name: str, *, sample_rate: int = 16000, **kwargs: Any) -> Augmentation:
    """Build augmentation ``name``; ``kwargs`` are fields of its config (``None`` = default).

    >>> create_augmentation("gain", p=1.0, min_gain_db=-3.0, max_gain_db=3.0)
    Gain(p=1.0, min_gain_db=-3.0, max_gain_db=3.0)
    """
    cls = AUGMENTATIONS.get(name)
    return cls(config_from_dict(cls.config_class, kwargs, where=f"augment.{name}"), sample_rate=sample_rate)


def list_augmentations() -> list[str]:
    return AUGMENTATIONS.names()


# ------------------------------------------------------------------ checks and random draws


def uniform(
    *shape: int,
    generator: torch.Generator,
    device: Any = None,
    low: float = 0.0,
    high: float = 1.0,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Uniform in ``[low, high)``, drawn on the generator's device, then moved to ``device``."""
    u = torch.rand(*shape, generator=generator, device=generator.device, dtype=dtype)
    return (low + (high - low) * u).to(device) if device is not None else low + (high - low) * u


def randint(low: int, high: int, *shape: int, generator: torch.Generator, device: Any = None) -> torch.Tensor:
    """int64 uniform in ``[low, high]`` (both ends included)."""
    n = torch.randint(low, high + 1, shape, generator=generator, device=generator.device)
    return n.to(device) if device is not None else n


def clip_rms(x: torch.Tensor) -> torch.Tensor:
    """RMS of each clip over all but the batch axis, shaped to broadcast: ``[B, 1, ..., 1]``."""
    dims = tuple(range(1, x.dim()))
    return x.pow(2).mean(dim=dims, keepdim=True).sqrt()


def per_clip(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``[B]`` → ``[B, 1, ..., 1]`` in ``x``'s dtype and device, to scale clips of ``x``."""
    return v.to(device=x.device, dtype=x.dtype).reshape(-1, *([1] * (x.dim() - 1)))


def on_drawn_clips(x: torch.Tensor, params: Params, fn) -> torch.Tensor:
    """``x`` with the clips drawn for an augmentation (``params.applied``) replaced by
    ``fn(x[drawn], params.select(drawn))``; only those clips are computed (``x`` itself when none is)."""
    rows = params.applied.to(x.device)
    if not bool(rows.any()):
        return x
    out = x.clone()
    out[rows] = fn(x[rows], params.select(params.applied)).to(x.dtype)
    return out


def check_waveform(x: torch.Tensor, who: str) -> None:
    if x.dim() != 3:
        raise ConfigError(
            f"{who}: input has shape {tuple(x.shape)}; expected a waveform batch [batch, channels, samples]"
        )
