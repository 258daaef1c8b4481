"""`RoutedHoneyHiveOutput` against a real (fake) HoneyHive: each project's events go in requests of their own with
that project's key, on both routes, through the 413 split and the v1 → legacy switch; an event whose project has
no key is a configuration refusal, never sent with another key; an update goes with its event's key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import Outcome, Update, is_configuration_refusal
from otel_honeyhive.core.routing import RoutingTable
from otel_honeyhive.outputs.honeyhive.routed import RoutedHoneyHiveOutput
from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.fake_honeyhive import FakeHoneyHive, Reply, Routes, fake_honeyhive
from tests.support.routing import KEYS, events_by_key

NO_WAITING = RetryPolicy(deadline=0.5, initial_backoff=5.0, max_backoff=5.0)
TABLE = {
    "rules": [{"resource": {"service.name": "support"}, "project": "support"},
              {"resource": {"service.name": "billing"}, "project": "billing"}],
    "projects": {name: {"api_key": KEYS[name]} for name in ("support", "billing", "main")},
    "default": "main",
}


def session(project: str, n: int, tag: str) -> list[Event]:
    sid = f"00000000-0000-4000-8000-{tag.encode().hex():0>12}"[-36:]
    return [{"event_id": f"{tag}-{i}", "session_id": sid, "event_type": "session" if i == 0 else "tool",
             "event_name": f"{tag} {i}", "inputs": {"text": "x" * 200}, "project": project} for i in range(n)]


def routed(honeyhive: FakeHoneyHive, api_version: str = "auto", **settings: Any) -> RoutedHoneyHiveOutput:
    resolved = HoneyHiveSettings.resolve(server_url=honeyhive.url, api_version=api_version, environ={}, **settings)
    return RoutedHoneyHiveOutput(resolved, RoutingTable.parse(TABLE, environ={}), NO_WAITING)


@pytest.fixture(params=["v1", "legacy"])
def server(request: pytest.FixtureRequest) -> Iterator[FakeHoneyHive]:
    routes: Routes = request.param
    with fake_honeyhive(routes) as honeyhive:
        yield honeyhive


def interleaved() -> list[Event]:
    return [*session("support", 3, "s1"), *session("billing", 2, "b1"), *session("support", 2, "s2"),
            *session("main", 2, "m1")]


def test_each_projects_events_go_with_its_own_key_and_never_share_a_request(server: FakeHoneyHive) -> None:
    out = routed(server)
    batch = interleaved()
    assert out.send(batch).ok
    received = events_by_key(server)
    assert {p: sorted(e["event_id"] for e in got) for p, got in received.items()} == {
        "support": sorted(e["event_id"] for e in batch if e["project"] == "support"),
        "billing": ["b1-0", "b1-1"],
        "main": ["m1-0", "m1-1"],
    }
    assert len(server.batches) == 3  # one request per project
    out.close()


def test_a_413_split_keeps_each_pieces_key(server: FakeHoneyHive) -> None:
    server.max_body_bytes = 1500
    out = routed(server)
    batch = [*session("support", 8, "s1"), *session("billing", 8, "b1")]
    assert out.send(batch).ok
    assert server.too_large >= 2
    received = events_by_key(server)  # every piece checked against its key
    assert sorted(e["event_id"] for e in received["support"]) == sorted(f"s1-{i}" for i in range(8))
    assert sorted(e["event_id"] for e in received["billing"]) == sorted(f"b1-{i}" for i in range(8))
    out.close()


def test_an_event_too_large_in_one_project_is_refused_alone_unless_another_part_failed(
    server: FakeHoneyHive,
) -> None:
    server.max_body_bytes = 1500
    out = routed(server)
    support, billing = session("support", 3, "s1"), session("billing", 2, "b1")
    support[1]["children_ids"] = [f"{i:036d}" for i in range(60)]  # never cut: too large for any request
    result = out.send([*support, *billing])
    assert result.outcome is Outcome.REJECTED and result.refused == ("s1-1",)
    received = events_by_key(server)
    assert sorted(e["event_id"] for e in received["support"]) == ["s1-0", "s1-2"]
    assert sorted(e["event_id"] for e in received["billing"]) == ["b1-0", "b1-1"]
    marketing = session("marketing", 1, "x1")  # no key: that part is not delivered
    result = out.send([*support, *marketing])
    assert result.outcome is Outcome.REJECTED and not result.refused, "the batch as a whole, not delivered"
    out.close()


def test_the_route_switch_happens_per_project_with_the_right_key() -> None:
    with fake_honeyhive("legacy") as honeyhive:
        out = routed(honeyhive, api_version="auto")
        assert out.send(interleaved()).ok
        assert {o.route for o in out.outputs.values() if o.requests_sent} == {"legacy"}
        assert set(events_by_key(honeyhive)) == {"support", "billing", "main"}
        assert len(honeyhive.refused) == 3  # each project's output met the v1 404 once, with its own key
        out.close()


def test_an_event_of_a_project_without_a_key_is_a_configuration_refusal_never_sent(server: FakeHoneyHive) -> None:
    out = routed(server)
    batch = [*session("support", 2, "s1"), *session("marketing", 2, "x1")]
    result = out.send(batch)
    assert result.outcome is Outcome.REJECTED and is_configuration_refusal(result)
    assert "'marketing'" in result.detail and "key-" not in result.detail
    assert out.send(batch).outcome is Outcome.REJECTED  # kept and tried again: the support part is not resent
    received = events_by_key(server)
    assert set(received) == {"support"}
    assert [e["event_id"] for e in received["support"]] == ["s1-0", "s1-1"]
    assert out.refused_unkeyed == 4
    out.close()


def test_a_project_that_fails_does_not_hold_back_the_others(server: FakeHoneyHive) -> None:
    out = routed(server)
    server.then(Reply(200), Reply(503))  # support's request passes, billing's fails
    batch = [*session("support", 2, "s1"), *session("billing", 2, "b1")]
    assert out.send(batch).outcome is Outcome.RETRY_LATER
    assert out.send(batch).ok  # sent again: only billing's part goes
    received = events_by_key(server)
    assert [e["event_id"] for e in received["support"]] == ["s1-0", "s1-1"]
    assert [e["event_id"] for e in received["billing"]] == ["b1-0", "b1-1"]
    out.close()


def test_an_update_goes_with_the_key_of_its_events_project() -> None:
    with fake_honeyhive("both") as honeyhive:
        out = routed(honeyhive)
        assert out.send(session("billing", 2, "b1")).ok
        assert out.update(Update("b1-1", {"outputs": {"text": "late"}})).ok
        put = [r for r in honeyhive.requests if r.method == "PUT"]
        assert [r.headers["Authorization"] for r in put] == [f"Bearer {KEYS['billing']}"]
        refused = out.update(Update("never-sent", {"outputs": {}}))
        assert refused.outcome is Outcome.REJECTED
        assert not is_configuration_refusal(refused, update=True)  # the data's: set aside, not retried forever
        assert len([r for r in honeyhive.requests if r.method == "PUT"]) == 1
        out.close()


def test_an_event_whose_project_is_not_a_name_is_refused_like_one_without_a_key(server: FakeHoneyHive) -> None:
    out = routed(server)
    odd = [{**event, "project": {"name": "support"}} for event in session("support", 1, "o1")]
    result = out.send([*odd, *session("billing", 1, "b1")])
    assert is_configuration_refusal(result)
    assert set(events_by_key(server)) == {"billing"}
    out.close()
