"""The speech_embedding front end: parity with openWakeWord's ONNX files run by ONNX Runtime,
per-clip dB floor, shapes, the heads on top, export, and the promised errors."""

from __future__ import annotations

import shutil

import numpy as np
import onnxruntime as ort
import pytest
import torch

from wavetag.errors import ConfigError
from wavetag.frontends import create_frontend
from wavetag.frontends.speech_embedding import (
    EMBEDDING_FILE,
    MEL_FILE,
    MIN_SAMPLES,
    find_model_dir,
    num_embeddings,
)

SR = 16000
PARITY_ATOL = 1e-3  # embeddings reach |50|; measured max difference 7e-5 (float32 summation order)


@pytest.fixture(scope="module")
def frontend():
    return create_frontend("speech_embedding").eval()


def onnx_reference(clip: np.ndarray) -> np.ndarray:
    """openWakeWord's own path: melspectrogram.onnx on one clip, dB/10 + 2, windows of 76 frames
    every 8, embedding_model.onnx -> ``[n, 96]``."""
    folder = find_model_dir(None)
    mel = ort.InferenceSession(str(folder / MEL_FILE), providers=["CPUExecutionProvider"])
    emb = ort.InferenceSession(str(folder / EMBEDDING_FILE), providers=["CPUExecutionProvider"])
    spec = np.squeeze(mel.run(None, {"input": (clip * 32768).astype(np.float32)[None]})[0]) / 10 + 2
    windows = [spec[i : i + 76] for i in range(0, spec.shape[0], 8) if spec[i : i + 76].shape[0] == 76]
    out = emb.run(None, {"input_1": np.array(windows, np.float32)[..., None]})[0]
    return out.reshape(len(windows), 96)


def test_parity_with_onnx_runtime_on_speech(frontend, speech):
    ours = frontend(torch.from_numpy(speech)[:, None]).numpy()  # one batched call
    assert ours.shape == (3, 96, num_embeddings(SR))
    for i, clip in enumerate(speech):
        ref = onnx_reference(clip)
        assert np.abs(ours[i].T - ref).max() < PARITY_ATOL


def test_batched_call_equals_one_call_per_clip(frontend, speech):
    # melspectrogram.onnx floors at 80 dB below the *batch* maximum; ours floors per clip, so a
    # quiet clip beside a loud one gives the same embedding as alone
    x = torch.from_numpy(speech)[:, None]
    batched = frontend(x)
    for i in range(len(x)):
        assert torch.allclose(batched[i], frontend(x[i : i + 1])[0], atol=1e-4)


@pytest.mark.parametrize("num_samples", [100, MIN_SAMPLES - 1, MIN_SAMPLES, SR, 2 * SR + 123])
def test_output_shape_matches_the_formula_and_short_input_is_padded(frontend, num_samples):
    out = frontend(torch.randn(2, 1, num_samples) * 0.1)
    assert out.shape == (2, 96, num_embeddings(num_samples)) == (2, *frontend.output_shape(num_samples))
    assert num_embeddings(num_samples) == max(1, ((max(num_samples, MIN_SAMPLES) - 512) // 160 + 1 - 76) // 8 + 1)
    assert torch.isfinite(out).all()


def test_padding_adds_windows_and_silence_is_finite():
    padded = create_frontend("speech_embedding", pad_s=0.25)
    assert padded.output_shape(SR) == (96, num_embeddings(SR + 8000))
    assert torch.isfinite(padded(torch.zeros(1, 1, SR))).all()


def test_weights_are_frozen_buffers_not_parameters(frontend):
    assert not list(frontend.parameters())
    assert not frontend.state_dict()  # read from the ONNX files, not stored in model.safetensors


def test_wrong_sample_rate_is_refused():
    with pytest.raises(ConfigError, match="16000 Hz only"):
        create_frontend("speech_embedding", sample_rate=8000)


def test_missing_and_corrupt_files_say_what_to_do(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"melspectrogram.onnx, embedding_model.onnx not found.*pip install --no-deps openwakeword==0.5.1",
    ):
        create_frontend("speech_embedding", model_dir=str(tmp_path))
    folder = find_model_dir(None)
    shutil.copy(folder / MEL_FILE, tmp_path / MEL_FILE)
    (tmp_path / EMBEDDING_FILE).write_bytes(b"not an onnx file")
    with pytest.raises(ConfigError, match="embedding_model.onnx: not a readable ONNX model"):
        create_frontend("speech_embedding", model_dir=str(tmp_path))
    shutil.copy(folder / EMBEDDING_FILE, tmp_path / EMBEDDING_FILE)
    fe = create_frontend("speech_embedding", model_dir=str(tmp_path))  # a user-given folder works
    assert fe.output_shape(SR) == (96, 3)


def test_package_not_installed_names_the_package(monkeypatch):
    from wavetag.frontends import speech_embedding

    monkeypatch.setattr(speech_embedding, "package_folder", lambda name: None)
    with pytest.raises(ConfigError, match="openwakeword wheel, which is not installed"):
        create_frontend("speech_embedding")


@pytest.mark.parametrize("name", ["emb_mlp", "emb_conv"])
def test_heads_train_export_and_round_trip(tmp_path, name):
    from wavetag.models import create_model, load_model_dir, save_model_dir

    torch.manual_seed(0)
    model = create_model(name, num_classes=4, clip_seconds=1.0)
    x = torch.randn(3, 1, SR) * 0.1
    loss = model(x).logsumexp(1).sum()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    save_model_dir(model, tmp_path / "m", extra={"labels": ["a", "b", "c", "d"]})
    again, _ = load_model_dir(tmp_path / "m")
    assert torch.allclose(again(x), model(x), atol=1e-6)
