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
