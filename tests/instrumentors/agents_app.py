"""The application the OpenAI Agents SDK tests run, each time in a process of its own (the instrumentations
register trace processors with the SDK globally).

    python -m tests.instrumentors.agents_app openinference|traceloop

An agent with instructions, model settings and one function tool answers one question through the SDK's default
model (the Responses API, at `OPENAI_BASE_URL` with `OPENAI_API_KEY`), five times: `Runner.run`; `Runner.run_streamed`;
`Runner.run` with a tool that raises (the SDK tells the model the tool failed, and the run goes on); `Runner.run` on
`OpenAIChatCompletionsModel` (Chat Completions instead of the Responses API, as with other providers); `Runner.run`
with `RunConfig(trace_include_sensitive_data=False)` (no content in the SDK's traces). Each run is
one Agents SDK trace, so one OpenTelemetry trace, so one HoneyHive session. Spans are exported with
`HoneyHiveSpanExporter` in a `BatchSpanProcessor` (`HH_API_URL`, `HH_PROJECT`).

The SDK's own trace processor, which exports every run to OpenAI's tracing backend, is removed before the
instrumentation registers its own, so no trace leaves the machine (`agents.set_tracing_disabled(True)` is not
an option: it disables the SDK's tracing altogether, and with it the instrumentations, which are trace
processors). It prints one JSON line: `{"sessions": [plain, streamed, failing, chat, hidden], "processors": [...]}` (the
class names of the SDK's trace processors while the agent ran).
"""

from __future__ import annotations

import asyncio
import json
import sys

import agents
import openai
from agents.tracing import get_trace_provider
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.mapper.identity import session_id_for_trace

MODEL = "gpt-4o-mini"
AGENT_NAME = "weather agent"
INSTRUCTIONS = "You answer weather questions tersely."
QUESTION = "What is the weather in Paris?"
TOOL_NAME = "get_weather"
TOOL_DESCRIPTION = "Current weather in a city."


def weather_in(city: str) -> str:
    """What the tool answers: deterministic, and naming its argument, so a test can tell it was passed."""
    return f"sunny, 21 C in {city}"


@agents.function_tool(name_override=TOOL_NAME, description_override=TOOL_DESCRIPTION)
def get_weather(city: str) -> str:
    return weather_in(city)


SETTINGS = agents.ModelSettings(temperature=0.2, max_tokens=50)
AGENT = agents.Agent(name=AGENT_NAME, instructions=INSTRUCTIONS, model=MODEL, tools=[get_weather],
                     model_settings=SETTINGS)

FAILURE = "no weather station in"


@agents.function_tool(name_override=TOOL_NAME, description_override=TOOL_DESCRIPTION)
def get_weather_failing(city: str) -> str:
    raise RuntimeError(f"{FAILURE} {city}")


FAILING_AGENT = AGENT.clone(tools=[get_weather_failing])
"""The same agent, but its tool raises."""


class RootTraces(SpanProcessor):
    """Records the trace id of every root span that ends: the app does not make the spans itself (the SDK's
    trace processors do), so this is how it learns each run's session."""

    def __init__(self) -> None:
        self.trace_ids: list[int] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if span.parent is None and span.context is not None:
            self.trace_ids.append(span.context.trace_id)


def instrument(name: str) -> None:
    agents.set_trace_processors([])  # the SDK's exporter to OpenAI's tracing backend goes
    if name == "openinference":
        from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

        OpenAIAgentsInstrumentor().instrument()  # exclusive by default: it replaces the SDK's processors
    elif name == "traceloop":
        from opentelemetry.instrumentation.openai_agents import (
            OpenAIAgentsInstrumentor as TraceloopInstrumentor,
        )

        TraceloopInstrumentor(replace_existing_processors=True).instrument()
    else:
        raise SystemExit(f"unknown instrumentation {name!r}")


def trace_processors() -> list[str]:
    """The class names of the processors the SDK hands its traces to (a private list: there is no getter)."""
    processors = get_trace_provider()._multi_processor._processors  # type: ignore[attr-defined]
    return [type(p).__name__ for p in processors]


async def workload() -> None:
    await agents.Runner.run(AGENT, QUESTION)
    streamed = agents.Runner.run_streamed(AGENT, QUESTION)
    async for _ in streamed.stream_events():
        pass
    await agents.Runner.run(FAILING_AGENT, QUESTION)
    chat_model = agents.OpenAIChatCompletionsModel(model=MODEL, openai_client=openai.AsyncOpenAI())
    await agents.Runner.run(AGENT.clone(model=chat_model), QUESTION)
    await agents.Runner.run(AGENT, QUESTION, run_config=agents.RunConfig(trace_include_sensitive_data=False))


def main(name: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": f"openai-agents-{name}"}))
    roots = RootTraces()
    provider.add_span_processor(roots)
    provider.add_span_processor(BatchSpanProcessor(HoneyHiveSpanExporter()))
    trace.set_tracer_provider(provider)
    instrument(name)
    processors = trace_processors()
    asyncio.run(workload())
    provider.shutdown()
    sessions = [session_id_for_trace(trace_id) for trace_id in roots.trace_ids]
    print(json.dumps({"sessions": sessions, "processors": processors}))


if __name__ == "__main__":
    main(sys.argv[1])
