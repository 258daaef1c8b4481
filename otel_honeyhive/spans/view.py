"""The normalised span view every input produces and the mapper consumes.

The SDK's `ReadableSpan` and an OTLP protobuf span carry the same facts in different shapes. Converting both
into one small, immutable record keeps the mapper independent of where spans come from, and is what makes the
receiver and the in-process exporter produce identical events for the same spans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

AttributeValue = Any
"""str, bool, int, float, bytes, or a sequence of those (OTLP may also nest maps and arrays)."""

Attributes = Mapping[str, AttributeValue]

_EMPTY: Mapping[str, Any] = MappingProxyType({})

STATUS_UNSET = 0
STATUS_OK = 1
STATUS_ERROR = 2

_KIND_NAMES = {
    SpanKind.INTERNAL: "internal",
    SpanKind.SERVER: "server",
    SpanKind.CLIENT: "client",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
}
_STATUS_CODES = {StatusCode.UNSET: STATUS_UNSET, StatusCode.OK: STATUS_OK, StatusCode.ERROR: STATUS_ERROR}


@dataclass(slots=True)  # not frozen: frozen __init__ costs µs per span; treat as read-only
class SpanEventView:
    name: str
    time_ns: int
    attributes: Attributes = field(default_factory=dict)


@dataclass(slots=True)  # not frozen: frozen __init__ costs µs per span; treat as read-only
class LinkView:
    trace_id: int
    span_id: int
    attributes: Attributes = field(default_factory=dict)


@dataclass(slots=True)  # not frozen: frozen __init__ costs µs per span; treat as read-only
class SpanView:
    """One finished span, reduced to what the mapping needs.

    `parent_span_id` is 0 for a span without a parent. `parent_is_remote` marks a parent that lives in another
    process (W3C context propagation), which makes this span a *local root* of its trace.
    """

    trace_id: int
    span_id: int
    name: str
    start_ns: int
    end_ns: int
    parent_span_id: int = 0
    parent_is_remote: bool = False
    kind: str = "internal"
    status_code: int = STATUS_UNSET
    status_message: str | None = None
    attributes: Attributes = field(default_factory=dict)
    events: Sequence[SpanEventView] = ()
    links: Sequence[LinkView] = ()
    resource: Attributes = field(default_factory=dict)
    scope_name: str | None = None
    scope_version: str | None = None
    dropped_attributes: int = 0
    dropped_events: int = 0
    dropped_links: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_local_root(self) -> bool:
        return self.parent_span_id == 0 or self.parent_is_remote


def plain(attributes: Any) -> Mapping[str, Any]:
    """The SDK's `BoundedAttributes` is a Python-level MutableMapping (slow to iterate); an ended span's is
    immutable, so its inner dict can be read directly."""
    if not attributes:
        return _EMPTY
    inner = getattr(attributes, "_dict", None)
    if isinstance(inner, dict):
        return inner
    if isinstance(attributes, dict):
        return attributes
    return dict(attributes)


def from_readable_span(span: ReadableSpan) -> SpanView:
    """Convert an SDK span. Spans without a valid context cannot be identified and are refused."""
    ctx = span.context
    if ctx is None or not ctx.trace_id or not ctx.span_id:
        raise ValueError(f"span {span.name!r} has no valid span context")
    parent = span.parent
    status = span.status
    scope = span.instrumentation_scope
    resource = span.resource
    # The SDK's own containers (an empty one is falsy: `or` would fall back to the copying property).
    events = getattr(span, "_events", None)
    if events is None:
        events = span.events
    links = getattr(span, "_links", None)
    if links is None:
        links = span.links
    return SpanView(
        trace_id=ctx.trace_id,
        span_id=ctx.span_id,
        name=span.name,
        start_ns=span.start_time or 0,
        end_ns=span.end_time or span.start_time or 0,
        parent_span_id=parent.span_id if parent is not None else 0,
        parent_is_remote=bool(parent is not None and parent.is_remote),
        kind=_KIND_NAMES.get(span.kind, "internal"),
        status_code=_STATUS_CODES.get(status.status_code, STATUS_UNSET),
        status_message=status.description or None,
        attributes=plain(getattr(span, "_attributes", None) or span.attributes),
        events=tuple(SpanEventView(e.name, e.timestamp or 0, plain(e.attributes)) for e in events)
        if events
        else (),
        links=tuple(LinkView(link.context.trace_id, link.context.span_id, plain(link.attributes)) for link in links)
        if links
        else (),
        resource=plain(resource.attributes) if resource is not None else _EMPTY,
        scope_name=scope.name if scope is not None else None,
        scope_version=(scope.version or None) if scope is not None else None,
        dropped_attributes=span.dropped_attributes,
        dropped_events=span.dropped_events,
        dropped_links=span.dropped_links,
    )


def as_span_view(span: ReadableSpan | SpanView) -> SpanView:
    return span if isinstance(span, SpanView) else from_readable_span(span)
