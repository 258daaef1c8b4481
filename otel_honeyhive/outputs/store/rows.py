"""An event's row in the local store: the columns copied out of it, so that listings, the session summaries and
the viewer's outline are plain SQL and never decode a body.

`describe` runs in the pipeline, for every event, while the event is still a dict (the store's `EventShape`), and
in the store for events that reach it as dicts; it is compiled with the hot path (setup.py).
"""

from __future__ import annotations

from typing import Any, Final

from otel_honeyhive.core.events import Event

COLUMNS: Final = (
    "event_id", "session_id", "parent_id", "event_type", "event_name", "source", "start_time", "end_time",
    "duration", "has_error", "tokens", "user_id", "model", "event_tokens",
)
"""The columns `describe` gives, in its order; a stored row adds where its body is (`store/sqlite.py`)."""

EVENT_ID: Final = 0
SESSION_ID: Final = 1
EVENT_TYPE: Final = 3
EVENT_NAME: Final = 4
SOURCE: Final = 5
START: Final = 6
END: Final = 7
DURATION: Final = 8
HAS_ERROR: Final = 9
TOKENS: Final = 10
USER_ID: Final = 11
STARTS_CONVERSATION: Final = 14
"""Past the columns: whether the event is a conversation's session event, which a write extends rather than
replaces (docs/identity-and-assembly.md#conversations)."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


_INT64 = 1 << 63


def _count(value: Any) -> int | None:
    """A token count as the viewer shows it: any JSON number, truncated, that SQLite can hold."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not -_INT64 < value < _INT64:
        return None
    return int(value)


def describe(event: Event) -> tuple[Any, ...]:
    """The columns of `event` (`COLUMNS`), then whether it starts a conversation. Never raises: an event without
    a string id is refused by the store, which says why."""
    error = event.get("error")
    event_type = event.get("event_type")
    metadata = event.get("metadata")
    total: Any = None
    prompt: Any = None
    completion: Any = None
    conversation = False
    if isinstance(metadata, dict):
        total = metadata.get("total_tokens")
        prompt = metadata.get("prompt_tokens")
        completion = metadata.get("completion_tokens")
        conversation = event_type == "session" and "conversation_id" in metadata
    config = event.get("config")
    model = config.get("model") if isinstance(config, dict) else None
    properties = event.get("user_properties")
    user = properties.get("user_id") if isinstance(properties, dict) else None
    shown = _count(total)
    if shown is None:
        parts = [n for n in (_number(prompt), _number(completion)) if n is not None]
        shown = _count(sum(parts)) if parts else None
    return (
        event.get("event_id"),
        _text(event.get("session_id")),
        _text(event.get("parent_id")),
        _text(event_type),
        _text(event.get("event_name")),
        _text(event.get("source")),
        _number(event.get("start_time")),
        _number(event.get("end_time")),
        _number(event.get("duration")),
        0 if error is None or error == "" else 1,
        total if event_type == "model" and isinstance(total, int) and _count(total) is not None else None,
        _text(user),
        model if isinstance(model, str) and model else None,
        shown,
        conversation,
    )
