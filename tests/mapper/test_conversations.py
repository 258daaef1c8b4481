"""Conversations as sessions (`sessions="conversation"`, docs/identity-and-assembly.md#conversations): every trace
carrying the same conversation id goes to one session, whose id is the conversation id when it is a UUID and
derived from it otherwise; the first turn a process sees starts the session, later turns extend it by an update,
and another process starting it again sends the same id.

Spans are `SpanView`s built here (the pure mapper is under test); instrumented apps, the exporter and `serve` are
in tests/instrumentors/test_conversations.py."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import pytest

from otel_honeyhive import events_to_spans, spans_to_events
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import Update
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.mapper.conversations import (
    CONVERSATION_KEYS,
    ConversationSessions,
    check_sessions_mode,
    conversation_of,
)
from otel_honeyhive.mapper.identity import CONVERSATION_NAMESPACE, session_id_for_conversation, session_id_for_trace
from otel_honeyhive.mapper.trace import TraceMapper

MS = 1_000_000


def turn(trace_id: int, start_ms: int, attributes: Mapping[str, Any] | None = None, *,
         on_child: bool = False) -> list[SpanView]:
    """One turn: a root `turn` span with an LLM child; the conversation attributes on the root (or the child)."""
    attrs = dict(attributes or {})
    root = SpanView(trace_id, 1, "turn", start_ms * MS, (start_ms + 100) * MS,
                    attributes={} if on_child else attrs)
    llm = SpanView(trace_id, 2, "chat gpt-4o", (start_ms + 10) * MS, (start_ms + 90) * MS, parent_span_id=1,
                   attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                               **(attrs if on_child else {})})
    return [root, llm]


def by_type(events: list[Event], event_type: str) -> list[Event]:
    return [e for e in events if e["event_type"] == event_type]


# -- the identity rule --------------------------------------------------------------------------------------------


def test_a_conversation_id_that_is_a_uuid_is_the_session_id_lowercased() -> None:
    assert session_id_for_conversation("0F8B1A52-3C4D-4E5F-8A9B-0C1D2E3F4A5B") == "0f8b1a52-3c4d-4e5f-8a9b-0c1d2e3f4a5b"


def test_any_other_conversation_id_gives_a_uuid5_in_the_published_namespace() -> None:
    assert str(CONVERSATION_NAMESPACE) == "e7d4c2a1-3f58-4b96-a0d7-9c2e5f1b8a64"  # part of the public contract
    derived = session_id_for_conversation("chat-42")
    assert derived == str(uuid.uuid5(CONVERSATION_NAMESPACE, "chat-42"))
    assert uuid.UUID(derived).version == 5
    assert session_id_for_conversation("conversación 1") == str(uuid.uuid5(CONVERSATION_NAMESPACE, "conversación 1"))


def test_the_first_key_found_wins_on_any_span_roots_first() -> None:
    assert CONVERSATION_KEYS == ("honeyhive.session_id", "session.id", "gen_ai.conversation.id",
                                 "traceloop.association.properties.session_id")
    spans = turn(1, 0, {"gen_ai.conversation.id": "genai", "traceloop.association.properties.session_id": "tl"})
    assert conversation_of(spans) == "genai"
    assert conversation_of(turn(1, 0, {"session.id": "oi"}, on_child=True)) == "oi"
    assert conversation_of(turn(1, 0, {"session.id": 7})) == "7"
    assert conversation_of(turn(1, 0, {"session.id": "  "})) is None
    assert conversation_of(turn(1, 0)) is None


def test_an_unknown_mode_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="trace, conversation"):
        check_sessions_mode("conversations")
    with pytest.raises(ValueError, match="trace, conversation"):
        TraceMapper(sessions="chat")


# -- mapping turns ------------------------------------------------------------------------------------------------


def test_three_turns_make_one_session_event_three_chains_and_two_updates() -> None:
    mapper = TraceMapper(sessions="conversation")
    session_id = session_id_for_conversation("chat-42")
    turns, updates = [], []
    for i in range(3):  # handed on one by one, as turns come minutes apart
        turns.append(mapper.map_trace(turn(0xA0 + i, 1_000 * i, {"session.id": "chat-42", "user.id": "ada"})))
        updates += mapper.take_updates()

    first, second, third = turns
    (session,) = by_type(first, "session")
    assert first[0] is session  # session first
    assert session["event_id"] == session["session_id"] == session_id
    assert session["parent_id"] is None and session["event_name"] == "turn"
    assert session["metadata"]["conversation_id"] == "chat-42"
    assert "span_id" not in session["metadata"]  # the root's span is the turn's chain, not the session
    assert session["user_properties"].get("user_id") == "ada"
    assert (session["start_time"], session["end_time"]) == (0, 100)
    assert not by_type(second, "session") and not by_type(third, "session")

    roots = [next(e for e in events if e["event_name"] == "turn" and e["event_type"] != "session")
             for events in turns]
    assert [r["event_type"] for r in roots] == ["chain"] * 3
    assert all(r["parent_id"] == session_id and r["session_id"] == session_id for r in roots)
    assert session["children_ids"] == [roots[0]["event_id"]]
    ids = {e["event_id"] for events in turns for e in events}
    assert all(e["parent_id"] in ids for events in turns for e in events if e["parent_id"] is not None)

    assert [u.event_id for u in updates] == [session_id, session_id]
    assert updates[-1].fields == {"end_time": 2_100, "duration": 2_100}
    assert mapper.take_updates() == []


def test_turns_of_one_conversation_mapped_together_give_one_update_the_last() -> None:
    """A burst (a backlog drained, a file replayed): one `PUT /events` per conversation, not one per turn; each
    conversation's update in the order it was first extended."""
    mapper = TraceMapper(sessions="conversation")
    for i, chat in enumerate(["chat-1", "chat-2", "chat-1", "chat-2", "chat-1"]):
        mapper.map_trace(turn(0xB0 + i, 1_000 * i, {"session.id": chat}))
    updates = mapper.take_updates()
    assert [u.event_id for u in updates] == [session_id_for_conversation("chat-1"),
                                             session_id_for_conversation("chat-2")]
    assert [u.fields["end_time"] for u in updates] == [4_100, 3_100]


def test_the_session_has_the_conversations_user_when_only_a_child_span_names_it() -> None:
    """OpenInference's `using_session` / `using_user` name them on its own spans, not on the app's root."""
    events = TraceMapper(sessions="conversation").map_trace(
        turn(0xA0, 0, {"session.id": "chat-42", "user.id": "ada"}, on_child=True))
    assert by_type(events, "session")[0]["user_properties"] == {"user_id": "ada"}


def test_the_session_is_named_by_honeyhive_session_name_when_the_turn_gives_one() -> None:
    events = TraceMapper(sessions="conversation").map_trace(
        turn(0xA0, 0, {"session.id": "chat-42", "honeyhive_session_name": "Support chat"}))
    assert by_type(events, "session")[0]["event_name"] == "Support chat"


def test_the_same_trace_mapped_again_gives_the_session_event_again() -> None:
    mapper = TraceMapper(sessions="conversation")
    once = mapper.map_trace(turn(0xA0, 0, {"gen_ai.conversation.id": "c"}))
    again = mapper.map_trace(turn(0xA0, 0, {"gen_ai.conversation.id": "c"}))
    assert once == again and mapper.take_updates() == []


def test_a_second_process_starts_the_same_session_and_an_update_from_the_first_still_applies() -> None:
    """A restart (or another replica) sees a later turn first: it starts the session again under the same id,
    so a receiver keyed on event_id keeps one session; the first process's updates name that same event."""
    first, restarted = TraceMapper(sessions="conversation"), TraceMapper(sessions="conversation")
    one = first.map_trace(turn(0xA0, 0, {"session.id": "chat-42"}))
    two = restarted.map_trace(turn(0xA1, 1_000, {"session.id": "chat-42"}))
    first.map_trace(turn(0xA2, 2_000, {"session.id": "chat-42"}))
    assert by_type(one, "session")[0]["event_id"] == by_type(two, "session")[0]["event_id"]
    (update,) = first.take_updates()
    assert update.event_id == by_type(one, "session")[0]["event_id"]
    assert isinstance(update, Update) and update.fields["end_time"] == 2_100


def test_a_valid_honeyhive_session_id_is_not_started_by_the_bridge() -> None:
    explicit = "0f8b1a52-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
    mapper = TraceMapper(sessions="conversation")
    events = mapper.map_trace(turn(0xA0, 0, {"honeyhive.session_id": explicit, "session.id": "other"}))
    assert not by_type(events, "session") and mapper.take_updates() == []
    assert {e["session_id"] for e in events} == {explicit}


def test_traces_without_a_conversation_id_keep_the_trace_rule() -> None:
    mapper = TraceMapper(sessions="conversation")
    events = mapper.map_trace(turn(0xA0, 0))
    assert events[0]["event_type"] == "session" and events[0]["event_id"] == session_id_for_trace(0xA0)


def test_the_trace_mode_is_the_default_and_keeps_each_turn_its_own_session() -> None:
    mapper = TraceMapper()
    sessions = {mapper.map_trace(turn(0xA0 + i, i, {"session.id": "chat-42"}))[0]["event_id"] for i in range(3)}
    assert len(sessions) == 3 and mapper.conversations is None


def test_a_turn_shipped_in_parts_stays_in_the_conversation() -> None:
    mapper = TraceMapper(sessions="conversation")
    root, llm = turn(0xA0, 0, {"session.id": "chat-42"}, on_child=True)
    early = mapper.map_trace([llm])
    late = mapper.map_trace([root])
    session_id = session_id_for_conversation("chat-42")
    assert {e["session_id"] for e in early + late} == {session_id}
    assert len(by_type(early + late, "session")) == 2  # the same session event, from the same trace: an upsert
    assert len({e["event_id"] for e in by_type(early + late, "session")}) == 1


# -- the memory of started sessions ------------------------------------------------------------------------------


def test_the_memory_of_started_sessions_is_bounded_least_recently_seen_forgotten_first() -> None:
    started = ConversationSessions(max_conversations=2)
    session: Event = {"start_time": 0, "end_time": 1, "metadata": {}}
    for name in ("a", "b"):
        started.on_turn(1, name, name, dict(session), [], 1)
    started.on_turn(2, "a", "a", dict(session), [], 5)  # `a` seen again: `b` is now the oldest
    started.on_turn(3, "c", "c", dict(session), [], 1)
    assert len(started) == 2 and "a" in started and "c" in started and "b" not in started


# -- the reverse direction --------------------------------------------------------------------------------------


def sdk_session(turns: int = 3) -> list[Event]:
    """A multi-turn session as HoneyHive's SDK records it (no OpenTelemetry ids kept): a session event, one chain
    per turn under it, a model event under each chain."""
    session_id = str(uuid.UUID(int=0x5E55_1011))
    events: list[Event] = [{"event_id": session_id, "session_id": session_id, "parent_id": None,
                            "event_type": "session", "event_name": "support chat", "start_time": 0,
                            "end_time": turns * 1_000, "inputs": {}, "outputs": {}, "metadata": {}}]
    for n in range(turns):
        chain, model = str(uuid.UUID(int=0xC4A1_0000 + n)), str(uuid.UUID(int=0x30DE_0000 + n))
        events.append({"event_id": chain, "session_id": session_id, "parent_id": session_id, "event_type": "chain",
                       "event_name": f"turn {n + 1}", "start_time": n * 1_000, "end_time": n * 1_000 + 900,
                       "inputs": {}, "outputs": {}, "metadata": {}})
        events.append({"event_id": model, "session_id": session_id, "parent_id": chain, "event_type": "model",
                       "event_name": "chat", "start_time": n * 1_000 + 10, "end_time": n * 1_000 + 800,
                       "inputs": {}, "outputs": {}, "metadata": {}, "config": {"model": "gpt-4o"}})
    return events


def test_events_of_a_multi_turn_session_become_one_trace_per_turn_linked_by_the_conversation() -> None:
    events = sdk_session()
    session_id = events[0]["session_id"]
    spans = events_to_spans(events, sessions="conversation")
    by_name: dict[str, list[Any]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    turns = [by_name[f"turn {n}"][0] for n in (1, 2, 3)]
    assert len({t.context.trace_id for t in turns}) == 3  # one trace per turn
    assert all(t.parent is None for t in turns)  # each turn's root is its trace's root
    for turn_span, model in zip(turns, by_name["chat"], strict=True):
        assert model.context.trace_id == turn_span.context.trace_id
        assert model.parent is not None and model.parent.span_id == turn_span.context.span_id
    assert {(s.attributes or {}).get("gen_ai.conversation.id") for s in spans} == {session_id}
    # forward again, in either mode: the same events, in the same session, no session started by the bridge
    assert sorted(spans_to_events(spans, sessions="conversation"), key=lambda e: e["event_id"]) == sorted(
        events, key=lambda e: e["event_id"])
    assert {s.context.trace_id for s in events_to_spans(events)} == {uuid.UUID(session_id).int}  # the default


def test_a_conversation_the_bridge_made_goes_back_to_its_turns_traces_and_comes_back_unchanged() -> None:
    views = [span for i in range(3) for span in turn(0xA0 + i, 1_000 * i, {"session.id": "chat-42"})]
    events = spans_to_events(views, sessions="conversation")
    session = next(e for e in events if e["event_type"] == "session")
    assert (session["start_time"], session["end_time"]) == (0, 2_100)  # the later turns' updates applied
    spans = events_to_spans(events, sessions="conversation")
    turn_traces = {s.context.trace_id for s in spans if s.name == "turn"}
    assert turn_traces == {0xA0, 0xA1, 0xA2}
    assert spans_to_events(spans, sessions="conversation") == events


def test_one_session_id_routed_to_two_projects_is_started_in_each_and_its_updates_name_their_project() -> None:
    started = ConversationSessions()
    session: Event = {"start_time": 0, "end_time": 1, "metadata": {}}
    first = [started.on_turn(n, "s", "s", dict(session), [], n, project) for n, project in
             ((1, "acme"), (2, "billing"))]
    later = [started.on_turn(n, "s", "s", dict(session), [], n, project) for n, project in
             ((3, "acme"), (4, "billing"))]
    assert all(isinstance(outcome, dict) for outcome in first)  # a session event in each project
    assert [(u.project, u.event_id) for u in later if isinstance(u, Update)] == [("acme", "s"), ("billing", "s")]
    assert ("acme", "s") in started and ("billing", "s") in started and "s" not in started
