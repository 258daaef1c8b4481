"""Files that hold prompts are owner-only, whatever the umask: the local store (database, WAL, shared memory),
the files `convert` and `export` write, and the replay state.

The umask is set in a child process (never in the test process, whose other threads create files too): 022 is
the common default under which a plain `open` makes files every user of the machine can read.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest
import requests

from otel_honeyhive.outputs.store import SQLiteStore
from tests.support.event_files import cli_env, write_ndjson
from tests.support.server import free_port, serve_command
from tests.support.waiting import wait_until

COMMON_UMASK = 0o022


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_under_umask(script: str, *args: str) -> dict[str, int]:
    """Run `script` in a fresh Python under umask 022; it prints a JSON object of path → mode."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], capture_output=True,
                          timeout=60, umask=COMMON_UMASK, env=cli_env(), check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    modes: dict[str, int] = orjson.loads(done.stdout)
    return modes


def test_a_new_store_its_wal_and_its_shared_memory_are_owner_only(tmp_path: Path) -> None:
    modes = run_under_umask("""
        import os, stat, sys, orjson
        from otel_honeyhive.outputs.store import SQLiteStore
        path = sys.argv[1]
        store = SQLiteStore(path)
        session = "4f1c2b7e-0d2a-4c55-9a51-3f0d6d7b8a11"
        store.send([{"event_id": session, "session_id": session, "parent_id": None, "event_type": "session",
                     "event_name": "s", "source": "test", "inputs": {"prompt": "a secret prompt"}}])
        # while the store is open: SQLite removes -wal and -shm when the last connection closes
        files = (path, path + "-wal", path + "-shm", path + "-bodies", path + "-bodies/000001.seg")
        print(orjson.dumps({p: stat.S_IMODE(os.stat(p).st_mode) for p in files}).decode())
        store.close()
    """, str(tmp_path / "new" / "events.db"))
    db = str(tmp_path / "new" / "events.db")
    assert modes == {**{db + suffix: 0o600 for suffix in ("", "-wal", "-shm", "-bodies/000001.seg")},
                     db + "-bodies": 0o700}  # the events' bodies (the prompts) in a private directory
    assert mode(tmp_path / "new") == 0o700  # the directory made for it is private too


def test_an_existing_store_open_to_others_is_kept_as_it_is_and_a_warning_says_how_to_close_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "shared.db"
    SQLiteStore(path).close()
    path.chmod(0o640)  # shared with a group on purpose, say
    with caplog.at_level(logging.WARNING, logger="otel_honeyhive.store"), SQLiteStore(path):
        pass
    assert mode(path) == 0o640
    assert f"chmod 600 {path}" in caplog.text


def test_convert_export_and_replay_state_files_are_owner_only(tmp_path: Path) -> None:
    source = tmp_path / "events.ndjson"
    write_ndjson(source, [{"event_id": "4f1c2b7e-0d2a-4c55-9a51-3f0d6d7b8a11", "session_id":
                           "4f1c2b7e-0d2a-4c55-9a51-3f0d6d7b8a11", "parent_id": None, "event_type": "session",
                           "event_name": "s", "source": "test", "inputs": {"prompt": "a secret prompt"}}])
    modes = run_under_umask("""
        import os, stat, sys, orjson
        from pathlib import Path
        from otel_honeyhive.cli.main import main
        from otel_honeyhive.cli.replay import ReplayState
        from otel_honeyhive.outputs.store import SQLiteStore
        source, out = Path(sys.argv[1]), Path(sys.argv[2])
        written = []
        for name in ("converted.otlp.json", "converted.ndjson.gz"):
            assert main(["convert", "-q", str(source), str(out / name)]) == 0
            written.append(out / name)
        store = out / "store.db"
        with SQLiteStore(store) as opened:
            opened.send([orjson.loads(line) for line in source.read_bytes().splitlines()])
        assert main(["export", "--db", str(store), "-q", str(out / "exported.ndjson")]) == 0
        written.append(out / "exported.ndjson")
        state = out / "events.ndjson.replay-state.json"
        ReplayState(file=str(source), size=1, mtime_ns=1, format="ndjson", target="honeyhive").save(state)
        written.append(state)
        print(orjson.dumps({p.name: stat.S_IMODE(p.stat().st_mode) for p in written}).decode())
    """, str(source), str(tmp_path))
    assert modes == {"converted.otlp.json": 0o600, "converted.ndjson.gz": 0o600, "exported.ndjson": 0o600,
                     "events.ndjson.replay-state.json": 0o600}


@pytest.mark.slow
def test_serve_db_under_a_common_umask_is_owner_only_while_it_serves(tmp_path: Path) -> None:
    """The real server, started by a shell-like parent whose umask is 022, storing a trace it received."""
    port = free_port()
    db = tmp_path / "otel-honeyhive.db"
    stderr = tmp_path / "serve.stderr"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(serve_command("--http-port", str(port), "--grpc-port", "0", "--db", str(db)),
                                stdout=subprocess.DEVNULL, stderr=err, env=cli_env(), cwd=tmp_path,
                                umask=COMMON_UMASK)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return requests.get(url + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(lambda: proc.poll() is not None or healthy(), 10, explain="serve to answer /healthz",
                   diagnose=lambda: stderr.read_text(errors="replace"))
        assert proc.poll() is None, stderr.read_text(errors="replace")
        now = time.time_ns()
        body = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "t"}, "spans": [
            {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "name": "root",
             "kind": 1, "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000),
             "attributes": [{"key": "input.value", "value": {"stringValue": "a secret prompt"}}]}]}]}]}
        answer = requests.post(url + "/v1/traces", data=orjson.dumps(body),
                               headers={"Content-Type": "application/json"}, timeout=10)
        assert answer.status_code == 200, answer.text
        with SQLiteStore(db, readonly=True) as store:
            wait_until(lambda: store.list_sessions(), 10, explain="the trace to be stored")
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-bodies/000001.seg")]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert mode(Path(f"{db}-bodies")) == 0o700
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
    assert proc.returncode == 0, stderr.read_text(errors="replace")
    assert not os.access(db, os.F_OK) or mode(db) == 0o600
