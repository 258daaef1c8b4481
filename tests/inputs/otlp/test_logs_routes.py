"""The logs receiver's answers, in process, against a sink that records what it is handed and answers what a test
tells it: `POST /v1/logs` through the server's own app (auth middleware and all), `LogsService/Export` on a real
gRPC server on a loopback port. Each undelivered outcome is answered from the one table (`core/status.py`), as
for traces; the end-to-end tests with the real pipeline are in test_logs_receiver.py."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from starlette.testclient import TestClient

from otel_honeyhive.core.counters import LOG_RECORDS_REJECTED, Counters
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult, Update
from otel_honeyhive.core.secrets import Secret
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.inputs.otlp.grpc import LOGS_SERVICE_NAME, start_grpc_server
from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
from otel_honeyhive.server.app import build_app
from otel_honeyhive.server.config import ServerConfig
from tests.inputs.otlp.test_logs_decode import sdk_records
from tests.support.server import LOOPBACK

PROTOBUF = {"Content-Type": "application/x-protobuf"}
EXPORT = f"/{LOGS_SERVICE_NAME}/Export"


@dataclass
class RecordingSink:
    answer: SendResult = DELIVERED
    records: list[LogRecordView] = field(default_factory=list)

    @property
    def output_name(self) -> str:
        return "recording"

    def accept_spans(self, spans: Sequence[SpanView]) -> SendResult:
        raise AssertionError("no spans expected")

    def accept_events(self, events: list[Event]) -> SendResult:
        raise AssertionError("no events expected")

    def accept_update(self, update: Update) -> SendResult:
        raise AssertionError("no update expected")

    def accept_records(self, records: Sequence[LogRecordView]) -> SendResult:
        self.records.extend(records)
        return self.answer


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


def client(sink: RecordingSink, counters: Counters | None = None, **config: Any) -> TestClient:
    return TestClient(build_app(ServerConfig(**config), sink, counters=counters), base_url=LOOPBACK)


def body() -> bytes:
    return encode_logs(sdk_records()).SerializeToString()


def rpc_status(content_type: str, content: bytes) -> status_pb2.Status:
    if content_type.startswith("application/json"):
        return json_format.Parse(content, status_pb2.Status())
    return status_pb2.Status.FromString(content)


def test_records_reach_the_sink_and_the_answer_is_an_empty_logs_response(sink: RecordingSink) -> None:
    answer = client(sink).post("/v1/logs", content=body(), headers=PROTOBUF)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/x-protobuf"
    assert ExportLogsServiceResponse.FromString(answer.content).ByteSize() == 0
    assert [r.event_name for r in sink.records] == [
        "gen_ai.client.inference.operation.details", "gen_ai.choice", None, None]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_bodies(sink: RecordingSink, encoding: str) -> None:
    data = gzip.compress(body()) if encoding == "gzip" else zlib.compress(body())
    answer = client(sink).post("/v1/logs", content=data, headers={**PROTOBUF, "Content-Encoding": encoding})
    assert answer.status_code == 200 and len(sink.records) == 4


def test_bad_ids_are_counted_in_partial_success_and_in_the_counter(sink: RecordingSink) -> None:
    counters = Counters()
    doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"traceId": "abc", "spanId": "00f067aa0ba902b7", "eventName": "gen_ai.choice"},
        {"body": {"stringValue": "kept"}},
    ]}]}]}
    answer = client(sink, counters).post("/v1/logs", json=doc)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    partial = answer.json()["partialSuccess"]
    assert int(partial["rejectedLogRecords"]) == 1 and "trace_id must be 32 hex digits" in partial["errorMessage"]
    assert [r.body for r in sink.records] == ["kept"]
    assert counters.value(LOG_RECORDS_REJECTED, input="otlp_http") == 1


@pytest.mark.parametrize(
    ("data", "media_type", "needle"),
    [
        (b"\xff\xff\xff garbage", "application/x-protobuf", "invalid OTLP logs protobuf"),
        (b'{"resourceLogs": 7}', "application/json", "resourceLogs: expected an array"),
    ],
)
def test_a_malformed_body_is_400_with_a_status_in_its_encoding(
    sink: RecordingSink, data: bytes, media_type: str, needle: str
) -> None:
    answer = client(sink).post("/v1/logs", content=data, headers={"Content-Type": media_type})
    assert answer.status_code == 400 and answer.headers["content-type"] == media_type
    status = rpc_status(media_type, answer.content)
    assert status.code == 3 and "cannot decode the request as OTLP logs" in status.message and needle in status.message
    assert sink.records == []


def test_a_wrong_content_type_is_415_and_a_wrong_method_405(sink: RecordingSink) -> None:
    http = client(sink)
    answer = http.post("/v1/logs", content=b"x", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415 and "text/plain" in rpc_status("application/json", answer.content).message
    assert http.get("/v1/logs").status_code == 405


def test_a_body_over_the_limit_is_413_after_decompression(sink: RecordingSink) -> None:
    data = body()
    answer = client(sink, max_body_bytes=len(data) - 1).post(
        "/v1/logs", content=gzip.compress(data), headers={**PROTOBUF, "Content-Encoding": "gzip"})
    assert answer.status_code == 413 and sink.records == []


def test_the_token_is_required(sink: RecordingSink) -> None:
    http = client(sink, auth_token=Secret("s3cret"))
    refused = http.post("/v1/logs", content=body(), headers=PROTOBUF)
    assert refused.status_code == 401
    assert status_pb2.Status.FromString(refused.content).message == "missing or invalid bearer token"
    ok = http.post("/v1/logs", content=body(), headers={**PROTOBUF, "Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and len(sink.records) == 4


@pytest.mark.parametrize(
    ("result", "remote", "status", "headers"),
    [
        (SendResult(Outcome.RETRY_LATER, "spool full", retry_after=2.5), False, 503, {"retry-after": "3"}),
        (SendResult(Outcome.REJECTED, "refused"), True, 502, {}),
        (SendResult(Outcome.REJECTED, "disk I/O error"), False, 500, {}),
    ],
)
def test_an_undelivered_result_is_answered_from_the_one_table(
    result: SendResult, remote: bool, status: int, headers: dict[str, str]
) -> None:
    sink = RecordingSink(answer=result)
    answer = TestClient(build_app(_config(remote=remote), sink), base_url=LOOPBACK).post(
        "/v1/logs", content=body(), headers=PROTOBUF)
    assert answer.status_code == status
    for key, value in headers.items():
        assert answer.headers[key] == value
    assert status_pb2.Status.FromString(answer.content).message == result.detail


def _config(*, remote: bool) -> ServerConfig:
    """A remote output's refusals are the upstream's (502), the store's the server's own (500)."""
    return ServerConfig(honeyhive=HoneyHiveSettings(api_key=Secret("k"))) if remote else ServerConfig()


# -- gRPC ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def grpc_server(sink: RecordingSink) -> Iterator[tuple[str, Counters]]:
    counters = Counters()
    server, port = start_grpc_server(sink, "127.0.0.1", 0, max_message_bytes=1 << 20, auth_token=Secret("s3cret"),
                                     counters=counters)
    try:
        yield f"127.0.0.1:{port}", counters
    finally:
        server.stop(None)


AUTH = (("authorization", "Bearer s3cret"),)


def test_grpc_records_reach_the_sink(sink: RecordingSink, grpc_server: tuple[str, Counters]) -> None:
    target, _ = grpc_server
    with grpc.insecure_channel(target) as channel:
        reply = channel.unary_unary(EXPORT)(body(), metadata=AUTH, timeout=10)
    assert ExportLogsServiceResponse.FromString(reply).ByteSize() == 0
    assert len(sink.records) == 4


def test_grpc_bad_ids_unauthenticated_and_undecodable(sink: RecordingSink, grpc_server: tuple[str, Counters]) -> None:
    target, counters = grpc_server
    request = encode_logs(sdk_records())
    request.resource_logs[0].scope_logs[0].log_records[0].span_id = b"\x01\x02"
    with grpc.insecure_channel(target) as channel:
        export = channel.unary_unary(EXPORT)
        reply = ExportLogsServiceResponse.FromString(export(request.SerializeToString(), metadata=AUTH, timeout=10))
        assert reply.partial_success.rejected_log_records == 1
        assert "span_id must be 8 bytes or empty, got 2" in reply.partial_success.error_message
        assert counters.value(LOG_RECORDS_REJECTED, input="otlp_grpc") == 1
        with pytest.raises(grpc.RpcError) as unauthenticated:
            export(body(), timeout=10)
        assert unauthenticated.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert unauthenticated.value.details() == "missing or invalid bearer token"
        with pytest.raises(grpc.RpcError) as invalid:
            export(b"\xff\xff\xff", metadata=AUTH, timeout=10)
        assert invalid.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "invalid OTLP logs protobuf" in (invalid.value.details() or "")
    assert len(sink.records) == 3


def test_grpc_retry_later_is_unavailable_with_a_retry_hint(sink: RecordingSink,
                                                           grpc_server: tuple[str, Counters]) -> None:
    sink.answer = SendResult(Outcome.RETRY_LATER, "spool full", retry_after=2)
    target, _ = grpc_server
    with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError) as raised:
        channel.unary_unary(EXPORT)(body(), metadata=AUTH, timeout=10)
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert ("retry-after", "2") in tuple(raised.value.trailing_metadata() or ())


@pytest.mark.parametrize(
    ("result", "remote", "status", "code"),
    [
        (SendResult(Outcome.RETRY_LATER, "spool full", retry_after=2.5), False, 503, grpc.StatusCode.UNAVAILABLE),
        (SendResult(Outcome.REJECTED, "refused"), True, 502, grpc.StatusCode.UNAVAILABLE),
        (SendResult(Outcome.REJECTED, "disk I/O error"), False, 500, grpc.StatusCode.INTERNAL),
    ],
)
def test_http_and_grpc_clients_are_told_the_same_thing(
    result: SendResult, remote: bool, status: int, code: grpc.StatusCode
) -> None:
    """Retryable on one protocol is retryable on the other (the OTLP specification retries 502/503 and
    UNAVAILABLE, not 500 nor INTERNAL), and the HTTP answer's Status body carries the gRPC code."""
    sink = RecordingSink(answer=result)
    answer = TestClient(build_app(_config(remote=remote), sink), base_url=LOOPBACK).post(
        "/v1/logs", content=body(), headers=PROTOBUF)
    assert answer.status_code == status
    assert status_pb2.Status.FromString(answer.content).code == code.value[0]
    server, port = start_grpc_server(sink, "127.0.0.1", 0, max_message_bytes=1 << 20, remote=remote)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, pytest.raises(grpc.RpcError) as refused:
            channel.unary_unary(EXPORT)(body(), timeout=10)
    finally:
        server.stop(None)
    assert refused.value.code() is code
