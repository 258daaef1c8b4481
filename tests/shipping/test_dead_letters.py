"""Looking at a spool directory from outside, and sending back what it kept (shipping/dead_letters.py).

Real processes hold real segment locks (a subprocess with a `Spool` open), and deliveries go to the fake
HoneyHive of tests/support/fake_honeyhive.py through HoneyHive's real client.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from otel_honeyhive.outputs.honeyhive import HoneyHiveOutput
from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
from otel_honeyhive.shipping.dead_letters import (
    NotASpoolError,
    RedriveBusyError,
    locate,
    reason_path,
    redrive_dead,
    redrive_pending,
    status,
)
from otel_honeyhive.shipping.locking import try_lock
from otel_honeyhive.shipping.records import SpoolRecord
from otel_honeyhive.shipping.retry import RetryPolicy
from otel_honeyhive.shipping.spool import Spool, snapshot_segments
from tests.support.fake_honeyhive import FakeHoneyHive, Reply, fake_honeyhive
from tests.support.spool_files import flush_and_close, pending_files

FAST = RetryPolicy(deadline=2.0, initial_backoff=0.02, max_backoff=0.05, jitter=0.0)


def batch(n: int, size: int = 2) -> SpoolRecord:
    return SpoolRecord.of_events([{"event_id": f"e{n}-{i}", "event_type": "tool", "event_name": f"n{n}"}
                                  for i in range(size)])


def output_for(honeyhive: FakeHoneyHive, key: str = "k") -> HoneyHiveOutput:
    return HoneyHiveOutput(HoneyHiveSettings.resolve(api_key=key, server_url=honeyhive.url, timeout=2.0,
                                                     environ={}))


def leave_records(directory: Path, numbers: list[int]) -> None:
    """A process that writes records and exits without shipping them: its segment is left, unlocked."""
    code = (
        "import os\n"
        "from otel_honeyhive.shipping.records import SpoolRecord\n"
        "from otel_honeyhive.shipping.spool import Spool\n"
        f"spool = Spool({str(directory)!r})\n"
        f"for n in {numbers!r}:\n"
        "    spool.put(SpoolRecord.of_events([{'event_id': f'left-{n}', 'event_type': 'tool', 'event_name': 'x'}]))\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


@contextmanager
def live_process(directory: Path, records: int) -> Iterator[subprocess.Popen[str]]:
    """A running process holding a segment of `directory` with `records` pending, until the block ends."""
    code = (
        "import sys\n"
        "from otel_honeyhive.shipping.records import SpoolRecord\n"
        "from otel_honeyhive.shipping.spool import Spool\n"
        f"spool = Spool({str(directory)!r})\n"
        f"for n in range({records}):\n"
        "    spool.put(SpoolRecord.of_events([{'event_id': f'live-{n}', 'event_type': 'tool', 'event_name': 'x'}]))\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
        "print(len(spool.pending_ids()), flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def tree(directory: Path) -> dict[str, tuple[int, int]]:
    """Every path under `directory` with its size and modification time: to tell that nothing changed."""
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*")}


def dead_letter_some(directory: Path, honeyhive: FakeHoneyHive, numbers: list[int]) -> None:
    """Records HoneyHive refused for a data reason (422), dead-lettered by the shipper as it runs."""
    honeyhive.default = Reply(422, body=b'{"error": "event_type invalid"}')
    spool = Spool(directory)
    output = output_for(honeyhive)
    for n in numbers:
        spool.put(batch(n))
    flush_and_close(spool, output, FAST, name="test")
    assert len(list((directory / "dead").glob("*.rec"))) == len(numbers)


# -- locate ----------------------------------------------------------------------------------------------------


def test_locate_knows_the_exporter_and_server_layouts_and_an_outbox_given_directly(tmp_path: Path) -> None:
    Spool(tmp_path / "exporter" / "outbox").close()
    Spool(tmp_path / "server" / "outbox").close()
    Spool(tmp_path / "server" / "held").close()
    assert set(locate(tmp_path / "exporter").spools) == {"outbox"}
    assert locate(tmp_path / "server").spools == {"outbox": tmp_path / "server" / "outbox",
                                                  "held": tmp_path / "server" / "held"}
    assert locate(tmp_path / "server" / "outbox").spools == {"outbox": tmp_path / "server" / "outbox"}
    assert locate(tmp_path / "server" / "held").spools == {"held": tmp_path / "server" / "held"}


def test_locate_says_precisely_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(NotASpoolError, match="no such directory"):
        locate(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotASpoolError, match="is not a directory"):
        locate(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotASpoolError, match="is not a spool directory: it has no outbox/"):
        locate(tmp_path / "empty")
    assert sorted(os.listdir(tmp_path)) == ["empty", "file"], "nothing created"


# -- status ----------------------------------------------------------------------------------------------------


def test_status_reads_live_and_dead_segments_dead_letters_and_corrupt_records_and_changes_nothing(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "spool"
    outbox = directory / "outbox"
    with fake_honeyhive() as honeyhive:
        dead_letter_some(outbox, honeyhive, [0, 1])
    torn = Spool(outbox)
    torn.put(batch(99))
    torn.pending_path(torn.pending_ids()[-1]).write_bytes(b"OHHS torn")
    assert torn.peek_oldest() is None  # moved to corrupt/ on the way
    torn.close()
    with live_process(outbox, 2) as live:
        leave_records(outbox, [10, 11, 12])  # after the live process opened: nobody adopts them
        before = tree(directory)
        found = status(directory)
        after = tree(directory)
        assert after == before, "status must not create, adopt, lock or move anything"
        by_owner = {w.segment.owned: w.segment for w in found.waiting}
        assert by_owner[True].pid == live.pid and by_owner[True].records == 2
        assert by_owner[False].records == 3 and by_owner[False].bytes > 0
        oldest = by_owner[False].oldest
        assert oldest is not None and time.time() - oldest < 60
        assert [item.events for item in found.dead] == [2, 2]
        assert all("HTTP 422" in item.last_reason and "event_type invalid" in item.last_reason
                   for item in found.dead)
        assert found.dead[0].at >= found.dead[1].at, "newest first"
        (corrupt,) = found.corrupt
        assert "bad magic" in corrupt.reason or "header" in corrupt.reason
        # The live process still holds its segment: nobody could adopt it while status ran.
        live_lock = by_owner[True].path / ".lock"
        fd = os.open(live_lock, os.O_RDONLY)
        try:
            assert not try_lock(fd)
        finally:
            os.close(fd)
        assert live.stdin is not None
        live.stdin.close()
        assert live.stdout is not None and live.stdout.readline().strip() == "2", "the live process kept its records"


def test_status_of_an_empty_spool(tmp_path: Path) -> None:
    Spool(tmp_path / "outbox").close()
    found = status(tmp_path)
    assert (found.waiting, found.dead, found.corrupt) == ([], [], [])


# -- redrive --dead --------------------------------------------------------------------------------------------


def test_dead_letters_refused_for_their_data_arrive_once_the_receiver_takes_them(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    with fake_honeyhive() as honeyhive:
        dead_letter_some(outbox, honeyhive, [0, 1, 2])
        assert honeyhive.events == []
        honeyhive.default = Reply(200)
        output = output_for(honeyhive)
        try:
            report = redrive_dead(outbox, output)
        finally:
            output.close()
        assert report.ok and (report.delivered_records, report.delivered_events) == (3, 6)
        assert sorted(e["event_id"] for e in honeyhive.events) == sorted(f"e{n}-{i}" for n in range(3)
                                                                          for i in range(2))
        names = [e["event_name"] for e in honeyhive.events]
        assert names == ["n0", "n0", "n1", "n1", "n2", "n2"], "oldest first"
    assert sorted(p.name for p in (outbox / "dead").iterdir()) == [".redrive.lock"], "records and reasons gone"


def test_dead_letters_refused_again_stay_with_the_new_reason_appended(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    with fake_honeyhive() as honeyhive:
        dead_letter_some(outbox, honeyhive, [0, 1])
        honeyhive.then(Reply(200), Reply(400, body=b'{"error": "still wrong"}'))
        output = output_for(honeyhive)
        try:
            report = redrive_dead(outbox, output)
        finally:
            output.close()
        assert not report.ok and report.delivered_records == 1 and len(report.refused) == 1
    (left,) = (outbox / "dead").glob("*.rec")
    lines = reason_path(left).read_text().splitlines()
    assert len(lines) == 2 and "HTTP 422" in lines[0] and "redrive:" in lines[1] and "still wrong" in lines[1]
    assert reason_path(left).stat().st_mode & 0o777 == 0o600, "a reason may quote what was sent: owner-only"


def test_a_wrong_key_stops_the_redrive_and_keeps_every_dead_letter(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    with fake_honeyhive() as honeyhive:
        dead_letter_some(outbox, honeyhive, [0, 1, 2])
        honeyhive.default = Reply(401)
        output = output_for(honeyhive, key="wrong")
        try:
            report = redrive_dead(outbox, output)
        finally:
            output.close()
        assert len(honeyhive.requests) == 3 + 1, "one try, then stopped"
    assert report.stopped is not None and "check HH_API_KEY" in report.stopped and report.not_tried == 2
    assert len(list((outbox / "dead").glob("*.rec"))) == 3


def test_two_redrives_of_the_same_dead_letters_do_not_run_at_once(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    with fake_honeyhive() as honeyhive:
        dead_letter_some(outbox, honeyhive, [0])
        code = (
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(outbox / 'dead' / '.redrive.lock')!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n"
        )
        holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            output = output_for(honeyhive)
            try:
                with pytest.raises(RedriveBusyError, match="another `spool redrive --dead`"):
                    redrive_dead(outbox, output)
            finally:
                output.close()
        finally:
            holder.kill()
            holder.wait(10)


# -- redrive (pending) -----------------------------------------------------------------------------------------


def test_redrive_ships_what_gone_processes_left_and_leaves_live_segments_alone(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    with fake_honeyhive() as honeyhive, live_process(outbox, 2) as live:
        leave_records(outbox, [0, 1, 2])  # after the live process opened: left for the redrive
        output = output_for(honeyhive)
        try:
            report = redrive_pending(outbox, output)
        finally:
            output.close()
        assert report.ok and report.delivered_records == 3
        assert sorted(e["event_id"] for e in honeyhive.events) == ["left-0", "left-1", "left-2"]
        (owned,) = report.live
        assert owned.pid == live.pid and owned.records == 2
        (segment,) = snapshot_segments(outbox)
        assert segment.owned and segment.records == 2, "the live segment is untouched"
    assert len(pending_files(outbox)) == 2


def test_redrive_moves_what_is_refused_for_its_data_to_dead_and_stops_on_an_outage(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    leave_records(outbox, [0, 1, 2, 3])
    with fake_honeyhive() as honeyhive:
        honeyhive.then(Reply(200), Reply(422, body=b'{"error": "bad"}'))
        honeyhive.default = Reply(503)  # then down, past the deadline
        output = HoneyHiveOutput(HoneyHiveSettings.resolve(api_key="k", server_url=honeyhive.url, environ={}),
                                 RetryPolicy(deadline=0.3, initial_backoff=0.05, max_backoff=0.05))
        try:
            report = redrive_pending(outbox, output)
        finally:
            output.close()
    assert (report.delivered_records, report.dead_lettered, report.not_tried) == (1, 1, 1)
    assert report.stopped is not None and "503" in report.stopped
    assert len(report.refused) == 1 and "422" in report.refused[0][1], "refused: only the data's fault"
    assert [name for name, _ in report.kept] == ["record 3 (1 events)"], "the 503: kept, not refused"
    assert len(list((outbox / "dead").glob("*.rec"))) == 1
    assert len(pending_files(outbox)) == 2, "the rest stays, for any process or the next redrive"
    assert all(not s.owned for s in snapshot_segments(outbox))
