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

from tests.mapper.otel import child_event

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
