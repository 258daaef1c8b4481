"""Conversations as sessions, end to end (`sessions="conversation"`, docs/identity-and-assembly.md#conversations).

A chat app (`tests/instrumentors/app_conversations.py`, a process of its own per run) handles three user turns,
each its own trace, with the conversation id given the way each instrumentation gives it: OpenInference's
`using_session`, the GenAI conventions' `gen_ai.conversation.id`, Traceloop's association property `session_id`.
Whether the app's exporter maps the spans (to the fake HoneyHive) or `otel-honeyhive serve --sessions
conversation` does (turns in separate OTLP requests, apart in time, each released by a short hold), the
conversation arrives as one session: one session event, three `chain` events (the turns' roots) with their
children, every parent inside the session, and the session ending when the last turn ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from otel_honeyhive.core.results import Update
from otel_honeyhive.mapper.identity import session_id_for_conversation
from tests.support.fake_honeyhive import FakeHoneyHive, fake_honeyhive
from tests.support.fake_openai import FakeOpenAI, run_fake_openai
from tests.support.metrics import scrape, value
from tests.support.server import RunningServer, run_server

pytestmark = pytest.mark.slow  # app processes, a fake HoneyHive, a server

ROOT = Path(__file__).resolve().parents[2]
TURNS = 3
CONVERSATIONS = {
    "openinference": "support-chat-openinference",
    "official": "7E4A1C2B-9D3F-4A5E-8B6C-0D1E2F3A4B5C",  # a UUID: the session id itself (lowercased)
    "traceloop": "support-chat-traceloop",
}


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with run_fake_openai() as fake:
        yield fake


def run_app(instrumentation: str, env: Mapping[str, str], *args: str) -> list[str]:
    """Run the chat app; the trace ids of its turns."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_", "OPENAI_"))}
    clean.update(OPENAI_API_KEY="test", OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none",
                 OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_ONLY", **env)
    done = subprocess.run(
        [sys.executable, "-m", "tests.instrumentors.app_conversations", instrumentation,
         CONVERSATIONS[instrumentation], "--turns", str(TURNS), *args],
        env=clean, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    trace_ids: list[str] = json.loads(done.stdout.strip().splitlines()[-1])["trace_ids"]
    assert len(set(trace_ids)) == TURNS  # each turn its own trace
    return trace_ids


def assert_one_conversation_session(events: list[dict[str, Any]], session_id: str, trace_ids: list[str]) -> None:
    """One session event; the turns' roots as chains under it, in order, with their children; no parent outside
    the session; the session's end that of the last turn."""
    assert {e["session_id"] for e in events} == {session_id}
    sessions = [e for e in events if e["event_type"] == "session"]
    assert len(sessions) == 1, [e["event_name"] for e in sessions]
    (session,) = sessions
    assert session["event_id"] == session_id and session["parent_id"] is None
    assert session["event_name"] == "turn 1"  # named from the first turn
    turns = sorted((e for e in events if e["parent_id"] == session_id), key=lambda e: e["start_time"])
    assert [t["event_name"] for t in turns] == [f"turn {i + 1}" for i in range(TURNS)]
    assert [t["event_type"] for t in turns] == ["chain"] * TURNS
    assert [t["metadata"]["trace_id"] for t in turns] == trace_ids
    ids = {e["event_id"] for e in events}
    assert all(e["parent_id"] in ids for e in events if e is not session)
    for t in turns:
        children = [e for e in events if e["parent_id"] == t["event_id"]]
        assert [c["event_type"] for c in children] == ["model"], t["event_name"]
    assert session["end_time"] == max(e["end_time"] for e in events) == turns[-1]["end_time"]
    assert session["start_time"] == turns[0]["start_time"]
    assert session["duration"] == session["end_time"] - session["start_time"]


# -- the exporter maps, HoneyHive (the fake) receives ----------------------------------------------------------


@pytest.fixture(scope="module")
def honeyhive() -> Iterator[FakeHoneyHive]:
    with fake_honeyhive() as fake:
        yield fake


@pytest.mark.parametrize("instrumentation", list(CONVERSATIONS))
def test_three_turns_through_the_exporter_are_one_session_in_honeyhive(
    instrumentation: str, honeyhive: FakeHoneyHive, fake_openai: FakeOpenAI
) -> None:
    session_id = session_id_for_conversation(CONVERSATIONS[instrumentation])
    first = len(honeyhive.requests)
    trace_ids = run_app(instrumentation, {
        "HH_API_URL": honeyhive.url, "HH_API_KEY": "test", "HH_PROJECT": "chat", "HH_API_VERSION": "legacy",
        "HH_SESSIONS": "conversation", "OPENAI_BASE_URL": fake_openai.base_url,
    })
    requests = honeyhive.requests[first:]
    events = [e for r in requests if r.method == "POST" for e in (r.body or {}).get("events", [])]
    assert len({e["event_id"] for e in events}) == len(events)  # nothing sent twice: no second session event
    updates = [dict(r.body) for r in requests if r.method == "PUT"]
    assert updates and {u["event_id"] for u in updates} == {session_id}  # later turns extend the session
    for body in updates:  # as HoneyHive applies PUT /events, in order
        update = Update(body.pop("event_id"), body)
        events = [update.apply_to(e) if e["event_id"] == update.event_id else e for e in events]
    assert_one_conversation_session(events, session_id, trace_ids)
    session = next(e for e in events if e["event_type"] == "session")
    assert session["metadata"]["conversation_id"] == CONVERSATIONS[instrumentation]
    first_turn = min((e for e in events if e["parent_id"] == session_id), key=lambda e: e["start_time"])
    assert session["children_ids"] == [first_turn["event_id"]]  # the turns seen when it was sent


def test_without_the_setting_each_turn_stays_its_own_session(
    honeyhive: FakeHoneyHive, fake_openai: FakeOpenAI
) -> None:
    first = len(honeyhive.requests)
    run_app("openinference", {"HH_API_URL": honeyhive.url, "HH_API_KEY": "test", "HH_API_VERSION": "legacy",
                              "OPENAI_BASE_URL": fake_openai.base_url})
    requests = honeyhive.requests[first:]
    events = [e for r in requests if r.method == "POST" for e in (r.body or {}).get("events", [])]
    assert len([e for e in events if e["event_type"] == "session"]) == TURNS
    assert not [r for r in requests if r.method == "PUT"]


# -- serve maps: turns in separate requests, apart in time ------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("conversations"), "--sessions", "conversation",
                    "--hold-timeout", "0.2") as running:
        yield running


@pytest.mark.parametrize("instrumentation", list(CONVERSATIONS))
def test_three_turns_through_serve_are_one_session_in_the_store(
    instrumentation: str, server: RunningServer, fake_openai: FakeOpenAI
) -> None:
    session_id = session_id_for_conversation(CONVERSATIONS[instrumentation])
    before = scrape(server)
    trace_ids = run_app(instrumentation, {"OPENAI_BASE_URL": fake_openai.base_url}, "--otlp", server.url,
                        "--gap", "0.5")  # past the hold: each turn released (and mapped) on its own
    after = scrape(server)
    for name, grew in (("otel_honeyhive_conversation_sessions_started_total", 1),
                       ("otel_honeyhive_conversation_turns_total", 3)):
        assert value(after, name) - value(before, name) == grew, name
    with server.store() as store:
        events = store.session_events(session_id)
        summary = next(s for s in store.list_sessions() if s.session_id == session_id)
    assert_one_conversation_session(events, session_id, trace_ids)
    assert summary.has_session_event and summary.events == len(events) - 1
    assert summary.end_time == max(e["end_time"] for e in events)
