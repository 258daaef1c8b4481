"""A conversation through the pipeline into the local store (`sessions="conversation"`,
docs/identity-and-assembly.md#conversations): turns handed on one by one make one session whose end follows the
last turn (an update of the session event); a second process (a restart) starting the same session again keeps
one session, its start and its turns; the session summary and `show` tell the turns in order."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from otel_honeyhive.cli.render import session_tree
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.mapper.identity import session_id_for_conversation
from otel_honeyhive.outputs.honeyhive.client import HoneyHiveOutput
from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
from otel_honeyhive.outputs.store import SQLiteStore
from otel_honeyhive.pipeline import PipelineSettings, build_pipeline
from otel_honeyhive.pipeline.pipeline import Pipeline
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.fake_honeyhive import Reply, fake_honeyhive

MS = 1_000_000
T0 = 1_790_000_000_000
"""2026-09-21 14:13:20 UTC in milliseconds: a time below 1e11 would be read as seconds."""
CONVERSATION = "support-chat-7"
SESSION = session_id_for_conversation(CONVERSATION)


def turn(n: int) -> list[SpanView]:
    """Turn `n` (1-based): a root `turn n` span n seconds after `T0` with a chat child, `session.id` on the
    child."""
    start, trace_id = T0 + n * 1_000, 0xC0 + n
    return [
        SpanView(trace_id, 2, "chat gpt-4o", (start + 10) * MS, (start + 90) * MS, parent_span_id=1,
                 attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                             "session.id": CONVERSATION, "user.id": "ada"}),
        SpanView(trace_id, 1, f"turn {n}", start * MS, (start + 100) * MS),
    ]


def pipeline(db: Path) -> Pipeline:
    built = build_pipeline(SQLiteStore(db), PipelineSettings(sessions="conversation"))
    built.start(release_expired=False)
    return built


def store_session(db: Path) -> Event:
    """The conversation's session event exactly as stored (its `children_ids` as sent)."""
    with SQLiteStore(db, readonly=True) as store:
        session = store.get_event(SESSION, children=False)
    assert session is not None
    return session


def test_turns_handed_on_one_by_one_are_one_session_ending_with_the_last(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    first = pipeline(db)
    for n in (1, 2, 3):
        assert first.accept_spans(turn(n)).ok
    first.close(5)
    with SQLiteStore(db) as store:
        events = store.session_events(SESSION)
        (summary,) = store.list_sessions()
    (session,) = [e for e in events if e["event_type"] == "session"]
    turns = [e for e in events if e["parent_id"] == SESSION]
    assert [t["event_name"] for t in turns] == ["turn 1", "turn 2", "turn 3"]
    assert (session["start_time"], session["end_time"], session["duration"]) == (T0 + 1_000, T0 + 3_100, 2_100)
    # Stored: the turns seen when it was sent; read back, every turn stored under it.
    assert store_session(db)["children_ids"] == [turns[0]["event_id"]]
    assert session["children_ids"] == [t["event_id"] for t in turns]
    assert (summary.session_id, summary.name, summary.events, summary.user_id) == (SESSION, "turn 1", 6, "ada")
    assert (summary.start_time, summary.end_time, summary.duration) == (T0 + 1_000, T0 + 3_100, 2_100)


def test_a_restart_starting_the_session_again_keeps_one_session_its_start_and_turns(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    before = pipeline(db)
    for n in (1, 2):
        before.accept_spans(turn(n))
    before.close(5)
    after = pipeline(db)  # a new process: it has started no session yet
    after.accept_spans(turn(3))
    after.accept_spans(turn(2))  # a turn sent again (a client's retry): the same events, no harm
    after.close(5)
    with SQLiteStore(db) as store:
        events = store.session_events(SESSION)
        (summary,) = store.list_sessions()
    sessions = [e for e in events if e["event_type"] == "session"]
    assert len(sessions) == 1 and sessions[0]["event_name"] == "turn 1"
    assert (sessions[0]["start_time"], sessions[0]["end_time"]) == (T0 + 1_000, T0 + 3_100)
    turns = {e["event_name"]: e["event_id"] for e in events if e["parent_id"] == SESSION}
    assert store_session(db)["children_ids"] == [turns["turn 1"], turns["turn 3"]]  # each process's first turn
    assert sessions[0]["children_ids"] == [turns["turn 1"], turns["turn 3"], turns["turn 2"]]  # and the rest
    assert (summary.events, summary.start_time, summary.end_time) == (6, T0 + 1_000, T0 + 3_100)


def test_show_lists_the_turns_in_order_under_the_session(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    run = pipeline(db)
    for n in (1, 2, 3):
        run.accept_spans(turn(n))
    run.close(5)
    with SQLiteStore(db) as store:
        events = store.session_events(SESSION)
    console = Console(width=200, record=True, color_system=None)
    console.print(session_tree(SESSION, events))
    lines = console.export_text().splitlines()
    assert "conversation support-chat-7" in lines[0] and "3 turns" in lines[0]
    shown = [line.strip(" │├└─") for line in lines[1:] if "turn" in line]
    assert [s.split("  ")[0] for s in shown] == ["chain turn 1", "chain turn 2", "chain turn 3"]


def test_a_first_turn_whose_hand_off_failed_leaves_the_session_to_the_next_turn_to_start() -> None:
    """Without a spool, the first turn's events lost to an outage take the session event with them: the next
    turn starts the session (it is not extended as if HoneyHive had it), and the one after extends it."""
    with fake_honeyhive("legacy") as honeyhive:
        settings = HoneyHiveSettings.resolve(environ={}, server_url=honeyhive.url, api_version="legacy")
        policy = RetryPolicy(deadline=0.3, initial_backoff=0.01, max_backoff=0.05)
        run = build_pipeline(HoneyHiveOutput(settings, policy),
                             PipelineSettings(sessions="conversation", retry_policy=policy))
        run.start(release_expired=False)
        honeyhive.default = Reply(503)
        assert not run.accept_spans(turn(1)).ok
        honeyhive.default = Reply(200)
        for n in (2, 3):
            assert run.accept_spans(turn(n)).ok
        run.close(5)
        events = honeyhive.events
        updates = [r.body for r in honeyhive.requests if r.method == "PUT" and r.status == 200]
    assert [e["event_name"] for e in events if e["event_type"] == "session"] == ["turn 2"]
    assert [e["event_name"] for e in events if e["parent_id"] == SESSION] == ["turn 2", "turn 3"]
    assert [u["event_id"] for u in updates] == [SESSION]
    assert (run.mapper.conversations is not None and run.mapper.conversations.sessions_started == 1)
