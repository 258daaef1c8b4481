"""The durable spool: codec, FIFO, recovery after kill -9, corruption, caps, unusable directories, and many
processes sharing one directory (segments, adoption, forks)."""

from __future__ import annotations

import errno
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_honeyhive.core.encoded import EncodedEvents
from otel_honeyhive.core.results import Update
from otel_honeyhive.shipping import segments
from otel_honeyhive.shipping import spool as spool_module
from otel_honeyhive.shipping.records import HEADER_SIZE, CorruptRecordError, RecordEncodeError, SpoolRecord
from otel_honeyhive.shipping.spool import (
    DiskFullError,
    RecordId,
    Spool,
    SpoolError,
    SpoolFullError,
    snapshot_segments,
)
from tests.support.forking import in_child
from tests.support.privileges import AS_ROOT, given_back, lose_access, shared_directory
from tests.support.spool_files import pending_files

REPO = Path(__file__).resolve().parents[2]


def batch(n: int, **extra: Any) -> SpoolRecord:
    return SpoolRecord.of_events([{"event_id": f"e{n}", "event_type": "tool", "n": n, **extra}])


def record_files(directory: Path) -> list[str]:
    return [p.name for p in pending_files(directory)]


# -- codec ------------------------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
events = st.lists(st.dictionaries(st.text(), json_values, max_size=6), max_size=5)
updates = st.builds(Update, st.text(), st.dictionaries(st.text(), json_values, max_size=6), st.none() | st.text())


@given(events)
def test_events_round_trip(evs: list[dict[str, Any]]) -> None:
    record = SpoolRecord.of_events(evs)
    assert SpoolRecord.decode(record.encode()) == record


@given(st.lists(events.filter(bool), min_size=1, max_size=4))
def test_encoded_events_are_written_as_they_are_and_read_back_as_the_same_events(
    traces: list[list[dict[str, Any]]],
) -> None:
    encoded = EncodedEvents()
    for trace in traces:
        encoded.add([{**e, "session_id": "s"} for e in trace])  # as the mapper makes them: a string id
    data = SpoolRecord.of_events(encoded).encode()
    for block in encoded.blocks:
        assert block.data in data  # the bytes the mapper encoded, not a re-encoding
    read = SpoolRecord.decode(data)
    assert isinstance(read.events, EncodedEvents)
    assert [(b.session_id, b.data, b.count, b.opens_session) for b in read.events.blocks] == [
        (b.session_id, b.data, b.count, b.opens_session) for b in encoded.blocks
    ]
    as_list = SpoolRecord.decode(SpoolRecord.of_events(list(encoded)).encode())
    assert list(read.events) == list(encoded) == as_list.events
    assert read.event_count == len(encoded)


def test_an_empty_encoded_batch_reads_back_as_no_events() -> None:
    assert list(SpoolRecord.decode(SpoolRecord.of_events(EncodedEvents()).encode()).events) == []


def test_records_of_the_one_object_format_are_still_read() -> None:
    """Version 1, as every spool held before encoded batches got their own layout, and as lists still write."""
    payload = b'{"kind":"events","events":[{"event_id":"a","session_id":"s"}]}'
    assert SpoolRecord.decode(_framed(payload)).events == [{"event_id": "a", "session_id": "s"}]
    assert batch(1).encode()[4] == 1


def _blocks_record(payload: bytes) -> bytes:
    return (b"OHHS\x02\x00\x00\x00" + len(payload).to_bytes(4, "big")
            + zlib.crc32(payload).to_bytes(4, "big") + payload)


BLOCK = b'[{"event_id":"a"},0]'


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (BLOCK, "without its index line"),
        (b"{nope\n" + BLOCK, "index is not JSON"),
        (b'{"kind":"update","blocks":[]}\n', "without a list of blocks"),
        (b'{"kind":"events","blocks":[]}\n', "without a list of blocks"),
        (b'{"kind":"events","blocks":[[20,1,true]]}\n' + BLOCK, "is not \\[size, count"),
        (b'{"kind":"events","blocks":[[20,"1",true,"s"]]}\n' + BLOCK, "is not \\[size, count"),
        (b'{"kind":"events","blocks":[[21,1,true,"s"]]}\n' + BLOCK, "runs past the end"),
        (b'{"kind":"events","blocks":[[19,1,true,"s"]]}\n' + BLOCK, "not an encoded event block"),
        (b'{"kind":"events","blocks":[[20,0,true,"s"]]}\n' + BLOCK, "not an encoded event block"),
        (b'{"kind":"events","blocks":[[4,1,true,"s"]]}\n[,0]', "not an encoded event block"),
        (b'{"kind":"events","blocks":[[20,1,true,"s"]]}\n' + BLOCK + b" ", "1 bytes after the last block"),
    ],
)
def test_a_blocks_record_that_does_not_hold_together_is_corrupt(payload: bytes, message: str) -> None:
    with pytest.raises(CorruptRecordError, match=message):
        SpoolRecord.decode(_blocks_record(payload))


def test_a_well_formed_blocks_record_is_read() -> None:
    record = SpoolRecord.decode(_blocks_record(b'{"kind":"events","blocks":[[20,1,true,"s"]]}\n' + BLOCK))
    assert list(record.events) == [{"event_id": "a"}]


@given(updates)
def test_updates_round_trip(update: Update) -> None:
    record = SpoolRecord.of_update(update)
    decoded = SpoolRecord.decode(record.encode())
    assert decoded == record
    assert decoded.update == update


def test_header_layout() -> None:
    data = batch(1).encode()
    assert data[:4] == b"OHHS"
    assert data[4] == 1
    assert int.from_bytes(data[8:12], "big") == len(data) - HEADER_SIZE
    assert data[HEADER_SIZE:].startswith(b'{"kind":"events"')


class Odd:
    def __str__(self) -> str:
        return "odd"


def test_odd_values_are_kept_as_text_not_refused() -> None:
    record = SpoolRecord.of_events([{"tags": {"b", "a"}, "blob": b"hi", "obj": Odd()}])
    decoded = SpoolRecord.decode(record.encode())
    assert decoded.events == [{"tags": ["a", "b"], "blob": "hi", "obj": "odd"}]


def test_unencodable_value_raises_a_clear_error() -> None:
    with pytest.raises(RecordEncodeError, match="cannot encode"):
        SpoolRecord.of_events([{"n": 2**70}]).encode()


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda d: d[:10], "truncated header"),
        (lambda d: d[:-3], "header says"),
        (lambda d: d + b"x", "header says"),
        (lambda d: b"XXXX" + d[4:], "bad magic"),
        (lambda d: d[:4] + b"\x09" + d[5:], "version"),
        (lambda d: d[:-2] + bytes([d[-2] ^ 0xFF]) + d[-1:], "checksum"),
        (lambda d: b"", "truncated header"),
    ],
)
def test_decode_detects_damage(mangle: Any, message: str) -> None:
    with pytest.raises(CorruptRecordError, match=message):
        SpoolRecord.decode(mangle(batch(1).encode()))


def _framed(payload: bytes) -> bytes:
    header = (
        b"OHHS\x01\x00\x00\x00" + len(payload).to_bytes(4, "big") + zlib.crc32(payload).to_bytes(4, "big")
    )
    return header + payload


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2]",
        b'{"kind": "mystery"}',
        b'{"kind": "events", "events": [1]}',
        b'{"kind": "update"}',
    ],
)
def test_decode_checks_the_schema(payload: bytes) -> None:
    with pytest.raises(CorruptRecordError):
        SpoolRecord.decode(_framed(payload))


# -- basic queue behaviour --------------------------------------------------------------------------------


def test_put_peek_ack_in_fifo_order(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool") as spool:
        ids = [spool.put(batch(n)) for n in range(5)]
        assert ids == sorted(ids)
        assert spool.pending_count == 5
        assert spool.pending_bytes == sum(p.stat().st_size for p in pending_files(tmp_path / "spool"))
        assert [r.events[0]["n"] for _, r in spool] == [0, 1, 2, 3, 4]
        seen = []
        while (head := spool.peek_oldest()) is not None:
            rid, record = head
            seen.append(record.events[0]["n"])
            spool.ack(rid)
        assert seen == [0, 1, 2, 3, 4]
        assert spool.pending_count == 0 and spool.pending_bytes == 0
        assert record_files(tmp_path / "spool") == []
        spool.ack(ids[0])  # acking twice is harmless


def test_files_are_private(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool") as spool:
        spool.put(batch(1))
        (path,) = pending_files(tmp_path / "spool")
        assert path.stat().st_mode & 0o077 == 0
        for directory in (tmp_path / "spool", path.parent, path.parent.parent):
            assert directory.stat().st_mode & 0o077 == 0
        assert (path.parent / ".lock").stat().st_mode & 0o077 == 0


def test_update_records(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool") as spool:
        spool.put(SpoolRecord.of_update(Update("abc", {"metadata": {"k": 1}, "duration": 3.5})))
        head = spool.peek_oldest()
        assert head is not None
        assert head[1].kind == "update" and head[1].update == Update(
            "abc", {"metadata": {"k": 1}, "duration": 3.5}
        )


def test_reopen_adopts_what_the_last_run_left_in_order(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    with Spool(directory) as spool:
        ids = [spool.put(batch(n)) for n in range(3)]
        spool.ack(ids[0])
        first_segment = spool.pending_path(ids[1]).parent
    (first_segment / ".tmp-deadbeef").write_bytes(b"OHHS\x01half a rec")  # torn write from a crash
    with Spool(directory) as spool:
        assert not first_segment.exists(), "the adopted segment is removed, torn files and all"
        assert [r.events[0]["n"] for _, r in spool] == [1, 2]
        spool.put(batch(3))
        assert [r.events[0]["n"] for _, r in spool] == [1, 2, 3]


def test_an_emptied_spool_leaves_no_segment_behind(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    with Spool(directory) as spool:
        spool.ack(spool.put(batch(1)))
    assert list((directory / "segments").iterdir()) == []


def test_dead_letter_keeps_the_record_and_the_reason(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    with Spool(directory) as spool:
        rid = spool.put(batch(1))
        spool.put(batch(2))
        where = spool.dead_letter(rid, "400 Bad Request: missing project")
        assert where is not None and where.parent == directory / "dead"
        assert SpoolRecord.decode(where.read_bytes()) == batch(1)
        assert "missing project" in where.with_suffix(".reason").read_text()
        assert spool.pending_count == 1
        head = spool.peek_oldest()
        assert head is not None and head[1] == batch(2)
        spool.ack(head[0])
    # Another run (another segment, the same sequence numbers): a second dead letter overwrites nothing.
    with Spool(directory) as spool:
        rid2 = spool.put(batch(3))
        assert rid2 == rid
        where2 = spool.dead_letter(rid2, "again")
        assert where2 is not None and where2 != where
        assert len(list((directory / "dead").glob("*.rec"))) == 2


def test_corrupt_record_is_moved_aside_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "spool"
    with Spool(directory) as spool:
        bad = spool.put(batch(1))
        spool.put(batch(2))
    path = pending_files(directory)[0]
    path.write_bytes(path.read_bytes()[:-5])  # torn
    with Spool(directory) as spool, caplog.at_level(logging.ERROR):
        adopted = spool.pending_path(bad)
        head = spool.peek_oldest()
        assert head is not None and head[1] == batch(2)
        assert spool.corrupt_count == 1
        assert spool.pending_count == 1
    assert not adopted.exists()
    moved = directory / "corrupt" / f"{adopted.parent.name}-{adopted.name}"
    assert moved.exists() and moved.with_suffix(".reason").exists()
    assert any("corrupt" in r.message and r.levelno == logging.ERROR for r in caplog.records)


def test_a_record_that_vanished_is_skipped(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool") as spool:
        rid = spool.put(batch(1))
        spool.put(batch(2))
        spool.pending_path(rid).unlink()
        head = spool.peek_oldest()
        assert head is not None and head[1] == batch(2)
        assert spool.pending_count == 1


def test_listener_is_called_after_a_durable_put(tmp_path: Path) -> None:
    calls: list[int] = []
    with Spool(tmp_path / "spool") as spool:
        spool.add_listener(lambda: calls.append(spool.pending_count))
        spool.put(batch(1))
        assert calls == [1]


# -- limits and failures ----------------------------------------------------------------------------------


def test_full_spool_refuses_and_loses_nothing(tmp_path: Path) -> None:
    size = len(batch(0).encode())
    with Spool(tmp_path / "spool", max_bytes=size * 3, full_retry_after=7.0) as spool:
        ids = [spool.put(batch(n)) for n in range(3)]
        with pytest.raises(SpoolFullError) as info:
            spool.put(batch(3))
        assert info.value.retry_after == 7.0
        assert "full" in str(info.value) and str(tmp_path) in str(info.value)
        assert spool.pending_ids() == ids
        assert record_files(tmp_path / "spool") == [f"{i:020d}.rec" for i in ids]
        assert list(tmp_path.glob("spool/segments/*/.tmp-*")) == []
        spool.ack(ids[0])
        spool.put(batch(3))  # room again
        assert [r.events[0]["n"] for _, r in spool] == [1, 2, 3]


def test_a_record_larger_than_the_spool_is_an_error_not_a_wait(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool", max_bytes=100) as spool:
        with pytest.raises(SpoolError, match="larger than the whole spool") as info:
            spool.put(batch(1, pad="x" * 200))
        assert not isinstance(info.value, SpoolFullError)


def test_directory_under_a_regular_file_is_a_clear_error(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    with pytest.raises(SpoolError) as info:
        Spool(afile / "spool")
    message = str(info.value)
    assert str(afile / "spool") in message
    assert "Not a directory" in message


def test_spool_path_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(SpoolError, match=r"not a directory|File exists"):
        Spool(afile)


def test_disk_full_while_writing_is_reported_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Spool(tmp_path / "spool") as spool:
        spool.put(batch(1))

        def full(fd: int, data: Any) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(os, "write", full)
        with pytest.raises(DiskFullError) as info:  # a SpoolError that callers answer with a retry hint
            spool.put(batch(2))
        monkeypatch.undo()
        assert info.value.retry_after > 0
        message = str(info.value)
        assert str(tmp_path / "spool") in message and "No space left on device" in message
        assert spool.pending_count == 1
        assert list((tmp_path / "spool").glob("segments/*/.tmp-*")) == []
        spool.put(batch(3))  # the reserved bytes were given back
        assert [r.events[0]["n"] for _, r in spool] == [1, 3]


def test_read_only_file_system_on_rename_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Spool(tmp_path / "spool") as spool:

        def erofs(src: Any, dst: Any) -> None:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        monkeypatch.setattr(os, "rename", erofs)
        with pytest.raises(SpoolError, match="Read-only file system"):
            spool.put(batch(1))
        monkeypatch.undo()
        assert spool.pending_count == 0
        assert list((tmp_path / "spool").glob("segments/*/.tmp-*")) == []


def test_closed_spool_refuses(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.close()
    spool.close()
    with pytest.raises(SpoolError, match="closed"):
        spool.put(batch(1))


def test_a_forked_child_writes_a_segment_of_its_own_and_leaves_the_parents_records(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    with Spool(directory) as spool:
        spool.put(batch(1))
        pid = os.fork()
        if pid == 0:  # the child: exit with a code, never raise out of the test's frame
            code = 1
            try:
                code = 0 if spool.pending_count == 1 else 2  # the parent's records are not the child's to ship
                spool.put(batch(2))
                code = 0 if (code == 0 and [r.events[0]["n"] for _, r in spool] == [2]) else 3
                spool.close()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert [r.events[0]["n"] for _, r in spool] == [1], "the child never touches the parent's segment"
        spool.put(batch(3))  # the parent's lock survived the child's exit
        assert spool.adopt_orphans() == 1  # the child exited with a record pending: adopted
        assert sorted(r.events[0]["n"] for _, r in spool) == [1, 2, 3]


# -- many processes, one directory ------------------------------------------------------------------------


def test_two_spools_on_one_directory_write_apart(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    with Spool(directory) as one, Spool(directory) as two:
        one.put(batch(1))
        two.put(batch(2))
        assert one.pending_path(RecordId(1)).parent != two.pending_path(RecordId(1)).parent
        assert [r.events[0]["n"] for _, r in one] == [1]
        assert [r.events[0]["n"] for _, r in two] == [2]
        assert one.adopt_orphans() == 0 == two.adopt_orphans(), "a live segment is never adopted"
    assert len(pending_files(directory)) == 2  # closed with records pending: kept for whoever comes next


@pytest.mark.slow  # waits out the one-second snapshot of other processes' bytes, twice
def test_the_cap_applies_to_the_whole_directory(tmp_path: Path) -> None:
    size = len(batch(0).encode())
    with Spool(tmp_path / "spool", max_bytes=size * 3) as one, Spool(tmp_path / "spool", max_bytes=size * 3) as two:
        one.put(batch(1))
        one.put(batch(2))
        two.put(batch(3))
        with pytest.raises(SpoolFullError, match="full"):
            two.put(batch(4))
        time.sleep(1.05)  # the snapshot of the other process's bytes is at most a second old
        assert one.directory_bytes == two.directory_bytes == size * 3
        one.ack(one.pending_ids()[0])
        time.sleep(1.05)
        two.put(batch(4))


@pytest.mark.slow  # waits out the one-second look at the other processes' counts
def test_the_cap_reads_one_count_per_segment_never_the_other_processes_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backlog of other processes' records (an outage) costs the cap nothing per put: not even when every put is
    refused, which once made each one list and `stat` the whole directory again."""
    size = len(batch(100).encode())  # every record below is this size: three-digit numbers
    directory = tmp_path / "spool"
    with Spool(directory, max_bytes=size * 100) as backlog, Spool(directory, max_bytes=size * 100) as spool:
        for n in range(100, 200):
            backlog.put(batch(n))
        theirs = backlog.pending_path(RecordId(1)).parent
        listed: list[str] = []
        scandir = os.scandir

        def counting_scandir(path: Any = ".") -> Any:
            listed.append(os.fspath(path))
            return scandir(path)

        monkeypatch.setattr(os, "scandir", counting_scandir)
        for n in range(200, 250):
            with pytest.raises(SpoolFullError):
                spool.put(batch(n))
        assert spool.directory_bytes == backlog.pending_bytes
        backlog.ack(RecordId(1))
        time.sleep(1.05)  # the look at the others' counts is at most a second old: room is seen again
        spool.put(batch(250))
    assert str(theirs) not in listed, "the other segment's records were listed"
    assert len(listed) <= 4, f"looked at the directory {len(listed)} times for 50 puts"


def test_each_segment_keeps_the_count_of_its_pending_bytes_for_the_others(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    with Spool(directory) as spool:
        own = spool.pending_path(RecordId(1)).parent
        for n in range(4):
            spool.put(batch(n))
        assert segments.read_count(own) == spool.pending_bytes
        spool.ack(RecordId(1))
        spool.dead_letter(RecordId(2), "refused for the test")
        assert segments.read_count(own) == spool.pending_bytes == len(batch(3).encode()) * 2
        with Spool(directory) as other:
            assert other.directory_bytes == spool.pending_bytes
        assert other.pending_count == 0
        with Spool(directory) as dead:  # closed with a record pending: an orphan, counted as it was left
            dead.put(batch(9))
        assert spool.adopt_orphans() == 1
        assert segments.read_count(own) == spool.pending_bytes == len(batch(3).encode()) * 3


def test_processes_filling_the_directory_together_overshoot_the_cap_by_little(tmp_path: Path) -> None:
    """Four processes writing at once into an empty directory: each once wrote for a second on its first look,
    which had seen the others' segments empty, and together they passed the cap by most of itself again."""
    size = len(batch(0, pad="x" * 1000).encode())
    cap = 100 * size
    spools = [Spool(tmp_path / "spool", max_bytes=cap) for _ in range(4)]
    try:
        refused = [False] * len(spools)
        n = 0
        while not all(refused):
            for i, spool in enumerate(spools):
                try:
                    spool.put(batch(n, pad="x" * 1000))
                    n += 1
                except SpoolFullError:
                    refused[i] = True
        total = sum(spool.pending_bytes for spool in spools)
        assert cap - size < total <= cap + cap // spool_module.OTHERS_SHARE + len(spools) * size
        assert all(spool.pending_bytes > cap // 8 for spool in spools), "each got a fair part of the room"
    finally:
        for spool in spools:
            spool.close()


def test_no_directory_is_renamed_while_a_file_in_it_is_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows renames no directory with an open file in it: a segment is created, adopted and removed without
    ever doing that (checked here, on Linux, through the descriptors the process holds)."""
    renamed: list[str] = []
    rename = os.rename

    def checked_rename(source: Any, target: Any) -> None:
        path = Path(source)
        if path.is_dir():
            inside = str(path.resolve()) + os.sep
            held = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                    if os.path.exists(f"/proc/self/fd/{fd}")]
            open_inside = [name for name in held if name.startswith(inside)]
            assert not open_inside, f"renaming {path} with {open_inside} open"
            renamed.append(path.name)
        rename(source, target)

    monkeypatch.setattr(os, "rename", checked_rename)
    directory = tmp_path / "spool"
    with Spool(directory) as first:
        first.put(batch(1))  # closed with a record pending: left for adoption
    with Spool(directory) as second:  # creates its segment, adopts and removes the first's
        assert [r.events[0]["n"] for _, r in second] == [1]
        second.ack(second.pending_ids()[0])
    assert renamed, "the adopted and the emptied segments were removed by a rename"
    assert list((directory / "segments").iterdir()) == []


def test_a_segment_still_being_created_is_not_taken_for_an_orphan(tmp_path: Path) -> None:
    """A segment is made under its final name and locked right after: a look in between finds its lock file empty
    (no pid yet) and leaves it; one left like that for over a minute was abandoned by a crash, and is removed."""
    directory = tmp_path / "spool"
    with Spool(directory) as spool:
        being_made = directory / "segments" / "4242-0123456789ab"
        being_made.mkdir()
        (being_made / ".lock").touch()
        assert spool.adopt_orphans() == 0
        assert being_made.is_dir(), "a segment being created was removed under its maker"
        long_ago = time.time() - segments.STALE_NEW_SECONDS - 5
        os.utime(being_made / ".lock", (long_ago, long_ago))
        spool.adopt_orphans()
        assert not being_made.exists(), "a crash's half-made segment stays forever"


@pytest.mark.slow
def test_new_segments_are_made_while_other_processes_keep_looking_at_their_locks(tmp_path: Path) -> None:
    """Lookers (adoption, `spool status`) hold a free lock for an instant: a new segment's maker waits that out
    rather than failing, and no look takes a segment being made for an orphan."""
    directory = tmp_path / "spool"
    stop = threading.Event()
    failures: list[BaseException] = []

    def look() -> None:
        while not stop.is_set():
            try:
                snapshot_segments(directory)
                for orphan in segments.orphans(directory, "none"):
                    orphan.let_go()  # looked, took the lock, lets it go: as a look that finds nothing to move
            except BaseException as exc:  # reported by the test
                failures.append(exc)
                return

    directory.mkdir()
    lookers = [threading.Thread(target=look) for _ in range(2)]
    for looker in lookers:
        looker.start()
    try:
        for n in range(100):
            with Spool(directory) as spool:
                spool.put(batch(n))
                assert spool.pending_path(RecordId(1)).exists()
                spool.ack(RecordId(1))
    finally:
        stop.set()
        for looker in lookers:
            looker.join()
    assert failures == []


def test_a_live_processes_segment_is_left_alone_and_a_dead_ones_adopted(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    script = textwrap.dedent(
        f"""
        import sys
        from otel_honeyhive.shipping.records import SpoolRecord
        from otel_honeyhive.shipping.spool import Spool
        s = Spool({str(directory)!r})
        s.put(SpoolRecord.of_events([{{"event_id": "child", "n": 7}}]))
        print("written", flush=True)
        sys.stdin.readline()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
        env=_child_env(),
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "written"
        with Spool(directory) as spool:
            assert spool.pending_count == 0 and spool.adopt_orphans() == 0
            assert spool.directory_bytes > 0, "the live process's record counts against the cap"
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
            assert spool.adopt_orphans() == 1
            assert [r.events[0]["n"] for _, r in spool] == [7]
            assert len(list((directory / "segments").iterdir())) == 1, "the dead segment is gone"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)


def test_records_of_the_one_process_layout_are_adopted(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    directory.mkdir()
    for n in (1, 2):
        (directory / f"{n:020d}.rec").write_bytes(batch(n).encode())
    (directory / ".lock").write_text("12345\n")
    legacy = tmp_path / "older"
    legacy.mkdir()
    (legacy / f"{1:020d}.rec").write_bytes(batch(3).encode())
    with Spool(directory, legacy_dirs=[legacy]) as spool:
        assert [r.events[0]["n"] for _, r in spool] == [1, 2, 3]
    assert not list(directory.glob("*.rec")) and not list(legacy.glob("*.rec"))


@pytest.mark.slow
def test_processes_adopting_at_once_adopt_each_record_once(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    for round_ in range(10):
        with Spool(directory) as dead:  # closed with records pending: an orphan, as a process that exited
            for n in range(20):
                dead.put(batch(round_ * 100 + n))
    script = textwrap.dedent(
        f"""
        from otel_honeyhive.shipping.spool import Spool
        with Spool({str(directory)!r}) as s:
            s.adopt_orphans()
            print(" ".join(str(r.events[0]["n"]) for _, r in s))
            for rid in s.pending_ids():
                s.ack(rid)
        """
    )
    children = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO,
                                 env=_child_env()) for _ in range(4)]
    adopted = [int(n) for child in children for n in child.communicate(timeout=60)[0].split()]
    assert all(child.returncode == 0 for child in children)
    assert sorted(adopted) == [r * 100 + n for r in range(10) for n in range(20)]
    assert pending_files(directory) == []


# -- crash safety -----------------------------------------------------------------------------------------

_CRASH_CHILD = textwrap.dedent(
    """
    import sys
    from otel_honeyhive.shipping.records import SpoolRecord
    from otel_honeyhive.shipping.spool import Spool
    spool = Spool(sys.argv[1])
    start = int(sys.argv[2])
    for n in range(start, start + 1_000_000):
        events = [{"event_id": f"e{n}", "n": n, "pad": "x" * (n % 7000)}]
        rid = spool.put(SpoolRecord.of_events(events))
        sys.stdout.write(f"{rid} {n}\\n")
        sys.stdout.flush()
    """
)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def test_every_acknowledged_put_survives_kill_9(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    acknowledged: set[int] = set()
    start = 0
    for _round in range(3):  # kill, recover, keep writing, kill again
        child = subprocess.Popen(
            [sys.executable, "-c", _CRASH_CHILD, str(directory), str(start)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=_child_env(),
        )
        assert child.stdout is not None
        lines = []
        for line in child.stdout:  # let it get going, then kill it in the middle of its stream of puts
            lines.append(line)
            if len(lines) >= 40:
                break
        time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=10)
        assert child.returncode == -signal.SIGKILL
        for line in [*lines, *rest.splitlines()]:
            if line.strip():
                acknowledged.add(int(line.split()[1]))
        start = max(acknowledged) + 1 + 1000  # new events from a range that cannot collide

        # Whether or not the kill landed inside a write, make sure a torn temp file is there to clean up.
        (pending_files(directory)[0].parent / ".tmp-torn").write_bytes(batch(0).encode()[:20])
        with Spool(directory) as spool:
            assert list(directory.glob("segments/*/.tmp-*")) == []
            present = [record.events[0]["n"] for _, record in spool]
            assert spool.corrupt_count == 0
            assert acknowledged <= set(present), "an acknowledged record was lost"
            assert present == sorted(present), "adopted in the order they were written"


# -- concurrency ------------------------------------------------------------------------------------------


def test_concurrent_producers_lose_nothing(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool") as spool:
        results: dict[int, list[RecordId]] = {}

        def produce(t: int) -> None:
            results[t] = [spool.put(batch(t * 1000 + i)) for i in range(25)]

        threads = [threading.Thread(target=produce, args=(t,)) for t in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        all_ids = [rid for ids in results.values() for rid in ids]
        assert len(set(all_ids)) == 150 == spool.pending_count
        for ids in results.values():
            assert ids == sorted(ids)  # each producer's records keep its order
        decoded = {r.events[0]["n"] for _, r in spool}
        assert decoded == {t * 1000 + i for t in range(6) for i in range(25)}
        assert spool.pending_bytes == sum(p.stat().st_size for p in pending_files(tmp_path / "spool"))


# -- adoption cut short, directories that become unusable -----------------------------------------------------


def leave_many(directory: Path, count: int) -> None:
    """A process that dies with `count` records pending (written by linking one record file: fast)."""
    code = textwrap.dedent(f"""
        import os
        from otel_honeyhive.shipping import segments
        from otel_honeyhive.shipping.records import SpoolRecord
        from otel_honeyhive.shipping.spool import Spool
        spool = Spool({str(directory)!r})
        spool.put(SpoolRecord.of_events([{{"event_id": "left", "event_type": "tool"}}]))
        first = spool.pending_path(spool.pending_ids()[0])
        for seq in range(2, {count} + 1):
            os.link(first, first.with_name(segments.record_name(seq)))
        os._exit(0)
        """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=REPO, env=_child_env())


def slow_renames(monkeypatch: pytest.MonkeyPatch, started: threading.Event, after: int = 5) -> None:
    """A busy disk: every rename after the first `after` takes a few milliseconds; `started` is set then."""
    rename, done = os.rename, [0]

    def slow(src: Any, dst: Any) -> None:
        done[0] += 1
        if done[0] > after:
            started.set()
            time.sleep(0.003)
        rename(src, dst)

    monkeypatch.setattr(os, "rename", slow)


def test_a_close_during_an_adoption_keeps_every_record_for_the_next_adopter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit's race: an adoption cut short by `close()` used to delete the orphan with the records it had not
    moved yet (3000 records, 799 left)."""
    directory = tmp_path / "spool"
    spool = Spool(directory)  # opened first: the orphan below is left for its adoption, not its opening
    leave_many(directory, 400)
    assert len(pending_files(directory)) == 400
    started = threading.Event()
    slow_renames(monkeypatch, started)
    adoption = threading.Thread(target=spool.adopt_orphans)
    adoption.start()
    assert started.wait(10)
    spool.close()
    adoption.join(30)
    monkeypatch.undo()
    assert len(pending_files(directory)) == 400, "nothing deleted: the rest waits where it was"
    with Spool(directory) as later:
        assert later.pending_count == 400, "the next adopter takes both segments, every record"
        assert len(list((directory / "segments").iterdir())) == 1


def test_a_segment_that_still_holds_records_is_never_deleted(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    with Spool(directory) as spool:
        leave_many(directory, 3)
        (orphan,) = segments.orphans(directory, spool._own().name)
        assert orphan.remove() is False
        assert len(pending_files(directory)) == 3 and orphan.path.is_dir()
        assert spool.adopt_orphans() == 3, "let go, not kept locked: adoptable"


@pytest.mark.slow
def test_a_directory_that_becomes_unusable_fails_puts_and_adoption_with_a_spool_error_naming_the_fix(
    tmp_path: Path,
) -> None:
    """A worker that dropped its privileges after opening the spool (the directories are root's, 0700). Before:
    a raw PermissionError out of `put` (which the delivery answered without its fallback) and `adopt_orphans`."""
    with shared_directory(tmp_path) as base:
        directory = base / "spool"
        spool = Spool(directory)

        def worker() -> dict[str, Any]:
            spool.after_fork_in_child()  # the child's own segment, made while it may
            spool.put(batch(0))
            lose_access(directory)
            time.sleep(1.05)  # past the snapshot of the other segments' bytes
            errors = []
            for attempt in (lambda: spool.put(batch(1)), spool.adopt_orphans):
                try:
                    attempt()
                except SpoolError as exc:
                    errors.append(str(exc))
            return {"errors": errors}

        with given_back(directory):
            errors = in_child(worker)["errors"]
        spool.close()
    assert len(errors) == 2
    fix = f"chown -R 65534 {directory}" if AS_ROOT else f"chmod -R u+rwX {directory}"
    for message in errors:
        assert f"in spool directory {directory}: [Errno 13] Permission denied" in message and fix in message
