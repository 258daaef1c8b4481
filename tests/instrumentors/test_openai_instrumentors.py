"""What the OpenAI instrumentations people use become in HoneyHive, field by field.

For each instrumentation, `tests/instrumentors/app.py` runs in a process of its own: the real `openai` client
against a deterministic OpenAI-compatible fake (`tests/support/fake_openai.py`), inside one root span, exported by
`HoneyHiveSpanExporter` (BatchSpanProcessor) to a real `otel-honeyhive serve`. The events in the server's store are
compared with what the app sent and what the fake answered:

1. a chat completion, 2. one offering a tool (answered with a tool call), 3. the follow-up carrying the tool's
result, 4. a streamed chat completion (`include_usage`), 5. an embeddings call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.instrumentors.app import CHAT_MODEL, EMBEDDING_INPUT, EMBEDDING_MODEL, ROOT_NAME
from tests.support.fake_openai import Exchange, FakeOpenAI, embedding_for, run_fake_openai
from tests.support.server import RunningServer, run_server

pytestmark = pytest.mark.slow  # an app process and a server per instrumentation

ROOT = Path(__file__).resolve().parents[2]
CALLS = ("chat", "tool call", "tool result", "stream", "embeddings")
CAPTURE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


@dataclass(frozen=True)
class Variant:
    """One way of instrumenting the app, and what it is known to capture."""

    id: str
    app: str
    names: tuple[str, str]
    """Event names of a chat call and of an embeddings call."""
    content: bool = True
    """Messages captured (inputs.chat_history, outputs)."""
    tools: bool = True
    """Tool definitions captured (config.tools)."""
    embedding_inputs: str | None = None
    """Where an embeddings call's texts land (`inputs.<key>`), when captured."""
    vectors: bool = False
    """Embedding vectors captured (outputs.embeddings)."""
    response_model: str | None = "response_model"
    """The metadata key holding the dated model that answered, when recorded."""
    explicit_session: bool = False
    """The app started a HoneyHive session (as HoneyHive's SDK does): the root span is a chain under it."""
    env: dict[str, str] = field(default_factory=dict)


VARIANTS = [
    Variant("official-span-content", "official", ("chat gpt-4o-mini", "embeddings text-embedding-3-small"),
            tools=False, env={CAPTURE: "SPAN_ONLY"}),
    # `true` is the value older releases documented: current ones refuse it (they want a mode) and older ones sent
    # content as log records, which never reach a SpanExporter. Either way: no content on the spans.
    Variant("official-capture-true", "official", ("chat gpt-4o-mini", "embeddings text-embedding-3-small"),
            content=False, tools=False, env={CAPTURE: "true"}),
    Variant("official-no-content", "official", ("chat gpt-4o-mini", "embeddings text-embedding-3-small"),
            content=False, tools=False),
    Variant("traceloop", "traceloop", ("openai.chat", "openai.embeddings"), embedding_inputs="chat_history"),
    Variant("openinference", "openinference", ("ChatCompletion", "CreateEmbeddings"), embedding_inputs="texts",
            vectors=True),
    Variant("honeyhive-sdk-attributes", "honeyhive", ("chat", "embeddings"), embedding_inputs="texts",
            vectors=True, response_model=None, explicit_session=True),
]


@dataclass
class Call:
    event: dict[str, Any]
    exchange: Exchange

    @property
    def request(self) -> dict[str, Any]:
        return self.exchange.request

    @property
    def response(self) -> dict[str, Any]:
        return self.exchange.response

    @property
    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = self.response["choices"][0]["message"]
        return message


@dataclass
class Run:
    variant: Variant
    session_id: str
    root_event_id: str
    events: list[dict[str, Any]]
    calls: dict[str, Call]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("instrumentors")) as running:
        yield running


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with run_fake_openai() as fake:
        yield fake


@pytest.fixture(scope="module")
def runs(server: RunningServer, fake_openai: FakeOpenAI) -> Callable[[Variant], Run]:
    """Runs the app once per variant (several fixtures below select variants; each run is shared)."""
    done: dict[str, Run] = {}

    def get(variant: Variant) -> Run:
        if variant.id not in done:
            done[variant.id] = run_app(variant, server, fake_openai)
        return done[variant.id]

    return get


def run_app(variant: Variant, server: RunningServer, fake_openai: FakeOpenAI) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_", "OPENAI_"))}
    env.update(
        HH_API_URL=server.url,
        HH_PROJECT="instrumentors",
        OPENAI_BASE_URL=fake_openai.base_url,
        OPENAI_API_KEY="test",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        **variant.env,
    )
    first = len(fake_openai.exchanges)
    done = subprocess.run([sys.executable, "-m", "tests.instrumentors.app", variant.app], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    ids = json.loads(done.stdout.strip().splitlines()[-1])
    exchanges = fake_openai.exchanges[first:]
    with server.store() as store:
        events = store.session_events(ids["session_id"])
    # The fake answers in no less than LATENCY, so sequential calls start in distinct milliseconds.
    models = sorted((e for e in events if e["event_type"] == "model"), key=lambda e: e["start_time"])
    assert len(models) == len(exchanges) == len(CALLS), [e["event_name"] for e in events]
    calls = {name: Call(event, exchange) for name, event, exchange in zip(CALLS, models, exchanges, strict=True)}
    return Run(variant, ids["session_id"], ids["root_event_id"], events, calls)


def _variants(predicate: Callable[[Variant], bool]) -> list[Any]:
    return [pytest.param(v, id=v.id) for v in VARIANTS if predicate(v)]


@pytest.fixture(scope="module", params=_variants(lambda v: True))
def run(request: pytest.FixtureRequest, runs: Callable[[Variant], Run]) -> Run:
    return runs(request.param)


@pytest.fixture(scope="module", params=_variants(lambda v: v.content))
def content_run(request: pytest.FixtureRequest, runs: Callable[[Variant], Run]) -> Run:
    """Instrumentations that capture messages."""
    return runs(request.param)


@pytest.fixture(scope="module", params=_variants(lambda v: not v.content))
def blind_run(request: pytest.FixtureRequest, runs: Callable[[Variant], Run]) -> Run:
    """Instrumentations told not to (or not told to) capture messages."""
    return runs(request.param)


@pytest.fixture(scope="module", params=_variants(lambda v: v.tools))
def tools_run(request: pytest.FixtureRequest, runs: Callable[[Variant], Run]) -> Run:
    """Instrumentations that record the tools offered to the model."""
    return runs(request.param)


@pytest.fixture(scope="module", params=_variants(lambda v: v.response_model is not None))
def response_model_run(request: pytest.FixtureRequest, runs: Callable[[Variant], Run]) -> Run:
    """Instrumentations that record the model that answered."""
    return runs(request.param)


# -- helpers ------------------------------------------------------------------------------------------------------


def json_arguments(value: Any) -> Any:
    """Tool-call arguments compared as JSON values: the bridge keeps them as the instrumentation recorded them
    (an object in the GenAI parts format, a JSON string in OpenInference's and OpenAI's own)."""
    if isinstance(value, dict):
        return {k: json.loads(v) if k == "arguments" and isinstance(v, str) else json_arguments(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [json_arguments(v) for v in value]
    return value


def honeyhive_message(message: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI message as it should appear in `inputs.chat_history`."""
    out: dict[str, Any] = {"role": message["role"]}
    for key in ("content", "tool_call_id"):
        if message.get(key) is not None:
            out[key] = message[key]
    if message.get("tool_calls"):
        out["tool_calls"] = [
            {"id": c["id"], "type": "function",
             "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}}
            for c in message["tool_calls"]
        ]
    return json_arguments(out)  # type: ignore[no-any-return]


FINISH_REASONS = {"stop": {"stop"}, "tool_calls": {"tool_calls", "tool_call"}}
"""OpenAI's finish reason and the GenAI semantic conventions' spelling of it (Traceloop normalises to it)."""


def chat_calls(run: Run) -> list[Call]:
    return [run.calls[name] for name in CALLS if name != "embeddings"]


# -- structure: one model event per call, under the root --------------------------------------------------------


def test_the_root_span_is_the_session_and_every_call_a_model_event_under_it(run: Run) -> None:
    session = next(e for e in run.events if e["event_type"] == "session")
    assert session["event_id"] == run.session_id
    assert session["event_name"] == ROOT_NAME
    assert all(e["session_id"] == run.session_id for e in run.events)
    if run.variant.explicit_session:  # the app's own session; the root span is a chain event under it
        root = next(e for e in run.events if e["event_id"] == run.root_event_id)
        assert (root["event_type"], root["event_name"], root["parent_id"]) == ("chain", ROOT_NAME, run.session_id)
        assert len(run.events) == 2 + len(CALLS)
    else:
        root = session
        assert run.root_event_id == run.session_id
        assert len(run.events) == 1 + len(CALLS)
    for call in run.calls.values():
        assert call.event["event_type"] == "model"
        assert call.event["parent_id"] == run.root_event_id
    assert set(root["children_ids"]) == {c.event["event_id"] for c in run.calls.values()}


def test_event_names_name_the_operation(run: Run) -> None:
    chat_name, embeddings_name = run.variant.names
    names = [run.calls[name].event["event_name"] for name in CALLS]
    if run.variant.app == "honeyhive":  # the SDK user names each span
        assert names == ["chat", "chat with tools", "chat with tool result", "chat stream", "embeddings"]
    else:
        assert names == [chat_name] * 4 + [embeddings_name]


# -- config: model, provider, parameters, tools ------------------------------------------------------------------


def test_every_model_event_has_the_requested_model_and_the_provider(run: Run) -> None:
    for call in run.calls.values():
        assert call.event["config"]["model"] == call.request["model"]
        assert call.event["config"]["provider"] == "openai"
    assert run.calls["chat"].event["config"]["model"] == CHAT_MODEL
    assert run.calls["embeddings"].event["config"]["model"] == EMBEDDING_MODEL


def test_the_model_that_answered_is_kept(response_model_run: Run) -> None:
    run = response_model_run
    key = run.variant.response_model
    assert key is not None
    for call in chat_calls(run):
        assert call.event["metadata"][key] == call.response["model"] == "gpt-4o-mini-2024-07-18"


def test_request_parameters_are_hyperparameters(run: Run) -> None:
    chat = run.calls["chat"]
    hyperparameters = chat.event["config"]["hyperparameters"]
    assert hyperparameters["temperature"] == chat.request["temperature"] == 0.2
    assert hyperparameters["max_tokens"] == chat.request["max_tokens"] == 50
    assert "model" not in hyperparameters


def test_offered_tools_are_the_config_tools(tools_run: Run) -> None:
    for name in ("tool call", "tool result"):
        call = tools_run.calls[name]
        [tool] = call.event["config"]["tools"]
        offered = call.request["tools"][0]["function"]
        definition = tool.get("function", tool)  # OpenAI's shape, or the GenAI conventions' flat one
        assert definition["name"] == offered["name"] == "get_weather"
        assert definition["parameters"] == offered["parameters"]


# -- tokens ----------------------------------------------------------------------------------------------------


def test_chat_token_counts_are_what_the_server_reported(run: Run) -> None:
    for call in chat_calls(run):
        usage, metadata = call.response["usage"], call.event["metadata"]
        assert metadata["prompt_tokens"] == usage["prompt_tokens"]
        assert metadata["completion_tokens"] == usage["completion_tokens"]
        assert metadata["total_tokens"] == usage["total_tokens"]


def test_embedding_token_counts(run: Run) -> None:
    call = run.calls["embeddings"]
    usage, metadata = call.response["usage"], call.event["metadata"]
    assert metadata["prompt_tokens"] == usage["prompt_tokens"]
    assert metadata["total_tokens"] == usage["total_tokens"]
    assert "completion_tokens" not in metadata


# -- content -----------------------------------------------------------------------------------------------------


def test_without_content_capture_events_still_carry_model_provider_and_tokens(blind_run: Run) -> None:
    for call in blind_run.calls.values():
        assert call.event["inputs"] == {} and call.event["outputs"] == {}
        assert call.event["config"]["model"] and call.event["config"]["provider"]
        assert call.event["metadata"]["prompt_tokens"] > 0


def test_the_messages_sent_are_the_chat_history(content_run: Run) -> None:
    for call in chat_calls(content_run):
        assert json_arguments(call.event["inputs"]["chat_history"]) == [
            honeyhive_message(m) for m in call.request["messages"]
        ]


def test_a_text_answer_is_the_outputs(content_run: Run) -> None:
    for name in ("chat", "tool result"):
        call = content_run.calls[name]
        outputs = call.event["outputs"]
        assert outputs["role"] == "assistant"
        assert outputs["content"] == call.message["content"]
        assert outputs["finish_reason"] in FINISH_REASONS[call.response["choices"][0]["finish_reason"]]
        assert "tool_calls" not in outputs


def test_a_tool_call_answer_is_the_outputs_tool_calls(content_run: Run) -> None:
    call = content_run.calls["tool call"]
    outputs = call.event["outputs"]
    assert outputs["role"] == "assistant"
    assert json_arguments(outputs["tool_calls"]) == json_arguments(call.message["tool_calls"])
    assert outputs["finish_reason"] in FINISH_REASONS["tool_calls"]
    assert not outputs.get("content")


def test_the_tool_result_round_trip_is_in_the_follow_up_history(content_run: Run) -> None:
    asked = content_run.calls["tool call"].message["tool_calls"][0]
    history = content_run.calls["tool result"].event["inputs"]["chat_history"]
    assert [m["role"] for m in history] == ["user", "assistant", "tool"]
    assert history[1]["tool_calls"][0]["id"] == asked["id"]
    assert history[2]["tool_call_id"] == asked["id"]


def test_a_streamed_answer_is_assembled(run: Run) -> None:
    call = run.calls["stream"]
    assert len(call.exchange.chunks) > 3  # really streamed, in pieces
    if run.variant.content:
        assert call.event["outputs"]["content"] == call.message["content"]
        assert call.event["outputs"]["finish_reason"] == "stop"
        assert json_arguments(call.event["inputs"]["chat_history"]) == [
            honeyhive_message(m) for m in call.request["messages"]
        ]
    assert call.event["metadata"]["completion_tokens"] == call.response["usage"]["completion_tokens"]


def test_embedding_inputs_and_vectors(run: Run) -> None:
    call = run.calls["embeddings"]
    assert call.request["input"] == EMBEDDING_INPUT
    key = run.variant.embedding_inputs
    if key == "chat_history":
        assert call.event["inputs"] == {"chat_history": [{"role": "user", "content": t} for t in EMBEDDING_INPUT]}
    elif key is not None:
        assert call.event["inputs"] == {key: EMBEDDING_INPUT}
    else:
        assert call.event["inputs"] == {}
    if run.variant.vectors:
        assert call.event["outputs"] == {"embeddings": [embedding_for(t) for t in EMBEDDING_INPUT]}
    else:
        assert call.event["outputs"] == {}
