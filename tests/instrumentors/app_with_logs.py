"""The instrumentor app with the Logs signal too: `opentelemetry-instrumentation-openai-v2` in process, with both
`HoneyHiveSpanExporter` (BatchSpanProcessor) and `HoneyHiveLogExporter` (BatchLogRecordProcessor), so that
content emitted as log records (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=EVENT_ONLY`) joins its spans.

    python -m tests.instrumentors.app_with_logs logs-first|spans-first

The same workload as tests/instrumentors/app.py. At the end the providers are shut down in the order named:
`logs-first` is the order `opentelemetry-instrument` gives at exit (the logger provider is made after the tracer
provider, and exit handlers run last-registered first); `spans-first` shuts the tracer provider down while every
record is still queued (the span exporter flushes the global logger provider before mapping the traces it ends).
Prints one JSON line: `{"session_id": ...}`.
"""

from __future__ import annotations

import json
import sys

import openai
from opentelemetry import _logs, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_honeyhive import HoneyHiveLogExporter, HoneyHiveSpanExporter
from otel_honeyhive.mapper.identity import session_id_for_trace
from tests.instrumentors.app import ROOT_NAME, workload


def log_processor(exporter: LogRecordExporter, order: str) -> BatchLogRecordProcessor:
    """The records' BatchLogRecordProcessor; for `spans-first`, one that keeps every record until the provider
    shuts down."""
    if order == "spans-first":
        return BatchLogRecordProcessor(exporter, schedule_delay_millis=3_600_000, max_export_batch_size=2048)
    return BatchLogRecordProcessor(exporter)


def main(order: str) -> None:
    resource = Resource.create({"service.name": "openai-official-logs"})
    tracers = TracerProvider(resource=resource)
    tracers.add_span_processor(BatchSpanProcessor(HoneyHiveSpanExporter()))
    trace.set_tracer_provider(tracers)
    loggers = LoggerProvider(resource=resource)
    # spans-first: no record may leave before the spans have (the processor's timer would otherwise export them
    # while their trace is still held, and they would join it instead of coming late).
    loggers.add_log_record_processor(log_processor(HoneyHiveLogExporter(), order))
    _logs.set_logger_provider(loggers)

    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()  # type: ignore[no-untyped-call]
    with trace.get_tracer("tests.instrumentors.app").start_as_current_span(ROOT_NAME) as root:
        workload(openai.OpenAI())
        trace_id = root.get_span_context().trace_id
    first, second = (loggers, tracers) if order == "logs-first" else (tracers, loggers)
    first.shutdown()
    second.shutdown()
    print(json.dumps({"session_id": session_id_for_trace(trace_id)}))


if __name__ == "__main__":
    main(sys.argv[1])
