"""Real OpenTelemetry SDK spans for the mapper's specification tests.

Every span here is produced by the SDK (`Recorder`: `TracerProvider` + `SimpleSpanProcessor(InMemorySpanExporter())`):
attributes through `set_attribute`, events through `add_event` / `record_exception`, status through `set_status`,
nesting through real contexts. Nothing is hand-built, so the tests exercise exactly what an
instrumented application hands the exporter.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from opentelemetry import trace
from opentelemetry.sdk.trace import Span, SpanLimits
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from otel_honeyhive import spans_to_events
from otel_honeyhive.mapper.identity import EVENT_NAMESPACE, SESSION_NAMESPACE
from tests.support.spans import Recorder

Event = dict[str, Any]


class Otel(Recorder):
    """One tracer provider recording in memory; `events()` maps what it has recorded."""

    def __init__(self, span_limits: SpanLimits | None = None) -> None:
        super().__init__("mapper-tests", scope="tests.mapper", version="1.2.3", span_limits=span_limits)

    @contextmanager
    def span(
        self,
        name: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        parent: Span | trace.Span | None = None,
        context: Any = None,
        root: bool = False,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    ) -> Iterator[Span]:
        """A span set up attribute by attribute; nested under the current span unless told otherwise."""
        if root:
            context = trace.set_span_in_context(trace.INVALID_SPAN)
        elif parent is not None:
            context = trace.set_span_in_context(parent)
        with self.tracer.start_as_current_span(
            name, context=context, kind=kind, record_exception=False, set_status_on_exception=False
        ) as span:
            for key, value in (attributes or {}).items():
                span.set_attribute(key, value)
            assert isinstance(span, Span)
            yield span

    def events(self, **kwargs: Any) -> list[Event]:
        events = spans_to_events(self.spans(), **kwargs)
        for event in events:
            assert_serialisable(event)
        return events

    def by_name(self, **kwargs: Any) -> dict[str, Event]:
        return {e["event_name"]: e for e in self.events(**kwargs)}


def remote_context(trace_id: int, span_id: int) -> Any:
    """A context whose current span is a parent living in another process (as W3C propagation gives)."""
    parent = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(parent))


def child_event(
    attributes: Mapping[str, Any] | None = None,
    *,
    events: Sequence[tuple[str, Mapping[str, Any]]] = (),
    status: Status | None = None,
    exception: BaseException | None = None,
    children: int = 0,
    name: str = "step",
    span_limits: SpanLimits | None = None,
) -> Event:
    """The event of one span under a root (the root becomes the session, so this one is a plain event)."""
    otel = Otel(span_limits)
    with otel.span("root", root=True), otel.span(name, attributes) as span:
        span_id = f"{span.get_span_context().span_id:016x}"
        for event_name, event_attributes in events:
            span.add_event(event_name, dict(event_attributes))
        if exception is not None:
            span.record_exception(exception)
        if status is not None:
            span.set_status(status)
        for i in range(children):
            with otel.span(f"{name}.child{i}"):
                pass
    (event,) = [e for e in otel.events() if e["metadata"]["span_id"] == span_id]
    return event


def error_status(description: str | None = None) -> Status:
    return Status(StatusCode.ERROR, description)


def session_uuid(trace_id: int) -> str:
    return str(uuid.uuid5(SESSION_NAMESPACE, f"{trace_id:032x}"))


def event_uuid(trace_id: int, span_id: int) -> str:
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{trace_id:032x}{span_id:016x}"))


def assert_strict_uuid(value: Any) -> None:
    assert isinstance(value, str)
    parsed = uuid.UUID(value)
    assert str(parsed) == value, "canonical, lowercase, hyphenated"
    assert parsed.variant == uuid.RFC_4122


def assert_derived_uuid(value: Any) -> None:
    assert_strict_uuid(value)
    assert uuid.UUID(value).version == 5


def assert_serialisable(event: Event) -> None:
    orjson.dumps(event)
    assert json.loads(json.dumps(event, allow_nan=False)) == json.loads(orjson.dumps(event))
