"""`serve`'s HoneyHive-compatible API over real HTTP: `POST /v1/events/batch` refuses what HoneyHive's v1 route
refuses, with a 400 naming every offending field, and stores what it takes; `POST /events/batch` is as before."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.server import RunningServer, run_server

pytestmark = pytest.mark.slow
TIMEOUT = 10


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("v1")) as server:
        yield server


def post(server: RunningServer, path: str, body: Any) -> requests.Response:
    return requests.post(server.url + path, json=body, timeout=TIMEOUT)


def tool(**fields: Any) -> dict[str, Any]:
    return {"event_type": "tool", "event_name": "search", "inputs": {"query": "q"}, "event_id": str(uuid.uuid4()),
            **fields}


def stored(server: RunningServer, event_id: str) -> dict[str, Any] | None:
    with server.store() as store:
        return store.get_event(event_id)


def test_unknown_fields_and_legacy_aliases_are_a_400_naming_them_and_nothing_is_stored(api: RunningServer) -> None:
    event = tool(project="p", colour="red")
    response = post(api, "/v1/events/batch", {"events": [event], "is_single_session": False})
    assert response.status_code == 400 and response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["success"] is False
    assert answer["error"] == (
        "unknown field(s), not accepted on /v1/events/batch: is_single_session (legacy alias; use single_session), "
        "events[0].project (legacy alias; use the API key's project (or project_id)), events[0].colour")
    assert stored(api, event["event_id"]) is None


def test_an_event_without_inputs_is_a_400(api: RunningServer) -> None:
    event = tool()
    del event["inputs"]
    response = post(api, "/v1/events/batch", {"events": [event]})
    assert response.status_code == 400 and "events[0].inputs: required" in response.json()["error"]


def test_a_good_v1_batch_is_stored_and_answered_as_honeyhive_answers(api: RunningServer) -> None:
    session = str(uuid.uuid4())
    events = [tool(session_id=session, metadata={"project": "demo"}), tool(session_id=session)]
    response = post(api, "/v1/events/batch", {"events": events, "single_session": False})
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "event_ids": [e["event_id"] for e in events], "session_id": session}
    first = stored(api, events[0]["event_id"])
    assert first is not None and first["project"] == "demo" and first["metadata"] == {}


def test_the_legacy_route_takes_its_aliases_and_fields_as_before(api: RunningServer) -> None:
    event = tool(project="p", colour="red")
    response = post(api, "/events/batch", {"events": [event], "is_single_session": False})
    assert response.status_code == 200, response.text
    kept = stored(api, event["event_id"])
    assert kept is not None and (kept["project"], kept["colour"]) == ("p", "red")


class TestAddingEventsToASession:
    """`POST /v1/sessions/{session_id}/events/batch`, which HoneyHive's SDK 1.7 sends from
    `Sessions_service.createSessionEventBatch` as `{"events": [...]}` and reads as `{"success": ...}`
    (https://docs.honeyhive.ai/v2/api-reference-autogen/sessions/add-a-batch-of-events-to-a-session)."""

    def test_the_events_join_the_session_the_path_names_whatever_they_say(self, api: RunningServer) -> None:
        session, elsewhere = str(uuid.uuid4()), str(uuid.uuid4())
        events = [tool(), tool(session_id=elsewhere)]
        response = post(api, f"/v1/sessions/{session.upper()}/events/batch", {"events": events})
        assert response.status_code == 200, response.text
        assert response.json() == {"success": True, "event_ids": [e["event_id"] for e in events],
                                   "session_id": session}
        for event in events:
            kept = stored(api, event["event_id"])
            assert kept is not None and (kept["session_id"], kept["parent_id"]) == (session, session)

    def test_unknown_fields_are_a_400_naming_them_and_nothing_is_stored(self, api: RunningServer) -> None:
        event = tool(project="p")
        response = post(api, f"/v1/sessions/{uuid.uuid4()}/events/batch", {"events": [event], "single_session": True})
        assert response.status_code == 400
        assert response.json()["error"] == (
            "unknown field(s), not accepted on /v1/sessions/{session_id}/events/batch: single_session, "
            "events[0].project (legacy alias; use the API key's project (or project_id))")
        assert stored(api, event["event_id"]) is None

    def test_a_session_id_that_is_not_a_uuid_is_a_400_naming_the_path(self, api: RunningServer) -> None:
        response = post(api, "/v1/sessions/not-a-uuid/events/batch", {"events": [tool()]})
        assert response.status_code == 400
        assert response.json()["error"] == (
            "session_id (in the path): must be a UUID string (8-4-4-4-12 hex digits), got the string 'not-a-uuid'")


class TestUpdatingAnEventByItsPath:
    """`PUT /v1/events/{event_id}`, which HoneyHive's SDK 1.7 sends from `Events_service.updateEvent` with the
    `UpdateEventRequest` body (metadata, feedback, metrics, outputs, config, user_properties, duration, end_time,
    children_ids; the id in the path), merged as `PUT /events` merges."""

    def put(self, server: RunningServer, event_id: str, body: Any) -> requests.Response:
        return requests.put(f"{server.url}/v1/events/{event_id}", json=body, timeout=TIMEOUT)

    def test_feedback_metrics_and_metadata_merge_into_the_event_the_path_names(self, api: RunningServer) -> None:
        event = tool(metadata={"a": 1}, feedback={"rating": 3}, metrics={"m": 1}, outputs={"old": 1})
        assert post(api, "/v1/events/batch", {"events": [event]}).status_code == 200
        response = self.put(api, event["event_id"].upper(), {
            "metadata": {"b": 2}, "feedback": {"comment": "ok"}, "metrics": {"n": 2}, "outputs": {"new": 2},
            "duration": 12.5})
        assert response.status_code == 200, response.text
        assert response.json() == {"success": True, "event_id": event["event_id"]}
        kept = stored(api, event["event_id"])
        assert kept is not None
        assert (kept["metadata"], kept["feedback"], kept["metrics"]) == (
            {"a": 1, "b": 2}, {"rating": 3, "comment": "ok"}, {"m": 1, "n": 2})
        assert (kept["outputs"], kept["duration"]) == ({"new": 2}, 12.5)

    def test_an_unknown_event_is_404_and_nothing_is_created(self, api: RunningServer) -> None:
        missing = str(uuid.uuid4())
        response = self.put(api, missing, {"metadata": {"a": 1}})
        assert response.status_code == 404 and response.json()["error"] == f"unknown event_id {missing}"
        assert stored(api, missing) is None

    def test_a_bad_path_id_or_a_body_naming_another_event_is_a_400(self, api: RunningServer) -> None:
        response = self.put(api, "nope", {"metadata": {}})
        assert response.status_code == 400 and response.json()["error"] == (
            "event_id (in the path): must be a UUID string (8-4-4-4-12 hex digits), got the string 'nope'")
        path_id, other = str(uuid.uuid4()), str(uuid.uuid4())
        response = self.put(api, path_id, {"event_id": other, "metadata": {}})
        assert response.status_code == 400 and response.json()["error"] == (
            f"event_id: the body names {other}, the path {path_id}; send one")


class TestCreatingOneEventBareV1:
    """`POST /v1/events`, the current create route, which takes the event bare (no `event` wrapper) and answers
    `{"success", "event_id"}` (https://docs.honeyhive.ai/v2/api-reference-autogen/events/create-a-new-event-deprecated
    names it as the legacy route's replacement; HoneyHive's SDK 1.7 sends it from `Events_service.createEvent`)."""

    def test_a_bare_event_is_stored_with_the_defaults_and_its_id_answered(self, api: RunningServer) -> None:
        session = str(uuid.uuid4())
        event = tool(session_id=session, metadata={"project": "demo"})
        response = post(api, "/v1/events", event)
        assert response.status_code == 200, response.text
        assert response.json() == {"success": True, "event_id": event["event_id"]}
        kept = stored(api, event["event_id"])
        assert kept is not None
        assert (kept["session_id"], kept["parent_id"], kept["project"], kept["metadata"]) == (
            session, session, "demo", {})

    def test_the_v1_rules_apply_unknown_fields_and_missing_inputs_named(self, api: RunningServer) -> None:
        event = tool(project="p")
        del event["inputs"]
        response = post(api, "/v1/events", event)
        assert response.status_code == 400 and response.json()["error"] == (
            "unknown field(s), not accepted on /v1/events: "
            "project (legacy alias; use the API key's project (or project_id))")
        response = post(api, "/v1/events", {"event": tool()})
        assert response.status_code == 400 and response.json()["error"].endswith("/v1/events: event")
        del event["project"]
        response = post(api, "/v1/events", event)
        assert response.status_code == 400 and response.json()["error"] == (
            "inputs: required; must be an object")
        assert stored(api, event["event_id"]) is None
