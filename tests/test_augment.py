"""Batched augmentations: exact tiny checks, properties, determinism and promised errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from wavetag.augment import (
    AUGMENTATIONS,
    AugmentConfig,
    BackgroundNoise,
    BackgroundNoiseConfig,
    Codec,
    CodecConfig,
    ColoredNoise,
    ColoredNoiseConfig,
    Gain,
    GainConfig,
    MicFilter,
    MicFilterConfig,
    Mixup,
    MixupConfig,
    Reverb,
    ReverbConfig,
    SpecAugment,
    SpecAugmentConfig,
    Speed,
    SpeedConfig,
    TimeShift,
    TimeShiftConfig,
    build_augment,
    create_augmentation,
)
from wavetag.augment.gain import GainParams
from wavetag.augment.speed import SpeedParams
from wavetag.augment.time_shift import TimeShiftParams
from wavetag.config import config_from_dict, config_to_dict, load_yaml, save_yaml
from wavetag.errors import ConfigError

SR = 16000
T = 4000  # 0.25 s clips keep every test small
BANK = torch.randn(3 * SR, generator=torch.Generator().manual_seed(9)) * 0.2

# Every waveform augmentation with p = 1 and ranges that always change a clip.
WAVE_AUGS = {
    "time_shift": lambda p: TimeShift(TimeShiftConfig(p=p, max_shift_s=0.1), sample_rate=SR),
    "speed": lambda p: Speed(SpeedConfig(p=p, min_rate=1.2, max_rate=1.3), sample_rate=SR),
    "gain": lambda p: Gain(GainConfig(p=p, min_gain_db=3.0, max_gain_db=6.0), sample_rate=SR),
    "background_noise": lambda p: BackgroundNoise(
        BackgroundNoiseConfig(p=p, mode="snr"), sample_rate=SR, noise_bank=BANK
    ),
    "background_noise_volume": lambda p: BackgroundNoise(
        BackgroundNoiseConfig(p=p, max_volume=0.5), sample_rate=SR, noise_bank=BANK
    ),
    "colored_noise": lambda p: ColoredNoise(ColoredNoiseConfig(p=p, min_snr_db=0.0, max_snr_db=10.0), sample_rate=SR),
    "reverb": lambda p: Reverb(ReverbConfig(p=p, rooms=4, max_rir_s=0.1), sample_rate=SR),
    "mic_filter": lambda p: MicFilter(
        MicFilterConfig(p=p, min_high_pass_hz=300.0, max_low_pass_hz=4000.0), sample_rate=SR
    ),
    "codec": lambda p: Codec(CodecConfig(p=p, min_levels=8, max_levels=16), sample_rate=SR),
}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def speechy(batch: int = 4, n: int = T, seed: int = 1) -> torch.Tensor:
    """``[B, 1, n]``: decaying tones with a little noise (no two clips alike)."""
    g = gen(seed)
    t = torch.arange(n) / SR
    f0 = 200 + 600 * torch.rand(batch, 1, 1, generator=g)
    return 0.3 * torch.sin(2 * math.pi * f0 * t) * torch.exp(-3 * t) + 0.01 * torch.randn(batch, 1, n, generator=g)


def features(batch: int = 6, n_freq: int = 40, frames: int = 101) -> torch.Tensor:
    return torch.randn(batch, 1, n_freq, frames, generator=gen(3)) + 2.0


def snr_db(clean: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
    added = noisy - clean
    return 20 * torch.log10(clean.pow(2).mean((1, 2)).sqrt() / added.pow(2).mean((1, 2)).sqrt())


# ------------------------------------------------------------------ p = 0 / p = 1 / properties


@pytest.mark.parametrize("name", sorted(WAVE_AUGS))
def test_p0_is_identity_and_p1_changes_every_clip(name):
    x = speechy()
    assert torch.equal(WAVE_AUGS[name](0.0)(x, gen()), x)
    y = WAVE_AUGS[name](1.0)(x, gen())
    assert y.shape == x.shape
    assert ((y - x).abs().amax(dim=(1, 2)) > 1e-4).all()


def test_spec_augment_and_mixup_p0_identity_p1_changes():
    feats = features()
    assert torch.equal(SpecAugment(SpecAugmentConfig(p=0.0))(feats, gen()), feats)
    masked = SpecAugment(SpecAugmentConfig(p=1.0, time_masks=2, time_mask_width=20))(feats, gen())
    assert not torch.equal(masked, feats)
    wav, target = speechy(8), torch.arange(8) % 3
    same_wav, same_target = Mixup(MixupConfig(p=0.0, alpha=0.4)).mix(wav, target, generator=gen(), num_classes=3)
    assert same_wav is wav and same_target is target
    mixed, soft = Mixup(MixupConfig(p=1.0, alpha=0.4)).mix(wav, target, generator=gen(), num_classes=3)
    assert not torch.equal(mixed, wav) and soft.shape == (8, 3)


@pytest.mark.parametrize("name", sorted(WAVE_AUGS))
def test_batched_equals_stacked_per_item_with_same_params(name):
    aug, x = WAVE_AUGS[name](1.0), speechy(5)
    params = aug.sample(5, generator=gen(), num_samples=T)
    whole = aug.apply(x, params)
    one_by_one = torch.cat([aug.apply(x[i : i + 1], params.select(i)) for i in range(5)])
    torch.testing.assert_close(whole, one_by_one, atol=1e-6, rtol=1e-5)


def test_spec_augment_batched_equals_stacked():
    aug, feats = SpecAugment(SpecAugmentConfig(p=1.0)), features()
    params = aug.sample(6, generator=gen())
    whole = aug.apply(feats, params)
    assert torch.equal(whole, torch.cat([aug.apply(feats[i : i + 1], params.select(i)) for i in range(6)]))


@pytest.mark.parametrize("name", sorted(WAVE_AUGS))
def test_same_seed_same_output_and_global_rng_untouched(name):
    x = speechy()
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = WAVE_AUGS[name](0.7)(x, gen(5))
    b = WAVE_AUGS[name](0.7)(x, gen(5))
    assert torch.equal(a, b)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert not torch.equal(a, WAVE_AUGS[name](0.7)(x, gen(6)))


def test_pipeline_resume_replays_exactly():
    aug = build_augment(
        AugmentConfig(gain=GainConfig(p=0.5), speed=SpeedConfig(p=0.5)), sample_rate=SR, noise_bank=BANK
    )
    g = gen(42)
    aug.wave(speechy(), g)  # step 1
    state = g.get_state()
    step2 = aug.wave(speechy(), g)
    g2 = torch.Generator()
    g2.set_state(state)
    assert torch.equal(aug.wave(speechy(), g2), step2)


@pytest.mark.parametrize("name", sorted(WAVE_AUGS))
def test_all_zero_clips_give_no_nan(name):
    x = torch.zeros(3, 1, T)
    y = WAVE_AUGS[name](1.0)(x, gen())
    assert torch.isfinite(y).all()


def test_eval_mode_turns_everything_off():
    aug = build_augment(AugmentConfig(mixup=MixupConfig(alpha=0.4)), sample_rate=SR, noise_bank=BANK).eval()
    wav, feats, target = speechy(), features(4), torch.tensor([0, 1, 2, 0])
    assert torch.equal(aug.wave(wav, gen()), wav)
    assert torch.equal(aug.spec(feats, gen()), feats)
    assert aug.mixup.mix(wav, target, generator=gen(), num_classes=3)[1] is target


# ------------------------------------------------------------------ exact tiny checks


def test_gain_of_6_0206_db_doubles_the_samples():
    x = torch.tensor([[[0.0, 0.25, -0.5, 0.125, 1.0]]])
    params = GainParams(applied=torch.tensor([True]), gain_db=torch.tensor([6.0206]))
    torch.testing.assert_close(Gain(GainConfig(p=1.0)).apply(x, params), 2 * x, atol=1e-5, rtol=0)
    skipped = GainParams(applied=torch.tensor([False]), gain_db=torch.tensor([6.0206]))
    assert torch.equal(Gain(GainConfig(p=1.0)).apply(x, skipped), x)


@pytest.mark.parametrize("shift", [7, -5, 0])
def test_time_shift_moves_a_click_exactly_with_zero_fill(shift):
    x = torch.zeros(1, 1, 20)
    x[0, 0, 10] = 1.0
    x[0, 0, 0] = 0.5  # lands at `shift` when delayed; an advance pushes it out of the clip
    params = TimeShiftParams(applied=torch.tensor([True]), shift_samples=torch.tensor([shift]))
    y = TimeShift(TimeShiftConfig(p=1.0)).apply(x, params)[0, 0]
    expected = torch.zeros(20)
    expected[10 + shift] = 1.0
    if 0 <= shift < 20:
        expected[shift] = 0.5
    assert torch.equal(y, expected)


def test_time_shift_draws_stay_within_max_shift():
    aug = TimeShift(TimeShiftConfig(p=1.0, max_shift_s=0.1), sample_rate=SR)
    shifts = aug.sample(2000, generator=gen()).shift_samples
    assert shifts.abs().max() <= 1600 and shifts.min() < -1400 and shifts.max() > 1400


def click_train(n: int = 1001, spacing: int = 40) -> torch.Tensor:
    x = torch.zeros(1, 1, n)
    x[0, 0, n // 2 - 5 * spacing : n // 2 + 5 * spacing + 1 : spacing] = 1.0  # 11 clicks around the middle
    return x


def test_speed_1_is_identity_and_2_halves_a_click_train():
    aug, x = Speed(SpeedConfig(p=1.0, min_rate=0.5, max_rate=2.0)), click_train()
    same = aug.apply(x, SpeedParams(applied=torch.tensor([True]), rate=torch.tensor([1.0])))
    assert torch.equal(same, x)
    fast = aug.apply(x, SpeedParams(applied=torch.tensor([True]), rate=torch.tensor([2.0])))[0, 0]
    clicks = torch.nonzero(fast > 0.5).flatten()
    original = torch.nonzero(x[0, 0] > 0.5).flatten()
    assert len(clicks) == 11 and torch.equal(fast[clicks], torch.ones(11))
    assert clicks[-1] - clicks[0] == (original[-1] - original[0]) // 2  # 400 → 200 samples
    assert torch.equal(torch.diff(clicks), torch.full((10,), 20))


def test_background_noise_snr_mode_hits_the_snr():
    aug = BackgroundNoise(
        BackgroundNoiseConfig(p=1.0, mode="snr", min_snr_db=10.0, max_snr_db=10.0), sample_rate=SR, noise_bank=BANK
    )
    x = speechy(8)
    measured = snr_db(x, aug(x, gen()))
    assert (measured - 10.0).abs().max() < 0.1


def test_background_noise_volume_mode_stays_under_max_volume():
    bank = torch.ones(SR)
    bank[1::2] = -1.0  # every window has RMS exactly 1
    aug = BackgroundNoise(BackgroundNoiseConfig(p=1.0, max_volume=0.1), sample_rate=SR, noise_bank=bank)
    x = speechy(64)
    added_rms = (aug(x, gen()) - x).pow(2).mean((1, 2)).sqrt()
    assert (added_rms <= 0.1 * 1.0 + 1e-6).all() and added_rms.max() > 0.08 and added_rms.min() < 0.02


def test_background_noise_windows_stay_inside_one_recording():
    bank = torch.cat([torch.full((1000,), 1.0), torch.full((3000,), 2.0), torch.full((50,), 3.0)])
    aug = BackgroundNoise(
        BackgroundNoiseConfig(p=1.0),
        noise_bank=bank,
        segments=[{"offset": 0, "length": 1000}, {"offset": 1000, "length": 3000}, (4000, 50)],
    )
    windows = aug.windows(torch.rand(500, dtype=torch.float64, generator=gen()), 800)
    assert ((windows == windows[:, :1]).all(dim=1)).all()  # never straddles two recordings
    assert set(windows[:, 0].tolist()) == {1.0, 2.0}  # the 50-sample recording is too short
    short = aug.windows(torch.tensor([0.5], dtype=torch.float64), 9000)  # longer than the bank: read circularly
    assert short.shape == (1, 9000)


def test_background_noise_without_a_bank():
    with pytest.raises(ConfigError, match="no noise bank"):
        BackgroundNoise(BackgroundNoiseConfig(p=1.0))(speechy(), gen())
    with pytest.warns(UserWarning, match="background_noise.p = 0.8 but there is no noise bank"):
        aug = build_augment(AugmentConfig(), sample_rate=SR, noise_bank=np.zeros(0, np.float32))
    assert [s.name for s in aug.wave.stages] == ["time_shift"]


@pytest.mark.parametrize(
    "color, slope_db_per_octave", [("white", 0.0), ("pink", -3.01), ("brown", -6.02), ("blue", 3.01), ("violet", 6.02)]
)
def test_colored_noise_spectral_slope(color, slope_db_per_octave):
    n = 8192
    aug = ColoredNoise(ColoredNoiseConfig(p=1.0, colors=(color,), min_snr_db=0.0, max_snr_db=0.0), sample_rate=SR)
    x = torch.full((32, 1, n), 0.1)
    added = (aug(x, gen()) - x)[:, 0]
    power = torch.fft.rfft(added.double(), dim=-1).abs().pow(2).mean(0)  # averaged periodogram
    freq = torch.fft.rfftfreq(n, 1 / SR).double()
    band = (freq >= 100) & (freq <= 6000)
    octaves, level_db = torch.log2(freq[band]), 10 * torch.log10(power[band])
    slope = np.polyfit(octaves.numpy(), level_db.numpy(), 1)[0]
    assert abs(slope - slope_db_per_octave) < 1.0


def test_colored_noise_snr_and_colour_mix():
    aug = ColoredNoise(ColoredNoiseConfig(p=1.0, min_snr_db=20.0, max_snr_db=20.0), sample_rate=SR)
    x = speechy(8)
    assert (snr_db(x, aug(x, gen())) - 20.0).abs().max() < 0.1
    colors = aug.sample(500, generator=gen(), num_samples=16).color
    assert set(colors.tolist()) == {0, 1, 2, 3, 4}


def test_spec_augment_masks_exactly_the_sampled_bands():
    cfg = SpecAugmentConfig(p=1.0, time_masks=2, time_mask_width=20, freq_masks=2, freq_mask_width=7, mask_value="zero")
    aug, feats = SpecAugment(cfg), torch.ones(50, 1, 40, 101)
    params = aug.sample(50, generator=gen())
    out = aug.apply(feats, params)
    bands = aug.bands(params, 40, 101)
    assert (bands["time_width"] <= 20).all() and (bands["freq_width"] <= 7).all()
    assert bands["time_width"].max() == 20 and bands["freq_width"].max() == 7  # the ends are reachable
    for b in range(50):
        zero_rows = set(torch.nonzero((out[b, 0] == 0).all(dim=1)).flatten().tolist())
        zero_cols = set(torch.nonzero((out[b, 0] == 0).all(dim=0)).flatten().tolist())
        want_rows = {
            f
            for s, w in zip(bands["freq_start"][b].tolist(), bands["freq_width"][b].tolist(), strict=True)
            for f in range(s, s + w)
        }
        want_cols = {
            t
            for s, w in zip(bands["time_start"][b].tolist(), bands["time_width"][b].tolist(), strict=True)
            for t in range(s, s + w)
        }
        assert zero_rows == want_rows and zero_cols == want_cols
        assert int((out[b, 0] == 0).sum()) == len(want_rows) * 101 + len(want_cols) * 40 - len(want_rows) * len(
            want_cols
        )


def test_spec_augment_mean_fill_and_small_inputs():
    feats = features(4, n_freq=5, frames=8)
    aug = SpecAugment(SpecAugmentConfig(p=1.0, time_mask_width=20, freq_mask_width=7))
    params = aug.sample(4, generator=gen())
    out = aug.apply(feats, params)
    bands = aug.bands(params, 5, 8)
    assert (bands["freq_width"] <= 5).all() and (bands["time_width"] <= 8).all()
    assert ((bands["time_start"] + bands["time_width"]) <= 8).all()
    changed = out != feats
    torch.testing.assert_close(out[changed], feats.mean(dim=(1, 2, 3), keepdim=True).expand_as(feats)[changed])


def test_mixup_targets_sum_to_one_and_wav_is_the_convex_mix():
    aug = Mixup(MixupConfig(p=1.0, alpha=0.4))
    wav, target = speechy(8), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    params = aug.sample(8, generator=gen())
    mixed = aug.apply(wav, params)
    soft = aug.mix_targets(target, params, num_classes=4)
    torch.testing.assert_close(soft.sum(-1), torch.ones(8))
    lam, partner = params.lam[:, None, None], params.partner
    torch.testing.assert_close(mixed, lam * wav + (1 - lam) * wav[partner])
    assert ((params.lam >= 0) & (params.lam <= 1)).all() and params.lam.std() > 0
    multi = torch.tensor([[1.0, 1.0, 0.0]] * 4 + [[0.0, 0.0, 1.0]] * 4)
    assert ((aug.mix_targets(multi, params) >= 0) & (aug.mix_targets(multi, params) <= 1)).all()
    with pytest.raises(ConfigError, match="num_classes"):
        aug.mix_targets(target, params)
    with pytest.raises(TypeError, match="mix"):
        aug(wav, gen())


# ------------------------------------------------------------------ config and registry


def test_default_recipe():
    cfg = AugmentConfig()
    assert (cfg.time_shift.p, cfg.time_shift.max_shift_s) == (1.0, 0.1)
    assert (cfg.background_noise.p, cfg.background_noise.mode, cfg.background_noise.max_volume) == (0.8, "volume", 0.1)
    assert cfg.gain.p == cfg.speed.p == cfg.colored_noise.p == 0.0 and cfg.mixup.alpha == 0.0
    s = cfg.spec_augment
    assert (s.time_masks, s.time_mask_width, s.freq_masks, s.freq_mask_width) == (2, 20, 2, 7)
    aug = build_augment(cfg, sample_rate=SR, noise_bank=BANK)
    assert [s.name for s in aug.wave.stages] == ["time_shift", "background_noise"]
    assert aug.spec.active and not aug.mixup.active


def test_pipeline_order_is_fixed():
    cfg = AugmentConfig(
        speed=SpeedConfig(p=1.0),
        gain=GainConfig(p=1.0),
        colored_noise=ColoredNoiseConfig(p=1.0),
        reverb=ReverbConfig(p=1.0, rooms=2),
        mic_filter=MicFilterConfig(p=1.0),
        codec=CodecConfig(p=1.0),
    )
    names = [s.name for s in build_augment(cfg, sample_rate=SR, noise_bank=BANK).wave.stages]
    assert names == [
        "time_shift",
        "speed",
        "gain",
        "reverb",
        "background_noise",
        "colored_noise",
        "mic_filter",
        "codec",
    ]


def test_config_round_trips_through_dict_and_yaml(tmp_path):
    cfg = AugmentConfig(
        colored_noise=ColoredNoiseConfig(p=0.3, colors=("pink", "brown")),
        background_noise=BackgroundNoiseConfig(mode="snr", min_snr_db=5.0),
    )
    save_yaml(config_to_dict(cfg), tmp_path / "aug.yaml")
    back = config_from_dict(AugmentConfig, load_yaml(tmp_path / "aug.yaml"))
    assert back == cfg and isinstance(back.colored_noise.colors, tuple)
    assert config_from_dict(AugmentConfig, {"gain": {"p": None}}) == AugmentConfig()


@pytest.mark.parametrize(
    "stage, field, value, match",
    [
        ("time_shift", "max_shift_s", -0.1, "augment.time_shift.max_shift_s"),
        ("time_shift", "p", 1.5, "augment.time_shift.p = 1.5"),
        ("background_noise", "mode", "loud", "mode 'loud'"),
        ("background_noise", "max_volume", -1.0, "max_volume"),
        ("background_noise", "min_snr_db", 30.0, "min_snr_db = 30.0 is above max_snr_db = 20.0"),
        ("colored_noise", "colors", ("pinkk",), "did you mean 'pink'"),
        ("colored_noise", "colors", (), "colors is empty"),
        ("gain", "max_gain_db", 100.0, "max_gain_db"),
        ("speed", "min_rate", 1.2, "min_rate = 1.2 is above max_rate"),
        ("spec_augment", "time_mask_width", -1, "time_mask_width"),
        ("spec_augment", "mask_value", "nan", "mask_value"),
        ("mixup", "alpha", -1.0, "alpha"),
    ],
)
def test_bad_ranges_raise_config_error_naming_the_field(stage, field, value, match):
    cfg = AugmentConfig()
    setattr(getattr(cfg, stage), field, value)
    with pytest.raises(ConfigError, match=match):
        build_augment(cfg, sample_rate=SR, noise_bank=BANK)
    with pytest.raises(ConfigError, match=field):
        AUGMENTATIONS.get(stage)(getattr(cfg, stage))


def test_time_shift_bad_range_names_the_field():
    with pytest.raises(ConfigError, match="max_shift_s"):
        TimeShift(TimeShiftConfig(max_shift_s=-1.0))
    with pytest.raises(ConfigError, match="max_shift_s"):
        create_augmentation("time_shift", max_shift_s=20.0)
    with pytest.raises(ConfigError, match=r"unknown field in augment.gain 'max_db'; did you mean 'max_gain_db'"):
        create_augmentation("gain", max_db=3.0)


def test_unknown_augmentation_name_suggests_close_names():
    with pytest.raises(ConfigError, match=r"unknown augmentation 'colour_noise'; did you mean 'colored_noise'"):
        AUGMENTATIONS.get("colour_noise")
    with pytest.raises(ConfigError, match=r"did you mean 'time_shift'"):
        create_augmentation("timeshift")


def test_params_select_and_wrong_input_shapes():
    aug = Gain(GainConfig(p=1.0))
    params = aug.sample(4, generator=gen())
    assert params.select(2).batch_size == 1 and params.select(slice(1, 3)).batch_size == 2
    with pytest.raises(ConfigError, match=r"expected a waveform batch"):
        TimeShift(TimeShiftConfig(p=1.0))(torch.zeros(4, T), gen())
    with pytest.raises(ConfigError, match="needs num_samples"):
        ColoredNoise(ColoredNoiseConfig(p=1.0)).sample(4, generator=gen())
    assert dataclasses.is_dataclass(params)


# ------------------------------------------------------------------ rooms, microphones, codecs


def test_reverb_of_a_click_is_the_impulse_response_and_keeps_the_level():
    aug = Reverb(ReverbConfig(p=1.0, rooms=3, max_rir_s=0.05, seed=1), sample_rate=SR)
    bank = aug.bank
    assert bank.shape == (3, int(0.05 * SR)) and torch.allclose(bank[:, 0].abs(), torch.ones(3))  # direct path first
    click = torch.zeros(3, 1, 2000)
    click[:, 0, 100] = 0.5
    params = aug.sample(3, generator=gen())
    out = aug.apply(click, params)
    rir = bank[params.room]
    expected = torch.zeros(3, 2000)
    expected[:, 100 : 100 + rir.shape[1]] = rir[:, :1900]
    expected = expected * (0.5 * math.sqrt(1 / 2000) / expected.pow(2).mean(1, keepdim=True).sqrt())
    assert torch.allclose(out[:, 0], expected, atol=1e-5)
    assert torch.allclose(out.pow(2).mean(-1).sqrt(), click.pow(2).mean(-1).sqrt(), rtol=1e-4)


def test_reverb_rt60_range_gives_longer_tails_for_larger_rt60():
    short = Reverb(ReverbConfig(p=1.0, rooms=4, min_rt60_s=0.1, max_rt60_s=0.15), sample_rate=SR).bank
    long = Reverb(ReverbConfig(p=1.0, rooms=4, min_rt60_s=0.6, max_rt60_s=0.8), sample_rate=SR).bank

    def tail_energy(bank):  # share of the energy after 50 ms
        e = bank.pow(2)
        return (e[:, int(0.05 * SR) :].sum(1) / e.sum(1)).mean()

    assert tail_energy(long) > tail_energy(short)


@pytest.mark.parametrize(
    "freq_hz, high_pass, low_pass, passes",
    [
        (1000.0, 50.0, 6000.0, True),
        (80.0, 400.0, 6000.0, False),
        (7500.0, 50.0, 3000.0, False),
    ],
)
def test_mic_filter_edges(freq_hz, high_pass, low_pass, passes):
    aug = MicFilter(
        MicFilterConfig(
            p=1.0,
            bumps=0,
            min_high_pass_hz=high_pass,
            max_high_pass_hz=high_pass,
            min_low_pass_hz=low_pass,
            max_low_pass_hz=low_pass,
        ),
        sample_rate=SR,
    )
    tone = torch.sin(2 * math.pi * freq_hz * torch.arange(SR) / SR).view(1, 1, -1)
    ratio = float(aug(tone, gen()).pow(2).mean().sqrt() / tone.pow(2).mean().sqrt())
    assert (ratio > 0.9) if passes else (ratio < 0.2)


def test_codec_error_shrinks_with_more_levels():
    clip = speechy(2, SR)

    def snr(levels):
        aug = Codec(CodecConfig(p=1.0, min_levels=levels, max_levels=levels), sample_rate=SR)
        return float(snr_db(clip, aug(clip, gen())).mean())

    assert snr(256) > snr(16) + 10 and snr(256) > 25


def test_augment_config_and_pipeline_follow_the_registry():
    import dataclasses

    from wavetag.augment import AUGMENTATIONS, AugmentConfig, build_augment
    from wavetag.augment.pipeline import WAVE_ORDER

    fields = {f.name: f for f in dataclasses.fields(AugmentConfig)}
    assert sorted(fields) == AUGMENTATIONS.names() == sorted([*WAVE_ORDER, "spec_augment", "mixup"])
    for name in fields:
        assert type(getattr(AugmentConfig(), name)) is AUGMENTATIONS.get(name).config_class
    with pytest.warns(UserWarning, match="no noise bank"):  # background noise needs the pack's bank
        aug = build_augment(AugmentConfig(), sample_rate=16000)
    on = [n for n in WAVE_ORDER if getattr(AugmentConfig(), n).p > 0 and n != "background_noise"]
    assert [s.name for s in aug.wave.stages] == on
    assert (aug.spec.name, aug.mixup.name) == ("spec_augment", "mixup")
