"""`otel-honeyhive spool status` and `spool redrive`, run as the user runs them (subprocesses), on spool directories
written by the real exporter and real processes, delivering to the fake HoneyHive of tests/support/fake_honeyhive.py.
"""

from __future__ import annotations

import contextlib
import io
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.cli import spool as spool_cli  # noqa: F401  (imported before the child drops privileges)
from otel_honeyhive.cli.main import main
from otel_honeyhive.shipping.retry import RetryPolicy
from otel_honeyhive.shipping.spool import Spool
from tests.shipping.test_dead_letters import batch, dead_letter_some, leave_records, live_process, tree
from tests.support.event_files import run_cli
from tests.support.fake_honeyhive import Reply, fake_honeyhive
from tests.support.forking import in_child
from tests.support.privileges import become_nobody, deny, given_back, hand_over, shared_directory
from tests.support.spans import batches, event_ids, llm_traces
from tests.support.spool_files import pending_files

SECRET = "hh-secret-key-5f0c2a7e"
POLICY = RetryPolicy(deadline=2.0, initial_backoff=0.05, max_backoff=0.1)


def records_in(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.rec")) if folder.is_dir() else []


@pytest.mark.slow
def test_status_shows_live_and_gone_segments_dead_letters_and_corrupt_records_and_changes_nothing(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "spool"
    outbox = directory / "outbox"
    with fake_honeyhive() as honeyhive:
        dead_letter_some(outbox, honeyhive, [0, 1])
    torn = Spool(outbox)
    torn.put(batch(9))
    torn.pending_path(torn.pending_ids()[-1]).write_bytes(b"not a record")
    assert torn.peek_oldest() is None
    torn.close()
    with live_process(outbox, 2) as live:
        leave_records(outbox, [10, 11, 12])
        before = tree(directory)
        shown = run_cli("spool", "status", str(directory))
        as_json = run_cli("spool", "status", str(directory), "--json")
        assert tree(directory) == before, "status reads only"
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert f"{live.pid} running" in out and "gone" in out
    assert "waiting: 5 records" in out
    assert "dead letters: 2, newest first" in out and "HTTP 422" in out and "event_type invalid" in out
    assert "corrupt records: 1" in out and "truncated header" in out
    assert f"otel-honeyhive spool redrive {directory} --dead" in out
    assert as_json.returncode == 0, as_json.stderr
    data: dict[str, Any] = orjson.loads(as_json.stdout)
    owners = sorted((w["owned"], w["pid"] == live.pid, w["records"]) for w in data["waiting"])
    assert owners == [(False, False, 3), (True, True, 2)]
    assert data["totals"] == {"records": 5, "bytes": data["totals"]["bytes"], "dead": 2, "corrupt": 1}
    assert all(d["events"] == 2 and "HTTP 422" in d["reason"] for d in data["dead"])


def test_status_of_a_server_spool_dir_shows_outbox_and_held(tmp_path: Path) -> None:
    Spool(tmp_path / "outbox").close()
    held = Spool(tmp_path / "held")
    held.put(batch(0))
    held.close()
    shown = run_cli("spool", "status", str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert "(outbox/, held/)" in shown.stdout and "held" in shown.stdout.split("waiting:")[1]


def test_status_says_who_takes_over_what_gone_processes_left_in_the_outbox_and_in_held(tmp_path: Path) -> None:
    """Events left in the outbox are adopted by any process using the directory, or sent by `redrive`; held spans
    only by a server, which replays them into its trace assembly: `redrive` never touches them."""
    leave_records(tmp_path / "outbox", [1, 2])
    held = Spool(tmp_path / "held")
    held.put(batch(0))
    held.close()
    shown = run_cli("spool", "status", str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    out = " ".join(shown.stdout.split())  # as read, whatever the width it was wrapped to
    assert ("2 records of processes that are gone: a process using the directory adopts them within seconds, or "
            f"run `otel-honeyhive spool redrive {tmp_path}`") in out
    assert ("1 record of held spans or log records of servers that are gone: a server running on the directory (`serve "
            "--spool-dir`) takes them over within seconds, else the next to start; `redrive` leaves them") in out


@pytest.mark.slow
def test_a_missing_or_foreign_directory_is_one_precise_line(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    for command in ("status", "redrive"):
        missing = run_cli("spool", command, str(tmp_path / "nope"))
        assert missing.returncode == 1
        assert missing.stderr == f"otel-honeyhive spool {command}: {tmp_path / 'nope'}: no such directory\n"
        foreign = run_cli("spool", command, str(tmp_path / "photos"))
        assert foreign.returncode == 1
        assert foreign.stderr.startswith(f"otel-honeyhive spool {command}: {tmp_path / 'photos'} is not a spool "
                                         "directory")
        assert len(foreign.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_events_dead_lettered_for_their_data_are_sent_again_by_redrive_dead(tmp_path: Path) -> None:
    """The issue's scenario: the exporter with `spool_dir`; HoneyHive refuses the batches (422); after the fix,
    `spool redrive DIR --dead` delivers every event, and dead/ is empty."""
    spans = llm_traces(8)
    directory = tmp_path / "spool"
    with fake_honeyhive() as honeyhive:
        honeyhive.default = Reply(422, body=b'{"error": "unprocessable"}')
        exporter = HoneyHiveSpanExporter(api_key="k", server_url=honeyhive.url, spool_dir=directory,
                                         retry_policy=POLICY)
        for part in batches(spans, 10):
            assert exporter.export(part).name == "SUCCESS"
        assert exporter.force_flush(timeout_millis=10_000)
        exporter.shutdown()
        dead = directory / "outbox" / "dead"
        assert records_in(dead) and honeyhive.events == []

        honeyhive.default = Reply(200)
        run = run_cli("spool", "redrive", str(directory), "--dead", "--server-url", honeyhive.url, "--api-key",
                      SECRET)
        assert run.returncode == 0, run.stderr
        assert f"({len(event_ids(spans))} events) delivered to honeyhive" in run.stderr
    assert {e["event_id"] for e in honeyhive.events} == event_ids(spans)
    assert records_in(dead) == [] and list(dead.glob("*.reason")) == []
    assert SECRET not in run.stderr + run.stdout


def test_dead_letters_refused_again_stay_and_the_exit_status_says_so(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    with fake_honeyhive() as honeyhive:
        dead_letter_some(outbox, honeyhive, [0, 1])
        honeyhive.default = Reply(400, body=b'{"error": "still bad"}')
        run = run_cli("spool", "redrive", str(tmp_path), "--dead", "--server-url", honeyhive.url, "--api-key", "k")
    assert run.returncode == 1
    assert "refused" in run.stderr and "still bad" in run.stderr
    letters = records_in(outbox / "dead")
    assert len(letters) == 2
    assert all(len(p.with_suffix(".reason").read_text().splitlines()) == 2 for p in letters)


@pytest.mark.slow
def test_redrive_ships_what_gone_processes_left_and_leaves_a_running_ones_segment(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    outbox = directory / "outbox"
    with fake_honeyhive() as honeyhive, live_process(outbox, 2) as live:
        leave_records(outbox, [0, 1, 2])
        run = run_cli("spool", "redrive", str(directory), "--server-url", honeyhive.url, "--api-key", "k")
        assert run.returncode == 0, run.stderr
        assert sorted(e["event_id"] for e in honeyhive.events) == ["left-0", "left-1", "left-2"]
        assert f"is owned by running process {live.pid}; left to it (2 records)" in run.stderr
        assert len(pending_files(outbox)) == 2


def test_a_redrive_during_an_outage_says_the_records_were_kept_not_refused(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    leave_records(outbox, [0, 1, 2])
    with fake_honeyhive() as honeyhive:
        honeyhive.default = Reply(503)
        run = run_cli("spool", "redrive", str(tmp_path), "--server-url", honeyhive.url, "--api-key", "k",
                      "--timeout", "0.5")
    assert run.returncode == 1
    lines = run.stderr.splitlines()
    assert not any("refused:" in line for line in lines), run.stderr
    assert any(line.startswith("otel-honeyhive spool redrive: not delivered, kept for later: record 1 (1 events)")
               and "HTTP 503" in line for line in lines), run.stderr
    assert "0 refused; 3 kept for later" in run.stderr
    assert len(pending_files(outbox)) == 3


def test_redrive_to_the_local_store(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    with fake_honeyhive() as honeyhive:
        dead_letter_some(outbox, honeyhive, [0, 1])
    db = tmp_path / "events.db"
    run = run_cli("spool", "redrive", str(outbox), "--dead", "--to", "store", "--db", str(db))
    assert run.returncode == 0, run.stderr
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 4
    finally:
        conn.close()
    assert records_in(outbox / "dead") == []


def test_redrive_to_honeyhive_without_a_key_or_url_is_a_usage_error(tmp_path: Path) -> None:
    Spool(tmp_path / "outbox").close()
    run = run_cli("spool", "redrive", str(tmp_path), "--dead")
    assert run.returncode == 2
    assert "needs --api-key" in run.stderr


def test_status_of_a_directory_holding_another_users_segment_is_one_line(tmp_path: Path) -> None:
    """A segment left by `sudo otel-honeyhive spool redrive DIR`; before: a PermissionError traceback."""
    with shared_directory(tmp_path) as base:
        spool = base / "spool"
        leave_records(spool / "outbox", [0])
        (foreign,) = (spool / "outbox" / "segments").iterdir()
        hand_over(spool)
        deny(foreign)

        def look() -> dict[str, Any]:
            become_nobody()
            said = io.StringIO()
            with contextlib.redirect_stderr(said):
                code = main(["spool", "status", str(spool)])
            return {"code": code, "said": said.getvalue()}

        with given_back(foreign):
            result = in_child(look)
    assert result["code"] == 1
    assert result["said"] == (f"otel-honeyhive spool status: cannot read {foreign}: Permission denied; run as the "
                              "user that owns it\n")
