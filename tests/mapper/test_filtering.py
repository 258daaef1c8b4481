"""Span filtering in the trace mapper: dropped spans' children are re-attached to their nearest kept ancestor, the
root stays the session, and no event is ever left with a `parent_id` that names nothing, including when a trace
arrives in parts (docs/identity-and-assembly.md#span-filtering).

Spans are `SpanView`s built here (the pure mapper is under test); the exporter and the receiver paths are in
tests/server/test_span_filtering.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.mapper import spans_to_events
from otel_honeyhive.mapper.filtering import SpanFilter, check_presets
from otel_honeyhive.mapper.identity import session_id_for_trace
from otel_honeyhive.mapper.markers import ORIGIN_KEY
from otel_honeyhive.mapper.trace import TraceMapper

TRACE = 0x0AF7651916CD43DD8448EB211C80319C
HTTP_SCOPE = "opentelemetry.instrumentation.httpx"


def span(span_id: int, name: str, parent: int = 0, *, scope: str | None = None, start: int | None = None,
         attributes: Mapping[str, Any] | None = None, remote: bool = False) -> SpanView:
    begin = start if start is not None else span_id * 10
    return SpanView(TRACE, span_id, name, begin, begin + 5, parent_span_id=parent, parent_is_remote=remote,
                    attributes=dict(attributes or {}), scope_name=scope)


def agent_trace() -> list[SpanView]:
    """root → agent → http (dropped by scope) → llm; agent → tool; llm → http (a leaf, dropped)."""
    return [
        span(1, "root"),
        span(2, "agent", 1, attributes={"gen_ai.operation.name": "invoke_agent"}),
        span(3, "POST", 2, scope=HTTP_SCOPE),
        span(4, "chat gpt-4o", 3, attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}),
        span(5, "GET", 4, scope=HTTP_SCOPE),
        span(6, "tool", 2, attributes={"gen_ai.operation.name": "execute_tool"}),
    ]


def by_name(events: Iterable[Event]) -> dict[str, Event]:
    return {event["event_name"]: event for event in events}


def assert_well_formed(events: list[Event]) -> None:
    """One session; every other event's parent is an event of the trace, and `children_ids` agree."""
    ids = {event["event_id"] for event in events}
    sessions = [event for event in events if event["event_type"] == "session"]
    assert len(sessions) == 1 and sessions[0]["parent_id"] is None
    for event in events:
        if event is not sessions[0]:
            assert event["parent_id"] in ids, f"{event['event_name']} points at nothing"
        for child in event["children_ids"]:
            assert child in ids


def filtered(**kwargs: Any) -> TraceMapper:
    span_filter = SpanFilter.build(**kwargs)
    assert span_filter is not None
    return TraceMapper(span_filter=span_filter)


def test_a_dropped_middle_span_gives_its_children_to_its_parent() -> None:
    events = filtered(drop_scopes=[HTTP_SCOPE]).map_trace(agent_trace())
    named = by_name(events)
    assert set(named) == {"root", "agent", "chat gpt-4o", "tool"}
    assert named["chat gpt-4o"]["parent_id"] == named["agent"]["event_id"]
    assert named["chat gpt-4o"]["metadata"]["parent_span_id"] == f"{2:016x}"  # the metadata tells the same tree
    assert named["agent"]["children_ids"] == [named["chat gpt-4o"]["event_id"], named["tool"]["event_id"]]
    assert named["root"]["event_id"] == session_id_for_trace(TRACE)
    assert_well_formed(events)


def test_a_chain_of_dropped_spans_is_skipped_to_the_nearest_kept_ancestor() -> None:
    spans = [span(1, "root"), span(2, "outer", 1), span(3, "middle", 2), span(4, "inner", 3), span(5, "leaf", 4)]
    events = filtered(drop_spans=["middle", "inner"]).map_trace(spans)
    named = by_name(events)
    assert named["leaf"]["parent_id"] == named["outer"]["event_id"]
    assert_well_formed(events)


def test_the_root_is_never_dropped_and_stays_the_session() -> None:
    spans = [span(1, "GET /chat", scope=HTTP_SCOPE), span(2, "GET", 1, scope=HTTP_SCOPE), span(3, "llm", 2)]
    events = filtered(drop_scopes=[HTTP_SCOPE], drop_spans=["GET /chat"]).map_trace(spans)
    named = by_name(events)
    assert named["GET /chat"]["event_type"] == "session"
    assert named["llm"]["parent_id"] == named["GET /chat"]["event_id"]


def test_a_local_root_under_a_remote_parent_is_never_dropped() -> None:
    spans = [span(7, "handler", 99, scope=HTTP_SCOPE, remote=True), span(8, "llm", 7)]
    events = filtered(drop_scopes=[HTTP_SCOPE]).map_trace(spans)
    assert [event["event_name"] for event in events] == ["handler", "llm"]


def test_scopes_and_names_take_globs() -> None:
    mapper = filtered(drop_scopes=["opentelemetry.instrumentation.http*"], drop_spans=["GET *"])
    spans = [span(1, "root"), span(2, "GET /a", 1), span(3, "x", 1, scope=HTTP_SCOPE),
             span(4, "y", 1, scope="opentelemetry.instrumentation.openai"), span(5, "GET", 1)]
    assert [event["event_name"] for event in mapper.map_trace(spans)] == ["root", "y", "GET"]


def test_genai_keeps_what_a_convention_recognises_and_the_root() -> None:
    association = {"traceloop.association.properties.user": "u1", "session.id": "c1", "honeyhive.project": "p"}
    spans = [
        span(1, "root"),
        span(2, "ChatCompletion", 1, attributes={"openinference.span.kind": "LLM"}),
        span(3, "workflow", 1, attributes={"traceloop.span.kind": "workflow"}),
        span(4, "openai.chat", 3, attributes={"llm.request.type": "chat"}),
        span(5, "step", 1, attributes={"honeyhive_event_type": "tool"}),
        span(6, "enriched", 1, attributes={"honeyhive_inputs.query": "q"}),
        span(7, "chat", 1, attributes={"gen_ai.operation.name": "chat"}),
        span(8, "raw", 1, attributes={"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 3}),
        span(9, "POST", 3, attributes={"http.method": "POST", **association}),  # context spread onto it: noise
        span(10, "SELECT", 1, attributes={"db.system": "postgresql"}),
        span(11, "bare", 1),
    ]
    events = filtered(span_filter="genai").map_trace(spans)
    assert [event["event_name"] for event in events] == [
        "root", "ChatCompletion", "workflow", "openai.chat", "step", "enriched", "chat", "raw"]
    assert_well_formed(events)


def test_a_session_named_only_by_a_dropped_span_still_holds_the_trace() -> None:
    session = "4f1c2b7e-0d2a-4c55-9a51-3f0d6d7b8a11"
    spans = [span(1, "root"), span(2, "GET", 1, scope=HTTP_SCOPE, attributes={"honeyhive.session_id": session}),
             span(3, "llm", 2)]
    events = filtered(drop_scopes=[HTTP_SCOPE]).map_trace(spans)
    named = by_name(events)
    assert {event["session_id"] for event in events} == {session}
    assert named["root"]["parent_id"] == session and named["llm"]["parent_id"] == named["root"]["event_id"]


def test_a_predicate_decides_and_one_that_raises_keeps_the_span_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def keep(view: SpanView) -> bool:
        if view.name == "broken":
            raise RuntimeError("bug in the filter")
        return view.name != "noise"

    spans = [span(1, "root"), span(2, "noise", 1), span(3, "broken", 1), span(4, "broken", 1), span(5, "ok", 2)]
    with caplog.at_level(logging.ERROR, logger="otel_honeyhive.filtering"):
        events = filtered(span_filter=keep).map_trace(spans)
    named = by_name(events)
    assert set(named) == {"root", "broken", "ok"}
    assert named["ok"]["parent_id"] == named["root"]["event_id"]
    assert caplog.text.count("span_filter raised") == 1


def test_counts_by_reason_once_per_span_even_when_mapped_again() -> None:
    counted: list[Mapping[str, int]] = []
    mapper = filtered(span_filter=lambda view: view.name != "chat gpt-4o", drop_scopes=[HTTP_SCOPE])
    mapper.on_filtered = counted.append
    first = mapper.map_trace(agent_trace())
    again = mapper.map_trace(agent_trace())  # a retried hand-off: the same events, not counted again
    assert counted == [{"scope": 2, "span_filter": 1}]
    assert first == again


def test_filtering_off_maps_every_span() -> None:
    assert SpanFilter.build() is None
    assert len(TraceMapper().map_trace(agent_trace())) == 6


def test_spans_to_events_filters_as_the_exporter_does() -> None:
    shuffled = list(reversed(agent_trace()))
    by_predicate = spans_to_events(shuffled, span_filter=lambda view: view.scope_name != HTTP_SCOPE)
    assert by_predicate == filtered(drop_scopes=[HTTP_SCOPE]).map_trace(agent_trace())
    assert spans_to_events(shuffled, span_filter="genai") == filtered(span_filter="genai").map_trace(agent_trace())


def test_an_unknown_preset_is_one_line_listing_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"^span_filter: unknown preset 'llm'; valid presets: genai$"):
        SpanFilter.build("llm")
    assert check_presets([" GenAI ", "genai"]) == ("genai",)


# -- a trace shipped in parts ---------------------------------------------------------------------------------------

def map_parts(mapper: TraceMapper, parts: list[list[SpanView]]) -> list[Event]:
    events: list[Event] = []
    for part in parts:
        events.extend(mapper.map_trace(part))
    return events


def assert_none_dangling(events: list[Event]) -> None:
    """Across every part shipped: each parent named was shipped (a receiver upserts by event id)."""
    ids = {event["event_id"] for event in events}
    for event in events:
        assert event["parent_id"] is None or event["parent_id"] in ids, f"{event['event_name']} points at nothing"


def test_a_child_arriving_after_its_dropped_parent_is_shipped_under_the_kept_ancestor() -> None:
    spans = {s.span_id: s for s in agent_trace()}
    mapper = filtered(drop_scopes=[HTTP_SCOPE])
    events = map_parts(mapper, [[spans[3], spans[2]], [spans[5], spans[4]], [spans[6], spans[1]]])
    named = by_name(events)
    assert "POST" not in named and "GET" not in named
    assert named["chat gpt-4o"]["parent_id"] == named["agent"]["event_id"]
    assert_none_dangling(events)


def test_a_dropped_span_whose_parent_comes_later_still_leads_to_a_kept_ancestor() -> None:
    spans = {s.span_id: s for s in agent_trace()}
    mapper = filtered(drop_scopes=[HTTP_SCOPE])
    events = map_parts(mapper, [[spans[3]], [spans[4], spans[5]], [spans[2]], [spans[6], spans[1]]])
    named = by_name(events)
    assert named["chat gpt-4o"]["parent_id"] == named["agent"]["event_id"]
    assert_none_dangling(events)


def test_a_span_whose_children_were_already_shipped_under_it_is_kept() -> None:
    """The children point at its id already; dropping it now would leave them dangling."""
    spans = {s.span_id: s for s in agent_trace()}
    mapper = filtered(drop_scopes=[HTTP_SCOPE])
    events = map_parts(mapper, [[spans[4]], [spans[3], spans[2], spans[5], spans[6], spans[1]]])
    named = by_name(events)
    assert named["chat gpt-4o"]["parent_id"] == named["POST"]["event_id"]
    assert "GET" not in named
    assert_none_dangling(events)


def test_the_parent_of_an_event_given_back_as_it_was_is_kept() -> None:
    origin = span(3, "carried", 2, attributes={ORIGIN_KEY: "event"})
    spans = [span(1, "root"), span(2, "GET", 1, scope=HTTP_SCOPE), origin, span(4, "GET", 1, scope=HTTP_SCOPE)]
    events = filtered(drop_scopes=[HTTP_SCOPE]).map_trace(spans)
    assert [event["event_name"] for event in events] == ["root", "GET", "carried"]
