"""Spans from the real OpenTelemetry SDK that exercise every feature an OTLP decoder must carry, and helpers
to turn them into OTLP/JSON the way real senders write it.

Shared by the decoder tests and the span codec tests, so all of them check against the same ground truth:
`from_readable_span` applied to these SDK spans.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from tests.support.spans import Recorder, provider_exporting_to

REMOTE_TRACE_ID = 0x5B8EFFF798038103D269B633813FC60C
REMOTE_PARENT_ID = 0xEEE19B7EC3C1B173

EVERY_TYPE: dict[str, Any] = {
    "str": "hello",
    "str.empty": "",
    "str.unicode": "héllo ✓ 日本",
    "bool.true": True,
    "bool.false": False,
    "int": 42,
    "int.zero": 0,
    "int.negative": -7,
    "int.big": 2**62 + 1,
    "int.min": -(2**63),
    "float": 0.25,
    "float.zero": 0.0,
    "float.negative": -1.5e300,
    "float.inf": float("inf"),
    "seq.str": ["a", "b", ""],
    "seq.bool": [True, False],
    "seq.int": [1, 2, -3],
    "seq.float": [1.5, -2.5],
    "seq.empty": [],
    "seq.mixed": [1, "a", True, None, 2.5],
    "seq.nested": [[1, 2], ["x"]],
    "bytes": b"\x00\xffraw",
    "bytes.empty": b"",
    "map": {"k": 1, "inner": {"list": [1, "a"], "flag": False}},
    "map.empty": {},
    "none": None,
}
"""One attribute of every type the SDK can hold (its BoundedAttributes keeps bytes, maps and None as given)."""


def make_sdk_spans() -> list[ReadableSpan]:
    """Finished spans covering: nesting, a remote parent, all span kinds, events (with and without attributes,
    explicit timestamps), links (with/without attributes), a recorded exception, ERROR-with-description and OK
    statuses, every attribute type, two resources, scopes with and without a version, dropped counts, GenAI
    attributes the mapper classifies, and a hand-built span with no instrumentation scope."""
    recorder = Recorder("otlp-tests", resource={"deployment.environment": "test", "host.cores": 8, "feature.on": True},
                        span_limits=SpanLimits(max_span_attributes=64, max_events=4, max_links=2))
    provider, memory, resource = recorder.provider, recorder.memory, recorder.provider.resource
    tracer = provider.get_tracer("tests.otlp", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.26.0")
    bare_tracer = provider.get_tracer("tests.otlp.bare")  # no version → scope_version None

    with tracer.start_as_current_span("agent.run", kind=SpanKind.SERVER) as root:
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        root.set_attribute("gen_ai.agent.name", "helper")
        root.set_attributes(EVERY_TYPE)
        root.add_event("started", {"step": 1, "tags": ["a", "b"]}, timestamp=1_700_000_000_000_000_001)
        root.add_event("no.attributes")
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", "gpt-4o")
            chat.set_attribute("gen_ai.provider.name", "openai")
            chat.set_attribute("gen_ai.request.temperature", 0.2)
            chat.set_attribute("gen_ai.usage.input_tokens", 120)
            chat.set_attribute("gen_ai.usage.output_tokens", 30)
            chat.set_attribute("gen_ai.response.finish_reasons", ["stop"])
            chat.set_attribute(
                "gen_ai.input.messages", '[{"role":"user","parts":[{"type":"text","content":"Hi there"}]}]'
            )
            chat.set_status(Status(StatusCode.OK))
        with bare_tracer.start_as_current_span("execute_tool search", kind=SpanKind.INTERNAL) as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "search")
            tool.add_link(root.get_span_context(), {"link.kind": "caller", "link.n": 3})
            tool.add_link(SpanContext(REMOTE_TRACE_ID, 0x1122334455667788, is_remote=True))
        try:
            with tracer.start_as_current_span("failing step", kind=SpanKind.PRODUCER):
                raise RuntimeError("tool exploded")
        except RuntimeError:
            pass
        with tracer.start_as_current_span("consume", kind=SpanKind.CONSUMER) as consumer:
            consumer.set_status(Status(StatusCode.ERROR, "queue closed"))
            for i in range(6):  # max_events=4 → 2 dropped
                consumer.add_event(f"tick {i}", {"i": i})
            for i in range(70):  # max_span_attributes=64 → dropped attributes
                consumer.set_attribute(f"bulk.{i}", i)
            for i in range(3):  # max_links=2 → 1 dropped
                consumer.add_link(SpanContext(REMOTE_TRACE_ID, 0x100 + i, is_remote=False), {"i": i})

    # A span whose parent lives in another process (W3C propagation): a local root of its trace.
    remote = trace.set_span_in_context(
        NonRecordingSpan(SpanContext(REMOTE_TRACE_ID, REMOTE_PARENT_ID, is_remote=True, trace_flags=TraceFlags(1)))
    )
    with tracer.start_as_current_span("handle request", context=remote, kind=SpanKind.SERVER) as handler:
        handler.set_attribute("http.request.method", "POST")
        with tracer.start_as_current_span("db query", kind=SpanKind.CLIENT) as db:
            db.set_attribute("db.statement", "select 1")

    # Explicit start/end times, and a second resource (another ResourceSpans in the request).
    other = provider_exporting_to(memory, resource=Resource.create({"service.name": "other-service"}))
    other_tracer = other.get_tracer("tests.other", "0.1")
    span = other_tracer.start_span("timed", start_time=1_700_000_000_000_000_000)
    span.set_attribute("x", 1)
    span.end(end_time=1_700_000_000_500_000_000)

    provider.shutdown()
    other.shutdown()
    spans = list(memory.get_finished_spans())

    # A span built by hand without an instrumentation scope (as `events_to_spans` builds them).
    spans.append(
        ReadableSpan(
            name="no scope",
            context=SpanContext(0xABCDEF, 0x1234, is_remote=False, trace_flags=TraceFlags(1)),
            parent=SpanContext(0xABCDEF, 0x5678, is_remote=False),
            resource=resource,
            attributes={"k": "v"},
            events=(),
            links=(Link(SpanContext(0xABCDEF, 0x9999, is_remote=False)),),
            kind=SpanKind.INTERNAL,
            status=Status(StatusCode.UNSET),
            start_time=10,
            end_time=20,
            instrumentation_scope=None,
        )
    )
    return spans


_ID_KEYS = {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}


def hex_ids(doc: Any) -> Any:
    """`MessageToDict` writes the `bytes` id fields in base64 (the protobuf JSON mapping); OTLP/JSON requires
    hex. Rewrite them in place, as a conforming sender would have written them."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in _ID_KEYS and isinstance(value, str):
                doc[key] = base64.b64decode(value).hex()
            else:
                hex_ids(value)
    elif isinstance(doc, list):
        for item in doc:
            hex_ids(item)
    return doc


def snake_keys(doc: Any) -> Any:
    """The same document with every field name in snake_case (attribute names are values, so untouched)."""
    if isinstance(doc, dict):
        return {re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): snake_keys(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [snake_keys(v) for v in doc]
    return doc
