"""What the `anthropic` client's calls become in HoneyHive, under each way of tracing them, field by field.

For each variant, `tests/instrumentors/anthropic_app.py` runs in a process of its own: the real `anthropic` client
(2.17) against a deterministic Anthropic-compatible fake (`tests/support/fake_anthropic.py`), inside one root span,
exported by `HoneyHiveSpanExporter` (BatchSpanProcessor) to a real `otel-honeyhive serve`. The events in the
server's store are compared with what the app sent and what the fake answered:

1. a message with a cached system prompt (`max_tokens`, `stop_sequences`), 2. one offering a tool, answered with
text and a `tool_use` block, 3. the follow-up carrying the `tool_result`, 4. a streamed message (`stream=True`, the
same cached system prompt: a cache read), 5. a message through the `messages.stream()` helper, 6. a streamed
answer with a `tool_use` block (its input arrives as `input_json_delta` pieces).

The `anthropic` client 2.17 makes spans of its own (`anthropic.messages.create`, on by default, without content
unless `ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE=content`). Beside an instrumentation they make a second model
event per call, so the instrumentation variants turn them off (`ANTHROPIC_OPEN_TELEMETRY=false`, what the example
recommends); the `sdk` variant uses them alone, and one test shows what the default gives. Two variants hide the
content (`OPENINFERENCE_HIDE_INPUTS` / `_OUTPUTS`, `TRACELOOP_TRACE_CONTENT=false`).

The client 2.17 takes no `temperature`, `top_p` or `top_k` any more: `max_tokens` and `stop_sequences` are the
sampling parameters it sends.
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

import anthropic
import pytest

from tests.instrumentors.anthropic_app import MODEL, ROOT_NAME, SYSTEM_PROMPT, TOOL_RESULT, TOOLS
from tests.support.fake_anthropic import Exchange, FakeAnthropic, run_fake_anthropic
from tests.support.server import RunningServer, run_server

pytestmark = pytest.mark.slow  # an app process per variant, and a server

ROOT = Path(__file__).resolve().parents[2]
CALLS = ("message", "tool call", "tool result", "stream", "stream helper", "streamed tool call")
SDK_SPANS_OFF = {"ANTHROPIC_OPEN_TELEMETRY": "false"}
CACHE_KEYS = ("cache_read_input_tokens", "cache_creation_input_tokens")


@dataclass(frozen=True)
class Variant:
    """One way of tracing the app, and what it is known to record."""

    id: str
    app: str
    names: tuple[str, ...]
    """The event name of each call, in order."""
    content: bool = True
    """Messages captured (inputs.chat_history, outputs, config.tools)."""
    finish_reason: bool = True
    """The stop reason is also the outputs' `finish_reason` (the SDK's spans: only `metadata.finish_reasons`)."""
    tools: bool = True
    """The tools offered are `config.tools`."""
    stop_sequences: bool = True
    """`stop_sequences` is a hyperparameter (Traceloop does not record it)."""
    streamed_answer: bool = True
    """The answer of a `stream=True` call is recorded (the SDK's spans record it only through the helper)."""
    stream_output_tokens_over: int = 0
    """What the instrumentation adds to a stream's output tokens: Traceloop 0.62 adds `message_start`'s count to
    `message_delta`'s, which is already cumulative (https://docs.anthropic.com/en/docs/build-with-claude/streaming),
    so it reports one token more than the API did."""
    env: dict[str, str] = field(default_factory=dict)


VARIANTS = [
    Variant("openinference", "openinference", ("messages.create",) * 4 + ("messages.stream", "messages.create"),
            env=SDK_SPANS_OFF),
    Variant("traceloop", "traceloop", ("anthropic.chat",) * 6, stop_sequences=False, stream_output_tokens_over=1,
            env=SDK_SPANS_OFF),
    Variant("openinference-hidden", "openinference", ("messages.create",) * 4 + ("messages.stream", "messages.create"),
            content=False, env={**SDK_SPANS_OFF, "OPENINFERENCE_HIDE_INPUTS": "true",
                                "OPENINFERENCE_HIDE_OUTPUTS": "true"}),
    Variant("traceloop-no-content", "traceloop", ("anthropic.chat",) * 6, content=False, stop_sequences=False,
            stream_output_tokens_over=1, env={**SDK_SPANS_OFF, "TRACELOOP_TRACE_CONTENT": "false"}),
    Variant("sdk", "sdk", ("anthropic.messages.create",) * 6, finish_reason=False, tools=False,
            streamed_answer=False, env={"ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE": "content"}),
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
    def usage(self) -> dict[str, Any]:
        usage: dict[str, Any] = self.response["usage"]
        return usage


@dataclass
class Run:
    variant: Variant
    session_id: str
    events: list[dict[str, Any]]
    calls: dict[str, Call]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("anthropic")) as running:
        yield running


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with run_fake_anthropic() as fake:
        yield fake


def start_app(app: str, env_extra: dict[str, str], server: RunningServer, fake: FakeAnthropic,
              api_key: str) -> subprocess.Popen[str]:
    """Starts the app with its own API key (the fake tells runs at the same time apart, and caches, by key)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HH_", "OTEL_", "ANTHROPIC_", "OPENINFERENCE_", "TRACELOOP_"))}
    env.update(
        HH_API_URL=server.url,
        HH_PROJECT="anthropic",
        ANTHROPIC_BASE_URL=fake.base_url,
        ANTHROPIC_API_KEY=api_key,
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        **env_extra,
    )
    return subprocess.Popen([sys.executable, "-m", "tests.instrumentors.anthropic_app", app], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_app(proc: subprocess.Popen[str], api_key: str, server: RunningServer,
               fake: FakeAnthropic) -> tuple[str, list[dict[str, Any]], list[Exchange]]:
    """Waits for the app; its session id, the session's events (by start time) and the exchanges it had."""
    stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 0, stderr
    session_id: str = json.loads(stdout.strip().splitlines()[-1])["session_id"]
    with server.store() as store:
        events = store.session_events(session_id)
    # The fake answers in no less than its latency, so sequential calls start in distinct milliseconds.
    return (session_id, sorted(events, key=lambda e: e["start_time"]),
            [e for e in fake.exchanges if e.api_key == api_key])


@pytest.fixture(scope="module")
def runs(server: RunningServer, fake_anthropic: FakeAnthropic) -> Callable[[Variant], Run]:
    """Runs the app once per variant, all variants at the same time on first use (each run is shared by the
    tests of its variant)."""
    done: dict[str, Run] = {}

    def run_all() -> None:
        started = {v.id: start_app(v.app, v.env, server, fake_anthropic, f"test-{v.id}") for v in VARIANTS}
        for variant in VARIANTS:
            session_id, events, exchanges = finish_app(started[variant.id], f"test-{variant.id}", server,
                                                       fake_anthropic)
            models = [e for e in events if e["event_type"] == "model"]
            assert len(models) == len(exchanges) == len(CALLS), [e["event_name"] for e in events]
            calls = {name: Call(event, exchange) for name, event, exchange in zip(CALLS, models, exchanges,
                                                                                  strict=True)}
            done[variant.id] = Run(variant, session_id, events, calls)

    def get(variant: Variant) -> Run:
        if not done:
            run_all()
        return done[variant.id]

    return get


def _variants(predicate: Callable[[Variant], bool] = lambda v: True) -> list[Any]:
    return [pytest.param(v, id=v.id) for v in VARIANTS if predicate(v)]


@pytest.fixture(scope="module", params=_variants())
def run(request: pytest.FixtureRequest, runs: Callable[[Variant], Run]) -> Run:
    return runs(request.param)


@pytest.fixture(scope="module", params=_variants(lambda v: v.content))
def content_run(request: pytest.FixtureRequest, runs: Callable[[Variant], Run]) -> Run:
    """Variants that capture messages."""
    return runs(request.param)


@pytest.fixture(scope="module", params=_variants(lambda v: not v.content))
def blind_run(request: pytest.FixtureRequest, runs: Callable[[Variant], Run]) -> Run:
    """Variants told not to capture messages."""
    return runs(request.param)


# -- helpers ------------------------------------------------------------------------------------------------------


def json_arguments(value: Any) -> Any:
    """Tool-call arguments compared as JSON values: the bridge keeps them as the instrumentation recorded them (a
    JSON string in OpenInference, an object in the GenAI parts format)."""
    if isinstance(value, dict):
        return {k: json.loads(v) if k == "arguments" and isinstance(v, str) else json_arguments(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [json_arguments(v) for v in value]
    return value


def tool_calls(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Anthropic `tool_use` blocks as HoneyHive tool calls: plain `id`, `function.name`, `function.arguments`."""
    return [{"id": b["id"], "type": "function", "function": {"name": b["name"], "arguments": b["input"]}}
            for b in blocks if b["type"] == "tool_use"]


def honeyhive_messages(message: dict[str, Any]) -> list[dict[str, Any]]:
    """An Anthropic message as it should appear in `inputs.chat_history`: text joined into `content`, `tool_use`
    blocks as `tool_calls`, each `tool_result` block a `tool` message of its own."""
    content = message["content"]
    if isinstance(content, str):
        return [{"role": message["role"], "content": content}]
    out: list[dict[str, Any]] = [
        {"role": "tool", "tool_call_id": b["tool_use_id"], "content": b["content"]}
        for b in content if b["type"] == "tool_result"
    ]
    texts = [b["text"] for b in content if b["type"] == "text"]
    calls = tool_calls(content)
    if texts or calls:
        turn: dict[str, Any] = {"role": message["role"]}
        if texts:
            turn["content"] = "".join(texts)
        if calls:
            turn["tool_calls"] = calls
        out.append(turn)
    return out


def expected_history(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The chat history a request should become: its system prompt first, then its messages."""
    history: list[dict[str, Any]] = []
    system = request.get("system")
    if system:
        text = system if isinstance(system, str) else "".join(b["text"] for b in system)
        history.append({"role": "system", "content": text})
    for message in request["messages"]:
        history.extend(honeyhive_messages(message))
    return history


FINISH_REASONS = {"end_turn": {"end_turn", "stop"}, "tool_use": {"tool_use", "tool_call"}}
"""Anthropic's stop reason and the GenAI semantic conventions' spelling of it (Traceloop normalises to it)."""


def answer_text(call: Call) -> str:
    return "".join(b["text"] for b in call.response["content"] if b["type"] == "text")


# -- the fake speaks Anthropic's streaming protocol --------------------------------------------------------------


def test_streams_are_sent_as_anthropic_sends_them(run: Run) -> None:
    """What the app read was really streamed, in pieces, with Anthropic's event sequence."""
    events = run.calls["stream"].exchange.events
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_delta") > 2
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == answer_text(run.calls["stream"])
    assert run.calls["stream helper"].exchange.events


def test_a_request_without_max_tokens_is_refused_as_anthropic_refuses_it(fake_anthropic: FakeAnthropic) -> None:
    client = anthropic.Anthropic(base_url=fake_anthropic.base_url, api_key="test", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.post("/v1/messages", body={"model": MODEL, "messages": []}, cast_to=object)
    assert refused.value.body == {"type": "error", "error": {"type": "invalid_request_error",
                                                             "message": "max_tokens: Field required"}}


# -- structure: one session, one model event per call -------------------------------------------------------------


def test_the_root_span_is_the_session_and_every_call_a_model_event_under_it(run: Run) -> None:
    [session] = [e for e in run.events if e["event_type"] == "session"]
    assert (session["event_id"], session["event_name"]) == (run.session_id, ROOT_NAME)
    assert len(run.events) == 1 + len(CALLS)
    assert all(e["session_id"] == run.session_id for e in run.events)
    for call in run.calls.values():
        assert call.event["parent_id"] == run.session_id
    assert set(session["children_ids"]) == {c.event["event_id"] for c in run.calls.values()}


def test_event_names_name_the_operation(run: Run) -> None:
    assert tuple(run.calls[name].event["event_name"] for name in CALLS) == run.variant.names


# -- config --------------------------------------------------------------------------------------------------------


def test_every_model_event_has_the_requested_model_and_the_provider(run: Run) -> None:
    for call in run.calls.values():
        assert call.event["config"]["model"] == call.request["model"] == MODEL
        assert call.event["config"]["provider"] == "anthropic"


def test_the_model_that_answered_is_the_response_model(run: Run) -> None:
    for call in run.calls.values():
        assert call.event["metadata"]["response_model"] == call.response["model"] == "claude-haiku-4-5-20251001"


@pytest.mark.parametrize("variant", _variants())
def test_the_answering_model_is_kept_once(variant: Variant, runs: Callable[[Variant], Run]) -> None:
    for call in runs(variant).calls.values():
        assert "llm.model_name" not in call.event["metadata"]


def test_request_parameters_are_hyperparameters(run: Run) -> None:
    for call in run.calls.values():
        hyperparameters = call.event["config"]["hyperparameters"]
        assert hyperparameters["max_tokens"] == call.request["max_tokens"]
        assert not {"model", "messages", "system", "tools"} & set(hyperparameters)
    first = run.calls["message"]
    if run.variant.stop_sequences:
        assert first.event["config"]["hyperparameters"]["stop_sequences"] == first.request["stop_sequences"]


def test_offered_tools_are_the_config_tools(content_run: Run) -> None:
    run = content_run
    for name in ("tool call", "tool result", "streamed tool call"):
        call = run.calls[name]
        if run.variant.tools:
            assert call.event["config"]["tools"] == call.request["tools"] == TOOLS
        else:
            assert "tools" not in call.event["config"]


# -- tokens ----------------------------------------------------------------------------------------------------


def test_token_counts_are_what_the_server_reported(run: Run) -> None:
    """Anthropic's `input_tokens` leaves out cached tokens; the prompt tokens are all of them (as OpenTelemetry's
    `gen_ai.usage.input_tokens` and OpenInference's `llm.token_count.prompt` count them)."""
    for name, call in run.calls.items():
        usage, metadata = call.usage, call.event["metadata"]
        prompt = usage["input_tokens"] + usage["cache_creation_input_tokens"] + usage["cache_read_input_tokens"]
        completion = usage["output_tokens"]
        if name.startswith("stream"):
            completion += run.variant.stream_output_tokens_over
        assert (metadata["prompt_tokens"], metadata["completion_tokens"]) == (prompt, completion)
        assert metadata["total_tokens"] == prompt + completion


@pytest.mark.parametrize("variant", _variants())
def test_cache_tokens_are_the_cache_read_and_creation_tokens(variant: Variant,
                                                             runs: Callable[[Variant], Run]) -> None:
    """The cached system prompt is written by the first call and read by the stream. OpenInference records a
    cache count only when it is not zero; no other key holds a cache count."""
    run = runs(variant)
    assert run.calls["message"].usage["cache_creation_input_tokens"] > 0
    assert run.calls["stream"].usage["cache_read_input_tokens"] > 0
    for call in run.calls.values():
        metadata = call.event["metadata"]
        for key in CACHE_KEYS:
            assert metadata.get(key, 0) == call.usage[key]
        assert not [k for k in metadata if "cache" in k and k not in CACHE_KEYS]


# -- content -----------------------------------------------------------------------------------------------------


def test_without_content_events_still_carry_model_provider_parameters_and_tokens(blind_run: Run) -> None:
    """`OPENINFERENCE_HIDE_INPUTS` / `_OUTPUTS`, `TRACELOOP_TRACE_CONTENT=false`: no messages, no tools, and no
    `outputs` made of a finish reason alone; the rest is all there."""
    for call in blind_run.calls.values():
        event = call.event
        assert (event["inputs"], event["outputs"]) == ({}, {})
        assert (event["config"]["model"], event["config"]["provider"]) == (MODEL, "anthropic")
        assert "tools" not in event["config"]
        assert event["config"]["hyperparameters"]["max_tokens"] == call.request["max_tokens"]
        assert event["metadata"]["prompt_tokens"] > 0 and event["metadata"]["finish_reasons"]


def test_the_messages_sent_are_the_chat_history_system_prompt_first(content_run: Run) -> None:
    run = content_run
    for call in run.calls.values():
        assert json_arguments(call.event["inputs"]["chat_history"]) == json_arguments(expected_history(call.request))
    assert run.calls["message"].event["inputs"]["chat_history"][0] == {"role": "system", "content": SYSTEM_PROMPT}


def test_a_text_answer_is_the_outputs(content_run: Run) -> None:
    run = content_run
    for name in ("message", "tool result", "stream helper"):
        call = run.calls[name]
        outputs = call.event["outputs"]
        assert (outputs["role"], outputs["content"]) == ("assistant", answer_text(call))
        assert "tool_calls" not in outputs
        if run.variant.finish_reason:
            assert outputs["finish_reason"] in FINISH_REASONS[call.response["stop_reason"]] == {"end_turn", "stop"}


@pytest.mark.parametrize("name", ["tool call", "streamed tool call"])
def test_a_tool_use_answer_is_its_text_and_plain_tool_calls(content_run: Run, name: str) -> None:
    run = content_run
    call = run.calls[name]
    outputs = call.event["outputs"]
    if name.startswith("stream") and not run.variant.streamed_answer:
        assert outputs == {}
        return
    assert outputs["role"] == "assistant"
    assert outputs["content"] == answer_text(call)
    assert json_arguments(outputs["tool_calls"]) == tool_calls(call.response["content"])
    [tool_call] = outputs["tool_calls"]
    assert set(tool_call) == {"id", "type", "function"} and set(tool_call["function"]) == {"name", "arguments"}
    if run.variant.finish_reason:
        assert outputs["finish_reason"] in FINISH_REASONS["tool_use"]


def test_the_tool_result_round_trip_is_in_the_follow_up_history(content_run: Run) -> None:
    run = content_run
    asked = tool_calls(run.calls["tool call"].response["content"])[0]
    history = run.calls["tool result"].event["inputs"]["chat_history"]
    assert [m["role"] for m in history] == ["user", "assistant", "tool"]
    assert history[1]["tool_calls"][0]["id"] == asked["id"]
    assert (history[2]["tool_call_id"], history[2]["content"]) == (asked["id"], TOOL_RESULT)


def test_a_streamed_answer_is_assembled(content_run: Run) -> None:
    run = content_run
    call = run.calls["stream"]
    if not run.variant.streamed_answer:
        assert call.event["outputs"] == {}
        return
    outputs = call.event["outputs"]
    assert (outputs["role"], outputs["content"]) == ("assistant", answer_text(call))
    if run.variant.finish_reason:
        assert outputs["finish_reason"] in FINISH_REASONS["end_turn"]


def test_the_stop_reason_is_the_finish_reasons(run: Run) -> None:
    """Every variant, the SDK's spans too (`anthropic.message.stop_reason`, the `anthropic` convention)."""
    for call in run.calls.values():
        [reason] = call.event["metadata"]["finish_reasons"]
        assert reason in FINISH_REASONS[call.response["stop_reason"]]


def test_raw_request_and_response_are_not_kept_beside_the_messages(content_run: Run) -> None:
    run = content_run
    for call in run.calls.values():
        assert not {"input.value", "output.value"} & set(call.event["metadata"])


# -- the default: the SDK's own spans beside an instrumentation ----------------------------------------------------


def test_with_the_sdks_own_spans_left_on_each_call_is_two_model_events(server: RunningServer,
                                                                     fake_anthropic: FakeAnthropic) -> None:
    """OpenInference's span of each call, and the client's own `anthropic.messages.create` span: under it for
    `messages.create`, beside it for the `messages.stream()` helper. Both are model events of the same exchange,
    which is why the example turns the client's spans off."""
    proc = start_app("openinference", {}, server, fake_anthropic, "test-default")
    session_id, events, exchanges = finish_app(proc, "test-default", server, fake_anthropic)
    by_id = {e["event_id"]: e for e in events}
    sdk = [e for e in events if e["event_name"] == "anthropic.messages.create"]
    instrumented = [e for e in events if e["event_name"] in ("messages.create", "messages.stream")]
    assert len(sdk) == len(instrumented) == len(exchanges) == len(CALLS)
    assert len(events) == 1 + 2 * len(CALLS) and by_id[session_id]["event_type"] == "session"
    assert all(e["event_type"] == "model" for e in sdk + instrumented)
    parents = [by_id[e["parent_id"]]["event_name"] for e in sdk]
    assert parents == ["messages.create"] * 4 + [ROOT_NAME, "messages.create"]
    for own, exchange in zip(sdk, exchanges, strict=True):
        assert own["metadata"]["prompt_tokens"] > 0 and "chat_history" not in own["inputs"]  # no content
        assert own["metadata"]["response_model"] == exchange.response["model"]
