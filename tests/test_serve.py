"""``wavetag serve``: the HTTP API over a tiny tone model, its limits, errors and batching.

`tone_model_dir` (used by test_export.py and test_serve_browser.py too) trains ds_cnn_s on three
tones (300 / 900 / 2,500 Hz, 0.5 s at 8 kHz) in a few seconds, once per test session.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from wavetag.inference.predictor import Predictor
from wavetag.serve import BackgroundServer, create_app
from wavetag.serve.batcher import MicroBatcher

SR = 8000
CLIP_S = 0.5
TONES = {"low": 300.0, "mid": 900.0, "high": 2500.0}


# ---------------------------------------------------------------------------- the tiny model


def tone(
    freq_hz: float, *, sample_rate: int = SR, seconds: float = CLIP_S, seed: int = 1, channels: int = 1
) -> np.ndarray:
    """A tone as the pack has them (amplitude 0.3, noise at 0.02 rms): float32 ``[T]`` or ``[T, C]``."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    x = 0.3 * np.sin(2 * np.pi * freq_hz * t) + 0.02 * rng.standard_normal(len(t))
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32) if channels > 1 else x.astype(np.float32)


def wav_bytes(x: np.ndarray, sample_rate: int = SR, **kwargs) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sample_rate, format=kwargs.pop("format", "WAV"), subtype=kwargs.pop("subtype", "PCM_16"), **kwargs)
    return buf.getvalue()


def build_tone_model(root: Path) -> Path:
    """Pack + a trained ds_cnn_s under ``root`` (reused when already there); returns the model dir."""
    from wavetag.config import config_from_dict
    from wavetag.data import prepare
    from wavetag.train import TrainConfig, train

    model_dir = root / "run" / "best"
    if (model_dir / "config.json").is_file():
        return model_dir
    rng = np.random.default_rng(0)
    t = np.arange(int(SR * CLIP_S)) / SR
    for label, freq in TONES.items():
        (root / "src" / label).mkdir(parents=True, exist_ok=True)
        for i in range(30):
            x = 0.3 * np.sin(2 * np.pi * freq * rng.uniform(0.9, 1.1) * t) + 0.02 * rng.standard_normal(len(t))
            sf.write(root / "src" / label / f"spk{i % 6}_nohash_{i}.wav", x.astype(np.float32), SR, subtype="PCM_16")
    prepare(root / "src", root / "pack", sample_rate=SR, clip_seconds=CLIP_S, jobs=1, progress=False)
    off = {
        name: {"p": 0.0}
        for name in ("time_shift", "speed", "gain", "background_noise", "colored_noise", "spec_augment")
    }
    config = config_from_dict(
        TrainConfig,
        {
            "model": "ds_cnn_s",
            "epochs": 6,
            "batch_size": 8,
            "threads": 1,
            "tensorboard": False,
            # per-band CMVN ("utterance") would erase a steady tone: no normalisation here
            "frontend": {"name": "logmel", "n_mels": 20, "normalize": "none"},
            "augment": {**off, "mixup": {"alpha": 0.0}},
            "optimizer": {"lr": 3e-3},
        },
    )
    train(root / "pack", config, root / "run", progress=False, verbose=False)
    return model_dir


@pytest.fixture(scope="module")
def tone_model_dir(tmp_path_factory) -> Path:
    return build_tone_model(tmp_path_factory.getbasetemp() / "wavetag-tone-model")


@pytest.fixture(scope="module")
def predictor(tone_model_dir) -> Predictor:
    return Predictor.load(tone_model_dir, threads=1)


@pytest.fixture(scope="module")
def client(predictor):
    app = create_app(predictor, max_upload_bytes=100_000, max_classify_s=2.0, max_detect_s=20.0, batch_window_ms=20)
    with TestClient(app) as c:
        yield c


def post_raw(client, data: bytes, content_type: str | None = "audio/wav", path: str = "/v1/classify", **params):
    headers = {"content-type": content_type} if content_type else {}
    return client.post(path, content=data, headers=headers, params=params)


# ---------------------------------------------------------------------------- routes


def test_health_and_model_info(client):
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    info = client.get("/v1/model").json()
    assert info["labels"] == ["high", "low", "mid"] and info["sample_rate"] == SR and info["window_s"] == CLIP_S
    assert info["name"] == "ds_cnn_s" and info["task"] == "multiclass" and info["num_params"] > 1000
    assert info["limits"] == {"max_upload_bytes": 100_000, "max_classify_s": 2.0, "max_detect_s": 20.0}


@pytest.mark.parametrize("label", sorted(TONES))
def test_classify_multipart_and_raw_body(client, label):
    data = wav_bytes(tone(TONES[label]))
    multipart = client.post("/v1/classify", files={"file": (f"{label}.wav", data, "audio/wav")}, params={"top_k": 2})
    raw = post_raw(client, data, "application/octet-stream", filename=f"{label}.wav")
    for answer in (multipart, raw):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["label"] == label and body["source"] == f"{label}.wav"
        assert body["top_k"][0] == {"label": label, "score": body["score"]} and body["score"] > 0.5
    assert len(multipart.json()["top_k"]) == 2 and len(raw.json()["top_k"]) == 3


def test_other_rate_and_stereo_give_the_same_label(client):
    mono = post_raw(client, wav_bytes(tone(900.0))).json()
    stereo = post_raw(client, wav_bytes(tone(900.0, sample_rate=48000, channels=2), 48000)).json()
    assert stereo["label"] == mono["label"] == "mid"
    assert stereo["input"] == {"sample_rate": 48000, "channels": 2, "format": "WAV/PCM_16", "resampled_to": SR}
    assert stereo["duration_s"] == pytest.approx(CLIP_S)
    flac = post_raw(client, wav_bytes(tone(900.0, sample_rate=16000), 16000, format="FLAC"), "audio/flac").json()
    assert flac["label"] == "mid" and flac["input"]["format"].startswith("FLAC")


def test_long_clip_reports_windows(client):
    x = np.concatenate([tone(300.0), tone(2500.0)])  # 1 s: windows at 0, 0.25, 0.5 s
    body = post_raw(client, wav_bytes(x), windows="true").json()
    assert [w["start_s"] for w in body["windows"]] == [0.0, 0.25, 0.5]
    assert body["windows"][0]["label"] == "low" and body["windows"][-1]["label"] == "high"


def test_detect_returns_events(client):
    gap = np.zeros(int(SR * 1.0), np.float32)
    x = np.concatenate([gap, tone(900.0, seconds=1.0), gap])
    body = post_raw(client, wav_bytes(x), path="/v1/detect", threshold=0.9).json()
    assert body["duration_s"] == pytest.approx(3.0) and body["settings"]["thresholds"]["mid"] == 0.9
    mids = [e for e in body["events"] if e["label"] == "mid"]
    assert len(mids) == 1 and 0.6 < mids[0]["start_s"] < 1.4 and 1.6 < mids[0]["end_s"] < 2.4


# ---------------------------------------------------------------------------- bad input


def test_empty_upload_is_422(client):
    answer = post_raw(client, b"")
    assert answer.status_code == 422
    assert answer.json() == {"error": "RequestError", "detail": answer.json()["detail"]}
    assert "0 bytes received" in answer.json()["detail"]
    empty_file = client.post("/v1/classify", files={"file": ("empty.wav", b"", "audio/wav")})
    assert empty_file.status_code == 422 and "empty.wav: 0 bytes" in empty_file.json()["detail"]


def test_garbage_is_415_with_the_decoder_message(client):
    answer = post_raw(client, b"this is not audio at all" * 10, "application/octet-stream", filename="junk.bin")
    assert answer.status_code == 415
    assert answer.json()["detail"].startswith("junk.bin: cannot decode 240 bytes as audio")
    header_only = wav_bytes(tone(300.0))[:44] + b"\x00"  # a WAV header announcing samples that are not there
    assert post_raw(client, header_only).status_code in (415, 422)


def test_too_large_is_413(client):
    big = wav_bytes(tone(300.0, seconds=1.5, sample_rate=48000), 48000)  # 144 kB > 100 kB
    answer = post_raw(client, big)
    assert answer.status_code == 413 and "the limit is 100,000 bytes" in answer.json()["detail"]
    multipart = client.post("/v1/classify", files={"file": ("big.wav", big, "audio/wav")})
    assert multipart.status_code == 413

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b"\x00" * 10_000

    chunked = client.post("/v1/classify", content=chunks(), headers={"content-type": "audio/wav"})
    assert chunked.status_code == 413 and "more than" in chunked.json()["detail"]


def test_too_long_is_413(client):
    answer = post_raw(client, wav_bytes(tone(300.0, seconds=3.0)), filename="long.wav")
    assert answer.status_code == 413
    assert answer.json()["detail"] == (
        "long.wav: 3.0 s of audio; /v1/classify takes at most 2 s; use /v1/detect for long "
        "recordings, or cut the recording into shorter files"
    )
    assert post_raw(client, wav_bytes(tone(300.0, seconds=3.0)), path="/v1/detect").status_code == 200


def test_wrong_content_type_is_415(client):
    answer = client.post("/v1/classify", json={"audio": "base64?"})
    assert answer.status_code == 415 and "Content-Type 'application/json' is not accepted" in answer.json()["detail"]
    assert post_raw(client, wav_bytes(tone(300.0)), "text/plain").status_code == 415


def test_other_bad_requests_are_422(client):
    no_field = client.post("/v1/classify", files={"audio": ("a.wav", wav_bytes(tone(300.0)), "audio/wav")})
    assert no_field.status_code == 422 and "no field 'file' (fields received: 'audio')" in no_field.json()["detail"]
    assert post_raw(client, wav_bytes(tone(300.0)), top_k=0).status_code == 422
    short = post_raw(client, wav_bytes(tone(300.0, seconds=0.2)), path="/v1/detect")
    assert short.status_code == 422 and "shorter than the model's window" in short.json()["detail"]
    assert post_raw(client, wav_bytes(tone(300.0)), path="/v1/detect", threshold=2).status_code == 422


def test_server_survives_a_failing_model(predictor):
    calls = {"n": 0}

    def flaky(wav):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated failure inside the model")
        return predictor.logits(wav)

    broken = Predictor(flaky, predictor.config, backend="torch", model_dir=predictor.model_dir, model=predictor.model)
    with TestClient(create_app(broken), raise_server_exceptions=False) as c:  # warm-up is call 1
        failed = post_raw(c, wav_bytes(tone(300.0)))
        assert failed.status_code == 500 and "simulated failure" in failed.json()["detail"]
        assert post_raw(c, wav_bytes(tone(300.0))).json()["label"] == "low"
        assert c.get("/health").json()["requests"] == {"classify": 1, "detect": 0, "rejected": 1}


# ---------------------------------------------------------------------------- one model, batched


def test_model_is_loaded_once(tone_model_dir, monkeypatch):
    loads = []
    real = Predictor.load.__func__

    def counting(cls, *args, **kwargs):
        loads.append(args)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(Predictor, "load", classmethod(counting))
    with TestClient(create_app(tone_model_dir, threads=1)) as c:
        for _ in range(3):
            assert post_raw(c, wav_bytes(tone(300.0))).status_code == 200
    assert len(loads) == 1


def test_concurrent_requests_are_batched_and_all_answered(predictor):
    app = create_app(predictor, batch_window_ms=200)
    labels = sorted(TONES) * 6  # 18 requests at once
    start = threading.Barrier(len(labels))
    answers: dict[int, httpx.Response] = {}

    def client_thread(i: int, base: str) -> None:
        data = wav_bytes(tone(TONES[labels[i]], seed=i))
        start.wait()
        answers[i] = httpx.post(f"{base}/v1/classify", content=data, headers={"content-type": "audio/wav"}, timeout=60)

    with BackgroundServer(app) as base:
        threads = [threading.Thread(target=client_thread, args=(i, base)) for i in range(len(labels))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = httpx.get(f"{base}/health").json()["batching"]
    assert all(answers[i].status_code == 200 for i in range(len(labels))), [a.text for a in answers.values()]
    assert [answers[i].json()["label"] for i in range(len(labels))] == labels
    assert stats["calls"] == len(labels) and stats["batches"] < stats["calls"] and stats["largest_batch"] > 1


def test_batcher_splits_results_back_to_callers():
    seen = []

    def forward(wav: np.ndarray) -> np.ndarray:
        seen.append(len(wav))
        return wav[:, :2] * 2

    batcher = MicroBatcher(forward, max_batch=8, window_ms=200)
    inputs = [np.full((n, 4), float(i), np.float32) for i, n in enumerate([1, 3, 2, 2, 12])]
    results: dict[int, np.ndarray] = {}
    start = threading.Barrier(len(inputs))

    def call(i: int) -> None:
        with batcher.active():
            start.wait()
            results[i] = batcher(inputs[i])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.close()
    for i, x in enumerate(inputs):  # batched = each caller's own rows
        np.testing.assert_array_equal(results[i], x[:, :2] * 2)
    assert sum(seen) == 20 and max(seen) == 12 and all(n <= 8 for n in seen if n != 12) and len(seen) < 5


def test_batcher_hands_errors_to_its_callers():
    def forward(wav):
        raise ValueError("bad batch")

    batcher = MicroBatcher(forward, window_ms=0)
    with pytest.raises(ValueError, match="bad batch"):
        batcher(np.zeros((1, 4), np.float32))
    batcher.close()


# ---------------------------------------------------------------------------- docs, page, CLI


def test_openapi_documents_the_upload_and_the_page_is_served(client):
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/classify"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "audio/wav", "application/octet-stream"} <= set(body)
    assert {"413", "415", "422"} <= set(spec["paths"]["/v1/classify"]["post"]["responses"])
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and 'id="top-label"' in page.text and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200 and client.get("/static/style.css").status_code == 200


def test_cli_binds_loopback_by_default(tone_model_dir, monkeypatch, capsys):
    import wavetag.serve as serve_pkg
    from wavetag.cli import main

    seen = {}
    monkeypatch.setattr(serve_pkg, "run", lambda app, **kwargs: seen.update(kwargs, app=app))
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", str(tone_model_dir), "--threads", "1", "--max-upload-mb", "1"])
    assert exit_info.value.code == 0
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8000
    assert seen["app"].state.service.limits.max_upload_bytes == 2**20
    assert "serving ds_cnn_s" in capsys.readouterr().err


def test_cli_refuses_a_missing_model(tmp_path, capsys):
    from wavetag.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", str(tmp_path / "nope")])
    assert exit_info.value.code == 1 and "nope" in capsys.readouterr().err


def test_docs_page_needs_no_cdn(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "cdn." not in page.text
    scripts = [line.split('src="')[1].split('"')[0] for line in page.text.splitlines() if 'src="' in line]
    assert scripts and all(client.get(src).status_code == 200 for src in scripts)
