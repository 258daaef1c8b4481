"""The optional bearer token in front of every input (the Collector's `bearertokenauth`, in a few lines): a refusal
is told in each route's own error shape (a `google.rpc.Status` on OTLP routes, `{"success": false, …}` elsewhere)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from otel_honeyhive.core.secrets import BearerToken, Secret
from otel_honeyhive.inputs.honeyhive_api import error_response
from otel_honeyhive.inputs.otlp.http import OTLP_PATHS, refusal_response

OPEN_PATHS = frozenset({"/healthz"})
"""Paths answered without a token: probes must not need a secret."""


class BearerTokenAuth:
    """401 unless `Authorization: Bearer <token>` matches. Compared in constant time; never logged."""

    def __init__(self, app: ASGIApp, token: Secret) -> None:
        self.app = app
        self._token = BearerToken(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS and not self._allowed(scope):
            challenge = {"WWW-Authenticate": 'Bearer realm="otel-honeyhive"'}
            response = (
                refusal_response(Headers(scope=scope), 401, BearerToken.REFUSAL, challenge)
                if scope["path"] in OTLP_PATHS
                else error_response(401, BearerToken.REFUSAL, challenge)
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        return self._token.allows(Headers(scope=scope).get("authorization"))
