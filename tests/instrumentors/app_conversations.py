"""A chat application whose every user turn is its own trace, as the conversation tests run it (each time in a
process of its own: instrumentors patch `openai` globally).

    python -m tests.instrumentors.app_conversations openinference|official|traceloop CONVERSATION \
        [--turns 3] [--gap SECONDS] [--otlp URL]

Each turn is a root span `turn N` around one chat completion of the real `openai` client (`OPENAI_BASE_URL`),
the conversation id given the instrumentation's way:

- openinference: `using_session(CONVERSATION)` (OpenInference's `session.id` on its spans);
- official: `gen_ai.conversation.id` on the turn's span (the GenAI semantic conventions);
- traceloop: `traceloop.association.properties.session_id` on every span, as the Traceloop SDK's span processor
  sets association properties (its OpenAI instrumentation alone does not).

Spans go to `HoneyHiveSpanExporter` (settings from `HH_*`, `HH_SESSIONS` included), or with `--otlp` to an OTLP/HTTP
endpoint (`otel-honeyhive serve`), exported after each turn (`--gap` seconds apart): each turn its own request.
Prints one JSON line: `{"trace_ids": [...32 hex per turn...]}`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import openai
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from otel_honeyhive import HoneyHiveSpanExporter
from tests.instrumentors.app import CHAT_MODEL, instrument

QUESTIONS = ("What is six times seven?", "And times eight?", "Thanks, bye.")
TRACELOOP_SESSION = "traceloop.association.properties.session_id"


class AssociationProperties(SpanProcessor):
    """What the Traceloop SDK does with `Traceloop.set_association_properties({"session_id": …})`."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        span.set_attribute(TRACELOOP_SESSION, self.session_id)


@contextmanager
def conversation(name: str, conversation_id: str) -> Iterator[None]:
    if name == "openinference":
        from openinference.instrumentation import using_session

        with using_session(conversation_id):
            yield
    else:
        with nullcontext():
            yield


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("instrumentation", choices=("openinference", "official", "traceloop"))
    parser.add_argument("conversation")
    parser.add_argument("--turns", type=int, default=len(QUESTIONS))
    parser.add_argument("--gap", type=float, default=0.0)
    parser.add_argument("--otlp", metavar="URL")
    args = parser.parse_args(argv)

    provider = TracerProvider(resource=Resource.create({"service.name": f"chat-{args.instrumentation}"}))
    if args.instrumentation == "traceloop":
        provider.add_span_processor(AssociationProperties(args.conversation))
    exporter: SpanExporter
    if args.otlp:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=args.otlp + "/v1/traces")
    else:
        exporter = HoneyHiveSpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # each turn's spans leave as it ends
    trace.set_tracer_provider(provider)
    instrument(args.instrumentation)
    tracer = trace.get_tracer("tests.instrumentors.app_conversations")
    client = openai.OpenAI()
    history: list[Any] = [{"role": "system", "content": "You are terse."}]
    trace_ids: list[str] = []
    for i in range(args.turns):
        if i and args.gap:
            time.sleep(args.gap)
        history.append({"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]})
        with conversation(args.instrumentation, args.conversation), \
                tracer.start_as_current_span(f"turn {i + 1}") as root:
            if args.instrumentation == "official":
                root.set_attribute("gen_ai.conversation.id", args.conversation)
            answer = client.chat.completions.create(model=CHAT_MODEL, messages=history)
            history.append({"role": "assistant", "content": answer.choices[0].message.content})
            trace_ids.append(f"{root.get_span_context().trace_id:032x}")
        if isinstance(exporter, HoneyHiveSpanExporter):
            exporter.force_flush()
    provider.shutdown()
    print(json.dumps({"trace_ids": trace_ids}))


if __name__ == "__main__":
    main()
