"""Everything arrives with the default settings, whichever batch route HoneyHive serves (docs/honeyhive-api.md):
the exporter and a forwarding `serve` against a HoneyHive serving only `/v1/events/batch` (refusing unknown
fields) and against one serving only the legacy `/events/batch`; and the exporter into the embedded local API,
which takes the v1 route as HoneyHive does."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_honeyhive import HoneyHiveSpanExporter, spans_to_events
from tests.support.fake_honeyhive import FakeHoneyHive, Routes
from tests.support.server import run_server
from tests.support.spans import provider_exporting_to
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(params=["v1", "legacy"])
def honeyhive(request: pytest.FixtureRequest) -> Iterator[FakeHoneyHive]:
    routes: Routes = request.param
    server = FakeHoneyHive(routes=routes).start()
    try:
        yield server
    finally:
        server.stop()


def traces(provider: TracerProvider, count: int = 3) -> None:
    """`count` traces: a root with a model call and a tool call, as an instrumented app makes them."""
    tracer = provider.get_tracer("tests.routes", "1.0")
    for n in range(count):
        with tracer.start_as_current_span(f"rag-{n}", attributes={"honeyhive.custom": "kept"}):
            with tracer.start_as_current_span("chat gpt-4o", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 5,
            }):
                pass
            with tracer.start_as_current_span("search", attributes={"gen_ai.tool.name": "search"}):
                pass


def recorded(count: int = 3) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    traces(provider_exporting_to(memory), count)
    return list(memory.get_finished_spans())


def assert_everything_arrived(honeyhive: FakeHoneyHive, spans: list[ReadableSpan]) -> None:
    expected = {e["event_id"] for e in spans_to_events(spans)}
    assert {e["event_id"] for e in honeyhive.events} == expected
    assert len(honeyhive.events) == len(expected), "each event once"
    served = "/v1/events/batch" if honeyhive.routes == "v1" else "/events/batch"
    assert {r.path for r in honeyhive.batches} == {served}
    assert [r.status for r in honeyhive.refused] == ([] if honeyhive.routes == "v1" else [404]), (
        "v1: nothing refused (no unknown field); legacy: the v1 route asked once, then never again")


@pytest.mark.parametrize("spooled", [False, True], ids=["direct", "spooled"])
def test_the_exporter_with_its_defaults_delivers_everything(
    tmp_path: Path, honeyhive: FakeHoneyHive, spooled: bool
) -> None:
    """Spooled, the switch happens inside one send: the shipper never sees the v1 route's 404, which it would
    hold the data for (60 s) as a configuration refusal."""
    exporter = HoneyHiveSpanExporter(api_key="k", server_url=honeyhive.url, project="demo",
                                     spool_dir=tmp_path / "spool" if spooled else None)
    memory = InMemorySpanExporter()
    provider = provider_exporting_to(exporter, memory)
    traces(provider)
    if spooled:  # the shipper delivers in the background: a switch held for 60 s would time this out
        wait_until(lambda: len(honeyhive.events) >= len(memory.get_finished_spans()), 10,
                   explain="the shipper to deliver every event")
    provider.shutdown()
    assert_everything_arrived(honeyhive, list(memory.get_finished_spans()))
    project = [e.get("project") or e["metadata"].get("project") for e in honeyhive.events]
    assert project == ["demo"] * len(project), "v1: the project travels in metadata; legacy: as the event's"


def test_serve_with_its_defaults_delivers_everything(tmp_path: Path, honeyhive: FakeHoneyHive) -> None:
    spans = recorded()
    with run_server(tmp_path, "--api-key", "k", "--server-url", honeyhive.url, "--project", "demo") as server:
        exporter = OTLPSpanExporter(endpoint=server.url + "/v1/traces")
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        exporter.shutdown()  # type: ignore[no-untyped-call]
        wait_until(lambda: len(honeyhive.events) >= len(spans), 20, explain="every event to reach HoneyHive",
                   diagnose=server.stderr)
    assert_everything_arrived(honeyhive, spans)


def test_the_embedded_local_api_takes_what_the_exporter_sends_by_default(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The exporter's defaults against `serve`'s own store: the v1 route, checked as HoneyHive checks it."""
    spans = recorded()
    with run_server(tmp_path) as server, caplog.at_level(logging.INFO, logger="otel_honeyhive"):
        exporter = HoneyHiveSpanExporter(api_key="k", server_url=server.url, project="demo")
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        exporter.shutdown()
        with server.store() as store:
            stored = [store.get_event(e["event_id"]) for e in spans_to_events(spans, project="demo")]
    assert all(e is not None and e["project"] == "demo" for e in stored), "the project, back where it was"
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and "legacy" in r.getMessage()], (
        "no switch to the legacy route: the local API took the v1 bodies")
