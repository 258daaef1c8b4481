"""The protobuf wire reader: the same result as the reference decoder (upb's messages, `decode_request`) for
every body, or it steps aside.

It must take the fast path for what OTLP exporters send, and for anything it takes, agree exactly with the
reference; whatever the reference refuses, the reader must leave to it (`Unusual`), so errors are always the
reference's. Checked on SDK spans, hand-built odd requests, random requests, and random corruptions of both.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from opentelemetry.sdk.trace import ReadableSpan

from otel_honeyhive.inputs.otlp import wire
from otel_honeyhive.inputs.otlp.decode_proto import DecodeResult, decode_protobuf, parse_and_decode
from otel_honeyhive.inputs.otlp.errors import OtlpDecodeError
from tests.inputs.otlp import make_sdk_spans

TID = bytes(range(1, 17))
SID = bytes(range(1, 9))


@pytest.fixture(scope="module")
def sdk_body() -> bytes:
    spans: list[ReadableSpan] = make_sdk_spans()
    return bytes(encode_spans(spans).SerializeToString())


def reference(body: bytes) -> DecodeResult | None:
    """What upb and `decode_request` make of a body; None when they refuse it."""
    try:
        return parse_and_decode(body)
    except OtlpDecodeError:
        return None


def fast(body: bytes) -> DecodeResult:
    """The wire reader's result, which must exist (the body is one it is meant to take)."""
    try:
        return wire.read_request(body)
    except wire.LeftToReference:
        pytest.fail("the wire reader left an ordinary body to the reference")


def assert_agrees(body: bytes) -> None:
    """If the reader takes the body, its result is the reference's, and the reference accepts the body."""
    try:
        got = wire.read_request(body)
    except wire.LeftToReference:
        return  # decode_protobuf hands it to the reference: agreement by construction
    expected = reference(body)
    # `repr` as well: a corrupted double can become NaN, which equals nothing, not even the reference's NaN.
    # (repr is exact for every other value these hold: floats, text and bytes round-trip through it.)
    assert got == expected or repr(got) == repr(expected)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    body = _varint(len(payload)) + payload if wire_type == 2 else payload
    return _varint(number << 3 | wire_type) + body


def _wrap_span(span: bytes, scope: bytes = b"", resource: bytes = b"") -> bytes:
    """A request of one resource and one scope around a serialized span, fields in canonical order."""
    scope_spans = (_field(1, 2, scope) if scope else b"") + _field(2, 2, span)
    resource_spans = (_field(1, 2, resource) if resource else b"") + _field(2, 2, scope_spans)
    return _field(1, 2, resource_spans)


def _span(**fields: Any) -> Span:
    base: dict[str, Any] = {"trace_id": TID, "span_id": SID, "name": "s", "start_time_unix_nano": 5}
    base.update(fields)
    return Span(**base)


def _request(*spans: Span, **resource_spans: Any) -> bytes:
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))], **resource_spans)
    return bytes(ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString())


# -- what exporters send: the fast path, with the reference's result -------------------------------------------


def test_sdk_spans_read_exactly_as_the_reference_reads_them(sdk_body: bytes) -> None:
    got = fast(sdk_body)
    assert got.spans and got == reference(sdk_body)


def test_decode_protobuf_takes_the_fast_path_and_keeps_resources_shared(sdk_body: bytes) -> None:
    result = decode_protobuf(sdk_body)
    assert result == fast(sdk_body)
    by_service: dict[str, set[int]] = {}
    for view in result.spans:
        by_service.setdefault(view.resource["service.name"], set()).add(id(view.resource))
    assert {k: len(v) for k, v in by_service.items()} == {"otlp-tests": 1, "other-service": 1}


@pytest.mark.parametrize(
    "span",
    [
        _span(kind=9, status=Status(code=Status.StatusCode.ValueType(7))),  # unknown enum values
        # negative enums: ten-byte varints
        _span(kind=-1, status=Status(code=Status.StatusCode.ValueType(-5), message="m")),
        _span(flags=0x300, parent_span_id=SID),
        _span(flags=0xFFFFFFFF, parent_span_id=bytes(8)),
        _span(trace_id=b"abc"),
        _span(span_id=bytes(8), name="zero"),
        _span(parent_span_id=b"\x01"),
        _span(start_time_unix_nano=2**64 - 1, end_time_unix_nano=0),
        _span(dropped_attributes_count=2**32 - 1, dropped_events_count=3, dropped_links_count=1),
        _span(trace_state="k=v", name="日本 ✓"),
        _span(name="n" * 5000, attributes=[KeyValue(key="prompt", value=AnyValue(string_value="日本 ✓ " * 600))]),
        _span(
            attributes=[
                KeyValue(key="unset", value=AnyValue()),
                KeyValue(key="no value"),
                KeyValue(key="empty", value=AnyValue(string_value="")),
                KeyValue(key="dup", value=AnyValue(int_value=1)),
                KeyValue(key="dup", value=AnyValue(int_value=-(2**63))),
                KeyValue(key="bool", value=AnyValue(bool_value=True)),
                KeyValue(key="double", value=AnyValue(double_value=-0.0)),
                KeyValue(key="inf", value=AnyValue(double_value=float("inf"))),
                KeyValue(key="bytes", value=AnyValue(bytes_value=b"\x00\xff")),
                KeyValue(key="", value=AnyValue(string_value="empty key")),
                KeyValue(key="arr", value=AnyValue(array_value=ArrayValue(values=[AnyValue(), AnyValue(int_value=0)]))),
                KeyValue(key="map", value=AnyValue(kvlist_value=KeyValueList())),
                KeyValue(key="empty arr", value=AnyValue(array_value=ArrayValue())),
            ]
        ),
        _span(
            events=[Span.Event(name="e", time_unix_nano=7), Span.Event(attributes=[KeyValue(key="k")])],
            links=[
                Span.Link(trace_id=TID, span_id=SID, flags=0x100, trace_state="a=b"),
                Span.Link(trace_id=b"\x01", span_id=SID),  # malformed: dropped and counted
                Span.Link(trace_id=bytes(16), span_id=bytes(8), attributes=[KeyValue(key="k")]),
            ],
            dropped_links_count=2,
        ),
    ],
)
def test_odd_but_ordinary_spans(span: Span) -> None:
    body = _request(span, resource=Resource(attributes=[KeyValue(key="r", value=AnyValue(int_value=1))]))
    assert fast(body) == reference(body)


def test_fields_out_of_canonical_order() -> None:
    """Protobuf allows any field order: the scope after its spans, the resource after its scope spans, a span's
    ids after its attributes."""
    span = _span(attributes=[KeyValue(key="k", value=AnyValue(string_value="v"))], kind=3)
    span_bytes = bytes(span.SerializeToString())
    reordered_span = span_bytes[span_bytes.index(b"\x4a"):] + span_bytes[: span_bytes.index(b"\x4a")]
    scope = bytes(InstrumentationScope(name="lib", version="1").SerializeToString())
    resource = bytes(Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="x"))])
                     .SerializeToString())
    scope_spans = _field(2, 2, reordered_span) + _field(1, 2, scope)
    body = _field(1, 2, _field(2, 2, scope_spans) + _field(1, 2, resource))
    got = fast(body)
    assert got == reference(body)
    view = got.spans[0]
    assert (view.scope_name, view.scope_version, view.resource, view.kind) == ("lib", "1", {"service.name": "x"},
                                                                                "client")


def test_a_resource_or_scope_given_twice_merges_as_protobuf_merges() -> None:
    first = bytes(Resource(attributes=[KeyValue(key="a", value=AnyValue(int_value=1))]).SerializeToString())
    second = bytes(Resource(attributes=[KeyValue(key="a", value=AnyValue(int_value=2)),
                                        KeyValue(key="b", value=AnyValue(int_value=3))]).SerializeToString())
    scope_one = bytes(InstrumentationScope(name="lib").SerializeToString())
    scope_two = bytes(InstrumentationScope(version="2").SerializeToString())
    span = bytes(_span().SerializeToString())
    scope_spans = _field(1, 2, scope_one) + _field(1, 2, scope_two) + _field(2, 2, span)
    body = _field(1, 2, _field(1, 2, first) + _field(1, 2, second) + _field(2, 2, scope_spans))
    got = fast(body)
    assert got == reference(body)
    assert got.spans[0].resource == {"a": 2, "b": 3}
    assert (got.spans[0].scope_name, got.spans[0].scope_version) == ("lib", "2")


def test_unknown_fields_are_skipped_as_upb_skips_them() -> None:
    span = bytes(_span(name="n").SerializeToString())
    unknown = (_field(40, 0, _varint(300)) + _field(41, 1, bytes(8)) + _field(42, 2, b"\xff\xfe")
               + _field(43, 5, bytes(4)))
    body = _wrap_span(span + unknown) + _field(9, 2, b"anything")
    got = fast(body)
    assert got == reference(body) and got.spans[0].name == "n"


def test_empty_body_is_an_empty_request() -> None:
    assert fast(b"") == DecodeResult()


# -- what the reader leaves to the reference ---------------------------------------------------------------------


def _status(message: str) -> bytes:
    return _field(15, 2, bytes(Status(message=message, code=Status.STATUS_CODE_ERROR).SerializeToString()))


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("truncated", _request(_span(name="truncated"))[:-3]),
        ("invalid UTF-8", _wrap_span(bytes(_span(name="x").SerializeToString()).replace(b"x", b"\xff"))),
        ("invalid UTF-8, long", _wrap_span(bytes(_span(name="x" * 3000).SerializeToString())
                                           .replace(b"x" * 10, b"x" * 9 + b"\xff"))),
        ("a group", _wrap_span(bytes(_span().SerializeToString()) + _varint(50 << 3 | 3) + _varint(50 << 3 | 4))),
        ("a known field, wrong wire type", _wrap_span(bytes(_span().SerializeToString()) + _field(5, 0, b"\x01"))),
        ("status twice", _wrap_span(bytes(_span().SerializeToString()) + _status("a") + _status("b"))),
        ("a string table index", _wrap_span(bytes(_span().SerializeToString())  # AnyValue.string_value_strindex
                                            + _field(9, 2, _field(1, 2, b"k") + _field(2, 2, _field(8, 0, b"\x01"))))),
        ("a value twice", _wrap_span(bytes(_span().SerializeToString()) + _field(9, 2, _field(1, 2, b"k")
                                     + _field(2, 2, _field(3, 0, b"\x01")) + _field(2, 2, _field(1, 2, b"v"))))),
        ("field number zero", _wrap_span(bytes(_span().SerializeToString()) + b"\x00\x00")),
        ("an eleven-byte varint", _wrap_span(bytes(_span().SerializeToString()) + b"\x30" + b"\xff" * 10 + b"\x01")),
    ],
)
def test_unusual_bodies_go_to_the_reference(name: str, body: bytes) -> None:
    with pytest.raises(wire.LeftToReference):
        wire.read_request(body)
    expected = reference(body)
    if expected is None:
        with pytest.raises(OtlpDecodeError):
            decode_protobuf(body)
    else:
        assert decode_protobuf(body) == expected


def _nested(levels: int) -> bytes:
    """Built byte by byte: protobuf's own objects cannot hold values this deep."""
    value = _field(1, 2, b"leaf")  # AnyValue.string_value
    for _ in range(levels):
        value = _field(5, 2, _field(1, 2, value))  # AnyValue.array_value, ArrayValue.values
    attribute = _field(1, 2, b"deep") + _field(2, 2, value)
    return _wrap_span(bytes(_span().SerializeToString()) + _field(9, 2, attribute))


@pytest.mark.parametrize("levels", [wire.DEEPEST, wire.DEEPEST + 1, 47, 60])
def test_deep_values_within_the_limit_are_read_and_beyond_it_left_to_upb(levels: int) -> None:
    body = _nested(levels)
    if levels <= wire.DEEPEST:
        assert fast(body) == reference(body)
    else:
        with pytest.raises(wire.LeftToReference):
            wire.read_request(body)
        assert_agrees(body)


# -- random requests and corruptions -----------------------------------------------------------------------------

_text = st.text(max_size=12)
_ids = st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=17))
_span_ids = st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=9))


def _any_values() -> st.SearchStrategy[AnyValue]:
    scalars = st.one_of(
        st.builds(AnyValue),
        st.builds(AnyValue, string_value=_text),
        st.builds(AnyValue, bool_value=st.booleans()),
        st.builds(AnyValue, int_value=st.integers(-(2**63), 2**63 - 1)),
        st.builds(AnyValue, double_value=st.floats(allow_nan=False)),
        st.builds(AnyValue, bytes_value=st.binary(max_size=8)),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.builds(lambda vs: AnyValue(array_value=ArrayValue(values=vs)), st.lists(inner, max_size=3)),
            st.builds(lambda kvs: AnyValue(kvlist_value=KeyValueList(values=kvs)),
                      st.lists(st.builds(KeyValue, key=_text, value=inner), max_size=3)),
        ),
        max_leaves=8,
    )


_attributes = st.lists(st.builds(KeyValue, key=_text, value=_any_values()), max_size=4)
_spans = st.builds(
    Span,
    trace_id=_ids,
    span_id=_span_ids,
    parent_span_id=st.one_of(st.just(b""), _span_ids),
    trace_state=_text,
    name=_text,
    kind=st.integers(-(2**31), 2**31 - 1),
    start_time_unix_nano=st.integers(0, 2**64 - 1),
    end_time_unix_nano=st.integers(0, 2**64 - 1),
    flags=st.integers(0, 2**32 - 1),
    attributes=_attributes,
    dropped_attributes_count=st.integers(0, 2**32 - 1),
    events=st.lists(st.builds(Span.Event, time_unix_nano=st.integers(0, 2**64 - 1), name=_text,
                              attributes=_attributes), max_size=2),
    links=st.lists(st.builds(Span.Link, trace_id=_ids, span_id=_span_ids, attributes=_attributes), max_size=2),
    dropped_links_count=st.integers(0, 2**32 - 1),
    status=st.builds(Status, message=_text, code=st.integers(-3, 4)),
)
_requests = st.builds(
    ExportTraceServiceRequest,
    resource_spans=st.lists(
        st.builds(
            ResourceSpans,
            resource=st.builds(Resource, attributes=_attributes),
            scope_spans=st.lists(
                st.builds(ScopeSpans, scope=st.builds(InstrumentationScope, name=_text, version=_text),
                          spans=st.lists(_spans, max_size=3)),
                max_size=2,
            ),
        ),
        max_size=2,
    ),
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(_requests)
def test_random_requests_read_as_the_reference_reads_them(request: ExportTraceServiceRequest) -> None:
    body = bytes(request.SerializeToString())
    assert fast(body) == reference(body)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(_requests, st.data())
def test_corrupted_requests_never_disagree_with_the_reference(request: ExportTraceServiceRequest,
                                                              data: st.DataObject) -> None:
    body = bytearray(request.SerializeToString())
    for _ in range(data.draw(st.integers(1, 3))):
        how = data.draw(st.sampled_from(["flip", "cut", "insert", "repeat"]))
        at = data.draw(st.integers(0, len(body)))
        if how == "flip" and body:
            body[min(at, len(body) - 1)] = data.draw(st.integers(0, 255))
        elif how == "cut":
            del body[at:at + data.draw(st.integers(1, 8))]
        elif how == "insert":
            body[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        else:
            body += body[at:]  # a concatenation: protobuf merges the two messages
    assert_agrees(bytes(body))


@given(st.integers(0, 10_000), st.integers(0, 255))
def test_corrupting_a_real_request_never_disagrees(position: int, byte: int) -> None:
    body = bytearray(_SDK_BODY)
    body[position % len(body)] = byte
    assert_agrees(bytes(body))


_SDK_BODY = bytes(encode_spans(make_sdk_spans()).SerializeToString())


def test_a_double_corrupted_into_nan_agrees() -> None:
    """Found by the test above: flipping a mantissa byte of +inf gives a NaN on both paths."""
    at = _SDK_BODY.index(struct.pack("<d", math.inf))
    body = bytearray(_SDK_BODY)
    body[at] = 1
    assert_agrees(bytes(body))
    assert any(isinstance(v, float) and math.isnan(v) for span in fast(bytes(body)).spans
               for v in span.attributes.values())


def test_concatenated_requests_merge_as_protobuf_merges(sdk_body: bytes) -> None:
    body = sdk_body + sdk_body
    got = fast(body)
    assert got == reference(body) and len(got.spans) == 2 * len(fast(sdk_body).spans)


def test_doubles_are_little_endian_ieee() -> None:
    value = _field(4, 1, struct.pack("<d", 1.25))
    span = bytes(_span().SerializeToString()) + _field(9, 2, _field(1, 2, b"d") + _field(2, 2, value))
    got = fast(_wrap_span(span))
    assert got.spans[0].attributes == {"d": 1.25}
