"""`serve --retention`: the server prunes its local store as it runs (at start, then every tenth of the
retention), says what went in one line, keeps what is recent, and refuses the option where there is no store."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import requests

from otel_honeyhive.outputs.store import SQLiteStore
from otel_honeyhive.server.retention import MAX_INTERVAL, MIN_INTERVAL, interval_for
from tests.server.viewer.stored import event
from tests.support.server import run_server, serve_command
from tests.support.waiting import wait_until

DAY = 86_400_000.0


def session(number: int, start: float) -> list[dict[str, object]]:
    sid = f"5e550000-0000-4000-8000-{number:012d}"
    return [event(sid, sid, "session", f"session-{number}", start, 1_000.0),
            event(sid, f"e0000000-{number:04d}-4000-8000-000000000001", "tool", "step", start + 1, 10.0, sid)]


def names(db: Path) -> set[str]:
    with SQLiteStore(db, readonly=True) as store:
        return {s.name or "" for s in store.list_sessions(limit=100)}


@pytest.mark.slow
def test_the_server_prunes_what_is_older_than_the_retention_and_keeps_the_rest(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    now = time.time() * 1000
    with SQLiteStore(db) as store:
        assert store.send([*session(1, now - 3 * DAY), *session(2, now - 2 * DAY), *session(3, now)]).ok
    with run_server(tmp_path, "--db", str(db), "--retention", "30s") as server:
        wait_until(lambda: names(db) == {"session-3"}, 10, explain="the old sessions pruned at start",
                   diagnose=server.stderr)
        wait_until(lambda: "retention: pruned 2 sessions (4 events) whose last event was before" in server.stderr(),
                   5, explain="the line saying so", diagnose=server.stderr)
        late = [*session(4, time.time() * 1000 - DAY), *session(5, time.time() * 1000)]
        answer = requests.post(server.url + "/events/batch", json={"events": late}, timeout=10)
        assert answer.status_code == 200, answer.text
        wait_until(lambda: names(db) == {"session-3", "session-5"}, 3 * interval_for(30) + 5,
                   explain="an old session sent later, pruned at a later pass", diagnose=server.stderr)
        scraped = requests.get(server.url + "/metrics", timeout=10).text
        for line in ("otel_honeyhive_store_retention_seconds 30", "otel_honeyhive_store_pruned_sessions_total 3",
                     "otel_honeyhive_store_pruned_events_total 6", "otel_honeyhive_store_prune_failures_total 0"):
            assert line in scraped.splitlines(), scraped
        assert server.stop() == 0


@pytest.mark.slow
def test_retention_is_refused_where_there_is_no_local_store_or_no_length(tmp_path: Path) -> None:
    for given, error in (
        (["--retention", "7d", "--api-key", "k", "--server-url", "http://127.0.0.1:9"],
         "--retention applies to the local store, and this server forwards its events (to HoneyHive)"),
        (["--retention", "7d", "--otlp-endpoint", "http://127.0.0.1:9"], "forwards its events (to an OTLP endpoint)"),
        (["--retention", "0s"], "--retention: must be longer than 0"),
        (["--retention", "7x"], "--retention: not a duration: '7x' (a number with a unit: 90s, 30m, 12h, 7d, 2w)"),
    ):
        done = subprocess.run([*serve_command(*given), "--http-port", "0", "--grpc-port", "0"], capture_output=True,
                              text=True, timeout=30, cwd=tmp_path)
        assert done.returncode == 2 and error in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_passes_come_every_tenth_of_the_retention_within_bounds() -> None:
    """Nothing outlives its retention by more than a tenth of it, or by ten minutes."""
    assert interval_for(30) == 3.0
    assert interval_for(2) == MIN_INTERVAL and interval_for(7 * 86_400) == MAX_INTERVAL
