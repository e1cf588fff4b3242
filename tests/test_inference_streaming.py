"""Incremental streaming detection: each window computed once from the new audio, and the same
events as offline ``detect`` whatever the chunk sizes."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from test_inference_predictor import SR, build_tone_model, pink, tone

from wavetag.errors import ConfigError
from wavetag.inference.detector import detect
from wavetag.inference.incremental import Engine
from wavetag.inference.predictor import Predictor
from wavetag.inference.streaming import StreamingDetector, detect_file
from wavetag.models import create_model

LABELS = ["_silence_", "a", "b", "c"]


@pytest.fixture(scope="module")
def tone_predictor(tmp_path_factory) -> Predictor:
    """The trained tone model of the inference tests: low, mid, high (300, 900, 2500 Hz) and _silence_."""
    return Predictor.load(build_tone_model(tmp_path_factory.getbasetemp() / "inference_tones"), threads=1)


def random_predictor(name: str = "ds_cnn_s", **kwargs) -> Predictor:
    torch.manual_seed(0)
    model = create_model(name, num_classes=len(LABELS), sample_rate=SR, clip_seconds=0.5, **kwargs)
    return Predictor.from_model(model, labels=LABELS)


def noisy_tones(seconds: float, seed: int = 0) -> np.ndarray:
    """Pink noise with tones switching on and off: posteriors that move, so events come and go."""
    rng = np.random.default_rng(seed)
    x = pink(int(seconds * SR), 0.05, rng)
    for start in np.arange(0.3, seconds - 0.6, 0.7):
        a = int(start * SR)
        x[a : a + int(0.4 * SR)] += tone(float(rng.choice([300, 900, 2500])), 0.4)
    return x[: len(x) - 123]  # not a whole number of hops


def stream(det: StreamingDetector, audio: np.ndarray, sizes: list[int]) -> list:
    events, pos, i = [], 0, 0
    while pos < len(audio):
        n = sizes[i % len(sizes)]
        events += det.push(audio[pos : pos + n])
        pos, i = pos + n, i + 1
    return sorted(events + det.flush(), key=lambda e: (e.start_s, e.label))


def same_events(offline: list, live: list) -> bool:
    a, b = [e.to_dict() for e in offline], [e.to_dict() for e in live]
    scores_close = all(abs(x.pop("score") - y.pop("score")) < 1e-5 for x, y in zip(a, b, strict=False))
    return len(a) == len(b) and scores_close and a == b


@pytest.mark.parametrize(
    ("name", "frontend", "kind"),
    [
        ("ds_cnn_s", {"name": "logmel", "n_mels": 20, "normalize": "utterance"}, "incremental STFT"),
        (
            "ds_cnn_s",
            {"name": "mfcc", "n_mels": 20, "n_mfcc": 13},
            "incremental STFT",
        ),  # dB floor per window: applied per window
        ("ds_cnn_s", {"name": "logspec", "center": False}, "incremental STFT"),
        ("ds_cnn_s", {"name": "logmel", "n_mels": 20, "hop_s": 0.015}, "whole windows"),  # 0.1 s not a whole number
        ("cnn1d", None, "whole windows"),
    ],
)
def test_engine_logits_equal_the_model_on_each_window(name, frontend, kind):
    predictor = random_predictor(name, **({"frontend": frontend} if frontend else {}))
    hop = int(0.1 * SR)
    engine = Engine(predictor, hop=hop)
    assert engine.describe() == f"{name}: {kind}"
    audio = noisy_tones(3.0)
    starts = list(range(0, len(audio) - predictor.window + 1, hop))
    got = np.concatenate(
        [engine.logits(audio, 0, starts[i : i + 5]) for i in range(0, len(starts), 5)]
    )  # the cache grows window by window, as live
    want = predictor.logits(np.stack([audio[s : s + predictor.window] for s in starts]))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_ensemble_members_each_get_their_engine():
    members = [
        {"name": "ds_cnn_s", "frontend": {"name": "logmel", "n_mels": 20}},
        {"name": "cnn1d", "frontend": {"name": "waveform"}},
    ]
    predictor = random_predictor("ensemble", members=members)
    engine = Engine(predictor, hop=int(0.1 * SR))
    assert engine.describe() == "ds_cnn_s: incremental STFT; cnn1d: whole windows"
    audio = noisy_tones(2.0)
    starts = list(range(0, len(audio) - predictor.window + 1, 800))
    want = predictor.logits(np.stack([audio[s : s + predictor.window] for s in starts]))
    np.testing.assert_allclose(engine.logits(audio, 0, starts), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("sizes", "settings"),
    [
        ([160], {"smooth_s": 0.3}),
        ([1, 7, 4000, 333], {"smooth_s": 0.3, "refractory_s": 0.25}),
        ([12_345], {"smooth_s": 0.0, "refractory_s": 2.0}),
        ([800], {"smooth_s": 0.5, "hop_s": 0.05, "refractory_s": 0.0}),
    ],
)
def test_streaming_events_equal_offline_detect(tone_predictor, sizes, settings):
    audio = noisy_tones(12.0)
    offline = detect(tone_predictor, audio, sample_rate=SR, thresholds=0.4, **settings)
    assert len(offline) >= 8  # a tone every 0.7 s: runs, merges and releases all get exercised
    det = StreamingDetector(tone_predictor, thresholds=0.4, batch_size=7, **settings)
    assert same_events(offline, stream(det, audio, sizes))


def test_trained_model_streams_the_planted_events(tone_predictor):
    predictor = tone_predictor
    rng = np.random.default_rng(5)
    audio = pink(10 * SR, 0.03, rng)
    for freq, start_s in [(300, 1.0), (900, 3.3), (2500, 5.65), (900, 8.0)]:
        a = int(start_s * SR)
        audio[a : a + len(tone(freq))] += tone(freq)
    offline = predictor.detect(audio, sample_rate=SR, hop_s=0.1)
    det = StreamingDetector(predictor, hop_s=0.1)
    live = stream(det, audio, [320])  # 40-ms chunks
    assert [e.label for e in live] == ["low", "mid", "high", "mid"]
    assert same_events(offline, live)
    assert det.engine.describe().endswith("incremental STFT")
    assert det.real_time_factor > 0 and det.audio_s == pytest.approx(10.0)


def test_events_are_handed_out_once_final(tone_predictor):
    audio = noisy_tones(12.0)
    det = StreamingDetector(tone_predictor, thresholds=0.4, refractory_s=0.5)
    times = []
    for pos in range(0, len(audio), 400):
        for e in det.push(audio[pos : pos + 400]):
            times.append((e.fired_s, (pos + 400) / SR))
    assert times, "no event became final before the end of the stream"
    for fired_s, known_s in times:  # final once refractory_s passed since it fired (and its run ended)
        assert fired_s + 0.5 <= known_s + 1e-9


def test_short_stream_gives_no_events_and_a_flushed_stream_refuses_audio():
    predictor = random_predictor()
    det = StreamingDetector(predictor, thresholds=0.3)
    assert det.push(np.zeros(100, np.float32)) == [] and det.flush() == []
    with pytest.raises(ConfigError, match="flushed; start a new StreamingDetector"):
        det.push(np.zeros(10, np.float32))


@pytest.mark.parametrize("file_rate", [SR, 16000])
def test_detect_file_streams_blocks_with_the_offline_events(tone_predictor, tmp_path, file_rate):
    import soundfile as sf
    import soxr

    audio = noisy_tones(9.0, seed=3)
    path = tmp_path / "long.wav"
    sf.write(path, audio if file_rate == SR else soxr.resample(audio, SR, file_rate), file_rate, subtype="PCM_16")
    offline = tone_predictor.detect(path, thresholds=0.4)
    live, det = detect_file(tone_predictor, path, block_s=2.3, thresholds=0.4)  # blocks cut windows anywhere
    assert len(offline) >= 5 and same_events(offline, live)
    assert det.windows == 1 + math.ceil((len(audio) - tone_predictor.window) / det.hop)


def test_detect_command_prints_the_real_time_factor(tone_predictor, tmp_path):
    import soundfile as sf
    from typer.testing import CliRunner

    from wavetag.cli import _load_commands

    path = tmp_path / "long.wav"
    sf.write(path, noisy_tones(4.0), SR, subtype="PCM_16")
    result = CliRunner().invoke(
        _load_commands(), ["detect", str(tone_predictor.model_dir), str(path), "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"events in .*long\.wav; real-time factor \d+\.\d{4} \(CPU .* incremental STFT\)", result.stderr)


def test_firings_come_at_once_and_match_the_final_events(tone_predictor):
    audio = noisy_tones(12.0)
    det = StreamingDetector(tone_predictor, thresholds=0.4, refractory_s=0.5)
    fired, final = [], []
    for pos in range(0, len(audio), 400):
        final += det.push(audio[pos : pos + 400])
        fired += [(e, (pos + 400) / SR) for e in det.take_fired()]
    final += det.flush()
    fired += [(e, len(audio) / SR) for e in det.take_fired()]
    assert sorted((e.fired_s, e.label) for e, _ in fired) == sorted((e.fired_s, e.label) for e in final)
    for e, known_s in fired:  # handed out with the chunk that completed the window it fired on
        assert e.fired_s <= known_s + 1e-9 and known_s - e.fired_s < 400 / SR + 1e-9


def test_detect_file_stops_where_a_truncated_file_ends(tone_predictor, tmp_path):
    import soundfile as sf

    path = tmp_path / "cut.wav"
    sf.write(path, noisy_tones(6.0, seed=4), SR, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header still promises 6 s
    events, det = detect_file(tone_predictor, path, block_s=1.0, thresholds=0.4)
    assert det.audio_s == pytest.approx(3.0, abs=0.01)  # the blocks past the cut are not asked for
    assert all(e.end_s <= 3.0 for e in events)
