"""``mixup``: mix each clip with another clip of the batch, and their targets alike.

``mix(wav, target, generator=g)`` returns ``lam * wav + (1 - lam) * wav[partner]`` and the same
mix of the targets, with ``lam ~ Beta(alpha, alpha)`` per clip and ``partner`` a random
permutation of the batch (Zhang et al., "mixup", 2018). Clips that are not drawn (probability
``1 - p``) keep ``lam = 1``. ``alpha = 0`` turns mixup off (the default: none of the
keyword-spotting recipes in REFERENCES.md use it; it is common for sound tagging).

**Soft targets and the loss.** The targets that come back are float ``[B, K]`` and sum to 1
per clip for one-hot input (multi-hot input gives values in [0, 1] per class):

- single-label: use cross-entropy against the probabilities, ``-(soft * log_softmax).sum(-1)``
  — ``F.cross_entropy(logits, soft)`` does exactly this (and accepts label smoothing); never
  ``argmax`` them back to class ids;
- multi-label / binary: binary cross-entropy with logits takes soft targets as they are;
- accuracy on a mixed batch is meaningless: compute training metrics on un-mixed batches or
  against ``argmax`` of the soft target, and never mix at evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from wavetag.augment.base import (
    Augmentation,
    AugmentationConfig,
    Device,
    Params,
    per_clip,
    register_augmentation,
)
from wavetag.config import check_range
from wavetag.errors import ConfigError


@dataclass
class MixupConfig(AugmentationConfig):
    """``alpha``: Beta(alpha, alpha) concentration (0 = off; 0.2–0.4 mixes gently, 1 uniformly)."""

    p: float = 1.0
    alpha: float = 0.0

    def validate(self) -> None:
        super().validate()
        check_range("alpha", self.alpha, 0.0, 100.0)


@dataclass
class MixupParams(Params):
    partner: torch.Tensor  # int64 [B]: the clip each clip is mixed with
    lam: torch.Tensor  # float32 [B]: weight of the clip itself (1 where not applied)


@register_augmentation
class Mixup(Augmentation):
    name = "mixup"
    config_class = MixupConfig

    @property
    def active(self) -> bool:
        return self.config.p > 0 and self.config.alpha > 0

    def sample(
        self, batch_size: int, *, generator: torch.Generator, device: Device = None, num_samples: int | None = None
    ) -> MixupParams:
        device = generator.device if device is None else device
        applied = self.applied_mask(batch_size, generator=generator, device=device)
        partner = torch.randperm(batch_size, generator=generator, device=generator.device).to(device)
        lam = _beta(self.config.alpha, batch_size, generator).to(device)
        return MixupParams(applied, partner, torch.where(applied, lam, 1.0))

    def apply(self, x: torch.Tensor, params: MixupParams) -> torch.Tensor:
        """The mixed batch (any shape ``[B, ...]``): ``lam * x + (1 - lam) * x[partner]``."""
        lam = per_clip(torch.where(params.applied, params.lam, 1.0), x)
        return lam * x + (1 - lam) * x[params.partner.to(x.device)]

    def mix_targets(self, target: torch.Tensor, params: MixupParams, *, num_classes: int | None = None) -> torch.Tensor:
        """Soft targets: class ids ``[B]`` (needs ``num_classes``) become one-hot first; float
        targets (``[B, K]`` one-/multi-hot, or ``[B]`` binary) are mixed as they are."""
        if not target.is_floating_point():
            if num_classes is None:
                raise ConfigError("mixup: class-id targets need num_classes to become one-hot; pass num_classes=")
            target = F.one_hot(target.long(), num_classes)
        return self.apply(target.float(), params)

    def mix(
        self, wav: torch.Tensor, target: torch.Tensor, *, generator: torch.Generator, num_classes: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mixed wav, soft target [B, K])``; ``(wav, target)`` untouched when mixup is off or in
        evaluation mode (check ``mixup.active`` to know which kind of target the loss gets)."""
        if not (self.training and self.active):
            return wav, target
        params = self.sample(wav.shape[0], generator=generator, device=wav.device)
        return self.apply(wav, params), self.mix_targets(target, params, num_classes=num_classes)

    def __call__(self, wav: torch.Tensor, generator: torch.Generator) -> torch.Tensor:  # type: ignore[override]
        raise TypeError("mixup mixes targets too: call mixup.mix(wav, target, generator=g, num_classes=K)")


def _beta(alpha: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """float32 ``[n]`` from Beta(alpha, alpha), seeded from ``generator`` (torch's Beta sampler
    takes no generator, so a NumPy one is seeded from it: deterministic, global RNG untouched)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
    return torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, size=n).astype(np.float32))
