"""Real OpenTelemetry SDK spans for the tests: recorded by the SDK's own pipeline, never built by hand.

`Recorder` is a `TracerProvider` whose `SimpleSpanProcessor` hands each span, as it ends, to an
`InMemorySpanExporter`: the spans are exactly what an instrumented application exports, in the order it exports
them (children before their root). The factories below make the traces several test packages share: a root
with N children (`one_trace`, `traces`), realistic LLM agent traces (`llm_traces`), and the GenAI-attributed
spans they are made of (`agent_span`, `retriever_span`, `chat_span`, `tool_span`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator

from otel_honeyhive import spans_to_events

Attributes = Mapping[str, Any]


class Recorder:
    """A tracer provider recording in memory. `service` names the resource (`service.name`), `resource` adds
    attributes to it; without either, the SDK's default resource. `tracer` is the provider's tracer for the
    instrumentation scope `scope` (`version`); `provider.get_tracer` makes others."""

    def __init__(
        self, service: str | None = None, *, resource: Attributes | None = None, scope: str = "tests",
        version: str | None = None, span_limits: SpanLimits | None = None, id_generator: IdGenerator | None = None,
    ) -> None:
        self.memory = InMemorySpanExporter()
        attributes = {**({"service.name": service} if service else {}), **(resource or {})}
        self.provider = provider_exporting_to(
            self.memory, resource=Resource.create(attributes), span_limits=span_limits, id_generator=id_generator,
            shutdown_on_exit=False,  # tests make many (hypothesis, thousands): no exit handler each
        )
        self.tracer = self.provider.get_tracer(scope, version)

    def spans(self) -> list[ReadableSpan]:
        """Every span recorded so far, in the order they ended."""
        return list(self.memory.get_finished_spans())

    def finish(self) -> list[ReadableSpan]:
        """Shut the provider down (as an application does on exit); every span it recorded."""
        self.provider.shutdown()
        return self.spans()


def provider_exporting_to(
    *exporters: SpanExporter, resource: Resource | None = None, span_limits: SpanLimits | None = None,
    id_generator: IdGenerator | None = None, shutdown_on_exit: bool = True,
) -> TracerProvider:
    """A tracer provider handing each span, as it ends, to every one of `exporters` (a `SimpleSpanProcessor`
    each)."""
    provider = TracerProvider(resource=resource, span_limits=span_limits, id_generator=id_generator,
                              shutdown_on_exit=shutdown_on_exit)
    for exporter in exporters:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


# -- a root with N children ------------------------------------------------------------------------------------

MODEL_CALL: Attributes = {"gen_ai.request.model": "gpt-4o"}


def one_trace(
    name: str, children: int = 3, *, root: Attributes | None = None,
    child: Callable[[int], Attributes] = lambda i: MODEL_CALL, child_name: str = "step-{i}",
) -> list[ReadableSpan]:
    """A root `name` with `children` spans under it (named `child_name` of `i`, their number, and `name`), as
    the SDK exports them: children first, the root last. `root` and `child(i)` are their attributes; the
    children are model calls (`gen_ai.request.model`) unless told otherwise."""
    recorder = Recorder(scope="tests.traces")
    with recorder.tracer.start_as_current_span(name) as span:
        span.set_attributes(dict(root or {}))
        for i in range(children):
            with recorder.tracer.start_as_current_span(child_name.format(name=name, i=i)) as step:
                step.set_attributes(dict(child(i)))
    return recorder.finish()


def traces(
    count: int, children: int = 3, *, name: str = "trace", root: Callable[[int], Attributes] = lambda n: {},
    child: Callable[[int], Attributes] = lambda i: MODEL_CALL,
) -> list[list[ReadableSpan]]:
    """`count` traces `{name}-{n}` of `one_trace` (`root(n)` their roots' attributes), each in its own list."""
    return [one_trace(f"{name}-{n}", children, root=root(n), child=child) for n in range(count)]


# -- GenAI spans -----------------------------------------------------------------------------------------------


@contextmanager
def agent_span(tracer: trace.Tracer, name: str, question: str) -> Iterator[trace.Span]:
    """An agent invocation (`gen_ai.operation.name` invoke_agent) given `question` as its input."""
    with tracer.start_as_current_span(name) as span:
        span.set_attribute("gen_ai.operation.name", "invoke_agent")
        span.set_attribute("traceloop.entity.input", json.dumps({"question": question}))
        yield span


@contextmanager
def retriever_span(tracer: trace.Tracer, document: str, name: str = "retrieve") -> Iterator[trace.Span]:
    """A retrieval (OpenInference's RETRIEVER) that found one document."""
    with tracer.start_as_current_span(name) as span:
        span.set_attribute("openinference.span.kind", "RETRIEVER")
        span.set_attribute("retrieval.documents.0.document.content", document)
        yield span


@contextmanager
def chat_span(
    tracer: trace.Tracer, model: str = "gpt-4o", attributes: Attributes | None = None, *, name: str = "chat",
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
) -> Iterator[trace.Span]:
    """A model call in the GenAI semantic conventions (`gen_ai.operation.name` chat, `gen_ai.request.model`),
    then `attributes` in their order."""
    with tracer.start_as_current_span(name, kind=kind) as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.request.model", model)
        span.set_attributes(dict(attributes or {}))
        yield span


@contextmanager
def tool_span(tracer: trace.Tracer, tool: str = "search", name: str = "tool") -> Iterator[trace.Span]:
    """A tool call (`gen_ai.tool.name`)."""
    with tracer.start_as_current_span(name) as span:
        span.set_attribute("gen_ai.tool.name", tool)
        yield span


def user_message(text: str) -> str:
    """`gen_ai.input.messages` of one user message."""
    return json.dumps([{"role": "user", "parts": [{"type": "text", "content": text}]}])


# -- LLM agent traces ------------------------------------------------------------------------------------------

SPANS_PER_TRACE = 5


def llm_traces(traces: int, *, name: str = "agent") -> list[ReadableSpan]:
    """`traces` traces of `SPANS_PER_TRACE` spans (an agent, a retriever, a model call with messages and a
    tool under it, a final model call), in the order a BatchSpanProcessor exports them: each span when it
    ends, so children before their root."""
    recorder = Recorder("reliability", scope="tests.reliability")
    tracer = recorder.tracer
    for i in range(traces):
        with agent_span(tracer, f"{name}-{i}", f"question {i}"):
            with retriever_span(tracer, "a document " * 20):
                pass
            with chat_span(tracer, attributes={"gen_ai.input.messages": user_message(f"prompt {i} " + "x" * 200),
                                               "gen_ai.usage.input_tokens": 100 + i}), tool_span(tracer):
                pass
            with chat_span(tracer, "gpt-4o-mini", name="answer"):
                pass
    return recorder.finish()


def batches(spans: Sequence[ReadableSpan], size: int) -> list[list[ReadableSpan]]:
    """Consecutive batches of `size` (a trace's spans may straddle two batches, as with a real processor)."""
    return [list(spans[i:i + size]) for i in range(0, len(spans), size)]


def in_span(trace_id: int, span_id: int) -> Context:
    """A context whose current span is (trace_id, span_id), sampled: how a `LogRecord` names a span it was not
    emitted under. Its own `trace_id`/`span_id`/`trace_flags` arguments are deprecated, and no overload takes them
    with `event_name`."""
    span = trace.SpanContext(trace_id, span_id, is_remote=False, trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED))
    return trace.set_span_in_context(trace.NonRecordingSpan(span))


def event_ids(spans: Iterable[ReadableSpan]) -> set[str]:
    """The event ids these spans become (the mapper is deterministic: the same in every process)."""
    return {event["event_id"] for event in spans_to_events(list(spans))}
