"""An app's traffic with GenAI content only in log records (EVENT_ONLY), as real SDK spans and log records: what
the Collector's `file` exporter writes to a traces file and a logs file, and what `serve` is sent over OTLP."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan

from otel_honeyhive import spans_to_events
from otel_honeyhive.core.spans import from_readable_span
from tests.support.spans import Recorder, agent_span, chat_span, in_span, user_message

SOURCE = "logs-files-test"
DETAILS = "gen_ai.client.inference.operation.details"
ABSENT_SPAN = 0x0BADC0DE0BADC0DE
"""The span a stray record names: never exported."""


@dataclasses.dataclass
class Traffic:
    spans: list[ReadableSpan]
    requests: list[list[ReadableSpan]]
    """The spans as the app exported them: one request per trace, in the order the traces ended."""
    details: list[ReadableLogRecord]
    """Each model call's details record, emitted inside its span."""
    evaluations: list[ReadableLogRecord]
    """An evaluation of each model call, emitted after its trace ended."""
    stray: list[ReadableLogRecord]
    """A details record naming a span of the first trace that was never exported."""
    content: dict[int, dict[str, str]]
    """Model call span id → the content its details record carries."""

    def with_content_on_the_spans(self) -> list[dict[str, Any]]:
        """The events SPAN_ONLY gives for the same calls: what the events joined with `details` must be."""
        views = [dataclasses.replace(v, attributes={**v.attributes, **self.content[v.span_id]})
                 if v.span_id in self.content else v for v in (from_readable_span(s) for s in self.spans)]
        return spans_to_events(views, source=SOURCE)


def traffic(calls: int = 3) -> Traffic:
    recorder = Recorder("logs-app", scope="tests.logs")
    memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # the SDK's __init__ is unannotated
    logs = LoggerProvider()
    logs.add_log_record_processor(SimpleLogRecordProcessor(memory))
    genai = logs.get_logger("opentelemetry.instrumentation.genai")
    content: dict[int, dict[str, str]] = {}
    calls_made: list[tuple[int, int]] = []
    for n in range(calls):
        attributes = {"gen_ai.input.messages": user_message(f"question {n}"),
                      "gen_ai.output.messages": json.dumps([{"role": "assistant", "finish_reason": "stop",
                                                             "parts": [{"type": "text", "content": f"answer {n}"}]}])}
        with agent_span(recorder.tracer, "agent", f"question {n}"), chat_span(recorder.tracer) as chat:
            genai.emit(LogRecord(event_name=DETAILS, attributes={"gen_ai.operation.name": "chat", **attributes}))
            context = chat.get_span_context()
            content[context.span_id] = attributes
            calls_made.append((context.trace_id, context.span_id))
    details = list(memory.get_finished_logs())
    memory.clear()
    for trace_id, span_id in calls_made:
        genai.emit(LogRecord(event_name="gen_ai.evaluation.result", context=in_span(trace_id, span_id), attributes={
            "gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.9,
            "gen_ai.evaluation.score.label": "relevant"}))
    evaluations = list(memory.get_finished_logs())
    memory.clear()
    genai.emit(LogRecord(event_name=DETAILS, context=in_span(calls_made[0][0], ABSENT_SPAN),
                         attributes={"gen_ai.operation.name": "chat",
                                     "gen_ai.input.messages": user_message("lost question")}))
    stray = list(memory.get_finished_logs())
    logs.shutdown()
    spans = recorder.spans()
    by_trace: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        assert span.context is not None
        by_trace.setdefault(span.context.trace_id, []).append(span)
    return Traffic(spans, list(by_trace.values()), details, evaluations, stray, content)


def by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {event["event_id"]: event for event in events}


__all__ = ["ABSENT_SPAN", "DETAILS", "SOURCE", "Traffic", "by_id", "traffic"]
