"""`serve --redact … --redact-regex …`: the seeded span set over OTLP/HTTP and gRPC (children first, so they are
journaled while they wait for their root), a GenAI log record, events and an update posted to the
HoneyHive-compatible API reach the held-span journal, the local store (its WAL too), a forwarding
server's spool and dead letters, HoneyHive and the server's log with none of the seeded values, every id and
number unchanged (docs/privacy.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import requests
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from otel_honeyhive import spans_to_events
from otel_honeyhive.mapper.identity import session_id_for_trace
from otel_honeyhive.pipeline.masking import MASKED_KEY
from otel_honeyhive.server.config import ServerConfig
from tests.support.event_files import cli_env
from tests.support.fake_honeyhive import FakeHoneyHive, Reply
from tests.support.seeded import (
    CARDS,
    EMAILS,
    EMPLOYEE,
    IPS,
    KEYS,
    RECORD_MESSAGES,
    SEEDED,
    TOKEN_COUNT,
    assert_ids_and_numbers_kept,
    assert_nothing_seeded,
    files_under,
    seeded_spans,
)
from tests.support.server import free_port, run_server
from tests.support.spool_files import pending_files
from tests.support.waiting import wait_until

ALL_SEEDED = (*SEEDED, EMAILS[5], EMPLOYEE)
REDACT = ("--redact", "email,credit_card", "--redact", "api_key", "--redact", "ip", "--redact-regex", r"EMP-\d{6}")
DETAILS = "gen_ai.client.inference.operation.details"
POSTED_SESSION = "7d3f0a9e-2c41-4b6e-9f5a-1e2d3c4b5a69"


def send_record(url: str, trace_id: int, span_id: int) -> None:
    """A details record for the span, as an app's OTLP log exporter sends it."""
    loggers = LoggerProvider(shutdown_on_exit=False)
    loggers.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=url + "/v1/logs")))
    span = NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False,
                                        trace_flags=TraceFlags(TraceFlags.SAMPLED)))
    loggers.get_logger("genai").emit(LogRecord(
        context=set_span_in_context(span), event_name=DETAILS,
        attributes={"gen_ai.input.messages": orjson.dumps(RECORD_MESSAGES).decode()},
    ))
    loggers.shutdown()


@pytest.mark.slow  # a real `serve` process
def test_serve_masks_spans_records_and_posted_events_before_the_journal_and_the_store(tmp_path: Path) -> None:
    spans = seeded_spans(employee=True)
    root = next(s for s in spans if s.parent is None)
    children = [s for s in spans if s is not root]
    late_chat = next(s for s in spans if s.name == "chat gpt-4o-mini")
    trace_id = root.context.trace_id
    spool = tmp_path / "spool"
    with run_server(tmp_path, "--spool-dir", str(spool), "--hold-timeout", "30", *REDACT) as server:
        exporter = OTLPSpanExporter(endpoint=server.url + "/v1/traces")
        assert exporter.export(children) is SpanExportResult.SUCCESS  # held for their root: journaled
        send_record(server.url, trace_id, late_chat.context.span_id)
        journal = [p for p in files_under(spool) if p.stat().st_size]
        assert journal, "the children are on disk in the journal"
        for path in journal:
            assert_nothing_seeded(f"the journal ({path.name})", path.read_bytes(), ALL_SEEDED)
        assert exporter.export([root]) is SpanExportResult.SUCCESS
        exporter.shutdown()  # type: ignore[no-untyped-call]

        posted = requests.post(server.url + "/events", json={"event": {
            "session_id": POSTED_SESSION, "event_type": "tool", "event_name": f"lookup for {EMAILS[0]}",
            "inputs": {"card": CARDS[0], "chat_history": [{"role": "user", "content": f"key {KEYS[0]}"}]},
            "metadata": {"client": IPS[2], "attempt": TOKEN_COUNT}, "start_time": 1_700_000_000_000,
        }}, timeout=10)
        assert posted.status_code == 200, posted.text
        event_id = posted.json()["event_id"]
        updated = requests.put(server.url + "/events", json={
            "event_id": event_id, "outputs": {"answer": f"mailed {EMAILS[1]} from {IPS[0]}"},
            "metadata": {"by": EMPLOYEE}, "duration": 12.5,
        }, timeout=10)
        assert updated.status_code == 200, updated.text

        with server.store() as store:
            stored = store.session_events(session_id_for_trace(trace_id))
            posted_event = store.get_event(event_id)
        running = files_under(tmp_path)  # while it runs: the store's -wal and -shm files too
        assert any(p.name.endswith("-wal") for p in running)
        for path in running:
            assert_nothing_seeded(f"{path.relative_to(tmp_path)} (server running)", path.read_bytes(), ALL_SEEDED)

    assert_ids_and_numbers_kept(spans_to_events(spans), stored)
    by_name = {event["event_name"]: event for event in stored}
    assert by_name["handle request for <email>"]["metadata"]["note"] == "key <api_key> by <redacted>"
    assert by_name["chat gpt-4o-mini"]["inputs"]["chat_history"] == [{"role": "user", "content": "I am <email>"}]
    assert by_name["chat gpt-4o-mini"]["metadata"][MASKED_KEY] == 1, "the joined record's replacement counts"
    assert all(event["metadata"].get(MASKED_KEY, 0) > 0 for event in stored)
    assert posted_event is not None
    assert posted_event["event_name"] == "lookup for <email>" and posted_event["session_id"] == POSTED_SESSION
    assert posted_event["inputs"] == {"card": "<credit_card>",
                                      "chat_history": [{"role": "user", "content": "key <api_key>"}]}
    assert posted_event["metadata"]["attempt"] == TOKEN_COUNT and posted_event["metadata"][MASKED_KEY] == 4
    assert posted_event["outputs"] == {"answer": "mailed <email> from <ip>"}
    assert posted_event["metadata"]["by"] == "<redacted>" and posted_event["duration"] == 12.5

    files = files_under(tmp_path)
    assert {p.name for p in files} >= {"otel-honeyhive.db"}, "the search covers the store"
    for path in files:
        assert_nothing_seeded(str(path.relative_to(tmp_path)), path.read_bytes(), ALL_SEEDED)


@pytest.mark.slow
def test_a_forwarding_server_spools_and_dead_letters_only_masked_events(
    tmp_path: Path, honeyhive: FakeHoneyHive
) -> None:
    honeyhive.then(Reply(503), Reply(400, body=b'{"success": false, "error": "bad event"}'))
    spool = tmp_path / "spool"
    refused, shipped = seeded_spans(), seeded_spans()
    with run_server(tmp_path, "--api-key", "k", "--server-url", honeyhive.url, "--spool-dir", str(spool),
                    "--redact", "all", env={"HH_TIMEOUT": "0.5"}, grpc=True) as server:
        exporter = OTLPSpanExporter(endpoint=server.url + "/v1/traces")
        assert exporter.export(refused) is SpanExportResult.SUCCESS
        outbox = spool / "outbox"
        wait_until(lambda: (outbox / "dead").exists() and not pending_files(outbox), 20,
                   explain="the first batch to be dead-lettered", diagnose=server.stderr)
        exporter.shutdown()  # type: ignore[no-untyped-call]
        over_grpc = GrpcSpanExporter(endpoint=server.grpc_target, insecure=True)
        assert over_grpc.export(shipped) is SpanExportResult.SUCCESS  # the gRPC input is masked alike
        over_grpc.shutdown()
        wait_until(lambda: len(honeyhive.events) == len(shipped), 20, explain="the second batch to arrive",
                   diagnose=server.stderr)
        log = server.stderr()

    assert_ids_and_numbers_kept(spans_to_events(shipped), honeyhive.events)
    assert "bad event" in log or "400" in log, "the refusal was logged (and searched)"
    files = files_under(tmp_path)
    assert any(p.suffix == ".rec" and "dead" in p.parts for p in files), "the search covers dead letters"
    for path in files:
        assert_nothing_seeded(str(path.relative_to(tmp_path)), path.read_bytes())
    for request in honeyhive.requests:
        assert_nothing_seeded(f"{request.method} {request.path}", orjson.dumps(request.body))


@pytest.mark.slow
@pytest.mark.parametrize(("args", "message"), [
    (("--redact-regex", "(unclosed"), b"--redact-regex: bad regular expression '(unclosed': missing ), "),
    (("--redact", "emails"), b"--redact: unknown redactor 'emails' (choose from email, credit_card, api_key, ip"),
])
def test_a_bad_redactor_is_one_clear_error_line_at_start(args: tuple[str, ...], message: bytes) -> None:
    done = subprocess.run([sys.executable, "-m", "otel_honeyhive.cli", "serve", "--http-port", str(free_port()),
                           "--grpc-port", "0", *args], capture_output=True, env=cli_env(), timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith(b"otel-honeyhive serve: " + message) and done.stderr.count(b"\n") == 1


def test_the_flags_win_over_hh_redact_and_user_patterns_come_after_the_built_in_redactors() -> None:
    def names(config: ServerConfig) -> list[str]:
        return [redactor.name for redactor in config.redactors]

    assert names(ServerConfig.resolve(environ={})) == []
    assert names(ServerConfig.resolve(environ={"HH_REDACT": "all"})) == ["email", "credit_card", "api_key",
                                                                        "api_key", "ip", "ip"]
    flags = ServerConfig.resolve(redact=["ip,email"], redact_regex=[r"EMP-\d{6}"], environ={"HH_REDACT": "all"})
    assert names(flags) == ["email", "ip", "ip", "regex"]
    with pytest.raises(ValueError, match=r"^\$HH_REDACT: unknown redactor 'nope'"):
        ServerConfig.resolve(environ={"HH_REDACT": "nope"})
