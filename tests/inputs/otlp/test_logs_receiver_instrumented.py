"""`opentelemetry-instrumentation-openai-v2` through the receiver with no code: an app run under
`opentelemetry-instrument` with the stock OTLP exporters for traces and logs (`OTEL_TRACES_EXPORTER=otlp`,
`OTEL_LOGS_EXPORTER=otlp`, HTTP/protobuf or gRPC) pointed at a real `otel-honeyhive serve`, against the fake
OpenAI server. In EVENT_ONLY the content exists only in the `gen_ai.client.inference.operation.details` log
record; the model event in the store must carry the same chat history, outputs, config and token counts as in
SPAN_ONLY, and nothing twice in SPAN_AND_EVENT.

(The app instruments openai-v2 itself, as tests/instrumentors does: the three installed OpenAI instrumentors
share one entry-point name.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_honeyhive.mapper.identity import session_id_for_trace
from tests.support.fake_openai import FakeOpenAI, run_fake_openai
from tests.support.server import RunningServer, run_server

pytestmark = pytest.mark.slow  # an instrumented app process per mode and protocol

CAPTURE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
APP = """\
import openai
from opentelemetry import trace
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

OpenAIInstrumentor().instrument()
with trace.get_tracer("app").start_as_current_span("ask") as root:
    openai.OpenAI().chat.completions.create(
        model="gpt-4o-mini", temperature=0.2, max_tokens=50,
        messages=[{"role": "system", "content": "You are terse."},
                  {"role": "user", "content": "What is six times seven?"}])
    print(root.get_span_context().trace_id)
"""


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with run_fake_openai() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("serve"), grpc=True) as running:
        yield running


@pytest.fixture(scope="module")
def model_event(server: RunningServer, fake_openai: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
                ) -> Callable[[str, str], dict[str, Any]]:
    """The stored model event of one run of the app, by capture mode and OTLP protocol."""
    script = tmp_path_factory.mktemp("app") / "app.py"
    script.write_text(APP)
    command = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert command is not None
    done: dict[tuple[str, str], dict[str, Any]] = {}

    def run(mode: str, protocol: str) -> dict[str, Any]:
        if (mode, protocol) not in done:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_", "OPENAI_"))}
            endpoint = f"http://{server.grpc_target}" if protocol == "grpc" else server.url
            env.update(OPENAI_BASE_URL=fake_openai.base_url, OPENAI_API_KEY="test", OTEL_TRACES_EXPORTER="otlp",
                       OTEL_LOGS_EXPORTER="otlp", OTEL_METRICS_EXPORTER="none", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
                       OTEL_EXPORTER_OTLP_PROTOCOL=protocol, OTEL_SERVICE_NAME="instrumented-app",
                       OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai", **{CAPTURE: mode})
            app = subprocess.run([command, sys.executable, str(script)], env=env, cwd=script.parent,
                                 capture_output=True, text=True, timeout=60)
            assert app.returncode == 0, app.stderr
            session_id = session_id_for_trace(int(app.stdout.strip().splitlines()[-1]))
            with server.store() as store:
                events = store.session_events(session_id)
            (model,) = [e for e in events if e["event_type"] == "model"]
            done[mode, protocol] = model
        return done[mode, protocol]

    return run


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
@pytest.mark.parametrize("mode", ["EVENT_ONLY", "SPAN_AND_EVENT"])
def test_content_from_log_records_is_the_content_from_spans(
    model_event: Callable[[str, str], dict[str, Any]], mode: str, protocol: str
) -> None:
    on_span, other = model_event("SPAN_ONLY", protocol), model_event(mode, protocol)
    assert on_span["inputs"]["chat_history"] == [{"role": "system", "content": "You are terse."},
                                                 {"role": "user", "content": "What is six times seven?"}]
    assert on_span["outputs"]["role"] == "assistant" and on_span["outputs"]["content"]
    assert other["inputs"] == on_span["inputs"]
    assert other["outputs"] == on_span["outputs"]
    assert other["config"] == on_span["config"]
    for key in ("prompt_tokens", "completion_tokens", "total_tokens", "response_model", "finish_reasons"):
        assert other["metadata"].get(key) == on_span["metadata"].get(key), key
    assert set(other["metadata"]) == set(on_span["metadata"]), "no record attribute left over"
    text = json.dumps(other)
    assert "gen_ai.input.messages" not in text and "gen_ai.output.messages" not in text
    assert text.count("What is six times seven?") == json.dumps(on_span).count("What is six times seven?")


def test_event_only_spans_carry_no_content_without_the_records(
    model_event: Callable[[str, str], dict[str, Any]]
) -> None:
    """What issue 19 saw: the record is where the content is; joined at the receiver, not updated after."""
    event = model_event("EVENT_ONLY", "http/protobuf")
    assert event["inputs"]["chat_history"] and event["outputs"]
    assert "log_record_inputs" not in event["metadata"]
