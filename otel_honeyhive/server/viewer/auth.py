"""The viewer's side of `--auth-token`: a browser cannot send an `Authorization` header on a link, so a token
form puts the token in a cookie, and that cookie is honoured on the viewer's pages only.

The cookie is a session cookie (no expiry), `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's
page sends it), `Secure` over HTTPS, and compared in constant time. It opens reading pages (GET/HEAD of viewer
paths) and nothing else: the ingestion routes still want the header, so a page can never be made to post events.
"""

from __future__ import annotations

import hmac
import urllib.parse

from starlette.datastructures import Headers
from starlette.types import Scope

from otel_honeyhive.core.secrets import Secret

COOKIE = "otel_honeyhive_viewer"
LOGIN_PATH = "/viewer/login"
STATIC_PREFIX = "/viewer/static/"
ICON_PATH = "/favicon.ico"
"""Where browsers look for an icon when a page names none: served (the packaged icon) rather than a 404."""
_READING = frozenset({"GET", "HEAD"})


def is_viewer_path(path: str) -> bool:
    """The pages and assets the viewer serves (its routes in `routes.py`)."""
    return path == "/" or path.startswith(("/sessions", "/viewer/"))


def safe_next(target: str | None) -> str:
    """Where to go after the form: a path on this server only (never `//host` or a scheme), else `/`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parsed = urllib.parse.urlsplit(target)
    if parsed.scheme or parsed.netloc:
        return "/"
    return target


class ViewerCookie:
    """Checks and makes the cookie for one token."""

    def __init__(self, token: Secret) -> None:
        self._expected = token.reveal().encode()

    def matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self._expected)

    def allows(self, scope: Scope) -> bool:
        """Whether this request reads a viewer page with the right cookie."""
        if scope.get("method") not in _READING or not is_viewer_path(scope["path"]):
            return False
        # Split by hand: `http.cookies` stops at the first cookie it finds malformed (another app's, on the
        # same host), which would hide ours.
        for header in Headers(scope=scope).getlist("cookie"):
            for pair in header.split(";"):
                name, _, value = pair.strip().partition("=")
                if name == COOKIE and self.matches(urllib.parse.unquote(value.strip().strip('"'))):
                    return True
        return False

    @staticmethod
    def header(token: str, *, secure: bool) -> str:
        """The `Set-Cookie` value that keeps `token` for this browser session."""
        value = urllib.parse.quote(token, safe="")
        return f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")

    def __repr__(self) -> str:
        return "ViewerCookie('***')"


__all__ = ["COOKIE", "ICON_PATH", "LOGIN_PATH", "STATIC_PREFIX", "ViewerCookie", "is_viewer_path", "safe_next"]
