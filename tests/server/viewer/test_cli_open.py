"""`sessions --open` and `show --open`: the terminal leads to the viewer's page for what it printed (the address
is said on stderr and handed to the browser `$BROWSER` names, here a script that writes it down)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.viewer.stored import MODEL, SESSION, agent_session, write

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
