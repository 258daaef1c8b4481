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
    inner = getattr(attributes, "_dict", None)
    if type(inner) is dict:
        return inner or _EMPTY
    if not attributes:
        return _EMPTY
    if isinstance(attributes, dict):
        return attributes
    return dict(attributes)


def from_readable_span(span: ReadableSpan) -> SpanView:
    """Convert an SDK span. Spans without a valid context cannot be identified and are refused.

    This runs once per exported span, so it reads the SDK's own fields (`ReadableSpan.__init__` sets them;
    every public property is a Python-level call, and enum members hash in Python). Any other `ReadableSpan`
    goes through the public API, with the same result."""
    fields = getattr(span, "__dict__", None)
    if fields is None or not _SDK_FIELDS.issubset(fields):
        return _from_public_api(span)
    ctx = fields["_context"]
    if ctx is None or not ctx[0] or not ctx[1]:  # SpanContext is a tuple: trace_id, span_id, is_remote, …
        raise ValueError(f"span {span.name!r} has no valid span context")
    parent = fields["_parent"]
    status = fields["_status"]
    scope = fields["_instrumentation_scope"]
    resource = fields["_resource"]
    attributes = fields["_attributes"]
    events = fields["_events"]
    links = fields["_links"]
    start = fields["_start_time"] or 0
    return SpanView(
        ctx[0],
        ctx[1],
        fields["_name"],
        start,
        fields["_end_time"] or start,
        parent[1] if parent is not None else 0,
        bool(parent is not None and parent[2]),
        _KINDS.get(fields["_kind"]._value_, "internal"),
        _STATUSES.get(status.status_code._value_, STATUS_UNSET),
        status.description or None,
        plain(attributes),
        tuple(SpanEventView(e.name, e.timestamp or 0, plain(e.attributes)) for e in events) if events else (),
        tuple(LinkView(link.context[0], link.context[1], plain(link.attributes)) for link in links)
        if links
        else (),
        plain(resource.attributes) if resource is not None else _EMPTY,
        scope.name if scope is not None else None,
        (scope.version or None) if scope is not None else None,
        getattr(attributes, "dropped", 0),  # BoundedAttributes and BoundedList count what they evicted
        getattr(events, "dropped", 0),
        getattr(links, "dropped", 0),
    )


_SDK_FIELDS = frozenset(
    {"_context", "_parent", "_name", "_kind", "_status", "_start_time", "_end_time", "_attributes", "_events",
     "_links", "_resource", "_instrumentation_scope"}
)
_KINDS = {kind.value: name for kind, name in _KIND_NAMES.items()}
_STATUSES = {code.value: number for code, number in _STATUS_CODES.items()}


def _from_public_api(span: ReadableSpan) -> SpanView:
    ctx = span.context
    if ctx is None or not ctx.trace_id or not ctx.span_id:
        raise ValueError(f"span {span.name!r} has no valid span context")
    parent = span.parent
    status = span.status
    scope = span.instrumentation_scope
    resource = span.resource
    events = span.events
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
        attributes=plain(span.attributes),
        events=tuple(SpanEventView(e.name, e.timestamp or 0, plain(e.attributes)) for e in events),
        links=tuple(LinkView(link.context.trace_id, link.context.span_id, plain(link.attributes)) for link in links),
        resource=plain(resource.attributes) if resource is not None else _EMPTY,
        scope_name=scope.name if scope is not None else None,
        scope_version=(scope.version or None) if scope is not None else None,
        dropped_attributes=span.dropped_attributes,
        dropped_events=span.dropped_events,
        dropped_links=span.dropped_links,
    )


def as_span_view(span: ReadableSpan | SpanView) -> SpanView:
    return span if isinstance(span, SpanView) else from_readable_span(span)
