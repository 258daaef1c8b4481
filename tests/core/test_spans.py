"""`from_readable_span`: the SDK's own fields and the public API give the same view."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from otel_honeyhive.core.spans import STATUS_ERROR, _from_public_api, from_readable_span
from tests.support.spans import Recorder


def _spans() -> list[ReadableSpan]:
    recorder = Recorder("view-tests", scope="tests.view", version="0.1",
                        span_limits=SpanLimits(max_span_attributes=3, max_events=2, max_links=1))
    tracer = recorder.tracer
    remote = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=TraceFlags(1))
    with tracer.start_as_current_span("plain"):
        pass
    other = SpanContext(0xABC, 0xDEF, is_remote=False)
    with tracer.start_as_current_span(
        "busy", context=trace.set_span_in_context(NonRecordingSpan(remote)), kind=trace.SpanKind.CLIENT,
        links=[Link(other), Link(other, {"why": "retry"})],  # the newest link is kept
    ) as span:
        for i in range(5):
            span.set_attribute(f"key.{i}", i)
        for i in range(4):
            span.add_event(f"event {i}", {"n": i})
        span.set_status(Status(StatusCode.ERROR, "it broke"))
        with tracer.start_as_current_span("child", kind=trace.SpanKind.SERVER) as child:
            child.set_status(Status(StatusCode.OK))
    return recorder.finish()


def test_the_sdk_fields_and_the_public_api_agree_on_every_span() -> None:
    for span in _spans():
        assert from_readable_span(span) == _from_public_api(span)


def test_the_view_keeps_what_the_sdk_recorded_and_what_it_dropped() -> None:
    spans = {s.name: s for s in _spans()}
    plain, busy, child = spans["plain"], spans["busy"], spans["child"]
    view = from_readable_span(busy)
    assert (view.trace_id, view.parent_span_id, view.parent_is_remote) == (0x1234, 0x5678, True)
    assert view.kind == "client" and view.status_code == STATUS_ERROR and view.status_message == "it broke"
    assert (view.dropped_attributes, view.dropped_events, view.dropped_links) == (2, 2, 1)
    assert [e.name for e in view.events] == ["event 2", "event 3"]
    assert view.links[0].attributes == {"why": "retry"} and view.links[0].span_id == 0xDEF
    assert from_readable_span(child).parent_span_id == view.span_id
    assert from_readable_span(plain).parent_span_id == 0 and not from_readable_span(plain).parent_is_remote


def test_a_readable_span_built_by_hand_goes_through_the_public_api() -> None:
    ctx = SpanContext(0x99, 0x42, is_remote=False)
    span = ReadableSpan("by hand", context=ctx, attributes={"a": 1}, start_time=10, end_time=20)
    assert from_readable_span(span) == _from_public_api(span)
    assert from_readable_span(span).attributes == {"a": 1}


def test_spans_of_different_providers_and_scopes_interleaved_keep_their_own_resource_and_scope() -> None:
    """Resource attributes and scope names are read once per object and reused while spans bring the same one:
    spans alternating between providers and tracers must each still get their own."""
    memory = InMemorySpanExporter()
    tracers = []
    for service in ("a", "b"):
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(memory))
        tracers += [(service, provider.get_tracer(f"lib.{service}", "1")), (service, provider.get_tracer("bare"))]
    for i in range(12):
        service, tracer = tracers[i % len(tracers)]
        with tracer.start_as_current_span(f"{service} {i}"):
            pass
    spans = list(memory.get_finished_spans())
    views = [from_readable_span(s) for s in spans]
    assert views == [_from_public_api(s) for s in spans]
    for span, view in zip(spans, views, strict=True):
        assert view.resource["service.name"] == span.name.split()[0]
        assert span.instrumentation_scope is not None
        assert (view.scope_name, view.scope_version) == (span.instrumentation_scope.name,
                                                         span.instrumentation_scope.version or None)
