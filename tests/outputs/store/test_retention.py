"""Retention in the local store (`SQLiteStore.prune`): whole sessions go once their last event is older than the
cutoff, with every event and summary row; a conversation with a recent turn stays whole; events without a
session go by their own times; a dry run counts and changes nothing; and body segments come back once no row
points into them, never the newest, never one still in use."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from otel_honeyhive.outputs.store import SQLiteStore
from otel_honeyhive.outputs.store import bodies as bodies_module
from tests.server.viewer.stored import event, plain_session

HOUR = 3_600_000.0
NOW = 1_790_000_000_000.0
CUTOFF = NOW - 24 * HOUR


def session_at(number: int, start: float, *, events: int = 3, size: int = 0) -> list[dict[str, object]]:
    """A session event and `events - 1` children, all starting at `start`, each carrying `size` characters."""
    sid = f"5e550000-0000-4000-8000-{number:012d}"
    made = [event(sid, sid, "session", f"session-{number}", start, 1_000.0, inputs={"text": "x" * size})]
    made += [event(sid, f"e0000000-{number:04d}-4000-8000-{i:012d}", "tool", f"step-{i}", start + i, 10.0, sid,
                   inputs={"text": "y" * size}) for i in range(1, events)]
    return made


def stored_sessions(store: SQLiteStore) -> set[str]:
    return {s.name or "" for s in store.list_sessions(limit=1_000)}


def test_sessions_quiet_since_before_the_cutoff_go_whole_and_the_rest_stay(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "events.db") as store:
        store.send([*session_at(1, CUTOFF - 10 * HOUR), *session_at(2, CUTOFF - HOUR), *session_at(3, NOW)])
        pruned = store.prune(CUTOFF)
        assert (pruned.sessions, pruned.events) == (2, 6)
        assert stored_sessions(store) == {"session-3"}
        assert store.count_events() == 3 and store.count_sessions() == 1
        assert store.session_events("5e550000-0000-4000-8000-000000000001") == []
        assert store.prune(CUTOFF) == type(pruned)(0, 0)  # nothing older is left


def test_a_conversation_with_a_recent_turn_stays_whole(tmp_path: Path) -> None:
    """The session is judged by its last event, not its first: an old conversation still talking is kept."""
    old = session_at(4, CUTOFF - 48 * HOUR)
    sid = str(old[0]["session_id"])
    late_turn = event(sid, "e0000000-0004-4000-8000-00000000ffff", "chain", "turn 2", NOW - HOUR, 5_000.0, sid)
    with SQLiteStore(tmp_path / "events.db") as store:
        store.send([*old, late_turn])
        assert store.prune(CUTOFF).sessions == 0
        assert len(store.session_events(sid)) == 4


def test_events_without_a_session_go_by_their_own_times(tmp_path: Path) -> None:
    loose_old = {**event("x", "10000000-0000-4000-8000-000000000001", "tool", "old", CUTOFF - HOUR, 10.0),
                 "session_id": None}
    loose_new = {**event("x", "10000000-0000-4000-8000-000000000002", "tool", "new", NOW, 10.0), "session_id": None}
    with SQLiteStore(tmp_path / "events.db") as store:
        store.send([loose_old, loose_new])
        assert store.prune(CUTOFF).events == 1
        assert store.get_event("10000000-0000-4000-8000-000000000001") is None
        assert store.get_event("10000000-0000-4000-8000-000000000002") is not None


def in_seconds(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same events with their times sent in seconds, as HoneyHive's own examples send them."""
    return [{**e, "start_time": e["start_time"] / 1000, "end_time": e["end_time"] / 1000} for e in events]


def test_times_sent_in_seconds_are_judged_as_the_pages_read_them(tmp_path: Path) -> None:
    """A start below 1e11 is seconds to the viewer and `show`: retention reads it so too, and never takes a
    session of today sent in seconds for one of 1970."""
    recent, old = in_seconds(session_at(6, NOW - HOUR)), in_seconds(session_at(7, CUTOFF - HOUR))
    sid = str(recent[0]["session_id"])
    with SQLiteStore(tmp_path / "events.db") as store:
        store.send([*recent, *old])
        assert (store.prune(CUTOFF, dry_run=True).sessions, store.prune(CUTOFF).sessions) == (1, 1)
        assert stored_sessions(store) == {"session-6"} and len(store.session_events(sid)) == 3


def test_a_loose_event_sent_in_seconds_goes_by_its_time_read_as_seconds(tmp_path: Path) -> None:
    loose = [{**e, "session_id": None} for e in in_seconds([
        event("x", "10000000-0000-4000-8000-000000000003", "tool", "old", CUTOFF - HOUR, 10.0),
        event("x", "10000000-0000-4000-8000-000000000004", "tool", "new", NOW, 10.0)])]
    with SQLiteStore(tmp_path / "events.db") as store:
        store.send(loose)
        assert store.prune(CUTOFF).events == 1
        assert store.get_event("10000000-0000-4000-8000-000000000004") is not None


def test_a_session_without_any_time_is_never_taken_for_old(tmp_path: Path) -> None:
    timeless = [{**e, "start_time": None, "end_time": None, "duration": None} for e in session_at(5, 0.0)]
    with SQLiteStore(tmp_path / "events.db") as store:
        store.send(timeless)
        assert store.prune(NOW + HOUR).sessions == 0 and store.count_events() == 3


def test_a_dry_run_counts_what_would_go_and_deletes_nothing(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "events.db") as store:
        store.send([*session_at(1, CUTOFF - HOUR), *session_at(2, NOW),
                    *[e for i in range(3) for e in plain_session(10 + i, CUTOFF - 2 * HOUR)]])
        counted = store.prune(CUTOFF, dry_run=True)
        assert store.count_events() == 3 + 3 + sum(len(plain_session(10 + i, 0)) for i in range(3))
        pruned = store.prune(CUTOFF)
        assert (counted.sessions, counted.events) == (pruned.sessions, pruned.events) == (4, 3 + 3 * 2)


def test_many_sessions_go_in_batches(tmp_path: Path) -> None:
    from otel_honeyhive.outputs.store.sqlite import PRUNE_BATCH

    with SQLiteStore(tmp_path / "events.db") as store:
        store.send([e for i in range(PRUNE_BATCH * 2 + 7) for e in session_at(i, CUTOFF - HOUR, events=2)])
        transactions = store.transactions
        pruned = store.prune(CUTOFF)
        assert pruned.sessions == PRUNE_BATCH * 2 + 7 and store.count_events() == 0
        assert store.transactions - transactions >= 3  # the writer's lock was let go between batches


@pytest.fixture
def small_segments(monkeypatch: pytest.MonkeyPatch) -> int:
    """Segments of 64 KiB instead of 64 MiB, so a test fills several with a few sessions."""
    monkeypatch.setattr(bodies_module, "SEGMENT_BYTES", 64 << 10)
    return 64 << 10


def segment_files(db: Path) -> list[str]:
    return sorted(p.name for p in (db.parent / (db.name + "-bodies")).glob("*.seg"))


def test_segments_nothing_points_into_come_back_and_the_others_stay(tmp_path: Path, small_segments: int) -> None:
    db = tmp_path / "events.db"
    with SQLiteStore(db) as store:
        for i in range(6):  # one send per session: each in its own segment once the last one is full
            assert store.send(session_at(i, CUTOFF - HOUR if i < 4 else NOW, size=30_000)).ok
        before = segment_files(db)
        assert len(before) >= 5
        pruned = store.prune(CUTOFF)
        after = segment_files(db)
        assert pruned.sessions == 4 and pruned.segments == len(before) - len(after) > 0
        assert pruned.bytes_freed >= pruned.segments * small_segments
        assert after[-1] == before[-1], "the newest segment stays"
        for i in (4, 5):  # every kept event still reads back whole
            for kept in store.session_events(f"5e550000-0000-4000-8000-{i:012d}"):
                assert len(str(kept["inputs"]["text"])) == 30_000
        assert store.send(session_at(9, NOW, size=30_000)).ok  # and writing goes on
    with SQLiteStore(db, readonly=True) as reader:
        assert len(reader.session_events("5e550000-0000-4000-8000-000000000009")) == 3


def test_a_segment_still_holding_one_live_body_is_kept(tmp_path: Path, small_segments: int) -> None:
    db = tmp_path / "events.db"
    with SQLiteStore(db) as store:
        assert store.send([*session_at(1, CUTOFF - HOUR, size=30_000), *session_at(2, NOW, size=1_000)]).ok
        assert store.send(session_at(3, NOW, size=70_000)).ok  # a newer segment: the first is closed
        first = segment_files(db)[0]
        assert store.prune(CUTOFF).sessions == 1
        assert first in segment_files(db), "session 2's bodies are in it"
        assert len(store.session_events("5e550000-0000-4000-8000-000000000002")) == 3


def test_pruning_while_writing_loses_no_acknowledged_event(tmp_path: Path, small_segments: int) -> None:
    """Writers and a pruner on one store at once: every event a writer was told is stored reads back whole."""
    db = tmp_path / "events.db"
    acknowledged: list[str] = []
    with SQLiteStore(db) as store:
        store.send([e for i in range(40) for e in session_at(1000 + i, CUTOFF - HOUR, size=5_000)])

        def write(first: int) -> None:
            for i in range(first, first + 30):
                made = session_at(i, NOW, size=5_000)
                if store.send(made).ok:
                    acknowledged.append(str(made[0]["session_id"]))

        writers = [threading.Thread(target=write, args=(n * 100,)) for n in range(2)]
        for thread in writers:
            thread.start()
        pruned = [store.prune(CUTOFF) for _ in range(5)]
        for thread in writers:
            thread.join()
        assert sum(p.sessions for p in pruned) == 40
        assert len(acknowledged) == 60
        for sid in acknowledged:
            events = store.session_events(sid)
            assert len(events) == 3 and all(len(str(e["inputs"]["text"])) == 5_000 for e in events)


def test_a_prune_told_to_stop_begins_no_further_batch(tmp_path: Path) -> None:
    """How a server that is shutting down ends its retention pass quickly: what went stays gone."""
    from otel_honeyhive.outputs.store.sqlite import PRUNE_BATCH

    stop = threading.Event()
    stop.set()
    with SQLiteStore(tmp_path / "events.db") as store:
        store.send([e for i in range(PRUNE_BATCH * 3) for e in session_at(i, CUTOFF - HOUR, events=2)])
        assert store.prune(CUTOFF, stop=stop).sessions == PRUNE_BATCH  # the batch begun, no other
        assert store.prune(CUTOFF).sessions == PRUNE_BATCH * 2
