"""`otel-honeyhive prune`: old sessions out of the local store, from the command line, while `serve` may be
writing the same store; a dry run first; one clear line for a bad duration or a missing store."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from otel_honeyhive.outputs.store import SQLiteStore
from tests.cli.test_cli import run_cli
from tests.server.test_retention import names, session
from tests.support.server import run_server

DAY = 86_400_000.0


@pytest.mark.slow
def test_prune_counts_first_then_deletes_what_is_older(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    now = time.time() * 1000
    with SQLiteStore(db) as store:
        assert store.send([*session(1, now - 10 * DAY), *session(2, now - 8 * DAY), *session(3, now - DAY)]).ok
    dry = run_cli("prune", "--older-than", "7d", "--db", str(db), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would prune 2 sessions (4 events) whose last event was before ")
    assert "UTC; nothing deleted (--dry-run)" in dry.stdout
    assert names(db) == {"session-1", "session-2", "session-3"}
    done = run_cli("prune", "--older-than", "7d", "--db", str(db))
    assert done.returncode == 0 and done.stdout.startswith("pruned 2 sessions (4 events)"), done.stdout
    assert names(db) == {"session-3"}
    again = run_cli("prune", "--older-than", "7d", "--db", str(db))
    assert again.stdout.startswith("pruned 0 sessions (0 events)")


@pytest.mark.slow
def test_prune_works_beside_a_server_writing_the_same_store(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    with run_server(tmp_path, "--db", str(db)) as server:
        old = [*session(1, time.time() * 1000 - 30 * DAY), *session(2, time.time() * 1000)]
        assert requests.post(server.url + "/events/batch", json={"events": old}, timeout=10).status_code == 200
        done = run_cli("prune", "--older-than", "2w", "--db", str(db))
        assert done.returncode == 0 and done.stdout.startswith("pruned 1 session (2 events)"), done.stderr
        fresh = session(3, time.time() * 1000)
        assert requests.post(server.url + "/events/batch", json={"events": fresh}, timeout=10).status_code == 200
        assert names(db) == {"session-2", "session-3"}
        assert server.stop() == 0


@pytest.mark.slow
def test_a_bad_duration_or_a_missing_store_is_one_line(tmp_path: Path) -> None:
    bad = run_cli("prune", "--older-than", "a week", "--db", str(tmp_path / "x.db"))
    assert bad.returncode == 2 and "--older-than: not a duration: 'a week'" in bad.stderr
    bare = run_cli("prune", "--older-than", "7", "--db", str(tmp_path / "x.db"))  # 7 seconds would be everything
    assert bare.returncode == 2 and "--older-than: '7' has no unit: 7s, 7m, 7h, 7d or 7w?" in bare.stderr
    missing = run_cli("prune", "--older-than", "7d", "--db", str(tmp_path / "none.db"))
    assert missing.returncode == 1 and f"no event store at {tmp_path / 'none.db'}" in missing.stderr
    assert not (tmp_path / "none.db").exists()
    assert "Traceback" not in bad.stderr + missing.stderr


@pytest.mark.slow
def test_a_duration_past_a_century_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    SQLiteStore(db).close()
    for duration, dry in (("300000w", ["--dry-run"]), ("99999999999999999999d", [])):
        done = run_cli("prune", "--older-than", duration, "--db", str(db), *dry)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert f"--older-than: must be at most 36500d (a century), got '{duration}'" in done.stderr
    assert run_cli("prune", "--older-than", "36500d", "--db", str(db), "--dry-run").returncode == 0
