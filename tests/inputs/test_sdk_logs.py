"""HoneyHiveLogExporter: the SDK's log records, through a real `LoggerProvider` and `BatchLogRecordProcessor`, feed
the pipeline of the process's span exporter, so GenAI records join their spans' events (docs/mapping.md#genai-
content-in-log-records), whichever of the two exporters was built first and whichever signal is flushed first."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_honeyhive import HoneyHiveLogExporter, HoneyHiveSpanExporter
from otel_honeyhive.core.counters import LOG_RECORDS_IGNORED, LOG_RECORDS_JOINED, LOG_RECORDS_LATE
from otel_honeyhive.core.results import Update
from otel_honeyhive.inputs import bridge
from otel_honeyhive.inputs.sdk_logs import AutoConfiguredLogExporter, from_sdk_record
from otel_honeyhive.mapper.identity import event_id_for_span
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.fake_honeyhive import FakeHoneyHive, fake_honeyhive
from tests.support.spans import in_span

FAST = RetryPolicy(deadline=5.0, initial_backoff=0.05, max_backoff=0.2, jitter=0.2)
DETAILS = "gen_ai.client.inference.operation.details"
INPUT: list[dict[str, Any]] = [{"role": "user", "parts": [{"type": "text", "content": "What is OTel?"}]}]
OUTPUT: list[dict[str, Any]] = [
    {"role": "assistant", "parts": [{"type": "text", "content": "A standard."}], "finish_reason": "stop"},
]


MADE: list[HoneyHiveSpanExporter | HoneyHiveLogExporter] = []


@pytest.fixture(autouse=True)
def fresh_bridge() -> Iterator[None]:
    """An empty registry, and every exporter shut down after the test (a live pipeline's release thread would
    outlive it, and be restarted in the children later fork tests make)."""
    bridge._reset_for_tests()
    yield
    for exporter in reversed(MADE):
        exporter.shutdown()
    MADE.clear()
    pipeline = bridge.current()
    if pipeline is not None:
        pipeline.close(1)
    bridge._reset_for_tests()


class LogExporter(HoneyHiveLogExporter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        MADE.append(self)


@pytest.fixture
def server() -> Iterator[FakeHoneyHive]:
    with fake_honeyhive() as s:
        yield s


def span_exporter(server: FakeHoneyHive, **kwargs: Any) -> HoneyHiveSpanExporter:
    exporter = HoneyHiveSpanExporter(api_key="k", server_url=server.url, project="p", retry_policy=FAST, **kwargs)
    MADE.append(exporter)
    return exporter


def events_with_updates(server: FakeHoneyHive) -> dict[str, dict[str, Any]]:
    """What HoneyHive would hold: every event posted, with every PUT /events applied in order."""
    events: dict[str, dict[str, Any]] = {}
    for request in server.requests:
        if request.path == "/events/batch":
            for event in request.body["events"]:
                events[event["event_id"]] = event
        elif request.method == "PUT" and request.body["event_id"] in events:
            body = dict(request.body)
            event_id = body.pop("event_id")
            events[event_id] = Update(event_id, body).apply_to(events[event_id])
    return events


def model_call(tracer_provider: TracerProvider, logger_provider: LoggerProvider) -> tuple[int, int]:
    """A root span and a chat span whose content is only in a details log record (EVENT_ONLY)."""
    tracer = tracer_provider.get_tracer("app")
    logger = logger_provider.get_logger("genai")
    with tracer.start_as_current_span("answer") as root:
        with tracer.start_as_current_span("chat gpt-4o", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 5,
        }) as chat:
            logger.emit(LogRecord(event_name=DETAILS, attributes={
                "gen_ai.input.messages": INPUT, "gen_ai.output.messages": OUTPUT, "gen_ai.request.model": "gpt-4o",
            }))
            logger.emit(LogRecord(body="an ordinary log line", severity_number=SeverityNumber.INFO))
        return root.get_span_context().trace_id, chat.get_span_context().span_id


def assert_content(event: dict[str, Any]) -> None:
    assert event["event_type"] == "model"
    assert event["inputs"]["chat_history"] == [{"role": "user", "content": "What is OTel?"}]
    assert event["outputs"]["content"] == "A standard."


def test_an_sdk_record_becomes_a_log_record_view() -> None:
    memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # the SDK's __init__ is unannotated
    loggers = LoggerProvider(resource=Resource.create({"service.name": "svc"}))
    loggers.add_log_record_processor(SimpleLogRecordProcessor(memory))
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("s") as span:
        loggers.get_logger("scope-a").emit(LogRecord(
            event_name=DETAILS, body={"content": "hi"}, attributes={"gen_ai.input.messages": INPUT},
            severity_number=SeverityNumber.WARN, severity_text="WARN", timestamp=123,
        ))
    (item,) = memory.get_finished_logs()
    view = from_sdk_record(item)
    assert (view.trace_id, view.span_id) == (span.get_span_context().trace_id, span.get_span_context().span_id)
    assert view.event_name == DETAILS
    assert view.body == {"content": "hi"}
    assert view.attributes["gen_ai.input.messages"] == INPUT
    assert (view.severity_number, view.severity_text, view.time_ns) == (SeverityNumber.WARN.value, "WARN", 123)
    assert view.resource["service.name"] == "svc"
    assert view.scope_name == "scope-a"


def test_the_event_name_attribute_of_older_sdks_names_the_record() -> None:
    memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # the SDK's __init__ is unannotated
    loggers = LoggerProvider()
    loggers.add_log_record_processor(SimpleLogRecordProcessor(memory))
    loggers.get_logger("x").emit(LogRecord(attributes={"event.name": "gen_ai.choice"}))
    (item,) = memory.get_finished_logs()
    view = from_sdk_record(item)
    assert view.event_name == "gen_ai.choice"
    assert (view.trace_id, view.span_id) == (0, 0)


def test_a_record_of_an_unsampled_span_says_so() -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # the SDK's __init__ is unannotated
    loggers = LoggerProvider()
    loggers.add_log_record_processor(SimpleLogRecordProcessor(memory))
    for sampler_off in (True, False):
        tracer = (TracerProvider(sampler=ALWAYS_OFF) if sampler_off else TracerProvider()).get_tracer("t")
        with tracer.start_as_current_span("s"):
            loggers.get_logger("x").emit(LogRecord(event_name=DETAILS))
    unsampled, sampled = (from_sdk_record(item) for item in memory.get_finished_logs())
    assert unsampled.span_id and not unsampled.sampled
    assert sampled.sampled


@pytest.mark.parametrize("logs_first", [True, False], ids=["logs-flushed-first", "spans-flushed-first"])
def test_a_details_record_joins_its_span_whichever_signal_comes_first(server: FakeHoneyHive, logs_first: bool
                                                                      ) -> None:
    spans = span_exporter(server)
    logs = LogExporter()
    tracers, loggers = TracerProvider(), LoggerProvider()
    span_processor = SimpleSpanProcessor(spans) if not logs_first else None
    if span_processor is not None:
        tracers.add_span_processor(span_processor)  # spans exported as they end: the records come after
    else:
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        tracers.add_span_processor(BatchSpanProcessor(spans, schedule_delay_millis=60_000))
    loggers.add_log_record_processor(BatchLogRecordProcessor(logs, schedule_delay_millis=60_000))
    trace_id, chat_id = model_call(tracers, loggers)
    if logs_first:
        loggers.force_flush()
        tracers.force_flush()
    else:
        loggers.force_flush()
    chat = events_with_updates(server)[event_id_for_span(trace_id, chat_id)]
    assert chat["outputs"]["content"] == "A standard."
    if logs_first:
        assert_content(chat)
        assert spans.pipeline.counters.total(LOG_RECORDS_JOINED) == 1
        assert not [r for r in server.requests if r.method == "PUT"]
    else:  # shipped before the record came: an update (PUT /events carries no inputs)
        assert chat["metadata"]["log_record_inputs"]["chat_history"] == [{"role": "user", "content": "What is OTel?"}]
        assert spans.pipeline.counters.total(LOG_RECORDS_LATE) == 1
    assert spans.pipeline.counters.value(LOG_RECORDS_IGNORED, reason="not_genai") == 1
    tracers.shutdown()
    loggers.shutdown()


def test_a_log_exporter_built_before_the_span_exporter_feeds_its_pipeline(server: FakeHoneyHive) -> None:
    logs = LogExporter()
    spans = span_exporter(server)
    tracers, loggers = TracerProvider(), LoggerProvider()
    tracers.add_span_processor(SimpleSpanProcessor(spans))
    loggers.add_log_record_processor(BatchLogRecordProcessor(logs, schedule_delay_millis=60_000))
    trace_id, chat_id = model_call(tracers, loggers)
    loggers.force_flush()
    assert spans.pipeline.counters.total(LOG_RECORDS_LATE) == 1  # remembered: the log exporter was expected
    chat = events_with_updates(server)[event_id_for_span(trace_id, chat_id)]
    assert chat["outputs"]["content"] == "A standard."
    tracers.shutdown()
    loggers.shutdown()


def test_with_no_span_exporter_the_log_exporter_builds_one_from_the_same_settings(server: FakeHoneyHive) -> None:
    logs = LogExporter(api_key="k", server_url=server.url, project="p", retry_policy=FAST)
    loggers = LoggerProvider()
    loggers.add_log_record_processor(SimpleLogRecordProcessor(logs))
    loggers.get_logger("x").emit(LogRecord(body="plain"))
    assert bridge.current() is None  # ordinary logs (an app starting up, tracing not set up yet) build nothing
    loggers.get_logger("x").emit(LogRecord(body={"content": "hi"}, event_name="gen_ai.user.message",
                                           context=in_span(1, 2)))
    pipeline = bridge.current()
    assert pipeline is not None
    assert pipeline.joining.records.waiting_records == 1
    loggers.shutdown()
    assert pipeline.closed


def test_the_applications_span_exporter_made_later_takes_over_from_the_log_exporters_own(
        server: FakeHoneyHive) -> None:
    """One bridge per process: records that came before any span exporter built one of the log exporter's own;
    once the application makes its span exporter, records go to that one's pipeline, where its spans are."""
    logs = LogExporter(api_key="k", server_url=server.url, project="p", retry_policy=FAST)
    loggers = LoggerProvider()
    loggers.add_log_record_processor(SimpleLogRecordProcessor(logs))
    loggers.get_logger("x").emit(LogRecord(body={"content": "early"}, event_name="gen_ai.user.message",
                                           context=in_span(1, 2)))
    own = bridge.current()
    assert own is not None
    spans = span_exporter(server)
    tracers = TracerProvider()
    tracers.add_span_processor(SimpleSpanProcessor(spans))
    trace_id, chat_id = model_call(tracers, loggers)
    assert own.closed
    chat = events_with_updates(server)[event_id_for_span(trace_id, chat_id)]
    assert chat["inputs"]["chat_history"][0]["content"] == "What is OTel?"
    loggers.shutdown()
    tracers.shutdown()


def test_an_explicit_span_exporter_is_the_one_fed(server: FakeHoneyHive) -> None:
    spans = span_exporter(server)
    span_exporter(server)  # registered later: the explicit binding still wins
    logs = LogExporter(spans)
    assert logs.export([]) is LogRecordExportResult.SUCCESS
    loggers = LoggerProvider()
    loggers.add_log_record_processor(SimpleLogRecordProcessor(logs))
    loggers.get_logger("x").emit(LogRecord(body="plain"))
    assert spans.pipeline.counters.value(LOG_RECORDS_IGNORED, reason="not_genai") == 1


def test_records_still_queued_join_their_spans_whatever_the_shutdown_order(server: FakeHoneyHive) -> None:
    """The SDK shuts the two providers down in either order. An export that completes traces first flushes the
    global logger provider, so records still queued when the tracer provider shuts down join their spans (the
    input messages in `inputs.chat_history`, not an update)."""
    from opentelemetry import _logs

    spans = span_exporter(server)
    logs = LogExporter()
    loggers = LoggerProvider()
    loggers.add_log_record_processor(BatchLogRecordProcessor(logs, schedule_delay_millis=60_000))
    previous = _logs.get_logger_provider()
    _logs._internal._LOGGER_PROVIDER = loggers  # (set_logger_provider sets once)
    try:
        tracers = TracerProvider()
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        tracers.add_span_processor(BatchSpanProcessor(spans, schedule_delay_millis=60_000))
        trace_id, chat_id = model_call(tracers, loggers)
        tracers.shutdown()  # the records are still in the logs queue
        chat = events_with_updates(server)[event_id_for_span(trace_id, chat_id)]
        assert chat["outputs"]["content"] == "A standard."
        assert chat["inputs"]["chat_history"][0]["content"] == "What is OTel?"
        assert spans.pipeline.counters.total(LOG_RECORDS_JOINED) >= 1
    finally:
        _logs._internal._LOGGER_PROVIDER = previous
        loggers.shutdown()


def test_export_never_raises(server: FakeHoneyHive, caplog: pytest.LogCaptureFixture) -> None:
    spans = span_exporter(server)
    logs = LogExporter(spans)
    with caplog.at_level(logging.WARNING, logger="otel_honeyhive"):
        assert logs.export([object()]) is LogRecordExportResult.SUCCESS  # unreadable: skipped, counted
    assert "cannot be read" in caplog.text
    spans.shutdown()
    assert logs.export([object()]) is LogRecordExportResult.FAILURE  # its pipeline is closed: nowhere to go
    logs.shutdown()
    assert logs.export([object()]) is LogRecordExportResult.FAILURE


def test_the_auto_configured_log_exporter_with_a_bad_variable_stays_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HH_TIMEOUT", "abc")
    logs = AutoConfiguredLogExporter()
    MADE.append(logs)
    loggers = LoggerProvider()
    loggers.add_log_record_processor(SimpleLogRecordProcessor(logs))
    with caplog.at_level(logging.ERROR, logger="otel_honeyhive"):
        assert logs.export([]) is LogRecordExportResult.SUCCESS  # nothing to hand on: nothing built yet
        for _ in range(2):  # a GenAI record: the exporter would build its pipeline, and cannot
            loggers.get_logger("x").emit(LogRecord(body={"content": "hi"}, event_name="gen_ai.user.message",
                                                   context=in_span(1, 2)))
    assert caplog.text.count("HH_TIMEOUT") == 1
    assert "Traceback" not in caplog.text
    logs.shutdown()


def test_records_reach_the_fake_honeyhive_as_json(server: FakeHoneyHive) -> None:
    """Structured (non-string) message attributes survive to the wire as JSON."""
    spans = span_exporter(server)
    logs = LogExporter(spans)
    tracers, loggers = TracerProvider(), LoggerProvider()
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    tracers.add_span_processor(BatchSpanProcessor(spans, schedule_delay_millis=60_000))
    loggers.add_log_record_processor(SimpleLogRecordProcessor(logs))
    trace_id, chat_id = model_call(tracers, loggers)
    tracers.force_flush()
    raw = b"".join(r.raw for r in server.batches)
    assert b"What is OTel?" in raw
    json.loads(server.batches[0].raw)
    assert_content(events_with_updates(server)[event_id_for_span(trace_id, chat_id)])


def test_records_after_the_span_exporter_shut_down_are_said_once(
        server: FakeHoneyHive, caplog: pytest.LogCaptureFixture) -> None:
    """A logger provider the bridge cannot reach (not the global one), shut down after the tracer provider: its
    records cannot join anything any more; the application is told once how to order the shutdown."""
    spans = span_exporter(server)
    logs = LogExporter(spans)
    loggers = LoggerProvider()
    loggers.add_log_record_processor(BatchLogRecordProcessor(logs, schedule_delay_millis=60_000))
    tracers = TracerProvider()
    tracers.add_span_processor(SimpleSpanProcessor(spans))
    model_call(tracers, loggers)
    tracers.shutdown()
    with caplog.at_level(logging.WARNING, logger="otel_honeyhive"):
        loggers.shutdown()
    said = [r.getMessage() for r in caplog.records if "shut the LoggerProvider down before" in r.getMessage()]
    assert len(said) == 1
