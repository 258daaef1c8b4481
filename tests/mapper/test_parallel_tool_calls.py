"""Parallel tool calls recorded one message per call are one turn (docs/mapping.md, "Value normalisation":
messages).

Traceloop's OpenAI Agents instrumentation (`opentelemetry-instrumentation-openai-agents` 0.62) records each
`function_call` item of a Responses-API turn as a message of its own, in the output of the turn that made the calls
and in the input history of the next request; OpenInference's (`openinference-instrumentation-openai-agents` 2.6)
does the same in the input history. The attribute values are those of a real run of an agent that called
`lookup_invoice` and `refund` in one turn.
"""

from __future__ import annotations

import json
from typing import Any

from otel_honeyhive.mapper.messages import output_from_messages
from tests.mapper.otel import child_event

LOOKUP = {"type": "tool_call", "name": "lookup_invoice", "id": "call_2", "arguments": {"invoice_id": "INV-7"}}
REFUND = {"type": "tool_call", "name": "refund", "id": "call_3", "arguments": {"invoice_id": "INV-7", "amount": 42.0}}
OUTPUT_MESSAGES = [
    {"role": "assistant", "parts": [LOOKUP], "finish_reason": "tool_call"},
    {"role": "assistant", "parts": [REFUND], "finish_reason": "tool_call"},
]
SPAN: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.temperature": 0.1,
    "gen_ai.request.top_p": 1.0,
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.response.id": "resp_6",
    "gen_ai.output.messages": json.dumps(OUTPUT_MESSAGES),
    "gen_ai.response.finish_reasons": ("tool_call",),
    "gen_ai.usage.input_tokens": 20,
    "gen_ai.usage.output_tokens": 7,
}
LOOKUP_CALL = {"id": "call_2", "type": "function",
               "function": {"name": "lookup_invoice", "arguments": {"invoice_id": "INV-7"}}}
REFUND_CALL = {"id": "call_3", "type": "function",
               "function": {"name": "refund", "arguments": {"invoice_id": "INV-7", "amount": 42.0}}}


def test_the_calls_of_one_turn_are_one_output_with_both_calls() -> None:
    event = child_event(SPAN, name="openai.response")
    assert event["outputs"] == {"role": "assistant", "tool_calls": [LOOKUP_CALL, REFUND_CALL],
                                "finish_reason": "tool_call"}


def test_they_stay_choices_when_the_span_asked_for_several() -> None:
    """`n` / `candidate_count` > 1 (`gen_ai.request.choice.count`, set by the official instrumentations): each
    message is a choice of its own."""
    event = child_event({**SPAN, "gen_ai.request.choice.count": 2}, name="openai.response")
    assert event["outputs"]["tool_calls"] == [LOOKUP_CALL]
    assert [c["tool_calls"] for c in event["outputs"]["choices"]] == [[LOOKUP_CALL], [REFUND_CALL]]
    assert event["config"]["hyperparameters"]["choice_count"] == 2  # still a generation setting


def test_a_choice_count_of_one_merges_them_as_none_does() -> None:
    event = child_event({**SPAN, "gen_ai.request.choice.count": 1}, name="openai.response")
    assert event["outputs"]["tool_calls"] == [LOOKUP_CALL, REFUND_CALL]
    assert "choices" not in event["outputs"]


def test_messages_with_text_stay_choices() -> None:
    """Only assistant messages carrying nothing but tool calls are merged: an answer with text is a choice."""
    with_text = [{"role": "assistant", "parts": [{"type": "text", "content": "Looking."}, LOOKUP],
                  "finish_reason": "tool_call"}, OUTPUT_MESSAGES[1]]
    event = child_event({**SPAN, "gen_ai.output.messages": json.dumps(with_text)}, name="openai.response")
    assert len(event["outputs"]["choices"]) == 2


def test_messages_at_different_choice_indexes_stay_choices() -> None:
    messages = [{"role": "assistant", "tool_calls": [LOOKUP_CALL], "index": 0},
                {"role": "assistant", "tool_calls": [REFUND_CALL], "index": 1}]
    assert len(output_from_messages(messages)["choices"]) == 2


HISTORY = [
    {"role": "system", "parts": [{"type": "text", "content": "You handle billing."}]},
    {"role": "user", "parts": [{"type": "text", "content": "Refund invoice INV-7 please"}]},
    {"role": "assistant", "parts": [{**LOOKUP, "id": "fc_2"}]},
    {"role": "assistant", "parts": [{**REFUND, "id": "fc_3"}]},
    {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_2",
                                "response": "invoice INV-7: 42 EUR, paid"}]},
    {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_3", "response": "An error occurred."}]},
]
EXPECTED_HISTORY = [
    {"role": "system", "content": "You handle billing."},
    {"role": "user", "content": "Refund invoice INV-7 please"},
    {"role": "assistant", "tool_calls": [{**LOOKUP_CALL, "id": "fc_2"}, {**REFUND_CALL, "id": "fc_3"}]},
    {"role": "tool", "tool_call_id": "call_2", "content": "invoice INV-7: 42 EUR, paid"},
    {"role": "tool", "tool_call_id": "call_3", "content": "An error occurred."},
]


def test_in_the_next_request_s_history_the_calls_are_one_assistant_turn() -> None:
    event = child_event({**SPAN, "gen_ai.input.messages": json.dumps(HISTORY)}, name="openai.response")
    assert event["inputs"]["chat_history"] == EXPECTED_HISTORY


def test_openinference_s_history_gets_the_same_turn() -> None:
    attrs: dict[str, Any] = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini-2024-07-18"}
    for i, (role, content) in enumerate([("system", "You handle billing."), ("user", "Refund invoice INV-7 please")]):
        attrs[f"llm.input_messages.{i}.message.role"] = role
        attrs[f"llm.input_messages.{i}.message.content"] = content
    for i, call in ((2, LOOKUP), (3, REFUND)):
        prefix = f"llm.input_messages.{i}.message."
        attrs[prefix + "role"] = "assistant"
        attrs[prefix + "tool_calls.0.tool_call.id"] = f"fc_{i}"
        attrs[prefix + "tool_calls.0.tool_call.function.name"] = call["name"]
        attrs[prefix + "tool_calls.0.tool_call.function.arguments"] = json.dumps(call["arguments"])
    event = child_event(attrs, name="response")
    assert event["inputs"]["chat_history"][2:] == [{"role": "assistant", "tool_calls": [
        {"type": "function", "id": "fc_2",
         "function": {"name": "lookup_invoice", "arguments": '{"invoice_id": "INV-7"}'}},
        {"type": "function", "id": "fc_3",
         "function": {"name": "refund", "arguments": '{"invoice_id": "INV-7", "amount": 42.0}'}},
    ]}]


def test_assistant_turns_with_more_than_tool_calls_are_not_merged() -> None:
    """A turn with text, or a name, is a turn of its own."""
    history = [{"role": "assistant", "parts": [{"type": "text", "content": "First."}, LOOKUP]},
               {"role": "assistant", "parts": [REFUND]},
               {"role": "assistant", "name": "billing", "parts": [LOOKUP]}]
    event = child_event({**SPAN, "gen_ai.input.messages": json.dumps(history)}, name="openai.response")
    assert len(event["inputs"]["chat_history"]) == 3
