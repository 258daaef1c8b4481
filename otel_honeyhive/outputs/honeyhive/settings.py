"""How to reach HoneyHive and batch what is sent there: keyword arguments first, then `HH_*` environment variables.

Every value is checked once, here, so a typo fails at start-up with a message that names the option instead of
surfacing later as a silent drop.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_honeyhive.core import environment as env_names
from otel_honeyhive.core.environment import checked_number, env_value
from otel_honeyhive.core.events import DEFAULT_SOURCE
from otel_honeyhive.core.secrets import Secret, shown_url

DEFAULT_SERVER_URL = "https://api.honeyhive.ai"
DEFAULT_MAX_EVENTS = 1000
API_VERSIONS = ("auto", "v1", "legacy")
"""auto: `POST /v1/events/batch`; a batch the route in use answers 404 or 405 goes again by the other route (the
legacy `POST /events/batch`), which is kept once it accepts (docs/honeyhive-api.md)."""


def _server_url(text: str, where: str) -> str:
    """The URL without trailing slashes; ValueError naming what is wrong with it and what a good one looks like
    (never repeating credentials it may carry)."""
    url = text.strip()
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not url.startswith(parts.scheme + "://"):
        problem = "must start with http:// or https://"
    elif not parts.hostname or any(c.isspace() for c in parts.netloc):
        problem = "has no valid host"
    else:
        try:
            problem = "has no valid port" if parts.port == 0 else ""
        except ValueError:
            problem = "has a port outside 1-65535"
    if problem:
        raise ValueError(f"{where}: the server URL {problem} (for example http://127.0.0.1:4318), got "
                         f"{shown_url(url)!r}")
    url = url.rstrip("/")
    route = next((r for r in _ROUTE_TAILS if urllib.parse.urlsplit(url).path.lower().endswith(r)), None)
    if route is not None:
        raise ValueError(f"{where}: the server URL is the API's root, and the bridge adds each route's path (so "
                         f"{route!r} would be sent to twice): drop {route!r}, as in https://api.honeyhive.ai or "
                         f"http://127.0.0.1:4318; got {shown_url(url)!r}")
    return url


_ROUTE_TAILS = ("/v1/events/batch", "/events/batch", "/v1/events", "/events", "/v1")
"""Paths the bridge appends itself: a server URL ending in one sends to `/v1/v1/events/batch`, whose 404 then
makes the route fallback post a legacy body where the v1 route refuses it (400: a dead letter for a typo)."""


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
    """Requests cost more than bytes (docs/batches.md#splitting): the default takes a whole BatchSpanProcessor
    batch (512 spans) in one request; the byte limit still splits large ones."""
    max_request_bytes: int = 5 * 1024 * 1024
    headers: Mapping[str, str] = field(default_factory=dict)
    verify: bool | str = True
    """TLS verification: True, False, or a CA bundle path."""
    api_version: str = "auto"
    """One of `API_VERSIONS`: which batch route events go by."""

    def __repr__(self) -> str:
        key = "set" if self.api_key else "unset"
        return f"HoneyHiveSettings(server_url={shown_url(self.server_url)!r}, project={self.project!r}, api_key={key})"

    @classmethod
    def resolve(
        cls,
        environ: Mapping[str, str] | None = None,
        source_label: str = "otel-honeyhive",
        flags: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> HoneyHiveSettings:
        """Keyword arguments win over `HH_*` variables, which win over defaults. Unknown keywords are errors.

        A message about a value names where it came from: the environment variable, the command-line flag in
        `flags` (keyword → flag, for the commands), or `source_label`'s keyword."""
        known = set(cls.__dataclass_fields__)
        unknown = set(kwargs) - known
        if unknown:
            raise TypeError(f"{source_label}: unknown option(s) {sorted(unknown)}; known: {sorted(known)}")

        def pick(name: str, env_name: str) -> tuple[Any, str]:
            if kwargs.get(name) is not None:
                flag = (flags or {}).get(name)
                return kwargs[name], flag if flag else f"{source_label} option {name!r}"
            value = env_value(env_name, environ)
            return value, f"environment variable {env_name}"

        api_key, _ = pick("api_key", env_names.HH_API_KEY)
        server_url, where = pick("server_url", env_names.HH_API_URL)
        server_url = _server_url(str(server_url or DEFAULT_SERVER_URL), where)
        project, _ = pick("project", env_names.HH_PROJECT)
        source, _ = pick("source", env_names.HH_SOURCE)
        timeout, where = pick("timeout", env_names.HH_TIMEOUT)
        timeout = checked_number("timeout", 10.0 if timeout is None else timeout, kind=float, minimum=0.001,
                                 maximum=env_names.MAX_SECONDS, source=where, example="10 seconds")
        compression, where = pick("compression", env_names.HH_COMPRESSION)
        if isinstance(compression, str):
            compression = compression.strip().lower() or None
            if compression == "none":
                compression = None
        if compression not in (None, "gzip"):
            raise ValueError(f"{where}: compression must be 'gzip' or none, got {compression!r}")
        batch_mode, where = pick("batch_mode", env_names.HH_BATCH_MODE)
        batch_mode = str(batch_mode or "multi").lower()
        if batch_mode not in ("multi", "session"):
            raise ValueError(f"{where}: batch_mode must be 'multi' or 'session', got {batch_mode!r}")
        max_events, where = pick("max_events_per_request", env_names.HH_MAX_EVENTS_PER_REQUEST)
        max_events = checked_number("max_events_per_request",
                                    DEFAULT_MAX_EVENTS if max_events is None else max_events,
                                    kind=int, minimum=1, source=where, example=str(DEFAULT_MAX_EVENTS))
        max_bytes, where = pick("max_request_bytes", env_names.HH_MAX_REQUEST_BYTES)
        max_bytes = checked_number("max_request_bytes", 5 * 1024 * 1024 if max_bytes is None else max_bytes,
                                   kind=int, minimum=1024, source=where, example="5242880")
        api_version, where = pick("api_version", env_names.HH_API_VERSION)
        api_version = str(api_version or "auto").strip().lower()
        if api_version not in API_VERSIONS:
            raise ValueError(f"{where}: api_version must be one of {', '.join(API_VERSIONS)}, got {api_version!r}")
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
            api_version=api_version,
        )
