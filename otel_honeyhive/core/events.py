"""The event record that flows from the mapper (or the HoneyHive-compatible API) to every output."""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]
"""A HoneyHive event as a JSON-ready dict (https://docs.honeyhive.ai/schema-overview; docs/mapping.md)."""

EVENT_TYPES = ("session", "model", "tool", "chain")
BUCKETS = ("config", "inputs", "outputs", "metadata", "metrics", "feedback", "user_properties")

DEFAULT_SOURCE = "dev"

SECONDS_BELOW = 1e11
"""An event time below this is in seconds (as milliseconds it would be before March 1973): HoneyHive documents
milliseconds, but its own examples send seconds. The store keeps the event as sent and its time columns in
milliseconds (`outputs/store/rows.in_ms`); the viewer, the terminal, retention, time filters, the listing's
order and the reverse mapping all read times by this one rule."""


def epoch_seconds(value: float) -> float:
    """An event time (milliseconds, or seconds below `SECONDS_BELOW`) in seconds."""
    return value if abs(value) < SECONDS_BELOW else value / 1000


def duration_ms(start: float, end: float) -> float:
    """The duration of an event from its times, in milliseconds as `duration` always is, whichever unit each time
    was sent in: a start and an end sent in seconds seven apart make 7000, not 7."""
    return _ms(end) - _ms(start)


def _ms(value: float) -> float:
    return value * 1000 if abs(value) < SECONDS_BELOW else value
"""The `source` of events made from spans when none is configured (HoneyHive's SDK uses the same default)."""
