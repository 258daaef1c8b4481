"""An app with nothing HoneyHive-specific in it: OpenTelemetry's official OpenAI instrumentation, exporting
plain OTLP to the Collector sidecar (examples/collector/sidecar.yaml), which forwards to the bridge.

    otel-honeyhive serve --grpc-port 14317 --http-port 14318 --api-key "$HH_API_KEY" --auth-token "$BRIDGE_TOKEN"
    otelcol-contrib --config examples/collector/sidecar.yaml
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 OTEL_EXPORTER_OTLP_PROTOCOL=grpc python examples/sidecar_app.py

The exporters read the standard `OTEL_EXPORTER_OTLP_*` variables (endpoint, headers, protocol). Prints the
trace id; the bridge makes its HoneyHive session.
"""

import os

import openai
from opentelemetry import trace
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

os.environ.setdefault("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")


def otlp_exporter() -> SpanExporter:
    if os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter()


provider = TracerProvider(resource=Resource.create({"service.name": "sidecar-app"}))
provider.add_span_processor(BatchSpanProcessor(otlp_exporter()))
trace.set_tracer_provider(provider)
OpenAIInstrumentor().instrument()  # type: ignore[no-untyped-call]  # its __init__ is unannotated

client = openai.OpenAI()
with trace.get_tracer("sidecar-app").start_as_current_span("answer-question") as root:
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "What does a sidecar do?"}]
    )

provider.shutdown()  # flushes to the Collector
print(f"{root.get_span_context().trace_id:032x}")
