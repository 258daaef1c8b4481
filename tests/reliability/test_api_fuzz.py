"""Structural fuzz of the HoneyHive-compatible API of a real `otel-honeyhive serve` (local store): every field
of every route's body given every JSON type, removed, or joined by unknown fields (tests/support/api_bodies.py).

Every answer must be a 200 or a 4xx saying what is wrong, never a 5xx (a 500 here once meant the store refused
what validation had let through: issue 18), never a hang (each request has a timeout); every id the store then
holds is a canonical UUID, and the server answers `/healthz` at the end. Answers are counted by route and status
and printed with the reliability figures.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.figures import FIGURES
from tests.support.api_bodies import EVENT, ROUTES, UPDATED_ID, Route, dumps, mutated
from tests.support.server import RunningServer, start_server

pytestmark = pytest.mark.slow  # thousands of requests to one server

TIMEOUT = 10
REQUESTS_PER_EXAMPLE = 3
"""Bodies sent per hypothesis example: with the `ci` profile's 200 examples, 600 per route body, 3,000 in all."""
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
FUZZ = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("api-fuzz"))
    FIGURES.servers_started += 1
    response = requests.post(running.url + "/events", data=dumps({"event": {**EVENT, "event_id": UPDATED_ID}}),
                             headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text  # the event valid updates find
    try:
        yield running
    finally:
        alive = running.healthy()
        running.stop()
        if running.crashed or not alive:
            FIGURES.server_crashes += 1
    assert alive and not running.crashed, running.stderr()


def send(session: requests.Session, server: RunningServer, route: Route, body: Any) -> requests.Response:
    response = session.request(route.method, server.url + route.path, data=dumps(body),
                               headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    FIGURES.answered(route.name, response.status_code)
    return response


def assert_answer(route: Route, body: Any, response: requests.Response) -> None:
    """200 with canonical ids, or a 4xx with `{"success": false, "error": "<what is wrong>"}`; never a 5xx."""
    shown = dumps(body)[:400]
    assert response.status_code < 500, (route.name, response.status_code, response.text[:400], shown)
    answer = response.json()
    if response.status_code != 200:
        assert 400 <= response.status_code < 500 and answer["success"] is False, (answer, shown)
        assert isinstance(answer["error"], str) and answer["error"], (answer, shown)
        return
    assert answer["success"] is True
    ids = [answer[k] for k in ("event_id", "session_id") if k in answer] + answer.get("event_ids", [])
    assert all(CANONICAL_UUID.fullmatch(i) for i in ids), (answer, shown)


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.name} {'/'.join(r.valid)}" for r in ROUTES])
def test_every_field_given_any_json_gets_200_or_a_4xx_never_a_5xx(server: RunningServer, route: Route) -> None:
    session = requests.Session()

    @FUZZ
    @given(bodies=st.lists(mutated(route), min_size=REQUESTS_PER_EXAMPLE, max_size=REQUESTS_PER_EXAMPLE))
    def check(bodies: list[Any]) -> None:
        for body in bodies:
            assert_answer(route, body, send(session, server, route, body))

    check()
    assert server.healthy()
    with server.store() as store:
        for session_id in store.sessions_started():
            for event in store.session_events(session_id):
                for name in ("event_id", "session_id"):
                    assert CANONICAL_UUID.fullmatch(event[name]), event
                assert event.get("parent_id") is None or CANONICAL_UUID.fullmatch(event["parent_id"]), event
                assert all(CANONICAL_UUID.fullmatch(c) for c in event.get("children_ids", [])), event
