"""Every example runs, for real, against the local HoneyHive-compatible server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from otel_honeyhive.mapper.identity import session_id_for_trace
from tests.support.server import RunningServer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def example_env(server: RunningServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_"))}
    env.update({"HH_API_URL": server.url, "HH_PROJECT": "examples", **extra})
    return env


def run(cmd: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_auto_instrumentation_with_otel_traces_exporter_honeyhive_delivers_a_session(local_api: RunningServer) -> None:
    instrument = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert instrument, "opentelemetry-instrument is installed with the test extra"
    env = example_env(
        local_api,
        OTEL_TRACES_EXPORTER="honeyhive",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_SERVICE_NAME="rag-demo",
    )
    session_id = run([instrument, sys.executable, "examples/rag_pipeline.py"], env).strip()

    with local_api.store() as store:
        events = store.session_events(session_id)
    by_name = {e["event_name"]: e for e in events}
    assert set(by_name) == {"rag-pipeline", "retrieve documents", "chat gpt-4o-mini", "execute_tool word_count"}
    session = by_name["rag-pipeline"]
    assert session["event_type"] == "session" and session["event_id"] == session_id
    assert session["metadata"]["resource"]["service.name"] == "rag-demo"
    assert session["inputs"] == {"args": ["How does the bridge relate OTel and HoneyHive?"], "kwargs": {}}
    model = by_name["chat gpt-4o-mini"]
    assert model["event_type"] == "model"
    assert model["config"]["model"] == "gpt-4o-mini" and model["config"]["provider"] == "openai"
    assert model["inputs"]["chat_history"][0] == {"role": "system", "content": "Answer only from the context."}
    assert model["outputs"]["role"] == "assistant" and model["outputs"]["finish_reason"] == "stop"
    assert model["metadata"]["prompt_tokens"] > 0 and model["metadata"]["completion_tokens"] > 0
    retriever = by_name["retrieve documents"]
    assert retriever["event_type"] == "tool" and len(retriever["outputs"]["documents"]) >= 1
    tool = by_name["execute_tool word_count"]
    assert tool["event_type"] == "tool" and tool["outputs"]["words"] > 0
    assert all(e["parent_id"] == session_id for e in events if e is not session)
    assert all(e["project"] == "examples" for e in events)


def test_the_rag_example_sets_up_the_exporter_itself_when_run_plainly(local_api: RunningServer) -> None:
    session_id = run([sys.executable, "examples/rag_pipeline.py", "What is OTel?"], example_env(local_api)).strip()
    with local_api.store() as store:
        assert len(store.session_events(session_id)) == 4


def test_the_manual_spans_quickstart(local_api: RunningServer) -> None:
    trace_hex = run([sys.executable, "examples/manual_spans.py"], example_env(local_api)).strip()
    session_id = session_id_for_trace(int(trace_hex, 16))
    with local_api.store() as store:
        events = store.session_events(session_id)
    assert [e["event_type"] for e in sorted(events, key=lambda e: e["event_type"] != "session")] == ["session", "model"]


@pytest.mark.skipif(not (ROOT / ".venv").exists(), reason="scripts/demo installs into the project's .venv")
def test_the_readme_demo_command_prints_the_session_tree(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_"))}
    env["DB"] = str(tmp_path / "demo.db")
    out = run(["bash", "scripts/demo"], env)
    assert "rag-pipeline" in out
    for line in ("retrieve documents", "chat gpt-4o-mini", "execute_tool word_count", "gpt-4o-mini"):
        assert line in out
