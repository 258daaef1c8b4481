"""The `anthropic` client's own spans (2.17, `anthropic.messages.create`) through the routing table. The
attributes are those of a real run (tests/instrumentors/anthropic_app.py `sdk`, content mode)."""

from __future__ import annotations

import json

from tests.mapper.otel import child_event

SPAN = {
    "gen_ai.provider.name": "anthropic",
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "claude-haiku-4-5",
    "gen_ai.request.max_tokens": 200,
    "http.response.status_code": 200,
    "gen_ai.usage.input_tokens": 14,
    "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Weather?"}]}]),
    "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
        {"type": "tool_call", "id": "toolu_01", "name": "get_weather", "arguments": {"city": "Paris"}}]}]),
    "anthropic.request.id": "req_01",
    "gen_ai.response.id": "msg_01",
    "gen_ai.response.model": "claude-haiku-4-5-20251001",
    "gen_ai.usage.output_tokens": 15,
    "anthropic.message.stop_reason": "tool_use",
}


def test_the_stop_reason_is_the_finish_reason() -> None:
    event = child_event(SPAN)
    assert event["event_type"] == "model"
    assert event["metadata"]["finish_reasons"] == ["tool_use"]
    assert "anthropic.message.stop_reason" not in event["metadata"]


def test_the_genai_finish_reasons_win_when_both_are_there() -> None:
    event = child_event({**SPAN, "gen_ai.response.finish_reasons": ("tool_call",)})
    assert event["metadata"]["finish_reasons"] == ["tool_call"]
    assert event["metadata"]["anthropic.message.stop_reason"] == ["tool_use"]  # the loser differs: kept


def test_the_rest_of_the_span_is_mapped_by_the_genai_conventions() -> None:
    event = child_event(SPAN)
    assert (event["config"]["model"], event["config"]["provider"]) == ("claude-haiku-4-5", "anthropic")
    assert event["outputs"]["tool_calls"] == [
        {"id": "toolu_01", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]
    assert (event["metadata"]["prompt_tokens"], event["metadata"]["completion_tokens"]) == (14, 15)
    assert event["metadata"]["anthropic.request.id"] == "req_01"  # nothing is dropped


COUNT_TOKENS = {
    "server.address": "127.0.0.1",
    "server.port": 44367,
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-haiku-4-5",
    "http.request.method": "POST",
    "http.route": "/v1/messages/count_tokens",
    "url.path": "/v1/messages/count_tokens",
    "http.response.status_code": 200,
    "anthropic.message.count_tokens.input_tokens": 17,
}
"""`anthropic.messages.count_tokens` as the client records it (content mode too: it records no messages for it)."""


def test_counting_tokens_is_a_model_event_whose_output_is_the_count() -> None:
    """A call to the model's API, about its input: as OpenInference's instrumentation records the same call (an LLM
    span whose output is `{"input_tokens": N}`), not a tool with empty inputs and outputs."""
    event = child_event(COUNT_TOKENS, name="anthropic.messages.count_tokens")
    assert event["event_type"] == "model"
    assert event["config"] == {"model": "claude-haiku-4-5", "provider": "anthropic"}
    assert event["outputs"] == {"input_tokens": 17}
    assert "anthropic.message.count_tokens.input_tokens" not in event["metadata"]


def test_a_token_count_is_not_tokens_used() -> None:
    """Counting generates nothing and uses no tokens: the count is not `prompt_tokens`, which a session's totals
    add up."""
    metadata = child_event(COUNT_TOKENS, name="anthropic.messages.count_tokens")["metadata"]
    assert not {"prompt_tokens", "completion_tokens", "total_tokens"} & metadata.keys()


def test_counting_tokens_reads_the_same_under_openinference() -> None:
    openinference = child_event({
        "llm.provider": "anthropic", "llm.system": "anthropic", "openinference.span.kind": "LLM",
        "llm.model_name": "claude-haiku-4-5", "llm.request.model_name": "claude-haiku-4-5",
        "input.value": json.dumps({"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "count me"}]}),
        "input.mime_type": "application/json", "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "count me", "llm.invocation_parameters": "{}",
        "output.value": '{"input_tokens": 17}', "output.mime_type": "application/json",
    }, name="messages.count_tokens")
    sdk = child_event(COUNT_TOKENS, name="anthropic.messages.count_tokens")
    assert (openinference["event_type"], openinference["outputs"]) == (sdk["event_type"], sdk["outputs"])
    assert openinference["config"] == sdk["config"]
