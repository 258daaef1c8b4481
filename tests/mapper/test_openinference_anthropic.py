"""OpenInference's Anthropic instrumentation (`openinference-instrumentation-anthropic` 3.1) through the routing
table: a `tool_use` answer is a tool call like any other.

The attributes are those the instrumentation set in a real run (tests/instrumentors/anthropic_app.py against
tests/support/fake_anthropic.py): it records each `tool_use` block twice, under `message.tool_calls.{i}` and as a
content part (`message.contents.{j}.message_content.type = "tool_use"` with `message.contents.{j}.tool_call.*`).
"""

from __future__ import annotations

import json
from typing import Any

from tests.mapper.otel import child_event

ARGUMENTS = json.dumps({"city": "Paris"})
TOOL_SCHEMA = {"name": "get_weather", "description": "Current weather in a city",
               "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
SPAN = {
    "llm.provider": "anthropic",
    "llm.system": "anthropic",
    "llm.request.model_name": "claude-haiku-4-5",
    "llm.input_messages.0.message.role": "user",
    "llm.input_messages.0.message.content": "What is the weather in Paris?",
    "llm.tools.0.tool.json_schema": json.dumps(TOOL_SCHEMA),
    "llm.invocation_parameters": json.dumps({"max_tokens": 200}),
    "llm.model_name": "claude-haiku-4-5-20251001",
    "llm.response.model_name": "claude-haiku-4-5-20251001",
    "llm.output_messages.0.message.role": "assistant",
    "llm.finish_reason": "tool_use",
    "llm.output_messages.0.message.contents.0.message_content.type": "text",
    "llm.output_messages.0.message.contents.0.message_content.text": "Let me check that.",
    "llm.output_messages.0.message.tool_calls.0.tool_call.id": "toolu_01",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "get_weather",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": ARGUMENTS,
    "llm.output_messages.0.message.contents.1.message_content.type": "tool_use",
    "llm.output_messages.0.message.contents.1.tool_call.id": "toolu_01",
    "llm.output_messages.0.message.contents.1.tool_call.function.name": "get_weather",
    "llm.output_messages.0.message.contents.1.tool_call.function.arguments": ARGUMENTS,
    "llm.token_count.prompt": 14,
    "llm.token_count.completion": 15,
    "llm.token_count.total": 29,
    "openinference.span.kind": "LLM",
}
TOOL_CALL = {"id": "toolu_01", "type": "function", "function": {"name": "get_weather", "arguments": ARGUMENTS}}


def _only_part_keys(attributes: dict[str, Any], prefix: str) -> dict[str, Any]:
    """`attributes` without the `{prefix}.tool_calls.*` copy: the tool call carried only as a content part."""
    return {k: v for k, v in attributes.items() if not k.startswith(f"{prefix}.tool_calls.")}


def test_a_tool_use_answer_is_its_text_and_one_plain_tool_call() -> None:
    event = child_event(SPAN)
    assert event["event_type"] == "model"
    assert event["outputs"] == {"role": "assistant", "content": "Let me check that.", "tool_calls": [TOOL_CALL],
                                "finish_reason": "tool_use"}


def test_a_tool_use_recorded_only_as_a_content_part_is_still_a_tool_call() -> None:
    event = child_event(_only_part_keys(SPAN, "llm.output_messages.0.message"))
    assert event["outputs"]["tool_calls"] == [TOOL_CALL]
    assert event["outputs"]["content"] == "Let me check that."


def test_a_tool_use_answer_with_no_text_has_no_content() -> None:
    attributes = {k: v for k, v in SPAN.items() if ".contents.0." not in k}
    event = child_event(attributes)
    assert event["outputs"] == {"role": "assistant", "tool_calls": [TOOL_CALL], "finish_reason": "tool_use"}


def test_the_follow_up_history_carries_the_assistant_tool_call_and_the_tool_result() -> None:
    """The follow-up request: the assistant's `tool_use` turn, then the user's `tool_result` (which the
    instrumentation records as a `tool` message)."""
    history = {
        "llm.input_messages.1.message.role": "assistant",
        "llm.input_messages.1.message.contents.0.message_content.type": "text",
        "llm.input_messages.1.message.contents.0.message_content.text": "Let me check that.",
        "llm.input_messages.1.message.tool_calls.0.tool_call.id": "toolu_01",
        "llm.input_messages.1.message.tool_calls.0.tool_call.function.name": "get_weather",
        "llm.input_messages.1.message.tool_calls.0.tool_call.function.arguments": ARGUMENTS,
        "llm.input_messages.1.message.contents.1.message_content.type": "tool_use",
        "llm.input_messages.1.message.contents.1.tool_call.id": "toolu_01",
        "llm.input_messages.1.message.contents.1.tool_call.function.name": "get_weather",
        "llm.input_messages.1.message.contents.1.tool_call.function.arguments": ARGUMENTS,
        "llm.input_messages.2.message.role": "tool",
        "llm.input_messages.2.message.tool_call_id": "toolu_01",
        "llm.input_messages.2.message.content": "sunny, 21 C",
    }
    event = child_event({**SPAN, **history})
    assert event["inputs"]["chat_history"] == [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": "Let me check that.", "tool_calls": [TOOL_CALL]},
        {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny, 21 C"},
    ]


def test_a_content_part_that_is_not_a_tool_call_is_kept_as_a_part() -> None:
    """An image beside the text stays a part (the semantic conventions' `uri` part): the text is `content`."""
    event = child_event({
        **_only_part_keys(SPAN, "llm.output_messages.0.message"),
        "llm.output_messages.0.message.contents.2.message_content.type": "image",
        "llm.output_messages.0.message.contents.2.message_content.image.image.url": "data:image/png;base64,AA==",
    })
    assert event["outputs"]["content"] == "Let me check that."
    assert event["outputs"]["parts"] == [{"type": "uri", "modality": "image", "uri": "data:image/png;base64,AA=="}]
    assert event["outputs"]["tool_calls"] == [TOOL_CALL]


def test_with_outputs_hidden_the_finish_reason_makes_no_outputs() -> None:
    """`OPENINFERENCE_HIDE_OUTPUTS`: no output messages, `output.value` redacted. The finish reason stays in
    `metadata.finish_reasons`; an `outputs` holding only it would look like an answer that said nothing."""
    hidden = {k: v for k, v in SPAN.items() if not k.startswith("llm.output_messages.")}
    event = child_event({**hidden, "output.value": "__REDACTED__", "input.value": "__REDACTED__"})
    assert event["outputs"] == {}
    assert event["metadata"]["finish_reasons"] == ["tool_use"]
