"""A small real HTTP server that speaks HoneyHive's `/events/batch` and misbehaves on cue.

Tests script its answers (status, headers, delay) and read back every request it received, decoded. It runs
on a real loopback socket so the exporter's real HTTP client, retries and timeouts are what gets tested.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: bytes = b'{"success": true}'


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any
    at: float
    status: int


class FakeHoneyHive:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: list[Reply] = []
        self.default = Reply()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms delayed-ACK stalls

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                data = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                try:
                    body = orjson.loads(data) if data else None
                except orjson.JSONDecodeError:
                    body = None
                with outer._lock:
                    reply = outer.script.pop(0) if outer.script else outer.default
                    outer.requests.append(
                        Received(self.command, self.path, dict(self.headers), raw, body, time.monotonic(),
                                 reply.status)
                    )
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(reply.body)

            do_POST = _handle
            do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeHoneyHive:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def then(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    @property
    def batches(self) -> list[Received]:
        return [r for r in self.requests if r.path == "/events/batch"]

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event of every accepted (2xx-answered) batch, in arrival order."""
        return [e for r in self.batches if r.status < 300 for e in (r.body or {}).get("events", [])]


@contextmanager
def fake_honeyhive() -> Iterator[FakeHoneyHive]:
    server = FakeHoneyHive().start()
    try:
        yield server
    finally:
        server.stop()
