"""The journal's log record codec must give back exactly what it was given: every field, every value type, for
records as the OTLP receiver decodes them from a real SDK's export."""

from __future__ import annotations

import math
from typing import Any

import pytest
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.inputs.otlp.logs import decode_logs_protobuf
from otel_honeyhive.shipping.log_codec import decode_records, encode_records
from otel_honeyhive.shipping.records import SpoolRecord
from otel_honeyhive.shipping.span_codec import CodecError
from tests.support.exact import exact
from tests.support.spans import in_span


def _exact_record(r: LogRecordView) -> Any:
    return (exact(r.trace_id), exact(r.span_id), exact(r.event_name), exact(r.time_ns), exact(r.body),
            exact(dict(r.attributes)), exact(r.severity_number), exact(r.severity_text), exact(dict(r.resource)),
            exact(r.scope_name), exact(r.sampled), exact(r.masked))


def received_records() -> list[LogRecordView]:
    """GenAI records as the receiver reads them from the stock OTLP encoding of real SDK records."""
    memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # the SDK's __init__ is unannotated
    provider = LoggerProvider(resource=Resource.create({"service.name": "codec"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = provider.get_logger("opentelemetry.instrumentation.genai")
    logger.emit(LogRecord(event_name="gen_ai.client.inference.operation.details",
                          context=in_span(2**127 + 5, 2**63 + 7), attributes={
                              "gen_ai.input.messages": '[{"role": "user", "parts": []}]',
                              "gen_ai.usage.input_tokens": 12, "ratio": 0.5, "tags": ("a", "b"),
                          }))
    logger.emit(LogRecord(event_name="gen_ai.choice", context=in_span(9, 10),
                          severity_number=SeverityNumber.INFO, severity_text="INFO",
                          body={"index": 0, "message": {"role": "assistant", "content": "Paris."},
                                "raw": b"\x00\xff", "parts": [1, 2.5, None, True]}))
    provider.shutdown()
    return decode_logs_protobuf(encode_logs(list(memory.get_finished_logs())).SerializeToString()).records


def test_received_records_round_trip_exactly() -> None:
    records = received_records()
    assert len(records) == 2
    assert [_exact_record(r) for r in decode_records(encode_records(records))] == [_exact_record(r) for r in records]


@pytest.mark.parametrize("body", [
    None, "text", 7, -(2**70), 2**64, math.nan, -math.inf, b"\x00bytes", ("t", 1), [1, [2, (3,)]],
    {"nested": {"bytes": b"x", "tuple": (1.5, True)}}, "",
])
def test_every_body_and_attribute_value_comes_back_as_it_was(body: Any) -> None:
    record = LogRecordView(2**128 - 1, 2**64 - 1, "gen_ai.user.message", 2**63 + 1, body,
                           {"value": body, "plain": "x"}, 9, "INFO", {"service.name": "s", "odd": body},
                           "scope", False, 3)
    (back,) = decode_records(encode_records([record]))
    assert _exact_record(back) == _exact_record(record)


def test_a_shared_resource_is_written_once_and_shared_again() -> None:
    resource = {"service.name": "shared", "host": "h" * 500}
    records = [LogRecordView(1, i + 1, "gen_ai.choice", 0, "x", {}, resource=resource) for i in range(20)]
    encoded = encode_records(records)
    assert encoded.count(b"h" * 500) == 1
    decoded = decode_records(encoded)
    assert all(r.resource is decoded[0].resource for r in decoded)


def test_a_journal_record_of_log_records_survives_the_spool_format() -> None:
    records = received_records()
    back = SpoolRecord.decode(SpoolRecord.of_records(records).encode())
    assert back.kind == "records"
    assert [_exact_record(r) for r in back.records] == [_exact_record(r) for r in records]


@pytest.mark.parametrize("data", [b"", b"[2, [], []]", b"[1, [], [[1]]]", b'{"a": 1}'])
def test_bytes_it_did_not_write_are_refused_not_misread(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode_records(data)
