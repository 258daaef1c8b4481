"""GenAI log records through `serve --spool-dir` survive `kill -9`: a record acknowledged before its span is in the
journal (`DIR/held`) before the 200, replayed into the joiner after a restart, and joins its span when the span
comes to the new process; it leaves the journal once handed on; a full journal refuses the request as a full
spool does; and a replayed record whose span never comes ends on its session as it would without the crash
(docs/delivery.md#the-held-span-journal).

Real `otel-honeyhive serve` processes, the stock OTLP exporters (HTTP and gRPC) as clients, real SDK records
emitted inside the model call's span; the events land in the local store, or in a fake HoneyHive."""

from __future__ import annotations

import dataclasses
import json
import signal
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_honeyhive import spans_to_events
from otel_honeyhive.core.spans import from_readable_span
from otel_honeyhive.inputs.otlp.logs import decode_logs_protobuf
from otel_honeyhive.mapper.identity import session_id_for_trace
from otel_honeyhive.mapper.log_records import record_summary
from otel_honeyhive.pipeline.joining import UNMATCHED_KEY
from tests.support.fake_honeyhive import FakeHoneyHive
from tests.support.server import RunningServer, start_server
from tests.support.spans import Recorder, agent_span, chat_span, user_message
from tests.support.spool_files import pending_files
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow  # servers killed and restarted

SOURCE = "log-journal-test"
DETAILS = "gen_ai.client.inference.operation.details"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


@dataclasses.dataclass
class Call:
    """An agent trace whose model call's content came only as a details log record (EVENT_ONLY)."""

    spans: list[ReadableSpan]
    records: list[ReadableLogRecord]
    content: dict[str, str]

    @property
    def root(self) -> ReadableSpan:
        return next(s for s in self.spans if s.parent is None)

    def with_content_on_the_span(self) -> list[dict[str, Any]]:
        """The events SPAN_ONLY gives for the same call: what the joined events must be."""
        views = [dataclasses.replace(v, attributes={**v.attributes, **self.content}) if v.name == "chat" else v
                 for v in (from_readable_span(s) for s in self.spans)]
        return sorted(spans_to_events(views, source=SOURCE), key=lambda e: e["event_id"])


def model_call(question: str = "hello", answer: str = "hi there") -> Call:
    recorder = Recorder("logs-app", scope="tests.logs")
    memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # the SDK's __init__ is unannotated
    logs = LoggerProvider()
    logs.add_log_record_processor(SimpleLogRecordProcessor(memory))
    genai = logs.get_logger("opentelemetry.instrumentation.genai")
    content = {"gen_ai.input.messages": user_message(question),
               "gen_ai.output.messages": json.dumps([{"role": "assistant", "finish_reason": "stop",
                                                      "parts": [{"type": "text", "content": answer}]}])}
    with agent_span(recorder.tracer, "agent", question), chat_span(recorder.tracer):
        genai.emit(LogRecord(event_name=DETAILS, attributes={"gen_ai.operation.name": "chat", **content}))
    logs.shutdown()
    return Call(recorder.spans(), list(memory.get_finished_logs()), content)


def serve(tmp_path: Path, *extra: str, grpc: bool = False) -> RunningServer:
    """`serve --spool-dir` into the local store (the journal is `tmp_path/spool/held`)."""
    return start_server(tmp_path, "--spool-dir", str(tmp_path / "spool"), "--source", SOURCE, *extra, grpc=grpc)


def exporters(server: RunningServer, protocol: str) -> tuple[Any, Any]:
    if protocol == "grpc":
        return (GrpcSpanExporter(endpoint=server.grpc_target, insecure=True),
                GrpcLogExporter(endpoint=server.grpc_target, insecure=True))
    return HttpSpanExporter(endpoint=server.url + "/v1/traces"), HttpLogExporter(endpoint=server.url + "/v1/logs")


def stored_events(server: RunningServer, call: Call) -> list[dict[str, Any]]:
    with server.store() as store:
        events = store.session_events(session_id_for_trace(call.root.context.trace_id))
    return sorted(events, key=lambda e: e["event_id"])


def journaled(tmp_path: Path) -> list[Path]:
    return pending_files(tmp_path / "spool" / "held")


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_a_record_acknowledged_before_its_span_survives_kill_9_and_joins_it_after_the_restart(
    tmp_path: Path, protocol: str
) -> None:
    call = model_call()
    server = serve(tmp_path, grpc=protocol == "grpc")
    _, log_exporter = exporters(server, protocol)
    assert log_exporter.export(call.records) is LogRecordExportResult.SUCCESS
    log_exporter.shutdown()
    assert len(journaled(tmp_path)) == 1, "on disk before it was acknowledged"
    server.stop(signal.SIGKILL)

    restarted = serve(tmp_path, grpc=protocol == "grpc")
    try:
        span_exporter, _ = exporters(restarted, protocol)
        assert span_exporter.export(call.spans) is SpanExportResult.SUCCESS
        span_exporter.shutdown()
        events = stored_events(restarted, call)
        assert events == call.with_content_on_the_span(), "joined as if nothing had happened"
        (model,) = [e for e in events if e["event_type"] == "model"]
        assert model["outputs"]["content"] == "hi there"
        assert not journaled(tmp_path), "the record left the journal with the event it joined"
    finally:
        assert restarted.stop() == 0, restarted.stderr()


def test_records_leave_the_journal_once_their_events_are_in_the_outbox_and_it_does_not_grow(
    tmp_path: Path, honeyhive: FakeHoneyHive
) -> None:
    server = start_server(tmp_path, "--api-key", "hh-key", "--server-url", honeyhive.url, "--spool-dir",
                          str(tmp_path / "spool"), "--source", SOURCE, env={"HH_TIMEOUT": "1"})
    span_exporter, log_exporter = exporters(server, "http")
    calls = [model_call(f"question {i}", f"answer {i}") for i in range(5)]
    try:
        for call in calls:
            assert log_exporter.export(call.records) is LogRecordExportResult.SUCCESS
            assert len(journaled(tmp_path)) == 1
            assert span_exporter.export(call.spans) is SpanExportResult.SUCCESS
            assert not journaled(tmp_path), "released as soon as the joined events were in the outbox"
        expected = [e for call in calls for e in call.with_content_on_the_span() if e["event_type"] == "model"]
        wait_until(lambda: {e["event_id"] for e in expected} <= {e["event_id"] for e in honeyhive.events}, 30,
                   explain="every joined model event delivered", diagnose=server.stderr)
        delivered = {e["event_id"]: e for e in honeyhive.events}
        for event in expected:
            assert delivered[event["event_id"]]["outputs"] == event["outputs"]
    finally:
        span_exporter.shutdown()
        log_exporter.shutdown()
        assert server.stop() == 0, server.stderr()
    assert not journaled(tmp_path)


def test_a_full_journal_refuses_the_logs_request_as_a_full_spool_does(tmp_path: Path) -> None:
    server = serve(tmp_path, "--spool-max-bytes", "4096", grpc=True)
    try:
        accepted: list[Call] = []
        for i in range(40):
            call = model_call(f"question {i}" + " padding" * 40)
            answer = requests.post(server.url + "/v1/logs", data=encode_logs(call.records).SerializeToString(),
                                   headers=PROTOBUF, timeout=10)
            if answer.status_code != 200:
                assert answer.status_code == 503, answer.text
                assert int(answer.headers["Retry-After"]) >= 1
                break
            accepted.append(call)
        assert accepted and len(accepted) < 40, "some taken, then refused"
        channel = grpc.insecure_channel(server.grpc_target)
        stub = logs_service_pb2_grpc.LogsServiceStub(channel)  # type: ignore[no-untyped-call]  # generated
        with pytest.raises(grpc.RpcError) as err:
            stub.Export(encode_logs(model_call("refused" + " padding" * 40).records), timeout=10)
        assert err.value.code() is grpc.StatusCode.UNAVAILABLE
        assert dict(err.value.trailing_metadata() or ())["retry-after"]
        channel.close()
        assert len(journaled(tmp_path)) == len(accepted), "the refused requests were not taken"
        span_exporter, _ = exporters(server, "http")
        for call in accepted:  # what was acknowledged joins its span
            assert span_exporter.export(call.spans) is SpanExportResult.SUCCESS
            assert stored_events(server, call) == call.with_content_on_the_span()
        span_exporter.shutdown()
        assert not journaled(tmp_path)
    finally:
        assert server.stop() == 0, server.stderr()


def test_a_replayed_record_whose_span_never_comes_ends_on_its_session_as_without_the_crash(tmp_path: Path) -> None:
    """The model call's span is lost for good (only the agent's root comes): after the record wait (ten times
    the hold time) the replayed record is kept in the session event's metadata, as it would have been had the
    server not been killed."""
    call = model_call()
    (view,) = decode_logs_protobuf(encode_logs(call.records).SerializeToString()).records
    server = serve(tmp_path, "--hold-timeout", "0.2")
    _, log_exporter = exporters(server, "http")
    assert log_exporter.export(call.records) is LogRecordExportResult.SUCCESS
    log_exporter.shutdown()
    server.stop(signal.SIGKILL)

    restarted = serve(tmp_path, "--hold-timeout", "0.2")
    try:
        span_exporter, _ = exporters(restarted, "http")
        assert span_exporter.export([call.root]) is SpanExportResult.SUCCESS
        span_exporter.shutdown()
        session_id = session_id_for_trace(call.root.context.trace_id)

        def kept() -> list[Any]:
            session = next(e for e in stored_events(restarted, call) if e["event_id"] == session_id)
            return list(session.get("metadata", {}).get(UNMATCHED_KEY, []))

        wait_until(lambda: bool(kept()), 30, explain="the replayed record kept on its session",
                   diagnose=restarted.stderr)
        assert kept() == [json.loads(json.dumps(record_summary(view)))]
        wait_until(lambda: not journaled(tmp_path), 10, explain="the journal emptied")
    finally:
        assert restarted.stop() == 0, restarted.stderr()


def test_a_killed_servers_waiting_record_is_taken_over_by_another_server_on_the_directory(
    tmp_path: Path, honeyhive: FakeHoneyHive
) -> None:
    """Two servers share a spool directory; one is killed holding a record whose span has not come. The other
    takes its journal over within seconds, and the span, sent to it, is joined with the record's content."""
    def bridge() -> RunningServer:
        return start_server(tmp_path, "--api-key", "hh-key", "--server-url", honeyhive.url, "--spool-dir",
                            str(tmp_path / "spool"), "--source", SOURCE, env={"HH_TIMEOUT": "1"})

    call = model_call()
    survivor, killed = bridge(), bridge()
    try:
        _, log_exporter = exporters(killed, "http")
        assert log_exporter.export(call.records) is LogRecordExportResult.SUCCESS
        log_exporter.shutdown()
        killed.stop(signal.SIGKILL)
        wait_until(lambda: [p.parent.name.split("-")[0] for p in journaled(tmp_path)] == [str(survivor.proc.pid)],
                   20, explain="the killed server's journaled record taken over", diagnose=survivor.stderr)
        span_exporter, _ = exporters(survivor, "http")
        assert span_exporter.export(call.spans) is SpanExportResult.SUCCESS
        span_exporter.shutdown()
        (expected,) = [e for e in call.with_content_on_the_span() if e["event_type"] == "model"]
        wait_until(lambda: any(e["event_id"] == expected["event_id"] for e in honeyhive.events), 30,
                   explain="the joined model event delivered", diagnose=survivor.stderr)
        (model,) = [e for e in honeyhive.events if e["event_id"] == expected["event_id"]]
        assert model["outputs"] == expected["outputs"]
        assert not journaled(tmp_path)
    finally:
        assert survivor.stop() == 0, survivor.stderr()
