"""HoneyHive's own SDK (`@trace`, `enrich_span`): flattened buckets and `honeyhive_*` fields.

Explicit user data, so its buckets rank first and merge into what other conventions found.
"""

from __future__ import annotations

from typing import Any

from otel_honeyhive.core.events import BUCKETS
from otel_honeyhive.mapper.identity import normalise_uuid
from otel_honeyhive.mapper.rules import Convention, Field, Group, by_value
from otel_honeyhive.mapper.values import as_bucket, nested_bucket, to_number, to_text

# Identity keys are read by the trace mapper (mapper/trace.py); they are consumed, not copied into metadata.
# A value the trace mapper cannot use (not a UUID) is ignored for identity and kept in metadata instead.
IDENTITY_KEYS = (
    "honeyhive.session_id",
    "honeyhive_session_id",
    "honeyhive_event_id",
    "honeyhive.parent_id",
    "honeyhive_parent_id",
)
_EVENT_TYPES = {"model": "model", "tool": "tool", "chain": "chain"}


def _valid_uuid(value: Any) -> str:
    uuid = normalise_uuid(value)
    if uuid is None:
        raise ValueError("not a canonical UUID")
    return uuid


def _valid_event_type(value: Any) -> str:
    if isinstance(value, str) and value.lower() in _EVENT_TYPES:
        return value
    raise ValueError("not an event type")


CONVENTION: Convention = Convention(
    name="honeyhive",
    description="HoneyHive SDK span attributes",
    rules=(
        *(Group(f"honeyhive_{b}.", b, nested_bucket, rank=0, merge=True) for b in BUCKETS),
        *(Field(f"honeyhive_{b}", b, rank=0, convert=as_bucket("value"), merge=True) for b in BUCKETS),
        *(Field(key, None, convert=_valid_uuid) for key in IDENTITY_KEYS),
        Field("honeyhive_event_type", None, convert=_valid_event_type),
        Field("honeyhive_session_name", "event_name", rank=-1, convert=to_text, only=frozenset({"session"})),
        Field("honeyhive_event_name", "event_name", rank=0, convert=to_text),
        Field("honeyhive.project", "project", rank=0, convert=to_text),
        Field("honeyhive_project", "project", rank=1, convert=to_text),
        Field("honeyhive.source", "source", rank=0, convert=to_text),
        Field("honeyhive_source", "source", rank=1, convert=to_text),
        Field("honeyhive_error", "error", rank=30, convert=to_text),
        Field("honeyhive_duration_ms", "duration", rank=0, convert=to_number),
        Field("honeyhive_user_id", "user_properties.user_id", rank=0),
    ),
    type_rules=(
        by_value("honeyhive_event_type", _EVENT_TYPES, rank=10),
    ),
)
