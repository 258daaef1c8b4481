"""Span filtering end to end: filtering a trace's middle spans leaves a well-formed session in the store (every
parent exists, the root is the session), whether the spans were filtered in process by the exporter or at the
receiver, and whether the trace arrived whole or in parts (a part released by the hold time before the rest).

Real SDK tracer providers; the exporter (`HoneyHiveSpanExporter`) and the OTLP exporters (HTTP and gRPC) send to a
real `otel-honeyhive serve`; the events are read from its store and the counts from `/metrics`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Span, set_span_in_context

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.cli.main import main
from otel_honeyhive.core.events import Event
from otel_honeyhive.mapper.identity import session_id_for_trace
from otel_honeyhive.outputs.memory import MemoryOutput
from otel_honeyhive.server.config import ServerConfig
from tests.support.metrics import scrape, value
from tests.support.server import RunningServer, run_server
from tests.support.waiting import wait_until

HTTP_SCOPE = "opentelemetry.instrumentation.httpx"
APP_SCOPE = "app"
FILTERED = "otel_honeyhive_spans_filtered_total"
HOLD = 0.3
"""The receiver's (or exporter's) hold time in the tests that ship a trace in parts."""


class AgentTrace:
    """root → agent → POST (an HTTP client span, to drop) → chat (a model call) → GET (to drop); root → SELECT
    (a database span the `genai` preset drops). `in_parts` ends the spans so that the receiver must ship the trace
    in three parts: the POST alone, then the chat and the GET, then the rest with the root."""

    names = ("root", "agent", "POST", "chat gpt-4o", "GET", "SELECT")

    def __init__(self, provider: TracerProvider) -> None:
        self.app = provider.get_tracer(APP_SCOPE)
        self.http = provider.get_tracer(HTTP_SCOPE)
        self.db = provider.get_tracer("opentelemetry.instrumentation.psycopg")

    def run(self, *, in_parts: bool, provider: TracerProvider, wait: float = 0.0) -> int:
        """Record the trace; its trace id."""
        root = self.app.start_span("root")
        agent = self._child(self.app, "agent", root, {"gen_ai.operation.name": "invoke_agent"})
        post = self._child(self.http, "POST", agent, {"http.request.method": "POST"})
        chat = self._child(self.app, "chat gpt-4o", post, {"gen_ai.operation.name": "chat",
                                                           "gen_ai.request.model": "gpt-4o"})
        get = self._child(self.http, "GET", chat, {"http.request.method": "GET"})
        select = self._child(self.db, "SELECT", root, {"db.system": "postgresql"})
        if in_parts:  # ends out of order, each part left to the hold time before the next
            post.end()
            provider.force_flush()
            time.sleep(wait)
            get.end()
            chat.end()
            provider.force_flush()
            time.sleep(wait)
        else:
            get.end()
            chat.end()
            post.end()
        select.end()
        agent.end()
        root.end()
        provider.force_flush()
        return root.get_span_context().trace_id

    @staticmethod
    def _child(tracer: Any, name: str, parent: Span, attributes: dict[str, Any]) -> Span:
        span: Span = tracer.start_span(name, context=set_span_in_context(parent), attributes=attributes)
        return span


@contextmanager
def provider_with(exporter: SpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider(resource=Resource.create({"service.name": "filtering-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield provider
    finally:
        provider.shutdown()


def stored_session(server: RunningServer, trace_id: int, names: set[str]) -> dict[str, Event]:
    """The session's events once exactly `names` are stored, by name, checked well formed."""
    session = session_id_for_trace(trace_id)

    def events() -> list[Event] | None:
        with server.store() as store:
            found = store.session_events(session)
        return found if {event["event_name"] for event in found} >= names else None

    found = wait_until(events, 15, explain=f"the events {sorted(names)}", diagnose=server.stderr)
    assert found is not None
    assert {event["event_name"] for event in found} == names
    ids = {event["event_id"] for event in found}
    sessions = [event for event in found if event["event_type"] == "session"]
    assert [event["event_id"] for event in sessions] == [session]
    for event in found:
        assert event["event_id"] == session or event["parent_id"] in ids, f"{event['event_name']} is dangling"
    return {event["event_name"]: event for event in found}


def assert_reattached(named: dict[str, Event]) -> None:
    assert named["chat gpt-4o"]["parent_id"] == named["agent"]["event_id"]
    assert named["agent"]["parent_id"] == named["root"]["event_id"]


# -- in process: the exporter --------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("in_parts", [False, True], ids=["whole", "in-parts"])
def test_the_exporter_filters_middle_spans_and_the_store_gets_a_well_formed_session(
    tmp_path: Path, in_parts: bool
) -> None:
    with run_server(tmp_path) as server:
        exporter = HoneyHiveSpanExporter(api_key="k", server_url=server.url, drop_scopes=[HTTP_SCOPE],
                                         drop_spans=["SELECT"], hold_timeout=HOLD)
        with provider_with(exporter) as provider:
            trace_id = AgentTrace(provider).run(in_parts=in_parts, provider=provider, wait=HOLD * 3)
            stats = exporter.stats
        named = stored_session(server, trace_id, {"root", "agent", "chat gpt-4o"})
    assert_reattached(named)
    assert stats.spans_filtered == 3
    assert stats.events_delivered >= 3


def test_the_exporter_reads_the_environment_and_its_keywords_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HH_DROP_SCOPES", f"{HTTP_SCOPE}, other")
    monkeypatch.setenv("HH_DROP_SPANS", "SELECT")
    monkeypatch.setenv("HH_SPAN_FILTER", "genai")
    output = MemoryOutput()
    exporter = HoneyHiveSpanExporter(output=output, drop_spans=[])  # an empty list: no span-name rule
    span_filter = exporter.pipeline.mapper.span_filter
    assert span_filter is not None
    assert (span_filter.presets, span_filter.drop_scopes, span_filter.drop_spans) == (("genai",), (HTTP_SCOPE,
                                                                                                     "other"), ())
    exporter.shutdown()
    monkeypatch.setenv("HH_SPAN_FILTER", "noise")
    with pytest.raises(ValueError, match=r"^environment variable HH_SPAN_FILTER: unknown preset 'noise'; valid "
                       r"presets: genai$"):
        HoneyHiveSpanExporter(output=MemoryOutput())


def test_a_string_of_names_is_names_never_its_characters() -> None:
    """`drop_scopes="…http*"` is the glob, not `"…"`, `"h"` … `"*"` (which would drop every span)."""
    output = MemoryOutput()
    exporter = HoneyHiveSpanExporter(output=output, drop_scopes=HTTP_SCOPE, drop_spans="SELECT, health*")
    span_filter = exporter.pipeline.mapper.span_filter
    assert span_filter is not None
    assert (span_filter.drop_scopes, span_filter.drop_spans) == ((HTTP_SCOPE,), ("SELECT", "health*"))
    with provider_with(exporter) as provider:
        AgentTrace(provider).run(in_parts=False, provider=provider)
        assert {event["event_name"] for event in output.take()} == {"root", "agent", "chat gpt-4o"}
        assert exporter.stats.spans_filtered == 3


def test_without_filtering_the_exporter_maps_every_span() -> None:
    output = MemoryOutput()
    exporter = HoneyHiveSpanExporter(output=output)
    assert exporter.pipeline.mapper.span_filter is None
    with provider_with(exporter) as provider:
        AgentTrace(provider).run(in_parts=False, provider=provider)
        assert {event["event_name"] for event in output.take()} == set(AgentTrace.names)
        assert exporter.stats.spans_filtered == 0


# -- at the receiver: real OTLP exporters → serve ----------------------------------------------------------------

@pytest.mark.slow
def test_serve_filters_spans_from_otlp_exporters_whole_and_in_parts(tmp_path: Path) -> None:
    args = ("--drop-scope", "opentelemetry.instrumentation.http*", "--span-filter", "genai",
            "--hold-timeout", str(HOLD))
    with run_server(tmp_path, *args, grpc=True) as server:
        with provider_with(HttpSpanExporter(endpoint=server.url + "/v1/traces")) as provider:
            in_parts = AgentTrace(provider).run(in_parts=True, provider=provider, wait=HOLD * 3)
        with provider_with(GrpcSpanExporter(endpoint=server.grpc_target, insecure=True)) as provider:
            whole = AgentTrace(provider).run(in_parts=False, provider=provider)
        for trace_id in (in_parts, whole):
            assert_reattached(stored_session(server, trace_id, {"root", "agent", "chat gpt-4o"}))
        samples = scrape(server)
    assert value(samples, FILTERED, {"reason": "scope"}) == 4
    assert value(samples, FILTERED, {"reason": "genai"}) == 2  # the two SELECTs
    assert value(samples, FILTERED, {"reason": "span_name"}) == 0


def test_serve_takes_filters_from_flags_or_the_environment() -> None:
    config = ServerConfig.resolve(span_filter=["genai"], drop_scopes=["a,b", "c"], drop_spans=["GET *"],
                                  environ={"HH_DROP_SCOPES": "ignored"})
    assert (config.span_filter, config.drop_scopes, config.drop_spans) == (("genai",), ("a", "b", "c"), ("GET *",))
    config = ServerConfig.resolve(environ={"HH_SPAN_FILTER": "genai", "HH_DROP_SCOPES": "x, y", "HH_DROP_SPANS": ""})
    assert (config.span_filter, config.drop_scopes, config.drop_spans) == (("genai",), ("x", "y"), ())


def test_a_bad_preset_on_serve_is_one_line_listing_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--span-filter", "llm-only"]) == 2
    assert capsys.readouterr().err == (
        "otel-honeyhive serve: --span-filter: unknown preset 'llm-only'; valid presets: genai\n")
