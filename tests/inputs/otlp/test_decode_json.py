"""OTLP/JSON decoding: hex ids, both key spellings, enum names and numbers, 64-bit ints as strings, and the
same SpanViews as the protobuf path for the same data. Errors name the JSON path of the offending value."""

from __future__ import annotations

import contextlib
import copy
import math
from typing import Any

import orjson
import pytest
from google.protobuf.json_format import MessageToDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from opentelemetry.sdk.trace import ReadableSpan

from otel_honeyhive import spans_to_events
from otel_honeyhive.core.spans import from_readable_span
from otel_honeyhive.inputs.otlp.decode_json import decode_json
from otel_honeyhive.inputs.otlp.decode_proto import decode_request
from otel_honeyhive.inputs.otlp.errors import OtlpDecodeError
from tests.inputs.otlp import hex_ids, make_sdk_spans, snake_keys


@pytest.fixture(scope="module")
def sdk_spans() -> list[ReadableSpan]:
    return make_sdk_spans()


def _json(doc: Any) -> bytes:
    return orjson.dumps(doc)


# -- the SDK's spans through MessageToDict (both spellings) ----------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {},  # lowerCamelCase keys, enum names, int64 as strings: what most OTLP/JSON senders write
        {"preserving_proto_field_name": True, "use_integers_for_enums": True},  # snake_case, enum numbers
    ],
    ids=["camelCase-enum-names", "snake_case-enum-numbers"],
)
def test_sdk_spans_decode_like_the_protobuf_path(sdk_spans: list[ReadableSpan], options: dict[str, Any]) -> None:
    request = encode_spans(sdk_spans)
    body = _json(hex_ids(MessageToDict(request, **options)))
    result = decode_json(body)
    assert result == decode_request(request)
    assert result.rejected == 0
    decoded = {v.span_id: v for v in result.spans}
    for span in sdk_spans:
        assert decoded[span.context.span_id] == from_readable_span(span), span.name
    in_sdk_order = [decoded[s.context.span_id] for s in sdk_spans]
    assert spans_to_events(in_sdk_order) == spans_to_events(sdk_spans)
    resources = {id(v.resource) for v in result.spans}
    assert len(resources) == 2  # one dict per ResourceSpans, shared by its spans


def test_message_to_dict_ids_are_rejected_as_base64_not_silently_misread(sdk_spans: list[ReadableSpan]) -> None:
    """A sender that writes protobuf's base64 ids is wrong; its spans are refused rather than given garbage ids."""
    result = decode_json(_json(MessageToDict(encode_spans(sdk_spans[:2]))))
    assert result.spans == [] and result.rejected == 2
    assert "trace_id must be 32 hex digits" in result.errors[0]


# -- a hand-written OTLP/JSON request in the style of the OTLP spec's example ------------------------------------

HAND_WRITTEN: dict[str, Any] = {
    "resourceSpans": [
        {
            "resource": {
                "attributes": [
                    {"key": "service.name", "value": {"stringValue": "my.service"}},
                    {"key": "service.instance.count", "value": {"intValue": "3"}},
                ]
            },
            "scopeSpans": [
                {
                    "scope": {
                        "name": "my.library",
                        "version": "1.0.0",
                        "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "some scope attribute"}}],
                    },
                    "spans": [
                        {
                            "traceId": "5B8EFFF798038103D269B633813FC60C",
                            "spanId": "EEE19B7EC3C1B174",
                            "parentSpanId": "EEE19B7EC3C1B173",
                            "flags": 768,
                            "name": "I'm a server span",
                            "startTimeUnixNano": "1544712660000000000",
                            "endTimeUnixNano": 1544712661000000000,
                            "kind": "SPAN_KIND_SERVER",
                            "traceState": "vendor=1",
                            "unknownField": {"ignored": [1, 2]},
                            "attributes": [
                                {"key": "my.span.attr", "value": {"stringValue": "some value"}},
                                {"key": "int.str", "value": {"intValue": "-9223372036854775808"}},
                                {"key": "int.num", "value": {"intValue": 42}},
                                {"key": "double", "value": {"doubleValue": 0.5}},
                                {"key": "double.int", "value": {"doubleValue": 3}},
                                {"key": "double.inf", "value": {"doubleValue": "-Infinity"}},
                                {"key": "bool", "value": {"boolValue": True}},
                                {"key": "bytes", "value": {"bytesValue": "AP8="}},
                                {
                                    "key": "array",
                                    "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "1"}, {}]}},
                                },
                                {
                                    "key": "kvlist",
                                    "value": {
                                        "kvlistValue": {
                                            "values": [
                                                {"key": "inner", "value": {"boolValue": False}},
                                                {"key": "empty", "value": {"kvlistValue": {}}},
                                            ]
                                        }
                                    },
                                },
                                {"key": "empty", "value": {}},
                            ],
                            "droppedAttributesCount": 1,
                            "events": [
                                {
                                    "timeUnixNano": "1544712660300000000",
                                    "name": "ebento1",
                                    "attributes": [{"key": "my.event.attr", "value": {"stringValue": "x"}}],
                                    "droppedAttributesCount": 0,
                                }
                            ],
                            "droppedEventsCount": "2",
                            "links": [
                                {
                                    "traceId": "5b8efff798038103d269b633813fc60c",
                                    "spanId": "eee19b7ec3c1b172",
                                    "attributes": [{"key": "link.attr", "value": {"intValue": 7}}],
                                }
                            ],
                            "status": {"code": "STATUS_CODE_ERROR", "message": "it broke"},
                        },
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b173",
                            "name": "I'm a client span",
                            "startTimeUnixNano": "1544712661000000000",
                            "kind": 3,
                            "status": {"code": 1},
                        },
                    ],
                }
            ],
        }
    ]
}


def _proto_equivalent() -> ExportTraceServiceRequest:
    """The same data built as a protobuf message, independently of the JSON decoder."""

    def kv(key: str, **value: Any) -> KeyValue:
        return KeyValue(key=key, value=AnyValue(**value))

    tid = bytes.fromhex("5b8efff798038103d269b633813fc60c")
    server = Span(
        trace_id=tid,
        span_id=bytes.fromhex("eee19b7ec3c1b174"),
        parent_span_id=bytes.fromhex("eee19b7ec3c1b173"),
        flags=768,
        name="I'm a server span",
        start_time_unix_nano=1544712660000000000,
        end_time_unix_nano=1544712661000000000,
        kind=Span.SPAN_KIND_SERVER,
        trace_state="vendor=1",
        attributes=[
            kv("my.span.attr", string_value="some value"),
            kv("int.str", int_value=-(2**63)),
            kv("int.num", int_value=42),
            kv("double", double_value=0.5),
            kv("double.int", double_value=3.0),
            kv("double.inf", double_value=-math.inf),
            kv("bool", bool_value=True),
            kv("bytes", bytes_value=b"\x00\xff"),
            kv(
                "array",
                array_value=ArrayValue(values=[AnyValue(string_value="a"), AnyValue(int_value=1), AnyValue()]),
            ),
            kv(
                "kvlist",
                kvlist_value=KeyValueList(
                    values=[kv("inner", bool_value=False), kv("empty", kvlist_value=KeyValueList())]
                ),
            ),
            KeyValue(key="empty", value=AnyValue()),
        ],
        dropped_attributes_count=1,
        events=[
            Span.Event(
                time_unix_nano=1544712660300000000, name="ebento1", attributes=[kv("my.event.attr", string_value="x")]
            )
        ],
        dropped_events_count=2,
        links=[
            Span.Link(
                trace_id=tid, span_id=bytes.fromhex("eee19b7ec3c1b172"), attributes=[kv("link.attr", int_value=7)]
            )
        ],
        status=Status(code=Status.STATUS_CODE_ERROR, message="it broke"),
    )
    client = Span(
        trace_id=tid,
        span_id=bytes.fromhex("eee19b7ec3c1b173"),
        name="I'm a client span",
        start_time_unix_nano=1544712661000000000,
        kind=Span.SPAN_KIND_CLIENT,
        status=Status(code=Status.STATUS_CODE_OK),
    )
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=[server, client])])
    rs.resource.attributes.extend(
        [kv("service.name", string_value="my.service"), kv("service.instance.count", int_value=3)]
    )
    rs.scope_spans[0].scope.name = "my.library"
    rs.scope_spans[0].scope.version = "1.0.0"
    return ExportTraceServiceRequest(resource_spans=[rs])


def _snake_variant() -> dict[str, Any]:
    doc: dict[str, Any] = snake_keys(copy.deepcopy(HAND_WRITTEN))
    span = doc["resource_spans"][0]["scope_spans"][0]["spans"][0]
    span["kind"] = 2  # numbers instead of names here, names in the camelCase document
    span["status"]["code"] = 2
    span["trace_id"] = span["trace_id"].lower()
    return doc


@pytest.mark.parametrize("doc", [HAND_WRITTEN, _snake_variant()], ids=["camelCase", "snake_case"])
def test_hand_written_request_matches_the_protobuf_path(doc: dict[str, Any]) -> None:
    result = decode_json(_json(doc))
    assert result == decode_request(_proto_equivalent())
    server, client = result.spans
    assert server.trace_id == 0x5B8EFFF798038103D269B633813FC60C
    assert server.span_id == 0xEEE19B7EC3C1B174 and server.parent_span_id == 0xEEE19B7EC3C1B173
    assert server.parent_is_remote and server.kind == "server"
    assert (server.start_ns, server.end_ns) == (1544712660000000000, 1544712661000000000)
    assert (server.status_code, server.status_message) == (2, "it broke")
    assert server.attributes == {
        "my.span.attr": "some value",
        "int.str": -(2**63),
        "int.num": 42,
        "double": 0.5,
        "double.int": 3.0,
        "double.inf": -math.inf,
        "bool": True,
        "bytes": b"\x00\xff",
        "array": ("a", 1, None),
        "kvlist": {"inner": False, "empty": {}},
        "empty": None,
    }
    assert type(server.attributes["double.int"]) is float
    assert (server.dropped_attributes, server.dropped_events, server.dropped_links) == (1, 2, 0)
    assert server.events[0].name == "ebento1" and server.events[0].time_ns == 1544712660300000000
    assert server.links[0].span_id == 0xEEE19B7EC3C1B172 and server.links[0].attributes == {"link.attr": 7}
    assert server.resource == {"service.name": "my.service", "service.instance.count": 3}
    assert server.resource is client.resource
    assert (server.scope_name, server.scope_version) == ("my.library", "1.0.0")
    assert client.kind == "client" and client.status_code == 1 and client.end_ns == client.start_ns
    assert client.parent_span_id == 0 and not client.parent_is_remote


def test_legacy_instrumentation_library_spans() -> None:
    doc = copy.deepcopy(HAND_WRITTEN)
    rs = doc["resourceSpans"][0]
    group = rs.pop("scopeSpans")[0]
    group["instrumentationLibrary"] = group.pop("scope")
    rs["instrumentationLibrarySpans"] = [group]
    assert decode_json(_json(doc)) == decode_json(_json(HAND_WRITTEN))


@pytest.mark.parametrize(
    ("value", "expected"),
    [({"doubleValue": "NaN"}, math.nan), ({"doubleValue": "Infinity"}, math.inf), ({"doubleValue": "1.5"}, 1.5)],
)
def test_double_spellings(value: dict[str, Any], expected: float) -> None:
    got = decode_json(_json(_one_span(attributes=[{"key": "d", "value": value}]))).spans[0].attributes["d"]
    assert type(got) is float
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_bytes_value_accepts_url_safe_and_unpadded_base64() -> None:
    attrs = [{"key": "a", "value": {"bytesValue": "_-8"}}, {"key": "b", "value": {"bytes_value": "AP8"}}]
    view = decode_json(_json(_one_span(attributes=attrs))).spans[0]
    assert view.attributes == {"a": b"\xff\xef", "b": b"\x00\xff"}


def test_empty_documents() -> None:
    assert decode_json(b"{}").spans == []
    assert decode_json(b'{"resourceSpans": []}').spans == []
    assert decode_json(b'{"resourceSpans": null}').spans == []
    assert decode_json(b'{"resourceSpans": [{}]}').spans == []
    assert decode_json(b'{"resourceSpans": [{"scopeSpans": [{}]}]}').spans == []


# -- rejections ------------------------------------------------------------------------------------------------

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"


def _one_span(**fields: Any) -> dict[str, Any]:
    span: dict[str, Any] = {"traceId": TRACE, "spanId": SPAN, "name": "s", "startTimeUnixNano": "1"}
    span.update(fields)
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"traceId": "zz" * 16}, "trace_id must be 32 hex digits, got 'zzzz"),
        ({"traceId": TRACE[:-2]}, "trace_id must be 32 hex digits, got '5b8e"),
        ({"traceId": "0x" + TRACE[2:]}, "trace_id must be 32 hex digits"),
        ({"traceId": " " + TRACE[1:]}, "trace_id must be 32 hex digits"),
        ({"traceId": "W47/95gDgQPSabYzgT/GDA=="}, "trace_id must be 32 hex digits"),  # base64, not hex
        ({"traceId": "0" * 32}, "trace_id must not be all zeros"),
        ({"traceId": ""}, "trace_id must be 16 bytes, got 0"),
        ({"traceId": None}, "trace_id must be 16 bytes, got 0"),
        ({"traceId": 12345}, "trace_id must be 32 hex digits, got 12345"),
        ({"spanId": "0" * 16}, "span_id must not be all zeros"),
        ({"spanId": SPAN + "00"}, "span_id must be 16 hex digits"),
        ({"spanId": "g" * 16}, "span_id must be 16 hex digits"),
        ({"parentSpanId": "abc"}, "parent_span_id must be empty or 16 hex digits, got 'abc'"),
    ],
)
def test_span_with_unusable_ids_is_rejected_alone(fields: dict[str, Any], problem: str) -> None:
    doc = _one_span(**fields)
    good = {"traceId": TRACE.upper(), "spanId": SPAN.upper(), "name": "good"}
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"] = [
        good,
        doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0],
        good,
    ]
    result = decode_json(_json(doc))
    assert [v.name for v in result.spans] == ["good", "good"]
    assert result.spans[0].trace_id == int(TRACE, 16)
    assert result.rejected == 1
    assert result.errors[0].startswith("span 's': " + problem)


def test_all_zero_parent_means_no_parent() -> None:
    view = decode_json(_json(_one_span(parentSpanId="0" * 16, flags=0x300))).spans[0]
    assert view.parent_span_id == 0 and not view.parent_is_remote


def test_malformed_link_is_dropped_and_counted() -> None:
    links = [{"traceId": TRACE, "spanId": "nothex!!nothex!!"}, {"traceId": TRACE, "spanId": SPAN}, {}]
    view = decode_json(_json(_one_span(links=links, droppedLinksCount=1))).spans[0]
    assert [lk.span_id for lk in view.links] == [int(SPAN, 16)]
    assert view.dropped_links == 3


# -- structural errors name the JSON path --------------------------------------------------------------------------

GOOD_SPAN = {"traceId": TRACE, "spanId": SPAN, "name": "ok", "startTimeUnixNano": "1"}


def _nested(span: dict[str, Any]) -> dict[str, Any]:
    return {"resourceSpans": [{"scopeSpans": [{"spans": [GOOD_SPAN]}, {"spans": [GOOD_SPAN] * 3 + [span]}]}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]", "expected a JSON object"),
        (b'"resourceSpans"', "expected a JSON object"),
        (b"null", "expected a JSON object"),
        (b'{"resourceSpans": {}}', "resourceSpans: expected an array"),
        (b'{"resource_spans": 5}', "resource_spans: expected an array"),
        (b'{"resourceSpans": [1]}', "resourceSpans[0]: expected an object"),
        (b'{"resourceSpans": [{"scopeSpans": "x"}]}', "resourceSpans[0].scopeSpans: expected an array"),
        (b'{"resourceSpans": [{"scopeSpans": [{}, []]}]}', "resourceSpans[0].scopeSpans[1]: expected an object"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": {}}]}]}',
            "resourceSpans[0].scopeSpans[0].spans: expected an array",
        ),
        (b'{"resourceSpans": [{"resource": []}]}', "resourceSpans[0].resource: expected an object"),
        (
            b'{"resourceSpans": [{"resource": {"attributes": "x"}}]}',
            "resourceSpans[0].resource.attributes: expected an array",
        ),
        (
            b'{"resourceSpans": [{"resource": {"attributes": [{"key": 1}]}}]}',
            "resourceSpans[0].resource.attributes[0].key: expected a string",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"scope": {"name": 5}}]}]}',
            "resourceSpans[0].scopeSpans[0].scope.name: expected a string",
        ),
        (
            b'{"resourceSpans": [{"scope_spans": [{"spans": [7]}]}]}',
            "resourceSpans[0].scope_spans[0].spans[0]: expected an object",
        ),
        (
            _json(_nested({**GOOD_SPAN, "startTimeUnixNano": "abc"})),
            "resourceSpans[0].scopeSpans[1].spans[3].startTimeUnixNano: expected an integer",
        ),
        (_json(_nested({**GOOD_SPAN, "startTimeUnixNano": True})), "spans[3].startTimeUnixNano: expected an integer"),
        (_json(_nested({**GOOD_SPAN, "startTimeUnixNano": 1.5})), "spans[3].startTimeUnixNano: expected an integer"),
        (_json(_nested({**GOOD_SPAN, "endTimeUnixNano": "-1"})), "spans[3].endTimeUnixNano: integer out of range"),
        (
            _json(_nested({**GOOD_SPAN, "end_time_unix_nano": "18446744073709551616"})),
            "spans[3].end_time_unix_nano: integer out of range",
        ),
        (_json(_nested({**GOOD_SPAN, "name": 3})), "spans[3].name: expected a string"),
        (_json(_nested({**GOOD_SPAN, "kind": "SERVER"})), "spans[3].kind: unknown enum value 'SERVER'"),
        (_json(_nested({**GOOD_SPAN, "kind": [2]})), "spans[3].kind: expected an integer"),
        (_json(_nested({**GOOD_SPAN, "flags": -1})), "spans[3].flags: integer out of range"),
        (_json(_nested({**GOOD_SPAN, "status": 2})), "spans[3].status: expected an object"),
        (
            _json(_nested({**GOOD_SPAN, "status": {"code": "STATUS_CODE_BOGUS"}})),
            "spans[3].status.code: unknown enum value",
        ),
        (_json(_nested({**GOOD_SPAN, "status": {"message": 1}})), "spans[3].status.message: expected a string"),
        (_json(_nested({**GOOD_SPAN, "attributes": {}})), "spans[3].attributes: expected an array"),
        (_json(_nested({**GOOD_SPAN, "attributes": ["x"]})), "spans[3].attributes[0]: expected an object"),
        (
            _json(_nested({**GOOD_SPAN, "attributes": [{"key": "a"}, {"key": "b", "value": {"intValue": "x"}}]})),
            "spans[3].attributes[1].value.intValue: expected an integer",
        ),
        (
            _json(_nested({**GOOD_SPAN, "attributes": [{"key": "b", "value": {"intValue": "9223372036854775808"}}]})),
            "spans[3].attributes[0].value.intValue: integer out of range",
        ),
        (
            _json(_nested({**GOOD_SPAN, "attributes": [{"key": "b", "value": 1}]})),
            "spans[3].attributes[0].value: expected an object",
        ),
        (
            _json(_nested({**GOOD_SPAN, "attributes": [{"key": "b", "value": {"boolValue": "true"}}]})),
            "attributes[0].value.boolValue: expected true or false",
        ),
        (
            _json(_nested({**GOOD_SPAN, "attributes": [{"key": "b", "value": {"stringValue": 5}}]})),
            "attributes[0].value.stringValue: expected a string",
        ),
        (
            _json(_nested({**GOOD_SPAN, "attributes": [{"key": "b", "value": {"doubleValue": "fast"}}]})),
            "attributes[0].value.doubleValue: expected a number",
        ),
        (
            _json(_nested({**GOOD_SPAN, "attributes": [{"key": "b", "value": {"bytesValue": "!!!"}}]})),
            "attributes[0].value.bytesValue: invalid base64",
        ),
        (
            _json(
                _nested(
                    {
                        **GOOD_SPAN,
                        "attributes": [
                            {
                                "key": "b",
                                "value": {
                                    "kvlistValue": {
                                        "values": [{"key": "k", "value": {"arrayValue": {"values": [{}, 3]}}}]
                                    }
                                },
                            }
                        ],
                    }
                )
            ),
            "spans[3].attributes[0].value.kvlistValue.values[0].value.arrayValue.values[1]: expected an object",
        ),
        (
            _json(_nested({**GOOD_SPAN, "events": [{"timeUnixNano": -5}]})),
            "spans[3].events[0].timeUnixNano: integer out of range",
        ),
        (_json(_nested({**GOOD_SPAN, "events": {}})), "spans[3].events: expected an array"),
        (
            _json(_nested({**GOOD_SPAN, "events": [{}, {"attributes": [{"key": "k", "value": {"intValue": []}}]}]})),
            "spans[3].events[1].attributes[0].value.intValue: expected an integer",
        ),
        (
            _json(_nested({**GOOD_SPAN, "links": [{"attributes": 4}]})),
            "spans[3].links[0].attributes: expected an array",
        ),
        (_json(_nested({**GOOD_SPAN, "links": "x"})), "spans[3].links: expected an array"),
        (
            _json(_nested({**GOOD_SPAN, "droppedEventsCount": 2**40})),
            "spans[3].droppedEventsCount: integer out of range",
        ),
    ],
)
def test_structural_garbage_names_the_path(body: bytes, message: str) -> None:
    with pytest.raises(OtlpDecodeError) as info:
        decode_json(body)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b'{"resourceSpans": [', b'{"resourceSpans": [], "x": "\xff\xfe"}', b"\xff", b"{'a': 1}", b"NaN"],
)
def test_invalid_json(body: bytes) -> None:
    with pytest.raises(OtlpDecodeError, match="invalid JSON"):
        decode_json(body)


def test_nesting_beyond_the_limit_is_refused() -> None:
    value: dict[str, Any] = {"stringValue": "leaf"}
    for _ in range(70):
        value = {"arrayValue": {"values": [value]}}
    with pytest.raises(OtlpDecodeError, match="nested deeper than 64 levels"):
        decode_json(_json(_one_span(attributes=[{"key": "deep", "value": value}])))


# -- anything else never escapes as another exception ---------------------------------------------------------------

_KEYS = [
    "resourceSpans", "resource_spans", "scopeSpans", "scope_spans", "instrumentationLibrarySpans", "spans", "resource",
    "scope", "attributes", "key", "value", "values", "name", "version", "traceId", "spanId", "parentSpanId", "flags",
    "kind", "startTimeUnixNano", "end_time_unix_nano", "status", "code", "message", "events", "timeUnixNano", "links",
    "droppedAttributesCount", "dropped_links_count", "stringValue", "boolValue", "intValue", "int_value", "doubleValue",
    "bytesValue", "arrayValue", "kvlistValue", "kvlist_value", "other",
]  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from([TRACE, SPAN, TRACE.upper(), "0" * 32, "1544712660000000000", "-1", "SPAN_KIND_SERVER",
                     "STATUS_CODE_ERROR", "NaN", "Infinity", "AP8=", "_-8", "1e5", "99999999999999999999999"]),
)  # fmt: skip
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5),
    max_leaves=40,
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(_JSON)
def test_arbitrary_json_decodes_or_raises_otlp_decode_error(doc: Any) -> None:
    as_attribute = {**GOOD_SPAN, "attributes": [{"key": "k", "value": doc}]}
    for body in (
        _json(doc),
        _json({"resourceSpans": [{"scopeSpans": [{"spans": [doc]}]}]}),
        _json({"resourceSpans": [{"scopeSpans": [{"spans": [as_attribute]}]}]}),
    ):
        try:
            result = decode_json(body)
        except OtlpDecodeError:
            continue
        assert result.rejected == len(result.errors)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_otlp_decode_error(body: bytes) -> None:
    with contextlib.suppress(OtlpDecodeError):
        decode_json(body)
