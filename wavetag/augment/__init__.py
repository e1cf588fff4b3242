"""Batched training augmentations: torch ops on ``wav [B, 1, T]`` (and SpecAugment on features).

>>> from wavetag.augment import AugmentConfig, build_augment
>>> aug = build_augment(AugmentConfig(), sample_rate=16000, noise_bank=bank)   # doctest: +SKIP
>>> wav = aug.wave(wav, generator)                                              # doctest: +SKIP

Every augmentation draws from a passed ``torch.Generator`` (never the global RNG); see
`wavetag.augment.base` for the sample/apply split and `wavetag.augment.pipeline` for the recipe.
"""

# Registration happens on import: one module per augmentation.
from wavetag.augment.background_noise import BackgroundNoise, BackgroundNoiseConfig  # noqa: E402
from wavetag.augment.base import (
    AUGMENTATIONS,
    Augmentation,
    AugmentationConfig,
    Params,
    create_augmentation,
    list_augmentations,
)
from wavetag.augment.codec import Codec, CodecConfig  # noqa: E402
from wavetag.augment.colored_noise import ColoredNoise, ColoredNoiseConfig  # noqa: E402
from wavetag.augment.gain import Gain, GainConfig  # noqa: E402
from wavetag.augment.mic_filter import MicFilter, MicFilterConfig  # noqa: E402
from wavetag.augment.mixup import Mixup, MixupConfig  # noqa: E402
from wavetag.augment.pipeline import AugmentConfig, Augmenters, WaveAugment, build_augment  # noqa: E402
from wavetag.augment.reverb import Reverb, ReverbConfig  # noqa: E402
from wavetag.augment.spec_augment import SpecAugment, SpecAugmentConfig  # noqa: E402
from wavetag.augment.speed import Speed, SpeedConfig  # noqa: E402
from wavetag.augment.time_shift import TimeShift, TimeShiftConfig  # noqa: E402

__all__ = [
    "AUGMENTATIONS",
    "AugmentConfig",
    "Augmentation",
    "AugmentationConfig",
    "Augmenters",
    "BackgroundNoise",
    "BackgroundNoiseConfig",
    "Codec",
    "CodecConfig",
    "ColoredNoise",
    "ColoredNoiseConfig",
    "Gain",
    "GainConfig",
    "MicFilter",
    "MicFilterConfig",
    "Mixup",
    "MixupConfig",
    "Params",
    "Reverb",
    "ReverbConfig",
    "SpecAugment",
    "SpecAugmentConfig",
    "Speed",
    "SpeedConfig",
    "TimeShift",
    "TimeShiftConfig",
    "WaveAugment",
    "build_augment",
    "create_augmentation",
    "list_augmentations",
]
