"""The in-process exporter with `redact=` / `mask=`: the seeded span set (and a GenAI log record joined to it)
reaches HoneyHive, the spool, its dead letters and the logs with none of the seeded values, while every id,
type, time and number is what the unmasked mapping gives (docs/privacy.md)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from otel_honeyhive import HoneyHiveLogExporter, HoneyHiveSpanExporter, spans_to_events
from otel_honeyhive.inputs import bridge
from otel_honeyhive.inputs.sdk import AutoConfiguredSpanExporter
from otel_honeyhive.pipeline.masking import MASK_FAILED, MASKED_KEY
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.fake_honeyhive import FakeHoneyHive, Reply
from tests.support.seeded import (
    EMAILS,
    RECORD_MESSAGES,
    SEEDED,
    TOKEN_COUNT,
    assert_ids_and_numbers_kept,
    assert_nothing_seeded,
    files_under,
    seeded_spans,
)
from tests.support.spool_files import pending_files
from tests.support.waiting import wait_until

FAST = RetryPolicy(deadline=1.0, initial_backoff=0.05, max_backoff=0.1)
DETAILS = "gen_ai.client.inference.operation.details"


@pytest.fixture(autouse=True)
def fresh_bridge() -> Iterator[None]:
    bridge._reset_for_tests()
    yield
    bridge._reset_for_tests()


def emit_record(exporter: HoneyHiveSpanExporter, trace_id: int, span_id: int) -> None:
    """A details record for the span, through a real LoggerProvider into the exporter's pipeline."""
    loggers = LoggerProvider(shutdown_on_exit=False)
    loggers.add_log_record_processor(SimpleLogRecordProcessor(HoneyHiveLogExporter(exporter)))
    span = NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False,
                                        trace_flags=TraceFlags(TraceFlags.SAMPLED)))
    loggers.get_logger("genai").emit(LogRecord(
        context=set_span_in_context(span), event_name=DETAILS,
        attributes={"gen_ai.input.messages": orjson.dumps(RECORD_MESSAGES).decode()},
    ))


@pytest.mark.slow  # real HTTP to a fake HoneyHive, a spool shipping on its own thread
def test_nothing_seeded_reaches_honeyhive_the_spool_its_dead_letters_or_the_logs(
    tmp_path: Path, honeyhive: FakeHoneyHive, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    honeyhive.then(Reply(503), Reply(400, body=b'{"success": false, "error": "bad event"}'))
    spool = tmp_path / "spool"
    exporter = HoneyHiveSpanExporter(api_key="k", server_url=honeyhive.url, project="p", spool_dir=spool,
                                     redact=["all"], retry_policy=FAST, hold_timeout=30)
    refused, shipped = seeded_spans(), seeded_spans()
    assert exporter.export(refused).name == "SUCCESS"  # spooled; then 503, 400: a dead letter
    outbox = spool / "outbox"
    wait_until(lambda: (outbox / "dead").exists() and not pending_files(outbox), 15,
               explain="the first batch to be dead-lettered")
    late_chat = next(s for s in shipped if s.name == "chat gpt-4o-mini")
    emit_record(exporter, late_chat.context.trace_id, late_chat.context.span_id)  # waits for its span
    assert exporter.export(shipped).name == "SUCCESS"
    assert exporter.force_flush(10_000)
    exporter.shutdown()

    received = [event for event in honeyhive.events]
    assert len(received) == len(shipped)
    assert_ids_and_numbers_kept(spans_to_events(shipped, project="p"), received)
    by_name = {event["event_name"]: event for event in received}
    root = by_name["handle request for <email>"]
    assert root["metadata"][MASKED_KEY] >= 5 and root["error"] == "failed for <email>"
    chat = by_name["chat gpt-4o"]
    assert chat["metadata"]["prompt_tokens"] == TOKEN_COUNT
    assert chat["inputs"]["chat_history"] == [{"role": "user", "content": "my key is <api_key>"}]
    joined = by_name["chat gpt-4o-mini"]
    assert joined["inputs"]["chat_history"] == [{"role": "user", "content": "I am <email>"}], \
        "the log record's content was masked before it joined its span"
    assert joined["metadata"][MASKED_KEY] == 1

    files = files_under(tmp_path)
    assert any(p.suffix == ".rec" and "dead" in p.parts for p in files), "the search covers dead letters"
    assert any(p.suffix == ".reason" for p in files)
    for path in files:
        assert_nothing_seeded(str(path.relative_to(tmp_path)), path.read_bytes(), (*SEEDED, EMAILS[5]))
    for request in honeyhive.requests:
        assert_nothing_seeded(f"{request.method} {request.path}", orjson.dumps(request.body))
    log = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert_nothing_seeded("the log", log.encode())
    assert "400" in log or "bad event" in log, "the refusal was logged (and searched)"


@pytest.mark.slow
def test_a_mask_that_raises_ships_every_event_with_the_marker_and_logs_once(
    honeyhive: FakeHoneyHive, caplog: pytest.LogCaptureFixture
) -> None:
    def mask(value: str) -> str:
        if "@" in value:
            raise ValueError(f"will not mask {value}")
        return value

    caplog.set_level(logging.DEBUG)
    exporter = HoneyHiveSpanExporter(api_key="k", server_url=honeyhive.url, project="p", mask=mask,
                                     retry_policy=FAST)
    spans = seeded_spans() + seeded_spans()
    assert exporter.export(spans).name == "SUCCESS"
    exporter.shutdown()
    received = honeyhive.events
    assert len(received) == len(spans)
    assert {e["event_name"] for e in received if e["event_type"] == "session"} == {MASK_FAILED}
    assert_nothing_seeded("the events", orjson.dumps(received), EMAILS)
    failures = [r for r in caplog.records if "mask function" in r.getMessage()]
    assert len(failures) == 1 and "ValueError" in failures[0].getMessage()
    assert_nothing_seeded("the log", "\n".join(r.getMessage() for r in caplog.records).encode(), EMAILS)


# -- configuration -----------------------------------------------------------------------------------------------


def redactor_names(exporter: HoneyHiveSpanExporter) -> set[str]:
    masker = exporter.pipeline.masker
    return set() if masker is None else {redactor.name for redactor in masker.redactors}


def test_hh_redact_turns_redactors_on_and_redact_wins_over_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HH_REDACT", "email, ip")
    choices: list[dict[str, Any]] = [{}, {"redact": ["api_key"]}, {"redact": []}, {"redact": "credit_card,email"}]
    made = [HoneyHiveSpanExporter(api_key="k", server_url="http://127.0.0.1:9", **kwargs) for kwargs in choices]
    try:
        assert [redactor_names(e) for e in made] == [{"email", "ip"}, {"api_key"}, set(), {"credit_card", "email"}]
        assert made[2].pipeline.masker is None, "an empty redact= turns masking off"
    finally:
        for exporter in made:
            exporter.shutdown()


def test_an_unknown_redactor_is_refused_and_turns_the_auto_configured_exporter_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ValueError, match="unknown redactor 'phone'"):
        HoneyHiveSpanExporter(api_key="k", server_url="http://127.0.0.1:9", redact=["phone"])
    monkeypatch.setenv("HH_REDACT", "email,phone")
    monkeypatch.setenv("HH_API_KEY", "k")
    auto = AutoConfiguredSpanExporter()
    assert auto.off
    assert any("environment variable HH_REDACT: unknown redactor 'phone'" in r.getMessage() for r in caplog.records)


def test_a_span_that_cannot_be_mapped_is_logged_without_its_name_when_masking(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = HoneyHiveSpanExporter(api_key="k", server_url="http://127.0.0.1:9", redact=["email"])
    try:
        exporter.export([ReadableSpan(name=f"for {EMAILS[0]}", context=None)])
    finally:
        exporter.shutdown()
    skipped = [r.getMessage() for r in caplog.records if "cannot be mapped" in r.getMessage()]
    assert skipped == ["otel-honeyhive: skipped a span that cannot be mapped: ValueError"]
