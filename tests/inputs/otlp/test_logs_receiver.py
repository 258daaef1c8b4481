"""GenAI log records through the receiver, end to end: the stock Python OTLP log exporters (HTTP and gRPC) send real
SDK log records, emitted through the Logs API inside the model call's span, to a real `otel-honeyhive serve`,
together with the spans (the stock span exporters), and the joined events land in the local store.

A model call whose content came only as log records (an instrumentation's EVENT_ONLY mode) must give the same
events as the same call with the content on its span (SPAN_ONLY): checked event for event, whatever the order the
records and the spans arrive in. Ordinary logs are counted, never turned into events."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests
from google.protobuf.json_format import MessageToDict
from grpc import Compression
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from prometheus_client.parser import text_string_to_metric_families

from otel_honeyhive import spans_to_events
from otel_honeyhive.core.results import Update
from otel_honeyhive.core.spans import SpanView, from_readable_span
from otel_honeyhive.mapper.identity import session_id_for_trace
from tests.support.fake_honeyhive import FakeHoneyHive, fake_honeyhive
from tests.support.server import RunningServer, run_server
from tests.support.spans import Recorder, agent_span, chat_span, user_message
from tests.support.waiting import wait_until

SOURCE = "logs-receiver-test"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
DETAILS = "gen_ai.client.inference.operation.details"


def assistant_message(text: str) -> str:
    """`gen_ai.output.messages` of one assistant reply."""
    return json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": "stop"}])


@dataclasses.dataclass
class Call:
    """Agent traces whose model calls' content came only as details log records (EVENT_ONLY), and the content the
    same calls carry on their spans in SPAN_ONLY."""

    spans: list[ReadableSpan]
    records: list[ReadableLogRecord]
    content: dict[str, str]


def event_only_calls(count: int = 2, *, plain_logs: int = 1) -> Call:
    """`count` agent traces, each with a model call whose content is only in a details record emitted inside its
    span (the SDK puts the span's ids on it), plus `plain_logs` ordinary application logs per trace."""
    recorder = Recorder("logs-app", scope="tests.logs")
    memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # the SDK's __init__ is unannotated
    logs = LoggerProvider()
    logs.add_log_record_processor(SimpleLogRecordProcessor(memory))
    genai = logs.get_logger("opentelemetry.instrumentation.genai")
    app = logs.get_logger("app")
    content: dict[str, str] = {}
    chat_ids: list[int] = []
    for i in range(count):
        with agent_span(recorder.tracer, f"agent-{i}", f"q{i}"):
            for n in range(plain_logs):
                app.emit(LogRecord(body=f"handling request {i}.{n}", severity_number=SeverityNumber.INFO))
            with chat_span(recorder.tracer, attributes={"gen_ai.usage.input_tokens": 10 + i}) as chat:
                content = {"gen_ai.input.messages": user_message("hello"),
                           "gen_ai.output.messages": assistant_message("hi there")}
                genai.emit(LogRecord(event_name=DETAILS, attributes={"gen_ai.operation.name": "chat", **content}))
                chat_ids.append(chat.get_span_context().span_id)
    records = list(memory.get_finished_logs())
    genai_records = [r for r in records if r.log_record.event_name == DETAILS]
    assert [r.log_record.span_id for r in genai_records] == chat_ids, "emitted inside the span: its ids"
    return Call(recorder.spans(), records, content)


def stored_events(server: RunningServer, spans: Sequence[ReadableSpan]) -> list[dict[str, Any]]:
    sessions = {session_id_for_trace(s.context.trace_id) for s in spans}
    with server.store() as store:
        events = [e for sid in sorted(sessions) for e in store.session_events(sid)]
    return sorted(events, key=lambda e: e["event_id"])


def expected_events(views: Sequence[SpanView]) -> list[dict[str, Any]]:
    return sorted(spans_to_events(views, source=SOURCE), key=lambda e: e["event_id"])


def span_only_views(call: Call) -> list[SpanView]:
    """Every model call of `call` with its content on its span, as SPAN_ONLY would have exported it."""
    chat_ids = {r.log_record.span_id for r in call.records if r.log_record.event_name == DETAILS}
    return [dataclasses.replace(v, attributes={**v.attributes, **call.content}) if v.span_id in chat_ids else v
            for v in (from_readable_span(s) for s in call.spans)]


def model_events(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event_type"] == "model"]


def metric(server: RunningServer, name: str, **labels: str) -> float:
    text = requests.get(server.url + "/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"{name}{labels} not in /metrics")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with run_server(tmp_path, "--source", SOURCE, grpc=True) as running:
        yield running


def exporters(server: RunningServer, protocol: str) -> tuple[Any, Any]:
    if protocol == "grpc":
        return (GrpcSpanExporter(endpoint=server.grpc_target, insecure=True),
                GrpcLogExporter(endpoint=server.grpc_target, insecure=True))
    return HttpSpanExporter(endpoint=server.url + "/v1/traces"), HttpLogExporter(endpoint=server.url + "/v1/logs")


# -- EVENT_ONLY through the receiver gives SPAN_ONLY's events -----------------------------------------------------


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_records_sent_before_their_spans_join_them(server: RunningServer, protocol: str) -> None:
    call = event_only_calls()
    span_exporter, log_exporter = exporters(server, protocol)
    assert log_exporter.export(call.records) is LogRecordExportResult.SUCCESS
    assert span_exporter.export(call.spans) is SpanExportResult.SUCCESS
    span_exporter.shutdown()
    log_exporter.shutdown()
    events = stored_events(server, call.spans)
    assert events == expected_events(span_only_views(call))
    for model in model_events(events):
        assert model["inputs"]["chat_history"][0]["content"] == "hello"
        assert model["outputs"], model
    assert len(events) == len(call.spans), "one event per span: plain logs never become events"


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_records_arriving_while_their_trace_is_held_join_it(server: RunningServer, protocol: str) -> None:
    """The BatchSpanProcessor's order: the model call ends (and is exported) before its root."""
    call = event_only_calls(1)
    chat, root = call.spans
    span_exporter, log_exporter = exporters(server, protocol)
    assert span_exporter.export([chat]) is SpanExportResult.SUCCESS
    assert log_exporter.export(call.records) is LogRecordExportResult.SUCCESS
    assert span_exporter.export([root]) is SpanExportResult.SUCCESS
    span_exporter.shutdown()
    log_exporter.shutdown()
    assert stored_events(server, call.spans) == expected_events(span_only_views(call))


def test_raw_otlp_json_records_join_their_spans(server: RunningServer) -> None:
    """OTLP/JSON as the specification writes it: hex ids, int64 as strings, enum names."""
    call = event_only_calls(2)
    doc = MessageToDict(encode_logs(call.records))
    for rl in doc["resourceLogs"]:
        for sl in rl["scopeLogs"]:
            for record in sl["logRecords"]:
                for key in ("traceId", "spanId"):
                    record[key] = base64.b64decode(record[key]).hex()
    answer = requests.post(server.url + "/v1/logs", json=doc, timeout=10)
    assert answer.status_code == 200 and answer.json() == {}, answer.text
    span_exporter, _ = exporters(server, "http")
    assert span_exporter.export(call.spans) is SpanExportResult.SUCCESS
    assert stored_events(server, call.spans) == expected_events(span_only_views(call))


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_gzip_compressed_exports(server: RunningServer, protocol: str) -> None:
    call = event_only_calls(1)
    if protocol == "grpc":
        log_exporter: Any = GrpcLogExporter(endpoint=server.grpc_target, insecure=True, compression=Compression.Gzip)
    else:
        log_exporter = HttpLogExporter(endpoint=server.url + "/v1/logs", compression=HttpCompression.Gzip)
    assert log_exporter.export(call.records) is LogRecordExportResult.SUCCESS
    span_exporter, _ = exporters(server, protocol)
    assert span_exporter.export(call.spans) is SpanExportResult.SUCCESS
    assert stored_events(server, call.spans) == expected_events(span_only_views(call))


def test_a_record_after_its_event_was_stored_updates_it(server: RunningServer) -> None:
    call = event_only_calls(1)
    span_exporter, log_exporter = exporters(server, "http")
    assert span_exporter.export(call.spans) is SpanExportResult.SUCCESS
    (before,) = model_events(stored_events(server, call.spans))
    assert not before["outputs"]
    assert log_exporter.export(call.records) is LogRecordExportResult.SUCCESS
    (expected,) = model_events(expected_events(span_only_views(call)))

    def updated() -> bool:
        (model,) = model_events(stored_events(server, call.spans))
        return bool(model["outputs"])

    wait_until(updated, 10, explain="the late record to update the stored model event")
    (after,) = model_events(stored_events(server, call.spans))
    assert after["outputs"] == expected["outputs"]


def test_the_sdk_batch_processor_through_the_stock_http_exporter(server: RunningServer) -> None:
    """An app's own setup: LoggerProvider + BatchLogRecordProcessor + OTLPLogExporter, flushed on shutdown."""
    call = event_only_calls(3)
    span_exporter, _ = exporters(server, "http")
    provider = LoggerProvider()
    provider.add_log_record_processor(BatchLogRecordProcessor(HttpLogExporter(endpoint=server.url + "/v1/logs")))
    logger = provider.get_logger("opentelemetry.instrumentation.genai")
    for record in call.records:
        logger.emit(record.log_record)
    assert provider.force_flush(10_000)
    provider.shutdown()
    assert span_exporter.export(call.spans) is SpanExportResult.SUCCESS
    assert stored_events(server, call.spans) == expected_events(span_only_views(call))


def test_the_counters_say_what_joined_and_what_did_not(server: RunningServer) -> None:
    call = event_only_calls(2, plain_logs=2)
    late = event_only_calls(1, plain_logs=0)
    span_exporter, log_exporter = exporters(server, "http")
    assert log_exporter.export(call.records) is LogRecordExportResult.SUCCESS
    assert span_exporter.export(call.spans + late.spans) is SpanExportResult.SUCCESS
    assert log_exporter.export(late.records) is LogRecordExportResult.SUCCESS
    assert metric(server, "otel_honeyhive_log_records_received_total") == 7
    assert metric(server, "otel_honeyhive_log_records_joined_total") == 2
    assert metric(server, "otel_honeyhive_log_records_late_total") == 1
    assert metric(server, "otel_honeyhive_log_records_ignored_total", reason="not_genai") == 4
    assert metric(server, "otel_honeyhive_log_records_unmatched_total") == 0
    assert metric(server, "otel_honeyhive_log_records_rejected_total", input="otlp_http") == 0


# -- the edges, on the real server ----------------------------------------------------------------------------------


def test_records_with_bad_ids_are_rejected_in_partial_success_and_the_rest_join(server: RunningServer) -> None:
    call = event_only_calls(1)
    request = encode_logs(call.records)
    plain = next(r for r in request.resource_logs[0].scope_logs[0].log_records if not r.event_name)
    plain.trace_id = b"\x01\x02\x03"
    answer = requests.post(server.url + "/v1/logs", data=request.SerializeToString(), headers=PROTOBUF, timeout=10)
    assert answer.status_code == 200
    partial = ExportLogsServiceResponse.FromString(answer.content).partial_success
    assert partial.rejected_log_records == 1
    assert partial.error_message == "log record #1: trace_id must be 16 bytes or empty, got 3"
    assert metric(server, "otel_honeyhive_log_records_rejected_total", input="otlp_http") == 1
    span_exporter, _ = exporters(server, "http")
    assert span_exporter.export(call.spans) is SpanExportResult.SUCCESS
    assert stored_events(server, call.spans) == expected_events(span_only_views(call))


def test_malformed_and_mistyped_bodies(server: RunningServer) -> None:
    garbage = requests.post(server.url + "/v1/logs", data=b"\xff\xff\xff", headers=PROTOBUF, timeout=5)
    assert garbage.status_code == 400 and b"invalid OTLP logs protobuf" in garbage.content
    bad_json = requests.post(server.url + "/v1/logs", data=b'{"resourceLogs": [{"scopeLogs": 1}]}', timeout=5,
                             headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert "resourceLogs[0].scopeLogs: expected an array" in bad_json.json()["message"]
    text = requests.post(server.url + "/v1/logs", data=b"x", headers={"Content-Type": "text/plain"}, timeout=5)
    assert text.status_code == 415


@pytest.mark.slow
def test_the_body_limit_and_the_token(tmp_path: Path) -> None:
    import grpc

    token = "s3cret-token"
    with run_server(tmp_path, "--auth-token", token, "--max-body-bytes", "2048", grpc=True) as guarded:
        big = encode_logs(event_only_calls(8).records).SerializeToString()
        assert len(big) > 2048
        auth = {"Authorization": f"Bearer {token}"}
        too_large = requests.post(guarded.url + "/v1/logs", data=big, headers={**PROTOBUF, **auth}, timeout=5)
        assert too_large.status_code == 413
        refused = requests.post(guarded.url + "/v1/logs", data=b"", headers=PROTOBUF, timeout=5)
        assert refused.status_code == 401
        small = encode_logs(event_only_calls(1).records)
        with grpc.insecure_channel(guarded.grpc_target) as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
            with pytest.raises(grpc.RpcError) as unauthenticated:
                export(small.SerializeToString(), timeout=5)
            assert unauthenticated.value.code() is grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError) as exhausted:
                export(big, metadata=(("authorization", f"Bearer {token}"),), timeout=5)
            assert exhausted.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            export(small.SerializeToString(), metadata=(("authorization", f"Bearer {token}"),), timeout=5)
        ok = HttpLogExporter(endpoint=guarded.url + "/v1/logs", headers=auth)
        assert ok.export(event_only_calls(1).records) is LogRecordExportResult.SUCCESS


@pytest.mark.slow
def test_a_record_whose_span_never_comes_is_counted_unmatched_after_the_hold_time(tmp_path: Path) -> None:
    with run_server(tmp_path, "--hold-timeout", "0.3") as server:
        call = event_only_calls(1, plain_logs=0)
        assert HttpLogExporter(endpoint=server.url + "/v1/logs").export(call.records) is LogRecordExportResult.SUCCESS
        wait_until(lambda: metric(server, "otel_honeyhive_log_records_unmatched_total") == 1, 10,
                   explain="the record to be given up as unmatched")
        assert metric(server, "otel_honeyhive_log_records_joined_total") == 0


def applied(honeyhive: FakeHoneyHive) -> dict[str, dict[str, Any]]:
    """Every event HoneyHive was sent, with every PUT /events applied in order (HoneyHive's rules)."""
    events: dict[str, dict[str, Any]] = {}
    for request in list(honeyhive.requests):
        if request.path == "/events/batch":
            for event in request.body["events"]:
                events[event["event_id"]] = event
        elif request.method == "PUT" and request.body["event_id"] in events:
            body = dict(request.body)
            event_id = body.pop("event_id")
            events[event_id] = Update(event_id, body).apply_to(events[event_id])
    return events


@pytest.mark.slow
@pytest.mark.parametrize("spool", [False, True], ids=["direct", "spool"])
def test_to_honeyhive_a_late_record_is_an_update_of_the_shipped_event(tmp_path: Path, spool: bool) -> None:
    """The order reversed on purpose, forwarding to HoneyHive (directly, and through the outbox spool): the spans'
    events are shipped first, the record then reaches HoneyHive as `PUT /events` of the model event."""
    with fake_honeyhive() as honeyhive:
        args = ["--api-key", "k", "--server-url", honeyhive.url, "--source", SOURCE]
        if spool:
            args += ["--spool-dir", str(tmp_path / "spool")]
        with run_server(tmp_path, *args) as server:
            call = event_only_calls(1, plain_logs=0)
            span_exporter, log_exporter = exporters(server, "http")
            assert span_exporter.export(call.spans) is SpanExportResult.SUCCESS
            (expected,) = model_events(expected_events(span_only_views(call)))
            wait_until(lambda: expected["event_id"] in applied(honeyhive), 10, explain="the model event shipped")
            assert not applied(honeyhive)[expected["event_id"]]["outputs"]
            assert log_exporter.export(call.records) is LogRecordExportResult.SUCCESS
            wait_until(lambda: applied(honeyhive)[expected["event_id"]]["outputs"], 10,
                       explain="the late record's update of the model event")
            model = applied(honeyhive)[expected["event_id"]]
            assert model["outputs"] == expected["outputs"]
            assert model["metadata"]["log_record_inputs"] == {"chat_history": expected["inputs"]["chat_history"]}
            puts = [r for r in honeyhive.requests if r.method == "PUT"]
            assert [r.body["event_id"] for r in puts] == [expected["event_id"]], "one update, of that event"
