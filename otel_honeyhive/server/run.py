"""Running the bridge server under uvicorn until SIGTERM/SIGINT, then closing the output.

Shutdown order: a signal stops new connections and cuts output backoffs short (so no request waits out a
retry deadline), in-flight requests get `GRACEFUL_SHUTDOWN_SECONDS` to finish, and only then is the output
closed (for the store: the last transaction is committed and the WAL checkpointed). A graceful stop exits 0.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import sys
import threading
from types import FrameType
from typing import Any

import uvicorn

from otel_honeyhive.outputs.base import Output
from otel_honeyhive.server.app import build_app, describe_output, open_output
from otel_honeyhive.server.config import ServerConfig

GRACEFUL_SHUTDOWN_SECONDS = 10
MAX_CONCURRENCY = 64
"""Connections plus in-flight requests before uvicorn answers 503: bounds memory to about this many
request bodies (each at most --max-body-bytes)."""


class _Server(uvicorn.Server):
    """uvicorn, plus: one ready line once the socket is bound, and the stop event set on the first signal."""

    def __init__(self, config: uvicorn.Config, stop: threading.Event, where: str) -> None:
        super().__init__(config)
        self._stop = stop
        self._where = where

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            print(f"otel-honeyhive serve: HTTP on http://{shown}:{port} ({self._where})", file=sys.stderr,
                  flush=True)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._stop.set()
        super().handle_exit(sig, frame)


def _ignore(sig: int, frame: FrameType | None) -> None:
    """uvicorn re-raises the signal it shut down for; after a graceful stop there is nothing left to do."""


def serve(config: ServerConfig) -> int:
    """Serve until told to stop; the process exit status."""
    logging.basicConfig(level=logging.WARNING, format="otel-honeyhive serve: %(levelname)s %(message)s")
    try:
        output: Output = open_output(config)
    except (OSError, sqlite3.Error, RuntimeError, ImportError) as exc:
        where = describe_output(config)
        print(f"otel-honeyhive serve: cannot open the output ({where}): {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    app = build_app(config, output, stop=stop)
    uv_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.http_port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
        limit_concurrency=MAX_CONCURRENCY,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    server = _Server(uv_config, stop, describe_output(config))
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits this way when it cannot start (e.g. the port is taken)
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        stop.set()
        output.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if server.started else 1
