"""`InputFile.logs` reads OTLP logs files in every framing the traces are read in (the Collector `file` exporter's
JSON lines, length-prefixed protobuf, per-message and whole-file zstd; one OTLP/JSON document): the records are
those the receiver's decoders give for the same requests, each request with the line or entry it starts on and
its earliest record's time; what is not a logs request is one error naming the file and the line or entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_honeyhive.core.file_formats import Format
from otel_honeyhive.inputs.files.readers import InputError, InputFile
from otel_honeyhive.inputs.otlp.logs import decode_logs_protobuf
from tests.support.collector_files import (
    VARIANTS,
    framed,
    logs_json_message,
    logs_proto_message,
    write_collector_logs_file,
)
from tests.support.logs_traffic import Traffic, traffic


@pytest.fixture(scope="module")
def calls() -> Traffic:
    return traffic(2)


@pytest.mark.parametrize("variant", ("json", *VARIANTS))
def test_every_framing_gives_the_records_the_receiver_decodes(tmp_path: Path, calls: Traffic, variant: str) -> None:
    batches = [calls.details, calls.evaluations, calls.stray]
    if variant == "json":
        path = tmp_path / "logs.otlp.jsonl"
        path.write_bytes(b"".join(logs_json_message(b) + b"\n" for b in batches))
    else:
        path = write_collector_logs_file(tmp_path, batches, variant)
    with InputFile(path) as f:
        got = list(f.logs())
    expected = [decode_logs_protobuf(logs_proto_message(b)).records for b in batches]
    assert [r.value.records for r in got] == expected
    assert [r.line for r in got] == [1, 2, 3]
    assert [r.value.earliest_ns for r in got] == [min(v.time_ns for v in records) for records in expected]


def test_one_otlp_json_document_is_one_request(tmp_path: Path, calls: Traffic) -> None:
    path = tmp_path / "logs.otlp.json"
    path.write_bytes(logs_json_message(calls.details))
    with InputFile(path) as f:
        (request,) = list(f.logs())
    assert request.value.records == decode_logs_protobuf(logs_proto_message(calls.details)).records


@pytest.mark.parametrize(("content", "error"), [
    (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "abc"}]}]}]}\n',
     ":1: unusable log record: log record #1: trace_id must be 32 hex digits or empty"),
    (b"{}\n", ":1: not an OTLP/JSON ExportLogsServiceRequest: no resourceLogs"),
    (b"\n\nnot json\n", ":3: not an OTLP/JSON ExportLogsServiceRequest: invalid JSON"),
    (b'{"resourceSpans": []}\n', ":1: this file holds OTLP traces (resourceSpans), not logs: give it as the traces "
     "file, not with --logs"),
])
def test_what_is_not_a_logs_request_is_named_by_its_line(tmp_path: Path, content: bytes, error: str) -> None:
    path = tmp_path / "logs.otlp.jsonl"
    path.write_bytes(content)
    with InputFile(path) as f, pytest.raises(InputError) as raised:
        list(f.logs())
    assert str(raised.value).startswith(f"{path}{error}"), str(raised.value)


def test_a_corrupt_protobuf_entry_is_named_by_its_number(tmp_path: Path, calls: Traffic) -> None:
    path = tmp_path / "logs.otlp.binpb"
    path.write_bytes(framed(logs_proto_message(calls.details)) + framed(b"\x0a\xff\xff"))
    with InputFile(path, Format.OTLP_PROTO) as f, pytest.raises(InputError) as raised:
        list(f.logs())
    assert str(raised.value).startswith(f"{path}: entry 2: not an OTLP protobuf ExportLogsServiceRequest")
