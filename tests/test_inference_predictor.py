"""Predictor: files, arrays at other rates, stereo, bytes, batching, ONNX parity, windows, bad input.

The model is a tiny TC-ResNet trained in a few seconds on tones (low 300 Hz, mid 900 Hz, high
2500 Hz, 0.5 s at 8 kHz) and pink-noise ``_silence_`` clips; `tone_model` is shared with
test_inference_detect.py and trained once per session.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from wavetag.audio import resample
from wavetag.errors import AudioError, CheckpointError, ConfigError
from wavetag.inference.predictor import Predictor

SR = 8000
CLIP_S = 0.5
TONES_HZ = {"low": 300.0, "mid": 900.0, "high": 2500.0}


def tone(freq_hz: float, seconds: float = CLIP_S, *, sample_rate: int = SR, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def pink(n: int, rms: float, rng: np.random.Generator, sample_rate: int = SR) -> np.ndarray:
    from wavetag.data.synth.noise import coloured_noise

    return (rms * coloured_noise(n, exponent=-1.0, rng=rng, sample_rate=sample_rate)).astype(np.float32)


def build_tone_model(root: Path) -> Path:
    """Pack (4 classes x 40 clips; splits 50/25/25 %; 60 s of pink noise in its noise bank) and
    a model trained on it; returns the run directory. Reused when already built."""
    from wavetag.config import config_from_dict
    from wavetag.data import prepare
    from wavetag.train import TrainConfig, train

    run = root / "run"
    if (run / "best" / "config.json").is_file():
        return run
    rng = np.random.default_rng(0)
    n = int(CLIP_S * SR)
    for label, freq in [*TONES_HZ.items(), ("_silence_", None)]:
        (root / "src" / label).mkdir(parents=True)
        for i in range(40):
            if freq is None:
                x = pink(n, 10 ** rng.uniform(-2.5, -0.7), rng)
            else:
                x = tone(freq * rng.uniform(0.9, 1.1)) + pink(n, 0.21 * 10 ** (-rng.uniform(5, 30) / 20), rng)
            sf.write(root / "src" / label / f"clip_{i}.wav", x, SR, subtype="PCM_16")
    (root / "src" / "_background_noise_").mkdir()
    sf.write(root / "src" / "_background_noise_" / "pink.wav", pink(60 * SR, 0.1, rng), SR, subtype="PCM_16")
    prepare(
        root / "src",
        root / "pack",
        source="folder",
        sample_rate=SR,
        clip_seconds=CLIP_S,
        split="random",
        fractions=(0.5, 0.25, 0.25),
        jobs=1,
        progress=False,
    )
    config = config_from_dict(
        TrainConfig,
        {
            "model": "tc_resnet_8",
            "epochs": 6,
            "batch_size": 16,
            "threads": 1,
            "tensorboard": False,
            "confusion_image": False,
            "augment": {"background_noise": {"p": 0.0}},
            "optimizer": {"lr": 0.01},
            "schedule": {"warmup_epochs": 0.5},
        },
    )
    train(root / "pack", config, run, progress=False)
    return run


@pytest.fixture(scope="module")
def tone_model(tmp_path_factory) -> Path:
    """Run directory of the tone model (trained once per session, shared by the inference tests)."""
    return build_tone_model(tmp_path_factory.getbasetemp() / "inference_tones")


@pytest.fixture(scope="module")
def predictor(tone_model) -> Predictor:
    return Predictor.load(tone_model, threads=1)


def test_load_reads_labels_rate_and_window(predictor, tone_model):
    assert predictor.model_dir == tone_model / "best"  # a run directory gives its best/
    assert predictor.labels == ["_silence_", "high", "low", "mid"]
    assert (predictor.sample_rate, predictor.window_s, predictor.task) == (SR, CLIP_S, "multiclass")
    assert predictor.background_labels == ["_silence_"]


def test_predict_file(predictor, tmp_path):
    path = tmp_path / "mid.wav"
    sf.write(path, tone(900.0), SR)
    p = predictor.predict(path, top_k=3)
    assert p.label == "mid" and p.score > 0.9 and p.source == str(path)
    assert [k for k, _ in p.top_k][0] == "mid" and len(p.top_k) == 3
    assert [v for _, v in p.top_k] == sorted((v for _, v in p.top_k), reverse=True)
    assert p.probs.shape == (4,) and p.probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert p.duration_s == pytest.approx(CLIP_S) and p.windows is None
    assert json.loads(json.dumps(p.to_dict()))["label"] == "mid"


def test_array_at_another_rate_is_resampled(predictor):
    x16 = tone(2500.0, sample_rate=16000)
    p = predictor.predict(x16, sample_rate=16000)
    same = predictor.predict(resample(x16, 16000, SR), sample_rate=SR)
    assert p.label == "high"
    np.testing.assert_allclose(p.probs, same.probs, atol=1e-5)


def test_stereo_file_at_another_rate_is_mixed_down(predictor, tmp_path):
    mono = tone(300.0, sample_rate=22050)
    stereo = np.stack([mono, 0.5 * mono])  # (2, T): mixes down to 0.75 x mono
    sf.write(tmp_path / "stereo.wav", stereo.T, 22050, subtype="FLOAT")
    p = predictor.predict(tmp_path / "stereo.wav")
    expected = predictor.predict(0.75 * mono, sample_rate=22050)
    assert p.label == "low"
    np.testing.assert_allclose(p.probs, expected.probs, atol=1e-5)


def test_bytes_of_a_file_equal_the_file(predictor, tmp_path):
    path = tmp_path / "low.wav"
    sf.write(path, tone(300.0, 0.8), SR)
    from_bytes = predictor.predict(path.read_bytes(), name="upload.wav")
    np.testing.assert_allclose(from_bytes.probs, predictor.predict(path).probs, atol=1e-6)
    assert from_bytes.source == "upload.wav"


def test_predict_many_equals_one_by_one(predictor, tmp_path):
    rng = np.random.default_rng(1)
    items = []
    for i, (freq, seconds) in enumerate([(300, 0.3), (900, 0.5), (2500, 1.2), (900, 3.0), (300, 0.7)]):
        path = tmp_path / f"{i}.wav"
        sf.write(path, tone(freq, seconds) + pink(int(seconds * SR), 0.01, rng), SR)
        items.append(str(path))
    items.append((tone(2500, 0.9, sample_rate=16000), 16000))
    calls = []
    many = predictor.predict_many(items, batch_size=3, progress=calls.append)
    single = [predictor.predict(path) for path in items[:-1]] + [predictor.predict(items[-1][0], sample_rate=16000)]
    assert sum(calls) == len(items)
    for a, b in zip(many, single, strict=False):
        assert a.label == b.label
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)
    assert [p.label for p in many] == ["low", "mid", "high", "mid", "low", "high"]


def test_torch_and_onnx_backends_agree(tone_model, predictor, tmp_path):
    onnx = Predictor.load(tone_model, backend="onnx", threads=1)
    assert onnx.backend == "onnx" and list((tone_model / "best" / ".cache").glob("*.onnx"))
    rng = np.random.default_rng(2)
    wav = np.stack([tone(f, 0.5) + pink(SR // 2, 0.05, rng) for f in (300, 900, 2500)] + [pink(SR // 2, 0.1, rng)])
    np.testing.assert_allclose(
        onnx.probabilities(onnx.logits(wav)), predictor.probabilities(predictor.logits(wav)), atol=1e-4
    )
    path = tmp_path / "long.wav"
    sf.write(path, tone(900, 1.7), SR)
    np.testing.assert_allclose(onnx.predict(path).probs, predictor.predict(path).probs, atol=1e-4)
    again = Predictor.load(tone_model, backend="onnx", onnx_path=next((tone_model / "best" / ".cache").glob("*.onnx")))
    np.testing.assert_allclose(again.logits(wav), onnx.logits(wav), atol=1e-6)


def test_windows_of_a_3_s_file(predictor, tmp_path):
    x = np.concatenate([tone(300, 1.0), tone(900, 1.0), tone(2500, 1.0)])  # low | mid | high
    path = tmp_path / "three.wav"
    sf.write(path, x, SR)
    p = predictor.predict(path, windows=True, hop_s=0.25)
    starts = np.array([w.start_s for w in p.windows])
    ends = np.array([w.end_s for w in p.windows])
    np.testing.assert_allclose(starts, np.arange(11) * 0.25)
    np.testing.assert_allclose(ends, starts + CLIP_S)
    by_start = {w.start_s: w.label for w in p.windows}
    assert (by_start[0.0], by_start[0.5], by_start[1.0], by_start[1.5], by_start[2.0], by_start[2.5]) == (
        "low",
        "low",
        "mid",
        "mid",
        "high",
        "high",
    )
    assert p.duration_s == pytest.approx(3.0)
    d = p.to_dict()
    assert len(d["windows"]) == 11 and d["windows"][4] == {**d["windows"][4], "start_s": 1.0, "end_s": 1.5}


def test_last_window_ends_at_the_end_of_the_file(predictor):
    p = predictor.predict(tone(900, 1.2), sample_rate=SR, windows=True)  # hop 0.25 s: starts 0 .. 0.75
    assert [w.start_s for w in p.windows] == [0.0, 0.25, 0.5, 0.75]
    assert p.windows[-1].end_s == pytest.approx(1.2)


# ------------------------------------------------------------------ tasks (a stand-in forward)


def fake_predictor(task: str, labels: list[str], forward) -> Predictor:
    config = {
        "model": {"task": task, "num_classes": len(labels)},
        "sample_rate": SR,
        "clip_seconds": CLIP_S,
        "labels": labels,
    }
    return Predictor(forward, config, backend="torch")


def test_binary_model_reports_both_classes_and_only_positive_is_an_event():
    p = fake_predictor(
        "binary", ["off", "on"], lambda w: np.float32(50) * w.mean(axis=1, keepdims=True)
    )  # DC > 0 -> "on"
    on = p.predict(np.full(SR // 2, 0.1, np.float32), sample_rate=SR)
    off = p.predict(np.full(SR // 2, -0.1, np.float32), sample_rate=SR)
    assert (on.label, off.label) == ("on", "off") and on.probs.shape == (2,)
    assert on.probs[1] == pytest.approx(1 / (1 + np.exp(-5)), rel=1e-5)
    assert p.background_labels == ["off"]
    x = np.concatenate([np.full(2 * SR, -0.1), np.full(SR, 0.1), np.full(2 * SR, -0.1)]).astype(np.float32)
    events = p.detect(x, sample_rate=SR, smooth_s=0.0)
    assert [e.label for e in events] == ["on"]


def test_multilabel_model_gives_a_list_of_present_classes():
    logits = np.array([[3.0, -3.0, 1.0]], np.float32)
    p = fake_predictor("multilabel", ["dog", "cat", "bird"], lambda w: np.repeat(logits, len(w), axis=0))
    r = p.predict(np.zeros(SR, np.float32), sample_rate=SR, top_k=2)
    assert r.label == ["dog", "bird"] and r.score == pytest.approx(1 / (1 + np.exp(-3)), rel=1e-6)
    assert [k for k, _ in r.top_k] == ["dog", "bird"]


# ------------------------------------------------------------------ bad input


def test_array_needs_its_sample_rate(predictor):
    with pytest.raises(ConfigError, match=r"needs its sample_rate= .*model runs at 8000 Hz"):
        predictor.predict(tone(900))


def test_array_with_samples_first_is_refused(predictor):
    with pytest.raises(AudioError, match=r"shape \(4000, 2\) looks like \[T, C\].*pass x.T"):
        predictor.predict(np.zeros((4000, 2), np.float32), sample_rate=SR)


def test_bytes_that_are_not_audio(predictor):
    with pytest.raises(AudioError, match=r"upload.bin: cannot decode 12 bytes as audio"):
        predictor.predict(b"hello world!", name="upload.bin")


def test_unreadable_file_is_reported_and_others_go_on(predictor, tmp_path):
    good, bad = tmp_path / "good.wav", tmp_path / "bad.wav"
    sf.write(good, tone(300), SR)
    bad.write_bytes(b"RIFF....not really a wav file")
    with pytest.raises(AudioError, match="bad.wav: cannot decode audio"):
        predictor.predict_many([str(good), str(bad)])
    results = predictor.predict_many([str(good), str(bad), str(tmp_path / "missing.wav")], on_error="report")
    assert results[0].label == "low" and results[0].error is None
    assert "cannot decode audio" in results[1].error and "no such file" in results[2].error
    assert results[1].to_dict() == {"source": str(bad), "error": results[1].error}


@pytest.fixture
def model_copy(tone_model, tmp_path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(tone_model / "best", copy, ignore=shutil.ignore_patterns(".cache"))
    return copy


def test_missing_config_names_the_file(model_copy):
    (model_copy / "config.json").unlink()
    with pytest.raises(CheckpointError, match=rf"{model_copy}/config.json: missing"):
        Predictor.load(model_copy)


def test_edited_config_is_refused(model_copy):
    config = json.loads((model_copy / "config.json").read_text())
    config["model"]["num_classes"] = 5
    (model_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=rf"{model_copy}/model.safetensors: .*shape.*was it edited"):
        Predictor.load(model_copy)
    config["model"]["num_classes"] = 4
    config["labels"] = ["a", "b"]
    (model_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"config.json: field 'labels' is 2 entries; expected a list of 4"):
        Predictor.load(model_copy)
    (model_copy / "config.json").write_text('{"format": "wavetag-model", ')
    with pytest.raises(CheckpointError, match=r"config.json: not valid JSON"):
        Predictor.load(model_copy, backend="onnx")


def test_pickled_weights_are_never_loaded(model_copy):
    from safetensors.torch import load_file

    state = {k: v.clone() for k, v in load_file(str(model_copy / "model.safetensors")).items()}  # off the mmap
    torch.save(state, model_copy / "model.safetensors")  # a pickle under the safetensors name
    with pytest.raises(CheckpointError, match=r"model.safetensors: is a pickle/zip \(torch.save\) file.*refusing"):
        Predictor.load(model_copy)


def test_unknown_backend_and_missing_directory(tmp_path, tone_model):
    with pytest.raises(ConfigError, match="unknown backend 'tensorrt'"):
        Predictor.load(tone_model, backend="tensorrt")
    with pytest.raises(CheckpointError, match=rf"{tmp_path / 'nope'}: not a model directory"):
        Predictor.load(tmp_path / "nope")


# ------------------------------------------------------------------ CLI


def test_cli_predict_folder_json_csv_and_failures(tone_model, tmp_path):
    from wavetag.cli import _load_commands

    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    sf.write(folder / "a.wav", tone(300), SR)
    sf.write(folder / "sub" / "b.flac", tone(2500, 1.5), SR)
    app = _load_commands()
    runner = CliRunner()
    result = runner.invoke(app, ["predict", str(tone_model), str(folder), "--format", "json", "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(Path(r["source"]).name, r["label"]) for r in rows] == [("a.wav", "low"), ("b.flac", "high")]
    (folder / "broken.wav").write_bytes(b"not audio at all")
    result = runner.invoke(
        app, ["predict", str(tone_model), str(folder), "--format", "csv", "--windows", "--no-progress"]
    )
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "file,start_s,end_s,label,score,top_k,duration_s,error"
    assert sum(line.split(",")[0].endswith("b.flac") for line in lines) == 1 + 5  # the file + windows at 0..1.0 s
    assert any(line.startswith(str(folder / "broken.wav")) and "cannot decode" in line for line in lines)
    assert "2 of 3 files classified; 1 could not be read" in result.stderr
