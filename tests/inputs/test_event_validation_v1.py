"""`POST /v1/events/batch` of the HoneyHive-compatible API, in process: checked as HoneyHive documents the route
(https://docs.honeyhive.ai/v2/api-reference-autogen/events/create-a-batch-of-events), so whatever the local API
lets through, HoneyHive takes too; and what the bridge's own exporter sends with its defaults is let through. The
structural fuzz of the route (any JSON in any field) is tests/inputs/test_event_validation.py's, over every route
of tests/support/api_bodies.py."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from otel_honeyhive.core.events import Event
from otel_honeyhive.inputs.event_validation import EventDefaults, ValidationError, parse_batch, parse_batch_v1
from otel_honeyhive.outputs.honeyhive.payload import LEGACY, V1, encode
from tests.support.fake_honeyhive import v1_problems

SESSION = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0"
CHILD = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f1"
DEFAULTS = EventDefaults()


def tool(**fields: Any) -> dict[str, Any]:
    return {"event_type": "tool", "event_name": "search", "inputs": {"query": "q"}, **fields}


def refusal(body: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        parse_batch_v1(body, DEFAULTS)
    return str(caught.value)


def test_unknown_fields_are_refused_all_named_at_once() -> None:
    message = refusal({"events": [tool(colour="red"), tool(size=1)], "extra": True})
    assert message == ("unknown field(s), not accepted on /v1/events/batch: extra, events[0].colour, events[1].size")


@pytest.mark.parametrize(("body", "named"), [
    ({"events": [tool()], "is_single_session": False}, "is_single_session (legacy alias; use single_session)"),
    ({"events": [tool()], "session": {}}, "session (legacy alias; use session_properties)"),
    ({"events": [tool(project="p")]}, "events[0].project (legacy alias; use the API key's project (or project_id))"),
    ({"events": [tool()], "single_session": True, "session_properties": {"session_id": SESSION}},
     "session_properties.session_id"),
])
def test_the_legacy_aliases_are_refused_by_name(body: dict[str, Any], named: str) -> None:
    assert named in refusal(body)


@pytest.mark.parametrize(("event", "message"), [
    ({"event_type": "tool"}, "events[0].inputs: required; must be an object"),
    ({"inputs": {}}, "events[0].event_type: required"),
    (tool(inputs=[]), "events[0].inputs: must be an object, got a list"),
])
def test_event_type_and_inputs_are_required(event: dict[str, Any], message: str) -> None:
    assert message in refusal({"events": [event]})


def test_the_legacy_route_still_takes_its_aliases_and_project() -> None:
    batch = parse_batch({"events": [tool(project="p", colour="red")], "is_single_session": False}, DEFAULTS)
    assert batch.events[0]["project"] == "p" and batch.events[0]["colour"] == "red"


def test_a_batch_across_sessions_answers_each_event_id() -> None:
    batch = parse_batch_v1({"events": [tool(session_id=SESSION), tool()], "single_session": False}, DEFAULTS)
    assert batch.event_ids == [e["event_id"] for e in batch.events] and batch.session_id is None
    assert batch.events[0]["session_id"] == SESSION and batch.events[0]["parent_id"] == SESSION


def test_a_single_session_batch_joins_the_session_its_events_name_and_describes_it() -> None:
    batch = parse_batch_v1({
        "events": [tool(session_id=SESSION, start_time=10, end_time=20), tool(start_time=12, end_time=30)],
        "single_session": True, "session_properties": {"session_name": "chat", "metadata": {"k": 1}},
    }, DEFAULTS)
    session, *children = batch.events
    assert batch.session_id == SESSION and len(batch.event_ids) == 2
    assert (session["event_type"], session["event_id"], session["event_name"]) == ("session", SESSION, "chat")
    assert (session["start_time"], session["end_time"], session["metadata"]) == (10, 30, {"k": 1})
    assert all(e["session_id"] == SESSION for e in children)


def test_a_session_event_in_the_batch_is_the_session_properties_do_not_make_another() -> None:
    batch = parse_batch_v1({
        "events": [{**tool(session_id=SESSION, event_id=SESSION), "event_type": "session", "event_name": "run"},
                   tool(session_id=SESSION)],
        "single_session": True, "session_properties": {"session_name": "run"},
    }, DEFAULTS)
    assert [e["event_type"] for e in batch.events] == ["session", "tool"]


def test_the_project_the_exporter_moved_into_metadata_is_the_events_project_again() -> None:
    batch = parse_batch_v1({"events": [tool(metadata={"project": "demo", "k": 1}, project_id="p-1")]}, DEFAULTS)
    (event,) = batch.events
    assert (event["project"], event["metadata"], event["project_id"]) == ("demo", {"k": 1}, "p-1")
    (event,) = parse_batch_v1({"events": [tool()]}, EventDefaults(project="server")).events
    assert event["project"] == "server", "else the server's --project, as HoneyHive takes the API key's"


def exporter_events() -> list[Event]:
    """Events as the mapper makes them, with a project (the legacy per-event field) and a client's own field."""
    def made(event_id: str, event_type: str, parent: str | None, **extra: Any) -> Event:
        return {"project": "demo", "source": "dev", "session_id": SESSION, "event_id": event_id,
                "parent_id": parent, "children_ids": [], "event_type": event_type, "event_name": event_type,
                "config": {}, "inputs": {}, "outputs": {}, "error": None, "start_time": 1, "end_time": 2,
                "duration": 1.0, "metadata": {"span_id": "01"}, "metrics": {}, "feedback": {},
                "user_properties": {}, **extra}
    return [made(SESSION, "session", None), made(CHILD, "model", SESSION, custom={"x": 1})]


@pytest.mark.parametrize("mode", ["multi", "session"])
def test_what_the_exporter_sends_on_v1_is_accepted_and_stored_as_by_the_legacy_route(mode: str) -> None:
    events = exporter_events()
    (v1_body,) = [orjson.loads(b.data) for b in encode(events, mode, 1000, 1 << 20, V1)]
    (legacy_body,) = [orjson.loads(b.data) for b in encode(events, mode, 1000, 1 << 20, LEGACY)]
    assert v1_problems(v1_body) == []
    by_v1 = {e["event_id"]: e for e in parse_batch_v1(v1_body, DEFAULTS).events}
    by_legacy = {e["event_id"]: e for e in parse_batch(legacy_body, DEFAULTS).events}
    assert by_v1.keys() == by_legacy.keys() == {SESSION, CHILD}
    assert by_v1[CHILD]["project"] == by_legacy[CHILD]["project"] == "demo"
    assert by_v1[CHILD]["metadata"] == {"span_id": "01", "custom": {"x": 1}}, "the client's own field, kept"
