"""The HTTP service: FastAPI routes over one `Predictor`, and the page at ``/``.

    GET  /              the web page (upload or record, waveform, spectrogram, top-k bars)
    GET  /health        status, request counts, batching counters
    GET  /v1/model      labels, sample rate, window, task, model name, parameters, limits
    POST /v1/classify   an audio file -> top-k             (?top_k=3&windows=false)
    POST /v1/detect     a long recording -> events         (?hop_s=&smooth_s=&threshold=&refractory_s=)
    WS   /v1/stream     live PCM in, events out as JSON    (protocol: `wavetag.serve.stream`)
    GET  /docs          OpenAPI page (FastAPI's)

The model is loaded once, when the app is created; routes only read the upload and hand it to
`wavetag.serve.service.Service` in a worker thread. Every `WavetagError` becomes a 4xx carrying
its message (413 too large or too long, 415 not audio or wrong Content-Type, 422 otherwise);
anything else is a 500 with its text, and the server keeps running.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import Query, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline  # /docs with Swagger UI served locally, no CDN
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from wavetag import __version__
from wavetag.config import check_range
from wavetag.errors import AudioError, ConfigError, WavetagError
from wavetag.inference.predictor import Predictor
from wavetag.serve import schemas
from wavetag.serve.service import MAX_CLASSIFY_S, MAX_DETECT_S, MAX_UPLOAD_BYTES, Limits, RequestError, Service
from wavetag.serve.stream import IDLE_TIMEOUT_S, MAX_FRAME_BYTES, MAX_STREAMS, StreamLimits, add_stream_route
from wavetag.serve.uploads import read_upload

STATIC_DIR = Path(__file__).parent / "static"
log = logging.getLogger("wavetag.serve")


def create_app(
    model: Any,
    *,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    max_classify_s: float = MAX_CLASSIFY_S,
    max_detect_s: float = MAX_DETECT_S,
    batch_window_ms: float = 5.0,
    max_batch: int = 32,
    backend: str = "torch",
    onnx_path: str | Path | None = None,
    threads: int | None = None,
    max_frame_bytes: int = MAX_FRAME_BYTES,
    idle_timeout_s: float = IDLE_TIMEOUT_S,
    max_streams: int = MAX_STREAMS,
):
    """A FastAPI app serving ``model``: a model or run directory, or a loaded `Predictor`.

    ``max_upload_bytes``: largest upload; ``max_classify_s`` / ``max_detect_s``: longest audio per
    route (seconds); ``batch_window_ms``: how long a forward pass waits for other active requests'
    windows; ``max_batch``: windows per pass; ``backend``/``onnx_path``/``threads``: as
    `Predictor.load`; ``max_frame_bytes`` / ``idle_timeout_s`` / ``max_streams``: limits of the
    ``/v1/stream`` WebSocket (largest binary frame, longest silence, streams open at once). Raises
    `WavetagError` (e.g. `CheckpointError`) before any port is bound.
    """
    check_range("max_upload_bytes", max_upload_bytes, 1, 1 << 34)
    check_range("max_classify_s", max_classify_s, 0.01, 86400)
    check_range("max_detect_s", max_detect_s, 0.01, 86400)
    check_range("max_frame_bytes", max_frame_bytes, 16, 1 << 26)
    check_range("idle_timeout_s", idle_timeout_s, 0.01, 86400)
    check_range("max_streams", max_streams, 1, 4096)
    predictor = (
        model
        if isinstance(model, Predictor)
        else Predictor.load(model, backend=backend, onnx_path=onnx_path, threads=threads)
    )
    predictor.logits(np.zeros((1, predictor.window), np.float32))  # warm-up: the first call is the slow one
    service = Service(
        predictor,
        limits=Limits(int(max_upload_bytes), float(max_classify_s), float(max_detect_s)),
        max_batch=max_batch,
        batch_window_ms=batch_window_ms,
    )

    @asynccontextmanager
    async def lifespan(_app):
        yield
        service.close()

    name = predictor.config.get("model", {}).get("name", "model")
    app = FastAPIOffline(
        title=f"wavetag: {name}",
        version=_version(),
        lifespan=lifespan,
        description=f"Audio classification with {name} ({len(predictor.labels)} classes, "
        f"{predictor.sample_rate} Hz, {predictor.window_s:g}-s window). Upload any audio file; "
        "it is mixed down and resampled. The page at / does the same in a browser.",
    )
    app.state.service = service
    _add_error_handlers(app, service)
    _add_routes(app, service)
    service.stream_limits = StreamLimits(
        max_frame_bytes=int(max_frame_bytes), idle_timeout_s=float(idle_timeout_s), max_streams=int(max_streams)
    )
    add_stream_route(app, service, service.stream_limits)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _add_routes(app, service: Service) -> None:
    limits = service.limits

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/health", response_model=schemas.Health, summary="Liveness, request counts and batching counters")
    async def health() -> dict[str, Any]:
        return service.health()

    @app.get("/v1/model", response_model=schemas.ModelInfo, summary="The model: labels, sample rate, window, limits")
    async def model_info() -> dict[str, Any]:
        return service.model_info()

    @app.post(
        "/v1/classify",
        response_model=schemas.ClassifyResult,
        responses=schemas.ERRORS,
        openapi_extra=schemas.AUDIO_BODY,
        summary="Classify an audio file: top-k classes",
    )
    async def classify(
        request: Request,
        top_k: int = Query(3, ge=1, le=1000, description="Classes returned, best first."),
        windows: bool = Query(False, description="Also return each window of a clip longer than the model's window."),
    ) -> JSONResponse:
        upload = await read_upload(request, max_bytes=limits.max_upload_bytes)
        result = await run_in_threadpool(service.classify, upload.data, name=upload.name, top_k=top_k, windows=windows)
        return JSONResponse(result)  # already the documented shape: skips a second validation per request

    @app.post(
        "/v1/detect",
        response_model=schemas.DetectResult,
        responses=schemas.ERRORS,
        openapi_extra=schemas.AUDIO_BODY,
        summary="Detect events in a long recording",
    )
    async def detect(
        request: Request,
        hop_s: float | None = Query(
            None, gt=0, description="Seconds between windows. [default: the model's, else 0.1]"
        ),
        smooth_s: float | None = Query(None, ge=0, description="Causal moving average of the posteriors, seconds."),
        threshold: float | None = Query(
            None, gt=0, le=1, description="One threshold for every class. [default: the model's tuned ones, else 0.5]"
        ),
        refractory_s: float | None = Query(
            None, ge=0, description="A class cannot fire again within this many seconds."
        ),
    ) -> JSONResponse:
        upload = await read_upload(request, max_bytes=limits.max_upload_bytes)
        result = await run_in_threadpool(
            service.detect,
            upload.data,
            name=upload.name,
            hop_s=hop_s,
            smooth_s=smooth_s,
            threshold=threshold,
            refractory_s=refractory_s,
        )
        return JSONResponse(result)


def _add_error_handlers(app, service: Service) -> None:
    def answer(status: int, exc: Exception) -> JSONResponse:
        service.count("rejected")
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, status_code=status)

    @app.exception_handler(WavetagError)
    async def wavetag_error(_request, exc: WavetagError) -> JSONResponse:
        return answer(status_of(exc), exc)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request, _exc: ClientDisconnect) -> JSONResponse:
        # The client went away mid-upload: nothing is wrong with the server, and nobody reads the answer.
        log.info(
            "client %s disconnected during %s %s; request dropped",
            request.client.host if request.client else "?",
            request.method,
            request.url.path,
        )
        return JSONResponse({"detail": "client disconnected", "error": "ClientDisconnect"}, status_code=400)

    @app.exception_handler(Exception)
    async def unexpected(_request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error while answering a request")
        return answer(500, exc)


def status_of(exc: WavetagError) -> int:
    """HTTP status of a library error: the `RequestError`'s own, 422 for bad audio or options,
    500 for the rest (a model directory that cannot be used is the server's problem)."""
    if isinstance(exc, RequestError):
        return exc.status
    return 422 if isinstance(exc, (AudioError, ConfigError)) else 500


def _version() -> str:
    return __version__
