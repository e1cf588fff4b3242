"""Every file of the fuzz corpus (tests/fuzz_corpus.py) through every door audio comes in by.

`audio.load`, `audio.info` and ``wavetag info``, `prepare` (mixed with good clips), `predict`
and ``POST /v1/classify``: each gives correct audio, or a `WavetagError` / 4xx whose message names
the file; never another exception (a crash), never a 5xx, never a hang (each call runs under a
timeout). Property tests (hypothesis) mutate a valid WAV header and feed arbitrary arrays.
"""

from __future__ import annotations

import csv
import io
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fuzz_corpus import CASES, SR, encoded, good_wav, make_corpus, tone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from wavetag import audio
from wavetag.errors import AudioError, WavetagError
from wavetag.inference.inputs import to_waveform

TIMEOUT_S = 60.0  # far above any one call here; a hang fails the test instead of stalling the suite
NAMES = [case.name for case in CASES]
EXPECT = {case.name: case.expect for case in CASES}
GOOD_CLIPS = 12


def bounded(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` in a thread, failing the test if it runs past `TIMEOUT_S`."""
    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(fn, *args, **kwargs).result(timeout=TIMEOUT_S)
    finally:
        pool.shutdown(wait=False)


def outcome(fn, *args, **kwargs):
    """("audio", result) or ("error", the WavetagError); any other exception propagates (a crash)."""
    try:
        return "audio", bounded(fn, *args, **kwargs)
    except WavetagError as exc:
        return "error", exc


def check(name: str, kind: str, detail) -> None:
    assert EXPECT[name] in (kind, "either"), f"{name}: expected {EXPECT[name]}, got {kind}: {detail}"
    if kind == "error":
        assert name in str(detail), f"the message does not name the file: {detail}"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return {path.name: path for path in make_corpus(tmp_path_factory.mktemp("fuzz"))}


def test_corpus_is_large_and_seeded(tmp_path):
    first = make_corpus(tmp_path / "a", seed=3)
    second = make_corpus(tmp_path / "b", seed=3)
    assert len(first) >= 40 and len(set(NAMES)) == len(NAMES)
    # libvorbis draws a random stream serial
    fixed = [(a, b) for a, b in zip(first, second, strict=False) if a.suffix != ".ogg"]
    assert all(a.read_bytes() == b.read_bytes() for a, b in fixed) and len(fixed) >= 40
    assert {p.suffix for p in first} >= set(audio.AUDIO_EXTENSIONS)


@pytest.mark.parametrize("name", NAMES)
def test_load(corpus, name):
    kind, result = outcome(audio.load, corpus[name], sample_rate=16000)
    check(name, kind, result)
    if kind == "audio":
        x, rate = result
        assert rate == 16000 and x.dtype == np.float32 and x.ndim == 1 and len(x) > 0
        assert np.isfinite(x).all()


@pytest.mark.parametrize("name", NAMES)
def test_info(corpus, name):
    kind, result = outcome(audio.info, corpus[name])
    if kind == "audio":
        assert result.sample_rate > 0 and result.channels > 0 and result.frames >= 0
    else:
        assert name in str(result)


def test_info_cli_over_the_corpus(corpus):
    from typer.testing import CliRunner

    import wavetag.cli.info  # noqa: F401  (registers the command)
    from wavetag.cli.app import app

    result = bounded(CliRunner().invoke, app, ["info", "--levels", *map(str, corpus.values())])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # some files are refused ...
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    for name in NAMES:  # ... each on its own line naming it; the rest are listed
        refused = any(name in line for line in errors)
        check(name, "error" if refused else "audio", errors)
    assert "┃" in result.stdout and len(errors) < len(NAMES)  # the readable ones are in the table


def test_prepare_keeps_every_good_clip_and_accounts_for_every_file(corpus, tmp_path):
    from wavetag.data import prepare

    src = tmp_path / "src"
    (src / "fuzz").mkdir(parents=True)
    (src / "good").mkdir()
    for i in range(GOOD_CLIPS):
        sf.write(src / "good" / f"{i}.wav", (0.3 * np.sin(np.arange(SR // 2) * 0.1 * (i + 1))).astype(np.float32), SR)
    for name, path in corpus.items():
        (src / "fuzz" / name).write_bytes(path.read_bytes())
    summary = bounded(prepare, src, tmp_path / "pack", sample_rate=SR, jobs=2, progress=False)
    with open(tmp_path / "pack" / "index.csv", newline="") as f:
        kept = {row["path"] for row in csv.DictReader(f)}
    with open(tmp_path / "pack" / "rejected.csv", newline="") as f:
        rejected = {row["path"]: row["detail"] for row in csv.DictReader(f)}
    assert {f"good/{i}.wav" for i in range(GOOD_CLIPS)} <= kept  # no good clip lost
    assert sum(summary.counts[s]["good"] for s in summary.counts) == GOOD_CLIPS
    for name in NAMES:
        rel = f"fuzz/{name}"
        assert (rel in kept) != (rel in rejected), f"{rel}: neither kept nor rejected (or both)"
        if EXPECT[name] == "error":
            assert rel in rejected and name in rejected[rel]
        if EXPECT[name] == "audio" and rel in rejected:  # valid audio may only be refused as too short
            assert "too short" in rejected[rel] or "0.1 s" in rejected[rel], rejected[rel]


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    from test_serve import build_tone_model

    from wavetag.inference.predictor import Predictor

    return Predictor.load(build_tone_model(tmp_path_factory.getbasetemp() / "wavetag-tone-model"), threads=1)


def test_predict_over_the_corpus(corpus, predictor):
    results = bounded(predictor.predict_many, [str(corpus[n]) for n in NAMES], on_error="report")
    assert len(results) == len(NAMES)
    for name, r in zip(NAMES, results, strict=False):
        check(name, "error" if r.error is not None else "audio", r.error)
        if r.error is None:
            assert np.isfinite(r.score) and 0 <= r.score <= 1


def test_http_classify_and_detect_over_the_corpus(corpus, predictor):
    from fastapi.testclient import TestClient

    from wavetag.serve import create_app

    with TestClient(create_app(predictor), raise_server_exceptions=False) as client:
        for name in NAMES:
            response = bounded(
                client.post,
                f"/v1/classify?filename={name}",
                content=corpus[name].read_bytes(),
                headers={"Content-Type": "application/octet-stream"},
            )
            assert response.status_code < 500, (name, response.text)
            check(name, "audio" if response.status_code == 200 else "error", response.json())
            if response.status_code != 200:
                assert name in response.json()["detail"] and "Traceback" not in response.text
            multipart = bounded(
                client.post, "/v1/detect", files={"file": (name, corpus[name].read_bytes(), "audio/wav")}
            )
            assert multipart.status_code < 500, (name, multipart.text)  # detect: 422 for clips under one window
            if multipart.status_code != 200:
                assert name in multipart.json()["detail"]
        assert client.get("/health").json()["status"] == "ok"  # still answering


def test_resampling_past_the_limit_is_refused_before_taking_the_memory(corpus, predictor):
    path = corpus["rate_1hz_28_hours.wav"]
    with pytest.raises(WavetagError, match=r"rate_1hz_28_hours.wav: 100,000 samples at 1 Hz would be 1,600,000,000"):
        bounded(audio.load, path, sample_rate=16000)
    assert bounded(audio.load, path)[0].shape == (100_000,)  # as it is, it reads
    assert "would be 800,000,000 samples" in bounded(predictor.predict_many, [str(path)], on_error="report")[0].error


# ---------------------------------------------------------------------------- properties

WAV = good_wav(0.05)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_wav_header_decodes_or_is_refused(tmp_path, edits):
    data = bytearray(WAV)
    for at, value in edits:
        data[at] = value
    path = tmp_path / "mutated.wav"
    path.write_bytes(bytes(data))
    for fn in (
        lambda: audio.load(path, sample_rate=8000),
        lambda: to_waveform(bytes(data), sample_rate=None, target_rate=8000, name="mutated.wav"),
    ):
        kind, result = outcome(fn)
        if kind == "error":
            assert "mutated.wav" in str(result)
        else:
            x = result[0] if isinstance(result, tuple) else result.samples
            assert x.ndim == 1 and len(x) > 0 and np.isfinite(x).all()


SEEDS = {
    "wav": WAV,
    "flac": encoded(tone(0.5), fmt="FLAC", subtype="PCM_16"),
    "ogg": encoded(tone(0.5), fmt="OGG", subtype="VORBIS"),
    "mp3": encoded(tone(0.5), fmt="MP3", subtype="MPEG_LAYER_III"),
    "aiff": encoded(tone(0.2), fmt="AIFF", subtype="PCM_16"),
    "gsm.wav": encoded(tone(0.2), subtype="GSM610"),
    "adpcm.wav": encoded(tone(0.2), subtype="IMA_ADPCM"),
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(sorted(SEEDS)),
    cut=st.none() | st.floats(0.0, 1.0),
    edits=st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_damaged_files_of_every_codec_decode_or_are_refused(tmp_path, kind, cut, edits):
    """Bytes changed anywhere (headers, frame headers, payload) and files cut short, in every
    codec: the decoder gives finite audio or a `WavetagError`, and never allocates for frames a
    damaged header invents (a FLAC claiming 2.7e9 frames once asked for 96 GiB)."""
    data = bytearray(SEEDS[kind])
    for at, value in edits:
        data[int(at * len(data))] = value
    if cut is not None:
        data = data[: max(1, int(cut * len(data)))]
    path = tmp_path / f"damaged.{kind}"
    path.write_bytes(bytes(data))
    for fn in (
        lambda: audio.load(path, sample_rate=8000),
        lambda: to_waveform(bytes(data), sample_rate=None, target_rate=8000, name=path.name),
    ):
        kind_, result = outcome(fn)
        if kind_ == "error":
            assert path.name in str(result)
        else:
            x = result[0] if isinstance(result, tuple) else result.samples
            assert x.ndim == 1 and len(x) > 0 and np.isfinite(x).all()


@settings(max_examples=100, deadline=None)
@given(rate=st.integers(1, 400_000), frames=st.integers(1, 300), channels=st.integers(1, 8))
def test_any_rate_and_channel_count_decodes_from_bytes(rate, frames, channels):
    x = np.random.default_rng(frames).uniform(-1, 1, size=(frames, channels)).astype(np.float32)
    data = io.BytesIO()
    sf.write(data, x, rate, format="WAV", subtype="FLOAT")
    kind, wav = outcome(to_waveform, data.getvalue(), sample_rate=None, target_rate=8000, name="x.wav")
    if frames * 8000 / rate < 0.5:  # not even one sample at the model's rate
        assert kind == "error" and "less than one sample" in str(wav)
    else:
        assert kind == "audio" and wav.sample_rate == 8000 and np.isfinite(wav.samples).all()
        assert abs(len(wav.samples) - frames * 8000 / rate) <= 1


@settings(max_examples=100, deadline=None)
@given(
    x=arrays(
        st.sampled_from([np.float32, np.float64, np.int16, np.int32, np.uint8, np.bool_, np.complex64]),
        st.tuples(st.integers(1, 3), st.integers(0, 50)) | st.tuples(st.integers(0, 50)),
    ),
    rate=st.integers(-5, 96000),
)
def test_arrays_become_a_waveform_or_a_wavetag_error(x, rate):
    kind, result = outcome(to_waveform, x, sample_rate=rate, target_rate=8000, name="<array>")
    if kind == "audio":
        assert result.samples.ndim == 1 and len(result.samples) > 0 and np.isfinite(result.samples).all()
    else:
        assert "<array>" in str(result)


def test_huge_float32_samples_that_overflow_the_resampler_are_named():
    x = np.array([0.0, 9.412989e36], dtype=np.float32)  # found by the fuzz test above
    with pytest.raises(AudioError, match=r"<array>: samples as large as 9.41e\+36 overflow when resampled"):
        to_waveform(x, sample_rate=1, target_rate=8000, name="<array>")
    ok = to_waveform(np.array([0.0, 1e3], dtype=np.float32), sample_rate=1, target_rate=8000, name="<array>")
    assert np.isfinite(ok.samples).all()  # loud but sane: resampled, not refused


def test_float64_beyond_float32_is_named_not_cast_to_inf():
    x = np.array([0.1, -2e300, 0.2, 1e39], dtype=np.float64)
    with pytest.raises(AudioError, match=r"<array>: 2 samples beyond the float32 range \(largest 2e\+300\)"):
        to_waveform(x, sample_rate=8000, target_rate=8000, name="<array>")


@settings(max_examples=60, deadline=None)
@given(length=st.integers(1, 4000), value=st.sampled_from([0.0, 1.0, -1.0, 1e-30, np.nan, np.inf]))
def test_predictor_on_any_length_and_level(predictor, length, value):
    x = np.full(length, value, dtype=np.float32)
    kind, result = outcome(predictor.predict, (x, SR))
    if np.isfinite(value):
        assert kind == "audio" and np.isfinite(result.score)
    else:
        assert kind == "error" and "NaN/Inf" in str(result)


def test_struct_helpers_build_what_they_claim():
    header = WAV[:44]
    assert header[:4] == b"RIFF" and header[8:16] == b"WAVEfmt "
    assert struct.unpack("<I", header[40:44])[0] == len(WAV) - 44


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["logmel", "logspec", "mfcc", "mulaw", "spectrogram", "waveform"]),
    length=st.integers(1, 4000),
    scale=st.sampled_from([0.0, 1e-30, 1e-3, 1.0, 1e3]),
    seed=st.integers(0, 3),
)
def test_front_ends_stay_finite_on_any_length_and_level(name, length, scale, seed):
    import torch

    from wavetag.frontends import create_frontend

    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((2, 1, length)).astype(np.float32) * scale)
    y = create_frontend(name, sample_rate=SR)(x)
    assert y.shape[0] == 2 and torch.isfinite(y).all()


def test_in_memory_audio_fails_a_seek_before_the_start_as_lseek_does():
    """libsndfile's seek callback must see -1, not an exception swallowed inside cffi."""
    from wavetag.inference.inputs import SeekableBytes

    f = SeekableBytes(b"0123456789")
    assert f.seek(4) == 4 and f.tell() == 4
    assert f.seek(-5, io.SEEK_CUR) == -1 and f.tell() == -1  # failed: reported once ...
    assert f.tell() == 4  # ... and the position is unchanged
    assert f.seek(-11, io.SEEK_END) == -1 and f.tell() == -1
    assert f.seek(-2, io.SEEK_END) == 8 and f.read() == b"89"
