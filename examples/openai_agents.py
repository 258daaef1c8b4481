"""An OpenAI Agents SDK agent traced by OpenInference's or Traceloop's Agents instrumentation, exported to HoneyHive.

    pip install otel-honeyhive openai-agents openinference-instrumentation-openai-agents
    OPENAI_API_KEY=... HH_API_KEY=... HH_PROJECT=my-project python examples/openai_agents.py  # OpenInference
    pip install opentelemetry-instrumentation-openai-agents
    OPENAI_API_KEY=... HH_API_KEY=... HH_PROJECT=my-project python examples/openai_agents.py traceloop

An agent with instructions and a function tool answers a question (the SDK's default model: the Responses API).
The app's own span is the session; under it the agent run is a `chain` event, each model call a `model` event
(model, provider, the instructions as the system message of `inputs.chat_history`, the answer or its tool calls,
tokens), and the tool call a `tool` event (its arguments as `inputs`, its result in `outputs`).

Both instrumentations are trace processors of the SDK. The SDK's own processor sends every run to OpenAI's tracing
backend; OpenInference replaces it by default (`exclusive_processor`), Traceloop only with
`replace_existing_processors=True`. `agents.set_tracing_disabled(True)` would silence the instrumentations too.
`OPENAI_BASE_URL` and `HH_API_URL` point elsewhere, e.g. at local servers. Prints the session id.
"""

import asyncio
import sys

import agents
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.mapper.identity import session_id_for_trace

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(HoneyHiveSpanExporter()))
trace.set_tracer_provider(provider)
if sys.argv[1:] == ["traceloop"]:
    from opentelemetry.instrumentation.openai_agents import OpenAIAgentsInstrumentor as TraceloopInstrumentor

    TraceloopInstrumentor(replace_existing_processors=True).instrument()
else:
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

    OpenAIAgentsInstrumentor().instrument()


@agents.function_tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"sunny, 21 C in {city}"


agent = agents.Agent(name="weather agent", instructions="You answer weather questions tersely.",
                     model="gpt-4o-mini", tools=[get_weather])


async def answer() -> str:
    with trace.get_tracer("support-bot").start_as_current_span("answer-question") as root:  # the session
        await agents.Runner.run(agent, "What is the weather in Paris?")
        return session_id_for_trace(root.get_span_context().trace_id)


session_id = asyncio.run(answer())
provider.shutdown()  # flushes: the session and its events are delivered before the process exits
print(session_id)
