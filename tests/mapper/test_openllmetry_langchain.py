"""Traceloop's LangChain instrumentation (opentelemetry-instrumentation-langchain 0.62): what its spans carry
besides the GenAI attributes, and where that lands.

The attributes are those a real run recorded (`tests/instrumentors/langchain_app.py` under Traceloop): a chat model
LangChain cannot serialise (as most custom and community models) and whose class Traceloop does not know.
"""

from __future__ import annotations

import json
from typing import Any

from tests.mapper.otel import child_event

LANGSMITH = {
    "traceloop.association.properties.ls_provider": "scripted",
    "traceloop.association.properties.ls_model_type": "chat",
    "traceloop.association.properties.ls_model_name": "scripted-chat-1",
    "traceloop.association.properties.ls_temperature": 0.2,
    "traceloop.association.properties.ls_max_tokens": 64,
    "traceloop.association.properties.ls_integration": "langchain_chat_model",
    "traceloop.association.properties.lc_versions": '{"langchain-core": "1.8.3"}',
}
"""LangChain's run metadata of a chat model call, as Traceloop records it."""

CHAT = {
    "traceloop.workflow.name": "RunnableSequence",
    "traceloop.entity.path": "",
    **LANGSMITH,
    "gen_ai.provider.name": "langchain",
    "gen_ai.operation.name": "chat",
    "gen_ai.request.max_tokens": 64,
    "gen_ai.request.temperature": 0.2,
    "gen_ai.request.model": "unknown",
    "gen_ai.response.model": "unknown",
    "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Weather?"}]}]),
    "gen_ai.usage.input_tokens": 42,
    "gen_ai.usage.output_tokens": 9,
    "gen_ai.usage.total_tokens": 51,
    "gen_ai.output.messages": json.dumps(
        [{"role": "assistant", "parts": [{"type": "text", "content": "Sunny."}], "finish_reason": ""}]
    ),
}


def test_an_unknown_model_is_the_model_langchain_names() -> None:
    event = child_event(CHAT, name="ScriptedChatModel.chat")
    assert event["event_type"] == "model"
    assert event["config"]["model"] == "scripted-chat-1"
    # "unknown" is no model name: not the model that answered, and not kept beside LangChain's name.
    assert "response_model" not in event["metadata"]
    assert not {"gen_ai.request.model", "gen_ai.response.model"} & set(event["metadata"])


def test_the_langchain_placeholder_provider_is_the_provider_langchain_names() -> None:
    event = child_event(CHAT, name="ScriptedChatModel.chat")
    assert event["config"]["provider"] == "scripted"
    assert "gen_ai.provider.name" not in event["metadata"]


def test_an_unknown_model_without_langchain_s_name_is_no_model_but_kept() -> None:
    anonymous = {k: v for k, v in CHAT.items() if not k.endswith(("ls_model_name", "ls_provider"))}
    event = child_event(anonymous, name="ScriptedChatModel.chat")
    assert "model" not in event["config"] and "response_model" not in event["metadata"]
    assert (event["metadata"]["gen_ai.request.model"], event["metadata"]["gen_ai.response.model"]) == (
        "unknown", "unknown")
    assert "provider" not in event["config"] and event["metadata"]["gen_ai.provider.name"] == "langchain"


def test_an_unknown_request_model_leaves_the_model_to_the_answering_one() -> None:
    event = child_event({"gen_ai.operation.name": "chat", "gen_ai.request.model": "unknown",
                         "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.usage.input_tokens": 5})
    assert event["config"]["model"] == "gpt-4o-2024-08-06"
    assert event["metadata"]["response_model"] == "gpt-4o-2024-08-06"


def test_the_framework_named_as_provider_of_a_tool_span_is_kept() -> None:
    """On Traceloop's LangChain tool and task spans `gen_ai.provider.name = "langchain"` names the framework."""
    event = child_event({"gen_ai.operation.name": "execute_tool", "gen_ai.provider.name": "langchain",
                         "gen_ai.tool.name": "get_weather"})
    assert event["event_type"] == "tool"
    assert event["config"]["provider"] == "langchain"


def test_a_model_and_provider_traceloop_knows_are_kept() -> None:
    known = {**CHAT, "gen_ai.request.model": "gpt-4o-mini", "gen_ai.provider.name": "openai",
             "traceloop.association.properties.ls_model_name": "gpt-4o-mini",
             "traceloop.association.properties.ls_provider": "openai"}
    event = child_event(known, name="ChatOpenAI.chat")
    assert (event["config"]["model"], event["config"]["provider"]) == ("gpt-4o-mini", "openai")


def test_langchain_run_metadata_is_not_a_user_property_but_metadata() -> None:
    event = child_event({**CHAT, "traceloop.association.properties.user_id": "u-7"}, name="ScriptedChatModel.chat")
    assert event["user_properties"] == {"user_id": "u-7"}
    for key, value in LANGSMITH.items():
        assert event["metadata"][key] == value


def test_a_task_s_repeated_input_and_output_are_not_kept_twice() -> None:
    entity_input = json.dumps({"inputs": "What is the weather in Paris?", "tags": [], "metadata": {}, "kwargs": {}})
    entity_output = json.dumps({"outputs": "Sunny.", "kwargs": {"tags": []}})
    event = child_event(
        {
            "traceloop.span.kind": "task",
            "traceloop.entity.name": "RunnableSequence",
            "gen_ai.operation.name": "execute_task",
            "traceloop.entity.input": entity_input,
            "gen_ai.task.input": entity_input,
            "traceloop.entity.output": entity_output,
            "gen_ai.task.output": entity_output,
        },
        name="execute_task RunnableSequence",
    )
    assert event["inputs"] == json.loads(entity_input)
    assert event["outputs"] == json.loads(entity_output)
    assert "gen_ai.task.input" not in event["metadata"] and "gen_ai.task.output" not in event["metadata"]


def test_a_task_input_alone_is_kept() -> None:
    event = child_event({"traceloop.span.kind": "task", "gen_ai.task.input": '{"a": 1}'})
    assert event["metadata"]["gen_ai.task.input"] == '{"a": 1}'


def test_an_empty_finish_reason_is_no_finish_reason() -> None:
    """Traceloop reads finish reasons from `generation_info`, which chat models that put them in
    `response_metadata` leave empty: it records `"finish_reason": ""`."""
    event = child_event(CHAT, name="ScriptedChatModel.chat")
    assert event["outputs"] == {"role": "assistant", "content": "Sunny."}


def test_a_streamed_reply_s_unknown_role_is_the_assistant_s() -> None:
    """A streamed reply (`.stream()` / `.astream()`) is recorded with the role "unknown": it is the model's answer."""
    streamed = {**CHAT, "gen_ai.output.messages": json.dumps(
        [{"role": "unknown", "parts": [{"type": "text", "content": "Streaming answer here"}], "finish_reason": ""}])}
    event = child_event(streamed, name="ScriptedChatModel.chat")
    assert event["outputs"] == {"role": "assistant", "content": "Streaming answer here"}


def test_a_tool_result_recorded_as_the_json_of_its_text_blocks_is_their_text() -> None:
    """A `ToolMessage` whose content is a list of blocks (Anthropic's chat model) is recorded as their JSON."""
    history = [
        {"role": "user", "parts": [{"type": "text", "content": "Weather?"}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "toolu_1",
                                    "response": '[{"type": "text", "text": "sunny"}]'}]},
    ]
    event = child_event({**CHAT, "gen_ai.input.messages": json.dumps(history)}, name="ChatAnthropic.chat")
    assert event["inputs"]["chat_history"][1] == {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"}


def test_a_tool_result_that_merely_looks_like_json_stays_as_it_came() -> None:
    history = [{"role": "tool", "parts": [{"type": "tool_call_response", "id": "t", "response": "[1, 2]"}]}]
    event = child_event({**CHAT, "gen_ai.input.messages": json.dumps(history)}, name="ChatAnthropic.chat")
    assert event["inputs"]["chat_history"] == [{"role": "tool", "tool_call_id": "t", "content": "[1, 2]"}]


# A chat model's content blocks other than text (`langchain-anthropic`'s `tool_use` and `thinking`, LangChain's own
# `tool_call` and `reasoning` blocks) are recorded by Traceloop as text parts holding the block's JSON, beside the
# `tool_call` parts it makes of the message's `tool_calls`.
TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
TOOL_CALL_PART = {"type": "tool_call", "id": "toolu_1", "name": "get_weather", "arguments": {"city": "Paris"}}
WEATHER_CALL = {"id": "toolu_1", "type": "function",
                "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}


def _text(block: dict[str, Any]) -> dict[str, str]:
    return {"type": "text", "content": json.dumps(block)}


def _answer(*parts: dict[str, Any]) -> dict[str, Any]:
    return {**CHAT, "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": list(parts),
                                                            "finish_reason": ""}])}


def test_a_tool_use_block_is_the_tool_call_it_repeats_not_text() -> None:
    event = child_event(_answer(_text(TOOL_USE), TOOL_CALL_PART), name="ChatAnthropic.chat")
    assert event["outputs"] == {"role": "assistant", "tool_calls": [WEATHER_CALL]}


def test_a_tool_use_block_beside_text_leaves_the_text_alone() -> None:
    event = child_event(_answer({"type": "text", "content": "Let me check."}, _text(TOOL_USE), TOOL_CALL_PART),
                        name="ChatAnthropic.chat")
    assert event["outputs"] == {"role": "assistant", "content": "Let me check.", "tool_calls": [WEATHER_CALL]}


def test_a_tool_use_block_alone_is_a_tool_call() -> None:
    event = child_event(_answer(_text(TOOL_USE)), name="ChatAnthropic.chat")
    assert event["outputs"] == {"role": "assistant", "tool_calls": [WEATHER_CALL]}


def test_langchain_s_own_tool_call_block_is_a_tool_call_too() -> None:
    block = {"type": "tool_call", "id": "toolu_1", "name": "get_weather", "args": {"city": "Paris"}}
    event = child_event(_answer(_text(block), TOOL_CALL_PART), name="ChatAnthropic.chat")
    assert event["outputs"] == {"role": "assistant", "tool_calls": [WEATHER_CALL]}


def test_a_tool_use_block_in_the_history_is_the_assistant_s_tool_call() -> None:
    history = [{"role": "user", "parts": [{"type": "text", "content": "Weather?"}]},
               {"role": "assistant", "parts": [_text(TOOL_USE), TOOL_CALL_PART]}]
    event = child_event({**CHAT, "gen_ai.input.messages": json.dumps(history)}, name="ChatAnthropic.chat")
    assert event["inputs"]["chat_history"][1] == {"role": "assistant", "tool_calls": [WEATHER_CALL]}


def test_a_thinking_block_is_a_reasoning_part() -> None:
    thinking = {"type": "thinking", "thinking": "6*7=42.", "signature": "sig"}
    event = child_event(_answer(_text(thinking), {"type": "text", "content": "42"}), name="ChatAnthropic.chat")
    assert event["outputs"] == {"role": "assistant", "content": "42",
                                "parts": [{"type": "reasoning", "content": "6*7=42.", "signature": "sig"}]}


def test_text_that_is_json_of_no_known_block_stays_text() -> None:
    for text in ('{"type": "note", "text": "hi"}', '{"type": "tool_use"', '{"type": "tool_use", "id": 1}'):
        event = child_event(_answer({"type": "text", "content": text}), name="ChatAnthropic.chat")
        assert event["outputs"] == {"role": "assistant", "content": text}
