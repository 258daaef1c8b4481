"""The Anthropic application the instrumentor tests run, each time in a process of its own (instrumentors patch
the `anthropic` module globally).

    python -m tests.instrumentors.anthropic_app openinference|traceloop|sdk

(`sdk`: no instrumentation, only the spans the `anthropic` client 2.17 makes itself; `ANTHROPIC_OPEN_TELEMETRY=false`
turns those off beside an instrumentation.)

It uses the real `anthropic` client (`ANTHROPIC_BASE_URL`, `ANTHROPIC_API_KEY`) inside one root span and exports
with `HoneyHiveSpanExporter` in a `BatchSpanProcessor` (`HH_API_URL`, `HH_PROJECT`). It prints one JSON line:
`{"session_id": ...}`.

The workload, in order: a message with a cached system prompt and sampling parameters; a message offering a tool,
answered with text and a `tool_use` block; the follow-up carrying the `tool_result`; a streamed message
(`stream=True`, the same cached system prompt: a cache read); a message through the `messages.stream()` helper; a
streamed answer with a `tool_use` block.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anthropic
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.mapper.identity import session_id_for_trace

MODEL = "claude-haiku-4-5"
ROOT_NAME = "answer-questions"
SYSTEM_PROMPT = "You are terse. Answer in one sentence."
# Typed loosely: the client's TypedDict parameter types would only add noise here.
SYSTEM: list[Any] = [{"type": "text", "text": SYSTEM_PROMPT, "cache_control": {"type": "ephemeral"}}]
QUESTION: list[Any] = [{"role": "user", "content": "What is six times seven?"}]
WEATHER_QUESTION: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "description": "Current weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
TOOL_RESULT = "sunny, 21 C"
STREAM_QUESTION: list[Any] = [{"role": "user", "content": "Tell me a very short story."}]
HELPER_QUESTION: list[Any] = [{"role": "user", "content": "Name a prime number."}]


def workload(client: anthropic.Anthropic) -> None:
    client.messages.create(model=MODEL, system=SYSTEM, messages=QUESTION, max_tokens=50,
                           stop_sequences=["END"])

    asked = client.messages.create(model=MODEL, messages=WEATHER_QUESTION, tools=TOOLS, max_tokens=200)
    call = next(block for block in asked.content if block.type == "tool_use")
    follow_up = [
        *WEATHER_QUESTION,
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in asked.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": TOOL_RESULT}]},
    ]
    client.messages.create(model=MODEL, messages=follow_up, tools=TOOLS, max_tokens=200)

    stream = client.messages.create(model=MODEL, system=SYSTEM, messages=STREAM_QUESTION, max_tokens=100,
                                    stream=True)
    for _ in stream:
        pass

    with client.messages.stream(model=MODEL, messages=HELPER_QUESTION, max_tokens=100) as helper:
        helper.get_final_message()

    streamed_call = client.messages.create(model=MODEL, messages=WEATHER_QUESTION, tools=TOOLS, max_tokens=200,
                                           stream=True)
    for _ in streamed_call:
        pass


def instrument(name: str) -> None:
    if name == "openinference":
        from openinference.instrumentation.anthropic import AnthropicInstrumentor

        AnthropicInstrumentor().instrument()
    elif name == "traceloop":
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor as TraceloopInstrumentor

        TraceloopInstrumentor().instrument()
    elif name != "sdk":
        raise SystemExit(f"unknown instrumentor {name!r}")


def main(name: str, exporter: SpanExporter | None = None) -> str:
    """Runs the workload instrumented by `name`; the session id. `exporter` replaces HoneyHive's (a debugging
    aid: an in-memory exporter shows the spans' raw attributes)."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"anthropic-{name}"}))
    provider.add_span_processor(BatchSpanProcessor(exporter or HoneyHiveSpanExporter()))
    trace.set_tracer_provider(provider)
    instrument(name)
    client = anthropic.Anthropic()  # ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY
    with trace.get_tracer("tests.instrumentors.anthropic_app").start_as_current_span(ROOT_NAME) as root:
        workload(client)
        context = root.get_span_context()
    provider.shutdown()
    return session_id_for_trace(context.trace_id)


if __name__ == "__main__":
    print(json.dumps({"session_id": main(sys.argv[1])}))
