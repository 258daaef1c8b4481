"""The HoneyHive-compatible API of `otel-honeyhive serve`: the real server process, over real HTTP.

Each test reads as one rule of the API: what a client sends, what it gets back, what the store then holds.
"""

from __future__ import annotations

import gzip
import threading
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_honeyhive.core.events import BUCKETS
from tests.support.compression import gzip_bomb, zstd, zstd_bomb, zstd_with_window
from tests.support.fake_honeyhive import Reply, fake_honeyhive
from tests.support.server import RunningServer, run_server
from tests.support.spans import provider_exporting_to

TIMEOUT = 10


def new_id() -> str:
    return str(uuid.uuid4())


def post(server: RunningServer, path: str, body: Any, **kwargs: Any) -> requests.Response:
    return requests.post(server.url + path, json=body, timeout=TIMEOUT, **kwargs)


def put(server: RunningServer, body: Any) -> requests.Response:
    return requests.put(server.url + "/events", json=body, timeout=TIMEOUT)


def post_raw(server: RunningServer, path: str, data: Any, **headers: str) -> requests.Response:
    return requests.post(
        server.url + path, data=data, timeout=TIMEOUT, headers={"Content-Type": "application/json", **headers}
    )


def stored(server: RunningServer, event_id: str) -> dict[str, Any]:
    with server.store() as store:
        event = store.get_event(event_id)
    assert event is not None, f"event {event_id} is not in the store"
    return event


def count(server: RunningServer) -> int:
    with server.store() as store:
        return store.count_events()


def tool(**fields: Any) -> dict[str, Any]:
    return {"event_type": "tool", "event_name": "search", "inputs": {"query": "q"}, **fields}


def assert_refused(response: requests.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["success"] is False
    assert message in body["error"], body["error"]


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the stateless checks of this module (refusals change nothing, so they cannot interfere)."""
    with run_server(tmp_path_factory.mktemp("shared")) as server:
        yield server


class TestCreateEvent:
    def test_an_event_is_stored_with_the_documented_defaults(self, local_api: RunningServer) -> None:
        response = post(local_api, "/events", {"event": {"event_type": "model", "inputs": {"q": "hi"}}})
        assert response.status_code == 200
        body = response.json()
        assert body["success"] is True
        event = stored(local_api, body["event_id"])
        assert uuid.UUID(event["event_id"]) and uuid.UUID(event["session_id"])
        assert event["event_name"] == "unknown"
        assert event["source"] == "dev"  # one default everywhere: the exporter's, spans' and events'
        assert event["parent_id"] == event["session_id"]
        assert event["inputs"] == {"q": "hi"}
        assert "project" not in event

    def test_the_event_may_be_a_json_encoded_string_as_the_api_page_shows(self, local_api: RunningServer) -> None:
        event_id = new_id()
        encoded = orjson.dumps(tool(event_id=event_id, outputs={"hits": 3})).decode()
        response = post(local_api, "/events", {"event": encoded})
        assert response.json() == {"success": True, "event_id": event_id}
        assert stored(local_api, event_id)["outputs"] == {"hits": 3}

    def test_given_ids_are_kept_in_lowercase_and_duration_is_end_minus_start(
        self, local_api: RunningServer
    ) -> None:
        event_id, session_id, parent_id = new_id(), new_id(), new_id()
        response = post(local_api, "/events", {"event": tool(
            event_id=event_id.upper(), session_id=session_id.upper(), parent_id=parent_id,
            start_time=1714978764301, end_time=1714978765301.5,
        )})
        assert response.json()["event_id"] == event_id
        event = stored(local_api, event_id)
        assert (event["session_id"], event["parent_id"]) == (session_id, parent_id)
        assert event["duration"] == 1000.5

    def test_children_ids_are_lowercased_and_limits_are_inclusive(self, local_api: RunningServer) -> None:
        child, limit = new_id(), 2**53 - 1
        response = post(local_api, "/events", {"event": tool(children_ids=[child.upper()], start_time=-limit,
                                                             end_time=limit, inputs=nested(128))})
        assert response.status_code == 200, response.text
        event = stored(local_api, response.json()["event_id"])
        assert event["children_ids"] == [child] and event["duration"] == 2 * limit

    def test_a_duration_from_times_sent_in_seconds_is_in_milliseconds(self, local_api: RunningServer) -> None:
        """HoneyHive's own examples send times in seconds; `duration` is milliseconds all the same."""
        response = post(local_api, "/events", {"event": tool(start_time=1_796_000_010, end_time=1_796_000_017.5)})
        assert stored(local_api, response.json()["event_id"])["duration"] == 7_500

    def test_a_given_duration_is_kept(self, local_api: RunningServer) -> None:
        response = post(local_api, "/events", {"event": tool(start_time=0, end_time=10, duration=7)})
        assert stored(local_api, response.json()["event_id"])["duration"] == 7

    def test_a_session_event_is_the_root_of_its_session(self, local_api: RunningServer) -> None:
        session_id = new_id()
        response = post(local_api, "/events", {"event": {
            "event_type": "session", "session_id": session_id, "inputs": {}, "event_name": "chat",
        }})
        assert response.json() == {"success": True, "event_id": session_id}
        event = stored(local_api, session_id)
        assert (event["event_id"], event["session_id"], event["parent_id"]) == (session_id, session_id, None)

    def test_undocumented_fields_and_null_errors_are_kept(self, local_api: RunningServer) -> None:
        response = post(local_api, "/events", {"event": tool(error=None, project_id="p-1", outputs=None)})
        event = stored(local_api, response.json()["event_id"])
        assert event["error"] is None and event["project_id"] == "p-1"
        assert "outputs" not in event  # null on an optional field means "not given"

    def test_resending_an_event_id_updates_the_one_stored_event(self, local_api: RunningServer) -> None:
        event_id = new_id()
        post(local_api, "/events", {"event": tool(event_id=event_id, outputs={"v": 1})})
        post(local_api, "/events", {"event": tool(event_id=event_id, outputs={"v": 2})})
        assert count(local_api) == 1
        assert stored(local_api, event_id)["outputs"] == {"v": 2}

    @pytest.mark.slow
    def test_the_servers_project_and_source_fill_in_missing_ones(self, tmp_path: Path) -> None:
        with run_server(tmp_path, "--project", "Simple RAG", "--source", "staging") as server:
            defaulted = post(server, "/events", {"event": tool()}).json()["event_id"]
            explicit = post(server, "/events", {"event": tool(project="other", source="prod")}).json()["event_id"]
            assert (stored(server, defaulted)["project"], stored(server, defaulted)["source"]) == (
                "Simple RAG", "staging"
            )
            assert (stored(server, explicit)["project"], stored(server, explicit)["source"]) == ("other", "prod")


class TestBatch:
    def test_every_event_is_stored_and_their_ids_answered_in_order(self, local_api: RunningServer) -> None:
        session_id = new_id()
        events = [
            {"event_type": "session", "session_id": session_id, "inputs": {}},
            tool(session_id=session_id, event_id=new_id()),
            tool(session_id=new_id()),
        ]
        response = post(local_api, "/events/batch", {"events": events, "is_single_session": False})
        body = response.json()
        assert body["success"] is True and "session_id" not in body
        assert body["event_ids"][:2] == [session_id, events[1]["event_id"]]
        assert count(local_api) == 3
        assert stored(local_api, body["event_ids"][2])["parent_id"] == events[2]["session_id"]

    def test_a_single_session_batch_creates_its_session_from_session_properties(
        self, local_api: RunningServer
    ) -> None:
        chain_id = new_id()
        t0 = 1_796_000_000_000  # milliseconds (2026)
        events = [
            {"event_type": "chain", "event_id": chain_id, "inputs": {}, "start_time": t0, "end_time": t0 + 3000},
            tool(parent_id=chain_id, start_time=t0 + 500, end_time=t0 + 1500),
            tool(session_id=new_id(), start_time=t0 + 2000, end_time=t0 + 4000),  # the batch's session wins
        ]
        properties = {"session_name": "Ramp Docs Assistant", "source": "evaluation", "config": {"v": "1"},
                      "user_properties": {"user_id": "u1"}}
        response = post(local_api, "/events/batch",
                        {"events": events, "is_single_session": True, "session_properties": properties})
        body = response.json()
        session_id = body["session_id"]
        assert len(body["event_ids"]) == 3 and body["event_ids"][0] == chain_id
        session = stored(local_api, session_id)
        assert session["event_type"] == "session" and session["parent_id"] is None
        assert (session["event_name"], session["source"]) == ("Ramp Docs Assistant", "evaluation")
        assert session["config"] == {"v": "1"} and session["user_properties"] == {"user_id": "u1"}
        assert session["inputs"] == {}
        assert (session["start_time"], session["end_time"], session["duration"]) == (t0, t0 + 4000, 4000)
        assert session["children_ids"] == [chain_id, body["event_ids"][2]]
        children = [stored(local_api, i) for i in body["event_ids"]]
        assert all(c["session_id"] == session_id for c in children)
        assert [c["parent_id"] for c in children] == [session_id, chain_id, session_id]

    def test_a_batch_naming_only_an_existing_session_leaves_that_session_as_it_was(
        self, local_api: RunningServer
    ) -> None:
        started = post(local_api, "/session/start", {"session": {"session_name": "chat", "inputs": {"q": 1}}})
        session_id = started.json()["session_id"]
        before = stored(local_api, session_id)
        response = post(local_api, "/events/batch", {
            "events": [tool(), tool()], "is_single_session": True, "session_properties": {"session_id": session_id},
        })
        assert response.json()["session_id"] == session_id
        # Unchanged, but for the children it now has: read back, a session lists the events stored under it.
        assert stored(local_api, session_id) == {**before, "children_ids": response.json()["event_ids"]}
        with local_api.store() as store:
            assert len(store.session_events(session_id)) == 3
            assert store.get_event(session_id, children=False) == before

    def test_a_batch_with_one_bad_event_changes_nothing(self, local_api: RunningServer) -> None:
        events = [tool(), tool(), tool(), tool(inputs=["not", "an", "object"]), tool()]
        response = post(local_api, "/events/batch", {"events": events, "is_single_session": True})
        assert_refused(response, 400, "events[3].inputs: must be an object, got a list")
        assert count(local_api) == 0

    def test_an_empty_batch_is_accepted(self, local_api: RunningServer) -> None:
        assert post(local_api, "/events/batch", {"events": []}).json() == {"success": True, "event_ids": []}
        assert count(local_api) == 0


class TestSessionStart:
    def test_starting_a_session_stores_its_session_event(self, local_api: RunningServer) -> None:
        session_id = new_id()
        response = post(local_api, "/session/start", {"session": {
            "session_id": session_id, "session_name": "Ramp Docs Assistant", "project": "Ramp",
            "source": "prod", "inputs": {"question": "How?"}, "metadata": {"app_version": "1.0.1"},
        }})
        assert response.status_code == 200
        session = stored(local_api, session_id)
        assert response.json() == {"success": True, **session, "org_id": "otel-honeyhive",
                                   "workspace_id": "otel-honeyhive", "project_id": "Ramp"}
        assert session["event_type"] == "session" and session["parent_id"] is None
        assert (session["event_name"], session["project"], session["source"]) == ("Ramp Docs Assistant", "Ramp",
                                                                                   "prod")
        assert session["inputs"] == {"question": "How?"} and session["metadata"] == {"app_version": "1.0.1"}
        assert isinstance(session["start_time"], float)  # started now

    def test_a_session_needs_no_inputs_and_gets_a_fresh_id(self, local_api: RunningServer) -> None:
        response = post(local_api, "/session/start", {"session": {}})
        session = stored(local_api, response.json()["session_id"])
        assert (session["inputs"], session["event_name"]) == ({}, "unknown")

    def test_a_session_event_id_given_as_null_is_not_given_and_a_uuid_names_the_session(
        self, local_api: RunningServer
    ) -> None:
        fresh = post(local_api, "/session/start", {"session": {"event_id": None}}).json()
        assert uuid.UUID(fresh["event_id"]) and fresh["event_id"] == fresh["session_id"]
        session_id = new_id()
        named = post(local_api, "/session/start", {"session": {"event_id": session_id.upper()}}).json()
        assert named["event_id"] == named["session_id"] == session_id
        assert stored(local_api, session_id)["event_type"] == "session"

    def test_the_sdk_flow_start_log_update_builds_one_session(self, local_api: RunningServer) -> None:
        session_id = post(local_api, "/session/start", {"session": {"session_name": "agent"}}).json()["session_id"]
        start = stored(local_api, session_id)["start_time"]
        model_id = post(local_api, "/events", {"event": {
            "event_type": "model", "session_id": session_id, "inputs": {"chat_history": []},
            "config": {"model": "gpt-4o"}, "start_time": start, "end_time": start + 50,
        }}).json()["event_id"]
        assert put(local_api, {"event_id": session_id, "end_time": start + 80, "outputs": {"answer": "42"},
                               "metrics": {"score": 1}}).status_code == 200
        session = stored(local_api, session_id)
        assert session["duration"] == 80 and session["outputs"] == {"answer": "42"}
        assert stored(local_api, model_id)["parent_id"] == session_id


    def test_starting_the_same_session_again_merges_into_it_and_loses_nothing(self, local_api: RunningServer) -> None:
        """A client reconnecting (or HoneyHive's SDK) starts the same session id again: HoneyHive merges the
        metadata and user properties into the existing session
        (https://docs.honeyhive.ai/v2/api-reference-autogen/sessions/start-a-new-session); what only the first
        start carried is kept, and the session keeps its first start time and name."""
        session_id = new_id()
        assert post(local_api, "/session/start", {"session": {
            "session_id": session_id, "session_name": "support chat", "source": "prod",
            "inputs": {"question": "How?"}, "metadata": {"app_version": "1.0", "region": "eu"},
            "user_properties": {"user_id": "ada", "plan": "pro"},
        }}).status_code == 200
        first = stored(local_api, session_id)
        assert post(local_api, "/session/start", {"session": {
            "session_id": session_id, "metadata": {"region": "us", "reconnects": 1},
            "user_properties": {"tier": "gold"},
        }}).status_code == 200
        assert stored(local_api, session_id) == {
            **first, "metadata": {"app_version": "1.0", "region": "us", "reconnects": 1},
            "user_properties": {"user_id": "ada", "plan": "pro", "tier": "gold"},
        }
        with local_api.store() as store:
            [summary] = store.list_sessions()
        assert (summary.name, summary.user_id, summary.start_time) == ("support chat", "ada", first["start_time"])

    def test_a_session_lists_the_events_posted_into_it_later_as_its_children(self, local_api: RunningServer) -> None:
        session_id = post(local_api, "/session/start", {"session": {"session_name": "agent"}}).json()["session_id"]
        first = post(local_api, "/events", {"event": tool(session_id=session_id)}).json()["event_id"]
        batch = post(local_api, "/events/batch", {"events": [tool(session_id=session_id), tool(session_id=session_id)]})
        assert stored(local_api, session_id)["children_ids"] == [first, *batch.json()["event_ids"]]


class TestUpdate:
    def test_buckets_merge_while_outputs_and_plain_fields_are_replaced(self, local_api: RunningServer) -> None:
        event_id, child = new_id(), new_id()
        post(local_api, "/events", {"event": tool(
            event_id=event_id, metadata={"a": 1, "b": 1}, feedback={"rating": 3}, metrics={"m": 1},
            config={"model": "x"}, user_properties={"u": 1}, outputs={"old": 1}, children_ids=[new_id()],
            start_time=100, end_time=200,
        )})
        response = put(local_api, {
            "event_id": event_id.upper(), "metadata": {"b": 2}, "feedback": {"comment": "ok"},
            "metrics": {"n": 2}, "config": {"temperature": 0}, "user_properties": {"v": 2},
            "outputs": {"new": 2}, "children_ids": [child], "duration": 5, "end_time": 105,
        })
        assert response.json() == {"success": True, "event_id": event_id}
        event = stored(local_api, event_id)
        assert event["metadata"] == {"a": 1, "b": 2}
        assert event["feedback"] == {"rating": 3, "comment": "ok"}
        assert event["metrics"] == {"m": 1, "n": 2}
        assert event["config"] == {"model": "x", "temperature": 0}
        assert event["user_properties"] == {"u": 1, "v": 2}
        assert event["outputs"] == {"new": 2}
        assert (event["children_ids"], event["duration"], event["end_time"]) == ([child], 5, 105)

    def test_updating_an_unknown_event_is_404_and_creates_nothing(self, local_api: RunningServer) -> None:
        missing = new_id()
        assert_refused(put(local_api, {"event_id": missing, "metadata": {"a": 1}}), 404,
                       f"unknown event_id {missing}")
        assert count(local_api) == 0

    def test_a_field_put_cannot_change_is_refused_and_changes_nothing(self, local_api: RunningServer) -> None:
        event_id = post(local_api, "/events", {"event": tool(metadata={"a": 1})}).json()["event_id"]
        before = stored(local_api, event_id)
        response = put(local_api, {"event_id": event_id, "metadata": {"a": 2}, "inputs": {"x": 1}})
        assert_refused(response, 400, "inputs: unknown field; allowed: children_ids, config, duration")
        assert stored(local_api, event_id) == before


def nested(depth: int) -> dict[str, Any]:
    """An object `depth` levels deep."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def _event_with(**fields: Any) -> dict[str, Any]:
    return {"event": {"event_type": "model", "inputs": {}, **fields}}


VALIDATION_CASES: list[tuple[str, str, Any, str]] = [
    # (method, path, body, the message's key part)
    ("POST", "/events", {"event": {"inputs": {}}},
     "event.event_type: required; must be one of session, model, tool, chain"),
    ("POST", "/events", _event_with(event_type="llm"),
     "event.event_type: must be one of session, model, tool, chain, got the string 'llm'"),
    ("POST", "/events", {"event": {"event_type": "model"}}, "event.inputs: required; must be an object"),
    ("POST", "/events", _event_with(inputs=None), "event.inputs: required; must be an object"),
    ("POST", "/events", _event_with(inputs="text"), "event.inputs: must be an object, got the string 'text'"),
    *[("POST", "/events", _event_with(**{bucket: [1]}), f"event.{bucket}: must be an object, got a list")
      for bucket in BUCKETS if bucket != "inputs"],
    ("POST", "/events", _event_with(children_ids="c1"), "event.children_ids: must be a list of UUID strings"),
    ("POST", "/events", _event_with(children_ids=[new_id(), 2]),
     "event.children_ids[1]: must be a UUID string (8-4-4-4-12 hex digits), got the number 2"),
    ("POST", "/events", _event_with(children_ids=["c1"]), "event.children_ids[0]: must be a UUID string"),
    ("POST", "/events", _event_with(start_time="1714978764301"), "event.start_time: must be a number, got the str"),
    ("POST", "/events", _event_with(end_time=True), "event.end_time: must be a number, got a boolean"),
    ("POST", "/events", _event_with(duration={}), "event.duration: must be a number, got an object"),
    ("POST", "/events", _event_with(event_id="42"), "event.event_id: must be a UUID string"),
    ("POST", "/events", _event_with(session_id=42), "event.session_id: must be a UUID string"),
    ("POST", "/events", _event_with(parent_id="caf77ace34174da4944df4a0688f3c23"),
     "event.parent_id: must be a UUID string"),
    ("POST", "/events", _event_with(error=500), "event.error: must be a string or null, got the number 500"),
    ("POST", "/events", _event_with(event_name=1), "event.event_name: must be a string"),
    ("POST", "/events", _event_with(source=[]), "event.source: must be a string"),
    ("POST", "/events", _event_with(project={}), "event.project: must be a string"),
    ("POST", "/events", _event_with(event_type="session", event_id=new_id(), session_id=new_id()),
     "event.event_id: a session event's event_id must equal its session_id"),
    ("POST", "/events", _event_with(event_type="session", parent_id=new_id()),
     "event.parent_id: a session event is a root and has no parent"),
    ("POST", "/events", [], "body: must be an object, got a list"),
    ("POST", "/events", {}, "event: required"),
    ("POST", "/events", {"event": 5}, "event: must be an object, got the number 5"),
    ("POST", "/events", {"event": "{broken"}, "event: the string is not valid JSON: "),
    ("POST", "/events", {"event": "[1]"}, "event: must be an object, got a list"),
    ("POST", "/events/batch", {}, "events: required; must be a list"),
    ("POST", "/events/batch", {"events": {}}, "events: must be a list, got an object"),
    ("POST", "/events/batch", {"events": [tool(), 7]}, "events[1]: must be an object, got the number 7"),
    ("POST", "/events/batch", {"events": [tool(), {"inputs": {}}]}, "events[1].event_type: required"),
    ("POST", "/events/batch", {"events": [], "is_single_session": "yes"},
     "is_single_session: must be true or false"),
    ("POST", "/events/batch", {"events": [], "is_single_session": True, "session_properties": []},
     "session_properties: must be an object, got a list"),
    ("POST", "/events/batch", {"events": [], "is_single_session": True, "session_properties": {"session_id": "s1"}},
     "session_properties.session_id: must be a UUID string"),
    ("POST", "/events/batch", {"events": [{"event_type": "session", "inputs": {}}], "is_single_session": True},
     "events[0].event_type: a single-session batch describes its session in session_properties"),
    ("POST", "/session/start", {}, "session: required; must be an object"),
    ("POST", "/session/start", {"session": "s"}, "session: must be an object"),
    ("POST", "/session/start", {"session": {"inputs": 1}}, "session.inputs: must be an object"),
    ("POST", "/session/start", {"session": {"session_name": 5}}, "session.session_name: must be a string"),
    # The session event's own ids: once let through to the store, which refused them with a 500.
    *[("POST", "/session/start", {"session": {"event_id": wrong}},
       f"session.event_id: must be a UUID string (8-4-4-4-12 hex digits), got {shown}")
      for wrong, shown in [(5, "the number 5"), (1.5, "the number 1.5"), (True, "a boolean"), ([new_id()], "a list"),
                           ({"id": 1}, "an object"), ("", "the string ''"), ("s-1", "the string 's-1'")]],
    ("POST", "/session/start", {"session": {"event_id": 5, "session_id": new_id()}},
     "session.event_id: must be a UUID"),
    ("POST", "/session/start", {"session": {"event_type": "model"}},
     "session.event_type: must be session, got the string 'model'"),
    ("POST", "/session/start", {"session": {"event_type": 5, "event_id": 7}}, "session.event_type: must be session"),
    ("POST", "/session/start", {"session": {"event_name": ["x"]}}, "session.event_name: must be a string"),
    ("POST", "/session/start", {"session": {"children_ids": [5]}}, "session.children_ids[0]: must be a UUID string"),
    ("POST", "/events/batch", {"events": [], "is_single_session": True, "session_properties": {"event_id": 5}},
     "session_properties.event_id: must be a UUID string"),
    ("POST", "/events/batch", {"events": [], "is_single_session": True,
                               "session_properties": {"event_type": "model", "event_id": 5}},
     "session_properties.event_type: must be session"),
    ("POST", "/events/batch", {"events": [{**tool(), "children_ids": ["a"]}]},
     "events[0].children_ids[0]: must be a UUID string"),
    # Times whose difference (the duration) overflowed what the store writes: once a 500.
    ("POST", "/events", _event_with(start_time=-(2**63), end_time=2**64 - 1),
     "event.start_time: must be within ±9007199254740991 milliseconds"),
    ("POST", "/events", _event_with(end_time=1e300), "event.end_time: must be within ±9007199254740991"),
    ("POST", "/session/start", {"session": {"start_time": 2**64 - 1, "end_time": 0}},
     "session.start_time: must be within ±9007199254740991"),
    ("PUT", "/events", {"event_id": new_id(), "duration": -(2**63)}, "duration: must be within ±9007199254740991"),
    # Values nested deeper than the store can write (orjson stops at 255 levels): once a 500.
    ("POST", "/events", _event_with(inputs=nested(300)), "event.inputs: nested 300 levels deep; at most 128"),
    ("POST", "/events", _event_with(anything=nested(129)), "event.anything: nested 129 levels deep; at most 128"),
    ("POST", "/session/start", {"session": {"metadata": nested(200)}}, "session.metadata: nested 200 levels deep"),
    ("PUT", "/events", {"event_id": new_id(), "outputs": nested(255)}, "outputs: nested 255 levels deep"),
    ("PUT", "/events", {}, "event_id: required; must be a UUID string"),
    ("PUT", "/events", {"event_id": "abc"}, "event_id: must be a UUID string"),
    ("PUT", "/events", {"event_id": new_id(), "metadata": []}, "metadata: must be an object, got a list"),
    ("PUT", "/events", {"event_id": new_id(), "children_ids": [1]}, "children_ids[0]: must be a UUID string"),
    ("PUT", "/events", {"event_id": new_id(), "end_time": "now"}, "end_time: must be a number"),
]


@pytest.mark.parametrize(("method", "path", "body", "message"), VALIDATION_CASES,
                         ids=[f"{c[0]} {c[1]} {c[3][:50]}" for c in VALIDATION_CASES])
def test_a_broken_field_rule_is_400_naming_the_field_and_stores_nothing(
    shared_api: RunningServer, method: str, path: str, body: Any, message: str
) -> None:
    before = count(shared_api)
    response = requests.request(method, shared_api.url + path, json=body, timeout=TIMEOUT)
    assert_refused(response, 400, message)
    assert count(shared_api) == before


class TestRequestHandling:
    def test_bad_json_is_400_naming_where_parsing_failed(self, shared_api: RunningServer) -> None:
        assert_refused(post_raw(shared_api, "/events", b'{"event": {"event_type": '), 400,
                       "invalid JSON: unexpected end of data: line 1 column 26 (char 25)")

    def test_an_empty_body_is_400(self, shared_api: RunningServer) -> None:
        assert_refused(post_raw(shared_api, "/events", b""), 400, "invalid JSON")

    def test_a_body_that_is_not_json_is_415(self, shared_api: RunningServer) -> None:
        response = post_raw(shared_api, "/events", b"event=1", **{"Content-Type": "application/x-www-form-urlencoded"})
        assert_refused(response, 415, "send application/json")

    def test_json_with_parameters_or_a_json_suffix_is_accepted(self, shared_api: RunningServer) -> None:
        data = orjson.dumps({"event": tool()})
        assert post_raw(shared_api, "/events", data, **{"Content-Type": "application/json; charset=utf-8"}).ok
        assert post_raw(shared_api, "/events", data, **{"Content-Type": "application/vnd.api+json"}).ok

    @pytest.mark.parametrize(("method", "path", "allowed"), [
        ("GET", "/events", "POST, PUT"),
        ("DELETE", "/events/batch", "POST"),
        ("GET", "/session/start", "POST"),
        ("POST", "/healthz", "GET"),
    ])
    def test_a_wrong_method_is_405_with_allow(
        self, shared_api: RunningServer, method: str, path: str, allowed: str
    ) -> None:
        response = requests.request(method, shared_api.url + path, timeout=TIMEOUT)
        assert_refused(response, 405, f"method {method} not allowed on {path}")
        assert set(response.headers["allow"].split(", ")) >= set(allowed.split(", "))

    def test_an_unknown_route_is_404(self, shared_api: RunningServer) -> None:
        assert_refused(requests.get(shared_api.url + "/v1/nothing", timeout=TIMEOUT), 404,
                       "no route for GET /v1/nothing")

    def test_healthz_answers_ok(self, shared_api: RunningServer) -> None:
        response = requests.get(shared_api.url + "/healthz", timeout=TIMEOUT)
        assert response.status_code == 200 and response.json() == {"status": "ok"}

    def test_parallel_clients_all_land(self, local_api: RunningServer) -> None:
        statuses: list[int] = []

        def client() -> None:
            with requests.Session() as session:
                for _ in range(10):
                    r = session.post(local_api.url + "/events", json={"event": tool()}, timeout=TIMEOUT)
                    statuses.append(r.status_code)

        threads = [threading.Thread(target=client) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert statuses == [200] * 120
        assert count(local_api) == 120

    @pytest.mark.slow
    def test_a_restart_with_the_same_store_keeps_everything(self, tmp_path: Path) -> None:
        with run_server(tmp_path) as first:
            session_id = post(first, "/session/start", {"session": {"session_name": "s"}}).json()["session_id"]
            event_id = post(first, "/events", {"event": tool(session_id=session_id)}).json()["event_id"]
        with run_server(tmp_path) as second:
            assert stored(second, event_id)["session_id"] == session_id
            assert put(second, {"event_id": session_id, "metadata": {"after": "restart"}}).status_code == 200
            assert count(second) == 2


BOMB_BYTES = 256 * 1024 * 1024


@pytest.fixture(scope="module")
def small_limit_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("limited"), "--max-body-bytes", "1048576") as server:
        yield server


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


class TestBodyLimits:
    """`--max-body-bytes` (here 1 MiB) bounds every body, measured after decompression."""

    LIMIT = 1024 * 1024

    def _padded_event(self, size: int) -> bytes:
        body = orjson.dumps({"event": tool(inputs={"pad": ""})})
        return body.replace(b'"pad":""', b'"pad":"' + b"x" * (size - len(body)) + b'"')

    def test_a_body_at_the_limit_is_accepted(self, small_limit_api: RunningServer) -> None:
        body = self._padded_event(self.LIMIT)
        assert len(body) == self.LIMIT
        assert post_raw(small_limit_api, "/events", body).status_code == 200

    def test_a_body_over_the_limit_is_413(self, small_limit_api: RunningServer) -> None:
        before = count(small_limit_api)
        assert_refused(post_raw(small_limit_api, "/events", self._padded_event(self.LIMIT + 1)), 413,
                       "exceeds the limit of 1 MiB (after decompression; --max-body-bytes)")
        assert count(small_limit_api) == before

    def test_a_chunked_body_is_measured_as_it_streams(self, small_limit_api: RunningServer) -> None:
        body = self._padded_event(3 * self.LIMIT)
        chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))  # no Content-Length: chunked
        assert_refused(post_raw(small_limit_api, "/events", chunks), 413, "exceeds the limit")

    def test_gzip_is_accepted_and_the_limit_applies_after_decompression(
        self, small_limit_api: RunningServer
    ) -> None:
        small = gzip.compress(self._padded_event(self.LIMIT))
        assert post_raw(small_limit_api, "/events", small, **{"Content-Encoding": "gzip"}).status_code == 200
        over = gzip.compress(self._padded_event(self.LIMIT + 1))
        assert len(over) < self.LIMIT // 100  # tiny on the wire, over the limit once inflated
        assert_refused(post_raw(small_limit_api, "/events", over, **{"Content-Encoding": "gzip"}), 413,
                       "after decompression")

    def test_deflate_is_accepted(self, small_limit_api: RunningServer) -> None:
        body = zlib.compress(orjson.dumps({"event": tool()}))
        assert post_raw(small_limit_api, "/events", body, **{"Content-Encoding": "deflate"}).status_code == 200

    @pytest.mark.slow
    @pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from /proc")
    def test_a_gzip_bomb_is_refused_without_inflating_it_in_memory(self, small_limit_api: RunningServer) -> None:
        bomb = gzip_bomb(BOMB_BYTES)
        peak_before = _peak_rss_kib(small_limit_api.proc.pid)
        assert_refused(post_raw(small_limit_api, "/events", bomb, **{"Content-Encoding": "gzip"}), 413,
                       "exceeds the limit")
        growth_mib = (_peak_rss_kib(small_limit_api.proc.pid) - peak_before) / 1024
        assert growth_mib < 32, f"peak memory grew by {growth_mib:.0f} MiB for a {len(bomb)} byte bomb"
        assert small_limit_api.healthy()

    def test_zstd_is_accepted_and_the_limit_applies_after_decoding(self, small_limit_api: RunningServer) -> None:
        small = zstd.compress(self._padded_event(self.LIMIT))
        assert post_raw(small_limit_api, "/events", small, **{"Content-Encoding": "zstd"}).status_code == 200
        over = zstd.compress(self._padded_event(self.LIMIT + 1))
        assert_refused(post_raw(small_limit_api, "/events", over, **{"Content-Encoding": "zstd"}), 413,
                       "after decompression")

    @pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from /proc")
    def test_a_zstd_bomb_is_refused_without_decoding_it_in_memory(self, small_limit_api: RunningServer) -> None:
        bomb = zstd_bomb(BOMB_BYTES)
        peak_before = _peak_rss_kib(small_limit_api.proc.pid)
        assert_refused(post_raw(small_limit_api, "/events", bomb, **{"Content-Encoding": "zstd"}), 413,
                       "exceeds the limit")
        growth_mib = (_peak_rss_kib(small_limit_api.proc.pid) - peak_before) / 1024
        assert growth_mib < 32, f"peak memory grew by {growth_mib:.0f} MiB for a {len(bomb)} byte bomb"
        assert small_limit_api.healthy()

    def test_a_zstd_frame_asking_more_memory_than_the_limit_is_400(self, small_limit_api: RunningServer) -> None:
        body = zstd_with_window(orjson.dumps({"event": tool()}), 30)
        assert_refused(post_raw(small_limit_api, "/events", body, **{"Content-Encoding": "zstd"}), 400,
                       "zstd frame needs a 1 GiB window; this server decodes up to 8 MiB")

    def test_corrupt_or_truncated_gzip_is_400(self, small_limit_api: RunningServer) -> None:
        assert_refused(post_raw(small_limit_api, "/events", b"not gzip at all", **{"Content-Encoding": "gzip"}),
                       400, "not valid compressed data")
        truncated = gzip.compress(orjson.dumps({"event": tool()}))[:-12]
        assert_refused(post_raw(small_limit_api, "/events", truncated, **{"Content-Encoding": "gzip"}),
                       400, "truncated")

    def test_an_unknown_content_encoding_is_400(self, small_limit_api: RunningServer) -> None:
        assert_refused(post_raw(small_limit_api, "/events", b"{}", **{"Content-Encoding": "br"}), 400,
                       "unsupported Content-Encoding 'br'")


TOKEN = "tok-3f9a1c77e2d84b"


@pytest.fixture(scope="module")
def guarded_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("auth"), "--auth-token", TOKEN) as server:
        yield server


class TestBearerToken:
    def test_healthz_needs_no_token(self, guarded_api: RunningServer) -> None:
        assert requests.get(guarded_api.url + "/healthz", timeout=TIMEOUT).status_code == 200

    @pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"])
    def test_a_missing_or_wrong_token_is_401_and_stores_nothing(
        self, guarded_api: RunningServer, authorization: str | None
    ) -> None:
        headers = {"Authorization": authorization} if authorization else {}
        response = requests.post(guarded_api.url + "/events", json={"event": tool()}, headers=headers,
                                 timeout=TIMEOUT)
        assert_refused(response, 401, "missing or invalid bearer token")
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert count(guarded_api) == 0

    def test_unknown_routes_are_hidden_behind_the_token_too(self, guarded_api: RunningServer) -> None:
        assert requests.get(guarded_api.url + "/v1/nothing", timeout=TIMEOUT).status_code == 401

    def test_the_right_token_is_let_through_and_never_logged(self, guarded_api: RunningServer) -> None:
        response = requests.post(guarded_api.url + "/events", json={"event": tool()},
                                 headers={"Authorization": f"bearer {TOKEN}"}, timeout=TIMEOUT)
        assert response.status_code == 200
        assert TOKEN not in guarded_api.stderr()

    def test_the_token_may_come_from_the_environment(self, tmp_path: Path) -> None:
        with run_server(tmp_path, env={"OTEL_HONEYHIVE_AUTH_TOKEN": TOKEN}) as server:
            assert post(server, "/events", {"event": tool()}).status_code == 401
            assert post(server, "/events", {"event": tool()},
                        headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


API_KEY = "hh-key-5d1e0b7c9a"


class TestRemoteOutput:
    """With an API key the server forwards to HoneyHive and answers only after HoneyHive accepted."""

    def _forwarding(self, tmp_path: Path, url: str) -> Any:
        return run_server(tmp_path, "--api-key", API_KEY, "--server-url", url, env={"HH_TIMEOUT": "0.5"})

    def test_events_are_forwarded_and_acknowledged_after_honeyhive_accepts(self, tmp_path: Path) -> None:
        with fake_honeyhive() as honeyhive, self._forwarding(tmp_path, honeyhive.url) as bridge:
            event_id = new_id()
            assert post(bridge, "/events", {"event": tool(event_id=event_id)}).status_code == 200
            assert [e["event_id"] for e in honeyhive.events] == [event_id]
            assert honeyhive.batches[0].headers["Authorization"] == f"Bearer {API_KEY}"
            assert not (tmp_path / "otel-honeyhive.db").exists()  # no local store when forwarding
            assert API_KEY not in bridge.stderr()

    @pytest.mark.slow
    def test_a_transient_honeyhive_failure_is_503_with_retry_after(self, tmp_path: Path) -> None:
        with fake_honeyhive() as honeyhive, self._forwarding(tmp_path, honeyhive.url) as bridge:
            honeyhive.default = Reply(503, {"Retry-After": "7"})
            response = post(bridge, "/events", {"event": tool()})
            assert_refused(response, 503, "HTTP 503")
            assert int(response.headers["retry-after"]) >= 1

    @pytest.mark.slow
    def test_a_refusal_by_honeyhive_is_502(self, tmp_path: Path) -> None:
        with fake_honeyhive() as honeyhive, self._forwarding(tmp_path, honeyhive.url) as bridge:
            honeyhive.default = Reply(400, body=b'{"error": "bad"}')
            assert_refused(post(bridge, "/events/batch", {"events": [tool()]}), 502, "HTTP 400")

    @pytest.mark.slow
    def test_a_bridge_can_forward_to_another_bridge(self, tmp_path: Path, local_api: RunningServer) -> None:
        (tmp_path / "front").mkdir()
        with run_server(tmp_path / "front", "--api-key", API_KEY, "--server-url", local_api.url) as front:
            started = post(front, "/session/start", {"session": {"session_name": "relay"}}).json()
            post(front, "/events", {"event": tool(session_id=started["session_id"])})
        with local_api.store() as store:
            [summary] = store.list_sessions()
        assert (summary.session_id, summary.name, summary.events) == (started["session_id"], "relay", 1)


@pytest.mark.parametrize("batch_mode", ["multi", "session"])
def test_the_packages_own_exporter_ships_into_the_local_api(local_api: RunningServer, batch_mode: str) -> None:
    """Both request shapes the HoneyHive output sends (several sessions per request, or one session described
    by `session_properties`) land as one session tree."""
    from otel_honeyhive import HoneyHiveSpanExporter

    exporter = HoneyHiveSpanExporter(api_key="k", server_url=local_api.url, project="demo", batch_mode=batch_mode)
    provider = provider_exporting_to(exporter)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("rag"):
        with tracer.start_as_current_span("answer", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 5,
        }):
            pass
        with tracer.start_as_current_span("search", attributes={"gen_ai.tool.name": "search"}):
            pass
    provider.shutdown()
    with local_api.store() as store:
        [summary] = store.list_sessions()
        events = store.session_events(summary.session_id)
    assert (summary.name, summary.events, summary.has_session_event) == ("rag", 2, True)
    by_name = {e["event_name"]: e for e in events}
    assert by_name["answer"]["event_type"] == "model" and by_name["search"]["event_type"] == "tool"
    assert {by_name["answer"]["parent_id"], by_name["search"]["parent_id"]} == {summary.session_id}
    assert all(e["project"] == "demo" for e in events)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
EVENT_KEYS = st.sampled_from(["event_type", "inputs", "event_id", "session_id", "parent_id", "children_ids",
                              "start_time", "end_time", "duration", "error", "metadata", "event_name"])
EVENTISH = st.dictionaries(EVENT_KEYS, JSON | st.sampled_from(["model", "session", new_id()]), max_size=6)


def test_arbitrary_bodies_never_crash_the_server(shared_api: RunningServer) -> None:
    """Whatever arrives, the server answers 200 or a 4xx with a JSON error, and keeps serving."""
    session = requests.Session()

    @settings(suppress_health_check=[HealthCheck.too_slow])
    @given(body=JSON | st.fixed_dictionaries({"event": JSON | EVENTISH})
           | st.fixed_dictionaries({"events": st.lists(EVENTISH, max_size=3)}, optional={"is_single_session": JSON}),
           path=st.sampled_from(["/events", "/events/batch", "/session/start"]),
           method=st.sampled_from(["POST", "PUT"]))
    def check(body: Any, path: str, method: str) -> None:
        if method == "PUT" and path != "/events":
            return
        response = session.request(method, shared_api.url + path, data=orjson.dumps(body),
                                   headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
        assert response.status_code == 200 or 400 <= response.status_code < 500, response.text
        assert isinstance(response.json()["success"], bool)

    @given(data=st.binary(max_size=200))
    def check_bytes(data: bytes) -> None:
        response = session.post(shared_api.url + "/events/batch", data=data,
                                headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
        assert response.status_code == 200 or 400 <= response.status_code < 500

    check()
    check_bytes()
    assert shared_api.healthy()
