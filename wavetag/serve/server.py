"""Running the app with uvicorn: in the foreground (``wavetag serve``) or in a thread (tests)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

DEFAULT_HOST = "127.0.0.1"  # loopback unless told otherwise
DEFAULT_PORT = 8000
MAX_CONNECTIONS = 128  # beyond this uvicorn answers 503 instead of queueing without bound


def run(
    app, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, log_level: str = "info", access_log: bool = True
) -> None:
    """Serve ``app`` until interrupted (Ctrl-C)."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=30,
    )


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class BackgroundServer:
    """``with BackgroundServer(app) as url:`` serves ``app`` on a free loopback port in a thread."""

    def __init__(self, app, *, host: str = DEFAULT_HOST, port: int | None = None, **config: Any) -> None:
        import uvicorn

        self.host, self.port = host, port or free_port(host)
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host=self.host, port=self.port, log_level="warning", limit_concurrency=MAX_CONNECTIONS, **config
            )
        )
        self.thread = threading.Thread(target=self.server.run, name="wavetag-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start on {self.url}")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
