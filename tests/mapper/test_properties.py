"""Property: whatever attributes a span carries, mapping never raises, and yields strict-JSON events with valid,
consistent ids."""

from __future__ import annotations

import json
import uuid
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import Span
from opentelemetry.trace import Status, StatusCode

from otel_honeyhive import spans_to_events
from otel_honeyhive.core.spans import from_readable_span
from otel_honeyhive.mapper.ruleset import Ruleset
from tests.mapper.otel import Otel

KNOWN_KEYS = [
    "honeyhive_event_type", "honeyhive_event_name", "honeyhive_session_name", "honeyhive_error", "honeyhive_user_id",
    "honeyhive.session_id", "honeyhive_session_id", "honeyhive.parent_id", "honeyhive_parent_id", "honeyhive_event_id",
    "honeyhive_inputs", "honeyhive_inputs.a", "honeyhive_inputs.a.b", "honeyhive_inputs.a.0", "honeyhive_inputs.a.1",
    "honeyhive_outputs.result", "honeyhive_config.model", "honeyhive_metadata.prompt_tokens", "honeyhive_metrics",
    "honeyhive_duration_ms", "honeyhive.project", "honeyhive.source",
    "openinference.span.kind", "gen_ai.operation.name", "llm.request.type", "traceloop.span.kind",
    "gen_ai.tool.name", "gen_ai.agent.name", "gen_ai.request.model", "llm.model_name", "llm.request.model_name",
    "embedding.model_name", "gen_ai.response.model", "gen_ai.provider.name", "gen_ai.system", "llm.provider",
    "gen_ai.request.temperature", "gen_ai.request.stop_sequences", "llm.invocation_parameters",
    "gen_ai.tool.definitions", "llm.tools.0.tool.json_schema", "llm.request.functions.0.name",
    "llm.request.functions.0.parameters", "gen_ai.input.messages", "gen_ai.system_instructions",
    "gen_ai.output.messages", "gen_ai.prompt.0.role", "gen_ai.prompt.0.content", "gen_ai.prompt.10.content",
    "gen_ai.prompt.prompt_filter_results", "gen_ai.prompt.0", "gen_ai.completion.0.content",
    "gen_ai.completion.0.tool_calls.0.name", "gen_ai.completion.0.tool_calls.x.name",
    "llm.input_messages.0.message.role", "llm.input_messages.0.message.contents.0.message_content.text",
    "llm.input_messages.0.message.tool_calls.0.tool_call.function.name", "llm.output_messages.0.message.content",
    "llm.prompt_template.template", "llm.prompt_template.variables", "traceloop.prompt.template_variables",
    "traceloop.entity.input", "traceloop.entity.output", "input.value", "input.mime_type", "output.value",
    "output.mime_type", "tool.parameters", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
    "retrieval.documents.0.document.content", "retrieval.documents.0.document.metadata",
    "retrieval.documents.x", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.total_tokens",
    "llm.token_count.prompt", "llm.token_count.total", "llm.usage.total_tokens", "llm.cost.total",
    "gen_ai.usage.cost", "user.id", "gen_ai.user", "session.id", "gen_ai.conversation.id",
    "traceloop.association.properties.user_id", "traceloop.association.properties.session_id",
    "gen_ai.response.finish_reasons", "trace_id", "events", "metadata", "",
]

JSON_TEXTS = [
    '{"a": 1}', "[1, 2]", '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
    '[{"role": "assistant", "parts": [{"type": "tool_call", "id": 1, "name": null, "arguments": [1]}]}]',
    '[{"role": "tool", "parts": [{"type": "tool_call_response", "response": {"x": NaN}}]}]',
    '[{"role": "user", "parts": "not a list"}]', '[1, "two", null]', '{"args": [], "kwargs": {}}',
    '{"cut": "in ha', "[", "{}", "[]", '"quoted"', "18446744073709551616", "1e999", "null",
    '{"0": "a", "1": "b"}',
]

scalars = st.one_of(
    st.text(max_size=20),
    st.sampled_from(JSON_TEXTS),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(max_size=8),
    st.sampled_from(["", "  ", "0", "-1", "NaN", "1e3", "LLM", "chat", "tool", "model", "session",
                     "0F8B1A52-3C4D-4E5F-8A9B-0C1D2E3F4A5B", "application/json"]),
)
values = st.one_of(
    scalars,
    st.lists(st.text(max_size=5), max_size=3).map(tuple),
    st.lists(st.integers(min_value=-(2**70), max_value=2**70), max_size=3).map(tuple),
    st.lists(st.floats(), max_size=3).map(tuple),
    st.lists(st.booleans(), max_size=3).map(tuple),
    st.none(),
    st.dictionaries(st.text(min_size=1, max_size=5), scalars, max_size=3),
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=15),
                 st.sampled_from(KNOWN_KEYS).flatmap(lambda k: st.text(max_size=4).map(lambda s: k + "." + s)))
attribute_dicts = st.dictionaries(keys, values, max_size=12)
event_lists = st.lists(
    st.tuples(st.sampled_from(["exception", "gen_ai.user.message", "gen_ai.choice", "gen_ai.content.prompt",
                               "gen_ai.content.completion", "gen_ai.client.inference.operation.details", "other"]),
              st.dictionaries(st.sampled_from(["content", "message", "index", "gen_ai.prompt", "gen_ai.completion",
                                               "gen_ai.input.messages", "exception.type", "exception.message",
                                               "role", "tool_calls", "id"]), values, max_size=3)),
    max_size=3,
)


def _decorate(span: Span, events: list[tuple[str, dict[str, Any]]], status: str | None) -> None:
    for name, event_attrs in events:
        span.add_event(name, event_attrs)
    if status == "error":
        span.set_status(Status(StatusCode.ERROR, "failed"))
    elif status == "ok":
        span.set_status(Status(StatusCode.OK))


def _is_uuid(value: Any) -> bool:
    return isinstance(value, str) and str(uuid.UUID(value)) == value


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(attribute_dicts, event_lists, st.sampled_from([None, "unset", "ok", "error"])),
             min_size=1, max_size=4),
    st.booleans(),
)
def test_arbitrary_attributes_always_map_to_valid_json_events(
    spans: list[tuple[dict[str, Any], list[tuple[str, dict[str, Any]]], str | None]], nest: bool
) -> None:
    otel = Otel()
    with otel.span("root", spans[0][0], root=True) as root:
        parent = root
        for i, (attrs, events, _status) in enumerate(spans[1:]):
            with otel.span(f"span{i}", attrs, parent=parent) as span:
                _decorate(span, events, _status)
            if nest:
                parent = span
    readable = otel.spans()
    mapped = spans_to_events(readable)

    assert len(mapped) == len(readable)
    ids = [e["event_id"] for e in mapped]
    if not any("honeyhive_event_id" in attrs for attrs, _, _ in spans):  # the same explicit id may be reused
        assert len(set(ids)) == len(ids)
    sessions = {e["session_id"] for e in mapped}
    assert len(sessions) == 1
    for event in mapped:
        text = orjson.dumps(event)
        assert json.loads(json.dumps(event, allow_nan=False)) == json.loads(text)
        assert event["event_type"] in ("session", "model", "tool", "chain")
        assert _is_uuid(event["event_id"]) and _is_uuid(event["session_id"])
        assert event["parent_id"] is None or _is_uuid(event["parent_id"])
        assert all(_is_uuid(c) for c in event["children_ids"])
        for bucket in ("config", "inputs", "outputs", "metadata", "metrics", "feedback", "user_properties"):
            assert isinstance(event[bucket], dict)
        assert event["metadata"]["trace_id"] == f"{root.get_span_context().trace_id:032x}"
    by_id = {e["event_id"]: e for e in mapped}
    for event in mapped:
        if event["parent_id"] in by_id:
            assert event["event_id"] in by_id[event["parent_id"]]["children_ids"]
    # Deterministic: a second call gives the same events.
    assert spans_to_events(list(reversed(readable))) == mapped


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(attribute_dicts, event_lists, st.sampled_from([None, "ok", "error"]))
def test_a_planned_route_equals_the_general_loop(
    attrs: dict[str, Any], events: list[tuple[str, dict[str, Any]]], status: str | None
) -> None:
    """Routing replays a plan worked out per attribute-key layout; whatever the span, the event is the one the
    general rule loop makes (the plan for a layout is built on the first span and reused on the second)."""
    otel = Otel()
    with otel.span("root", {}, root=True) as root:
        for _ in range(2):
            with otel.span("span", attrs, parent=root) as span:
                _decorate(span, events, status)
    ruleset = Ruleset.default()
    for view in [from_readable_span(s) for s in otel.spans() if s.name == "span"]:
        for event_type in ("session", "model", "tool", "chain"):
            planned, general = _blank(), _blank()
            ruleset.route(view, event_type, planned)
            ruleset.route_generally(view, event_type, general)
            assert planned == general
            assert orjson.dumps(planned, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
                general, option=orjson.OPT_SORT_KEYS
            )


def _blank() -> dict[str, Any]:
    return {"event_name": "span", "error": None, "config": {}, "inputs": {}, "outputs": {}, "metadata": {},
            "metrics": {}, "feedback": {}, "user_properties": {}}
