"""`opentelemetry-instrumentation-google-genai`'s tool spans (automatic function calling) through the routing
table: the wrapped function's arguments, recorded as `code.function.parameters.{name}.value` / `.type`.

The attributes are those the instrumentation records: 1.1b1 (`tool_call_wrapper.py` on opentelemetry-util-genai)
JSON-encodes the parameter keys into `gen_ai.tool.call.arguments` and the return value into
`gen_ai.tool.call.result`; 0.x (opentelemetry-python-contrib) sets them as span attributes, with
`code.function.return.value`.
"""

from __future__ import annotations

import json

from tests.mapper.otel import child_event

TOOL = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.description": "Weather in a city."}


def test_recorded_parameters_are_the_inputs_by_name() -> None:
    arguments = {"code.function.parameters.city.type": "str", "code.function.parameters.city.value": "Paris",
                 "code.function.parameters.days.type": "int", "code.function.parameters.days.value": 3}
    event = child_event({**TOOL, "gen_ai.tool.call.arguments": json.dumps(arguments),
                         "gen_ai.tool.call.result": json.dumps({"weather": "sunny in Paris"})})
    assert event["event_type"] == "tool"
    assert event["inputs"] == {"city": "Paris", "days": 3}
    assert event["outputs"] == {"weather": "sunny in Paris"}
    assert event["metadata"]["parameter_types"] == {"city": "str", "days": "int"}
    assert "gen_ai.tool.call.arguments" not in event["metadata"]


def test_a_parameter_name_may_hold_dots_and_values_may_be_objects() -> None:
    arguments = {"code.function.parameters.a.b.type": "dict", "code.function.parameters.a.b.value": {"x": [1]},
                 "code.function.parameters.args[1].type": "str", "code.function.parameters.args[1].value": "extra"}
    event = child_event({**TOOL, "gen_ai.tool.call.arguments": json.dumps(arguments)})
    assert event["inputs"] == {"a.b": {"x": [1]}, "args[1]": "extra"}
    assert event["metadata"]["parameter_types"] == {"a.b": "dict", "args[1]": "str"}


def test_other_keys_beside_recorded_parameters_stay_as_they_are() -> None:
    arguments = {"code.function.parameters.city.value": "Paris", "code.function.parameters.odd": 1, "note": "x"}
    event = child_event({**TOOL, "gen_ai.tool.call.arguments": json.dumps(arguments)})
    assert event["inputs"] == {"city": "Paris", "code.function.parameters.odd": 1, "note": "x"}
    assert "parameter_types" not in event["metadata"]


def test_plain_arguments_are_untouched() -> None:
    event = child_event({**TOOL, "gen_ai.tool.call.arguments": '{"city": "Paris"}'})
    assert event["inputs"] == {"city": "Paris"}
    assert "parameter_types" not in event["metadata"]


def test_a_returned_text_is_the_result() -> None:
    event = child_event({**TOOL, "gen_ai.tool.call.arguments": '{"code.function.parameters.city.value": "Rome"}',
                         "gen_ai.tool.call.result": json.dumps("sunny in Rome")})
    assert (event["inputs"], event["outputs"]) == ({"city": "Rome"}, {"result": "sunny in Rome"})


def test_parameters_recorded_as_span_attributes_are_the_inputs_too() -> None:
    """0.x: one attribute per parameter (a value that is not a primitive arrives JSON-encoded)."""
    event = child_event({
        **TOOL,
        "code.function.name": "get_weather",
        "code.function.parameters.city.type": "str",
        "code.function.parameters.city.value": "Paris",
        "code.function.parameters.options.type": "dict",
        "code.function.parameters.options.value": json.dumps({"units": "metric"}),
        "code.function.return.type": "dict",
        "code.function.return.value": json.dumps({"weather": "sunny"}),
    })
    assert event["inputs"] == {"city": "Paris", "options": {"units": "metric"}}
    assert event["outputs"] == {"weather": "sunny"}
    assert event["metadata"]["parameter_types"] == {"city": "str", "options": "dict"}
    assert event["metadata"]["code.function.return.type"] == "dict"
    assert not [k for k in event["metadata"] if k.startswith("code.function.parameters.")]
    text = child_event({**TOOL, "code.function.return.value": "sunny"})
    assert text["outputs"] == {"result": "sunny"}


def test_without_content_only_the_types_are_recorded() -> None:
    event = child_event({**TOOL, "code.function.parameters.city.type": "str", "code.function.return.type": "str"})
    assert event["inputs"] == {}
    assert event["metadata"]["parameter_types"] == {"city": "str"}
