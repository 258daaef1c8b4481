"""An app instrumented with HoneyHive's own SDK (honeyhive 1.7.0, in a virtual environment of its own: its pinned
dependencies are not ours) works against the local server by changing only the server URL: its session starts
on `POST /session/start`, its spans arrive as OTLP/JSON on `/opentelemetry/v1/traces`, and the store holds one
session with the traced call under it."""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

from tests.support.server import run_server

pytestmark = pytest.mark.slow  # a venv with HoneyHive's SDK, and its app in a process

SDK = "honeyhive==1.7.0"
APP = """\
import sys
from honeyhive import HoneyHiveTracer, trace

tracer = HoneyHiveTracer.init(api_key="local", server_url=sys.argv[1], source="dev", session_name="sdk-session")

@trace
def answer(question: str) -> str:
    return "42"

answer("life?")
tracer.flush()
"""


@pytest.fixture(scope="module")
def sdk_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("honeyhive-sdk")
    venv.create(where / "venv", with_pip=True)
    python = where / "venv" / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", SDK],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return python


def test_an_app_on_honeyhives_sdk_makes_one_session_in_the_local_store(sdk_python: Path, tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_"))}
    env["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    with run_server(tmp_path) as server:
        done = subprocess.run([str(sdk_python), str(app), server.url], capture_output=True, text=True, timeout=120,
                              env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "Session creation failed" not in done.stderr, done.stderr
        with server.store() as store:
            (summary,) = store.list_sessions()
            events = store.session_events(summary.session_id)
    session, call = events
    assert (session["event_type"], session["event_name"]) == ("session", "sdk-session")
    assert (call["event_name"], call["parent_id"]) == ("__main__.answer", session["event_id"])
    assert (call["inputs"], call["outputs"]) == ({"question": "life?"}, {"result": "42"})
