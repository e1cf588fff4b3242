"""What the HTTP routes call: decode an upload within limits, then classify or detect.

No model logic here: a `Predictor` does decoding, resampling, windowing and pooling; this module
adds the service's limits and its error classes (each carries the HTTP status the app answers
with) and puts the model call behind a `MicroBatcher`, so concurrent requests share forward passes.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from wavetag.errors import AudioError, WavetagError
from wavetag.inference.detector import resolve_settings
from wavetag.inference.inputs import SeekableBytes, Waveform, to_waveform
from wavetag.inference.predictor import Predictor
from wavetag.serve.batcher import MicroBatcher

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_CLASSIFY_S = 30.0
MAX_DETECT_S = 600.0


class RequestError(WavetagError):
    """A request the service cannot answer; ``status`` is the HTTP status."""

    status = 422


class PayloadTooLarge(RequestError):
    status = 413


class UnsupportedMedia(RequestError):
    status = 415


@dataclass(frozen=True)
class Limits:
    """Per-request limits: upload size (bytes) and decoded duration (seconds) per route."""

    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_classify_s: float = MAX_CLASSIFY_S
    max_detect_s: float = MAX_DETECT_S

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_upload_bytes": self.max_upload_bytes,
            "max_classify_s": self.max_classify_s,
            "max_detect_s": self.max_detect_s,
        }


@dataclass
class Decoded:
    """An upload as the model's mono ``[T]`` at its rate, and what was received."""

    wav: Waveform
    input_sample_rate: int
    input_channels: int
    input_format: str


class Service:
    """One loaded `Predictor` and its batcher; `classify` and `detect` take the bytes of a file."""

    def __init__(
        self, predictor, *, limits: Limits = Limits(), max_batch: int = 32, batch_window_ms: float = 5.0
    ) -> None:
        self.predictor = predictor
        self.limits = limits
        self.batcher = MicroBatcher(predictor.logits, max_batch=max_batch, window_ms=batch_window_ms)
        # The same model behind the batcher: its logits() checks shapes and then queues the call.
        self.batched = Predictor(
            self.batcher,
            predictor.config,
            backend=predictor.backend,
            model_dir=predictor.model_dir,
            model=predictor.model,
        )
        self.started = time.time()
        self._lock = threading.Lock()
        self.counts = {"classify": 0, "detect": 0, "rejected": 0}
        self.stream_limits = None  # the /v1/stream limits and counts, set by the app

    # ------------------------------------------------------------------ routes' work

    def classify(self, data: bytes, *, name: str, top_k: int = 3, windows: bool = False) -> dict[str, Any]:
        """Top-k of one clip (clips longer than the window: pooled half-overlapping windows)."""
        with self.batcher.active(), self._counted("classify"):
            clip = self.decode(data, name=name, max_duration_s=self.limits.max_classify_s, route="/v1/classify")
            result = self.batched.predict(
                clip.wav.samples, sample_rate=clip.wav.sample_rate, top_k=top_k, windows=windows, name=name
            )
            out = result.to_dict()
            out["warnings"] = [*clip.wav.warnings, *out["warnings"]]  # the file's own (a truncated header) first
            return {**out, "input": self._input(clip)}

    def detect(
        self,
        data: bytes,
        *,
        name: str,
        hop_s: float | None = None,
        smooth_s: float | None = None,
        threshold: float | None = None,
        refractory_s: float | None = None,
    ) -> dict[str, Any]:
        """Events in a long recording, with the settings used."""
        with self.batcher.active(), self._counted("detect"):
            settings = resolve_settings(
                self.batched, hop_s=hop_s, smooth_s=smooth_s, thresholds=threshold, refractory_s=refractory_s
            )
            clip = self.decode(data, name=name, max_duration_s=self.limits.max_detect_s, route="/v1/detect")
            events = self.batched.detect(
                clip.wav.samples,
                sample_rate=clip.wav.sample_rate,
                hop_s=settings.hop_s,
                smooth_s=settings.smooth_s,
                thresholds=threshold,
                refractory_s=settings.refractory_s,
                name=name,
            )
            return {
                "source": name,
                "duration_s": round(clip.wav.duration_s, 4),
                "events": [e.to_dict() for e in events],
                "settings": settings.to_dict(),
                "warnings": list(clip.wav.warnings),
                "input": self._input(clip),
            }

    # ------------------------------------------------------------------ decoding

    def decode(self, data: bytes, *, name: str, max_duration_s: float, route: str) -> Decoded:
        """Bytes of an audio file -> mono float32 at the model's rate, within the limits.

        Raises `RequestError` (empty, 422), `PayloadTooLarge` (too long, 413) or
        `UnsupportedMedia` (not audio libsndfile can read, 415) with the library's message."""
        import soundfile as sf

        if not data:
            raise RequestError(
                f"{name}: 0 bytes received; expected the bytes of an audio file (WAV, FLAC, OGG, MP3) "
                "as the request body or as the multipart field 'file'"
            )
        try:
            info = sf.info(SeekableBytes(data))
        except Exception:  # noqa: BLE001 - libsndfile's error types vary; to_waveform words the message
            info = None
        if info is not None and info.samplerate > 0:
            self._check_duration(info.frames / info.samplerate, name=name, max_duration_s=max_duration_s, route=route)
        try:
            wav = to_waveform(data, sample_rate=None, target_rate=self.predictor.sample_rate, name=name)
        except AudioError as exc:
            raise (UnsupportedMedia if info is None else RequestError)(str(exc)) from None
        self._check_duration(wav.duration_s, name=name, max_duration_s=max_duration_s, route=route)
        if info is None:  # decoded without a header libsndfile could describe: say what it was
            return Decoded(wav, 0, 0, "unknown")
        return Decoded(wav, int(info.samplerate), int(info.channels), f"{info.format}/{info.subtype}")

    def _check_duration(self, seconds: float, *, name: str, max_duration_s: float, route: str) -> None:
        if seconds > max_duration_s:
            other = "; use /v1/detect for long recordings" if route == "/v1/classify" else ""
            raise PayloadTooLarge(
                f"{name}: {seconds:.1f} s of audio; {route} takes at most {max_duration_s:g} s{other}, "
                "or cut the recording into shorter files"
            )

    @staticmethod
    def _input(clip: Decoded) -> dict[str, Any]:
        return {
            "sample_rate": clip.input_sample_rate,
            "channels": clip.input_channels,
            "format": clip.input_format,
            "resampled_to": clip.wav.sample_rate,
        }

    # ------------------------------------------------------------------ description

    def model_info(self) -> dict[str, Any]:
        p = self.predictor
        spec = p.config.get("model", {})
        info = {
            "name": spec.get("name"),
            "task": p.task,
            "labels": list(p.labels),
            "sample_rate": p.sample_rate,
            "window_s": p.window_s,
            "backend": p.backend,
            "frontend": spec.get("frontend"),
            "num_params": p.model.num_params() if p.model is not None else None,
            "model_dir": str(p.model_dir) if p.model_dir else None,
            "limits": self.limits.to_dict(),
        }
        return info

    def health(self) -> dict[str, Any]:
        with self._lock:
            counts = dict(self.counts)
        return {
            "status": "ok",
            "model": self.predictor.config.get("model", {}).get("name"),
            "uptime_s": round(time.time() - self.started, 3),
            "requests": counts,
            "streams": dict(self.stream_limits.counts) if self.stream_limits is not None else {},
            "batching": self.batcher.stats(),
        }

    def close(self) -> None:
        self.batcher.close()

    # ------------------------------------------------------------------ counters

    @contextlib.contextmanager
    def _counted(self, key: str) -> Iterator[None]:
        """Count a request under ``key`` when it succeeds (the app counts the rejected ones)."""
        yield
        self.count(key)

    def count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1
