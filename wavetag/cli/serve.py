"""``wavetag serve MODEL``: the HTTP API and the web page, on 127.0.0.1:8000 unless told otherwise."""

from __future__ import annotations

from pathlib import Path

import typer

from wavetag.cli.app import app, err_console


@app.command("serve")
def serve_command(
    model: Path = typer.Argument(
        ..., help="Model directory (config.json + model.safetensors), or a run directory (uses its best/)."
    ),
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to bind. 0.0.0.0 opens the service to the network: there is no authentication.",
    ),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    backend: str = typer.Option(
        "onnx",
        "--backend",
        help="onnx (ONNX Runtime; exported once to MODEL/.cache/ unless --onnx is given; about a quarter less CPU per "
        "request than torch for bc_resnet_1, see bench/serve.py) or torch.",
    ),
    onnx: Path | None = typer.Option(
        None,
        "--onnx",
        help="Serve this exported file (e.g. model.int8.onnx from 'wavetag export --int8'); implies --backend onnx.",
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="Intra-op threads of the model. [default: torch's / all cores for onnx]"
    ),
    max_upload_mb: float = typer.Option(10.0, "--max-upload-mb", help="Largest upload in MiB; larger ones get 413."),
    max_classify_s: float = typer.Option(
        30.0, "--max-classify-s", help="Longest audio /v1/classify takes, in seconds; longer gets 413."
    ),
    max_detect_s: float = typer.Option(
        600.0, "--max-detect-s", help="Longest audio /v1/detect takes, in seconds; longer gets 413."
    ),
    batch_window_ms: float = typer.Option(
        5.0,
        "--batch-window-ms",
        help="How long a forward pass waits for windows of other requests in flight, in ms (0: no waiting).",
    ),
    max_batch: int = typer.Option(32, "--max-batch", help="Most windows in one forward pass."),
    stream_idle_s: float = typer.Option(
        10.0, "--stream-idle-s", help="/v1/stream: a WebSocket silent this many seconds is closed (code 1008)."
    ),
    max_streams: int = typer.Option(32, "--max-streams", help="/v1/stream: WebSockets open at once (more get 1013)."),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log one line per request."),
) -> None:
    """Serve a trained model over HTTP: POST /v1/classify (audio file -> top-k), POST /v1/detect
    (long recording -> events), the WebSocket /v1/stream (live PCM in, events out as JSON), GET
    /v1/model, GET /health, the OpenAPI page at /docs, and a web page at / to upload a file, record
    from the microphone or listen live. Concurrent requests are batched."""
    from wavetag.config import check_range
    from wavetag.serve import create_app, run

    check_range("--port", port, 1, 65535)
    check_range("--max-upload-mb", max_upload_mb, 0.001, 16384)
    application = create_app(
        model,
        backend="onnx" if onnx is not None else backend,
        onnx_path=onnx,
        threads=threads,
        max_upload_bytes=int(max_upload_mb * 2**20),
        max_classify_s=max_classify_s,
        max_detect_s=max_detect_s,
        batch_window_ms=batch_window_ms,
        max_batch=max_batch,
        idle_timeout_s=stream_idle_s,
        max_streams=max_streams,
    )
    info = application.state.service.model_info()
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    err_console.print(
        f"serving {info['name']} ({len(info['labels'])} classes, {info['sample_rate']} Hz, {info['backend']}) "
        f"on http://{shown}:{port}/  (API docs: /docs; Ctrl-C stops)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(
            f"warning: bound to {host}: anyone who can reach this address can use the service",
            markup=False,
            soft_wrap=True,
        )
    run(application, host=host, port=port, access_log=access_log)
