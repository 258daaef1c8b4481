"""The optional bearer token in front of every input (the Collector's `bearertokenauth`, in a few lines): a refusal
is told in each route's own error shape (a `google.rpc.Status` on OTLP routes, `{"success": false, …}` elsewhere,
the token form on the viewer's pages, which also take the token from the form's cookie: `viewer/auth.py`)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from otel_honeyhive.core.secrets import BearerToken, Secret
from otel_honeyhive.inputs.honeyhive_api import error_response
from otel_honeyhive.inputs.otlp.http import OTLP_PATHS, refusal_response
from otel_honeyhive.server.viewer import ICON_PATH, LOGIN_PATH, STATIC_PREFIX, ViewerCookie, is_viewer_path, refusal

OPEN_PATHS = frozenset({"/healthz", LOGIN_PATH, ICON_PATH})
"""Paths answered without a token: probes must not need a secret, nor the form that asks for it (nor its
stylesheet and icon, under `STATIC_PREFIX` and at `ICON_PATH`, which hold no data)."""


class BearerTokenAuth:
    """401 unless `Authorization: Bearer <token>` matches. Compared in constant time; never logged."""

    def __init__(self, app: ASGIApp, token: Secret) -> None:
        self.app = app
        self._token = BearerToken(token)
        self._cookie = ViewerCookie(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not _open(scope["path"]) and not self._allowed(scope):
            challenge = {"WWW-Authenticate": 'Bearer realm="otel-honeyhive"'}
            if scope["path"] in OTLP_PATHS:
                response = refusal_response(Headers(scope=scope), 401, BearerToken.REFUSAL, challenge)
            elif is_viewer_path(scope["path"]) and scope.get("method") in ("GET", "HEAD"):
                response = refusal(scope)
            else:
                response = error_response(401, BearerToken.REFUSAL, challenge)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        return self._token.allows(Headers(scope=scope).get("authorization")) or self._cookie.allows(scope)


def _open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(STATIC_PREFIX)
