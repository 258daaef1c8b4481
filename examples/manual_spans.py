"""The five-line quickstart: the exporter in a BatchSpanProcessor, spans made by hand.

    HH_API_KEY=... HH_PROJECT=my-project python examples/manual_spans.py
    HH_API_URL=http://127.0.0.1:4318 python examples/manual_spans.py     # the local server instead
"""

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_honeyhive import HoneyHiveSpanExporter

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(HoneyHiveSpanExporter()))
tracer = provider.get_tracer("my-app")

with tracer.start_as_current_span("answer-question") as session:
    with tracer.start_as_current_span("llm-call") as span:
        span.set_attribute("gen_ai.request.model", "gpt-4o")
        span.set_attribute("gen_ai.usage.input_tokens", 12)
        span.set_attribute("gen_ai.usage.output_tokens", 30)
    print(f"{session.get_span_context().trace_id:032x}")

provider.shutdown()  # flushes: the session and its events are delivered before the process exits
