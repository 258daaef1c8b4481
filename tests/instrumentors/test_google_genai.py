"""What `opentelemetry-instrumentation-google-genai` (1.1b1, on `opentelemetry-util-genai`) records of the real
`google-genai` client becomes in HoneyHive, field by field; and the same content whether the instrumentation puts
it on the spans or in log records.

`tests/instrumentors/app_google_genai.py` runs in a process of its own per run, against the deterministic Gemini
API of tests/support/fake_gemini.py, inside one root span: 1. a call with a system instruction (and a thinking
budget), 2. one offering a function (answered with a function call), 3. the follow-up carrying the function's
result, 4. a streamed call.
It exports to one real `otel-honeyhive serve`, whose store the tests read: in process with `HoneyHiveSpanExporter`
and `HoneyHiveLogExporter` (to the server's HoneyHive-compatible API), or through the receiver with the stock OTLP
span and log exporters (HTTP/protobuf and gRPC).

What 1.1b1 does with `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` (util-genai's `_inference_invocation.py`;
no `OTEL_SEMCONV_STABILITY_OPT_IN` needed, util-genai 1.1b0 always speaks the latest conventions): `SPAN_ONLY` puts
`gen_ai.input.messages` / `gen_ai.output.messages` / `gen_ai.system_instructions` on the span as JSON strings;
`EVENT_ONLY` puts them only in one `gen_ai.client.inference.operation.details` record per call (structured lists);
`SPAN_AND_EVENT` does both. The instrumentor sets `OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT=true` for its process, so
even `SPAN_ONLY` emits the details record, without content. A streamed answer is recorded as one assistant message
per chunk, only the last with a finish reason: the bridge assembles it.
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

from tests.instrumentors.app_google_genai import (
    FORECAST,
    MAX_OUTPUT_TOKENS,
    MODEL,
    QUESTION,
    ROOT_NAME,
    STREAM_QUESTION,
    SYSTEM,
    TEMPERATURE,
    THINKING_BUDGET,
    TOOL_RESULT,
    WEATHER,
    WEATHER_QUESTION,
)
from tests.support.fake_gemini import Exchange, FakeGemini, run_fake_gemini
from tests.support.server import RunningServer, run_server

pytestmark = pytest.mark.slow  # an app process per mode and path, and a server

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
CALLS = ("chat", "tool call", "tool result", "stream")
IN_PROCESS, HTTP, GRPC = "in process", "http/protobuf", "grpc"
PATHS = (IN_PROCESS, HTTP, GRPC)
SAMPLING = frozenset({"temperature", "top_p", "top_k", "max_tokens", "max_output_tokens", "stop_sequences",
                      "frequency_penalty", "presence_penalty", "seed", "n", "choice_count", "candidate_count"})
"""Generation parameters: all `config.hyperparameters` may hold (the lead's target 2)."""
CALL_ID = "get_weather_0"
"""The id the instrumentation gives a Gemini function call (Gemini sends none): `{name}_{part index}`."""


@dataclass
class Call:
    event: dict[str, Any]
    exchange: Exchange


@dataclass
class Run:
    session_id: str
    events: list[dict[str, Any]]
    calls: dict[str, Call]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("google-genai"), grpc=True) as running:
        yield running


@pytest.fixture(scope="module")
def fake_gemini() -> Iterator[FakeGemini]:
    with run_fake_gemini() as fake:
        yield fake


@pytest.fixture(scope="module")
def runs(server: RunningServer, fake_gemini: FakeGemini) -> Callable[..., Run]:
    """One run of the app per (capture mode, path, shutdown order), shared by the tests that need it."""
    done: dict[tuple[str, str, str], Run] = {}

    def get(mode: str, path: str = IN_PROCESS, order: str = "logs-first") -> Run:
        if (mode, path, order) not in done:
            done[mode, path, order] = run_app(server, fake_gemini, mode, path, order)
        return done[mode, path, order]

    return get


def run_app(server: RunningServer, fake: FakeGemini, mode: str, path: str, order: str) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_", "GEMINI_", "GOOGLE_"))}
    env.update(GEMINI_BASE_URL=fake.base_url, **{CAPTURE: mode})
    if path == IN_PROCESS:
        env.update(HH_API_URL=server.url, HH_PROJECT="google-genai")
        args = ["honeyhive", order]
    else:
        env.update(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{server.grpc_target}" if path == GRPC else server.url,
                   OTEL_EXPORTER_OTLP_PROTOCOL=path)
        args = ["otlp"]
    first = len(fake.exchanges)
    app = subprocess.run([sys.executable, "-m", "tests.instrumentors.app_google_genai", *args], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert app.returncode == 0, app.stderr
    session_id = json.loads(app.stdout.strip().splitlines()[-1])["session_id"]
    exchanges = fake.exchanges[first:]
    with server.store() as store:
        events = store.session_events(session_id)
    # The fake answers in no less than its latency, so sequential calls start in distinct milliseconds.
    models = sorted((e for e in events if e["event_type"] == "model"), key=lambda e: e["start_time"])
    assert len(models) == len(exchanges) == len(CALLS), [e["event_name"] for e in events]
    calls = {name: Call(event, exchange) for name, event, exchange in zip(CALLS, models, exchanges, strict=True)}
    return Run(session_id, events, calls)


@pytest.fixture(scope="module")
def spans(runs: Callable[..., Run]) -> Run:
    """Content on the spans (SPAN_ONLY), exported in process: issue 20's run."""
    return runs("SPAN_ONLY")


# -- issue 20: spans (SPAN_ONLY) --------------------------------------------------------------------------------


def test_one_session_with_a_model_event_per_call(spans: Run) -> None:
    (session,) = [e for e in spans.events if e["event_type"] == "session"]
    assert (session["event_id"], session["event_name"]) == (spans.session_id, ROOT_NAME)
    assert len(spans.events) == 1 + len(CALLS)
    assert all(e["session_id"] == spans.session_id for e in spans.events)
    for call in spans.calls.values():
        assert call.event["event_type"] == "model"
        assert call.event["event_name"] == f"generate_content {MODEL}"
        assert call.event["parent_id"] == spans.session_id
    assert set(session["children_ids"]) == {c.event["event_id"] for c in spans.calls.values()}


def test_model_provider_and_the_model_that_answered(spans: Run) -> None:
    for call in spans.calls.values():
        assert call.event["config"]["model"] == call.exchange.model == MODEL
        assert call.event["config"]["provider"] == "gemini"
        assert call.event["metadata"]["response_model"] == call.exchange.response["modelVersion"]


def test_generation_parameters_are_the_hyperparameters(spans: Run) -> None:
    chat = spans.calls["chat"]
    assert chat.exchange.request["generationConfig"]["temperature"] == TEMPERATURE
    assert chat.exchange.request["generationConfig"]["maxOutputTokens"] == MAX_OUTPUT_TOKENS
    assert chat.event["config"]["hyperparameters"] == {"temperature": TEMPERATURE, "max_tokens": MAX_OUTPUT_TOKENS}
    for call in spans.calls.values():
        assert set(call.event["config"].get("hyperparameters", {})) <= SAMPLING, call.event["config"]


def test_offered_functions_are_the_config_tools(spans: Run) -> None:
    for name in ("tool call", "tool result"):
        call = spans.calls[name]
        (offered,) = call.exchange.request["tools"][0]["functionDeclarations"]
        (tool,) = call.event["config"]["tools"]
        assert tool["name"] == offered["name"] == WEATHER.name
        assert tool["parameters"] == offered["parameters"]


def test_token_counts_are_the_usage_metadata(spans: Run) -> None:
    """Gemini counts thinking apart from the answer (`thoughtsTokenCount`); the completion is both, as the
    GenAI conventions count output tokens."""
    for call in spans.calls.values():
        usage, metadata = call.exchange.response["usageMetadata"], call.event["metadata"]
        assert metadata["prompt_tokens"] == usage["promptTokenCount"]
        assert metadata["completion_tokens"] == usage["candidatesTokenCount"] + usage.get("thoughtsTokenCount", 0)
        assert metadata["total_tokens"] == usage["totalTokenCount"]


def test_cached_and_thinking_tokens_have_one_name_each(spans: Run) -> None:
    """The lead's target 4: `metadata.cache_read_input_tokens` and `metadata.reasoning_tokens`, never doubled."""
    chat = spans.calls["chat"]
    usage, metadata = chat.exchange.response["usageMetadata"], chat.event["metadata"]
    assert chat.exchange.request["generationConfig"]["thinkingConfig"] == {"thinking_budget": THINKING_BUDGET}
    assert usage["thoughtsTokenCount"] and usage["cachedContentTokenCount"]  # the comparison is of something
    assert metadata["cache_read_input_tokens"] == usage["cachedContentTokenCount"]
    assert metadata["reasoning_tokens"] == usage["thoughtsTokenCount"]
    counts = {k for k in metadata if "token" in k}
    assert counts == {"prompt_tokens", "completion_tokens", "total_tokens", "cache_read_input_tokens",
                      "reasoning_tokens"}, counts
    for name in ("tool call", "tool result", "stream"):  # no system instruction, no thinking budget
        assert not {"cache_read_input_tokens", "reasoning_tokens"} & set(spans.calls[name].event["metadata"])


def test_the_system_instruction_heads_the_chat_history(spans: Run) -> None:
    chat = spans.calls["chat"]
    assert chat.exchange.request["systemInstruction"]["parts"] == [{"text": SYSTEM}]
    assert chat.event["inputs"] == {"chat_history": [{"role": "system", "content": SYSTEM},
                                                     {"role": "user", "content": QUESTION}]}


def test_a_text_answer_is_the_outputs(spans: Run) -> None:
    for name in ("chat", "tool result"):
        call = spans.calls[name]
        assert call.exchange.text
        assert call.event["outputs"] == {"role": "assistant", "content": call.exchange.text, "finish_reason": "stop"}


def test_a_function_call_answer_is_a_tool_call(spans: Run) -> None:
    call = spans.calls["tool call"]
    asked = call.exchange.function_call
    assert asked == {"name": WEATHER.name, "args": {"city": "Paris"}}
    assert call.event["inputs"] == {"chat_history": [{"role": "user", "content": WEATHER_QUESTION}]}
    assert call.event["outputs"] == {
        "role": "assistant", "finish_reason": "stop",
        "tool_calls": [{"id": CALL_ID, "type": "function",
                        "function": {"name": asked["name"], "arguments": asked["args"]}}],
    }


def test_the_function_result_round_trip_is_in_the_follow_up_history(spans: Run) -> None:
    """Gemini sends a function's result as a `user` turn with a `functionResponse` part, which the instrumentation
    records as a `tool_call_response` part with the call's id: a `tool` message, as in OpenAI's shape."""
    call = spans.calls["tool result"]
    assert call.exchange.request["contents"][-1] == {
        "role": "user", "parts": [{"functionResponse": {"name": WEATHER.name, "response": TOOL_RESULT}}]}
    assert call.event["inputs"]["chat_history"] == [
        {"role": "user", "content": WEATHER_QUESTION},
        {"role": "assistant", "tool_calls": [{"id": CALL_ID, "type": "function",
                                              "function": {"name": WEATHER.name, "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "tool_call_id": CALL_ID, "content": json.dumps(TOOL_RESULT, separators=(",", ":"))},
    ]


def test_a_streamed_answer_is_assembled(spans: Run) -> None:
    """The defect of issue 20: the answer was its first chunk (`"Gemini"` with the real service)."""
    call = spans.calls["stream"]
    assert len(call.exchange.chunks) > 3  # really streamed, in pieces
    assert call.event["inputs"] == {"chat_history": [{"role": "user", "content": STREAM_QUESTION}]}
    assert call.event["outputs"] == {"role": "assistant", "content": call.exchange.text, "finish_reason": "stop"}
    assert call.event["metadata"]["finish_reasons"] == ["stop"]


# -- issue 19: log records (EVENT_ONLY, SPAN_AND_EVENT), in process and through the receiver --------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("mode", ["EVENT_ONLY", "SPAN_AND_EVENT"])
def test_content_from_log_records_is_the_content_from_spans(runs: Callable[..., Run], mode: str, path: str
                                                            ) -> None:
    on_spans, other = runs("SPAN_ONLY", path), runs(mode, path)
    for call in CALLS:
        expected, got = on_spans.calls[call].event, other.calls[call].event
        assert expected["inputs"]["chat_history"], call  # the comparison is of something
        assert expected["outputs"], call
        assert got["inputs"] == expected["inputs"], call
        assert got["outputs"] == expected["outputs"], call
        assert got["config"] == expected["config"], call
        for key in ("prompt_tokens", "completion_tokens", "total_tokens", "response_model", "finish_reasons"):
            assert got["metadata"].get(key) == expected["metadata"].get(key), (call, key)
        assert "log_record_inputs" not in got["metadata"], call  # joined before storing, not updated after


@pytest.mark.parametrize("path", [HTTP, GRPC])
def test_through_the_receiver_the_content_is_the_in_process_content(runs: Callable[..., Run], path: str) -> None:
    in_process, received = runs("SPAN_ONLY"), runs("SPAN_ONLY", path)
    for call in CALLS:
        for bucket in ("inputs", "outputs", "config"):
            assert received.calls[call].event[bucket] == in_process.calls[call].event[bucket], (call, bucket)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("mode", ["SPAN_AND_EVENT", "EVENT_ONLY"])
def test_nothing_is_duplicated(runs: Callable[..., Run], mode: str, path: str) -> None:
    on_spans = runs("SPAN_ONLY", path)
    for call in CALLS:
        event, expected = runs(mode, path).calls[call].event, on_spans.calls[call].event
        assert set(event["metadata"]) == set(expected["metadata"]), call  # no record attribute left over
        text = json.dumps(event)
        assert "gen_ai.input.messages" not in text and "gen_ai.output.messages" not in text, call
        assert "gen_ai.system_instructions" not in text, call
        assert "events" not in event["metadata"], call
        question = json.dumps(expected["inputs"]["chat_history"][-1]["content"])
        assert text.count(question) == json.dumps(expected).count(question), call


def test_records_still_queued_when_the_spans_ship_first_join_them(runs: Callable[..., Run]) -> None:
    """The tracer provider shut down first, every record still queued in the logger provider: the export that
    ends the traces flushes the (global) logger provider first, so the records join their spans as in the usual
    order — the input messages in `inputs.chat_history`, not an update after the event was shipped."""
    on_spans, spans_first = runs("SPAN_ONLY"), runs("EVENT_ONLY", IN_PROCESS, "spans-first")
    for call in CALLS:
        assert spans_first.calls[call].event["outputs"] == on_spans.calls[call].event["outputs"], call
        assert spans_first.calls[call].event["inputs"] == on_spans.calls[call].event["inputs"], call
        assert "log_record_inputs" not in spans_first.calls[call].event["metadata"], call


# -- automatic function calling: the client calls the function itself ------------------------------------------


@pytest.fixture(scope="module")
def automatic(server: RunningServer, fake_gemini: FakeGemini) -> list[dict[str, Any]]:
    """The events of one `automatic` run (content on the spans, in process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_", "GEMINI_", "GOOGLE_"))}
    env.update(GEMINI_BASE_URL=fake_gemini.base_url, HH_API_URL=server.url, HH_PROJECT="google-genai",
               **{CAPTURE: "SPAN_ONLY"})
    app = subprocess.run([sys.executable, "-m", "tests.instrumentors.app_google_genai", "honeyhive", "logs-first",
                          "automatic"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert app.returncode == 0, app.stderr
    session_id = json.loads(app.stdout.strip().splitlines()[-1])["session_id"]
    with server.store() as store:
        events: list[dict[str, Any]] = store.session_events(session_id)
    return events


def test_a_function_the_client_calls_is_a_tool_event_with_its_arguments_by_name(
        automatic: list[dict[str, Any]]) -> None:
    """The instrumentation records the arguments as `code.function.parameters.{name}.value` / `.type` keys (JSON in
    `gen_ai.tool.call.arguments`): the inputs are the function's own arguments, the types metadata."""
    tools = {e["event_name"]: e for e in automatic if e["event_type"] == "tool"}
    assert set(tools) == {"execute_tool get_weather", "execute_tool get_forecast"}, [e["event_name"] for e in automatic]
    weather, forecast = tools["execute_tool get_weather"], tools["execute_tool get_forecast"]
    for event in (weather, forecast):
        assert event["inputs"] == {"city": "Paris"}
        assert event["metadata"]["parameter_types"] == {"city": "str"}
        assert "gen_ai.tool.call.arguments" not in event["metadata"]
    assert weather["outputs"] == TOOL_RESULT
    assert forecast["outputs"] == {"result": FORECAST}  # the instrumentation JSON-encodes a returned text
