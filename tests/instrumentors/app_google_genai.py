"""The google-genai application the instrumentation tests run, each time in a process of its own (the official
instrumentation patches `google.genai.models` globally).

    python -m tests.instrumentors.app_google_genai honeyhive [logs-first|spans-first] [calls|automatic]
    python -m tests.instrumentors.app_google_genai otlp

The real `google-genai` client against `GEMINI_BASE_URL` (the fake, tests/support/fake_gemini.py), instrumented by
`opentelemetry-instrumentation-google-genai` (`GoogleGenAiSdkInstrumentor`), inside one root span. `honeyhive`
exports in process with `HoneyHiveSpanExporter` and `HoneyHiveLogExporter` (`HH_API_URL`, `HH_PROJECT`); the
providers are shut down in the order named, as in tests/instrumentors/app_with_logs.py. `otlp` exports with the
stock OTLP span and log exporters, HTTP/protobuf or gRPC after `OTEL_EXPORTER_OTLP_PROTOCOL`, to
`OTEL_EXPORTER_OTLP_ENDPOINT` (a receiver). Content capture follows
`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`. Prints one JSON line: `{"session_id": ...}`.

The workload (`calls`), in order: a call with a system instruction and a thinking budget; a call offering a
function, answered with a function call; the follow-up carrying the function's result; a streamed call.
`automatic` instead makes two calls offering a Python function, which the client calls itself (automatic function
calling) and the instrumentation wraps in an `execute_tool` span: one returning an object, one a text.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from google import genai
from google.genai import types
from opentelemetry import _logs, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from otel_honeyhive.mapper.identity import session_id_for_trace
from tests.instrumentors.app_with_logs import log_processor

MODEL = "gemini-2.0-flash"
ROOT_NAME = "ask-gemini"
SYSTEM = "You are terse."
QUESTION = "What is six times seven?"
TEMPERATURE = 0.2
MAX_OUTPUT_TOKENS = 50
THINKING_BUDGET = 64
WEATHER_QUESTION = "What is the weather in Paris?"
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Current weather in a city",
    parameters=types.Schema(type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)},
                            required=["city"]),
)
TOOL_RESULT = {"weather": "sunny, 21 C"}
STREAM_QUESTION = "Tell me a very short story."
FORECAST = "rain by evening"


def get_weather(city: str) -> dict[str, str]:
    """Current weather in a city."""
    assert city
    return dict(TOOL_RESULT)


def get_forecast(city: str) -> str:
    """Tomorrow's forecast for a city."""
    assert city
    return FORECAST


def automatic_function_calling(client: genai.Client) -> None:
    for function in (get_weather, get_forecast):
        client.models.generate_content(model=MODEL, contents=WEATHER_QUESTION,
                                       config=types.GenerateContentConfig(tools=[function]))


def workload(client: genai.Client) -> None:
    client.models.generate_content(
        model=MODEL, contents=QUESTION,
        config=types.GenerateContentConfig(system_instruction=SYSTEM, temperature=TEMPERATURE,
                                           max_output_tokens=MAX_OUTPUT_TOKENS,
                                           thinking_config=types.ThinkingConfig(thinking_budget=THINKING_BUDGET)))
    tools = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])])
    question = types.Content(role="user", parts=[types.Part.from_text(text=WEATHER_QUESTION)])
    answer = client.models.generate_content(model=MODEL, contents=[question], config=tools)
    call = answer.function_calls[0] if answer.function_calls else None
    assert call is not None and call.name is not None and call.name == WEATHER.name, answer
    result = types.Content(role="user", parts=[types.Part.from_function_response(name=call.name,
                                                                                 response=TOOL_RESULT)])
    assert answer.candidates and answer.candidates[0].content
    client.models.generate_content(model=MODEL, contents=[question, answer.candidates[0].content, result],
                                   config=tools)
    for _ in client.models.generate_content_stream(model=MODEL, contents=STREAM_QUESTION):
        pass


def otlp_exporters() -> tuple[SpanExporter, LogRecordExporter]:
    """The stock OTLP exporters for `OTEL_EXPORTER_OTLP_PROTOCOL`; they read the endpoint from the environment."""
    if os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans

        return GrpcSpans(insecure=True), GrpcLogs(insecure=True)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(), OTLPLogExporter()


def main(exporters: str, order: str = "logs-first", calls: str = "calls") -> None:
    resource = Resource.create({"service.name": f"google-genai-{exporters}"})
    spans: Any
    records: Any
    if exporters == "honeyhive":
        from otel_honeyhive import HoneyHiveLogExporter, HoneyHiveSpanExporter

        spans, records = HoneyHiveSpanExporter(), HoneyHiveLogExporter()
    elif exporters == "otlp":
        spans, records = otlp_exporters()
    else:
        raise SystemExit(f"unknown exporters {exporters!r}")
    tracers = TracerProvider(resource=resource)
    tracers.add_span_processor(BatchSpanProcessor(spans))
    trace.set_tracer_provider(tracers)
    loggers = LoggerProvider(resource=resource)
    # spans-first: no record may leave before the spans have (the processor's timer would otherwise export them
    # while their trace is still held, and they would join it instead of coming late).
    loggers.add_log_record_processor(log_processor(records, order))
    _logs.set_logger_provider(loggers)

    from opentelemetry.instrumentation.google_genai import GoogleGenAiSdkInstrumentor

    # 1.1b1 declares google-genai<3; the installed 3.x client keeps the methods it wraps.
    GoogleGenAiSdkInstrumentor().instrument(skip_dep_check=True)
    client = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=os.environ["GEMINI_BASE_URL"],
                                                                      api_version="v1beta"))
    with trace.get_tracer("tests.instrumentors.app_google_genai").start_as_current_span(ROOT_NAME) as root:
        (automatic_function_calling if calls == "automatic" else workload)(client)
        trace_id = root.get_span_context().trace_id
    first, second = (loggers, tracers) if order == "logs-first" else (tracers, loggers)
    first.shutdown()
    second.shutdown()
    print(json.dumps({"session_id": session_id_for_trace(trace_id)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
