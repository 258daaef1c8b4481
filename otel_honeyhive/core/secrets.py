"""Keeping credentials out of logs, reprs, messages and files: `Secret` for values, `shown_url` for URLs,
`open_to_others` for files others can read."""

from __future__ import annotations

import hmac
from pathlib import Path


class Secret(str):
    """A string that never shows itself in a repr, a log line or an f-string by accident."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def reveal(self) -> str:
        return str.__str__(self)


def shown_url(url: str) -> str:
    """The URL as logs, reprs, messages and state files may show it: any `user:password@` becomes `***@`, and a
    query string (which may carry a token) becomes `?…`."""
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    if "@" in host:
        host = "***@" + host.rsplit("@", 1)[1]
    shown = f"{scheme}{sep}{host}{slash}{path}"
    return shown.split("?", 1)[0] + ("?…" if "?" in shown else "")


class BearerToken:
    """The token `serve` asks of its clients, checked alike on every protocol: `Authorization: Bearer <token>`,
    the scheme in any case (RFC 6750), compared in constant time, never shown."""

    REFUSAL = "missing or invalid bearer token"
    """What a client without the right token is told (HTTP 401, gRPC UNAUTHENTICATED)."""

    def __init__(self, token: Secret) -> None:
        self._expected = token.reveal().encode()

    def allows(self, authorization: str | bytes | None) -> bool:
        """Whether an `Authorization` header (or gRPC metadata) value carries the token."""
        if authorization is None:
            return False
        text = authorization.decode("latin-1") if isinstance(authorization, bytes) else authorization
        scheme, _, credentials = text.strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), self._expected)

    def __repr__(self) -> str:
        return "BearerToken('***')"




def open_to_others(path: Path, bits: int = 0o044) -> int | None:
    """The file's permission bits when any of `bits` (group and other: read by default) is set, else None (and
    None when it cannot be looked at): for the one-line warnings about files that hold secrets or prompts."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return None
    return mode if mode & bits else None


__all__ = ["BearerToken", "Secret", "open_to_others", "shown_url"]
