"""Anthropic's `tool_result` turns in the GenAI parts format, as Traceloop's instrumentation
(`opentelemetry-instrumentation-anthropic` 0.62) and the `anthropic` SDK's own spans (2.17, content mode) record
them: a `user` message of `tool_call_response` parts. In HoneyHive they are `tool` messages, one per result, as
OpenAI's shape and OpenInference have them.

The attribute values are those of a real run (tests/instrumentors/anthropic_app.py).
"""

from __future__ import annotations

import json
from typing import Any

from tests.mapper.otel import child_event

ASK = {"role": "user", "parts": [{"type": "text", "content": "What is the weather in Paris?"}]}
CALL = {"role": "assistant", "parts": [{"type": "text", "content": "Let me check that."},
                                       {"type": "tool_call", "id": "toolu_01", "name": "get_weather",
                                        "arguments": {"city": "Paris"}}]}
SPAN = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-haiku-4-5", "gen_ai.usage.input_tokens": 27, "gen_ai.usage.output_tokens": 7}


def history(*messages: dict[str, Any]) -> list[dict[str, Any]]:
    event = child_event({**SPAN, "gen_ai.input.messages": json.dumps(list(messages))})
    chat_history: list[dict[str, Any]] = event["inputs"]["chat_history"]
    return chat_history


def test_a_user_turn_of_one_tool_result_is_a_tool_message() -> None:
    """Traceloop's record of the follow-up request."""
    result = {"role": "user", "parts": [{"type": "tool_call_response", "id": "toolu_01", "response": "sunny, 21 C"}]}
    assert history(ASK, CALL, result) == [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": "Let me check that.",
         "tool_calls": [{"id": "toolu_01", "type": "function",
                         "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny, 21 C"},
    ]


def test_a_tool_result_given_as_text_blocks_is_their_text() -> None:
    """The SDK's own spans keep the result's content blocks."""
    result = {"role": "user", "parts": [{"type": "tool_call_response", "id": "toolu_01",
                                         "response": [{"type": "text", "text": "sunny, 21 C"}]}]}
    assert history(result) == [{"role": "tool", "tool_call_id": "toolu_01", "content": "sunny, 21 C"}]


def test_parallel_tool_results_keep_their_own_ids() -> None:
    results = {"role": "user", "parts": [
        {"type": "tool_call_response", "id": "toolu_01", "response": "sunny, 21 C"},
        {"type": "tool_call_response", "id": "toolu_02", "response": "rainy, 12 C"},
    ]}
    assert history(results) == [
        {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny, 21 C"},
        {"role": "tool", "tool_call_id": "toolu_02", "content": "rainy, 12 C"},
    ]


def test_results_and_text_in_one_user_turn_are_a_tool_message_each_then_the_text() -> None:
    """Anthropic's turn after parallel tool calls: the results, then the user's words (the audit's case)."""
    mixed = {"role": "user", "parts": [
        {"type": "tool_call_response", "id": "toolu_1", "response": "sunny"},
        {"type": "tool_call_response", "id": "toolu_2", "response": [{"type": "text", "text": "clock service down"}]},
        {"type": "text", "content": "Be brief."},
    ]}
    assert history(mixed) == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "clock service down"},
        {"role": "user", "content": "Be brief."},
    ]


def test_other_parts_keep_their_place_between_results() -> None:
    """Each run of other parts is a message of the turn's own role, where it was."""
    mixed = {"role": "user", "parts": [
        {"type": "text", "content": "Here are the results."},
        {"type": "tool_call_response", "id": "toolu_1", "response": "sunny"},
        {"type": "text", "content": "And:"},
        {"type": "uri", "modality": "image", "uri": "https://x/map.png"},
        {"type": "tool_call_response", "id": "toolu_2", "response": "noon"},
    ]}
    assert history(mixed) == [
        {"role": "user", "content": "Here are the results."},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
        {"role": "user", "content": "And:", "parts": [{"type": "uri", "modality": "image", "uri": "https://x/map.png"}]},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "noon"},
    ]


def test_a_tool_message_with_several_results_is_one_message_per_result() -> None:
    results = {"role": "tool", "parts": [
        {"type": "tool_call_response", "id": "call_1", "response": "sunny"},
        {"type": "tool_call_response", "id": "call_2", "result": {"time": "noon"}},
    ]}
    assert history(results) == [
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": '{"time":"noon"}'},
    ]


def test_a_split_turn_s_other_fields_go_on_its_last_message() -> None:
    turn = {"role": "user", "name": "ada", "parts": [
        {"type": "tool_call_response", "id": "toolu_1", "response": "sunny"},
        {"type": "text", "content": "Thanks."},
    ]}
    assert history(turn) == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
        {"role": "user", "content": "Thanks.", "name": "ada"},
    ]


def test_a_result_of_several_text_blocks_is_their_text_one_block_a_line() -> None:
    result = {"role": "user", "parts": [{"type": "tool_call_response", "id": "toolu_01", "response": [
        {"type": "text", "text": "sunny"}, {"type": "text", "text": "21 C"}]}]}
    assert history(result) == [{"role": "tool", "tool_call_id": "toolu_01", "content": "sunny\n21 C"}]


def test_a_result_that_is_not_text_blocks_stays_json() -> None:
    result = {"role": "user", "parts": [{"type": "tool_call_response", "id": "toolu_01",
                                         "response": [{"type": "image", "source": {"type": "url", "url": "u"}}]}]}
    [message] = history(result)
    assert json.loads(message["content"]) == [{"type": "image", "source": {"type": "url", "url": "u"}}]
