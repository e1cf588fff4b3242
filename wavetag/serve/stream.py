"""``/v1/stream``: live detection over a WebSocket.

Protocol (every server message is a JSON text frame with a ``type``)::

    client: connect ws://HOST/v1/stream[?sample_rate=16000&format=s16le&channels=1&threshold=..]
    client: {"sample_rate": 48000, "format": "f32le", "channels": 1}     only without ?sample_rate=
            optional fields: hop_s, smooth_s, threshold, refractory_s (as /v1/detect)
    server: {"type": "ready", "sample_rate": 16000, "labels": [...], "input": {...}, "settings": {...}}
    client: binary frames of little-endian PCM: s16le (int16) or f32le (float32), interleaved
            channels, any size up to max_frame_bytes (a sample may be split between frames)
    server: {"type": "fire", "label", "fired_s", "score", ...}    the moment a class fires (not final)
    server: {"type": "event", "label", "start_s", "end_s", "score", "fired_s"}  as each becomes final
            (its run has ended and refractory_s has passed: about a second after "fire")
    client: {"type": "end"}                                     (or just close the socket)
    server: the last events, then {"type": "end", "audio_s", "frames", "bytes"};
            closes with 1000

Times are seconds of the stream since its first sample. Bad input gets
``{"type": "error", "error": CLASS, "detail": MESSAGE}`` and a close code: 1003 (a binary frame
before the configuration, or a text frame that is not one of the messages above), 1007 (a bad
configuration or bad samples: NaN floats, or floats far beyond [-1, 1], i.e. int16 sent as
float32), 1008 (no message for ``idle_timeout_s``), 1009 (a frame over ``max_frame_bytes``), 1013
(``max_streams`` already open), 1011 (a server bug). Only that stream ends; the model and every
other stream carry on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from wavetag.errors import WavetagError
from wavetag.inference.pcm import PcmDecoder, PcmFormat
from wavetag.inference.streaming import StreamingDetector

log = logging.getLogger("wavetag.serve")

MAX_FRAME_BYTES = 1 << 20  # 32 s of 16-kHz int16 mono per frame at most
IDLE_TIMEOUT_S = 10.0
MAX_STREAMS = 32
FORMAT_ALIASES = {"int16": "s16le", "s16le": "s16le", "float32": "f32le", "f32le": "f32le"}
SETTING_FIELDS = ("hop_s", "smooth_s", "threshold", "refractory_s")
CONFIG_FIELDS = ("type", "sample_rate", "format", "channels", *SETTING_FIELDS)
CLOSE_NORMAL, CLOSE_UNSUPPORTED, CLOSE_INVALID, CLOSE_POLICY, CLOSE_TOO_BIG = 1000, 1003, 1007, 1008, 1009
CLOSE_SERVER_ERROR, CLOSE_TRY_LATER = 1011, 1013


class StreamError(WavetagError):
    """Ends one stream: ``detail`` goes to the client, then the socket closes with ``code``."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class StreamLimits:
    """Per-stream limits and the count of open streams (thread-safe)."""

    def __init__(
        self,
        *,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        max_streams: int = MAX_STREAMS,
    ) -> None:
        self.max_frame_bytes, self.idle_timeout_s, self.max_streams = max_frame_bytes, idle_timeout_s, max_streams
        self._lock = threading.Lock()
        self.counts = {"open": 0, "done": 0, "rejected": 0}

    def count(self, key: str, delta: int = 1) -> None:
        with self._lock:
            self.counts[key] += delta

    def try_open(self) -> bool:
        with self._lock:
            if self.counts["open"] >= self.max_streams:
                return False
            self.counts["open"] += 1
            return True


def add_stream_route(app, service, limits: StreamLimits) -> None:
    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket) -> None:
        await ws.accept()
        if not limits.try_open():
            limits.count("rejected")
            await _fail(ws, StreamError(CLOSE_TRY_LATER, f"{limits.max_streams} streams are open; try again later"))
            return
        try:
            await _serve_stream(ws, service, limits)
            limits.count("done")
        except WebSocketDisconnect:
            limits.count("done")  # the client left: nothing to answer
        except StreamError as exc:
            limits.count("rejected")
            await _fail(ws, exc)
        except WavetagError as exc:  # a bad setting the library refused
            limits.count("rejected")
            await _fail(ws, StreamError(CLOSE_INVALID, str(exc)), error=type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - a bug ends this stream only
            log.exception("unexpected error in a /v1/stream session")
            limits.count("rejected")
            await _fail(ws, StreamError(CLOSE_SERVER_ERROR, f"server error: {exc}"))
        finally:
            limits.count("open", -1)


async def _serve_stream(ws: WebSocket, service, limits: StreamLimits) -> None:
    config = dict(ws.query_params)
    if "sample_rate" not in config:
        message = await _receive(ws, limits)
        if message.get("text") is None:
            raise StreamError(
                CLOSE_UNSUPPORTED,
                'expected a JSON configuration first, e.g. {"sample_rate": 16000, "format": "s16le"} (or '
                "?sample_rate= in the URL), got a binary frame",
            )
        config = _json_message(message["text"])
    fmt, settings = parse_config(config)
    predictor = service.batched
    detector = await run_in_threadpool(lambda: StreamingDetector(predictor, **settings))
    decoder = PcmDecoder(fmt, target_rate=predictor.sample_rate)
    await ws.send_json(
        {
            "type": "ready",
            "sample_rate": predictor.sample_rate,
            "labels": list(predictor.labels),
            "input": {"sample_rate": fmt.sample_rate, "format": fmt.sample_format, "channels": fmt.channels},
            "settings": detector.settings.to_dict(),
            "windows": detector.engine.describe(),
            "limits": {"max_frame_bytes": limits.max_frame_bytes, "idle_timeout_s": limits.idle_timeout_s},
        }
    )
    frames = received = 0
    while True:
        message = await _receive(ws, limits)
        data = message.get("bytes")
        if data is not None:
            if len(data) > limits.max_frame_bytes:
                raise StreamError(
                    CLOSE_TOO_BIG,
                    f"a frame of {len(data):,} bytes; frames take at most {limits.max_frame_bytes:,} bytes: send "
                    "the audio in smaller pieces (e.g. 20-100 ms each)",
                )
            frames, received = frames + 1, received + len(data)
            events = await run_in_threadpool(_push, service, detector, decoder, data)
        else:
            end = _json_message(message.get("text") or "")
            if end.get("type") != "end":
                raise StreamError(CLOSE_UNSUPPORTED, f'expected binary PCM frames or {{"type": "end"}}, got {end!r}')
            events = await run_in_threadpool(_finish, service, detector, decoder)
        for kind, event in events:
            await ws.send_json({"type": kind, **event.to_dict()})
        if data is None:
            summary = {"audio_s": round(detector.audio_s, 4), "frames": frames, "bytes": received}
            await ws.send_json({"type": "end", **summary})  # no CPU figure: streams share the process
            await ws.close(CLOSE_NORMAL)
            return


def parse_config(config: dict[str, Any]):
    """The client's configuration (JSON message or query parameters) → `PcmFormat` and detector
    settings; `StreamError` 1007 naming the field otherwise."""
    unknown = sorted(set(config) - set(CONFIG_FIELDS))
    if unknown:
        raise StreamError(CLOSE_INVALID, f"unknown configuration field(s) {unknown}; expected {list(CONFIG_FIELDS)}")
    fmt_name = str(config.get("format", "s16le"))
    if fmt_name not in FORMAT_ALIASES:
        raise StreamError(
            CLOSE_INVALID,
            f"format {fmt_name!r}; expected s16le (int16) or f32le (float32), little-endian, channels interleaved",
        )
    try:
        rate = _number(config, "sample_rate", int)
        channels = _number(config, "channels", int) if "channels" in config else 1
        settings = {k: _number(config, k, float) for k in SETTING_FIELDS if config.get(k) is not None}
    except (TypeError, ValueError) as exc:
        raise StreamError(CLOSE_INVALID, str(exc)) from None
    settings["thresholds"] = settings.pop("threshold", None)
    try:
        fmt = PcmFormat(rate, channels, FORMAT_ALIASES[fmt_name]).validate("stream configuration")
    except WavetagError as exc:
        raise StreamError(CLOSE_INVALID, str(exc)) from None
    return fmt, settings


def _number(config: dict[str, Any], key: str, kind):
    value = config.get(key)
    if value is None:
        raise ValueError(f"configuration field {key!r} is missing; expected a number")
    if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"configuration field {key!r} is {value!r}; expected {kind.__name__}")
    try:
        return kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"configuration field {key!r} is {value!r}; expected a number") from None


def _json_message(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        shown = text[:60] + ("..." if len(text) > 60 else "")
        raise StreamError(CLOSE_UNSUPPORTED, f"text frame {shown!r} is not a JSON object")
    return value


async def _receive(ws: WebSocket, limits: StreamLimits) -> dict[str, Any]:
    try:
        message = await asyncio.wait_for(ws.receive(), timeout=limits.idle_timeout_s)
    except TimeoutError:
        raise StreamError(
            CLOSE_POLICY, f"no message for {limits.idle_timeout_s:g} s; the stream was closed (send audio or end it)"
        ) from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    return message


def _push(service, detector, decoder, data: bytes) -> list:
    with service.batcher.active():
        try:
            samples = decoder.feed(data)
        except WavetagError as exc:
            raise StreamError(CLOSE_INVALID, str(exc)) from None
        final = detector.push(samples)
        return [("fire", e) for e in detector.take_fired()] + [("event", e) for e in final]


def _finish(service, detector, decoder) -> list:
    with service.batcher.active():
        final = detector.push(decoder.flush()) + detector.flush()
        return [("fire", e) for e in detector.take_fired()] + [("event", e) for e in final]


async def _fail(ws: WebSocket, exc: StreamError, *, error: str | None = None) -> None:
    if ws.application_state == WebSocketState.DISCONNECTED or ws.client_state == WebSocketState.DISCONNECTED:
        return
    try:
        await ws.send_json({"type": "error", "error": error or type(exc).__name__, "detail": str(exc)})
        await ws.close(exc.code, reason=str(exc).encode()[:120].decode(errors="ignore"))
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client is already gone
