"""The reverse direction, `events_to_spans`, and both round trips (issue 5).

- event → span → event is the identity on every field of the event;
- span → event → span keeps trace id, span id, parent, name, times (to the millisecond), status, and every
  attribute's information.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import StatusCode

from otel_honeyhive import spans_to_events
from otel_honeyhive.mapper.reverse import Lineage, events_to_spans, span_id_for_event_id
from otel_honeyhive.mapper.values import parse_json, to_int
from tests.support.spans import Recorder

# -- strategies ---------------------------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
buckets = st.dictionaries(st.text(max_size=12), json_values, max_size=5)
uuids = st.uuids().map(str)
times = st.integers(min_value=1_500_000_000_000, max_value=2_000_000_000_000)


@st.composite
def event_bodies(draw: st.DrawFn, event_type: str) -> dict[str, Any]:
    event: dict[str, Any] = {"event_type": event_type}
    for bucket in ("config", "inputs", "outputs", "metadata", "metrics", "feedback", "user_properties"):
        if draw(st.booleans()):
            event[bucket] = draw(buckets)
    event["inputs"] = event.get("inputs", {})
    if draw(st.booleans()):
        event["event_name"] = draw(st.text(min_size=1, max_size=20))
    if draw(st.booleans()):
        event["source"] = draw(st.sampled_from(["playground", "production", "sdk-python"]))
    if draw(st.booleans()):
        event["project"] = draw(st.text(min_size=1, max_size=10))
    start = draw(times)
    if draw(st.booleans()):
        event["start_time"] = start
        event["end_time"] = start + draw(st.integers(min_value=0, max_value=10**6))
        event["duration"] = draw(st.floats(min_value=0, max_value=10**6, allow_nan=False))
    event["error"] = draw(st.none() | st.text(min_size=1, max_size=20))
    if event_type == "model" and draw(st.booleans()):
        event["config"] = {**event.get("config", {}), "model": "gpt-4o", "provider": "openai"}
        event["inputs"]["chat_history"] = [{"role": "user", "content": draw(st.text(max_size=20))}]
        event["outputs"] = {"role": "assistant", "content": draw(st.text(max_size=20))}
        event["metadata"] = {**event.get("metadata", {}), "prompt_tokens": 3, "completion_tokens": 5}
    return event


@st.composite
def sessions(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A session event and a tree of model/tool/chain events under it, with HoneyHive's own (uuid4) ids."""
    session_id = draw(uuids)
    session = {**draw(event_bodies("session")), "session_id": session_id, "event_id": session_id, "parent_id": None}
    events = [session]
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        parent = draw(st.sampled_from(events))
        child = {
            **draw(event_bodies(draw(st.sampled_from(["model", "tool", "chain"])))),
            "session_id": session_id,
            "event_id": draw(uuids),
            "parent_id": parent["event_id"],
        }
        events.append(child)
    if draw(st.booleans()):
        for event in events:
            event["children_ids"] = [e["event_id"] for e in events if e.get("parent_id") == event["event_id"]]
    return events


def attributes(span: ReadableSpan) -> Mapping[str, Any]:
    """A span's attributes: `events_to_spans` always sets them, so None here is a failure, not an empty map."""
    assert span.attributes is not None
    return span.attributes


def by_id(events: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["event_id"]: e for e in events}


# -- event → span → event -----------------------------------------------------------------------------------------


@pytest.mark.slow
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(sessions())
def test_event_to_span_to_event_is_the_identity(events: list[dict[str, Any]]) -> None:
    back = spans_to_events(events_to_spans(events))
    assert by_id(back) == by_id(events)
    assert len(back) == len(events)


@given(sessions())
def test_spans_made_from_events_have_real_structure(events: list[dict[str, Any]]) -> None:
    spans = {attributes(s)["honeyhive_event_id"]: s for s in events_to_spans(events)}
    session_id = events[0]["session_id"]
    for event in events:
        span = spans[event["event_id"]]
        assert span.context.trace_id == uuid.UUID(session_id).int, "one trace per session"
        assert span.context.span_id == span_id_for_event_id(event["event_id"])
        if event["parent_id"] is None:
            assert span.parent is None
        else:
            assert span.parent is not None
            assert span.parent.span_id == spans[event["parent_id"]].context.span_id
        assert span.name == event.get("event_name", "unknown")
        assert (span.status.status_code is StatusCode.ERROR) == bool(event.get("error"))
        if "start_time" in event:
            assert span.start_time == event["start_time"] * 1_000_000
            assert span.end_time == event["end_time"] * 1_000_000


def test_model_events_carry_genai_attributes_for_otel_backends() -> None:
    (model,) = events_to_spans([DATA_MODEL_EXAMPLES[1]])
    attrs = attributes(model)
    assert attrs["gen_ai.request.model"] == "gpt-3.5-turbo"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.usage.input_tokens"] == 35 and attrs["gen_ai.usage.output_tokens"] == 23
    messages = json.loads(attrs["gen_ai.input.messages"])
    assert messages[1] == {"role": "user", "parts": [{"type": "text", "content": "What is in the context?"}]}
    output = json.loads(attrs["gen_ai.output.messages"])
    assert output == [{"role": "assistant", "parts": [{"type": "text", "content": "Hello world"}]}]


# The examples of HoneyHive's API reference (create-event and the events data model), long texts shortened.
DATA_MODEL_EXAMPLES: list[dict[str, Any]] = [
    {
        "source": "evaluation", "project_id": "65e0fc2d6a2eb95f55a92cbc",
        "session_id": "d22c2b1d-b2cf-4593-b489-bb9ed2841d13", "event_id": "d22c2b1d-b2cf-4593-b489-bb9ed2841d13",
        "parent_id": None,
        "children_ids": ["441de3d0-5e73-4351-ad05-5c60886937d1", "7f22137a-6911-4ed3-bc36-110f1dde6b66"],
        "event_type": "session", "event_name": "Ramp Docs Assistant",
        "start_time": 1710161932.7, "end_time": 1710147613.894, "duration": 80509.507,
        "config": {"app_version": "1.0.1"},
        "inputs": {"question": "How do I build an integration using Ramp API?",
                   "chat_history": [{"role": "system", "content": "Answer only using provided context."},
                                    {"role": "user", "content": "How do I build an integration using Ramp API?"}]},
        "outputs": {"content": "To build an integration using Ramp API, you need to: ..."},
        "metrics": {"output_length": 394}, "feedback": {"rating": 5},
        "metadata": {"num_events": 2, "num_model_events": 1, "has_feedback": True, "cost": 0, "total_tokens": 305,
                     "prompt_tokens": 203, "completion_tokens": 102},
        "user_properties": {"user_id": "user_123", "user_tier": "free"}, "error": None,
    },
    {
        "project": "Simple RAG", "event_type": "model", "event_name": "Model Completion", "source": "playground",
        "session_id": "d22c2b1d-b2cf-4593-b489-bb9ed2841d13", "event_id": "7f22137a-6911-4ed3-bc36-110f1dde6b66",
        "parent_id": "d22c2b1d-b2cf-4593-b489-bb9ed2841d13", "children_ids": [],
        "config": {"model": "gpt-3.5-turbo", "version": "v0.1", "provider": "openai",
                   "hyperparameters": {"temperature": 0, "top_p": 1, "max_tokens": 1000, "presence_penalty": 0,
                                       "frequency_penalty": 0, "stop": [], "n": 1},
                   "template": [{"role": "system", "content": "Context: {{ context }}"},
                                {"role": "user", "content": "{{question}}"}],
                   "type": "chat"},
        "inputs": {"context": "Hello world", "question": "What is in the context?",
                   "chat_history": [{"role": "system", "content": "Context: Hello world"},
                                    {"role": "user", "content": "What is in the context?"}]},
        "outputs": {"role": "assistant", "content": "Hello world"}, "error": None,
        "start_time": 1714978764301, "end_time": 1714978765301, "duration": 999.8056,
        "metadata": {"cost": 0.00008, "completion_tokens": 23, "prompt_tokens": 35, "total_tokens": 58},
        "feedback": {}, "metrics": {"Answer Faithfulness": 5, "Number of words": 18},
        "user_properties": {"user": "google-oauth2|111840237613341303366"},
    },
    {
        "source": "evaluation", "project_id": "65e0fc2d6a2eb95f55a92cbc",
        "session_id": "d22c2b1d-b2cf-4593-b489-bb9ed2841d13", "event_id": "441de3d0-5e73-4351-ad05-5c60886937d1",
        "parent_id": "d22c2b1d-b2cf-4593-b489-bb9ed2841d13", "children_ids": [],
        "event_name": "Ramp Docs Retriever", "event_type": "tool", "config": {"provider": "pinecone"},
        "inputs": {"question": "How do I build an integration using Ramp API?"},
        "outputs": {"content": "Getting started\nWelcome to the Ramp API."},
        "start_time": 1710147532.796, "end_time": 1710147533.133, "duration": 337.009,
        "metrics": {"Context Relevance": 5}, "feedback": {}, "metadata": {}, "user_properties": {}, "error": None,
    },
    {
        "source": "development", "project_id": "64d69442f9fa4485aa1cc582",
        "event_id": "52f22f37-289c-4718-bc40-0231cc5c7a99", "session_id": "fa78fb31-5bf9-4717-bca1-88fee7fb026b",
        "parent_id": "fa78fb31-5bf9-4717-bca1-88fee7fb026b",
        "children_ids": ["a809865a-8663-4201-b70b-7f4fc355175b", "8af7a04a-e91e-4f42-b345-29eeb614e3e1"],
        "event_type": "chain", "event_name": "query",
        "config": {"name": "query_rewriter_v1", "description": "Rewrite the query to improve retriever performance"},
        "inputs": {"query_str": "What did the author do growing up?"},
        "outputs": {"rewritten_query": "What did Paul Graham do growing up?"},
        "start_time": 1710244017.942, "end_time": 1710244019.976, "duration": 2033.809,
        "metrics": {}, "feedback": {}, "metadata": {"total_tokens": 10, "num_events": 2},
        "user_properties": {}, "error": None,
    },
]


def test_the_api_pages_examples_survive_the_round_trip() -> None:
    back = spans_to_events(events_to_spans(DATA_MODEL_EXAMPLES))
    assert by_id(back) == by_id(DATA_MODEL_EXAMPLES)


@given(st.integers(-(2**63), 2**64 - 1) | st.floats(-1e20, 1e20), st.integers(0, 2**64 - 1))  # what JSON parsers hold
def test_times_otlp_cannot_carry_still_give_encodable_spans_and_survive_the_round_trip(
    start: float, duration: int,
) -> None:
    """OTLP times are unsigned 64-bit nanoseconds; an event's milliseconds may be anything JSON holds (a bad
    clock, a year-9999 placeholder). The span then gets a time OTLP can carry, and the event its own back."""
    event = {**DATA_MODEL_EXAMPLES[0], "start_time": start, "duration": duration}
    event.pop("end_time", None)
    spans = events_to_spans([event])
    encode_spans(spans).SerializeToString()  # what the OTLP exporters do; it refused such times before
    assert all(0 <= t <= 2**64 - 1 for s in spans for t in (s.start_time, s.end_time) if t is not None)
    (back,) = spans_to_events(spans)
    assert back["start_time"] == start and back["duration"] == duration


def test_a_chain_whose_session_is_elsewhere_keeps_its_parent() -> None:
    (span,) = events_to_spans([DATA_MODEL_EXAMPLES[3]])
    assert span.parent is not None
    assert span.parent.span_id == span_id_for_event_id("fa78fb31-5bf9-4717-bca1-88fee7fb026b")
    assert spans_to_events([span]) == [DATA_MODEL_EXAMPLES[3]]


def test_an_event_without_a_type_comes_back_as_a_span_mapped_like_any_other() -> None:
    """`events_to_spans` takes what it is given; a span whose carried event is not one HoneyHive takes (no type)
    is mapped by the conventions, never handed on broken (nor crashing the whole batch)."""
    event_id, session_id = str(uuid.uuid4()), str(uuid.uuid4())
    (event,) = spans_to_events(events_to_spans([{"event_id": event_id, "session_id": session_id}]))
    assert event["event_type"] in ("session", "model", "tool", "chain")


@given(st.sampled_from([
    {"event_name": "n"},  # a processor dropped the rest
    {"event_name": "n", "event_type": "tool"},  # no id
    {"event_name": "n", "event_type": "tool", "event_id": "not-a-uuid"},
    {"event_name": "n", "event_type": "gizmo", "event_id": "5e551011-0000-4000-8000-000000000001"},
    {"event_name": "n", "event_type": "tool", "event_id": "5e551011-0000-4000-8000-000000000001", "inputs": [1]},
]))
def test_a_span_marked_as_an_event_that_does_not_add_up_is_mapped_like_any_other(carried: dict[str, Any]) -> None:
    recorder = Recorder(scope="tests.reverse")
    with recorder.tracer.start_as_current_span("root"), recorder.tracer.start_as_current_span("marked") as marked:
        marked.set_attribute("honeyhive_event_origin", "event")
        marked.set_attribute("honeyhive_event", orjson.dumps(carried).decode())
    events = spans_to_events(recorder.spans())
    assert [e["event_name"] for e in events] == ["root", "marked"]
    assert all(e["event_type"] in ("session", "model", "tool", "chain") for e in events)
    assert events[1]["event_id"] != carried.get("event_id"), "its own id, not the broken one"


def test_a_root_under_an_explicit_session_comes_back_without_a_parent() -> None:
    """HoneyHive's SDK names the session on the root span: the root becomes a chain whose `parent_id` is the
    session, but the span it came from had no parent, and the way back must say so."""
    session = str(uuid.uuid4())
    recorder = Recorder(scope="tests.reverse")
    with recorder.tracer.start_as_current_span("agent-run") as root:
        root.set_attribute("honeyhive.session_id", session)
        with recorder.tracer.start_as_current_span("step"):
            pass
    spans = recorder.spans()
    events = spans_to_events(spans)
    chain = next(e for e in events if e["event_name"] == "agent-run")
    assert chain["parent_id"] == session  # forward: the chain sits under the session
    back = {s.name: s for s in events_to_spans(events)}
    original = {s.name: s for s in spans}
    assert back["agent-run"].parent is None
    step_parent = back["step"].parent
    assert step_parent is not None and step_parent.span_id == original["agent-run"].context.span_id
    def by_id(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(items, key=lambda e: e["event_id"])

    assert by_id(spans_to_events(list(back.values()))) == by_id(events)


# -- span → event → span ------------------------------------------------------------------------------------------

attribute_values = (
    st.text(max_size=20)
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.lists(st.text(max_size=5), max_size=3).map(tuple)
)
attribute_keys = st.sampled_from([
    "gen_ai.request.model", "gen_ai.usage.input_tokens", "gen_ai.operation.name", "gen_ai.prompt.0.content",
    "gen_ai.prompt.0.role", "traceloop.entity.input", "input.value", "user.id", "honeyhive_inputs.query",
    "app.custom", "http.method", "db.statement",
]) | st.text(alphabet="abcdefghij._", min_size=1, max_size=12)


class CountingIds(IdGenerator):
    """Deterministic ids (hypothesis forbids `random` inside strategies)."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def generate_span_id(self) -> int:
        return next(self._next)

    def generate_trace_id(self) -> int:
        return (next(self._next) << 64) | 0xABCDEF


@st.composite
def span_trees(draw: st.DrawFn) -> list[ReadableSpan]:
    recorder = Recorder(scope="tests.reverse", version="1.0", id_generator=CountingIds())
    tracer = recorder.tracer

    def make(depth: int) -> None:
        with tracer.start_as_current_span(draw(st.text(min_size=1, max_size=12))) as span:
            for key, value in draw(st.dictionaries(attribute_keys, attribute_values, max_size=6)).items():
                span.set_attribute(key, value)
            status = draw(st.sampled_from(["unset", "ok", "error"]))
            if status == "ok":
                span.set_status(trace.Status(trace.StatusCode.OK))
            elif status == "error":
                span.set_status(trace.Status(trace.StatusCode.ERROR, draw(st.text(min_size=1, max_size=10))))
            if depth < 2:
                for _ in range(draw(st.integers(min_value=0, max_value=2))):
                    make(depth + 1)

    make(0)
    return recorder.spans()


def leaves(value: Any) -> set[Any]:
    """Every scalar a value carries, looking inside JSON strings, lists and objects (keys included)."""
    found: set[Any] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.add(item)
            if item[:1] in "[{\"":
                with contextlib.suppress(orjson.JSONDecodeError):
                    stack.append(orjson.loads(item))
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        else:
            found.add(item)
    return found


def test_a_count_given_as_text_comes_back_as_the_number_it_says() -> None:
    """Found by the property test below: token counts are normalised (`to_int` reads text), so the text form of
    the attribute is not what the round trip keeps; the count is."""
    recorder = Recorder(scope="tests.reverse")
    with recorder.tracer.start_as_current_span("chat") as span:
        span.set_attribute("gen_ai.usage.input_tokens", "1")
    (event,) = spans_to_events(recorder.spans())
    assert event["metadata"]["prompt_tokens"] == 1
    (again,) = events_to_spans([event])
    assert carried_form("gen_ai.usage.input_tokens", "1") == {1} <= leaves(dict(attributes(again)))


COUNTS = frozenset({"gen_ai.usage.input_tokens"})
"""Keys (of `attribute_keys`) whose convention reads a count: text that says a number becomes that number."""


JSON_VALUES = frozenset({"traceloop.entity.input"})
"""Keys whose value is always a JSON document (`json_bucket`): text that is JSON comes back decoded (`'0'` → 0)."""


def carried_form(key: str, value: Any) -> set[Any]:
    """What must come back of an attribute: its leaves; for a count given as text, the count (`to_int`); for a
    JSON-valued key, the leaves of the document it holds."""
    if key in COUNTS and isinstance(value, str):
        with contextlib.suppress(ValueError):
            return {to_int(value)}
    if key in JSON_VALUES and isinstance(value, str):
        with contextlib.suppress(ValueError):
            return leaves(parse_json(value))
    return leaves(value)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(span_trees())
def test_span_to_event_to_span_keeps_ids_times_status_and_attributes(spans: list[ReadableSpan]) -> None:
    back = {s.context.span_id: s for s in events_to_spans(spans_to_events(spans))}
    assert len(back) == len(spans)
    for original in spans:
        again = back[original.context.span_id]
        assert again.context.trace_id == original.context.trace_id
        assert (again.parent.span_id if again.parent else None) == (
            original.parent.span_id if original.parent else None
        )
        assert again.name == original.name
        assert again.start_time is not None and original.start_time is not None
        assert again.end_time is not None and original.end_time is not None
        assert again.start_time // 1_000_000 == original.start_time // 1_000_000
        assert again.end_time // 1_000_000 == original.end_time // 1_000_000
        assert again.status.status_code == original.status.status_code
        if original.status.status_code is StatusCode.ERROR:
            assert again.status.description == original.status.description
        carried = leaves(dict(attributes(again)))
        for key, value in (original.attributes or {}).items():
            assert carried_form(key, value) <= carried, (key, value)


def test_a_parent_id_that_is_not_a_uuid_is_named_as_the_parent_id() -> None:
    event: dict[str, Any] = {"event_id": str(uuid.uuid4()), "session_id": str(uuid.uuid4()), "parent_id": "nope",
             "event_type": "tool", "event_name": "t"}
    with pytest.raises(ValueError, match=r"^parent_id 'nope' is not a UUID"):
        events_to_spans([event])


def test_not_a_number_comes_back_as_the_forward_mapping_writes_it() -> None:
    event = {"event_id": str(uuid.uuid4()), "session_id": str(uuid.uuid4()), "parent_id": None,
             "event_type": "session", "event_name": "s", "metrics": {"score": float("nan")}}
    (back,) = spans_to_events(events_to_spans([event]))
    assert back["metrics"]["score"] == "NaN"


def test_a_null_session_id_comes_back_as_null_not_absent() -> None:
    """A field that cannot be a span attribute (null) travels in the carried event: a round trip keeps its key."""
    event: dict[str, Any] = {"event_id": str(uuid.uuid4()), "session_id": None, "parent_id": None,
                             "event_type": "tool", "event_name": "t", "inputs": {}, "outputs": {}}
    assert spans_to_events(events_to_spans([event])) == [event]


def test_times_in_seconds_as_honeyhive_examples_give_them_become_span_times_in_their_own_year() -> None:
    """HoneyHive documents milliseconds, but its own examples (the session above) give seconds: read as
    milliseconds, the span would start in January 1970. Below 1e11 is seconds, as the viewer and terminal read."""
    (session,) = events_to_spans([DATA_MODEL_EXAMPLES[0]])
    assert session.start_time == 1_710_161_932_700_000_000
    (tool,) = events_to_spans([DATA_MODEL_EXAMPLES[2]])
    assert (tool.start_time, tool.end_time) == (1_710_147_532_796_000_000, 1_710_147_533_133_000_000)
    assert spans_to_events([tool]) == [DATA_MODEL_EXAMPLES[2]]


def test_an_end_before_the_start_gives_a_span_of_no_length_and_the_event_its_own_times_back() -> None:
    """OTLP backends take `end - start` as unsigned: a negative duration would show as centuries."""
    (session,) = events_to_spans([DATA_MODEL_EXAMPLES[0]])  # ends 4 hours before it starts
    assert session.end_time == session.start_time
    event = {**DATA_MODEL_EXAMPLES[3], "start_time": 1714978764301, "end_time": None, "duration": -250.0}
    (chain,) = events_to_spans([event])
    assert chain.end_time == chain.start_time == 1_714_978_764_301_000_000
    assert spans_to_events([chain]) == [event]


def test_a_span_from_before_1973_keeps_its_milliseconds_through_an_event_and_back() -> None:
    """Events this bridge made from spans are in milliseconds whatever their value (a test clock at zero)."""
    recorder = Recorder(scope="tests.reverse")
    with recorder.tracer.start_as_current_span("early", start_time=5_000_000_000, end_on_exit=False) as span:
        pass
    span.end(end_time=7_000_000_000)
    (again,) = events_to_spans(spans_to_events(recorder.spans()))
    assert (again.start_time, again.end_time) == (5_000_000_000, 7_000_000_000)


def _traced_session() -> list[dict[str, Any]]:
    """A session the bridge made from an OpenTelemetry trace (its events record their trace and span ids)."""
    recorder = Recorder(scope="tests.reverse")
    with recorder.tracer.start_as_current_span("agent"), recorder.tracer.start_as_current_span("step"):
        pass
    return spans_to_events(recorder.spans())


def test_an_event_added_under_an_event_made_from_a_span_joins_that_spans_trace_under_it() -> None:
    """A session from OpenTelemetry spans, then an event posted to it through the API (feedback, a tool call
    logged by hand): its span belongs in the spans' trace, under its parent's span, not in a trace of its own
    whose parent is missing."""
    session, step = _traced_session()
    added = {"event_id": str(uuid.uuid4()), "session_id": session["session_id"], "parent_id": step["event_id"],
             "event_type": "tool", "event_name": "lookup", "inputs": {}}
    grandchild = {**added, "event_id": str(uuid.uuid4()), "parent_id": added["event_id"], "event_name": "parse"}
    for batch in ([session, step, added, grandchild], [grandchild, added, step, session]):
        spans = {s.name: s for s in events_to_spans(batch)}
        trace_id = int(step["metadata"]["trace_id"], 16)
        assert {s.context.trace_id for s in spans.values()} == {trace_id}
        assert spans["lookup"].parent is not None
        assert spans["lookup"].parent.span_id == int(step["metadata"]["span_id"], 16)
        assert by_id(spans_to_events(list(spans.values()))) == by_id(batch)


def test_an_event_whose_parent_was_converted_in_an_earlier_batch_joins_the_parents_trace() -> None:
    """What a `Lineage` is for: the OTLP output sends `POST /events` one event at a time, and files are
    converted a request at a time."""
    session, step = _traced_session()
    added = {"event_id": str(uuid.uuid4()), "session_id": session["session_id"], "parent_id": step["event_id"],
             "event_type": "tool", "event_name": "lookup", "inputs": {}}
    lineage = Lineage()
    first = events_to_spans([session, step], lineage=lineage)
    (late,) = events_to_spans([added], lineage=lineage)
    assert late.context.trace_id == first[1].context.trace_id
    assert late.parent is not None and late.parent.span_id == first[1].context.span_id
    (alone,) = events_to_spans([added])  # without it: the session's trace, the parent's derived span id
    assert alone.context.trace_id == uuid.UUID(session["session_id"]).int


@pytest.mark.slow
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(sessions(), st.randoms(use_true_random=False))
def test_every_parent_span_is_in_its_childs_trace_however_the_session_is_cut_into_batches(
    events: list[dict[str, Any]], random: Any,
) -> None:
    lineage = Lineage()
    shuffled = events[:]
    random.shuffle(shuffled)
    cut = random.randint(0, len(shuffled))
    spans = events_to_spans(shuffled[:cut], lineage=lineage) + events_to_spans(shuffled[cut:], lineage=lineage)
    where = {s.context.span_id: s.context.trace_id for s in spans}
    for span in spans:
        if span.parent is not None and span.parent.span_id in where:
            assert where[span.parent.span_id] == span.context.trace_id


@pytest.mark.parametrize(("field", "value"), [
    ("session_id", "my-session"),  # would come back under a derived session, the name in metadata
    ("event_id", "2fcbdabcaec94163a32ea3cfbd51a7e0"),  # a UUID without hyphens: would come back with another id
    ("event_id", "{2fcbdabc-aec9-4163-a32e-a3cfbd51a7e0}"),
])
def test_an_id_that_would_not_come_back_as_it_is_is_refused_naming_it(field: str, value: str) -> None:
    """The forward mapping takes back only canonical UUIDs (what HoneyHive keeps): a span made of any other id
    would return as another event, so the event is refused, as one without an id is."""
    event: dict[str, Any] = {"event_id": str(uuid.uuid4()), "session_id": str(uuid.uuid4()), "parent_id": None,
                             "event_type": "tool", "event_name": "t", "inputs": {}, field: value}
    with pytest.raises(ValueError, match=rf"{field} '{re.escape(value)}' is not a UUID"):
        events_to_spans([event])


def test_a_session_id_that_is_not_a_uuid_is_refused_even_beside_recorded_ids() -> None:
    session, step = _traced_session()
    with pytest.raises(ValueError, match=r"session_id 'chat-42' is not a UUID"):
        events_to_spans([session, {**step, "session_id": "chat-42"}])
