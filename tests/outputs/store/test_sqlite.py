"""SQLiteStore: the local output behind the embedded default, and the read side the CLI uses."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from otel_honeyhive.core.results import Outcome, Update
from otel_honeyhive.mapper import spans_to_events
from otel_honeyhive.outputs.store import SCHEMA_VERSION, SQLiteStore
from otel_honeyhive.outputs.store.rows import key
from otel_honeyhive.outputs.store.schema import MIGRATIONS
from tests.support.spans import one_trace

MS = 1_790_000_000_000.0
"""2026-09-21 14:13:20 UTC in milliseconds: times below 1e11 are read as seconds (`SQLiteStore.list_sessions`)."""


def new_id() -> str:
    return str(uuid.uuid4())


def event(session_id: str, event_type: str = "tool", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": new_id(),
        "session_id": session_id,
        "parent_id": session_id,
        "event_type": event_type,
        "event_name": f"{event_type}-step",
        "source": "test",
        "inputs": {},
    }
    base.update(fields)
    return base


def session_event(session_id: str, **fields: Any) -> dict[str, Any]:
    return event(session_id, "session", event_id=session_id, parent_id=None, **fields)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "events.db") as s:
        yield s


class TestSend:
    def test_a_sent_event_reads_back_whole(self, store: SQLiteStore) -> None:
        sid = new_id()
        sent = event(sid, config={"model": "gpt-4o"}, metadata={"nested": {"list": [1, 2.5, None]}})
        assert store.send([sent]).ok
        assert store.get_event(sent["event_id"]) == sent
        assert store.count_events() == 1

    def test_resending_an_event_replaces_it_never_duplicates(self, store: SQLiteStore) -> None:
        sid = new_id()
        first = event(sid, outputs={"answer": "draft"})
        second = {**first, "outputs": {"answer": "final"}}
        assert store.send([first]).ok
        assert store.send([second]).ok
        assert store.send([second]).ok
        assert store.count_events() == 1
        assert store.get_event(first["event_id"]) == second

    def test_an_event_twice_in_one_batch_is_stored_once_as_it_came_last(self, store: SQLiteStore) -> None:
        sid = new_id()
        first = event(sid, outputs={"answer": "draft"})
        other = event(sid)
        assert store.send([first, other, {**first, "outputs": {"answer": "final"}}]).ok
        assert store.count_events() == 2
        assert store.get_event(first["event_id"]) == {**first, "outputs": {"answer": "final"}}
        assert [e["event_id"] for e in store.session_events(sid)] == [first["event_id"], other["event_id"]]

    def test_ids_that_share_a_key_are_still_told_apart(self, store: SQLiteStore) -> None:
        """The index holds 48 bits of each id (schema 4: the first and last six hex digits of a UUID): ids equal
        in those stay events of their own, each read back, replaced and listed as itself."""
        sid = "0192f0c1-7e3a-7000-8000-000000000000"
        twins = [f"0192f0c1-7e3a-7abc-8de{i}-000000000000" for i in range(3)]
        assert len({key(i) for i in [sid, *twins]}) == 1
        sent = [session_event(sid), *(event(sid, event_id=t, outputs={"n": i}) for i, t in enumerate(twins)),
                event(sid, event_id="not-a-uuid"), event(sid, event_id="NOT-A-UUID")]
        assert store.send(sent).ok
        assert store.send([{**sent[2], "outputs": {"n": "again"}}]).ok
        assert store.count_events() == len(sent)
        assert [store.get_event(e["event_id"]) for e in sent] == [
            {**sent[0], "children_ids": [*twins, "not-a-uuid", "NOT-A-UUID"]}, sent[1],
            {**sent[2], "outputs": {"n": "again"}}, *sent[3:]]
        assert store.match_events("0192f0c1-7e3a-7abc") == twins
        assert store.match_events("0192f0c1-7e3a-7") == [sid, *twins]
        assert store.get_event("0192f0c1-7e3a-7abc-8de9-000000000000") is None

    def test_ids_that_are_not_uuids_are_found_by_prefix_too(self, store: SQLiteStore) -> None:
        sid = new_id()
        assert store.send([event(sid, event_id="abc-1"), event(sid, event_id="abcd0000-0000-4000-8000-000000000000"),
                           event(sid, event_id="beef")]).ok
        assert store.match_events("abc") == ["abc-1", "abcd0000-0000-4000-8000-000000000000"]
        assert store.match_events("abc-") == ["abc-1"]
        assert store.match_events("be") == ["beef"]

    def test_a_batch_that_cannot_be_stored_changes_nothing(self, store: SQLiteStore) -> None:
        sid = new_id()
        good, unstorable = event(sid), event(sid, metadata={"not json": {1, 2}})
        result = store.send([good, unstorable])
        assert result.outcome is Outcome.REJECTED
        assert "cannot be stored" in result.detail
        assert store.count_events() == 0

    def test_an_event_without_an_id_is_refused(self, store: SQLiteStore) -> None:
        sid = new_id()
        nameless = event(sid)
        del nameless["event_id"]
        result = store.send([event(sid), nameless])
        assert result.outcome is Outcome.REJECTED and "event_id" in result.detail
        assert store.count_events() == 0

    def test_numbers_sqlite_cannot_hold_are_kept_in_the_event_not_its_columns(self, store: SQLiteStore) -> None:
        sid = new_id()
        huge = event(sid, "model", metadata={"prompt_tokens": 1e300, "completion_tokens": 1e300})
        assert store.send([huge]).ok
        assert store.get_event(huge["event_id"]) == huge
        with sqlite3.connect(store.path) as conn:
            assert conn.execute("SELECT event_tokens FROM events").fetchall() == [(None,)]

    def test_an_empty_batch_is_delivered(self, store: SQLiteStore) -> None:
        assert store.send([]).ok

    def test_concurrent_senders_all_land(self, store: SQLiteStore) -> None:
        sid = new_id()
        failures: list[str] = []

        def send_many() -> None:
            for _ in range(40):
                result = store.send([event(sid), event(sid)])
                if not result.ok:
                    failures.append(result.detail)

        threads = [threading.Thread(target=send_many) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        assert store.count_events() == 8 * 40 * 2

    def test_a_store_locked_by_another_process_asks_to_retry_and_writes_nothing(self, tmp_path: Path) -> None:
        path = tmp_path / "events.db"
        with SQLiteStore(path, busy_timeout=0.05) as store:
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN EXCLUSIVE")
            try:
                result = store.send([event(new_id())])
            finally:
                other.execute("ROLLBACK")
                other.close()
            assert result.outcome is Outcome.RETRY_LATER and "locked" in result.detail
            assert result.retry_after is not None
            assert store.count_events() == 0
            assert store.send([event(new_id())]).ok

    def test_after_close_sends_are_refused_for_later(self, tmp_path: Path) -> None:
        store = SQLiteStore(tmp_path / "events.db")
        store.close()
        store.close()  # closing twice is harmless
        result = store.send([event(new_id())])
        assert result.outcome is Outcome.RETRY_LATER


class TestUpdate:
    """`PUT /events` semantics: buckets merged, outputs and plain fields replaced."""

    def test_buckets_are_merged_and_everything_else_replaced(self, store: SQLiteStore) -> None:
        sid = new_id()
        original = event(
            sid,
            metadata={"a": 1, "b": 1},
            feedback={"rating": 3},
            metrics={"m1": 1},
            config={"model": "x", "temperature": 0},
            user_properties={"user": "u1"},
            outputs={"old": True, "kept": "no"},
            children_ids=["c1"],
            start_time=1000.0,
            end_time=2000.0,
            duration=1000.0,
        )
        store.send([original])
        fields = {
            "metadata": {"b": 2, "c": 3},
            "feedback": {"comment": "ok"},
            "metrics": {"m2": 2},
            "config": {"temperature": 1},
            "user_properties": {"tier": "free"},
            "outputs": {"new": True},
            "children_ids": ["c2", "c3"],
            "duration": 42.0,
        }
        assert store.update(Update(original["event_id"], fields)).ok
        stored = store.get_event(original["event_id"])
        assert stored is not None
        assert stored["metadata"] == {"a": 1, "b": 2, "c": 3}
        assert stored["feedback"] == {"rating": 3, "comment": "ok"}
        assert stored["metrics"] == {"m1": 1, "m2": 2}
        assert stored["config"] == {"model": "x", "temperature": 1}
        assert stored["user_properties"] == {"user": "u1", "tier": "free"}
        assert stored["outputs"] == {"new": True}
        assert stored["children_ids"] == ["c2", "c3"]
        assert stored["duration"] == 42.0
        assert stored["inputs"] == original["inputs"]

    def test_a_new_end_time_without_duration_recomputes_the_duration(self, store: SQLiteStore) -> None:
        started = event(new_id(), start_time=1_796_000_010_000.0)
        store.send([started])
        assert store.update(Update(started["event_id"], {"end_time": 1_796_000_012_500.0})).ok
        stored = store.get_event(started["event_id"])
        assert stored is not None
        assert stored["end_time"] == 1_796_000_012_500.0 and stored["duration"] == 2_500.0

    def test_a_duration_recomputed_from_times_sent_in_seconds_is_in_milliseconds(self, store: SQLiteStore) -> None:
        started = event(new_id(), start_time=1_796_000_010.0)
        store.send([started])
        assert store.update(Update(started["event_id"], {"end_time": 1_796_000_017.0})).ok
        stored = store.get_event(started["event_id"])
        assert stored is not None
        assert stored["end_time"] == 1_796_000_017.0 and stored["duration"] == 7_000.0

    def test_a_bucket_the_event_lacked_is_created(self, store: SQLiteStore) -> None:
        bare = event(new_id())
        store.send([bare])
        store.update(Update(bare["event_id"], {"metrics": {"score": 1}}))
        stored = store.get_event(bare["event_id"])
        assert stored is not None and stored["metrics"] == {"score": 1}

    def test_an_unknown_event_is_rejected_and_nothing_is_created(self, store: SQLiteStore) -> None:
        missing = new_id()
        result = store.update(Update(missing, {"metadata": {"a": 1}}))
        assert result.outcome is Outcome.REJECTED
        assert f"unknown event_id {missing}" in result.detail
        assert store.count_events() == 0

    def test_updates_show_in_the_session_listing(self, store: SQLiteStore) -> None:
        sid = new_id()
        store.send([session_event(sid, start_time=1000.0)])
        store.update(Update(sid, {"duration": 750.0}))
        [summary] = store.list_sessions()
        assert summary.duration == 750.0


class TestQueries:
    def test_session_events_come_earliest_first_with_undated_last(self, store: SQLiteStore) -> None:
        sid = new_id()
        late, early, undated = event(sid, start_time=3.0), event(sid, start_time=1.0), event(sid)
        store.send([late, undated, early, event(new_id())])
        ids = [e["event_id"] for e in store.session_events(sid)]
        assert ids == [early["event_id"], late["event_id"], undated["event_id"]]

    def test_a_session_row_is_named_by_its_session_event(self, store: SQLiteStore) -> None:
        sid = new_id()
        store.send([
            session_event(sid, event_name="chat", source="prod", start_time=MS, duration=5000.0),
            event(sid, start_time=MS + 500, end_time=MS + 600),
            event(sid, start_time=MS + 700, end_time=MS + 800, error="boom"),
        ])
        [summary] = store.list_sessions()
        assert summary.session_id == sid
        assert (summary.name, summary.source) == ("chat", "prod")
        assert (summary.start_time, summary.duration) == (MS, 5000.0)
        assert (summary.events, summary.errors) == (2, 1)
        assert summary.has_session_event

    def test_a_session_known_only_from_its_children_is_listed(self, store: SQLiteStore) -> None:
        sid = new_id()
        store.send([
            event(sid, source="worker", start_time=MS, end_time=MS + 600),
            event(sid, source="worker", start_time=MS + 100, end_time=MS + 1000, error="x"),
        ])
        [summary] = store.list_sessions()
        assert summary.session_id == sid
        assert summary.name is None and summary.source == "worker"
        assert summary.start_time == MS and summary.duration == 1000.0
        assert (summary.events, summary.errors, summary.has_session_event) == (2, 1, False)

    def test_sessions_are_listed_newest_first_up_to_the_limit(self, store: SQLiteStore) -> None:
        sids = [new_id() for _ in range(5)]
        store.send([session_event(sid, start_time=float(i)) for i, sid in enumerate(sids)])
        store.send([event(new_id())])  # a session with no start time sorts last
        listed = [s.session_id for s in store.list_sessions(limit=3)]
        assert listed == [sids[4], sids[3], sids[2]]
        assert len(store.list_sessions(limit=100)) == 6

    def test_sessions_match_by_unique_prefix(self, store: SQLiteStore) -> None:
        a = "aaaa1111-0000-4000-8000-000000000001"
        b = "aaaa2222-0000-4000-8000-000000000002"
        store.send([session_event(a), session_event(b)])
        assert store.match_sessions("aaaa1") == [a]
        assert store.match_sessions("AAAA") == [a, b]
        assert store.match_sessions(a) == [a]
        assert store.match_sessions("bbbb") == []
        assert store.match_sessions("a*") == []  # not a glob: only hex digits and dashes are ids

    def test_get_event_of_an_unknown_id_is_none(self, store: SQLiteStore) -> None:
        assert store.get_event(new_id()) is None

    def test_a_session_row_sums_its_model_tokens_and_names_its_user(self, store: SQLiteStore) -> None:
        sid = new_id()
        store.send([session_event(sid, start_time=1.0, user_properties={"user_id": "ada"})])
        store.send([event(sid, "model", metadata={"total_tokens": 30}),
                    event(sid, "model", metadata={"total_tokens": 12}), event(sid, metadata={"total_tokens": 99})])
        [summary] = store.list_sessions()
        assert (summary.tokens, summary.user_id, summary.events) == (42, "ada", 3)


class TestSearch:
    """Listing and searching read one row per session (a summary kept in the write's own transaction)."""

    @pytest.fixture
    def sessions(self, store: SQLiteStore) -> dict[str, str]:
        ids = {"chat": "aaaa1111-0000-4000-8000-000000000001", "agent": "bbbb2222-0000-4000-8000-000000000002",
               "batch": "cccc3333-0000-4000-8000-000000000003"}
        store.send([session_event(ids["chat"], event_name="Support chat", start_time=MS + 1000.0,
                                  user_properties={"user_id": "ada"})])
        store.send([session_event(ids["agent"], event_name="Planning agent_v2", start_time=MS + 2000.0),
                    event(ids["agent"], start_time=MS + 2100.0, error="tool failed")])
        store.send([session_event(ids["batch"], event_name="nightly 100% run", start_time=MS + 3000.0)])
        return ids

    def test_search_by_name_part_id_prefix_or_user(self, store: SQLiteStore, sessions: dict[str, str]) -> None:
        def found(text: str) -> list[str]:
            return [s.session_id for s in store.list_sessions(search=text)]

        assert found("CHAT") == [sessions["chat"]]
        assert found("bbbb22") == [sessions["agent"]]
        assert found("ada") == [sessions["chat"]]
        assert found("agent_v") == [sessions["agent"]]
        assert found("t_v") == [sessions["agent"]]
        assert found("100%") == [sessions["batch"]]
        assert found("_") == [sessions["agent"]]  # LIKE's wildcards are literal
        assert found("%") == [sessions["batch"]]
        assert found("*") == []
        assert store.count_sessions(search="T") == 3

    def test_time_range_errors_and_pages(self, store: SQLiteStore, sessions: dict[str, str]) -> None:
        assert [s.session_id for s in store.list_sessions(since=MS + 1500.0, until=MS + 3000.0)] == \
            [sessions["agent"]]
        assert [s.session_id for s in store.list_sessions(errors_only=True)] == [sessions["agent"]]
        assert store.count_sessions(errors_only=True) == 1
        pages = [store.list_sessions(limit=2, offset=0), store.list_sessions(limit=2, offset=2)]
        assert [s.session_id for page in pages for s in page] == [sessions["batch"], sessions["agent"],
                                                                   sessions["chat"]]

    def test_a_start_stored_in_seconds_is_in_the_range_its_time_in_milliseconds_is_in(self, store: SQLiteStore) -> None:
        """HoneyHive documents milliseconds, but its examples send seconds too: the viewer and `show` read a time
        below 1e11 as seconds, so the time filter (and `export --since`) does as well."""
        in_seconds, in_ms = new_id(), new_id()
        store.send([session_event(in_seconds, event_name="sent in seconds", start_time=MS / 1000 + 10),
                    session_event(in_ms, event_name="sent in ms", start_time=MS + 20_000)])
        assert [s.session_id for s in store.list_sessions(since=MS, until=MS + 15_000)] == [in_seconds]
        assert [s.session_id for s in store.list_sessions(since=MS + 15_000)] == [in_ms]
        assert [s.session_id for s in store.list_sessions(until=MS + 15_000)] == [in_seconds]
        assert {s.session_id for s in store.list_sessions(since=MS)} == {in_seconds, in_ms}
        assert store.count_sessions(since=MS, until=MS + 15_000) == 1
        assert store.sessions_started(MS, MS + 15_000) == [in_seconds]
        assert store.sessions_started(MS) == [in_seconds, in_ms]
        assert store.list_sessions(until=MS - 1) == []

    def test_a_version_1_store_is_upgraded_with_its_sessions_summarised(self, tmp_path: Path) -> None:
        """A store written before the summary table: opening it for writing adds the table, filled from the
        events already stored; read-only, it is listed the old way."""
        path = tmp_path / "old.db"
        sid = new_id()
        conn = sqlite3.connect(path, isolation_level=None)
        conn.executescript(_V1_SCHEMA)
        for e in (session_event(sid, event_name="old chat", start_time=5.0, user_properties={"user_id": "bo"}),
                  event(sid, "model", metadata={"total_tokens": 7}, error="x")):
            conn.execute("INSERT INTO events (event_id, session_id, parent_id, event_type, event_name, source, "
                         "start_time, has_error, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (e["event_id"], sid, e["parent_id"], e["event_type"], e["event_name"], "test",
                          e.get("start_time"), 1 if e.get("error") else 0, json.dumps(e).encode()))
        conn.execute("PRAGMA user_version = 1")
        conn.close()
        with SQLiteStore(path, readonly=True) as old:
            [summary] = old.list_sessions()
            assert (summary.name, summary.events, summary.errors) == ("old chat", 1, 1)
            with pytest.raises(RuntimeError, match="searching needs a store written by this version"):
                old.list_sessions(search="old")
        with SQLiteStore(path) as upgraded:
            [summary] = upgraded.list_sessions(search="old")
            assert (summary.name, summary.events, summary.errors, summary.tokens, summary.user_id) == (
                "old chat", 1, 1, 7, "bo")
            later = event(sid, "tool", start_time=9.0)
            assert upgraded.send([later]).ok
            # Bodies written before the upgrade stay where they were; new ones go to the segments.
            assert sorted(e["event_type"] for e in upgraded.session_events(sid)) == ["model", "session", "tool"]
            assert upgraded.get_event(later["event_id"]) == later
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            inline = conn.execute("SELECT COUNT(*) FROM events WHERE body_len IS NULL").fetchone()[0]
            assert inline == 2
            [(model_tokens,)] = conn.execute("SELECT event_tokens FROM events WHERE event_type = 'model'")
            assert model_tokens == 7


    def test_a_version_3_store_is_rebuilt_with_keys_and_keeps_every_row_and_its_order(self, tmp_path: Path) -> None:
        """Schema 4 indexes ids by integer keys, which takes rebuilding the events table: each row keeps its
        rowid (events that start together keep their order), its body, inline or in a segment, and its columns."""
        path = tmp_path / "v3.db"
        sid = new_id()
        sent = [session_event(sid, start_time=MS), *(event(sid, start_time=MS + 1000) for _ in range(3)),
                event(sid, event_id="cafe-1", start_time=MS + 1000)]
        conn = sqlite3.connect(path, isolation_level=None)
        for step, statements in MIGRATIONS:
            if step <= 3:
                for statement in filter(str.strip, statements.split(";")):
                    conn.execute(statement)
        for e in reversed(sent):  # rowids against the ids' order, so that only the rowid can keep it
            conn.execute("INSERT INTO events (event_id, session_id, parent_id, event_type, event_name, start_time, "
                         "has_error, body) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                         (e["event_id"], sid, e["parent_id"], e["event_type"], e["event_name"], e["start_time"],
                          json.dumps(e).encode()))
        conn.execute("INSERT INTO sessions VALUES (?, 'old', 'test', NULL, ?, NULL, NULL, 4, 0, NULL, 1)", (sid, MS))
        conn.execute("PRAGMA user_version = 3")
        conn.close()
        with SQLiteStore(path, readonly=True) as old:  # an older server still owns it: read as it is
            assert old.get_event("cafe-1") == sent[-1]
            assert old.session_events(sid, children=False) == [sent[0], *reversed(sent[1:])]
        with SQLiteStore(path) as upgraded:
            assert upgraded.session_events(sid, children=False) == [sent[0], *reversed(sent[1:])]
            assert [upgraded.get_event(e["event_id"], children=False) for e in sent] == sent
            assert upgraded.match_events("cafe") == ["cafe-1"]
            [summary] = upgraded.list_sessions()
            assert (summary.name, summary.events) == ("old", 4)  # the summaries are kept as they were
            again = {**sent[2], "outputs": {"x": 1}}
            assert upgraded.send([again]).ok and upgraded.count_events() == len(sent)
            assert upgraded.get_event(again["event_id"]) == again
            [summary] = upgraded.list_sessions()  # and refreshed from the rows, through the new keys
            assert (summary.name, summary.events, summary.start_time) == ("session-step", 4, MS)
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            indexes = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
            assert {"events_by_id", "events_by_session"} <= indexes
            assert not any(name.startswith("sqlite_autoindex_events") for name in indexes)
            assert conn.execute("SELECT COUNT(*) FROM events WHERE id_key IS NULL").fetchone()[0] == 0


_V1_SCHEMA = """
CREATE TABLE events (
    event_id TEXT PRIMARY KEY, session_id TEXT, parent_id TEXT, event_type TEXT, event_name TEXT, source TEXT,
    start_time REAL, end_time REAL, duration REAL, has_error INTEGER NOT NULL DEFAULT 0, body BLOB NOT NULL
);
CREATE INDEX events_by_session ON events (session_id, start_time);
"""


class TestDurability:
    def test_the_store_uses_wal_so_readers_never_block_the_writer(self, store: SQLiteStore) -> None:
        with sqlite3.connect(store.path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    def test_the_log_holds_64_mib_before_a_checkpoint_whatever_the_page_size(self, tmp_path: Path) -> None:
        """Checkpoints copy each changed page once however many commits changed it: the log may grow to 64 MiB
        (16,384 pages of a new store, 1,024 of a store made with 64 KiB pages) and is cut back to that."""
        with SQLiteStore(tmp_path / "new.db") as new:
            assert new._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 16384
            assert new._conn.execute("PRAGMA journal_size_limit").fetchone()[0] == 64 << 20
        conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
        conn.execute("PRAGMA page_size = 65536")
        conn.executescript(_V1_SCHEMA)
        conn.execute("PRAGMA user_version = 1")
        conn.close()
        with SQLiteStore(tmp_path / "old.db") as old:
            assert old._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1024

    def test_everything_survives_a_reopen(self, tmp_path: Path) -> None:
        path = tmp_path / "nested" / "dir" / "events.db"
        sid = new_id()
        with SQLiteStore(path) as store:
            store.send([session_event(sid), event(sid)])
        with SQLiteStore(path) as store:
            assert store.count_events() == 2
            assert store.list_sessions()[0].session_id == sid

    def test_a_reader_sees_what_another_connection_committed(self, tmp_path: Path) -> None:
        path = tmp_path / "events.db"
        with SQLiteStore(path) as writer, SQLiteStore(path, readonly=True) as reader:
            sent = event(new_id())
            writer.send([sent])
            assert reader.get_event(sent["event_id"]) == sent

    def test_a_read_only_store_never_writes(self, tmp_path: Path) -> None:
        path = tmp_path / "events.db"
        SQLiteStore(path).close()
        with SQLiteStore(path, readonly=True) as reader:
            assert reader.send([event(new_id())]).outcome is Outcome.REJECTED
            assert reader.count_events() == 0

    def test_opening_a_missing_store_read_only_creates_nothing(self, tmp_path: Path) -> None:
        path = tmp_path / "missing.db"
        with pytest.raises(FileNotFoundError, match="no event store"):
            SQLiteStore(path, readonly=True)
        assert not path.exists()

    def test_a_file_that_is_not_a_store_is_refused_read_only(self, tmp_path: Path) -> None:
        path = tmp_path / "other.db"
        sqlite3.connect(path).close()
        path.write_bytes(b"")
        with pytest.raises(RuntimeError, match="not an otel-honeyhive event store"):
            SQLiteStore(path, readonly=True)

    def test_a_store_from_a_newer_version_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "events.db"
        SQLiteStore(path).close()
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA user_version = 99")
        with pytest.raises(RuntimeError, match="newer"):
            SQLiteStore(path)


class TestGroupCommit:
    """Writes that arrive while another commits are committed together (one fsync), each still acknowledged only
    once its rows are durable, and one refused write does not undo its neighbours."""

    @staticmethod
    def _waiting_writers(store: SQLiteStore, works: list[Any]) -> list[Any]:
        """Start one thread per write while the connection is busy (its lock held), so that they all queue."""
        results: list[Any] = [None] * len(works)
        threads = [threading.Thread(target=lambda i=i, w=w: results.__setitem__(i, w())) for i, w in enumerate(works)]
        with store._lock:
            for t in threads:
                t.start()
            while len(store._pending) < len(works):
                threading.Event().wait(0.001)
        for t in threads:
            t.join(10)
        return results

    def test_writes_that_queue_are_committed_in_one_transaction(self, store: SQLiteStore, tmp_path: Path) -> None:
        sid = new_id()
        batches = [[event(sid) for _ in range(3)] for _ in range(8)]
        before = store.transactions
        results = self._waiting_writers(store, [lambda b=b: store.send(b) for b in batches])
        assert all(r.ok for r in results)
        assert store.transactions - before == 1
        with SQLiteStore(tmp_path / "events.db", readonly=True) as other:  # durable: another connection sees it
            assert len(other.session_events(sid)) == 24

    def test_a_refused_write_does_not_undo_the_others(self, store: SQLiteStore) -> None:
        sid = new_id()
        good = [event(sid) for _ in range(4)]

        def broken(conn: sqlite3.Connection) -> Any:
            conn.execute("INSERT INTO events (event_id) VALUES (?)", (new_id(),))  # body NOT NULL: refused
            raise AssertionError("unreachable")

        works: list[Callable[[], object]] = [partial(store.send, [e]) for e in good[:2]]
        works.append(partial(store._write, broken))
        works += [partial(store.send, [e]) for e in good[2:]]
        results = self._waiting_writers(store, works)
        assert [r.outcome for r in results] == [Outcome.DELIVERED] * 2 + [Outcome.REJECTED] + [Outcome.DELIVERED] * 2
        assert "NOT NULL" in results[2].detail
        assert {e["event_id"] for e in store.session_events(sid)} == {e["event_id"] for e in good}

    def test_an_update_of_an_unknown_event_is_refused_in_a_group_too(self, store: SQLiteStore) -> None:
        sid = new_id()
        sent = event(sid)
        results = self._waiting_writers(store, [
            lambda: store.send([sent]),
            lambda: store.update(Update(new_id(), {"outputs": {"x": 1}})),
        ])
        assert results[0].ok and results[1].outcome is Outcome.REJECTED
        assert store.get_event(sent["event_id"]) is not None


class TestSessionEventStoredAgain:
    """A session event (`event_id == session_id`) the store already holds is merged, never replaced: a client
    starting the same session again (a reconnect, HoneyHive's SDK) loses nothing the first start carried, as
    HoneyHive merges a repeated `session_id`
    (https://docs.honeyhive.ai/v2/api-reference-autogen/sessions/start-a-new-session)."""

    def test_a_session_started_again_keeps_what_the_first_start_carried(self, store: SQLiteStore) -> None:
        sid = new_id()
        first = session_event(sid, event_name="support chat", source="prod", inputs={"question": "How?"},
                              metadata={"app_version": "1.0", "region": "eu"}, start_time=MS,
                              user_properties={"user_id": "ada", "plan": "pro"}, config={"model": "gpt-4o"})
        again = session_event(sid, event_name="unknown", source="dev", inputs={}, start_time=MS + 60_000,
                              metadata={"region": "us", "retry": 1}, user_properties={"tier": "gold"},
                              feedback={"rating": 5}, outputs={"answer": "42"})
        assert store.send([first]).ok and store.send([again]).ok
        assert store.get_event(sid) == {
            **first, "metadata": {"app_version": "1.0", "region": "us", "retry": 1},
            "user_properties": {"user_id": "ada", "plan": "pro", "tier": "gold"}, "feedback": {"rating": 5},
            "outputs": {"answer": "42"},
        }
        [summary] = store.list_sessions()
        assert (summary.name, summary.source, summary.user_id, summary.start_time) == ("support chat", "prod",
                                                                                     "ada", MS)
        assert store.count_events() == 1

    def test_a_later_end_and_more_children_extend_the_session(self, store: SQLiteStore) -> None:
        sid, a, b = new_id(), new_id(), new_id()
        store.send([session_event(sid, start_time=MS, end_time=MS + 100, duration=100.0, children_ids=[a])])
        store.send([session_event(sid, start_time=MS + 50, end_time=MS + 500, duration=450.0, children_ids=[b, a])])
        stored = store.get_event(sid)
        assert stored is not None
        assert (stored["start_time"], stored["end_time"], stored["duration"]) == (MS, MS + 500, 500.0)
        assert stored["children_ids"] == [a, b]

    def test_the_same_session_event_sent_again_is_stored_as_it_was(self, store: SQLiteStore) -> None:
        sid = new_id()
        sent = session_event(sid, start_time=MS, metadata={"a": 1}, outputs={"x": 1}, children_ids=[])
        for _ in range(3):
            assert store.send([sent]).ok
        assert store.get_event(sid) == sent and store.count_events() == 1

    def test_a_trace_mapped_twice_is_stored_once_as_it_was_mapped(self, store: SQLiteStore) -> None:
        """The span path stays an idempotent upsert: a retried hand-off maps the same spans to the same events."""
        mapped = spans_to_events(one_trace("agent", 3), source="test")
        assert mapped[0]["event_type"] == "session"
        for _ in range(2):
            assert store.send(mapped).ok
        assert [store.get_event(e["event_id"]) for e in mapped] == mapped
        assert store.count_events() == len(mapped)

    def test_an_event_that_is_not_the_session_event_is_still_replaced(self, store: SQLiteStore) -> None:
        sid = new_id()
        store.send([session_event(sid, start_time=MS)])
        tool = event(sid, metadata={"a": 1}, outputs={"x": 1})
        store.send([tool])
        store.send([{**tool, "metadata": {"b": 2}, "outputs": {}}])
        assert store.get_event(tool["event_id"]) == {**tool, "metadata": {"b": 2}, "outputs": {}}


class TestChildren:
    """An event read back lists the children stored under it (`children_ids`), those its sender listed first, as
    HoneyHive's GET of a session shows its children: the tree is told by each child's `parent_id`, so a child
    posted after its parent (`POST /events`, a later turn) is listed too."""

    def test_a_session_event_lists_the_children_stored_after_it(self, store: SQLiteStore) -> None:
        sid = new_id()
        store.send([session_event(sid, start_time=MS, children_ids=[])])
        first = event(sid, start_time=MS + 10)
        store.send([first])
        later = event(sid, start_time=MS + 20)
        nested = event(sid, parent_id=later["event_id"], start_time=MS + 30)
        store.send([nested, later])
        session = store.get_event(sid)
        assert session is not None and session["children_ids"] == [first["event_id"], later["event_id"]]
        assert store.get_event(later["event_id"]) == {**later, "children_ids": [nested["event_id"]]}
        assert store.get_event(first["event_id"]) == first  # no children: as it was sent
        by_id = {e["event_id"]: e for e in store.session_events(sid)}
        assert by_id[sid]["children_ids"] == [first["event_id"], later["event_id"]]
        assert by_id[later["event_id"]]["children_ids"] == [nested["event_id"]]
        assert by_id[first["event_id"]] == first

    def test_the_children_a_sender_listed_come_first_and_none_twice(self, store: SQLiteStore) -> None:
        sid, listed_only = new_id(), new_id()
        a, b = event(sid, start_time=MS + 10), event(sid, start_time=MS + 20)
        store.send([session_event(sid, start_time=MS, children_ids=[b["event_id"], listed_only]), a, b])
        expected = [b["event_id"], listed_only, a["event_id"]]
        session = store.get_event(sid)
        assert session is not None and session["children_ids"] == expected
        assert store.session_events(sid)[0]["children_ids"] == expected


class TestTimesInSeconds:
    """HoneyHive documents milliseconds, but its examples send seconds: the store reads a time below 1e11 as
    seconds everywhere, its newest-first listing included."""

    def test_a_session_sent_in_seconds_today_is_listed_before_one_sent_in_ms_yesterday(
        self, store: SQLiteStore
    ) -> None:
        today_in_seconds, yesterday_in_ms = new_id(), new_id()
        store.send([session_event(yesterday_in_ms, start_time=MS - 86_400_000, end_time=MS - 86_400_000 + 500)])
        store.send([session_event(today_in_seconds, start_time=MS / 1000, end_time=MS / 1000 + 2)])
        listed = store.list_sessions()
        assert [s.session_id for s in listed] == [today_in_seconds, yesterday_in_ms]
        assert (listed[0].start_time, listed[0].end_time) == (MS, MS + 2000)  # milliseconds, as every other
        assert store.sessions_started() == [yesterday_in_ms, today_in_seconds]
        sent = store.get_event(today_in_seconds)
        assert sent is not None and sent["start_time"] == MS / 1000  # the event itself is kept as sent

    def test_a_session_whose_times_mix_seconds_and_ms_is_summarised_in_ms(self, store: SQLiteStore) -> None:
        sid = new_id()
        store.send([event(sid, start_time=MS / 1000, end_time=MS / 1000 + 1),
                    event(sid, start_time=MS + 500, end_time=MS + 3000)])
        [summary] = store.list_sessions()
        assert (summary.start_time, summary.end_time, summary.duration) == (MS, MS + 3000, 3000.0)

    def test_a_version_4_store_has_its_times_in_seconds_read_as_ms_once_upgraded(self, tmp_path: Path) -> None:
        """A store version 4 wrote (times copied into the columns as sent): opening it for writing turns the
        columns and the summaries of sessions with a time in seconds into milliseconds, in one transaction; the
        bodies stay as they were sent."""
        path = tmp_path / "v4.db"
        in_seconds, in_ms, mixed = new_id(), new_id(), new_id()
        sent = [session_event(in_seconds, start_time=MS / 1000, end_time=MS / 1000 + 2),
                session_event(in_ms, start_time=MS - 86_400_000, end_time=MS - 86_400_000 + 500),
                event(mixed, start_time=MS / 1000 - 10, end_time=MS / 1000 - 9),
                event(mixed, start_time=MS - 5000, end_time=MS - 4000)]
        _version_4_store(path, sent)
        with SQLiteStore(path, readonly=True) as old:  # an older server still owns it: read as it is
            assert [s.session_id for s in old.list_sessions()] == [in_seconds, mixed, in_ms]
        with SQLiteStore(path) as upgraded:
            listed = upgraded.list_sessions()
            assert [s.session_id for s in listed] == [in_seconds, mixed, in_ms]
            assert [(s.start_time, s.end_time) for s in listed] == [
                (MS, MS + 2000), (MS - 10_000, MS - 4000), (MS - 86_400_000, MS - 86_400_000 + 500)]
            assert listed[1].duration == 6000.0
            assert [upgraded.get_event(e["event_id"]) for e in sent] == sent
            assert upgraded.list_sessions(since=MS - 1, until=MS + 1)[0].session_id == in_seconds
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
            assert conn.execute("SELECT MIN(start_time) FROM events").fetchone()[0] >= 1e11


def _version_4_store(path: Path, events: list[dict[str, Any]]) -> None:
    """A store as version 4 left it: its schema (the steps up to 4), each event's columns as sent, its body inline
    (as rows written before schema 3 keep theirs), and the summaries version 4's refresh made."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.create_function("store_key", 1, key, deterministic=True)
    for step, statements in MIGRATIONS:
        if step <= 4:
            for statement in filter(str.strip, statements.split(";")):
                conn.execute(statement)
    for e in events:
        conn.execute("INSERT INTO events (event_id, id_key, session_id, session_key, parent_id, event_type, "
                     "event_name, source, start_time, end_time, has_error, body) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                     (e["event_id"], key(e["event_id"]), e["session_id"], key(e["session_id"]), e["parent_id"],
                      e["event_type"], e["event_name"], e["source"], e["start_time"], e["end_time"],
                      json.dumps(e).encode()))
    conn.execute(_V4_REFRESH_ALL)
    conn.execute("PRAGMA user_version = 4")
    conn.close()


_V4_REFRESH_ALL = """
INSERT INTO sessions (session_id, name, source, user_id, start_time, end_time, duration, events, errors, tokens,
                      has_session_event)
SELECT g.session_id, s.event_name, COALESCE(s.source, g.any_source), COALESCE(s.user_id, g.any_user),
       COALESCE(s.start_time, g.first_start), COALESCE(s.end_time, g.last_end),
       COALESCE(s.duration, g.last_end - g.first_start), g.events, g.errors, g.tokens, s.event_id IS NOT NULL
FROM (SELECT session_id,
             SUM(CASE WHEN event_type = 'session' AND event_id = session_id THEN 0 ELSE 1 END) AS events,
             SUM(has_error) AS errors, MIN(start_time) AS first_start, MAX(end_time) AS last_end,
             MIN(source) AS any_source, MIN(user_id) AS any_user, SUM(tokens) AS tokens
      FROM events WHERE session_id IS NOT NULL GROUP BY session_id) AS g
LEFT JOIN events AS s ON s.event_id = g.session_id AND s.event_type = 'session'
"""
"""Version 4's summary of every session, as its `REFRESH_ALL_SESSIONS` made it (times as the columns had them)."""
