"""The environment variables the bridge reads, by name (as `opentelemetry.sdk.environment_variables` lists the
SDK's), and the one place that reads them for settings shared by the exporter and the server.

Keyword arguments and command-line flags always win over these; see the README's configuration table.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HH_API_KEY = "HH_API_KEY"
"""HoneyHive API key, sent as `Authorization: Bearer …`."""
HH_API_URL = "HH_API_URL"
"""HoneyHive, or any HoneyHive-compatible API (a local `otel-honeyhive serve`)."""
HH_PROJECT = "HH_PROJECT"
HH_SOURCE = "HH_SOURCE"
HH_TIMEOUT = "HH_TIMEOUT"
"""Seconds one delivery may take, all retries and backoff included."""
HH_COMPRESSION = "HH_COMPRESSION"
HH_BATCH_MODE = "HH_BATCH_MODE"
HH_MAX_EVENTS_PER_REQUEST = "HH_MAX_EVENTS_PER_REQUEST"
HH_MAX_REQUEST_BYTES = "HH_MAX_REQUEST_BYTES"
HH_API_VERSION = "HH_API_VERSION"
"""Which batch route to use: v1 (`/v1/events/batch`), legacy (`/events/batch`) or auto (v1, then legacy)."""
HH_SPOOL_DIR = "HH_SPOOL_DIR"
"""The durable on-disk queue's directory."""
HH_HOLD_TIMEOUT = "HH_HOLD_TIMEOUT"
"""Seconds a trace is held waiting for its root."""
HH_SPAN_FILTER = "HH_SPAN_FILTER"
"""A span filter preset (`genai`): spans no GenAI convention recognises are dropped, the root kept."""
HH_DROP_SCOPES = "HH_DROP_SCOPES"
"""Comma-separated instrumentation scope names (or glob patterns) whose spans are dropped."""
HH_DROP_SPANS = "HH_DROP_SPANS"
"""Comma-separated span names (or glob patterns) whose spans are dropped."""
HH_SESSIONS = "HH_SESSIONS"
"""What a session is: `trace` (the default: a trace's root span) or `conversation` (the traces sharing a
conversation id)."""
HH_REDACT = "HH_REDACT"
"""Built-in redactors to mask with, comma-separated (`email,credit_card,api_key,ip`, or `all`)."""
HH_ALLOWED_HOSTS = "HH_ALLOWED_HOSTS"
"""`Host` names `serve` answers besides loopback ones, comma-separated (a proxy's name; DNS-rebinding check)."""
OTEL_HONEYHIVE_AUTH_TOKEN = "OTEL_HONEYHIVE_AUTH_TOKEN"
"""The bearer token `serve` requires of its clients."""


def env_value(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The variable's value; None when it is unset or empty (an empty variable means "not set")."""
    value = (os.environ if environ is None else environ).get(name)
    return value if value else None


MAX_SECONDS = 86_400.0
"""The longest timeout or hold time taken (a day): anything longer is a mistake, and infinity or 1e10 overflow
the clocks and `time_t`s they are added to."""


def checked_number(name: str, value: Any, *, kind: type, minimum: float, source: str, example: str,
                   maximum: float | None = None) -> Any:
    """`value` as a finite `kind` between `minimum` and `maximum`; ValueError naming where it came from
    (`source`: the keyword, flag or environment variable), the rule and a good value."""
    what = "a whole number" if kind is int else "a number"
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{source}: {name} must be {what} (for example {example}), got {value!r}") from None
    if not math.isfinite(number) or number < minimum or (maximum is not None and number > maximum):
        rule = f">= {minimum:g}" if maximum is None else f"from {minimum:g} to {maximum:g}"
        raise ValueError(f"{source}: {name} must be {what} {rule} (for example {example}), got {value!r}")
    return number


def spool_path(value: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The spool directory: `value` when given, else `HH_SPOOL_DIR`, else None (no spool). A leading `~` is the
    home directory: env files, systemd units and Dockerfiles pass `~/spool` as it is, and no shell expands it."""
    chosen = value if value is not None else env_value(HH_SPOOL_DIR, environ)
    return Path(chosen).expanduser() if chosen else None
