"""Settings shared by the exporter and the server: keyword arguments first, then `HH_*` environment variables.

Every value is checked once, here, so a typo fails at start-up with a message that names the option instead of
surfacing later as a silent drop.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_SERVER_URL = "https://api.honeyhive.ai"
DEFAULT_SOURCE = "dev"
DEFAULT_MAX_EVENTS = 1000


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


def redact_url(url: str) -> str:
    """The URL without any `user:password@` part, for logs and reprs."""
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    if "@" in host:
        host = "***@" + host.rsplit("@", 1)[1]
    return f"{scheme}{sep}{host}{slash}{path}"


def _env(name: str, environ: Mapping[str, str]) -> str | None:
    value = environ.get(name)
    return value if value not in (None, "") else None


def _number(name: str, value: Any, *, kind: type, minimum: float, source: str) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: {name} must be a number, got {value!r}") from None
    if number != number or number < minimum:
        raise ValueError(f"{source}: {name} must be >= {minimum}, got {value!r}")
    return number


@dataclass(frozen=True)
class HoneyHiveSettings:
    """How to reach HoneyHive (or a HoneyHive-compatible API) and how to batch what is sent there."""

    api_key: Secret | None = None
    server_url: str = DEFAULT_SERVER_URL
    project: str | None = None
    source: str = DEFAULT_SOURCE
    timeout: float = 10.0
    """Seconds one delivery (all attempts and backoff waits) may take: the retry deadline."""
    compression: str | None = None
    """"gzip" or None."""
    batch_mode: str = "multi"
    """"multi": several sessions per request (fewer requests); "session": one session per request."""
    max_events_per_request: int = DEFAULT_MAX_EVENTS
    """Requests cost more than bytes (SPEC §4): the default takes a whole BatchSpanProcessor batch (512 spans)
    in one request; the byte limit still splits large ones."""
    max_request_bytes: int = 5 * 1024 * 1024
    headers: Mapping[str, str] = field(default_factory=dict)
    verify: bool | str = True
    """TLS verification: True, False, or a CA bundle path."""

    def __repr__(self) -> str:
        key = "set" if self.api_key else "unset"
        return f"HoneyHiveSettings(server_url={redact_url(self.server_url)!r}, project={self.project!r}, api_key={key})"

    @classmethod
    def resolve(
        cls, environ: Mapping[str, str] | None = None, source_label: str = "otel-honeyhive", **kwargs: Any
    ) -> HoneyHiveSettings:
        """Keyword arguments win over `HH_*` variables, which win over defaults. Unknown keywords are errors."""
        env = os.environ if environ is None else environ
        known = set(cls.__dataclass_fields__)
        unknown = set(kwargs) - known
        if unknown:
            raise TypeError(f"{source_label}: unknown option(s) {sorted(unknown)}; known: {sorted(known)}")

        def pick(name: str, env_name: str) -> tuple[Any, str]:
            if kwargs.get(name) is not None:
                return kwargs[name], f"{source_label} option {name!r}"
            value = _env(env_name, env)
            return value, f"environment variable {env_name}"

        api_key, _ = pick("api_key", "HH_API_KEY")
        server_url, where = pick("server_url", "HH_API_URL")
        server_url = str(server_url or DEFAULT_SERVER_URL).rstrip("/")
        if not server_url.startswith(("http://", "https://")):
            raise ValueError(f"{where}: server URL must start with http:// or https://, got "
                             f"{redact_url(server_url)!r}")  # credentials in a URL are not repeated
        project, _ = pick("project", "HH_PROJECT")
        source, _ = pick("source", "HH_SOURCE")
        timeout, where = pick("timeout", "HH_TIMEOUT")
        timeout = _number("timeout", 10.0 if timeout is None else timeout, kind=float, minimum=0.001,
                          source=where)
        compression, where = pick("compression", "HH_COMPRESSION")
        if isinstance(compression, str):
            compression = compression.strip().lower() or None
            if compression == "none":
                compression = None
        if compression not in (None, "gzip"):
            raise ValueError(f"{where}: compression must be 'gzip' or none, got {compression!r}")
        batch_mode, where = pick("batch_mode", "HH_BATCH_MODE")
        batch_mode = str(batch_mode or "multi").lower()
        if batch_mode not in ("multi", "session"):
            raise ValueError(f"{where}: batch_mode must be 'multi' or 'session', got {batch_mode!r}")
        max_events, where = pick("max_events_per_request", "HH_MAX_EVENTS_PER_REQUEST")
        max_events = _number("max_events_per_request", DEFAULT_MAX_EVENTS if max_events is None else max_events,
                             kind=int, minimum=1, source=where)
        max_bytes, where = pick("max_request_bytes", "HH_MAX_REQUEST_BYTES")
        max_bytes = _number("max_request_bytes", 5 * 1024 * 1024 if max_bytes is None else max_bytes,
                            kind=int, minimum=1024, source=where)
        headers = dict(kwargs.get("headers") or {})
        verify = kwargs.get("verify", True)
        return cls(
            api_key=Secret(api_key) if api_key else None,
            server_url=server_url,
            project=str(project) if project else None,
            source=str(source) if source else DEFAULT_SOURCE,
            timeout=timeout,
            compression=compression,
            batch_mode=batch_mode,
            max_events_per_request=max_events,
            max_request_bytes=max_bytes,
            headers=headers,
            verify=verify,
        )


def spool_path(value: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    chosen = value if value is not None else _env("HH_SPOOL_DIR", env)
    return Path(chosen) if chosen else None
