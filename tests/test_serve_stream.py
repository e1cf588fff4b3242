"""``/v1/stream``: live PCM over a WebSocket, events back as JSON; bad input ends only its own
stream with a message and a close code."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from test_serve import SR, TONES, build_tone_model, tone

from wavetag.inference.predictor import Predictor
from wavetag.serve import BackgroundServer, create_app

CHUNK = 160  # 20 ms at 8 kHz


@pytest.fixture(scope="module")
def predictor(tmp_path_factory) -> Predictor:
    return Predictor.load(build_tone_model(tmp_path_factory.getbasetemp() / "wavetag-tone-model"), threads=1)


@pytest.fixture(scope="module")
def client(predictor):
    app = create_app(predictor, max_frame_bytes=4000, batch_window_ms=2)
    with TestClient(app) as c:
        yield c


def tones_stream(order: list[str], *, gap_s: float = 0.7, seed: int = 0) -> np.ndarray:
    """Quiet noise with the tones of ``order`` every ``gap_s`` + 0.5 s. The three-class tone model
    has no background class and takes the noise for "high": plant low and mid tones."""
    rng = np.random.default_rng(seed)
    parts = []
    for label in order:
        parts += [0.01 * rng.standard_normal(int(gap_s * SR)).astype(np.float32), tone(TONES[label], seed=seed)]
    parts.append(0.01 * rng.standard_normal(int(gap_s * SR)).astype(np.float32))
    return np.concatenate(parts)


def int16_bytes(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def run_stream(ws, data: bytes, chunk_bytes: int) -> tuple[dict, list[dict], dict]:
    ready = ws.receive_json()
    for i in range(0, len(data), chunk_bytes):
        ws.send_bytes(data[i : i + chunk_bytes])
    ws.send_text(json.dumps({"type": "end"}))
    events, fired = [], []
    while True:
        message = ws.receive_json()
        if message["type"] == "fire":
            fired.append(message)
        elif message["type"] == "event":
            assert (message["label"], message["fired_s"]) in [(f["label"], f["fired_s"]) for f in fired]
            events.append(message)
        else:
            assert len(fired) == len(events)  # every event fired first
            return ready, events, message


def closed_with(ws) -> tuple[dict, int]:
    """The error message, then the close code."""
    error = ws.receive_json()
    with pytest.raises(WebSocketDisconnect) as info:
        ws.receive_json()
    return error, info.value.code


def planted(events: list[dict]) -> list[str]:
    return [e["label"] for e in events if e["label"] != "high"]


def test_stream_events_equal_offline_detect(client, predictor):
    audio = tones_stream(["low", "mid", "low"])
    data = int16_bytes(audio)
    with client.websocket_connect(f"/v1/stream?sample_rate={SR}&format=int16") as ws:
        ready, events, end = run_stream(ws, data, CHUNK * 2)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1000
    assert ready["type"] == "ready" and ready["sample_rate"] == SR and ready["labels"] == ["high", "low", "mid"]
    assert ready["input"] == {"sample_rate": SR, "format": "s16le", "channels": 1}
    offline = predictor.detect(np.frombuffer(data, "<i2") / 32768.0, sample_rate=SR)
    assert planted(events) == ["low", "mid", "low"]
    strip = [{k: v for k, v in e.items() if k not in ("type", "score")} for e in events]
    assert strip == [{k: v for k, v in e.to_dict().items() if k != "score"} for e in offline]
    assert end == {
        "type": "end",
        "audio_s": round(len(audio) / SR, 4),
        "frames": -(-len(data) // (CHUNK * 2)),
        "bytes": len(data),
    }
    health = client.get("/health").json()
    assert health["streams"]["done"] >= 1 and health["streams"]["open"] == 0


def test_json_config_float32_stereo_at_another_rate(client):
    import soxr

    audio = soxr.resample(tones_stream(["mid", "low"], seed=1), SR, 16000).astype("<f4")
    data = np.stack([audio, audio], axis=1).tobytes()
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_text(json.dumps({"sample_rate": 16000, "format": "float32", "channels": 2, "threshold": 0.6}))
        ready, events, end = run_stream(ws, data, 1000)  # frames split samples: fine
    assert ready["settings"]["thresholds"] == {"high": 0.6, "low": 0.6, "mid": 0.6}
    assert planted(events) == ["mid", "low"]
    assert end["audio_s"] == pytest.approx(len(audio) / 16000, abs=1e-3)


@pytest.mark.parametrize(
    ("url", "first", "code", "message"),
    [
        ("/v1/stream", b"\x00\x01" * 100, 1003, "expected a JSON configuration first"),
        ("/v1/stream", "hello", 1003, "text frame 'hello' is not a JSON object"),
        ("/v1/stream", {"sample_rate": 16000, "format": "mp3"}, 1007, "format 'mp3'; expected s16le"),
        ("/v1/stream", {"sample_rate": "fast"}, 1007, "'sample_rate' is 'fast'; expected a number"),
        ("/v1/stream", {"sample_rate": 16000, "gain": 2}, 1007, r"unknown configuration field\(s\) \['gain'\]"),
        ("/v1/stream?sample_rate=50", None, 1007, "sample rate 50; expected an integer in 1000..384000"),
        ("/v1/stream?sample_rate=8000&threshold=7", None, 1007, "threshold of 'high' = 7.0 is out of range"),
        ("/v1/stream?sample_rate=8000&format=f32le", b"\x00\x00\xc0\x7f" * 10, 1007, "NaN or Inf"),
        (  # int16 sent as float32: the wrong sample format
            "/v1/stream?sample_rate=8000&format=f32le",
            (np.sin(np.arange(800) / 3) * 20000).astype("<i2").tobytes(),
            1007,
            r"float32 samples reach .*; expected values in \[-1, 1\].*is the audio int16 \(format s16le\)\?",
        ),
        ("/v1/stream?sample_rate=8000", b"\x00" * 4001, 1009, "a frame of 4,001 bytes; frames take at most 4,000"),
        ("/v1/stream?sample_rate=8000", '{"type": "pause"}', 1003, "expected binary PCM frames or"),
    ],
)
def test_bad_input_gets_a_message_and_a_close_code(client, url, first, code, message):
    import re

    with client.websocket_connect(url) as ws:
        if "sample_rate=" in url and first is not None:  # a valid configuration in the URL
            assert ws.receive_json()["type"] == "ready"
        if isinstance(first, bytes):
            ws.send_bytes(first)
        elif isinstance(first, dict):
            ws.send_text(json.dumps(first))
        elif first is not None:
            ws.send_text(first)
        error, got = closed_with(ws)
    assert error["type"] == "error" and got == code, error
    assert re.search(message, error["detail"]), error["detail"]


def test_a_silent_client_is_closed_after_the_idle_timeout(predictor):
    with TestClient(create_app(predictor, idle_timeout_s=0.3)) as c:
        with c.websocket_connect(f"/v1/stream?sample_rate={SR}") as ws:
            assert ws.receive_json()["type"] == "ready"
            ws.send_bytes(int16_bytes(np.zeros(CHUNK, np.float32)))
            error, code = closed_with(ws)
        assert code == 1008 and "no message for 0.3 s" in error["detail"]
        assert c.get("/health").json()["streams"] == {"open": 0, "done": 0, "rejected": 1}


def test_streams_over_the_limit_are_told_to_come_back(predictor):
    with TestClient(create_app(predictor, max_streams=1)) as c:
        with c.websocket_connect(f"/v1/stream?sample_rate={SR}") as first:
            assert first.receive_json()["type"] == "ready"
            with c.websocket_connect(f"/v1/stream?sample_rate={SR}") as second:
                error, code = closed_with(second)
            assert code == 1013 and "1 streams are open; try again later" in error["detail"]
            first.send_text('{"type": "end"}')
            assert first.receive_json()["type"] == "end"


@pytest.mark.slow
def test_concurrent_streams_over_a_real_socket_one_misbehaving(predictor):
    """Uvicorn with the websockets package: four clients stream at once while a fifth sends
    garbage, one sends a frame over the limit and one goes silent; the four get all their events."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    orders = [["mid", "low"], ["low", "mid"], ["mid", "mid"], ["low", "low"]]
    results: dict = {}

    def good(i: int, url: str) -> None:
        data = int16_bytes(tones_stream(orders[i], seed=i))
        with connect(f"{url}/v1/stream?sample_rate={SR}") as ws:
            json.loads(ws.recv())
            for k in range(0, len(data), CHUNK * 2):
                ws.send(data[k : k + CHUNK * 2])
            ws.send(json.dumps({"type": "end"}))
            messages = [json.loads(m) for m in ws]  # until the server closes
        results[i] = planted([m for m in messages if m["type"] == "event"]), messages[-1]["type"]

    def bad(kind: str, url: str) -> None:
        with connect(f"{url}/v1/stream?sample_rate={SR}", max_size=None) as ws:
            json.loads(ws.recv())
            if kind == "garbage":
                ws.send("%%% not json")
            elif kind == "huge":
                ws.send(b"\x00" * 5000)
            try:
                error = json.loads(ws.recv(timeout=10))
                ws.recv(timeout=10)
            except ConnectionClosed as exc:
                results[kind] = error["detail"], exc.rcvd.code

    app = create_app(predictor, max_frame_bytes=4000, idle_timeout_s=1.0, batch_window_ms=2)
    with BackgroundServer(app, ws_max_size=1 << 20) as http_url:
        url = http_url.replace("http://", "ws://")
        threads = [threading.Thread(target=good, args=(i, url)) for i in range(4)]
        threads += [threading.Thread(target=bad, args=(k, url)) for k in ("garbage", "huge", "silent")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        import httpx

        health = httpx.get(f"{http_url}/health").json()
    for i, order in enumerate(orders):
        assert results[i] == (order, "end"), (i, results.get(i))
    assert results["garbage"][1] == 1003 and "not a JSON object" in results["garbage"][0]
    assert results["huge"][1] == 1009 and "5,000 bytes" in results["huge"][0]
    assert results["silent"][1] == 1008 and "no message for 1 s" in results["silent"][0]
    assert health["status"] == "ok" and health["streams"] == {"open": 0, "done": 4, "rejected": 3}
