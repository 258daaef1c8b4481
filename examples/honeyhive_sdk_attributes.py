"""Spans carrying HoneyHive's own attributes, as its SDK's `@trace` and `enrich_span` write them.

For code moving over from HoneyHive's SDK, or to set event fields exactly: `honeyhive_event_type` picks the event
type and the flattened buckets (`honeyhive_config.model`, `honeyhive_inputs.chat_history.0.role` …) become the
event's `config`, `inputs`, `outputs`, `metadata`, `metrics`, `feedback` and `user_properties`; they win over
what any instrumentation put on the same span.

    OPENAI_API_KEY=... HH_API_KEY=... HH_PROJECT=my-project python examples/honeyhive_sdk_attributes.py
"""

from collections.abc import Iterator
from typing import Any

import openai
from openai.types.chat import ChatCompletionMessageParam
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.mapper.identity import session_id_for_trace


def flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    """The SDK's flattening: dicts as `prefix.key`, lists as `prefix.0`, `prefix.1` …"""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(f"{prefix}.{key}", item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from flatten(f"{prefix}.{i}", item)
    elif value is not None:
        yield prefix, value


def enrich_span(span: trace.Span, **buckets: dict[str, Any]) -> None:
    for bucket, value in buckets.items():
        span.set_attributes(dict(flatten(f"honeyhive_{bucket}", value)))


provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(HoneyHiveSpanExporter()))
tracer = provider.get_tracer("support-bot")
client = openai.OpenAI()
question = "What does OpenTelemetry trace?"

with tracer.start_as_current_span("support-bot") as root:  # the session
    enrich_span(root, inputs={"question": question}, user_properties={"user_id": "user-42"})
    with tracer.start_as_current_span("answer") as span:
        span.set_attribute("honeyhive_event_type", "model")
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": "Answer in one line."}, {"role": "user", "content": question},
        ]
        enrich_span(span, config={"model": "gpt-4o-mini", "provider": "openai",
                                  "hyperparameters": {"temperature": 0.0}},
                    inputs={"chat_history": messages})
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages, temperature=0.0)
        answer = reply.choices[0].message.content or ""
        enrich_span(span, outputs={"role": "assistant", "content": answer},
                    metrics={"answer_words": len(answer.split())})
        if reply.usage is not None:
            enrich_span(span, metadata={"prompt_tokens": reply.usage.prompt_tokens,
                                        "completion_tokens": reply.usage.completion_tokens})
    enrich_span(root, outputs={"answer": answer})
    session_id = session_id_for_trace(root.get_span_context().trace_id)

provider.shutdown()  # flushes: the session and its events are delivered before the process exits
print(session_id)
