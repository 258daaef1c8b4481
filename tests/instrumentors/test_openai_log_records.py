"""GenAI content that `opentelemetry-instrumentation-openai-v2` (2.4b0, on `opentelemetry-util-genai` 1.1b0) emits
as log records reaches HoneyHive as if it had been on the spans.

What 2.4b0 does with `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` (util-genai's `_inference_invocation.py`):
`SPAN_ONLY` puts `gen_ai.input.messages` / `gen_ai.output.messages` / `gen_ai.system_instructions` on the span as
JSON strings and emits no record; `EVENT_ONLY` puts no content on the span and emits one
`gen_ai.client.inference.operation.details` record per call (the `event_name` field; the same attributes as the
span plus the messages as structured lists, emitted with the span's context just before the span ends);
`SPAN_AND_EVENT` does both. The older per-message records (`gen_ai.user.message`, `gen_ai.choice`) belong to the
legacy code path, which 2.4b0 no longer takes.

The app (`tests/instrumentors/app_with_logs.py`) runs in a process of its own per mode, with both exporters in
process, against the fake OpenAI server; the events arrive at the fake HoneyHive, whose PUT /events are applied
as HoneyHive applies them. Model events are compared field by field across the modes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_honeyhive.core.results import Update
from tests.support.fake_honeyhive import FakeHoneyHive, fake_honeyhive
from tests.support.fake_openai import FakeOpenAI, run_fake_openai

pytestmark = pytest.mark.slow  # an app process per mode

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
CALLS = ("chat", "tool call", "tool result", "stream", "embeddings")
CHATS = CALLS[:4]

Events = dict[str, dict[str, Any]]
_CALL_ID = re.compile(r"call-fake\d+")


def same_run(value: Any) -> Any:
    """`value` with the fake's tool-call ids (numbered across runs) made equal."""
    return json.loads(_CALL_ID.sub("call-fake", json.dumps(value)))


@pytest.fixture(scope="module")
def honeyhive() -> Iterator[FakeHoneyHive]:
    with fake_honeyhive() as fake:
        yield fake


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with run_fake_openai() as fake:
        yield fake


def applied(honeyhive: FakeHoneyHive) -> Events:
    """Every event posted, with every PUT /events applied in order (HoneyHive's rules: `Update.apply_to`)."""
    events: Events = {}
    for request in list(honeyhive.requests):
        if request.path == "/events/batch":
            for event in request.body["events"]:
                events[event["event_id"]] = event
        elif request.method == "PUT" and request.body["event_id"] in events:
            body = dict(request.body)
            event_id = body.pop("event_id")
            events[event_id] = Update(event_id, body).apply_to(events[event_id])
    return events


@pytest.fixture(scope="module")
def runs(honeyhive: FakeHoneyHive, fake_openai: FakeOpenAI) -> Callable[[str, str], dict[str, dict[str, Any]]]:
    """The model events of one run of the app, by call, for a capture mode and a shutdown order."""
    done: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}

    def get(mode: str, order: str = "logs-first") -> dict[str, dict[str, Any]]:
        if (mode, order) not in done:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_", "OPENAI_"))}
            env.update(HH_API_URL=honeyhive.url, HH_API_KEY="test", HH_PROJECT="logs",
                       OPENAI_BASE_URL=fake_openai.base_url, OPENAI_API_KEY="test", **{CAPTURE: mode})
            app = subprocess.run([sys.executable, "-m", "tests.instrumentors.app_with_logs", order], env=env,
                                 cwd=ROOT, capture_output=True, text=True, timeout=60)
            assert app.returncode == 0, app.stderr
            session_id = json.loads(app.stdout.strip().splitlines()[-1])["session_id"]
            events = [e for e in applied(honeyhive).values() if e["session_id"] == session_id]
            models = sorted((e for e in events if e["event_type"] == "model"), key=lambda e: e["start_time"])
            assert len(models) == len(CALLS), [e["event_name"] for e in events]
            done[mode, order] = dict(zip(CALLS, models, strict=True))
        return done[mode, order]

    return get


@pytest.mark.parametrize("mode", ["EVENT_ONLY", "SPAN_AND_EVENT"])
def test_content_from_log_records_is_the_content_from_spans(
    runs: Callable[[str, str], dict[str, dict[str, Any]]], mode: str
) -> None:
    on_spans, other = runs("SPAN_ONLY", "logs-first"), runs(mode, "logs-first")
    for call in CHATS:
        expected, got = on_spans[call], other[call]
        assert expected["inputs"]["chat_history"], call  # the comparison is of something
        assert expected["outputs"], call
        assert same_run(got["inputs"]) == same_run(expected["inputs"]), call
        assert same_run(got["outputs"]) == same_run(expected["outputs"]), call
        assert got["config"] == expected["config"], call
        for key in ("prompt_tokens", "completion_tokens", "total_tokens", "response_model", "finish_reasons"):
            assert got["metadata"].get(key) == expected["metadata"].get(key), (call, key)


def test_event_only_content_is_joined_before_shipping(runs: Callable[[str, str], dict[str, dict[str, Any]]]
                                                      ) -> None:
    """In EVENT_ONLY the spans carry no messages (what issue 19 saw); the records, exported first, join them."""
    for call in CHATS:
        event = runs("EVENT_ONLY", "logs-first")[call]
        assert event["inputs"]["chat_history"]
        assert "log_record_inputs" not in event["metadata"]  # joined before shipping, not updated after


@pytest.mark.parametrize("mode", ["SPAN_AND_EVENT", "EVENT_ONLY"])
def test_nothing_is_duplicated(runs: Callable[[str, str], dict[str, dict[str, Any]]], mode: str) -> None:
    on_spans = runs("SPAN_ONLY", "logs-first")
    for call in CALLS:
        event, expected = runs(mode, "logs-first")[call], on_spans[call]
        assert set(event["metadata"]) == set(expected["metadata"]), call  # no record attribute left over
        text = json.dumps(event)
        assert "gen_ai.input.messages" not in text and "gen_ai.output.messages" not in text, call
        assert "events" not in event["metadata"], call
        if call in CHATS:
            question = json.dumps(expected["inputs"]["chat_history"][-1]["content"])
            assert text.count(question) == json.dumps(expected).count(question), call


def test_records_still_queued_when_the_spans_ship_first_join_them(
    runs: Callable[[str, str], dict[str, dict[str, Any]]]
) -> None:
    """The tracer provider shut down first, every record still queued in the logger provider: the export that
    ends the traces flushes the (global) logger provider first, so the records join their spans as in the
    usual order — the input messages in `inputs.chat_history`, not an update after the event was shipped."""
    on_spans, spans_first = runs("SPAN_ONLY", "logs-first"), runs("EVENT_ONLY", "spans-first")
    for call in CHATS:
        assert same_run(spans_first[call]["outputs"]) == same_run(on_spans[call]["outputs"]), call
        assert same_run(spans_first[call]["inputs"]) == same_run(on_spans[call]["inputs"]), call
        assert "log_record_inputs" not in spans_first[call]["metadata"], call


AUTO_APP = """\
import openai
from opentelemetry import trace
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

OpenAIInstrumentor().instrument()
with trace.get_tracer("app").start_as_current_span("ask") as root:
    openai.OpenAI().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "What is six times seven?"}])
    print(root.get_span_context().trace_id)
"""


def test_no_code_both_exporters_from_the_environment(
    honeyhive: FakeHoneyHive, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    """`OTEL_TRACES_EXPORTER=honeyhive OTEL_LOGS_EXPORTER=honeyhive opentelemetry-instrument python app.py`: the
    SDK's configurator builds both from the entry points; they share one pipeline, and EVENT_ONLY content joins.
    (The app instruments openai-v2 itself: the three installed OpenAI instrumentors share one entry-point name.)"""
    import shutil

    from otel_honeyhive.mapper.identity import session_id_for_trace

    script = tmp_path / "app.py"
    script.write_text(AUTO_APP)
    command = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert command is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_", "OPENAI_"))}
    env.update(HH_API_URL=honeyhive.url, HH_API_KEY="test", OPENAI_BASE_URL=fake_openai.base_url,
               OPENAI_API_KEY="test", OTEL_TRACES_EXPORTER="honeyhive", OTEL_LOGS_EXPORTER="honeyhive",
               OTEL_METRICS_EXPORTER="none", OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai",
               **{CAPTURE: "EVENT_ONLY"})
    app = subprocess.run([command, sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert app.returncode == 0, app.stderr
    session_id = session_id_for_trace(int(app.stdout.strip().splitlines()[-1]))
    (model,) = [e for e in applied(honeyhive).values() if e["session_id"] == session_id and
                e["event_type"] == "model"]
    assert model["inputs"]["chat_history"] == [{"role": "user", "content": "What is six times seven?"}]
    assert model["outputs"]["role"] == "assistant" and model["outputs"]["content"]
    assert not [r for r in honeyhive.requests if r.method == "PUT" and r.body["event_id"] == model["event_id"]]
