"""Metrics that apps send to the bridge by default are acknowledged and not kept, with a `partial_success` that
says so, over HTTP and gRPC, from the stock OTLP exporters; logs are taken (a plain application log is counted,
not rejected: test_logs_receiver.py has the GenAI records that join their spans); HoneyHive's SDK path
(`/opentelemetry/v1/traces`) takes traces as `/v1/traces` does."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import grpc
import pytest
import requests
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult, MetricsData

from otel_honeyhive.mapper.identity import session_id_for_trace
from otel_honeyhive.outputs.files import spans_to_otlp_json
from tests.support.server import RunningServer, run_server
from tests.support.spans import Recorder

PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with run_server(tmp_path, grpc=True) as running:
        yield running


def _metrics() -> MetricsData:
    """Real SDK metrics: a counter with two attribute sets and a histogram (three data points)."""
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("tests.signals")
    counter = meter.create_counter("requests")
    counter.add(1, {"route": "/a"})
    counter.add(2, {"route": "/b"})
    meter.create_histogram("latency").record(12.5)
    data = reader.get_metrics_data()
    assert data is not None
    return data


def _log_records(count: int) -> Sequence[ReadableLogRecord]:
    """Real SDK log records, emitted through the Logs API."""
    memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # the SDK's __init__ is unannotated
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = provider.get_logger("tests.signals")
    for i in range(count):
        logger.emit(LogRecord(body=f"record {i}", severity_number=SeverityNumber.WARN))
    return memory.get_finished_logs()


def test_metrics_over_http_from_the_stock_exporter_succeed(server: RunningServer) -> None:
    exporter = HttpMetricExporter(endpoint=server.url + "/v1/metrics")
    assert exporter.export(_metrics()) is MetricExportResult.SUCCESS


def test_metrics_are_answered_with_every_data_point_counted_as_not_kept(server: RunningServer) -> None:
    body = encode_metrics(_metrics()).SerializeToString()
    answer = requests.post(server.url + "/v1/metrics", data=body, headers=PROTOBUF, timeout=10)
    assert answer.status_code == 200
    response = metrics_service_pb2.ExportMetricsServiceResponse.FromString(answer.content)
    assert response.partial_success.rejected_data_points == 3
    assert "keeps traces and logs, not metrics" in response.partial_success.error_message
    assert "OTEL_METRICS_EXPORTER=none" in response.partial_success.error_message


def test_metrics_and_logs_over_grpc_from_the_stock_exporters_succeed(server: RunningServer) -> None:
    metrics = GrpcMetricExporter(endpoint=server.grpc_target, insecure=True)
    assert metrics.export(_metrics()) is MetricExportResult.SUCCESS
    logs = GrpcLogExporter(endpoint=server.grpc_target, insecure=True)
    assert logs.export(_log_records(2)) is LogRecordExportResult.SUCCESS


def test_plain_logs_over_http_are_taken_and_none_is_rejected(server: RunningServer) -> None:
    records = _log_records(4)
    assert HttpLogExporter(endpoint=server.url + "/v1/logs").export(records) is LogRecordExportResult.SUCCESS
    body = encode_logs(records).SerializeToString()
    answer = requests.post(server.url + "/v1/logs", data=body, headers=PROTOBUF, timeout=10)
    assert answer.status_code == 200
    response = logs_service_pb2.ExportLogsServiceResponse.FromString(answer.content)
    assert not response.HasField("partial_success"), "kept: nothing rejected"


def test_a_grpc_logs_request_that_is_not_one_is_invalid_argument(server: RunningServer) -> None:
    with grpc.insecure_channel(server.grpc_target) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
        with pytest.raises(grpc.RpcError) as raised:
            export(b"\xff\xff\xff", timeout=10)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid OTLP logs protobuf" in (raised.value.details() or "")


def test_a_metrics_body_that_is_not_one_is_400_naming_the_signal(server: RunningServer) -> None:
    answer = requests.post(server.url + "/v1/metrics", data=b"{not json", timeout=10,
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and "not an OTLP metrics request" in answer.text


def test_honeyhive_sdks_otlp_json_path_takes_traces_as_v1_traces_does(server: RunningServer) -> None:
    """HoneyHive's SDK posts OTLP/JSON to `{HH_API_URL}/opentelemetry/v1/traces`."""
    recorder = Recorder("honeyhive-sdk-app")
    with recorder.tracer.start_as_current_span("pipeline") as root:
        root.set_attribute("honeyhive_inputs.question", "why?")
    (span,) = recorder.spans()
    answer = requests.post(server.url + "/opentelemetry/v1/traces", json=spans_to_otlp_json([span]), timeout=10)
    assert answer.status_code == 200, answer.text
    with server.store() as store:
        (session,) = store.session_events(session_id_for_trace(span.context.trace_id))
    assert session["event_type"] == "session" and session["inputs"] == {"question": "why?"}
