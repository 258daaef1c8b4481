"""`sessions --open` and `show --open`: the terminal leads to the viewer's page for what it printed (the address
is said on stderr and handed to the browser `$BROWSER` names, here a script that writes it down)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.viewer.stored import MODEL, SESSION, agent_session, write
from tests.support.server import free_port, run_server

pytestmark = pytest.mark.slow  # the CLI in subprocesses


def run_cli(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    db = tmp_path / "viewer.db"
    if not db.exists():
        write(db, agent_session())
    opened = tmp_path / "opened.txt"
    opened.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_HONEYHIVE_"))}
    env["BROWSER"] = f"/bin/sh -c 'printf %s \"$0\" > {opened}' %s"
    done = subprocess.run([sys.executable, "-m", "otel_honeyhive.cli", *args, "--db", str(db), "--open"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done, opened.read_text() if opened.exists() else ""


def test_show_open_leads_to_the_session_page(tmp_path: Path) -> None:
    done, opened = run_cli(tmp_path, "show", SESSION[:8], "--viewer", "http://127.0.0.1:9999/")
    url = f"http://127.0.0.1:9999/sessions/{SESSION}"
    assert f"viewer: {url}" in done.stderr and opened == url
    assert "checkout-agent" in done.stdout  # the tree is still printed


def test_show_open_of_an_event_leads_to_its_detail_in_its_session(tmp_path: Path) -> None:
    done, opened = run_cli(tmp_path, "show", MODEL, "--json")
    assert opened == f"http://127.0.0.1:4318/sessions/{SESSION}/events/{MODEL}"  # serve's default address
    assert done.stdout.startswith("{")  # --json output stays JSON: the address went to stderr


def test_sessions_open_leads_to_the_list(tmp_path: Path) -> None:
    done, opened = run_cli(tmp_path, "sessions")
    assert opened == "http://127.0.0.1:4318/" and "checkout-agent" in done.stdout


def test_open_says_when_nothing_answers_at_the_viewers_address(tmp_path: Path) -> None:
    """After `scripts/demo` its server is gone: the browser's connection error would not say to start `serve`."""
    gone = f"http://127.0.0.1:{free_port()}"
    done, opened = run_cli(tmp_path, "show", SESSION[:8], "--viewer", gone)
    assert opened == f"{gone}/sessions/{SESSION}"  # still said and handed on: the server may be started next
    assert f"otel-honeyhive: nothing answers at {gone} (start `otel-honeyhive serve --db " in done.stderr
    assert "Traceback" not in done.stderr


def test_open_says_when_the_viewer_there_serves_another_store(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    with run_server(tmp_path / "elsewhere") as other:
        done, _ = run_cli(tmp_path, "show", SESSION[:8], "--viewer", other.url)
        assert f"otel-honeyhive: {other.url} has no page for this: is it `otel-honeyhive serve` on " in done.stderr
        done, _ = run_cli(tmp_path, "sessions", "--viewer", other.url)  # its list is there all the same
        assert "otel-honeyhive: " not in done.stderr.replace("otel-honeyhive: no browser", "")


def test_open_says_nothing_more_when_the_viewer_serves_the_page(tmp_path: Path) -> None:
    write(tmp_path / "viewer.db", agent_session())
    with run_server(tmp_path, "--db", str(tmp_path / "viewer.db")) as server:
        done, opened = run_cli(tmp_path, "show", MODEL, "--viewer", server.url)
        assert opened == f"{server.url}/sessions/{SESSION}/events/{MODEL}"
        assert done.stderr.splitlines() == [f"viewer: {opened}"]
