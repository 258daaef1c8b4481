"""Event bodies live in segment files beside the database (`outputs/store/bodies.py`): written once, pointed at by
rows committed only after them, readable by any reader, never half there. Events are read back as stored
(`children=False`): the children a read adds from the rows are not the body's (tests/outputs/store/test_sqlite.py
TestChildren)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from otel_honeyhive.core.encoded import batch_of
from otel_honeyhive.core.results import Outcome, Update
from otel_honeyhive.outputs.store import CorruptBodyError, SQLiteStore, bodies


def new_id() -> str:
    return str(uuid.uuid4())


def trace(n: int, prompt: str = "a prompt") -> list[dict[str, Any]]:
    sid = new_id()
    events: list[dict[str, Any]] = [{"event_id": sid, "session_id": sid, "parent_id": None,
                                      "event_type": "session", "event_name": "chat", "start_time": 1.0}]
    for i in range(n):
        events.append({"event_id": new_id(), "session_id": sid, "parent_id": sid, "event_type": "model",
                       "event_name": f"call {i}", "start_time": 2.0 + i, "config": {"model": "gpt-4o"},
                       "inputs": {"chat_history": [{"role": "user", "content": prompt * (i + 1)}]},
                       "metadata": {"total_tokens": 10 + i}})
    return events


def test_bodies_are_written_once_to_a_segment_and_the_database_keeps_rows(tmp_path: Path) -> None:
    events = trace(20, prompt="x" * 1000)
    with SQLiteStore(tmp_path / "events.db") as store:
        assert store.send(events).ok
        assert [store.get_event(e["event_id"], children=False) for e in events] == events
    segment = tmp_path / "events.db-bodies" / "000001.seg"
    assert segment.stat().st_size >= sum(len(e["inputs"]["chat_history"][0]["content"]) for e in events[1:])
    with sqlite3.connect(tmp_path / "events.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM events WHERE length(body) > 0").fetchone()[0] == 0


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "buffered"])
def test_both_ways_of_writing_read_back_the_same_bytes_wherever_a_write_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    """Direct writes start on a block boundary, are gathered in a staging buffer (here 8 KiB, so one write goes
    out in pieces) and pad their last block; page-cached writes go where the file ends (with `direct`, the small
    ones: here under 6 KiB, so the two kinds alternate in one file). Either way every body reads back exactly,
    across many writes of odd sizes."""
    monkeypatch.setattr(bodies, "STAGING_BYTES", 8192)
    monkeypatch.setattr(bodies, "DIRECT_MIN_BYTES", 6144)
    segments = bodies.BodySegments(tmp_path / "bodies", direct=direct)
    written: list[tuple[int, int, bytes]] = []
    try:
        for i, size in enumerate([1, 4095, 4096, 4097, 8191, 8192, 8193, 20_000, 3]):
            parts = [bytes([i + 1]) * size, b"-", bytes([i + 2]) * (size // 2)]
            segment, at = segments.append(parts)
            written.append((segment, at, b"".join(parts)))
        segments.sync()
        assert segments.direct is direct
        for segment, at, data in written:
            assert segments.read(segment, at, len(data)) == data
            if direct and len(data) >= 6144:
                assert at % bodies.ALIGN == 0
    finally:
        segments.close()


def test_small_writes_pack_end_to_end_where_direct_writes_would_pad_each(tmp_path: Path) -> None:
    """One small event per transaction (the HoneyHive-compatible API, updates): page-cached, so a segment holds
    their bytes and not a 4 KiB block each; a large write after them still goes direct, on a block boundary."""
    with SQLiteStore(tmp_path / "events.db") as store:
        sent = [trace(0)[0] for _ in range(200)]
        for event in sent:
            assert store.send([event]).ok
        segment = tmp_path / "events.db-bodies" / "000001.seg"
        small = segment.stat().st_size
        assert small < 200 * 300 < 200 * bodies.ALIGN  # each is about 200 bytes
        big = trace(80, prompt="y" * 1000)
        assert store.send(big).ok
        direct = store.bodies.direct  # False where the file system refuses O_DIRECT (tmpfs)
        assert [store.get_event(e["event_id"], children=False) for e in [*sent, *big]] == [*sent, *big]
    with sqlite3.connect(tmp_path / "events.db") as conn:
        first_big = conn.execute("SELECT body_at FROM events WHERE event_id = ?", (big[0]["event_id"],)).fetchone()
    assert first_big[0] >= small and (first_big[0] % bodies.ALIGN == 0 or not direct)


def test_events_the_pipeline_encoded_and_described_are_stored_from_their_bytes(tmp_path: Path) -> None:
    """The store's `event_shape` makes the pipeline describe each event as it encodes it: the store then writes
    those bytes as they are, and reads back exactly the events, with the same rows as events given as dicts."""
    first, second = trace(3), trace(2)
    with SQLiteStore(tmp_path / "encoded.db") as encoded, SQLiteStore(tmp_path / "dicts.db") as dicts:
        batch = batch_of([first, second], encode=True, shape=encoded.event_shape)
        assert all(block.described is not None for block in batch.blocks)  # type: ignore[attr-defined]
        assert encoded.send(batch).ok
        assert dicts.send([*first, *second]).ok
        for events in (first, second):
            sid = events[0]["session_id"]
            as_stored = encoded.session_events(sid, children=False)
            assert as_stored == dicts.session_events(sid, children=False) == events
        assert encoded.list_sessions() == dicts.list_sessions()
    columns = "event_id, session_id, parent_id, event_type, event_name, start_time, has_error, tokens, model, " \
              "event_tokens"
    with sqlite3.connect(tmp_path / "encoded.db") as a, sqlite3.connect(tmp_path / "dicts.db") as b:
        query = f"SELECT {columns} FROM events ORDER BY event_id"
        assert a.execute(query).fetchall() == b.execute(query).fetchall()


def test_a_refused_write_leaves_bytes_nobody_points_at_and_the_rest_reads_back(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "events.db") as store:
        kept = trace(2)
        assert store.send(kept).ok
        assert store.send([*trace(1), {"event_id": None, "event_type": "tool"}]).outcome is Outcome.REJECTED
        assert store.send(trace(1, prompt="after")).ok
        assert store.session_events(kept[0]["session_id"], children=False) == kept
        assert store.count_events() == 3 + 2


def test_segments_roll_over_and_every_one_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bodies, "SEGMENT_BYTES", 2048)
    sent = [trace(2, prompt="y" * 700) for _ in range(4)]
    with SQLiteStore(tmp_path / "events.db") as store:
        for events in sent:
            assert store.send(events).ok
        for events in sent:
            assert store.session_events(events[0]["session_id"], children=False) == events
    assert len(list((tmp_path / "events.db-bodies").glob("*.seg"))) >= 3


def test_a_body_cut_short_is_a_clear_error_naming_the_segment(tmp_path: Path) -> None:
    events = trace(1)
    with SQLiteStore(tmp_path / "events.db") as store:
        assert store.send(events).ok
    segment = tmp_path / "events.db-bodies" / "000001.seg"
    os.truncate(segment, 10)
    with SQLiteStore(tmp_path / "events.db", readonly=True) as store, \
            pytest.raises(CorruptBodyError, match=r"000001\.seg ends before byte"):
        store.get_event(events[1]["event_id"], children=False)


def test_bodies_that_cannot_be_written_ask_to_retry_and_commit_no_row(tmp_path: Path) -> None:
    """Whatever refuses the bytes (a full disk, a read-only mount, here a file where the segments should be): the
    rows are rolled back with them and the send is RETRY_LATER, naming where."""
    with SQLiteStore(tmp_path / "events.db") as store:
        assert store.send(trace(1)).ok
        store.bodies.close()
        segments = tmp_path / "events.db-bodies"
        moved = tmp_path / "moved"
        segments.rename(moved)
        segments.write_text("not a directory")
        result = store.send(trace(1))
        assert result.outcome is Outcome.RETRY_LATER
        assert "events.db-bodies" in result.detail
        assert store.count_events() == 2
        segments.unlink()
        moved.rename(segments)
        assert store.send(trace(1)).ok
        assert store.count_events() == 4


def _writer(path: str, rounds: int, seed: int) -> None:
    with SQLiteStore(path, busy_timeout=30) as store:
        for i in range(rounds):  # odd rounds small (page-cached), even ones ~180 KB (direct, written behind)
            padding = "x" * (30_000 if i % 2 == 0 else 10)
            assert store.send(trace(3, prompt=f"writer {seed} round {i} {padding}")).ok


def test_processes_writing_one_store_never_interleave_their_bodies(tmp_path: Path) -> None:
    path = str(tmp_path / "events.db")
    SQLiteStore(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(path, 15, seed)) for seed in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    with SQLiteStore(path, readonly=True) as store:
        sessions = store.list_sessions(limit=100)
        assert len(sessions) == 45
        for summary in sessions:
            events = store.session_events(summary.session_id, children=False)
            assert len(events) == 4
            prompts = {e["inputs"]["chat_history"][0]["content"].split(" round ")[0] for e in events[1:]}
            assert len(prompts) == 1  # each event reads back as its own writer wrote it


def test_what_was_acknowledged_survives_a_kill_mid_stream(tmp_path: Path) -> None:
    """A writer killed (SIGKILL) while storing: every send it reported DELIVERED reads back whole, and the store
    opens and takes writes again."""
    path = tmp_path / "events.db"
    script = textwrap.dedent("""
        import sys, uuid
        from otel_honeyhive.outputs.store import SQLiteStore
        store = SQLiteStore(sys.argv[1])
        while True:
            sid = str(uuid.uuid4())
            events = [{"event_id": sid, "session_id": sid, "event_type": "session", "event_name": "s",
                       "inputs": {"prompt": "p" * 20000}}]
            events += [{"event_id": str(uuid.uuid4()), "session_id": sid, "event_type": "tool",
                        "inputs": {"prompt": "q" * 20000}} for _ in range(4)]  # 100 KB: a direct write, behind
            if store.send(events).ok:
                print(sid, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acknowledged = [proc.stdout.readline().strip() for _ in range(30)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    with SQLiteStore(path) as store:
        for sid in acknowledged:
            event = store.get_event(sid, children=False)
            assert event is not None and event["inputs"]["prompt"] == "p" * 20000
            prompts = [e["inputs"]["prompt"] for e in store.session_events(sid, children=False)]
            assert prompts == ["p" * 20000] + ["q" * 20000] * 4
        assert store.send(trace(1)).ok


def test_a_later_write_of_the_same_transaction_reads_a_body_still_being_written_behind(tmp_path: Path) -> None:
    """A request's events go to disk behind the store's back (a worker writes them while the rows are upserted);
    an update committed in the same group reads the event it changes back whole, wherever its bytes are."""
    with SQLiteStore(tmp_path / "events.db") as store:
        big = trace(80, prompt="z" * 1000)  # ~100 KB: one direct write
        target = big[5]
        results: list[Any] = [None, None]
        works = [lambda: store.send(big), lambda: store.update(Update(target["event_id"], {"outputs": {"ok": 1}}))]
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, works[i]())) for i in (0, 1)]
        with store._lock:  # both queue, in this order, and commit as one group
            for i, thread in enumerate(threads):
                thread.start()
                while len(store._pending) <= i:
                    threading.Event().wait(0.001)
        for thread in threads:
            thread.join(10)
        assert [r.outcome for r in results] == [Outcome.DELIVERED, Outcome.DELIVERED]
        assert store.transactions == 1
        assert store.get_event(target["event_id"], children=False) == {**target, "outputs": {"ok": 1}}
        assert store.session_events(big[0]["session_id"], children=False)[:5] == big[:5]


def test_a_write_behind_the_disk_refuses_commits_no_row_and_the_store_goes_on(tmp_path: Path) -> None:
    """The disk refuses a request's bytes while they are written behind (here the file-size limit, EFBIG): the
    send is RETRY_LATER naming the store, no row points at them, and once there is room again it is stored."""
    script = textwrap.dedent("""
        import resource, signal, sys, uuid
        from otel_honeyhive.outputs.store import SQLiteStore
        def trace(size):
            sid = str(uuid.uuid4())
            return [{"event_id": sid, "session_id": sid, "event_type": "session", "inputs": {"p": "p" * size}}]
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        with SQLiteStore(sys.argv[1]) as store:
            assert store.send(trace(100)).ok
            hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
            resource.setrlimit(resource.RLIMIT_FSIZE, (512 * 1024, hard))
            refused = trace(1_000_000)
            result = store.send(refused)
            print(result.outcome.name, result.detail, store.count_events())
            resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
            assert store.send(refused).ok and store.get_event(refused[0]["event_id"], children=False) == refused[0]
            assert store.count_events() == 2
    """)
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "events.db")], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    outcome, *detail, count = out.stdout.split()
    assert outcome == "RETRY_LATER" and "events.db" in " ".join(detail) and "File too large" in " ".join(detail)
    assert count == "1"
