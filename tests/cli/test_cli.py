"""The `otel-honeyhive` command line, run as a user runs it: a subprocess, judged by its text and exit status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from otel_honeyhive.outputs.store import SQLiteStore
from tests.support.server import free_port, run_server, serve_command

SESSION = "5e55a1b2-0000-4000-8000-00000000000a"
OTHER_SESSION = "5e55c3d4-0000-4000-8000-00000000000b"
CHILDLESS_SESSION = "7a7a7a7a-0000-4000-8000-00000000000c"
T0 = 1_714_978_764_000.0  # 2024-05-06, in milliseconds as HoneyHive sends them


def ev(event_id: str, event_type: str, name: str, parent: str | None, start: float, duration: float,
       session: str = SESSION, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id, "session_id": session, "parent_id": parent, "event_type": event_type,
        "event_name": name, "source": "prod", "inputs": {}, "start_time": start, "end_time": start + duration,
        "duration": duration, **fields,
    }


def uid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def run_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_HONEYHIVE_"))}
    return subprocess.run([sys.executable, "-m", "otel_honeyhive.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store with a RAG session (nested chain, an error, an orphan), a second session, and a session
    known only from an event whose session event never arrived."""
    path = tmp_path / "events.db"
    with SQLiteStore(path) as store:
        assert store.send([
            ev(SESSION, "session", "rag-chat", None, T0, 3000),
            ev(uid(4), "model", "answer", SESSION, T0 + 2000, 500, config={"model": "gpt-4o"},
               metadata={"prompt_tokens": 40, "completion_tokens": 18}),
            ev(uid(1), "chain", "retrieve", SESSION, T0 + 100, 1000),
            ev(uid(3), "model", "rerank", uid(1), T0 + 700, 300, metadata={"total_tokens": 12},
               error="RateLimitError: slow down\nTraceback (most recent call last): ..."),
            ev(uid(2), "tool", "search [docs]", uid(1), T0 + 200, 400),
            ev(uid(5), "tool", "lost-step", uid(99), T0 + 2600, 100),
            ev(OTHER_SESSION, "session", "second", None, T0 + 60_000, 1000, session=OTHER_SESSION, source="staging"),
            ev(uid(6), "tool", "late", uid(77), T0 - 1000, 10, session=CHILDLESS_SESSION, source="worker"),
        ]).ok
    return path


class TestSessions:
    def test_lists_sessions_newest_first_with_their_summary(self, db: Path) -> None:
        result = run_cli("sessions", "--db", str(db))
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].split() == ["session", "name", "source", "start", "duration", "events", "errors"]
        rows = [line.split() for line in lines[1:]]
        assert [r[0] for r in rows] == [OTHER_SESSION, SESSION, CHILDLESS_SESSION]
        second, rag, childless = rows
        assert second[1:3] == ["second", "staging"] and second[-2:] == ["0", "0"]
        assert rag[1:3] == ["rag-chat", "prod"] and rag[-4:] == ["3.00", "s", "5", "1"]
        assert childless[1:3] == ["-", "worker"] and childless[-2:] == ["1", "0"]

    def test_start_is_shown_in_local_time(self, db: Path) -> None:
        import datetime

        expected = datetime.datetime.fromtimestamp(T0 / 1000).strftime("%Y-%m-%d %H:%M:%S")
        assert expected in run_cli("sessions", "--db", str(db)).stdout

    def test_limit_keeps_the_newest(self, db: Path) -> None:
        result = run_cli("sessions", "--db", str(db), "--limit", "1")
        assert OTHER_SESSION in result.stdout and SESSION not in result.stdout

    def test_an_empty_store_says_so(self, tmp_path: Path) -> None:
        SQLiteStore(tmp_path / "empty.db").close()
        result = run_cli("sessions", "--db", str(tmp_path / "empty.db"))
        assert (result.returncode, result.stdout.strip()) == (0, f"no sessions in {tmp_path / 'empty.db'}")

    def test_a_missing_store_is_an_error_and_is_not_created(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope.db"
        result = run_cli("sessions", "--db", str(missing))
        assert result.returncode == 1
        assert f"no event store at {missing}" in result.stderr
        assert not missing.exists()


class TestShow:
    def test_shows_the_session_as_a_tree_in_start_order_with_orphans_under_the_session(self, db: Path) -> None:
        result = run_cli("show", SESSION, "--db", str(db))
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            f"session rag-chat  3.00 s  {SESSION}  prod  {_local(T0)}",
            "├── chain retrieve  1.00 s",
            "│   ├── tool search [docs]  400 ms",
            "│   └── model rerank  300 ms  12 tokens  error: RateLimitError: slow down",
            "├── model answer  500 ms  gpt-4o  58 tokens",
            "└── tool lost-step  100 ms",
        ]

    def test_a_unique_prefix_is_enough(self, db: Path) -> None:
        result = run_cli("show", "5E55A", "--db", str(db))
        assert result.returncode == 0 and "rag-chat" in result.stdout

    def test_an_ambiguous_prefix_lists_the_candidates(self, db: Path) -> None:
        result = run_cli("show", "5e55", "--db", str(db))
        assert result.returncode == 1
        assert "'5e55' is ambiguous: it starts 2 sessions" in result.stderr
        assert SESSION in result.stderr and OTHER_SESSION in result.stderr

    def test_a_session_without_its_session_event_still_shows(self, db: Path) -> None:
        result = run_cli("show", CHILDLESS_SESSION, "--db", str(db))
        assert result.returncode == 0
        assert result.stdout.splitlines() == [
            f"session (no session event)  {CHILDLESS_SESSION}",
            "└── tool late  10 ms",
        ]

    @pytest.mark.parametrize("session_id", ["ffffffff", "not-hex!", SESSION.replace("5e55", "9e55")])
    def test_an_unknown_session_is_a_clear_error(self, db: Path, session_id: str) -> None:
        result = run_cli("show", session_id, "--db", str(db))
        assert result.returncode == 1
        assert f"no session or event id starts with {session_id!r}" in result.stderr
        assert result.stdout == ""


def _local(ms: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def test_output_formats_offered_in_help_are_only_those_written() -> None:
    """`export` and `convert --to` write neither the length-prefixed protobuf nor zstd: their help offers neither."""
    export = " ".join(run_cli("export", "--help").stdout.split())
    assert "otlp-proto" not in export and ".zst" not in export, export
    convert = " ".join(run_cli("convert", "--help").stdout.split())
    to = convert[convert.index("--to FORMAT format"):convert.index("--project PROJECT project")]
    assert to.startswith("--to FORMAT format of OUTPUT when its name does not tell: ndjson, json, otlp-jsonl or "
                         "otlp-json "), to


class TestServe:
    def test_help_lists_every_flag_of_the_spec(self) -> None:
        result = run_cli("serve", "--help")
        assert result.returncode == 0
        for flag in ("--host", "--http-port", "--grpc-port", "--api-key", "--server-url", "--project", "--source",
                     "--db", "--spool-dir", "--auth-token", "--max-body-bytes"):
            assert flag in result.stdout

    def test_help_says_how_often_retention_runs_and_what_the_token_leaves_open(self) -> None:
        shown = " ".join(run_cli("serve", "--help").stdout.split())
        assert "then every tenth of DURATION (at least every 10 minutes)" in shown  # retention.interval_for
        assert "every request but /healthz and the viewer's token form" in shown  # server/auth.py OPEN_PATHS

    def test_help_says_the_spool_journals_genai_log_records_waiting_for_their_span_too(self) -> None:
        shown = " ".join(run_cli("serve", "--help").stdout.split())
        assert "held spans and GenAI log records waiting for their span are journaled" in shown  # as README's table

    @pytest.mark.parametrize(("args", "message"), [
        (["--http-port", "70000"], "argument --http-port: port must be between 0 (off) and 65535"),
        (["--grpc-port", "-1"], "argument --grpc-port: port must be between 0 (off) and 65535"),
        (["--http-port", "http"], "argument --http-port: not a port number"),
        (["--max-body-bytes", "0"], "argument --max-body-bytes: must be at least 1"),
        (["--http-port", "0", "--grpc-port", "0"], "nothing to serve: --http-port and --grpc-port are both 0"),
        (["--http-port", "24380", "--grpc-port", "24380"], "--http-port and --grpc-port are both 24380: HTTP and "
                                                           "gRPC each need their own port"),
        (["--hold-timeout", "-1"], "argument --hold-timeout: must be from 0 to 86400 seconds, got '-1'"),
        (["--hold-timeout", "inf"], "argument --hold-timeout: must be from 0 to 86400 seconds, got 'inf'"),
        (["--source", " "], "argument --source: is empty: give a name, or leave the flag out"),
        (["--project", ""], "argument --project: is empty: give a name, or leave the flag out"),
        (["--server-url", "ftp://example.com"], "server URL must start with http:// or https://"),
    ])
    def test_bad_flags_are_refused_before_starting(self, args: list[str], message: str) -> None:
        result = run_cli("serve", *args)
        assert result.returncode == 2
        assert message in result.stderr

    def test_starts_promptly_and_says_where_without_secrets(self, tmp_path: Path) -> None:
        """(The start-up time itself is a figure for the benchmarks, not a test: this only catches a start that
        hangs.)"""
        port, db = free_port(), tmp_path / "events.db"
        started = time.monotonic()
        proc = subprocess.Popen(
            serve_command("--http-port", str(port), "--grpc-port", "0", "--db", str(db),
                          "--auth-token", "secret-token-123"),
            stderr=subprocess.PIPE, text=True, env={**os.environ, "HH_API_KEY": ""},
        )
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            elapsed = time.monotonic() - started
            assert line.strip() == f"otel-honeyhive serve: HTTP on http://127.0.0.1:{port} (store: {db})"
            assert elapsed < 10.0, f"ready after {elapsed:.2f}s"
            assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            _, rest = proc.communicate(timeout=15)
        assert proc.returncode == 0
        assert "secret-token-123" not in line + rest

    @pytest.mark.slow
    @pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
    def test_a_signal_stops_it_cleanly_with_the_store_closed(self, tmp_path: Path, sig: int) -> None:
        with run_server(tmp_path) as server:
            requests.post(server.url + "/events", json={"event": {"event_type": "tool", "inputs": {}}}, timeout=5)
            assert server.stop(sig) == 0
        # A closed SQLite store has checkpointed its write-ahead log into the database and removed it.
        assert not server.db_path.with_name(server.db_path.name + "-wal").exists()
        with SQLiteStore(server.db_path, readonly=True) as store:
            assert store.count_events() == 1

    def test_a_port_in_use_is_an_error(self, local_api: Any) -> None:
        result = run_cli("serve", "--http-port", str(local_api.port), "--grpc-port", "0",
                         "--db", str(local_api.db_path.with_name("other.db")))
        assert result.returncode != 0
        assert "the port is in use" in result.stderr and "--http-port" in result.stderr

    def test_an_unusable_store_path_is_an_error(self, tmp_path: Path) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("")
        result = run_cli("serve", "--http-port", str(free_port()), "--db", str(blocker / "events.db"))
        assert result.returncode == 1
        assert "cannot open the output (store:" in result.stderr


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("otel-honeyhive ")


def test_no_command_prints_usage() -> None:
    result = run_cli()
    assert result.returncode == 2 and "serve" in result.stderr
