"""OpenAI calls traced by Arize's OpenInference instrumentation, exported to HoneyHive.

    pip install otel-honeyhive openai openinference-instrumentation-openai
    OPENAI_API_KEY=... HH_API_KEY=... HH_PROJECT=my-project python examples/openai_openinference.py

Messages, invocation parameters, tools and token counts are captured by default (`OPENINFERENCE_HIDE_INPUTS` and
friends hide them). `OPENAI_BASE_URL` and `HH_API_URL` point elsewhere, e.g. at local servers. Prints the
session id.
"""

import openai
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.mapper.identity import session_id_for_trace

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(HoneyHiveSpanExporter()))
trace.set_tracer_provider(provider)
OpenAIInstrumentor().instrument(tracer_provider=provider)

client = openai.OpenAI()
with trace.get_tracer("support-bot").start_as_current_span("answer-question") as root:  # the session
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "What does OpenTelemetry trace?"}]
    )
    session_id = session_id_for_trace(root.get_span_context().trace_id)

provider.shutdown()  # flushes: the session and its events are delivered before the process exits
print(session_id)
