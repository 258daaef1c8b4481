"""The normalised log record view every logs input produces (the SDK's `LogData`, OTLP protobuf and JSON) and
the pipeline joins to spans.

GenAI instrumentations can put prompts and completions only in log records (`gen_ai.client.inference.operation.
details`, the per-message `gen_ai.*.message` / `gen_ai.choice` records, `gen_ai.evaluation.result`), emitted with
the trace and span ids of the model call's span. One small record, like `SpanView`, keeps the join and the
mapping independent of where a record came from (docs/mapping.md#genai-content-in-log-records).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from otel_honeyhive.core.spans import Attributes

EVENT_NAME_ATTRIBUTE = "event.name"
"""Where older SDKs put a record's event name (newer ones have the record's own `event_name` field)."""


@dataclass(slots=True)  # not frozen, as SpanView: treat as read-only
class LogRecordView:
    """One log record, reduced to what joining and mapping need. `trace_id` / `span_id` are 0 when the record
    names no span (an ordinary application log, or one emitted outside a span)."""

    trace_id: int
    span_id: int
    event_name: str | None
    """The record's event name: its `event_name` field, else its `event.name` attribute; None for plain logs."""
    time_ns: int
    """The record's timestamp, else its observed timestamp (ns since the epoch; 0 when neither is set)."""
    body: Any
    """The record's body as plain Python (str, int, float, bool, bytes, list, dict; None when empty)."""
    attributes: Attributes = field(default_factory=dict)
    severity_number: int = 0
    severity_text: str | None = None
    resource: Attributes = field(default_factory=dict)
    scope_name: str | None = None
    sampled: bool = True
    """False when the record says its span was not sampled (W3C trace flags): that span is never exported, so
    the record would wait for it in vain. Inputs that cannot tell leave it True."""
    masked: int = 0
    """Replacements masking made in the record (pipeline/masking.py), added to its span's count when it joins."""

    @property
    def names_a_span(self) -> bool:
        return self.trace_id != 0 and self.span_id != 0


def event_name_of(event_name: str | None, attributes: Attributes) -> str | None:
    """The record's event name by the rule every input follows: the field when set, else the attribute."""
    if event_name:
        return event_name
    named = attributes.get(EVENT_NAME_ATTRIBUTE)
    return named if isinstance(named, str) and named else None


__all__ = ["EVENT_NAME_ATTRIBUTE", "LogRecordView", "event_name_of"]
