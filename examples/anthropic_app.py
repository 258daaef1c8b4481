"""Anthropic (Claude) calls traced by OpenInference's or Traceloop's Anthropic instrumentation, exported to HoneyHive.

    pip install otel-honeyhive anthropic openinference-instrumentation-anthropic
    ANTHROPIC_API_KEY=... HH_API_KEY=... HH_PROJECT=my-project python examples/anthropic_app.py  # OpenInference
    pip install opentelemetry-instrumentation-anthropic
    ANTHROPIC_API_KEY=... HH_API_KEY=... HH_PROJECT=my-project python examples/anthropic_app.py traceloop

A question with a system prompt, then a tool-use round trip: Claude asks for `get_weather`, the app runs it and
sends the `tool_result` back. Each call is a `model` event: model, provider, `max_tokens`, the chat history (system
prompt first), the answer or its tool calls, and tokens (with the prompt-cache counts). Messages are captured by
default with both instrumentations.

The `anthropic` client (2.17 and later) also traces its calls itself; beside an instrumentation that would make a
second model event per call, so this example turns the client's own spans off (`ANTHROPIC_OPEN_TELEMETRY=false`).
`ANTHROPIC_BASE_URL` and `HH_API_URL` point elsewhere, e.g. at local servers. Prints the session id.
"""

import os
import sys

import anthropic
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.mapper.identity import session_id_for_trace

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(HoneyHiveSpanExporter()))
trace.set_tracer_provider(provider)
if sys.argv[1:] == ["traceloop"]:
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor
else:
    from openinference.instrumentation.anthropic import AnthropicInstrumentor
AnthropicInstrumentor().instrument()
os.environ.setdefault("ANTHROPIC_OPEN_TELEMETRY", "false")  # read when the client is made

WEATHER_TOOL: anthropic.types.ToolParam = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def get_weather(city: str) -> str:
    return f"sunny, 21 C in {city}"


client = anthropic.Anthropic()
with trace.get_tracer("support-bot").start_as_current_span("answer-question") as root:  # the session
    client.messages.create(
        model="claude-haiku-4-5", max_tokens=200, system="You are a terse assistant.",
        messages=[{"role": "user", "content": "What does OpenTelemetry trace?"}],
    )
    question: anthropic.types.MessageParam = {"role": "user", "content": "What is the weather in Paris?"}
    asked = client.messages.create(model="claude-haiku-4-5", max_tokens=200, tools=[WEATHER_TOOL],
                                   messages=[question])
    results: list[anthropic.types.ToolResultBlockParam] = [
        {"type": "tool_result", "tool_use_id": block.id, "content": get_weather(str(block.input["city"]))}
        for block in asked.content if block.type == "tool_use"
    ]
    client.messages.create(
        model="claude-haiku-4-5", max_tokens=200, tools=[WEATHER_TOOL],
        messages=[question, {"role": "assistant", "content": asked.content}, {"role": "user", "content": results}],
    )
    session_id = session_id_for_trace(root.get_span_context().trace_id)

provider.shutdown()  # flushes: the session and its events are delivered before the process exits
print(session_id)
