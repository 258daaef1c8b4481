"""OTLP/protobuf → `SpanView`: the receiver's hot path.

The output must equal `from_readable_span` for the same SDK span (so a span mapped in-process and the same span
received over OTLP become identical events), and it must be cheap: the receiver budget is a few µs per span.
Hence: every proto field is read once (each access on a upb message allocates), values are unpacked by hand
rather than through `json_format`, empty collections share one immutable object, and one resource-attributes
dict is shared by all spans of a `ResourceSpans`.

Measured alternatives for reading an `AnyValue` (upb, realistic LLM spans): `ListFields()` ~390 ns,
`WhichOneof("value")` ~140 ns, reading `string_value` first ~125 ns (and strings dominate), so strings are
tried first and `WhichOneof` is the fallback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, cast

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_honeyhive.inputs.otlp.errors import OtlpDecodeError
from otel_honeyhive.spans.view import LinkView, SpanEventView, SpanView

_EMPTY: Mapping[str, Any] = MappingProxyType({})

KIND_NAMES: tuple[str, ...] = ("internal", "internal", "server", "client", "producer", "consumer")
"""Indexed by the OTLP `SpanKind` enum value (0 = SPAN_KIND_UNSPECIFIED, read as internal like the SDK)."""

FLAG_HAS_IS_REMOTE = 0x100
FLAG_IS_REMOTE = 0x200
_REMOTE_MASK = FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE

MAX_DEPTH = 64
"""Nesting limit for array/kvlist values: deeper data is refused rather than risking the recursion limit."""

_ZERO16 = bytes(16)
_ZERO8 = bytes(8)


@dataclass(slots=True)
class DecodeResult:
    """Spans that decoded, and what was refused (for the OTLP `partial_success` answer)."""

    spans: list[SpanView] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def error_message(self) -> str:
        """One line for `partial_success.error_message` (the first few problems)."""
        if not self.errors:
            return ""
        head = "; ".join(self.errors[:5])
        more = len(self.errors) - 5
        return f"{head}; and {more} more" if more > 0 else head


class _KeyValue(Protocol):
    key: str
    value: Any


def _id_problem(name: str, value: bytes, size: int) -> str | None:
    """Why an OTLP id is unusable, or None."""
    if len(value) != size:
        return f"{name} must be {size} bytes, got {len(value)}"
    if not any(value):
        return f"{name} must not be all zeros"
    return None


def _any_value(v: Any, depth: int = 0) -> Any:
    """A non-string (or empty-string) `AnyValue` as the Python value the SDK would hold."""
    which = v.WhichOneof("value")
    if which == "int_value":
        return v.int_value
    if which == "double_value":
        return v.double_value
    if which == "bool_value":
        return v.bool_value
    if which == "string_value":
        return v.string_value
    if which == "bytes_value":
        return v.bytes_value
    if which == "array_value" or which == "kvlist_value":
        if depth >= MAX_DEPTH:
            raise OtlpDecodeError(f"attribute value nested deeper than {MAX_DEPTH} levels")
        if which == "array_value":
            return tuple([_array_item(item, depth + 1) for item in v.array_value.values])
        return _attributes(v.kvlist_value.values, depth + 1) or {}
    return None  # unset, or a oneof member added by a newer OTLP version: nothing we can read


def _array_item(v: Any, depth: int) -> Any:
    s = v.string_value
    return s if s else _any_value(v, depth)


def _attributes(kvs: Iterable[_KeyValue], depth: int = 0) -> Mapping[str, Any]:
    """Repeated `KeyValue` → plain dict (later duplicates win, as in the SDK's dict)."""
    if not kvs:
        return _EMPTY
    out: dict[str, Any] = {}
    for kv in kvs:
        v = kv.value
        s = v.string_value
        out[kv.key] = s if s else _any_value(v, depth)
    return out


def decode_request(req: ExportTraceServiceRequest) -> DecodeResult:
    """Every span of an `ExportTraceServiceRequest` as a `SpanView`; spans with unusable ids are counted as
    rejected (with a reason) instead of failing the whole request."""
    result = DecodeResult()
    out = result.spans
    append = out.append
    kinds = KIND_NAMES
    n_kinds = len(kinds)
    for rs in cast(Iterable[Any], req.resource_spans):
        resource = _attributes(rs.resource.attributes)  # one dict shared by every span below
        for ss in rs.scope_spans:
            if ss.HasField("scope"):
                scope = ss.scope
                scope_name = scope.name or None
                scope_version = scope.version or None
            else:
                scope_name = scope_version = None
            for sp in ss.spans:
                tid = sp.trace_id
                sid = sp.span_id
                pid = sp.parent_span_id
                if len(tid) != 16 or len(sid) != 8 or tid == _ZERO16 or sid == _ZERO8 or (pid and len(pid) != 8):
                    result.rejected += 1
                    result.errors.append(_span_problem(sp.name, tid, sid, pid))
                    continue
                parent = int.from_bytes(pid, "big") if pid else 0
                kind = sp.kind
                start = sp.start_time_unix_nano
                status = sp.status
                code = status.code
                events = sp.events
                links = sp.links
                dropped_links = sp.dropped_links_count
                if links:
                    link_views, bad_links = _links(links)
                    dropped_links += bad_links
                else:
                    link_views = ()
                append(
                    SpanView(
                        int.from_bytes(tid, "big"),
                        int.from_bytes(sid, "big"),
                        sp.name,
                        start,
                        sp.end_time_unix_nano or start,
                        parent,
                        bool(parent) and (sp.flags & _REMOTE_MASK) == _REMOTE_MASK,
                        kinds[kind] if 0 <= kind < n_kinds else "internal",
                        code if 0 <= code <= 2 else 0,
                        status.message or None,
                        _attributes(sp.attributes),
                        tuple([SpanEventView(e.name, e.time_unix_nano, _attributes(e.attributes)) for e in events])
                        if events
                        else (),
                        link_views,
                        resource,
                        scope_name,
                        scope_version,
                        sp.dropped_attributes_count,
                        sp.dropped_events_count,
                        dropped_links,
                        _EMPTY,
                    )
                )
    return result


def _links(links: Iterable[Any]) -> tuple[tuple[LinkView, ...], int]:
    """Links with well-formed ids; a malformed link is dropped and counted as a dropped link, since one bad
    link is no reason to lose its span. (All-zero ids are kept: the SDK itself records such links when they
    carry attributes.)"""
    views: list[LinkView] = []
    bad = 0
    for link in links:
        tid = link.trace_id
        sid = link.span_id
        if len(tid) != 16 or len(sid) != 8:
            bad += 1
            continue
        views.append(LinkView(int.from_bytes(tid, "big"), int.from_bytes(sid, "big"), _attributes(link.attributes)))
    return tuple(views), bad


def _span_problem(name: str, tid: bytes, sid: bytes, pid: bytes) -> str:
    problem = _id_problem("trace_id", tid, 16) or _id_problem("span_id", sid, 8)
    if problem is None and pid and len(pid) != 8:
        problem = f"parent_span_id must be 8 bytes or empty, got {len(pid)}"
    return f"span {name[:100]!r}: {problem}"


def decode_protobuf(body: bytes) -> DecodeResult:
    """Decode a serialized `ExportTraceServiceRequest` (OTLP/HTTP protobuf body, after decompression)."""
    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(body)
    except Exception as exc:  # protobuf's DecodeError (untyped module); nothing else runs in this block
        raise OtlpDecodeError(f"invalid OTLP protobuf: {exc}") from None
    return decode_request(req)


__all__ = ["DecodeResult", "OtlpDecodeError", "decode_protobuf", "decode_request"]
