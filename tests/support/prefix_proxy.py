"""A reverse proxy that serves another server under a path prefix and strips it on the way in, as the proxies of
remote development environments do (JupyterHub's and code-server's `/proxy/<port>/`, an ingress rewriting a path).

Real sockets both ways (`http.server` in front, `requests` behind); redirects and cookies are passed through
untouched, so the browser sees exactly what the server wrote, and the browser's `Host` is passed on, as
jupyter-server-proxy (it copies the request's headers) and code-server (`http-proxy` without `changeOrigin`) do.
Loopback only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                         "trailers", "transfer-encoding", "upgrade", "content-length", "content-encoding"})


@contextmanager
def prefix_proxy(upstream: str, prefix: str = "/proxy/4318") -> Iterator[str]:
    """Serve `upstream` (http://127.0.0.1:PORT) at http://127.0.0.1:OTHER`prefix`/; yields that base URL (with
    its trailing slash). Paths outside the prefix get 404, as from the proxy itself."""
    session = requests.Session()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _forward(self) -> None:
            if not (self.path == prefix or self.path.startswith(prefix + "/")):
                self._answer(404, [("Content-Type", "text/plain")], b"not under the proxy's prefix")
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            answer = session.request(self.command, upstream + (self.path[len(prefix):] or "/"), data=body,
                                     headers=headers, allow_redirects=False, timeout=30)
            passed = [(k, v) for k, v in answer.raw.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}]
            self._answer(answer.status_code, passed, answer.content)

        def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers:  # each Set-Cookie on its own line, as sent
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_HEAD = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{prefix}/"
    finally:
        server.shutdown()
        server.server_close()
        session.close()
