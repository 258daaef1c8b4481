"""OTLP/protobuf decoding: the receiver must see exactly what the in-process exporter sees.

Ground truth is the SDK: spans made by the real SDK, encoded by the real OTLP exporter's encoder, must decode
to SpanViews equal to `from_readable_span` of the same spans, and therefore map to identical events.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.trace import ReadableSpan

from otel_honeyhive import spans_to_events
from otel_honeyhive.core.spans import SpanView, from_readable_span
from otel_honeyhive.inputs.otlp.decode_proto import DecodeResult, decode_protobuf, decode_request
from otel_honeyhive.inputs.otlp.errors import OtlpDecodeError
from tests.inputs.otlp import EVERY_TYPE, REMOTE_PARENT_ID, make_sdk_spans


@pytest.fixture(scope="module")
def sdk_spans() -> list[ReadableSpan]:
    return make_sdk_spans()


def _by_span_id(views: list[SpanView]) -> dict[int, SpanView]:
    return {v.span_id: v for v in views}


def _assert_same(expected: SpanView, got: SpanView) -> None:
    """Field by field first, so a failure names the field; then whole-dataclass equality."""
    for f in dataclasses.fields(SpanView):
        assert getattr(got, f.name) == getattr(expected, f.name), f"{expected.name}: field {f.name}"
    assert got == expected


def test_every_sdk_span_decodes_exactly_as_from_readable_span(sdk_spans: list[ReadableSpan]) -> None:
    result = decode_protobuf(encode_spans(sdk_spans).SerializeToString())
    assert result.rejected == 0 and result.errors == []
    assert len(result.spans) == len(sdk_spans)
    decoded = _by_span_id(result.spans)
    for span in sdk_spans:
        _assert_same(from_readable_span(span), decoded[span.context.span_id])


def test_decode_request_on_the_message_itself(sdk_spans: list[ReadableSpan]) -> None:
    """The gRPC servicer hands over the message, not bytes."""
    request = encode_spans(sdk_spans)
    assert decode_request(request) == decode_protobuf(request.SerializeToString())


def test_events_are_identical_to_the_in_process_mapping(sdk_spans: list[ReadableSpan]) -> None:
    decoded = _by_span_id(decode_protobuf(encode_spans(sdk_spans).SerializeToString()).spans)
    in_sdk_order = [decoded[s.context.span_id] for s in sdk_spans]
    expected = spans_to_events(sdk_spans)
    assert expected  # the fixture really maps to something
    assert spans_to_events(in_sdk_order) == expected
    # In the request's own (resource/scope-grouped) order the same events come out, perhaps reordered.
    as_received = spans_to_events(list(decoded.values()))
    assert sorted(as_received, key=lambda e: e["event_id"]) == sorted(expected, key=lambda e: e["event_id"])


def test_feature_details(sdk_spans: list[ReadableSpan]) -> None:
    views = {v.name: v for v in decode_protobuf(encode_spans(sdk_spans).SerializeToString()).spans}
    root = views["agent.run"]
    assert root.kind == "server" and root.parent_span_id == 0 and not root.parent_is_remote
    for key, value in EVERY_TYPE.items():
        expected = tuple(value) if isinstance(value, list) else value
        if key == "seq.nested":
            expected = ((1, 2), ("x",))
        if key == "map":
            expected = {"k": 1, "inner": {"list": (1, "a"), "flag": False}}
        assert root.attributes[key] == expected, key
        assert type(root.attributes[key]) is type(expected), key
    assert type(root.attributes["bool.true"]) is bool
    assert [e.name for e in root.events] == ["started", "no.attributes"]
    assert root.events[0].time_ns == 1_700_000_000_000_000_001
    assert root.events[0].attributes == {"step": 1, "tags": ("a", "b")}
    assert root.scope_name == "tests.otlp" and root.scope_version == "1.2.3"
    assert root.resource["service.name"] == "otlp-tests" and root.resource["host.cores"] == 8

    handler = views["handle request"]
    assert handler.parent_span_id == REMOTE_PARENT_ID and handler.parent_is_remote and handler.is_local_root
    assert views["db query"].parent_span_id == handler.span_id and not views["db query"].parent_is_remote

    failing = views["failing step"]
    assert failing.kind == "producer" and failing.status_code == 2
    assert failing.status_message == "RuntimeError: tool exploded"
    assert failing.events[0].name == "exception"
    assert failing.events[0].attributes["exception.type"] == "RuntimeError"

    consumer = views["consume"]
    assert (consumer.status_code, consumer.status_message) == (2, "queue closed")
    assert (consumer.dropped_attributes, consumer.dropped_events, consumer.dropped_links) == (6, 2, 1)
    assert views["chat gpt-4o"].status_code == 1 and views["chat gpt-4o"].status_message is None
    assert views["execute_tool search"].scope_version is None
    assert views["no scope"].scope_name is None and views["no scope"].scope_version is None
    assert views["timed"].start_ns == 1_700_000_000_000_000_000 and views["timed"].end_ns == 1_700_000_000_500_000_000


def test_resource_attributes_are_shared_per_resource_spans(sdk_spans: list[ReadableSpan]) -> None:
    request = encode_spans(sdk_spans)
    result = decode_request(request)
    assert len(request.resource_spans) == 2
    by_service: dict[str, set[int]] = {}
    for view in result.spans:
        by_service.setdefault(view.resource["service.name"], set()).add(id(view.resource))
    assert {k: len(v) for k, v in by_service.items()} == {"otlp-tests": 1, "other-service": 1}


# -- hand-built requests: flags, kinds, odd values ----------------------------------------------------------------

TID = bytes(range(1, 17))
SID = bytes(range(1, 9))


def _request(*spans: Span, resource: list[KeyValue] | None = None) -> ExportTraceServiceRequest:
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])
    if resource:
        rs.resource.attributes.extend(resource)
    return ExportTraceServiceRequest(resource_spans=[rs])


def _span(**fields: Any) -> Span:
    base: dict[str, Any] = {"trace_id": TID, "span_id": SID, "name": "s", "start_time_unix_nano": 5}
    base.update(fields)
    return Span(**base)


@pytest.mark.parametrize(
    ("flags", "parent", "remote"),
    [
        (0, SID, False),  # old senders: no "has is_remote" bit → not remote
        (0x200, SID, False),  # is_remote without the "has" bit means nothing
        (0x100, SID, False),
        (0x300, SID, True),
        (0x301, SID, True),  # trace flags in the low byte are ignored
        (0x300, b"", False),  # no parent, nothing to be remote
    ],
)
def test_parent_is_remote_from_flags(flags: int, parent: bytes, remote: bool) -> None:
    view = decode_request(_request(_span(flags=flags, parent_span_id=parent))).spans[0]
    assert view.parent_is_remote is remote
    assert view.parent_span_id == (int.from_bytes(parent, "big") if parent else 0)


@pytest.mark.parametrize(
    ("kind", "name"),
    [(0, "internal"), (1, "internal"), (2, "server"), (3, "client"), (4, "producer"), (5, "consumer"), (9, "internal")],
)
def test_kinds(kind: int, name: str) -> None:
    assert decode_request(_request(_span(kind=kind))).spans[0].kind == name


def test_defaults_and_odd_values() -> None:
    span = _span(
        parent_span_id=bytes(8),  # all-zero parent: no parent
        attributes=[
            KeyValue(key="unset", value=AnyValue()),
            KeyValue(key="no value"),
            KeyValue(key="empty str", value=AnyValue(string_value="")),
            KeyValue(key="dup", value=AnyValue(int_value=1)),
            KeyValue(key="dup", value=AnyValue(int_value=2)),
            KeyValue(
                key="arr", value=AnyValue(array_value=ArrayValue(values=[AnyValue(), AnyValue(bytes_value=b"x")]))
            ),
        ],
        status={"code": 7},  # unknown status code → unset
    )
    view = decode_request(_request(span)).spans[0]
    assert view.parent_span_id == 0 and view.end_ns == 5  # missing end: the start, as from_readable_span does
    assert view.attributes == {"unset": None, "no value": None, "empty str": "", "dup": 2, "arr": (None, b"x")}
    assert view.status_code == 0 and view.status_message is None
    assert view.scope_name is None and view.events == () and view.links == ()
    assert view.resource == {}


def test_malformed_link_is_dropped_and_counted_not_the_span() -> None:
    span = _span(
        links=[
            Span.Link(trace_id=TID, span_id=SID),
            Span.Link(trace_id=b"\x01", span_id=SID),
            Span.Link(trace_id=bytes(16), span_id=bytes(8)),  # all-zero: kept, as the SDK keeps such links
        ],
        dropped_links_count=2,
    )
    view = decode_request(_request(span)).spans[0]
    assert [(lk.trace_id, lk.span_id) for lk in view.links] == [
        (int.from_bytes(TID, "big"), int.from_bytes(SID, "big")),
        (0, 0),
    ]
    assert view.dropped_links == 3


# -- rejections and errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"trace_id": b"abc"}, "span 'bad': trace_id must be 16 bytes, got 3"),
        ({"trace_id": b""}, "span 'bad': trace_id must be 16 bytes, got 0"),
        ({"trace_id": bytes(16)}, "span 'bad': trace_id must not be all zeros"),
        ({"span_id": bytes(range(9))}, "span 'bad': span_id must be 8 bytes, got 9"),
        ({"span_id": bytes(8)}, "span 'bad': span_id must not be all zeros"),
        ({"parent_span_id": b"\x01\x02"}, "span 'bad': parent_span_id must be 8 bytes or empty, got 2"),
    ],
)
def test_span_with_unusable_ids_is_rejected_alone(fields: dict[str, bytes], message: str) -> None:
    good = _span(name="good")
    bad = _span(name="bad", **fields)
    result = decode_protobuf(_request(good, bad, good).SerializeToString())
    assert [v.name for v in result.spans] == ["good", "good"]
    assert result.rejected == 1
    assert result.errors == [message]
    assert message in result.error_message


def test_error_message_summarises_many_rejections() -> None:
    result = decode_request(_request(*[_span(name=f"b{i}", trace_id=b"") for i in range(8)]))
    assert result.rejected == 8
    assert result.error_message.endswith("; and 3 more")


def test_empty_request_is_fine() -> None:
    assert decode_protobuf(b"") == DecodeResult()


@pytest.mark.parametrize(
    "body",
    [
        b"\x0a\x05\x0a\x03",  # resource_spans claims 5 bytes, 3 follow
        b"\xff\xff\xff",
        b"\x0a",  # a tag without its length
        b"not a protobuf at all, just text",
    ],
)
def test_undecodable_bytes(body: bytes) -> None:
    with pytest.raises(OtlpDecodeError, match="invalid OTLP protobuf"):
        decode_protobuf(body)


def test_truncated_real_request(sdk_spans: list[ReadableSpan]) -> None:
    body = encode_spans(sdk_spans).SerializeToString()
    with pytest.raises(OtlpDecodeError):
        decode_protobuf(body[: len(body) // 2])


def _length_delimited(field_number: int, payload: bytes) -> bytes:
    def varint(n: int) -> bytes:
        out = b""
        while True:
            byte = n & 0x7F
            n >>= 7
            if n:
                out += struct.pack("B", byte | 0x80)
            else:
                return out + struct.pack("B", byte)

    return varint(field_number << 3 | 2) + varint(len(payload)) + payload


def test_non_utf8_string_is_undecodable() -> None:
    span = _span(name="placeholder").SerializeToString().replace(b"placeholder", b"\xffplacehold\xfe")
    body = _length_delimited(1, _length_delimited(2, _length_delimited(2, span)))
    with pytest.raises(OtlpDecodeError):
        decode_protobuf(body)


def test_nesting_beyond_the_limit_is_refused() -> None:
    """Parsed bytes cannot nest this deep (upb's own limit is 100 messages); a message built in-process can."""
    request = _request(_span())
    kv = request.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="deep")
    value = kv.value
    for _ in range(70):
        value = value.array_value.values.add()
    value.string_value = "leaf"
    with pytest.raises(OtlpDecodeError, match="nested deeper"):
        decode_request(request)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_or_raise_otlp_decode_error(body: bytes) -> None:
    try:
        result = decode_protobuf(body)
    except OtlpDecodeError:
        return
    assert result.rejected == len(result.errors)
