"""Keeping credentials out of logs, reprs, messages and files: `Secret` for values, `shown_url` for URLs."""

from __future__ import annotations


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


__all__ = ["Secret", "shown_url"]
