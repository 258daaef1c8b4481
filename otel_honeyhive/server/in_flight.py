"""At most so many requests inside the app at once: each may hold a body up to `--max-body-bytes` in memory, so
this is what bounds the server's memory under a burst. One more is answered at once, before its body is read,
with 503 and `Retry-After` (retryable by every OTLP client, so nothing is lost) and a `google.rpc.Status` body.

Why here and not uvicorn's `limit_concurrency`: uvicorn counts open connections too, and a connection that
never sends a byte stays open, so a few dozen idle sockets (no token needed) made every request, `/healthz`
included, a 503 without `Retry-After`. uvicorn keeps a much larger cap on connections (`MAX_CONNECTIONS`, for
file descriptors); this counts requests only, and never refuses `/healthz`, whose failure would get a sidecar
restarted for being busy."""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_IN_FLIGHT = 64
"""Requests inside the app at once (each up to `--max-body-bytes`)."""
RETRY_AFTER_SECONDS = 1
NEVER_REFUSED = frozenset({"/healthz"})
_UNAVAILABLE = 14
"""`google.rpc.Code.UNAVAILABLE`."""


class InFlightLimit:
    """ASGI middleware: requests past `limit` (but `NEVER_REFUSED` paths) are answered 503 at once. The count
    lives on the event loop, so it needs no lock."""

    def __init__(self, app: ASGIApp, limit: int = MAX_IN_FLIGHT) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0
        self._refusal = orjson.dumps({"code": _UNAVAILABLE, "message": f"more than {limit} requests in flight; "
                                      f"retry after {RETRY_AFTER_SECONDS} s"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in NEVER_REFUSED:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await send({"type": "http.response.start", "status": 503, "headers": [
                (b"content-type", b"application/json"), (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                (b"content-length", str(len(self._refusal)).encode())]})
            await send({"type": "http.response.body", "body": self._refusal})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


__all__ = ["MAX_IN_FLIGHT", "InFlightLimit"]
