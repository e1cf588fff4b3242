"""The training augmentation recipe: one config, and the objects the training loop calls.

Defaults are a robust keyword-spotting recipe, the one behind the best small-model results in
REFERENCES.md (TF speech_commands example → BC-ResNet):

==================  ==========================================  ==================================
stage               default                                     why
==================  ==========================================  ==================================
time_shift          p 1.0, ±100 ms, zero-filled                 TF example, BC-ResNet, kws_streaming
speed               off (0.9–1.1 when p > 0)                    heavy speed aug cost 2–15 points on
                                                                synthetic speech; BC-ResNet has none
gain                off (±6 dB when p > 0)                      same; per-utterance normalisation
                                                                undoes most of a gain anyway
background_noise    p 0.8, volume U(0, 0.1)                     TF example / BC-ResNet exactly
colored_noise       off (all colours, 10–40 dB SNR when on)     in none of the recipes; for clean
                                                                (e.g. synthetic) data without a
                                                                noise bank
reverb              off (64 simulated rooms, RT60 0.15–0.8 s)   rooms that dry synthetic speech
                                                                never had (pyroomacoustics)
mic_filter          off (high-pass 20–400 Hz, low-pass          cheap microphones, phones,
                    3.4–8 kHz, 3 bumps of ±6 dB)                 laptops
codec               off (μ-law, 32–256 levels)                  telephone-style quantisation
spec_augment        2 × ≤20 frames, 2 × ≤7 bins, mean fill      BC-ResNet-6/8 (use smaller
                                                                freq_mask_width for tiny models)
mixup               off (alpha 0)                               no KWS recipe uses it; useful for
                                                                sound tagging (alpha 0.2–0.4)
==================  ==========================================  ==================================

How `wavetag.train.loop.Trainer.step` uses it (each step draws from a ``torch.Generator``
seeded by ``(seed, epoch, step)``, so a resumed run replays the same augmentations)::

    aug = build_augment(cfg.augment, sample_rate=pack.sample_rate,
                        noise_bank=pack.noise_bank(), noise_segments=pack.noise_files())
    g = torch.Generator().manual_seed(step_seed(cfg.seed, epoch, step, 1))
    batch = make_batch(pack, rows, ...)                     # train clips only
    wav = aug.wave(batch.wav, g)                            # [B, 1, T]
    wav, target = aug.mixup.mix(wav, batch.target, generator=g, num_classes=K)
    feats = model.frontend(wav)                             # [B, C, F, frames]
    feats = aug.spec(feats, g)                              # 4-D features only (not waveforms)
    logits = model.forward_head(model.backbone(feats))
    # (as model.forward_features(wav, transform): an Ensemble hands the masks to each member)
    # evaluation: no augmentation at all (or aug.eval(), which makes every call the identity)
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from wavetag.augment.background_noise import BackgroundNoise, BackgroundNoiseConfig, Segments
from wavetag.augment.base import AUGMENTATIONS, Augmentation, check_waveform
from wavetag.augment.codec import CodecConfig
from wavetag.augment.colored_noise import ColoredNoiseConfig
from wavetag.augment.gain import GainConfig
from wavetag.augment.mic_filter import MicFilterConfig
from wavetag.augment.mixup import Mixup, MixupConfig
from wavetag.augment.reverb import ReverbConfig
from wavetag.augment.spec_augment import SpecAugment, SpecAugmentConfig
from wavetag.augment.speed import SpeedConfig
from wavetag.augment.time_shift import TimeShiftConfig
from wavetag.config import check_types
from wavetag.errors import ConfigError

# The order sound takes on its way to a recording: the talker (shift, speed, level), the room
# (reverb), other sounds in it (noise), the microphone (filter) and the codec. SpecAugment (on the
# front end's features) and mixup (on wave and target) are the two stages outside this chain.
WAVE_ORDER = ("time_shift", "speed", "gain", "reverb", "background_noise", "colored_noise", "mic_filter", "codec")


@dataclass
class AugmentConfig:
    """One sub-config per augmentation; ``p = 0`` turns one off (``alpha = 0`` for mixup). Each
    field is named after its augmentation in `AUGMENTATIONS` (``build_augment`` builds them from
    the registry; a test checks the two agree)."""

    time_shift: TimeShiftConfig = field(default_factory=TimeShiftConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)
    gain: GainConfig = field(default_factory=GainConfig)
    background_noise: BackgroundNoiseConfig = field(default_factory=BackgroundNoiseConfig)
    colored_noise: ColoredNoiseConfig = field(default_factory=ColoredNoiseConfig)
    reverb: ReverbConfig = field(default_factory=ReverbConfig)
    mic_filter: MicFilterConfig = field(default_factory=MicFilterConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    mixup: MixupConfig = field(default_factory=MixupConfig)

    def validate(self) -> None:
        """Check every sub-config; the error names the field as ``augment.<stage>.<field>``."""
        check_types(AugmentConfig, self, where="augment")
        for f in dataclasses.fields(self):
            try:
                getattr(self, f.name).validate()
            except ConfigError as exc:
                raise ConfigError(f"augment.{f.name}.{exc}") from None

    @classmethod
    def off(cls) -> AugmentConfig:
        """Every augmentation off."""
        cfg = cls()
        for f in dataclasses.fields(cfg):
            getattr(cfg, f.name).p = 0.0
        return cfg


class WaveAugment:
    """The waveform augmentations in a fixed order (`WAVE_ORDER`): shift → speed → gain → reverb →
    background noise → coloured noise → microphone filter → codec.
    ``wave(wav [B, C, T], generator) -> [B, C, T]``; stages that are off are skipped and draw
    nothing, so the random stream depends only on the config."""

    def __init__(self, stages: Sequence[Augmentation]) -> None:
        self.stages = [s for s in stages if s.active]
        self.training = True

    def train(self, mode: bool = True) -> WaveAugment:
        self.training = bool(mode)
        for s in self.stages:
            s.train(mode)
        return self

    def eval(self) -> WaveAugment:
        return self.train(False)

    @property
    def active(self) -> bool:
        return bool(self.stages)

    def __call__(self, wav: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if not self.training:
            return wav
        check_waveform(wav, "augment")
        for stage in self.stages:
            wav = stage(wav, generator)
        return wav

    def __repr__(self) -> str:
        return "WaveAugment(" + ", ".join(repr(s) for s in self.stages) + ")"


@dataclass
class Augmenters:
    """What `build_augment` returns: ``wave`` (on ``[B, 1, T]``), ``spec`` (on the front end's
    ``[B, C, F, frames]``) and ``mixup`` (``mix(wav, target, ...)``)."""

    wave: WaveAugment
    spec: SpecAugment
    mixup: Mixup

    def train(self, mode: bool = True) -> Augmenters:
        self.wave.train(mode)
        self.spec.train(mode)
        self.mixup.train(mode)
        return self

    def eval(self) -> Augmenters:
        return self.train(False)

    def describe(self, *, spectrogram: bool = True) -> str:
        """One line for the training summary: the augmentations that are on, each with its ``p``.
        ``spectrogram``: whether any front end of the model gives spectrogram features, the only
        ones SpecAugment masks (when none does, the line says that the masks do nothing)."""
        stages = [f"{s.name} (p {s.config.p:g})" for s in self.wave.stages]
        if self.spec.active and spectrogram:
            stages.append(f"spec_augment (p {self.spec.config.p:g})")
        if self.mixup.active:
            stages.append(f"mixup (alpha {self.mixup.config.alpha:g}, p {self.mixup.config.p:g})")
        line = "augmentation: " + (", ".join(stages) or "none")
        if self.spec.active and not spectrogram:
            line += "; spec_augment is on but no front end gives spectrogram features: it masks nothing"
        return line


def build_augment(
    config: AugmentConfig | None = None,
    *,
    sample_rate: int,
    noise_bank: torch.Tensor | np.ndarray | None = None,
    noise_segments: Segments | None = None,
) -> Augmenters:
    """The augmenters for ``config`` (None = defaults) at ``sample_rate`` Hz.

    ``noise_bank``: the pack's background noise (float ``[N]``, ``Pack.noise_bank()``) and
    ``noise_segments`` its recordings (``Pack.noise_files()``). When background noise is on but
    there is no bank, it is turned off for this run with a warning (the defaults must work on
    packs without noise); build `BackgroundNoise` yourself to make that an error instead.
    """
    config = AugmentConfig() if config is None else config
    config.validate()
    noise = BackgroundNoise(config.background_noise, sample_rate=sample_rate)
    if noise_bank is not None:
        noise.set_noise_bank(noise_bank, segments=noise_segments)
    if noise.active and not noise.has_noise:
        warnings.warn(
            f"augment.background_noise.p = {config.background_noise.p:g} but there is no noise bank "
            "(the pack has no background noise); background noise is off for this run. "
            "Prepare the pack with --noise-dir, or set augment.background_noise.p to 0 to silence this.",
            stacklevel=2,
        )
        noise = BackgroundNoise(dataclasses.replace(config.background_noise, p=0.0), sample_rate=sample_rate)

    def built(name: str) -> Augmentation:
        return AUGMENTATIONS.get(name)(getattr(config, name), sample_rate=sample_rate)

    return Augmenters(
        wave=WaveAugment([noise if name == "background_noise" else built(name) for name in WAVE_ORDER]),
        spec=built("spec_augment"),
        mixup=built("mixup"),
    )
