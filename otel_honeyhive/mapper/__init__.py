"""Spans → HoneyHive events: identity (identity.py, trace.py), classification and routing (rules.py), and one
module per convention (conventions/)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from opentelemetry.sdk.trace import ReadableSpan

from otel_honeyhive.core.events import DEFAULT_SOURCE, Event
from otel_honeyhive.core.spans import SpanView, as_span_view
from otel_honeyhive.mapper.conversations import extended_session
from otel_honeyhive.mapper.filtering import SpanFilter, SpanPredicate
from otel_honeyhive.mapper.rules import (
    Candidate,
    Combine,
    Convention,
    Extract,
    Field,
    Group,
    SpanFacts,
    TypeRule,
    by_value,
    when_present,
)
from otel_honeyhive.mapper.ruleset import Ruleset
from otel_honeyhive.mapper.trace import TraceMapper, group_by_trace


def spans_to_events(
    spans: Iterable[ReadableSpan | SpanView],
    *,
    project: str | None = None,
    source: str = DEFAULT_SOURCE,
    ruleset: Ruleset | None = None,
    span_filter: SpanFilter | SpanPredicate | str | Sequence[str] | None = None,
    sessions: str = "trace",
) -> list[Event]:
    """Map finished spans to HoneyHive events. Pure: no I/O, no state kept between calls.

    The spans are grouped by trace and each trace is mapped as a whole, so give it every span of a trace
    you want mapped exactly (docs/identity-and-assembly.md#trace-assembly). `span_filter`: as the exporter's
    (a predicate, a preset name, or a `SpanFilter`); dropped spans' children go to their nearest kept ancestor.
    `sessions`: "trace" or "conversation" (the traces of one conversation in one session, the session event's end
    extended to the last turn; docs/identity-and-assembly.md#conversations)."""
    chosen = span_filter if isinstance(span_filter, SpanFilter) else SpanFilter.build(span_filter)
    mapper = TraceMapper(ruleset, project=project, source=source, span_filter=chosen, sessions=sessions)
    views = [as_span_view(s) for s in spans]
    events: list[Event] = []
    session_at: dict[str, list[int]] = {}  # where each session event is, for the updates later turns make of it
    for trace in group_by_trace(views):
        mapped = mapper.map_trace(trace)
        for event in mapped:
            if event.get("event_type") == "session" and isinstance(event.get("event_id"), str):
                session_at.setdefault(event["event_id"], []).append(len(events))
            events.append(event)
        for update in mapper.take_updates():  # a later turn extends its conversation's session
            for at in session_at.get(update.event_id, ()):
                events[at] = extended_session(events[at], update, mapped)
    return events


__all__ = [
    "Candidate",
    "Combine",
    "Convention",
    "Extract",
    "Field",
    "Group",
    "Ruleset",
    "SpanFacts",
    "SpanFilter",
    "TraceMapper",
    "TypeRule",
    "by_value",
    "spans_to_events",
    "when_present",
]
