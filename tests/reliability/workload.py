"""The spans the reliability suite streams: realistic LLM traces made by the real OpenTelemetry SDK."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_honeyhive import spans_to_events

SPANS_PER_TRACE = 5


def llm_traces(traces: int, *, name: str = "agent") -> list[ReadableSpan]:
    """`traces` traces of `SPANS_PER_TRACE` spans (an agent, a retriever, a model call with messages and a
    tool under it, a final model call), in the order a BatchSpanProcessor exports them: each span when it
    ends, so children before their root."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "reliability"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.reliability")
    for i in range(traces):
        with tracer.start_as_current_span(f"{name}-{i}") as root:
            root.set_attribute("gen_ai.operation.name", "invoke_agent")
            root.set_attribute("traceloop.entity.input", json.dumps({"question": f"question {i}"}))
            with tracer.start_as_current_span("retrieve") as span:
                span.set_attribute("openinference.span.kind", "RETRIEVER")
                span.set_attribute("retrieval.documents.0.document.content", "a document " * 20)
            with tracer.start_as_current_span("chat") as span:
                span.set_attribute("gen_ai.operation.name", "chat")
                span.set_attribute("gen_ai.request.model", "gpt-4o")
                span.set_attribute("gen_ai.input.messages", json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": f"prompt {i} " + "x" * 200}]}]))
                span.set_attribute("gen_ai.usage.input_tokens", 100 + i)
                with tracer.start_as_current_span("tool") as tool:
                    tool.set_attribute("gen_ai.tool.name", "search")
            with tracer.start_as_current_span("answer") as span:
                span.set_attribute("gen_ai.operation.name", "chat")
                span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
    provider.shutdown()
    return list(memory.get_finished_spans())


def batches(spans: Sequence[ReadableSpan], size: int) -> list[list[ReadableSpan]]:
    """Consecutive batches of `size` (a trace's spans may straddle two batches, as with a real processor)."""
    return [list(spans[i:i + size]) for i in range(0, len(spans), size)]


def event_ids(spans: Iterable[ReadableSpan]) -> set[str]:
    """The event ids these spans become (the mapper is deterministic: the same in every process)."""
    return {event["event_id"] for event in spans_to_events(list(spans))}
