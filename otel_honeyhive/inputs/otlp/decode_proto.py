"""OTLP/protobuf → `SpanView`: the receiver's hot path.

The output must equal `from_readable_span` for the same SDK span (so a span mapped in-process and the same span
received over OTLP become identical events), and it must be cheap. A request body is read by `wire.read_request`,
which walks the protobuf wire format once and builds the views directly; anything it does not take on (a
malformed body, a group, a field repeated where protobuf would merge) is decoded here instead, through upb's
message objects, which are the reference: `decode_request` defines the result, and the wire reader is tested
to agree with it (including on random and corrupted bodies).

The reference reads every proto field once (each access on a upb message allocates), unpacks values by hand
rather than through `json_format`, and reads `string_value` before `WhichOneof` (strings dominate).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, cast

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_honeyhive.core.spans import LinkView, SpanEventView, SpanView
from otel_honeyhive.inputs.otlp import wire
from otel_honeyhive.inputs.otlp.decoded import (
    EMPTY,
    KIND_NAMES,
    MAX_DEPTH,
    REMOTE_MASK,
    DecodeResult,
    span_problem,
    unusable_ids,
)
from otel_honeyhive.inputs.otlp.errors import OtlpDecodeError


class _KeyValue(Protocol):
    key: str
    value: Any


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
        return EMPTY
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
                if unusable_ids(tid, sid, pid):
                    result.rejected += 1
                    result.errors.append(span_problem(sp.name, tid, sid, pid))
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
                        trace_id=int.from_bytes(tid, "big"),
                        span_id=int.from_bytes(sid, "big"),
                        name=sp.name,
                        start_ns=start,
                        end_ns=sp.end_time_unix_nano or start,
                        parent_span_id=parent,
                        parent_is_remote=bool(parent) and (sp.flags & REMOTE_MASK) == REMOTE_MASK,
                        kind=kinds[kind] if 0 <= kind < n_kinds else "internal",
                        status_code=code if 0 <= code <= 2 else 0,
                        status_message=status.message or None,
                        attributes=_attributes(sp.attributes),
                        events=tuple(
                            [SpanEventView(e.name, e.time_unix_nano, _attributes(e.attributes)) for e in events]
                        ) if events else (),
                        links=link_views,
                        resource=resource,
                        scope_name=scope_name,
                        scope_version=scope_version,
                        dropped_attributes=sp.dropped_attributes_count,
                        dropped_events=sp.dropped_events_count,
                        dropped_links=dropped_links,
                        extra=EMPTY,
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


def decode_protobuf(body: bytes) -> DecodeResult:
    """Decode a serialized `ExportTraceServiceRequest` (an OTLP/HTTP protobuf body after decompression, or a
    gRPC request's bytes)."""
    try:
        return wire.read_request(body)
    except wire.LeftToReference:
        return parse_and_decode(body)


def parse_and_decode(body: bytes) -> DecodeResult:
    """The reference path for a body: upb parses it (and words the error when it cannot), then
    `decode_request`."""
    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(body)
    except Exception as exc:  # protobuf's DecodeError (untyped module); nothing else runs in this block
        raise OtlpDecodeError(f"invalid OTLP protobuf: {exc}") from None
    return decode_request(req)


__all__ = ["DecodeResult", "OtlpDecodeError", "decode_protobuf", "decode_request", "parse_and_decode"]
