"""A small RAG-style pipeline instrumented with plain OpenTelemetry: retriever, model and tool spans.

No network and no LLM: the "model" is a deterministic stub, but the spans carry what real instrumentations
emit (GenAI semantic conventions, OpenInference retrieval documents), and each step takes about as long as its
real counterpart would (`LATENCY`), so the durations in the session tree read like a real trace's. Run it either
way:

    OTEL_TRACES_EXPORTER=honeyhive HH_API_URL=http://127.0.0.1:4318 \
        opentelemetry-instrument python examples/rag_pipeline.py
    HH_API_URL=http://127.0.0.1:4318 python examples/rag_pipeline.py      # sets up the exporter itself

It prints the HoneyHive session id of the trace it made.
"""

from __future__ import annotations

import json
import sys
import time

from opentelemetry import trace

from otel_honeyhive.mapper.identity import session_id_for_trace

LATENCY = {"retrieve": 0.045, "generate": 0.38, "tool": 0.004}
"""Seconds each stubbed step takes: a vector search, a short chat completion, a local function."""

DOCUMENTS = {
    "otel": "OpenTelemetry is a vendor-neutral standard for traces, metrics and logs.",
    "honeyhive": "HoneyHive groups LLM application traces into sessions of model, tool and chain events.",
    "bridge": "otel-honeyhive maps OpenTelemetry spans to HoneyHive events and back.",
}


def configure_if_needed() -> bool:
    """Install a TracerProvider with the HoneyHive exporter unless opentelemetry-instrument already did."""
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from otel_honeyhive import HoneyHiveSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": "rag-demo"}))
    provider.add_span_processor(BatchSpanProcessor(HoneyHiveSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def retrieve(tracer: trace.Tracer, question: str) -> list[str]:
    with tracer.start_as_current_span("retrieve documents") as span:
        span.set_attribute("openinference.span.kind", "RETRIEVER")
        span.set_attribute("input.value", question)
        hits = [text for key, text in DOCUMENTS.items() if key in question.lower() or key == "bridge"]
        time.sleep(LATENCY["retrieve"])
        for i, text in enumerate(hits):
            span.set_attribute(f"retrieval.documents.{i}.document.content", text)
            span.set_attribute(f"retrieval.documents.{i}.document.score", round(1.0 - i * 0.1, 2))
        return hits


def generate(tracer: trace.Tracer, question: str, context: list[str]) -> str:
    with tracer.start_as_current_span("chat gpt-4o-mini") as span:
        messages = [
            {"role": "system", "parts": [{"type": "text", "content": "Answer only from the context."}]},
            {"role": "user", "parts": [{"type": "text", "content": question + "\n\nContext:\n" + "\n".join(context)}]},
        ]
        answer = " ".join(context[:2])
        time.sleep(LATENCY["generate"])
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.provider.name", "openai")
        span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        span.set_attribute("gen_ai.request.temperature", 0.0)
        span.set_attribute("gen_ai.request.max_tokens", 256)
        span.set_attribute("gen_ai.input.messages", json.dumps(messages))
        output = [{"role": "assistant", "finish_reason": "stop", "parts": [{"type": "text", "content": answer}]}]
        span.set_attribute("gen_ai.output.messages", json.dumps(output))
        span.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024-07-18")
        span.set_attribute("gen_ai.usage.input_tokens", 42 + 8 * len(context))
        span.set_attribute("gen_ai.usage.output_tokens", len(answer.split()))
        return answer


def word_count(tracer: trace.Tracer, text: str) -> int:
    with tracer.start_as_current_span("execute_tool word_count") as span:
        span.set_attribute("gen_ai.operation.name", "execute_tool")
        span.set_attribute("gen_ai.tool.name", "word_count")
        span.set_attribute("gen_ai.tool.call.arguments", json.dumps({"text": text}))
        count = len(text.split())
        time.sleep(LATENCY["tool"])
        span.set_attribute("gen_ai.tool.call.result", json.dumps({"words": count}))
        return count


def main(question: str = "How does the bridge relate OTel and HoneyHive?") -> str:
    owns_provider = configure_if_needed()
    tracer = trace.get_tracer("examples.rag_pipeline", "1.0")
    with tracer.start_as_current_span("rag-pipeline") as root:
        root.set_attribute("traceloop.entity.input", json.dumps({"args": [question], "kwargs": {}}))
        context = retrieve(tracer, question)
        answer = generate(tracer, question, context)
        words = word_count(tracer, answer)
        root.set_attribute("traceloop.entity.output", json.dumps({"answer": answer, "words": words}))
        session_id = session_id_for_trace(root.get_span_context().trace_id)
    if owns_provider:
        provider = trace.get_tracer_provider()
        provider.shutdown()  # type: ignore[attr-defined]
    print(session_id)
    return session_id


if __name__ == "__main__":
    main(*sys.argv[1:2])
