"""`opentelemetry-instrumentation-google-genai`'s tool spans (automatic function calling): the wrapped function's
arguments, recorded one parameter at a time as `code.function.parameters.{name}.value` and `.type`.

Up to 0.7 (opentelemetry-python-contrib) they are span attributes, beside `code.function.return.value`; from 1.0
(opentelemetry-python-genai, on opentelemetry-util-genai) the same keys are one JSON object in
`gen_ai.tool.call.arguments`, and the return value, JSON-encoded, is `gen_ai.tool.call.result` (read by genai.py,
with `tool_arguments` below). A parameter's name is the function's own, or `args[{i}]` for an extra positional
argument. Without these rules the inputs of every such tool event were the instrumentation's keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from otel_honeyhive.core.jsonable import jsonable
from otel_honeyhive.mapper.rules import NOT_MODEL, Candidate, Convention, Extract, Field, Group, SpanFacts
from otel_honeyhive.mapper.values import as_bucket, maybe_json

PARAMETERS = "code.function.parameters."
_ARGUMENTS = "gen_ai.tool.call.arguments"
_as_arguments = as_bucket("arguments")


def _parameter(key: str) -> tuple[str, str]:
    """`code.function.parameters.{name}.value` (or `.type`) → (name, "value"); ("", "") for any other key. A name
    may hold dots (a keyword argument passed as `**{"a.b": 1}`): the field is what follows the last one."""
    if not key.startswith(PARAMETERS):
        return "", ""
    name, _, field = key[len(PARAMETERS) :].rpartition(".")
    if not name or field not in ("value", "type"):
        return "", ""
    return name, field


def tool_arguments(value: Any) -> dict[str, Any]:
    """`gen_ai.tool.call.arguments` as the `inputs` bucket: a JSON object as it is, except the google-genai
    instrumentation's parameter keys, which become `{name: value}` (their types go to `metadata.parameter_types`);
    any other key stays as it came."""
    bucket: dict[str, Any] = _as_arguments(value)
    if not any(k.startswith(PARAMETERS) for k in bucket):
        return bucket
    out: dict[str, Any] = {}
    for key, item in bucket.items():
        name, field = _parameter(key)
        if field == "value":
            out[name] = item
        elif not field:
            out[key] = item
    return out


def _types(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, item in items:
        name, field = _parameter(key)
        if field == "type":
            found[name] = jsonable(item)
    return found


def _argument_types(facts: SpanFacts) -> tuple[Candidate, ...]:
    """The parameter types 1.x records inside `gen_ai.tool.call.arguments` (the converter above keeps the values)."""
    if facts.event_type not in NOT_MODEL:
        return ()
    value = facts.span.attributes.get(_ARGUMENTS)
    if not isinstance(value, str) or PARAMETERS not in value:
        return ()
    parsed = maybe_json(value)
    types = _types(parsed.items()) if isinstance(parsed, dict) else {}
    if not types:
        return ()
    return (Candidate("metadata.parameter_types", types, 1, _ARGUMENTS, keep_if_shadowed=False),)


def _is_value(suffix: str) -> bool:
    return len(suffix) > 6 and suffix.endswith(".value")


def _is_type(suffix: str) -> bool:
    return len(suffix) > 5 and suffix.endswith(".type")


def _values(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`{name}.value` attributes (a value that is not a primitive or a list of them arrives JSON-encoded)."""
    return {suffix[: -len(".value")]: maybe_json(value) for suffix, value in pairs}


def _type_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {suffix[: -len(".type")]: jsonable(value) for suffix, value in pairs}


CONVENTION: Convention = Convention(
    name="google_genai",
    description="the google-genai instrumentation's tool spans (code.function.*)",
    rules=(
        Group(PARAMETERS, "inputs", _values, rank=4, only=NOT_MODEL, accept=_is_value,
              label=PARAMETERS + "{name}.value"),
        Group(PARAMETERS, "metadata.parameter_types", _type_names, rank=1, only=NOT_MODEL, accept=_is_type,
              label=PARAMETERS + "{name}.type"),
        Extract("argument_types", _argument_types, f"`{PARAMETERS}{{name}}.type` keys inside `{_ARGUMENTS}`",
                ("metadata.parameter_types",), rank=1, keys=(_ARGUMENTS,)),
        Field("code.function.return.value", "outputs", rank=4, convert=as_bucket("result"), only=NOT_MODEL),
    ),
)
