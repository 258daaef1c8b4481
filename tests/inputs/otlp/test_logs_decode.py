"""OTLP logs decoding: real SDK log records through the stock encoder, as protobuf and as OTLP/JSON (both key
spellings, enum names or numbers, hex ids, int64 as strings), give the same `LogRecordView`s; records with ids of
the wrong length are rejected one by one; bodies that are not a logs request are refused naming where."""

from __future__ import annotations

import base64
import contextlib
import copy
from typing import Any

import orjson
import pytest
from google.protobuf.json_format import MessageToDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as ProtoLogRecord
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.inputs.otlp.errors import OtlpDecodeError
from otel_honeyhive.inputs.otlp.logs import decode_logs_json, decode_logs_protobuf
from tests.support.spans import in_span

TRACE_ID = 0x5B8EFFF798038103D269B633813FC60C
SPAN_ID = 0xEEE19B7EC3C1B173
DETAILS = "gen_ai.client.inference.operation.details"
MESSAGES: list[dict[str, Any]] = [{"role": "user", "parts": [{"type": "text", "content": "hello"}]}]


def sdk_records() -> list[ReadableLogRecord]:
    """Real SDK records: a GenAI record with the event name field and a structured body, one named only by its
    `event.name` attribute, a plain application log outside any span, one with only an observed time."""
    memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # the SDK's __init__ is unannotated
    provider = LoggerProvider(resource=Resource.create({"service.name": "logs-test", "host.cores": 8}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    genai = provider.get_logger("opentelemetry.instrumentation.genai", "1.0")
    genai.emit(LogRecord(
        timestamp=1_700_000_000_000_000_001, observed_timestamp=1_700_000_000_000_000_002,
        context=in_span(TRACE_ID, SPAN_ID), event_name=DETAILS,
        severity_number=SeverityNumber.INFO,
        severity_text="INFO", body={"gen_ai.input.messages": MESSAGES, "tokens": 3, "ratio": 0.5, "ok": True},
        attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "tags": ("a", "b")},
    ))
    genai.emit(LogRecord(
        timestamp=1_700_000_000_000_000_010, context=in_span(TRACE_ID, SPAN_ID),
        body={"content": "hi there", "index": 0}, attributes={"event.name": "gen_ai.choice"},
    ))
    app = provider.get_logger("app")
    app.emit(LogRecord(timestamp=1_700_000_000_000_000_020, body="an ordinary log line",
                       severity_number=SeverityNumber.WARN, severity_text="WARNING"))
    app.emit(LogRecord(observed_timestamp=1_700_000_000_000_000_030, body=["x", 1, [2, 3]]))
    records = list(memory.get_finished_logs())
    assert len(records) == 4
    return records


def hex_ids(doc: dict[str, Any]) -> dict[str, Any]:
    """MessageToDict writes bytes ids as base64; OTLP/JSON wants hex."""
    doc = copy.deepcopy(doc)
    for rl in doc.get("resourceLogs", doc.get("resource_logs", [])):
        for sl in rl.get("scopeLogs", rl.get("scope_logs", [])):
            for record in sl.get("logRecords", sl.get("log_records", [])):
                for key in ("traceId", "spanId", "trace_id", "span_id"):
                    if key in record:
                        record[key] = base64.b64decode(record[key]).hex()
    return doc


def test_sdk_records_decode_field_by_field() -> None:
    result = decode_logs_protobuf(encode_logs(sdk_records()).SerializeToString())
    assert result.rejected == 0 and result.errors == []
    details, choice, plain, observed = result.records
    assert details == LogRecordView(
        trace_id=TRACE_ID, span_id=SPAN_ID, event_name=DETAILS, time_ns=1_700_000_000_000_000_001,
        body={"gen_ai.input.messages": MESSAGES, "tokens": 3, "ratio": 0.5, "ok": True},
        attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "tags": ("a", "b")},
        severity_number=9, severity_text="INFO", resource=details.resource,
        scope_name="opentelemetry.instrumentation.genai",
    )
    assert details.resource["service.name"] == "logs-test" and details.resource["host.cores"] == 8
    assert details.names_a_span
    assert choice.event_name == "gen_ai.choice", "the event.name attribute names a record without the field"
    assert choice.body == {"content": "hi there", "index": 0}
    assert (plain.trace_id, plain.span_id, plain.event_name) == (0, 0, None) and not plain.names_a_span
    assert (plain.body, plain.severity_number, plain.severity_text, plain.scope_name) == (
        "an ordinary log line", 13, "WARNING", "app")
    assert observed.time_ns == 1_700_000_000_000_000_030, "no timestamp: the observed one"
    assert observed.body == ["x", 1, [2, 3]], "a body's arrays are lists"


@pytest.mark.parametrize(
    "options",
    [{}, {"preserving_proto_field_name": True, "use_integers_for_enums": True}],
    ids=["camelCase-enum-names", "snake_case-enum-numbers"],
)
def test_otlp_json_decodes_like_protobuf(options: dict[str, Any]) -> None:
    request = encode_logs(sdk_records())
    doc = hex_ids(MessageToDict(request, **options))
    assert decode_logs_json(orjson.dumps(doc)) == decode_logs_protobuf(request.SerializeToString())


def test_base64_ids_in_json_are_rejected_not_misread() -> None:
    doc = MessageToDict(encode_logs(sdk_records()[:1]))
    result = decode_logs_json(orjson.dumps(doc))
    assert result.records == [] and result.rejected == 1
    assert result.errors == [f"log record {DETAILS!r}: trace_id must be 32 hex digits or empty, got "
                             f"{doc['resourceLogs'][0]['scopeLogs'][0]['logRecords'][0]['traceId']!r}"]


def _proto_request(*records: ProtoLogRecord) -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[
        ScopeLogs(scope=InstrumentationScope(name="s"), log_records=list(records))])])


def test_records_with_ids_of_the_wrong_length_are_rejected_and_the_rest_kept() -> None:
    good = ProtoLogRecord(trace_id=TRACE_ID.to_bytes(16, "big"), span_id=SPAN_ID.to_bytes(8, "big"),
                          event_name="gen_ai.choice", body=AnyValue(string_value="ok"))
    short_trace = ProtoLogRecord(trace_id=b"\x01\x02\x03", span_id=SPAN_ID.to_bytes(8, "big"),
                                 event_name="gen_ai.choice")
    long_span = ProtoLogRecord(trace_id=TRACE_ID.to_bytes(16, "big"), span_id=bytes(9),
                               attributes=[KeyValue(key="event.name", value=AnyValue(string_value="gen_ai.x"))])
    nameless = ProtoLogRecord(span_id=b"\x01")
    result = decode_logs_protobuf(_proto_request(good, short_trace, long_span, nameless).SerializeToString())
    assert [r.body for r in result.records] == ["ok"]
    assert result.rejected == 3
    assert result.errors == [
        "log record 'gen_ai.choice': trace_id must be 16 bytes or empty, got 3",
        "log record 'gen_ai.x': span_id must be 8 bytes or empty, got 9",
        "log record #4: span_id must be 8 bytes or empty, got 1",
    ]
    assert result.error_message == "; ".join(result.errors)


def test_json_records_with_bad_ids_are_rejected_and_empty_ids_name_no_span() -> None:
    doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"traceId": "", "spanId": "", "body": {"stringValue": "no span"}},
        {"traceId": "abc", "spanId": "00f067aa0ba902b7", "eventName": "gen_ai.choice"},
        {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "zz", "eventName": "gen_ai.choice"},
        {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b173",
         "timeUnixNano": "1700000000000000001", "severityNumber": "SEVERITY_NUMBER_ERROR",
         "body": {"kvlistValue": {"values": [{"key": "n", "value": {"intValue": "7"}},
                                             {"key": "l", "value": {"arrayValue": {"values": [
                                                 {"boolValue": True}, {"doubleValue": "NaN"}]}}}]}}},
    ]}]}]}
    result = decode_logs_json(orjson.dumps(doc))
    assert result.rejected == 2
    assert "trace_id must be 32 hex digits or empty, got 'abc'" in result.errors[0]
    assert "span_id must be 16 hex digits or empty, got 'zz'" in result.errors[1]
    no_span, genai = result.records
    assert (no_span.trace_id, no_span.span_id, no_span.body) == (0, 0, "no span")
    assert (genai.trace_id, genai.span_id, genai.time_ns, genai.severity_number) == (
        TRACE_ID, SPAN_ID, 1_700_000_000_000_000_001, 17)
    assert genai.body["n"] == 7 and genai.body["l"][0] is True and genai.body["l"][1] != genai.body["l"][1]


def test_legacy_instrumentation_library_logs_are_read() -> None:
    doc = {"resource_logs": [{"instrumentationLibraryLogs": [{"instrumentationLibrary": {"name": "old"},
                                                              "logRecords": [{"body": {"stringValue": "x"}}]}]}]}
    (record,) = decode_logs_json(orjson.dumps(doc)).records
    assert (record.scope_name, record.body) == ("old", "x")


def test_an_empty_request_has_no_records() -> None:
    assert decode_logs_protobuf(b"").records == []
    assert decode_logs_json(b"{}").records == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "invalid JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"resourceLogs": 7}', "resourceLogs: expected an array"),
        (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": "text"}]}]}]}',
         "resourceLogs[0].scopeLogs[0].logRecords[0].body: expected an object"),
        (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"severityNumber": "LOUD"}]}]}]}',
         "resourceLogs[0].scopeLogs[0].logRecords[0].severityNumber: unknown enum value 'LOUD'"),
        (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "soon"}]}]}]}',
         "resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano: expected an integer"),
        (b'{"resourceLogs": [{"resource": {"attributes": [{"key": 1}]}}]}',
         "resourceLogs[0].resource.attributes[0].key: expected a string"),
    ],
)
def test_json_that_is_not_a_logs_request_is_refused_naming_where(body: bytes, message: str) -> None:
    with pytest.raises(OtlpDecodeError) as raised:
        decode_logs_json(body)
    assert message in str(raised.value)


def test_protobuf_that_is_not_a_logs_request_is_refused() -> None:
    with pytest.raises(OtlpDecodeError, match="invalid OTLP logs protobuf"):
        decode_logs_protobuf(b"\xff\xff\xff garbage")


# -- anything else never escapes as another exception ---------------------------------------------------------------

_KEYS = [
    "resourceLogs", "resource_logs", "scopeLogs", "scope_logs", "instrumentationLibraryLogs", "logRecords",
    "log_records", "resource", "scope", "attributes", "key", "value", "values", "name", "traceId", "spanId",
    "span_id", "timeUnixNano", "observed_time_unix_nano", "severityNumber", "severityText", "body", "eventName",
    "event_name", "flags", "stringValue", "boolValue", "intValue", "doubleValue", "bytesValue", "arrayValue",
    "kvlistValue", "other",
]  # fmt: skip
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
    st.sampled_from([f"{TRACE_ID:032x}", f"{SPAN_ID:016x}", "0" * 32, "1700000000000000000", "-1",
                     "SEVERITY_NUMBER_WARN", "NaN", "AP8=", DETAILS, "gen_ai.choice"]),
)  # fmt: skip
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5),
    max_leaves=40,
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(_JSON)
def test_arbitrary_json_decodes_or_raises_otlp_decode_error(doc: Any) -> None:
    for body in (doc, {"resourceLogs": [{"scopeLogs": [{"logRecords": [doc]}]}]},
                 {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": doc, "attributes": [
                     {"key": "k", "value": doc}]}]}]}]}):
        try:
            result = decode_logs_json(orjson.dumps(body))
        except OtlpDecodeError:
            continue
        assert result.rejected == len(result.errors)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_otlp_decode_error(body: bytes) -> None:
    for decode in (decode_logs_protobuf, decode_logs_json):
        with contextlib.suppress(OtlpDecodeError):
            decode(body)


@given(st.binary(max_size=40), st.integers(min_value=0))
def test_a_corrupted_real_request_decodes_or_raises_otlp_decode_error(noise: bytes, at: int) -> None:
    body = encode_logs(sdk_records()).SerializeToString()
    at %= len(body)
    with contextlib.suppress(OtlpDecodeError):
        decode_logs_protobuf(body[:at] + noise + body[at + len(noise):])


def _flagged(flags: int | None) -> dict[str, Any]:
    record: dict[str, Any] = {"traceId": f"{TRACE_ID:032x}", "spanId": f"{SPAN_ID:016x}", "eventName": DETAILS}
    if flags is not None:
        record["flags"] = flags
    return {"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}


def test_the_sampled_bit_of_the_flags_says_whether_the_records_span_is_exported() -> None:
    """The SDKs set a record's flags from its span's context: a record of a span the sampler dropped says so
    (its span is never exported, so it is not waited for). Protobuf cannot tell unset flags from 0; a JSON
    record without `flags` (often written by hand) is taken as sampled."""
    def proto(flags: int) -> bool:
        request = ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[
            ProtoLogRecord(trace_id=TRACE_ID.to_bytes(16, "big"), span_id=SPAN_ID.to_bytes(8, "big"),
                           event_name=DETAILS, flags=flags)])])])
        (record,) = decode_logs_protobuf(request.SerializeToString()).records
        return record.sampled

    assert proto(0x01) and proto(0x0101)  # only the low byte is the trace flags
    assert not proto(0) and not proto(0x0100)
    assert [r.sampled for r in decode_logs_json(orjson.dumps(_flagged(1))).records] == [True]
    assert [r.sampled for r in decode_logs_json(orjson.dumps(_flagged(0))).records] == [False]
    assert [r.sampled for r in decode_logs_json(orjson.dumps(_flagged(None))).records] == [True]


def test_a_bad_body_deep_down_is_named_by_its_path() -> None:
    doc = _flagged(None)
    doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"] = {
        "kvlistValue": {"values": [{"key": "k", "value": {"intValue": "x"}}]}}
    with pytest.raises(OtlpDecodeError, match=r"logRecords\[0\]\.body\.kvlistValue"):
        decode_logs_json(orjson.dumps(doc))
