"""OpenInference's OpenAI Agents SDK instrumentation: the spans it really emits, attribute for attribute.

The attributes below were dumped from `openinference-instrumentation-openai-agents` 2.6.0 tracing an agent with
one function tool (`tests/instrumentors/agents_app.py`). Since 2.6 a function span also carries the tool's
definition: `tool.description`, and `tool.parameters`, the JSON schema of its parameters (OpenInference's own
`@tracer.tool` records the same: the schema, with the call's arguments in `input.value`). The arguments of the call
are `input.value` only, and only when the SDK includes sensitive data in its traces
(`RunConfig(trace_include_sensitive_data=False)` and `OPENINFERENCE_HIDE_INPUTS` leave them out).
"""

from __future__ import annotations

import json

from tests.mapper.otel import Event, child_event

SCHEMA = {
    "properties": {"city": {"title": "City", "type": "string"}},
    "required": ["city"],
    "title": "get_weather_args",
    "type": "object",
    "additionalProperties": False,
}
DEFINITION = {
    "openinference.span.kind": "TOOL",
    "tool.name": "get_weather",
    "tool.description": "Current weather in a city.",
    "tool.parameters": json.dumps(SCHEMA),
}
CALL = {
    "input.value": '{"city":"Paris"}',
    "input.mime_type": "application/json",
    "output.value": "sunny, 21 C in Paris",
}


def test_a_function_tool_call_has_its_arguments_as_inputs_and_its_result_as_outputs() -> None:
    event = child_event({**DEFINITION, **CALL}, name="get_weather")
    assert event["event_type"] == "tool"
    assert event["inputs"] == {"city": "Paris"}
    assert event["outputs"] == {"result": "sunny, 21 C in Paris"}


def test_the_tools_parameter_schema_is_kept_in_metadata_not_taken_for_arguments() -> None:
    event = child_event({**DEFINITION, **CALL}, name="get_weather")
    assert event["metadata"]["tool.parameters"] == SCHEMA
    assert event["metadata"]["tool.description"] == "Current weather in a city."


def test_without_the_arguments_the_tool_event_has_no_inputs_rather_than_the_schema() -> None:
    """Sensitive data off: the schema is all the span has, and it is not what the tool was called with."""
    event = child_event(DEFINITION, name="get_weather")
    assert event["event_type"] == "tool"
    assert event["inputs"] == {}
    assert event["outputs"] == {}
    assert event["metadata"]["tool.parameters"] == SCHEMA


# -- the Responses API model span: which request parameters are generation settings ---------------------------------

RESPONSE_PARAMETERS = {
    "id": "resp_5", "created_at": 1700000000.0, "instructions": "Route the user.", "metadata": {},
    "model": "gpt-4o-mini-2024-07-18", "parallel_tool_calls": True, "temperature": 1.0, "tool_choice": "auto",
    "top_p": 1.0, "reasoning": {}, "text": {"format": {"type": "text"}}, "truncation": "disabled", "store": True,
}
"""`llm.invocation_parameters` of a `response` span, as 2.6.0 records it (from the SDK's `Response`)."""
RESPONSE = {
    "openinference.span.kind": "LLM",
    "llm.system": "openai",
    "llm.model_name": "gpt-4o-mini-2024-07-18",
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": "Route the user.",
    "llm.token_count.prompt": 20,
}


def response_event(parameters: dict[str, object]) -> Event:
    return child_event({**RESPONSE, "llm.invocation_parameters": json.dumps(parameters)}, name="response")


def test_only_generation_settings_of_a_response_are_hyperparameters() -> None:
    """How the offered tools may be called (`tool_choice`, `parallel_tool_calls`), the response format
    (`text.format`) and how an overlong context is cut (`truncation`) are request parameters, not settings of the
    generation: they stay in `metadata.invocation_parameters`, as a GenAI span keeps them out too."""
    event = response_event(RESPONSE_PARAMETERS)
    assert event["config"]["hyperparameters"] == {"temperature": 1.0, "top_p": 1.0}
    assert event["metadata"]["invocation_parameters"] == {
        "id": "resp_5", "created_at": 1700000000.0, "parallel_tool_calls": True, "tool_choice": "auto",
        "text": {"format": {"type": "text"}}, "truncation": "disabled", "store": True}


def test_an_empty_setting_is_not_shipped() -> None:
    """`reasoning: {}` (no reasoning asked for) and the empty request `metadata` say nothing: neither is kept."""
    event = response_event(RESPONSE_PARAMETERS)
    assert "reasoning" not in event["config"]["hyperparameters"]
    assert "metadata" not in event["metadata"]["invocation_parameters"]


def test_reasoning_and_verbosity_asked_for_are_hyperparameters() -> None:
    """What was asked of the model's reasoning and the answer's verbosity shape the generation; the text format
    beside the verbosity stays a request parameter. Null fields are not settings."""
    event = response_event({**RESPONSE_PARAMETERS, "reasoning": {"effort": "high", "summary": None},
                            "text": {"format": {"type": "text"}, "verbosity": "low"}})
    hyperparameters = event["config"]["hyperparameters"]
    assert hyperparameters["reasoning"] == {"effort": "high"}
    assert hyperparameters["text"] == {"verbosity": "low"}
    assert event["metadata"]["invocation_parameters"]["text"] == {"format": {"type": "text"}}
