"""Rebuilding message lists (conventions.md, "Rebuilding a message list from indexed keys", parts format)."""

from __future__ import annotations

import json

import pytest

from otel_honeyhive.mapper.messages import (
    indexed_messages,
    json_messages,
    output_from_messages,
    system_instructions,
)


def test_indexed_messages_group_by_integer_index_and_sort_numerically() -> None:
    pairs = [("10.content", "ten"), ("2.content", "two"), ("0.content", "zero"), ("2.role", "user")]
    assert indexed_messages(pairs) == [{"content": "zero"}, {"role": "user", "content": "two"}, {"content": "ten"}]


def test_indexed_messages_strip_openinference_message_segment() -> None:
    pairs = [("0.message.role", "user"), ("0.message.content", "hi"), ("0.message.name", "ada")]
    assert indexed_messages(pairs) == [{"role": "user", "content": "hi", "name": "ada"}]


def test_indexed_messages_skip_non_indexed_keys() -> None:
    pairs = [("prompt_filter_results", "[]"), ("0.role", "user"), ("0.content", "hi")]
    assert indexed_messages(pairs) == [{"role": "user", "content": "hi"}]


def test_indexed_messages_without_any_indexed_key_is_an_error() -> None:
    with pytest.raises(ValueError):
        indexed_messages([("prompt_filter_results", "[]")])


@pytest.mark.parametrize(
    "prefix",
    ["0.tool_calls.{k}.", "0.tool_calls.{k}.tool_call."],
)
def test_tool_calls_in_both_spellings(prefix: str) -> None:
    pairs: list[tuple[str, object]] = [("0.role", "assistant")]
    for k, name in enumerate(["a", "b"]):
        p = prefix.format(k=k)
        pairs += [(p + "id", f"id{k}"), (p + "function.name", name), (p + "function.arguments", "{}")]
    assert indexed_messages(pairs) == [
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "id0", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                {"id": "id1", "type": "function", "function": {"name": "b", "arguments": "{}"}},
            ],
        }
    ]


def test_flat_tool_call_name_and_arguments_go_under_function() -> None:
    pairs = [("0.tool_calls.0.id", "x"), ("0.tool_calls.0.name", "f"), ("0.tool_calls.0.arguments", "{}")]
    assert indexed_messages(pairs) == [
        {"tool_calls": [{"id": "x", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    ]


def test_tool_call_values_are_made_representable() -> None:
    pairs = [("0.tool_calls.0.id", b"\xff"), ("0.tool_calls.0.function.name", b"f")]
    (message,) = indexed_messages(pairs)
    call = message["tool_calls"][0]
    assert call["id"] == "base64:/w=="
    assert call["function"] == {"name": "f"}


def test_json_content_that_is_a_list_of_typed_parts_is_parsed() -> None:
    content = [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "https://x/cat.png"}}]
    assert indexed_messages([("0.content", json.dumps(content))]) == [{"content": content}]


@pytest.mark.parametrize("role", ["user", "assistant", "tool", "system"])
def test_json_content_that_is_only_text_blocks_is_their_text(role: str) -> None:
    """OpenInference's Anthropic instrumentation records a tool result's (or any message's) content blocks as
    this JSON text: the text, one block a line."""
    content = [{"type": "text", "text": "clock service"}, {"type": "text", "text": "down"}]
    assert indexed_messages([("0.role", role), ("0.content", json.dumps(content))]) == [
        {"role": role, "content": "clock service\ndown"}]


@pytest.mark.parametrize("text", ['{"name": "x"}', "[1, 2, 3]", '["a", "b"]', "[]", '[{"no": "type"}]',
                                  '[{"type": "text", "text": "cut off'])
def test_text_that_merely_looks_like_json_stays_text(text: str) -> None:
    assert indexed_messages([("0.role", "user"), ("0.content", text)]) == [{"role": "user", "content": text}]


def test_unknown_message_fields_are_kept() -> None:
    assert indexed_messages([("0.role", "user"), ("0.refusal", "no")]) == [{"role": "user", "refusal": "no"}]


def test_parts_message_keeps_reasoning_blob_and_file_parts() -> None:
    parts = [
        {"type": "reasoning", "content": "thinking"},
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "AAAA"},
        {"type": "file", "file_id": "f-1"},
        {"type": "text", "content": "answer"},
    ]
    (message,) = json_messages(json.dumps([{"role": "assistant", "parts": parts}]))
    assert message == {"role": "assistant", "content": "answer", "parts": parts[:3]}


def test_parts_message_with_extra_fields_keeps_them() -> None:
    raw = [{"role": "assistant", "name": "bot", "parts": [{"type": "text", "content": "x"}], "finish_reason": "stop"}]
    assert json_messages(json.dumps(raw)) == [
        {"role": "assistant", "content": "x", "name": "bot", "finish_reason": "stop"}
    ]


def test_plain_role_content_messages_are_accepted() -> None:
    raw = [{"role": "user", "content": "hi"}]
    assert json_messages(json.dumps(raw)) == raw
    assert json_messages(json.dumps(raw[0])) == raw


def test_a_plain_message_s_text_blocks_are_its_text() -> None:
    raw = [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    assert json_messages(json.dumps(raw)) == [{"role": "user", "content": "a\nb"}]


def test_json_messages_refuses_truncated_json() -> None:
    with pytest.raises(ValueError):
        json_messages('[{"role": "user", "parts": [{"type": "te')


def test_json_messages_refuses_scalars() -> None:
    with pytest.raises(ValueError):
        json_messages("42")


def test_empty_parts_message_has_empty_content() -> None:
    assert json_messages('[{"role": "user", "parts": []}]') == [{"role": "user", "content": ""}]


def test_system_instructions_forms() -> None:
    assert system_instructions("plain") == {"role": "system", "content": "plain"}
    assert system_instructions('[{"type": "text", "content": "a"}, {"type": "text", "content": "b"}]') == {
        "role": "system",
        "content": "a\nb",
    }
    assert system_instructions('{"type": "text", "content": "one"}') == {"role": "system", "content": "one"}


def test_output_from_messages_defaults_role_and_lists_choices() -> None:
    assert output_from_messages([{"content": "x"}]) == {"role": "assistant", "content": "x"}
    out = output_from_messages([{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}])
    assert out["content"] == "a"
    assert out["choices"] == [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]
    with pytest.raises(ValueError):
        output_from_messages([])


def test_a_tool_result_turn_decoded_from_otlp_is_a_tool_message() -> None:
    """The OTLP decoders give arrays as tuples: a `user` turn of `tool_call_response` parts (a Gemini
    `functionResponse` in an EVENT_ONLY log record received over OTLP) is a `tool` message all the same."""
    turn = {"role": "user", "parts": ({"type": "tool_call_response", "id": "get_weather_0",
                                       "response": {"weather": "sunny, 21 C"}},)}
    expected = [{"role": "tool", "tool_call_id": "get_weather_0", "content": '{"weather":"sunny, 21 C"}'}]
    assert json_messages((turn,)) == json_messages([{**turn, "parts": list(turn["parts"])}]) == expected
