"""Span filtering on real instrumentations: LangChain under OpenInference and under Traceloop, filtered by the
exporter from the environment (`HH_DROP_SPANS`, `HH_SPAN_FILTER`), stored by a real `otel-honeyhive serve`.

`tests/instrumentors/langchain_app.py` runs in a process of its own, as for tests/instrumentors/test_langchain.py.
Its trace nests the model call three chains deep (`RunnableSequence` → `RunnableParallel` → `RunnableSequence` →
retriever); dropping LangChain's plumbing must leave the retriever, the tool and the model calls directly under
the session, and the `genai` preset must keep every span of these GenAI instrumentations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import RunningServer, run_server

pytestmark = pytest.mark.slow  # an app process per variant and filter

ROOT = Path(__file__).resolve().parents[2]
PLUMBING = "*Runnable*,*format_notes,*ChatPromptTemplate*"
"""LangChain's composition steps, named alike by both instrumentations (Traceloop adds a prefix or a suffix)."""
EVERY_SPAN = 12
"""The app's spans: the root, seven chain steps, the retriever, the tool and two model calls."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("filtering")) as running:
        yield running


def run_app(server: RunningServer, variant: str, **filters: str) -> tuple[str, list[dict[str, Any]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_", "OPENAI_", "TRACELOOP_"))}
    env.update(HH_API_URL=server.url, HH_PROJECT="filtering", OTEL_METRICS_EXPORTER="none",
               OTEL_LOGS_EXPORTER="none", **filters)
    done = subprocess.run([sys.executable, "-m", "tests.instrumentors.langchain_app", variant], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    session_id: str = json.loads(done.stdout.strip().splitlines()[-1])["session_id"]
    with server.store() as store:
        events = store.session_events(session_id)
    ids = {event["event_id"] for event in events}
    [session] = [event for event in events if event["event_type"] == "session"]
    assert session["event_id"] == session_id and session["parent_id"] is None
    for event in events:
        assert event is session or event["parent_id"] in ids, f"{event['event_name']} points at nothing"
    return session_id, events


@pytest.mark.parametrize("variant", ["openinference", "traceloop"])
def test_dropping_the_chain_plumbing_puts_the_retriever_tool_and_models_under_the_session(
    server: RunningServer, variant: str
) -> None:
    session_id, events = run_app(server, variant, HH_DROP_SPANS=PLUMBING)
    kept = sorted((event["event_type"], event["parent_id"]) for event in events if event["event_id"] != session_id)
    assert kept == [("model", session_id)] * 2 + [("tool", session_id)] * 2, [e["event_name"] for e in events]
    [session] = [event for event in events if event["event_id"] == session_id]
    assert sorted(session["children_ids"]) == sorted(e["event_id"] for e in events if e["event_id"] != session_id)


@pytest.mark.parametrize("variant", ["openinference", "traceloop"])
def test_the_genai_preset_keeps_every_span_of_a_genai_instrumentation(server: RunningServer, variant: str) -> None:
    _, events = run_app(server, variant, HH_SPAN_FILTER="genai")
    assert len(events) == EVERY_SPAN, [e["event_name"] for e in events]
