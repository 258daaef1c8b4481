"""What an OpenAI Agents SDK run becomes in HoneyHive under the instrumentations people use for it, field by field.

For each instrumentation (OpenInference's and Traceloop's `OpenAIAgentsInstrumentor`),
`tests/instrumentors/agents_app.py` runs in a process of its own: an agent with instructions and one function tool,
on the SDK's default model (the Responses API) served by the deterministic fake (`tests/support/fake_openai.py`),
answers one question with `Runner.run` and again with `Runner.run_streamed`. Spans are exported by
`HoneyHiveSpanExporter` (BatchSpanProcessor) to a real `otel-honeyhive serve`, and each run's events in the
server's store are compared with what the SDK sent and what the fake answered.

Each run: the model asks for the tool (a `function_call`), the SDK calls it, the model answers with text. A third
run, with a tool that raises, shows a failing tool: the SDK tells the model so, and the run goes on. A fourth, on
`OpenAIChatCompletionsModel` (Chat Completions, as with other providers), shows the SDK's other kind of model span; a
fifth, with `trace_include_sensitive_data=False`, shows what is left when the SDK keeps content out of its traces.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.instrumentors.agents_app import (
    AGENT_NAME,
    INSTRUCTIONS,
    MODEL,
    SETTINGS,
    TOOL_DESCRIPTION,
    TOOL_NAME,
    weather_in,
)
from tests.instrumentors.test_openai_instrumentors import honeyhive_message
from tests.support.fake_openai import Exchange, FakeOpenAI, run_fake_openai
from tests.support.server import RunningServer, run_server

pytestmark = pytest.mark.slow  # an app process and a server per instrumentation

ROOT = Path(__file__).resolve().parents[2]
NOT_SETTINGS = frozenset({"model", "instructions", "input", "messages", "tools", "_type", "id", "created_at",
                          "object", "tool_choice", "parallel_tool_calls", "truncation", "text", "reasoning"})
"""What a model event's `config.hyperparameters` never holds here: the model, the content, the tools, response ids,
how the tools may be called, the answer's format, how the context is cut, and the empty `reasoning` the SDK
records when none was asked for."""
MODES = ("plain", "streamed")
"""The app's runs of the agent, in order: `Runner.run`, then `Runner.run_streamed` (then the failing tool's run)."""
FAILING = len(MODES)
"""The index of the run whose tool raises."""
CHAT = FAILING + 1
"""The index of the run on `OpenAIChatCompletionsModel`."""
HIDDEN = CHAT + 1
"""The index of the run with `RunConfig(trace_include_sensitive_data=False)`."""
TOOL_FAILED = "An error occurred while running the tool. Please try again."
"""What the SDK tells the model when a function tool raises (its default `failure_error_function`)."""


@dataclass(frozen=True)
class Variant:
    """One instrumentation, and what it is known to record."""

    id: str
    processor: str
    """The class of the trace processor it registers with the SDK (and the only one left registered)."""
    session_name: str
    agent_name: str
    model_name: str
    tool_name: str
    tool_call_finish_reason: str
    """The finish reason recorded for the answer asking for the tool."""
    chat_completions_answers: bool
    """With `OpenAIChatCompletionsModel`, the answers, token counts and settings are recorded (Traceloop records
    only the model and the messages sent)."""
    history_call_id: str
    """The field of the SDK's `function_call` input item recorded as the id of the assistant's tool call in the
    follow-up's history: the `call_id` the tool result answers, or (Traceloop) the item's own `id`."""


VARIANTS = [
    # OpenInference records OpenAI's `status` of the response as its finish reason: "stop" also for a tool call.
    Variant("openinference", "OpenInferenceTracingProcessor", "Agent workflow", AGENT_NAME, "response", TOOL_NAME,
            tool_call_finish_reason="stop", chat_completions_answers=True, history_call_id="call_id"),
    Variant("traceloop", "OpenTelemetryTracingProcessor", "Agent Workflow", f"{AGENT_NAME}.agent",
            "openai.response", f"{TOOL_NAME}.tool", tool_call_finish_reason="tool_call", chat_completions_answers=False,
            history_call_id="id"),
]


@dataclass
class AppRun:
    sessions: list[str]
    processors: list[str]
    exchanges: list[Exchange]


@dataclass
class Run:
    """One agent run: its session's events and the two Responses API exchanges it made."""

    variant: Variant
    mode: str
    session_id: str
    events: list[dict[str, Any]]
    exchanges: list[Exchange]

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return sorted((e for e in self.events if e["event_type"] == event_type), key=lambda e: e["start_time"])

    @property
    def session(self) -> dict[str, Any]:
        [session] = self.of_type("session")
        return session

    @property
    def agent(self) -> dict[str, Any]:
        [agent] = [e for e in self.of_type("chain") if e["event_name"] == self.variant.agent_name]
        return agent

    @property
    def models(self) -> list[dict[str, Any]]:
        """The model events, in call order: the one asking for the tool, then the answer."""
        return self.of_type("model")

    @property
    def tool(self) -> dict[str, Any]:
        [tool] = self.of_type("tool")
        return tool

    def ancestors(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        by_id = {e["event_id"]: e for e in self.events}
        chain = []
        while event["parent_id"] is not None:
            event = by_id[event["parent_id"]]
            chain.append(event)
        return chain


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("agents")) as running:
        yield running


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with run_fake_openai() as fake:
        yield fake


@pytest.fixture(scope="module")
def app_runs(server: RunningServer, fake_openai: FakeOpenAI) -> Callable[[Variant], AppRun]:
    """Runs the app once per instrumentation (both of its agent runs are shared by the tests)."""
    done: dict[str, AppRun] = {}

    def get(variant: Variant) -> AppRun:
        if variant.id not in done:
            done[variant.id] = run_app(variant, server, fake_openai)
        return done[variant.id]

    return get


def run_app(variant: Variant, server: RunningServer, fake_openai: FakeOpenAI) -> AppRun:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_", "OPENAI_"))}
    env.update(
        HH_API_URL=server.url,
        HH_PROJECT="agents",
        OPENAI_BASE_URL=fake_openai.base_url,
        OPENAI_API_KEY="test",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        TRACELOOP_METRICS_ENABLED="false",
    )
    first = len(fake_openai.exchanges)
    done = subprocess.run([sys.executable, "-m", "tests.instrumentors.agents_app", variant.id], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return AppRun(out["sessions"], out["processors"], fake_openai.exchanges[first:])


@pytest.fixture(scope="module", params=[pytest.param(v, id=v.id) for v in VARIANTS])
def app_run(request: pytest.FixtureRequest, app_runs: Callable[[Variant], AppRun]) -> tuple[Variant, AppRun]:
    return request.param, app_runs(request.param)


def _run(variant: Variant, app: AppRun, index: int, server: RunningServer) -> Run:
    with server.store() as store:
        events = store.session_events(app.sessions[index])
    mode = MODES[index] if index < len(MODES) else {FAILING: "failing", CHAT: "chat", HIDDEN: "hidden"}[index]
    return Run(variant, mode, app.sessions[index], events, app.exchanges[2 * index : 2 * index + 2])


@pytest.fixture(scope="module", params=MODES)
def run(request: pytest.FixtureRequest, app_run: tuple[Variant, AppRun], server: RunningServer) -> Run:
    variant, app = app_run
    return _run(variant, app, MODES.index(request.param), server)


@pytest.fixture(scope="module")
def hidden_run(app_run: tuple[Variant, AppRun], server: RunningServer) -> Run:
    """The run whose traces the SDK keeps content out of."""
    variant, app = app_run
    return _run(variant, app, HIDDEN, server)


@pytest.fixture(scope="module")
def chat_run(app_run: tuple[Variant, AppRun], server: RunningServer) -> Run:
    """The run on `OpenAIChatCompletionsModel`."""
    variant, app = app_run
    return _run(variant, app, CHAT, server)


@pytest.fixture(scope="module")
def failing_run(app_run: tuple[Variant, AppRun], server: RunningServer) -> Run:
    """The run whose tool raised."""
    variant, app = app_run
    return _run(variant, app, FAILING, server)


# -- helpers ------------------------------------------------------------------------------------------------------


def json_arguments(value: Any) -> Any:
    """Tool-call arguments compared as JSON values: OpenInference records them as a JSON string, Traceloop (the
    GenAI parts format) as an object."""
    if isinstance(value, dict):
        return {k: json.loads(v) if k == "arguments" and isinstance(v, str) else json_arguments(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [json_arguments(v) for v in value]
    return value


def expected_history(request: dict[str, Any], call_id_field: str) -> list[dict[str, Any]]:
    """A Responses API request as HoneyHive's `inputs.chat_history`: the agent's instructions as the system message,
    then each input item as a message."""
    history: list[dict[str, Any]] = [{"role": "system", "content": request["instructions"]}]
    for item in request["input"]:
        kind = item.get("type", "message")
        if kind == "message":
            history.append({"role": item["role"], "content": item["content"]})
        elif kind == "function_call":
            history.append({"role": "assistant", "tool_calls": [
                {"id": item[call_id_field], "type": "function",
                 "function": {"name": item["name"], "arguments": item["arguments"]}}]})
        elif kind == "function_call_output":
            history.append({"role": "tool", "tool_call_id": item["call_id"], "content": item["output"]})
    return json_arguments(history)  # type: ignore[no-any-return]


def output_item(exchange: Exchange) -> dict[str, Any]:
    [item] = exchange.response["output"]
    return item  # type: ignore[no-any-return]


# -- what the app did -----------------------------------------------------------------------------------------------


def test_the_sdk_hands_its_traces_only_to_the_instrumentation(app_run: tuple[Variant, AppRun]) -> None:
    variant, app = app_run
    assert app.processors == [variant.processor]  # not the SDK's exporter to OpenAI's tracing backend
    assert len(app.sessions) == len(set(app.sessions)) == HIDDEN + 1  # one trace, so one session, per agent run


def test_each_run_asked_for_the_tool_then_answered_through_the_responses_api(run: Run) -> None:
    asking, answering = run.exchanges
    assert all(e.path.endswith("/responses") for e in run.exchanges)
    assert all(bool(e.request.get("stream")) == (run.mode == "streamed") for e in run.exchanges)
    if run.mode == "streamed":
        assert all(e.chunks[-1]["type"] == "response.completed" for e in run.exchanges)
    assert output_item(asking)["type"] == "function_call"
    assert output_item(answering)["type"] == "message"


# -- structure: one session, the agent a chain, every parent inside the session -----------------------------------


def test_each_run_is_one_session_and_every_parent_is_inside_it(run: Run) -> None:
    session = run.session
    assert (session["event_id"], session["event_name"], session["parent_id"]) == (
        run.session_id, run.variant.session_name, None)
    ids = {e["event_id"] for e in run.events}
    for event in run.events:
        assert event["session_id"] == run.session_id
        if event is not session:
            assert event["parent_id"] in ids, event["event_name"]
        assert set(event["children_ids"]) == {e["event_id"] for e in run.events if e["parent_id"] == event["event_id"]}


def test_the_agent_is_a_chain_holding_the_model_calls_and_the_tool(run: Run) -> None:
    agent = run.agent
    assert agent["event_type"] == "chain"
    assert run.session in run.ancestors(agent)
    assert len(run.models) == 2
    for event in (*run.models, run.tool):
        assert agent in run.ancestors(event), event["event_name"]


def test_every_event_is_a_session_chain_model_or_tool(run: Run) -> None:
    assert {e["event_type"] for e in run.events} == {"session", "chain", "model", "tool"}
    assert [m["event_name"] for m in run.models] == [run.variant.model_name] * 2
    assert run.tool["event_name"] == run.variant.tool_name


# -- model events ----------------------------------------------------------------------------------------------------


def test_model_events_have_the_model_and_the_provider(run: Run) -> None:
    # Neither instrumentation records the model the agent asked for (`gpt-4o-mini`), only the one that answered.
    for event, exchange in zip(run.models, run.exchanges, strict=True):
        assert exchange.request["model"] == "gpt-4o-mini"
        assert event["config"]["model"] == exchange.response["model"] == "gpt-4o-mini-2024-07-18"
        assert event["config"]["provider"] == "openai"


def test_model_events_hyperparameters_are_generation_settings_only(run: Run) -> None:
    for event, exchange in zip(run.models, run.exchanges, strict=True):
        hyperparameters = event["config"]["hyperparameters"]
        assert hyperparameters["temperature"] == exchange.request["temperature"] == SETTINGS.temperature
        # The Responses API's name, or (Traceloop) the GenAI conventions' `gen_ai.request.max_tokens`.
        max_tokens = hyperparameters.get("max_output_tokens", hyperparameters.get("max_tokens"))
        assert max_tokens == exchange.request["max_output_tokens"] == SETTINGS.max_tokens
        assert not NOT_SETTINGS & hyperparameters.keys()
        assert all(v not in ({}, None) for v in hyperparameters.values())


def test_the_responses_metadata_and_store_flag_are_not_hyperparameters(run: Run) -> None:
    for event in run.models:
        assert not {"metadata", "store"} & event["config"]["hyperparameters"].keys()


def test_the_offered_function_tool_is_the_config_tools(run: Run) -> None:
    for event, exchange in zip(run.models, run.exchanges, strict=True):
        [offered] = exchange.request["tools"]
        [tool] = event["config"]["tools"]
        definition = tool.get("function", tool)
        assert (definition["name"], definition["description"]) == (offered["name"], offered["description"]) == (
            TOOL_NAME, TOOL_DESCRIPTION)
        assert definition["parameters"] == offered["parameters"]


def test_the_chat_history_is_the_instructions_then_the_input_items(run: Run) -> None:
    for event, exchange in zip(run.models, run.exchanges, strict=True):
        history = json_arguments(event["inputs"]["chat_history"])
        assert history == expected_history(exchange.request, run.variant.history_call_id)
        assert history[0] == {"role": "system", "content": INSTRUCTIONS}


def test_the_follow_up_history_carries_the_tool_call_and_its_result(run: Run) -> None:
    history = run.models[1]["inputs"]["chat_history"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "tool"]
    asked = output_item(run.exchanges[0])
    assert history[2]["tool_calls"][0]["id"] == asked[run.variant.history_call_id]
    assert history[3] == {"role": "tool", "tool_call_id": asked["call_id"], "content": weather_in("Paris")}


def test_the_answer_asking_for_the_tool_is_the_outputs_tool_calls(run: Run) -> None:
    outputs = run.models[0]["outputs"]
    asked = output_item(run.exchanges[0])
    assert outputs["role"] == "assistant"
    assert json_arguments(outputs["tool_calls"]) == json_arguments([
        {"id": asked["call_id"], "type": "function",
         "function": {"name": asked["name"], "arguments": asked["arguments"]}}])
    assert outputs["finish_reason"] == run.variant.tool_call_finish_reason
    assert not outputs.get("content")


def test_the_text_answer_is_the_outputs(run: Run) -> None:
    outputs = run.models[1]["outputs"]
    [part] = output_item(run.exchanges[1])["content"]
    assert outputs == {"role": "assistant", "content": part["text"], "finish_reason": "stop"}
    assert part["text"] == f"According to the tool: {weather_in('Paris')}."


def test_model_events_carry_the_token_counts_the_server_reported(run: Run) -> None:
    for event, exchange in zip(run.models, run.exchanges, strict=True):
        usage, metadata = exchange.response["usage"], event["metadata"]
        assert metadata["prompt_tokens"] == usage["input_tokens"]
        assert metadata["completion_tokens"] == usage["output_tokens"]
        assert metadata["total_tokens"] == usage["total_tokens"]
        assert metadata["cache_read_input_tokens"] == usage["input_tokens_details"]["cached_tokens"]
        assert metadata["reasoning_tokens"] == usage["output_tokens_details"]["reasoning_tokens"]


def test_content_is_not_kept_twice_in_metadata(run: Run) -> None:
    for event in run.models:
        for key in ("input.value", "output.value", "llm.model_name", "gen_ai.input.messages",
                    "gen_ai.output.messages", "gen_ai.response.model"):
            assert key not in event["metadata"], key


# -- the function tool ---------------------------------------------------------------------------------------------


def test_the_function_tool_is_a_tool_event_with_its_arguments_and_result(run: Run) -> None:
    tool = run.tool
    asked = output_item(run.exchanges[0])
    assert tool["inputs"] == json.loads(asked["arguments"]) == {"city": "Paris"}
    assert tool["outputs"] == {"result": weather_in("Paris")}
    assert tool["error"] is None


def test_the_tool_runs_between_the_two_model_calls(run: Run) -> None:
    asking, answering = run.models
    assert asking["end_time"] <= run.tool["start_time"] <= run.tool["end_time"] <= answering["start_time"]


def test_a_failing_tool_is_a_tool_event_with_the_error_and_what_the_model_was_told(failing_run: Run) -> None:
    run = failing_run
    tool = run.tool
    assert tool["inputs"] == {"city": "Paris"}
    assert tool["outputs"] == {"result": TOOL_FAILED}
    # The SDK's span error, {message, data}, as each instrumentation writes it into the span status (Traceloop:
    # the dict's Python repr); the SDK redacts the exception's own text.
    assert "Error running tool (non-fatal)" in tool["error"]
    assert f"'tool_name': '{TOOL_NAME}'" in tool["error"]
    history = run.models[1]["inputs"]["chat_history"]
    assert history[-1]["role"] == "tool" and history[-1]["content"] == TOOL_FAILED
    assert run.models[1]["outputs"]["content"] == f"According to the tool: {TOOL_FAILED}."


def test_a_failing_tool_fails_only_its_own_event(failing_run: Run) -> None:
    """The SDK recovers (the model is told), so the agent, the session and the model calls did not fail."""
    assert [e["event_name"] for e in failing_run.events if e["error"] is not None] == [failing_run.variant.tool_name]


# -- the Chat Completions model ---------------------------------------------------------------------------------------


def test_on_chat_completions_the_model_events_have_the_requested_model_and_the_messages_sent(chat_run: Run) -> None:
    run = chat_run
    assert all(e.path.endswith("/chat/completions") for e in run.exchanges)
    assert len(run.models) == 2 and run.tool["outputs"] == {"result": weather_in("Paris")}
    for event, exchange in zip(run.models, run.exchanges, strict=True):
        assert event["config"]["model"] == exchange.request["model"] == MODEL  # the SDK's generation span has it
        assert event["config"]["provider"] == "openai"
        assert json_arguments(event["inputs"]["chat_history"]) == [
            honeyhive_message(m) for m in exchange.request["messages"]]
        assert event["inputs"]["chat_history"][0] == {"role": "system", "content": INSTRUCTIONS}
    agent = run.agent
    assert all(agent in run.ancestors(e) for e in (*run.models, run.tool))


def test_on_chat_completions_answers_tokens_and_settings_are_what_was_recorded(chat_run: Run) -> None:
    run = chat_run
    asking, answering = run.models
    if not run.variant.chat_completions_answers:  # Traceloop records neither answers nor usage nor settings here
        for event in run.models:
            assert event["outputs"] == {}
            assert "prompt_tokens" not in event["metadata"] and "hyperparameters" not in event["config"]
        return
    call = run.exchanges[0].response["choices"][0]["message"]["tool_calls"][0]
    assert json_arguments(asking["outputs"]["tool_calls"]) == json_arguments([call])
    assert answering["outputs"]["content"] == run.exchanges[1].response["choices"][0]["message"]["content"]
    for event, exchange in zip(run.models, run.exchanges, strict=True):
        usage, metadata = exchange.response["usage"], event["metadata"]
        assert (metadata["prompt_tokens"], metadata["completion_tokens"], metadata["total_tokens"]) == (
            usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])
        hyperparameters = event["config"]["hyperparameters"]
        assert hyperparameters["temperature"] == exchange.request["temperature"] == SETTINGS.temperature
        assert hyperparameters["max_tokens"] == exchange.request["max_tokens"] == SETTINGS.max_tokens


def test_on_chat_completions_the_client_base_url_is_no_hyperparameter(chat_run: Run) -> None:
    for event in chat_run.models:
        assert "base_url" not in event["config"].get("hyperparameters", {})


# -- sensitive data kept out of the SDK's traces ----------------------------------------------------------------------


def test_without_sensitive_data_no_event_carries_content_and_the_tool_no_stand_in_for_its_arguments(
    hidden_run: Run,
) -> None:
    """OpenInference still records the tool's parameter schema (`tool.parameters`): it stays in metadata, and is
    not taken for the arguments the call's inputs would hold."""
    run = hidden_run
    assert len(run.models) == 2 and run.agent["event_type"] == "chain"
    for event in run.events:
        assert event["inputs"] == {} and event["outputs"] == {}, event["event_name"]
    assert run.tool["event_name"] == run.variant.tool_name
    if run.variant.id == "openinference":
        assert run.tool["metadata"]["tool.parameters"] == run.exchanges[0].request["tools"][0]["parameters"]


def test_without_sensitive_data_model_events_keep_only_the_provider(hidden_run: Run) -> None:
    """The SDK leaves the whole response out of its spans, so neither instrumentation has the model or the token
    counts to record either."""
    for event in hidden_run.models:
        assert event["config"] == {"provider": "openai"}
        assert "prompt_tokens" not in event["metadata"]


# -- streaming changes nothing ---------------------------------------------------------------------------------------


def _comparable(event: dict[str, Any]) -> dict[str, Any]:
    """An event without what differs from run to run: ids, times, and the ids the fake hands out."""
    metadata = {k: v for k, v in event["metadata"].items()
                if k not in ("trace_id", "span_id", "parent_span_id", "gen_ai.response.id", "invocation_parameters")}
    text = json.dumps({"type": event["event_type"], "name": event["event_name"], "config": event["config"],
                       "inputs": event["inputs"], "outputs": event["outputs"], "metadata": metadata},
                      sort_keys=True)
    for prefix in ("call", "fc", "resp", "msg"):  # fake ids: <prefix>-fake<counter>
        while f"{prefix}-fake" in text:
            start = text.index(f"{prefix}-fake")
            text = text[:start] + f"<{prefix}>" + text[start + len(prefix) + 9 :]
    return json.loads(text)  # type: ignore[no-any-return]


@pytest.mark.parametrize("variant", [pytest.param(v, id=v.id) for v in VARIANTS])
def test_a_streamed_run_is_recorded_as_the_plain_one(variant: Variant, app_runs: Callable[[Variant], AppRun],
                                                     server: RunningServer) -> None:
    app = app_runs(variant)
    with server.store() as store:
        plain, streamed = ([_comparable(e) for e in store.session_events(s)] for s in app.sessions[:FAILING])
    assert streamed == plain
