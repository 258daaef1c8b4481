"""The commands' mistakes are told in words: the flag to change, the place that is wrong, the value as typed, one
line, no traceback. Run as a user runs them: subprocesses, judged by their output and exit status."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.event_files import session_events, write_ndjson
from tests.support.fake_honeyhive import FakeHoneyHive
from tests.support.server import free_port


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_HONEYHIVE_"))}
    return subprocess.run([sys.executable, "-m", "otel_honeyhive.cli", *args], capture_output=True, text=True,
                          timeout=60, env=env, cwd=cwd)


def one_line(done: subprocess.CompletedProcess[str], status: int = 1) -> str:
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def usage_error(done: subprocess.CompletedProcess[str]) -> str:
    """argparse's answer to a bad flag value: its usage, then one line naming the flag (status 2)."""
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    return done.stderr.splitlines()[-1]


def serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("serve", "--http-port", str(free_port()), "--grpc-port", "0", *args, cwd=tmp_path)


def test_a_store_under_a_file_says_that_file_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("")
    line = one_line(serve(tmp_path, "--db", str(tmp_path / "notes.txt" / "events.db")))
    assert f"{tmp_path / 'notes.txt'} is a file, not a directory" in line and "--db" in line


def test_a_store_given_as_a_directory_says_so_and_advises_no_chmod(tmp_path: Path) -> None:
    (tmp_path / "stores").mkdir()
    done = serve(tmp_path, "--db", str(tmp_path / "stores"))
    line = one_line(done)
    assert f"{tmp_path / 'stores'} is a directory: give the store's file, for example " in line and "--db" in line
    assert "chmod" not in done.stderr


def test_a_store_where_no_file_can_be_made_says_so_and_names_db(tmp_path: Path) -> None:
    line = one_line(serve(tmp_path, "--db", "/proc/events.db"))
    assert "cannot create or open /proc/events.db" in line and "choose another place with --db" in line


@pytest.mark.parametrize("flag", ["--spool-dir", "--db"])
def test_an_empty_path_is_refused_not_read_as_the_working_directory(tmp_path: Path, flag: str) -> None:
    line = usage_error(serve(tmp_path, flag, ""))
    assert f"argument {flag}: is empty: give a path" in line
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(("url", "says"), [
    ("http://", "--server-url: the server URL has no valid host (for example http://127.0.0.1:4318), got 'http://'"),
    ("http://exa mple.com:99999", "--server-url: the server URL has no valid host"),
    ("http://example.com:99999", "--server-url: the server URL has a port outside 1-65535"),
    ("localhost:4318", "--server-url: the server URL must start with http:// or https://"),
    ("https://api.honeyhive.ai/v1", "--server-url: the server URL is the API's root, and the bridge adds each "
                                    "route's path (so '/v1' would be sent to twice): drop '/v1'"),
    ("http://127.0.0.1:4318/events/batch/", "drop '/events/batch'"),
])
def test_a_bad_server_url_is_refused_at_start_up_as_typed(tmp_path: Path, url: str, says: str) -> None:
    line = one_line(serve(tmp_path, "--api-key", "k", "--server-url", url), status=2)
    assert line.startswith("otel-honeyhive serve: --server-url:") and says in line
    assert "option" not in line  # not the Python keyword, and not a doubled prefix


def test_sizes_are_shown_and_taken_in_units() -> None:
    shown = run_cli("serve", "--help").stdout
    assert "(default: 64 MiB)" in shown and "(default: 1 GiB)" in shown and "67108864" not in shown
    assert "argument --max-body-bytes: not a size: '12XB'" in usage_error(run_cli("serve", "--max-body-bytes", "12XB"))


def test_replay_of_an_unnamed_format_names_from_not_to(tmp_path: Path) -> None:
    (tmp_path / "events.txt").write_text("")
    line = one_line(run_cli("replay", str(tmp_path / "events.txt"), "--to", "honeyhive", "--server-url",
                            "http://127.0.0.1:9"), status=2)
    assert line.endswith("give its format with --from\n")


def test_replay_counts_one_batch_in_the_singular(tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    write_ndjson(events, session_events(random.Random(1), 0, children=2))
    fake = FakeHoneyHive().start()
    try:
        done = run_cli("replay", str(events), "--to", "honeyhive", "--server-url", fake.url, "--api-key", "k")
    finally:
        fake.stop()
    assert done.returncode == 0, done.stderr
    assert "3 events in 1 batch from" in done.stderr
