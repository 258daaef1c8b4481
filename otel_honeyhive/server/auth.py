"""The optional bearer token in front of every input (the Collector's `bearertokenauth`, in a few lines)."""

from __future__ import annotations

import hmac

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from otel_honeyhive.core.secrets import Secret
from otel_honeyhive.inputs.honeyhive_api import error_response

OPEN_PATHS = frozenset({"/healthz"})
"""Paths answered without a token: probes must not need a secret."""


class BearerTokenAuth:
    """401 unless `Authorization: Bearer <token>` matches. Compared in constant time; never logged."""

    def __init__(self, app: ASGIApp, token: Secret) -> None:
        self.app = app
        self._expected = token.reveal().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS and not self._allowed(scope):
            response = error_response(
                401, "missing or invalid bearer token", {"WWW-Authenticate": 'Bearer realm="otel-honeyhive"'}
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        scheme, _, credentials = Headers(scope=scope).get("authorization", "").partition(" ")
        given = credentials.strip().encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(given, self._expected)
