"""OpenAI calls traced by OpenTelemetry's official instrumentation, exported to HoneyHive.

    pip install otel-honeyhive openai opentelemetry-instrumentation-openai-v2
    OPENAI_API_KEY=... HH_API_KEY=... HH_PROJECT=my-project python examples/openai_official.py

`OPENAI_BASE_URL` points the client at any OpenAI-compatible server; `HH_API_URL=http://127.0.0.1:4318` at the
local bridge (`otel-honeyhive serve`). Prints the HoneyHive session id.
"""

import os

import openai
from opentelemetry import trace
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.mapper.identity import session_id_for_trace

# Messages reach the spans only when asked for, with a mode (the older `true` sent them as log records, which no
# span exporter sees). Without it HoneyHive still gets the model, the provider and the token counts.
os.environ.setdefault("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(HoneyHiveSpanExporter()))
trace.set_tracer_provider(provider)
OpenAIInstrumentor().instrument()  # type: ignore[no-untyped-call]  # its __init__ is unannotated

client = openai.OpenAI()
with trace.get_tracer("support-bot").start_as_current_span("answer-question") as root:  # the session
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "What does OpenTelemetry trace?"}]
    )
    session_id = session_id_for_trace(root.get_span_context().trace_id)

provider.shutdown()  # flushes: the session and its events are delivered before the process exits
print(session_id)
