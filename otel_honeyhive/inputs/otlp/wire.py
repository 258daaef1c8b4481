"""An OTLP trace request read straight from the protobuf wire format into `SpanView`s.

Why not upb alone: it parses fast, but reading its messages from Python wraps every field touched in a new
object, which made decoding a large share of the receiver's CPU (BENCHMARKS.md). This reader walks the bytes once
and builds the views directly, as the Collector's pdata unmarshals OTLP with code written for its one schema.

It reads what OTLP exporters send. Anything else raises `LeftToReference` and is left to the reference decoder
(`decode_proto.parse_and_decode`, through upb), which then defines the result or words the error: a malformed
or truncated body, invalid UTF-8, groups, a known field with an unexpected wire type, fields newer than this
reader (string tables, entity refs), a singular message field given twice (protobuf merges those), and values
nested more than `DEEPEST` levels (where upb's limit on nested messages, or `MAX_DEPTH`, may refuse them).
Tests hold the two decoders to the same result on random and corrupted bodies.

Field numbers and wire types are those of opentelemetry-proto's trace.proto, common.proto and resource.proto; a
tag constant is `field << 3 | wire type` (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
"""

from __future__ import annotations

import struct
from typing import Any, Final

from otel_honeyhive.core.spans import LinkView, SpanEventView, SpanView
from otel_honeyhive.inputs.otlp.decoded import (
    EMPTY,
    KIND_NAMES,
    REMOTE_MASK,
    DecodeResult,
    span_problem,
    unusable_ids,
)


class LeftToReference(Exception):
    """Input this reader leaves to the reference decoder."""


DEEPEST: Final = 40
"""Array/kvlist nesting this reader takes on. Each level is two messages, and a value sits at most 7 messages
deep in a request, so 40 levels stay under upb's limit of 100 nested messages: whatever upb refuses for depth
(or `decoded.MAX_DEPTH` does), this reader has left to it."""


_MASK32: Final = 0xFFFFFFFF
_MASK64: Final = (1 << 64) - 1
_SIGN32: Final = 1 << 31
_SIGN64: Final = 1 << 63
_DOUBLE = struct.Struct("<d")
_FROM_BYTES: Final = int.from_bytes
"""Bound once: `int.from_bytes` looked up per call makes a new bound classmethod each time."""

# ExportTraceServiceRequest, ResourceSpans, ScopeSpans, InstrumentationScope, Resource, ArrayValue, KeyValueList
_FIELD1_MESSAGE: Final = 0x0A
_FIELD2_MESSAGE: Final = 0x12
_FIELD3_STRING: Final = 0x1A
_RESOURCE_DROPPED: Final = 0x10

# Span
_SPAN_TRACE_ID: Final = 0x0A
_SPAN_SPAN_ID: Final = 0x12
_SPAN_TRACE_STATE: Final = 0x1A
_SPAN_PARENT_ID: Final = 0x22
_SPAN_NAME: Final = 0x2A
_SPAN_KIND: Final = 0x30
_SPAN_START: Final = 0x39
_SPAN_END: Final = 0x41
_SPAN_ATTRIBUTE: Final = 0x4A
_SPAN_DROPPED_ATTRIBUTES: Final = 0x50
_SPAN_EVENT: Final = 0x5A
_SPAN_DROPPED_EVENTS: Final = 0x60
_SPAN_LINK: Final = 0x6A
_SPAN_DROPPED_LINKS: Final = 0x70
_SPAN_STATUS: Final = 0x7A
_SPAN_FLAGS: Final = 0x85  # field 16, fixed32: the one tag that takes two bytes on the wire (85 01)

# Span.Event
_EVENT_TIME: Final = 0x09
_EVENT_NAME: Final = 0x12
_EVENT_ATTRIBUTE: Final = 0x1A
_EVENT_DROPPED: Final = 0x20

# Span.Link
_LINK_TRACE_ID: Final = 0x0A
_LINK_SPAN_ID: Final = 0x12
_LINK_TRACE_STATE: Final = 0x1A
_LINK_ATTRIBUTE: Final = 0x22
_LINK_DROPPED: Final = 0x28
_LINK_FLAGS: Final = 0x35

# Status
_STATUS_MESSAGE: Final = 0x12
_STATUS_CODE: Final = 0x18

# InstrumentationScope
_SCOPE_NAME: Final = 0x0A
_SCOPE_VERSION: Final = 0x12
_SCOPE_ATTRIBUTE: Final = 0x1A
_SCOPE_DROPPED: Final = 0x20

# KeyValue
_KV_KEY: Final = 0x0A
_KV_VALUE: Final = 0x12

# AnyValue (a oneof)
_ANY_STRING: Final = 0x0A
_ANY_BOOL: Final = 0x10
_ANY_INT: Final = 0x18
_ANY_DOUBLE: Final = 0x21
_ANY_ARRAY: Final = 0x2A
_ANY_KVLIST: Final = 0x32
_ANY_BYTES: Final = 0x3A
_ANY_LAST_MEMBER: Final = 8  # string_value_strindex (profiles' string tables): left to the reference


def read_request(body: bytes) -> DecodeResult:
    """Every span of a serialized `ExportTraceServiceRequest`, as `decode_proto.decode_request` gives them
    (spans with unusable ids counted as rejected); raises `LeftToReference` for input it leaves to that decoder."""
    try:
        return _request(body)
    except (ValueError, IndexError, RecursionError, OverflowError):  # invalid UTF-8 above all
        raise LeftToReference from None


# -- the wire format ------------------------------------------------------------------------------------------


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A base-128 varint at `pos`: its value and the position after it."""
    byte = data[pos] if pos < end else 0x100
    if byte < 0x80:
        return byte, pos + 1
    result = 0
    shift = 0
    while pos < end and shift < 64:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if result > _MASK64:
                break
            return result, pos
        shift += 7
    raise LeftToReference


def _delimited(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A length-delimited field's payload: where it starts and ends."""
    size, start = _varint(data, pos, end)
    stop = start + size
    if stop > end:
        raise LeftToReference
    return start, stop


def _string(data: bytes, pos: int, end: int) -> tuple[str, int]:
    start, stop = _delimited(data, pos, end)
    return data[start:stop].decode(), stop


def _fixed64(data: bytes, pos: int, end: int) -> int:
    if pos + 8 > end:
        raise LeftToReference
    return _le32(data, pos) | _le32(data, pos + 4) << 32


def _fixed32(data: bytes, pos: int, end: int) -> int:
    if pos + 4 > end:
        raise LeftToReference
    return _le32(data, pos)


def _le32(data: bytes, pos: int) -> int:
    # Byte by byte, not `int.from_bytes`: compiled, that is a slice and a bound classmethod made per call, which
    # cost more than all the rest of a span's fixed fields.
    return data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16 | data[pos + 3] << 24


def _int32(value: int) -> int:
    """An int32 field (enums) from its varint: the low 32 bits, signed."""
    value &= _MASK32
    return value - (1 << 32) if value >= _SIGN32 else value


def _skip(data: bytes, pos: int, end: int, tag: int, known: int) -> int:
    """Past a field this reader does not use. `known`: the highest field number the message has, so that a
    known field with an unexpected wire type (which upb reads as unknown) goes to the reference instead."""
    number = tag >> 3
    if number == 0 or number <= known or tag > _MASK32:  # tags are 32-bit varints: field numbers < 2**29
        raise LeftToReference
    wire_type = tag & 7
    if wire_type == 0:
        return _varint(data, pos, end)[1]
    if wire_type == 2:
        return _delimited(data, pos, end)[1]
    if wire_type == 1:
        pos += 8
    elif wire_type == 5:
        pos += 4
    else:
        raise LeftToReference  # groups (3, 4) and invalid wire types
    if pos > end:
        raise LeftToReference
    return pos


# -- the messages ---------------------------------------------------------------------------------------------


def _request(data: bytes) -> DecodeResult:
    result = DecodeResult()
    pos = 0
    end = len(data)
    while pos < end:
        tag, pos = _varint(data, pos, end)
        if tag == _FIELD1_MESSAGE:
            start, pos = _delimited(data, pos, end)
            _resource_spans(data, start, pos, result)
        else:
            pos = _skip(data, pos, end, tag, 1)
    return result


def _resource_spans(data: bytes, pos: int, end: int, result: DecodeResult) -> None:
    heads, scopes = _head_and_children(data, pos, end)
    resource: dict[str, Any] | None = None
    for i in range(0, len(heads), 2):
        resource = _resource(data, heads[i], heads[i + 1], resource)  # given twice, protobuf merges: so does this
    attributes = resource if resource else EMPTY
    for i in range(0, len(scopes), 2):
        _scope_spans(data, scopes[i], scopes[i + 1], attributes, result)


def _head_and_children(data: bytes, pos: int, end: int) -> tuple[list[int], list[int]]:
    """A `ResourceSpans` or a `ScopeSpans`, which share a layout (1: the resource or scope, 2: the repeated
    children, 3: a schema URL): the start and stop of each head and of each child, in order. The callers read
    the heads before any child, wherever they stand, because every child shares what they say."""
    heads: list[int] = []
    children: list[int] = []
    while pos < end:
        tag, pos = _varint(data, pos, end)
        if tag == _FIELD2_MESSAGE:
            start, pos = _delimited(data, pos, end)
            children.append(start)
            children.append(pos)
        elif tag == _FIELD1_MESSAGE:
            start, pos = _delimited(data, pos, end)
            heads.append(start)
            heads.append(pos)
        elif tag == _FIELD3_STRING:
            pos = _string(data, pos, end)[1]  # schema_url: unused, but upb refuses invalid UTF-8 in it
        else:
            pos = _skip(data, pos, end, tag, 3)
    return heads, children


def _resource(data: bytes, pos: int, end: int, attributes: dict[str, Any] | None) -> dict[str, Any] | None:
    while pos < end:
        tag, pos = _varint(data, pos, end)
        if tag == _FIELD1_MESSAGE:
            start, pos = _delimited(data, pos, end)
            if attributes is None:
                attributes = {}
            _key_value(data, start, pos, attributes, 0)
        elif tag == _RESOURCE_DROPPED:
            pos = _varint(data, pos, end)[1]
        else:
            pos = _skip(data, pos, end, tag, 3)
    return attributes


def _scope_spans(data: bytes, pos: int, end: int, resource: Any, result: DecodeResult) -> None:
    heads, spans = _head_and_children(data, pos, end)
    name = version = ""
    for i in range(0, len(heads), 2):
        name, version = _scope(data, heads[i], heads[i + 1], name, version)  # given twice, merged as protobuf does
    scope_name = name or None
    scope_version = version or None
    for i in range(0, len(spans), 2):
        _span(data, spans[i], spans[i + 1], resource, scope_name, scope_version, result)


def _scope(data: bytes, pos: int, end: int, name: str, version: str) -> tuple[str, str]:
    while pos < end:
        tag, pos = _varint(data, pos, end)
        if tag == _SCOPE_NAME:
            name, pos = _string(data, pos, end)
        elif tag == _SCOPE_VERSION:
            version, pos = _string(data, pos, end)
        elif tag == _SCOPE_ATTRIBUTE:
            start, pos = _delimited(data, pos, end)
            _key_value(data, start, pos, {}, 0)  # unused, but checked as upb checks them
        elif tag == _SCOPE_DROPPED:
            pos = _varint(data, pos, end)[1]
        else:
            pos = _skip(data, pos, end, tag, 4)
    return name, version


def _span(
    data: bytes,
    pos: int,
    end: int,
    resource: Any,
    scope_name: str | None,
    scope_version: str | None,
    result: DecodeResult,
) -> None:
    tid = sid = pid = b""
    name = ""
    kind = start_ns = end_ns = flags = code = 0
    message = ""
    seen_status = False
    attributes: dict[str, Any] | None = None
    events: list[SpanEventView] | None = None
    links: list[LinkView] | None = None
    dropped_attributes = dropped_events = dropped_links = bad_links = 0
    while pos < end:
        tag, pos = _varint(data, pos, end)
        if tag == _SPAN_ATTRIBUTE:
            start, pos = _delimited(data, pos, end)
            if attributes is None:
                attributes = {}
            _key_value(data, start, pos, attributes, 0)
        elif tag == _SPAN_TRACE_ID:
            start, pos = _delimited(data, pos, end)
            tid = data[start:pos]
        elif tag == _SPAN_SPAN_ID:
            start, pos = _delimited(data, pos, end)
            sid = data[start:pos]
        elif tag == _SPAN_PARENT_ID:
            start, pos = _delimited(data, pos, end)
            pid = data[start:pos]
        elif tag == _SPAN_NAME:
            name, pos = _string(data, pos, end)
        elif tag == _SPAN_KIND:
            kind, pos = _varint(data, pos, end)
        elif tag == _SPAN_START:
            start_ns = _fixed64(data, pos, end)
            pos += 8
        elif tag == _SPAN_END:
            end_ns = _fixed64(data, pos, end)
            pos += 8
        elif tag == _SPAN_EVENT:
            start, pos = _delimited(data, pos, end)
            if events is None:
                events = []
            events.append(_event(data, start, pos))
        elif tag == _SPAN_LINK:
            start, pos = _delimited(data, pos, end)
            if links is None:
                links = []
            link = _link(data, start, pos)
            if link is None:
                bad_links += 1  # a malformed link is no reason to lose its span: counted as dropped
            else:
                links.append(link)
        elif tag == _SPAN_STATUS:
            if seen_status:
                raise LeftToReference  # given twice: protobuf merges the two
            seen_status = True
            start, pos = _delimited(data, pos, end)
            message, code = _status(data, start, pos)
        elif tag == _SPAN_FLAGS:
            flags = _fixed32(data, pos, end)
            pos += 4
        elif tag == _SPAN_TRACE_STATE:
            pos = _string(data, pos, end)[1]
        elif tag == _SPAN_DROPPED_ATTRIBUTES:
            dropped_attributes, pos = _varint(data, pos, end)
        elif tag == _SPAN_DROPPED_EVENTS:
            dropped_events, pos = _varint(data, pos, end)
        elif tag == _SPAN_DROPPED_LINKS:
            dropped_links, pos = _varint(data, pos, end)
        else:
            pos = _skip(data, pos, end, tag, 16)
    if unusable_ids(tid, sid, pid):
        result.rejected += 1
        result.errors.append(span_problem(name, tid, sid, pid))
        return
    parent = _FROM_BYTES(pid, "big") if pid else 0
    kind = _int32(kind)
    code = _int32(code)
    result.spans.append(
        SpanView(
            trace_id=_FROM_BYTES(tid, "big"),
            span_id=_FROM_BYTES(sid, "big"),
            name=name,
            start_ns=start_ns,
            end_ns=end_ns or start_ns,
            parent_span_id=parent,
            parent_is_remote=parent != 0 and (flags & REMOTE_MASK) == REMOTE_MASK,
            kind=KIND_NAMES[kind] if 0 <= kind < 6 else "internal",
            status_code=code if 0 <= code <= 2 else 0,
            status_message=message or None,
            attributes=attributes if attributes else EMPTY,
            events=tuple(events) if events else (),
            links=tuple(links) if links else (),
            resource=resource,
            scope_name=scope_name,
            scope_version=scope_version,
            dropped_attributes=dropped_attributes & _MASK32,
            dropped_events=dropped_events & _MASK32,
            dropped_links=(dropped_links & _MASK32) + bad_links,
            extra=EMPTY,
        )
    )


def _status(data: bytes, pos: int, end: int) -> tuple[str, int]:
    message = ""
    code = 0
    while pos < end:
        tag, pos = _varint(data, pos, end)
        if tag == _STATUS_MESSAGE:
            message, pos = _string(data, pos, end)
        elif tag == _STATUS_CODE:
            code, pos = _varint(data, pos, end)
        else:
            pos = _skip(data, pos, end, tag, 3)
    return message, code


def _event(data: bytes, pos: int, end: int) -> SpanEventView:
    time_ns = 0
    name = ""
    attributes: dict[str, Any] | None = None
    while pos < end:
        tag, pos = _varint(data, pos, end)
        if tag == _EVENT_ATTRIBUTE:
            start, pos = _delimited(data, pos, end)
            if attributes is None:
                attributes = {}
            _key_value(data, start, pos, attributes, 0)
        elif tag == _EVENT_TIME:
            time_ns = _fixed64(data, pos, end)
            pos += 8
        elif tag == _EVENT_NAME:
            name, pos = _string(data, pos, end)
        elif tag == _EVENT_DROPPED:
            pos = _varint(data, pos, end)[1]
        else:
            pos = _skip(data, pos, end, tag, 4)
    return SpanEventView(name, time_ns, attributes if attributes else EMPTY)


def _link(data: bytes, pos: int, end: int) -> LinkView | None:
    """None for a link whose ids have the wrong size (all-zero ids are kept: the SDK records such links)."""
    tid = sid = b""
    attributes: dict[str, Any] | None = None
    while pos < end:
        tag, pos = _varint(data, pos, end)
        if tag == _LINK_TRACE_ID:
            start, pos = _delimited(data, pos, end)
            tid = data[start:pos]
        elif tag == _LINK_SPAN_ID:
            start, pos = _delimited(data, pos, end)
            sid = data[start:pos]
        elif tag == _LINK_ATTRIBUTE:
            start, pos = _delimited(data, pos, end)
            if attributes is None:
                attributes = {}
            _key_value(data, start, pos, attributes, 0)
        elif tag == _LINK_TRACE_STATE:
            pos = _string(data, pos, end)[1]
        elif tag == _LINK_DROPPED:
            pos = _varint(data, pos, end)[1]
        elif tag == _LINK_FLAGS:
            _fixed32(data, pos, end)
            pos += 4
        else:
            pos = _skip(data, pos, end, tag, 6)
    if len(tid) != 16 or len(sid) != 8:
        return None
    return LinkView(_FROM_BYTES(tid, "big"), _FROM_BYTES(sid, "big"), attributes if attributes else EMPTY)


def _key_value(data: bytes, pos: int, end: int, into: dict[str, Any], depth: int) -> None:
    """One `KeyValue` into `into` (a later duplicate key wins, as in the SDK's dict)."""
    key = ""
    value: Any = None
    seen_value = False
    while pos < end:
        tag, pos = _varint(data, pos, end)
        if tag == _KV_KEY:
            key, pos = _string(data, pos, end)
        elif tag == _KV_VALUE:
            if seen_value:
                raise LeftToReference  # given twice: protobuf merges the two
            seen_value = True
            start, pos = _delimited(data, pos, end)
            value = _any_value(data, start, pos, depth)
        else:
            pos = _skip(data, pos, end, tag, 3)
    into[key] = value


def _any_value(data: bytes, pos: int, end: int, depth: int) -> Any:
    """An `AnyValue` as the Python value the SDK would hold; None when unset."""
    value: Any = None
    seen = False
    while pos < end:
        tag, pos = _varint(data, pos, end)
        if 0 < tag >> 3 <= _ANY_LAST_MEMBER:
            if seen:
                raise LeftToReference  # the oneof given twice: the last wins, or the two merge; upb knows which
            seen = True
        if tag == _ANY_STRING:
            value, pos = _string(data, pos, end)
        elif tag == _ANY_INT:
            number, pos = _varint(data, pos, end)
            value = number - (1 << 64) if number >= _SIGN64 else number
        elif tag == _ANY_DOUBLE:
            if pos + 8 > end:
                raise LeftToReference
            value = _DOUBLE.unpack_from(data, pos)[0]
            pos += 8
        elif tag == _ANY_BOOL:
            number, pos = _varint(data, pos, end)
            value = number != 0
        elif tag == _ANY_ARRAY:
            start, pos = _nested(data, pos, end, depth)
            value = _array(data, start, pos, depth + 1)
        elif tag == _ANY_KVLIST:
            start, pos = _nested(data, pos, end, depth)
            value = _kvlist(data, start, pos, depth + 1)
        elif tag == _ANY_BYTES:
            start, pos = _delimited(data, pos, end)
            value = data[start:pos]
        else:
            pos = _skip(data, pos, end, tag, _ANY_LAST_MEMBER)
    return value


def _nested(data: bytes, pos: int, end: int, depth: int) -> tuple[int, int]:
    """An array or kvlist's payload, if it is not nested deeper than this reader goes."""
    if depth >= DEEPEST:
        raise LeftToReference
    return _delimited(data, pos, end)


def _array(data: bytes, pos: int, end: int, depth: int) -> tuple[Any, ...]:
    items: list[Any] = []
    while pos < end:
        tag, pos = _varint(data, pos, end)
        if tag == _FIELD1_MESSAGE:
            start, pos = _delimited(data, pos, end)
            items.append(_any_value(data, start, pos, depth))
        else:
            pos = _skip(data, pos, end, tag, 1)
    return tuple(items)


def _kvlist(data: bytes, pos: int, end: int, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    while pos < end:
        tag, pos = _varint(data, pos, end)
        if tag == _FIELD1_MESSAGE:
            start, pos = _delimited(data, pos, end)
            _key_value(data, start, pos, out, depth)
        else:
            pos = _skip(data, pos, end, tag, 1)
    return out
