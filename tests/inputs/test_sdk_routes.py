"""`HoneyHiveSpanExporter(routes=...)`: an app whose traces carry a tenant attribute sends each tenant's traces to
its own project with its own key, in the one pipeline; a trace no rule matches is refused and counted when the
table says so, or goes to the default project."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_honeyhive import HoneyHiveLogExporter, HoneyHiveSpanExporter
from otel_honeyhive.inputs import bridge
from otel_honeyhive.pipeline.joining import UNMATCHED_KEY
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.fake_honeyhive import FakeHoneyHive, fake_honeyhive
from tests.support.forking import in_child
from tests.support.routing import KEYS, PROJECT_OF_KEY, events_by_key
from tests.support.spans import in_span

FAST = RetryPolicy(deadline=2.0, initial_backoff=0.01, max_backoff=0.05)


def tenant_table(unrouted: str) -> dict[str, Any]:
    return {
        "rules": [{"span": {"tenant": "acme"}, "project": "acme"},
                  {"span": {"tenant": "globex-*"}, "project": "billing"}],
        "projects": {"acme": {"api_key_env": "TEST_KEY_ACME"}, "billing": {"api_key": KEYS["billing"]}},
        "default": "main",
        "unrouted": unrouted,
    }


def run_tenants(honeyhive: FakeHoneyHive, unrouted: str, *, api_version: str = "v1") -> HoneyHiveSpanExporter:
    exporter = HoneyHiveSpanExporter(api_key=KEYS["main"], server_url=honeyhive.url, retry_policy=FAST,
                                     api_version=api_version, routes=tenant_table(unrouted))
    provider = TracerProvider(resource=Resource.create({"service.name": "web"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("app")
    for tenant in ("acme", "globex-east", "initech", "acme"):
        with tracer.start_as_current_span("request", attributes={"tenant": tenant}), \
                tracer.start_as_current_span("chat gpt-4o", attributes={"gen_ai.operation.name": "chat"}):
            pass
    provider.force_flush()
    provider.shutdown()
    return exporter


@pytest.fixture(autouse=True)
def _acme_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_KEY_ACME", KEYS["acme"])


@pytest.mark.parametrize("routes", ["v1", "legacy"])
def test_each_tenants_traces_reach_its_project_with_its_key(routes: str) -> None:
    with fake_honeyhive("v1" if routes == "v1" else "legacy") as honeyhive:
        exporter = run_tenants(honeyhive, "default", api_version=routes)
        received = events_by_key(honeyhive)
    assert {project: len(events) for project, events in received.items()} == {"acme": 4, "billing": 2, "main": 2}
    assert exporter.stats.spans_unrouted == 0


def test_an_unrouted_trace_is_refused_and_counted() -> None:
    with fake_honeyhive("v1") as honeyhive:
        exporter = run_tenants(honeyhive, "refuse")
        received = events_by_key(honeyhive)
    assert set(received) == {"acme", "billing"}
    assert exporter.stats.spans_unrouted == 2  # initech's request and chat spans
    assert exporter.stats.events_failed == 0


def test_a_table_problem_fails_at_construction_naming_it() -> None:
    table = tenant_table("refuse")
    table["projects"]["acme"] = {"api_key_env": "TEST_KEY_UNSET"}
    with pytest.raises(ValueError, match=r"^HoneyHiveSpanExporter\(routes=\): routing.projects.acme.api_key_env: "
                       "environment variable TEST_KEY_UNSET is not set$"):
        HoneyHiveSpanExporter(server_url="http://127.0.0.1:9", routes=table)


def test_a_child_forked_while_the_router_is_busy_routes_with_the_right_keys() -> None:
    """The router's lock held by a parent's thread at the fork (as if mid-decision) does not stall the child, and
    the child's own traces go to their projects with their keys."""
    with fake_honeyhive("v1") as honeyhive:
        exporter = HoneyHiveSpanExporter(api_key=KEYS["main"], server_url=honeyhive.url, retry_policy=FAST,
                                         routes=tenant_table("refuse"))
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("app")
        router = exporter.pipeline.mapper.router
        assert router is not None

        def child() -> dict[str, Any]:
            for tenant in ("acme", "globex-west"):
                with tracer.start_as_current_span("request", attributes={"tenant": tenant}):
                    pass
            return {"flushed": exporter.force_flush(5_000), "delivered": exporter.stats.events_delivered}

        with router._lock:
            seen = in_child(child)
        assert seen == {"flushed": True, "delivered": 2}
        assert {project: len(events) for project, events in events_by_key(honeyhive).items()} == {
            "acme": 1, "billing": 1}
        exporter.shutdown()


def _two_tenants_two_turns(conversation: str) -> tuple[dict[str, list[dict[str, Any]]], list[tuple[str, str]],
                                                        HoneyHiveSpanExporter]:
    """Two turns of one conversation for each of two tenants routed to two projects: the events each project's
    key received, the (key, event id) of each session update, and the exporter (shut down)."""
    with fake_honeyhive("v1") as honeyhive:
        exporter = HoneyHiveSpanExporter(api_key=KEYS["main"], server_url=honeyhive.url, retry_policy=FAST,
                                         routes=tenant_table("refuse"), sessions="conversation")
        provider = TracerProvider(resource=Resource.create({"service.name": "web"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("app")
        for turn in range(2):
            for tenant in ("acme", "globex-east"):
                with tracer.start_as_current_span(f"{tenant} turn {turn}", attributes={
                        "tenant": tenant, "gen_ai.conversation.id": conversation}):
                    pass
        provider.shutdown()
        updates = [(r.headers["Authorization"].removeprefix("Bearer "), (r.body or {})["event_id"])
                   for r in honeyhive.requests if r.method == "PUT"]
        return events_by_key(honeyhive), updates, exporter


def test_a_conversation_id_shared_by_two_projects_is_a_session_in_each_extended_with_its_own_key() -> None:
    received, updates, _ = _two_tenants_two_turns("chat-1")
    sessions = {project: [e for e in events if e["event_type"] == "session"] for project, events in received.items()}
    assert {project: [s["event_name"] for s in found] for project, found in sessions.items()} == {
        "acme": ["acme turn 0"], "billing": ["globex-east turn 0"]}
    acme, billing = sessions["acme"][0]["event_id"], sessions["billing"][0]["event_id"]
    assert acme != billing
    assert all(e["session_id"] == acme for e in received["acme"])
    assert all(e["session_id"] == billing for e in received["billing"])
    assert sorted(updates) == sorted([(KEYS["acme"], acme), (KEYS["billing"], billing)])


def test_a_uuid_conversation_id_shared_by_two_projects_is_started_in_each_and_extended_with_its_own_key() -> None:
    """A UUID conversation id is the session's id in every project it reaches (docs/identity-and-assembly.md):
    each project gets its own session event, and each project's later turns extend its own with its own key."""
    conversation = "7b0c5e0e-3a4f-4d8e-9a55-1c2b3d4e5f60"
    received, updates, exporter = _two_tenants_two_turns(conversation)
    sessions = {project: [e for e in events if e["event_type"] == "session"] for project, events in received.items()}
    assert {project: [s["event_name"] for s in found] for project, found in sessions.items()} == {
        "acme": ["acme turn 0"], "billing": ["globex-east turn 0"]}
    assert all(e["session_id"] == conversation for events in received.values() for e in events)
    assert sorted(updates) == sorted([(KEYS["acme"], conversation), (KEYS["billing"], conversation)])
    assert exporter.stats.conversation_sessions_started == 2


def test_records_whose_span_never_came_update_each_projects_session_with_its_own_key() -> None:
    """GenAI log records naming a span that never comes are kept on their trace's session by an update. A UUID
    conversation's session has the same id in both projects it reaches: each project's records go to its own
    session with its own key, never together and never with the other project's key (docs/routing.md)."""
    conversation = "7b0c5e0e-3a4f-4d8e-9a55-1c2b3d4e5f60"
    bridge._reset_for_tests()
    try:
        with fake_honeyhive("v1") as honeyhive:
            exporter = HoneyHiveSpanExporter(api_key=KEYS["main"], server_url=honeyhive.url, retry_policy=FAST,
                                             routes=tenant_table("refuse"), sessions="conversation")
            logs = HoneyHiveLogExporter()
            resource = Resource.create({"service.name": "web"})
            provider = TracerProvider(resource=resource)
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            loggers = LoggerProvider(resource=resource)
            loggers.add_log_record_processor(SimpleLogRecordProcessor(logs))
            tracer, logger = provider.get_tracer("app"), loggers.get_logger("genai")
            for turn in range(2):
                for tenant in ("acme", "globex-east"):
                    with tracer.start_as_current_span(f"{tenant} turn {turn}", attributes={
                            "tenant": tenant, "gen_ai.conversation.id": conversation}) as root:
                        trace_id = root.get_span_context().trace_id
                        logger.emit(LogRecord(  # a model call's span that never reaches the exporter
                            event_name="gen_ai.user.message", body={"content": f"{tenant} asks, turn {turn}"},
                            context=in_span(trace_id, 0x5EC12E7 + turn)))
            loggers.shutdown()
            provider.shutdown()
            events_by_key(honeyhive)  # no batch crossed projects
            kept: dict[str, list[str]] = {}
            for request in honeyhive.requests:
                metadata = (request.body or {}).get("metadata") or {}
                if request.method == "PUT" and UNMATCHED_KEY in metadata:
                    project = PROJECT_OF_KEY[request.headers["Authorization"].removeprefix("Bearer ")]
                    assert request.body["event_id"] == conversation
                    kept.setdefault(project, []).extend(r["body"]["content"] for r in metadata[UNMATCHED_KEY])
        assert exporter.stats.spans_unrouted == 0
        assert {project: sorted(set(contents)) for project, contents in kept.items()} == {
            "acme": ["acme asks, turn 0", "acme asks, turn 1"],
            "billing": ["globex-east asks, turn 0", "globex-east asks, turn 1"]}
    finally:
        bridge._reset_for_tests()
