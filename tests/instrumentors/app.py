"""The application the instrumentor tests run, each time in a process of its own (instrumentors patch the
`openai` module globally, and some cannot be undone cleanly).

    python -m tests.instrumentors.app official|traceloop|openinference|honeyhive

It uses the real `openai` client (`OPENAI_BASE_URL`, `OPENAI_API_KEY`) inside one root span and exports with
`HoneyHiveSpanExporter` in a `BatchSpanProcessor` (`HH_API_URL`, `HH_PROJECT`). It prints one JSON line:
`{"session_id": ..., "root_event_id": ...}` (`root_event_id` is the session itself unless the app started a
HoneyHive session explicitly, as HoneyHive's SDK does).

The workload, in order: a chat completion; a chat completion offering a tool, answered with a tool call; the
follow-up carrying the tool's result; a streaming chat completion (with `include_usage`); an embeddings call.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import openai
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.mapper.identity import event_id_for_span, session_id_for_trace

CHAT_MODEL = "gpt-4o-mini"
EMBEDDING_MODEL = "text-embedding-3-small"
ROOT_NAME = "answer-questions"
# Typed loosely: the client's TypedDict message types would only add noise here.
QUESTION: list[Any] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is six times seven?"},
]
WEATHER_QUESTION: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
TOOL_RESULT = "sunny, 21 C"
STREAM_QUESTION: list[Any] = [{"role": "user", "content": "Tell me a very short story."}]
EMBEDDING_INPUT = ["OpenTelemetry spans", "HoneyHive events"]

Call = Callable[..., Any]
Wrap = Callable[[str, dict[str, Any]], AbstractContextManager[Callable[[Any], None]]]


def no_wrap(name: str, request: dict[str, Any]) -> AbstractContextManager[Callable[[Any], None]]:
    """Instrumentors make their own spans: the app only calls the client."""
    return nullcontext(lambda response: None)


def workload(client: openai.OpenAI, wrap: Wrap = no_wrap) -> None:
    def chat(name: str, **request: Any) -> Any:
        with wrap(name, request) as record:
            response = client.chat.completions.create(**request)
            record(response)
            return response

    chat("chat", model=CHAT_MODEL, messages=QUESTION, temperature=0.2, max_tokens=50)

    asked = chat("chat with tools", model=CHAT_MODEL, messages=WEATHER_QUESTION, tools=TOOLS)
    call = asked.choices[0].message.tool_calls[0]
    follow_up = [
        *WEATHER_QUESTION,
        {
            "role": "assistant",
            "tool_calls": [{"id": call.id, "type": "function",
                            "function": {"name": call.function.name, "arguments": call.function.arguments}}],
        },
        {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT},
    ]
    chat("chat with tool result", model=CHAT_MODEL, messages=follow_up, tools=TOOLS)

    with wrap("chat stream", {"model": CHAT_MODEL, "messages": STREAM_QUESTION}) as record:
        stream = client.chat.completions.create(
            model=CHAT_MODEL, messages=STREAM_QUESTION, stream=True, stream_options={"include_usage": True}
        )
        record(list(stream))

    with wrap("embeddings", {"model": EMBEDDING_MODEL, "input": EMBEDDING_INPUT}) as record:
        record(client.embeddings.create(model=EMBEDDING_MODEL, input=EMBEDDING_INPUT))


# -- the HoneyHive SDK's own attributes, set by hand as its @trace and enrich_span set them -------------------


def flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    """HoneyHive's SDK flattening: dicts as `prefix.key`, lists as `prefix.0`; None is left out."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(f"{prefix}.{key}", item)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from flatten(f"{prefix}.{i}", item)
    elif value is not None:
        yield prefix, value


def _message_dict(message: Any) -> dict[str, Any]:
    return {k: v for k, v in message.model_dump().items() if v is not None}


def _assembled(chunks: list[Any]) -> tuple[dict[str, Any], Any]:
    """The message and usage a list of stream chunks adds up to."""
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish_reason = next((c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason), None)
    usage = next((c.usage for c in chunks if c.usage is not None), None)
    return {"role": "assistant", "content": content, "finish_reason": finish_reason}, usage


def honeyhive_spans(tracer: trace.Tracer, session_id: str) -> Wrap:
    """Around each client call, the span HoneyHive's SDK makes for `@trace(event_type="model")` plus
    `enrich_span`: `honeyhive_*` attributes with flattened buckets, and the SDK's session on every span."""

    @contextmanager
    def wrap(name: str, request: dict[str, Any]) -> Iterator[Callable[[Any], None]]:
        with tracer.start_as_current_span(name) as span:
            span.set_attribute("honeyhive.session_id", session_id)
            span.set_attribute("honeyhive_event_type", "model")
            params = {k: v for k, v in request.items() if k not in ("model", "messages", "input", "tools")}
            config: dict[str, Any] = {"model": request["model"], "provider": "openai"}
            if params:
                config["hyperparameters"] = params
            inputs = {"chat_history": request["messages"]} if "messages" in request else {"texts": request["input"]}
            for key, value in (*flatten("honeyhive_config", config), *flatten("honeyhive_inputs", inputs)):
                span.set_attribute(key, value)
            if "tools" in request:
                span.set_attribute("honeyhive_config.tools", json.dumps(request["tools"]))  # JSON, as the SDK may

            def record(response: Any) -> None:
                if isinstance(response, list):  # a stream's chunks
                    outputs, usage = _assembled(response)
                elif hasattr(response, "choices"):
                    outputs, usage = _message_dict(response.choices[0].message), response.usage
                    outputs["finish_reason"] = response.choices[0].finish_reason
                else:  # embeddings
                    outputs, usage = {"embeddings": [d.embedding for d in response.data]}, response.usage
                metadata = {
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": getattr(usage, "completion_tokens", None),
                    "total_tokens": usage.total_tokens,
                }
                for key, value in (*flatten("honeyhive_outputs", outputs), *flatten("honeyhive_metadata", metadata)):
                    span.set_attribute(key, value)

            yield record

    return wrap


def start_honeyhive_session() -> str:
    """`POST /session/start`, as `HoneyHiveTracer.init` does."""
    import requests

    reply = requests.post(
        os.environ["HH_API_URL"] + "/session/start",
        json={"session": {"project": os.environ["HH_PROJECT"], "session_name": ROOT_NAME, "source": "dev"}},
        timeout=10,
    )
    reply.raise_for_status()
    session_id: str = reply.json()["session_id"]
    return session_id


# -- main ---------------------------------------------------------------------------------------------------


def instrument(name: str) -> None:
    if name == "official":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument()  # type: ignore[no-untyped-call]
    elif name == "traceloop":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as TraceloopInstrumentor

        TraceloopInstrumentor().instrument()
    elif name == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInferenceInstrumentor

        OpenInferenceInstrumentor().instrument()
    elif name != "honeyhive":
        raise SystemExit(f"unknown instrumentor {name!r}")


def main(name: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": f"openai-{name}"}))
    provider.add_span_processor(BatchSpanProcessor(HoneyHiveSpanExporter()))
    trace.set_tracer_provider(provider)
    instrument(name)
    tracer = trace.get_tracer("tests.instrumentors.app")
    client = openai.OpenAI()  # OPENAI_BASE_URL, OPENAI_API_KEY
    explicit_session = start_honeyhive_session() if name == "honeyhive" else None
    with tracer.start_as_current_span(ROOT_NAME) as root:
        if explicit_session is None:
            workload(client)
        else:
            root.set_attribute("honeyhive.session_id", explicit_session)
            root.set_attribute("honeyhive_event_type", "chain")
            root.set_attribute("honeyhive_inputs.questions", len(QUESTION))
            workload(client, honeyhive_spans(tracer, explicit_session))
        context = root.get_span_context()
    provider.shutdown()
    session_id = explicit_session or session_id_for_trace(context.trace_id)
    root_event_id = event_id_for_span(context.trace_id, context.span_id) if explicit_session else session_id
    print(json.dumps({"session_id": session_id, "root_event_id": root_event_id}))


if __name__ == "__main__":
    main(sys.argv[1])
