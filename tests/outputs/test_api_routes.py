"""The two batch routes (docs/honeyhive-api.md): v1 bodies carry only documented fields, `auto` falls back to the
legacy route once on a 404/405, an explicit version never switches, the 413 split works on both routes, and the
legacy route's 500 "events partially created" is retried with the failed event ids logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from otel_honeyhive.core.encoded import EncodedEvents
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import Outcome, is_configuration_refusal
from otel_honeyhive.outputs.honeyhive.client import HoneyHiveOutput
from otel_honeyhive.outputs.honeyhive.payload import LEGACY, V1, encode, v1_event
from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.fake_honeyhive import FakeHoneyHive, Reply, Routes, v1_problems

FAST = RetryPolicy(deadline=5.0, initial_backoff=0.05, max_backoff=0.2, jitter=0.2)
SESSION = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0"


def event(i: int, *, session: str = SESSION, **fields: Any) -> Event:
    """A mapper-shaped event with the legacy `project`, as the exporter makes them when a project is set."""
    return {
        "project": "proj", "source": "dev", "session_id": session, "event_id": f"{i:08d}-0000-4000-8000-000000000000",
        "parent_id": session, "children_ids": [], "event_type": "tool", "event_name": f"step-{i}", "config": {},
        "inputs": {"n": i}, "outputs": {}, "error": None, "start_time": 1000 + i, "end_time": 1001 + i,
        "duration": 1.0, "metadata": {"span_id": f"{i:016x}"}, "metrics": {}, "feedback": {}, "user_properties": {},
        **fields,
    }


def session_event(session: str = SESSION) -> Event:
    return {**event(0, session=session), "event_id": session, "parent_id": None, "event_type": "session",
            "event_name": "run"}


@pytest.fixture(params=["v1", "legacy", "both"])
def routes(request: pytest.FixtureRequest) -> Routes:
    served: Routes = request.param
    return served


def fake(routes: Routes, **kwargs: Any) -> Iterator[FakeHoneyHive]:
    server = FakeHoneyHive(routes=routes, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def v1_only() -> Iterator[FakeHoneyHive]:
    yield from fake("v1")


@pytest.fixture
def legacy_only() -> Iterator[FakeHoneyHive]:
    yield from fake("legacy")


def output(server: FakeHoneyHive, **kwargs: Any) -> HoneyHiveOutput:
    return HoneyHiveOutput(HoneyHiveSettings.resolve(environ={}, server_url=server.url, **kwargs), FAST)


# -- the v1 body ------------------------------------------------------------------------------------------------


def test_a_v1_event_keeps_documented_fields_and_moves_the_rest_into_metadata() -> None:
    original = event(1, custom="kept")
    del original["inputs"]
    converted = v1_event(original)
    assert "project" not in converted and "custom" not in converted
    assert converted["metadata"] == {"project": "proj", "custom": "kept", "span_id": original["metadata"]["span_id"]}
    assert converted["inputs"] == {}, "inputs is required on v1: an event without any gets {}"
    assert "project" in original and "inputs" not in original, "the event itself is left as it was"


def test_a_metadata_key_of_the_event_wins_over_a_moved_field() -> None:
    converted = v1_event(event(1, metadata={"project": "from-metadata"}))
    assert converted["metadata"] == {"project": "from-metadata"}


def test_an_event_already_fit_for_v1_is_not_copied() -> None:
    fit = v1_event(event(1))
    assert v1_event(fit) is fit


@pytest.mark.parametrize("mode", ["multi", "session"])
@pytest.mark.parametrize("encoded", [False, True], ids=["events", "encoded"])
def test_v1_bodies_hold_only_what_the_v1_route_documents(mode: str, encoded: bool) -> None:
    other = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f1"
    events = [session_event(), event(1), event(2), session_event(other), event(3, session=other)]
    batch: Any = events
    if encoded:
        batch = EncodedEvents()
        batch.add(events[:3])
        batch.add(events[3:])
    bodies = [orjson.loads(b.data) for b in encode(batch, mode, 1000, 5 * 1024 * 1024, V1)]
    for body in bodies:
        assert v1_problems(body) == []
        assert "is_single_session" not in body
    sent = [e for body in bodies for e in body["events"]]
    assert [e["event_id"] for e in sent] == [e["event_id"] for e in events], "every event, session events included"
    assert all(e["metadata"]["project"] == "proj" for e in sent)
    if mode == "multi":
        assert [body["single_session"] for body in bodies] == [False]
    else:  # one session per body: single_session only where every event shares one session_id
        assert [body["single_session"] for body in bodies] == [True, True]
        assert all(len({e["session_id"] for e in body["events"]}) == 1 for body in bodies)
        assert bodies[0]["session_properties"] == {"session_name": "run", "start_time": 1000}


def test_legacy_bodies_are_as_before() -> None:
    (body,) = [orjson.loads(b.data) for b in encode([event(1)], "multi", 1000, 5 * 1024 * 1024, LEGACY)]
    assert body == {"events": [event(1)], "is_single_session": False}


# -- auto, v1, legacy -------------------------------------------------------------------------------------------


def test_auto_delivers_to_a_v1_only_honeyhive_that_rejects_unknown_fields(v1_only: FakeHoneyHive) -> None:
    out = output(v1_only)
    batch = [session_event(), event(1), event(2)]
    assert out.send(batch).ok
    assert v1_only.refused == [], "nothing was refused: no unknown field, no legacy alias, inputs everywhere"
    assert {r.path for r in v1_only.batches} == {"/v1/events/batch"}
    assert [e["event_id"] for e in v1_only.events] == [e["event_id"] for e in batch]


def test_auto_switches_to_the_legacy_route_once_and_resends_at_once(
    legacy_only: FakeHoneyHive, caplog: pytest.LogCaptureFixture
) -> None:
    out = output(legacy_only)
    with caplog.at_level(logging.INFO, logger="otel_honeyhive.outputs.honeyhive"):
        assert out.send([event(1)]).ok
        assert out.send([event(2)]).ok
    assert [(r.path, r.status) for r in legacy_only.refused] == [("/v1/events/batch", 404)], "asked v1 once only"
    assert [e["event_id"] for e in legacy_only.events] == [event(1)["event_id"], event(2)["event_id"]]
    assert all(r.body["is_single_session"] is False and r.body["events"][0]["project"] == "proj"
               for r in legacy_only.batches), "legacy bodies as the legacy route documents them"
    switches = [r for r in caplog.records if "legacy" in r.getMessage()]
    assert len(switches) == 1 and "HH_API_VERSION" in switches[0].getMessage()
    assert out.route == LEGACY


def test_a_405_on_the_v1_route_switches_too(legacy_only: FakeHoneyHive) -> None:
    out = output(legacy_only)
    out.route = V1
    legacy_only.routes = "both"
    legacy_only.then(Reply(405, body=b'{"error": "method not allowed"}'))
    assert out.send([event(1)]).ok
    assert [r.status for r in legacy_only.requests] == [405, 200]
    assert [r.path for r in legacy_only.requests] == ["/v1/events/batch", "/events/batch"]


def test_auto_applies_the_refusal_handling_only_when_the_legacy_route_refuses_too(
    legacy_only: FakeHoneyHive,
) -> None:
    legacy_only.then(Reply(404, body=b'{"error": "not found"}'))
    result = output(legacy_only).send([event(1)])
    assert result.outcome is Outcome.REJECTED and result.status == 404
    assert "/events/batch" in result.detail and "/v1/" not in result.detail
    assert is_configuration_refusal(result), "the data is kept until the configuration is fixed"


def test_when_both_routes_refuse_nothing_is_pinned_and_a_route_repaired_later_is_found_at_the_next_send(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A proxy that answers 404 on both routes, then is repaired to serve v1 only (no restart): the first sends
    ask v1, then legacy, and switch to nothing; said in one warning, not one per send; the send after the repair
    goes by v1 at once."""
    for server in fake("none"):
        out = output(server)
        with caplog.at_level(logging.INFO, logger="otel_honeyhive.outputs.honeyhive"):
            for i in (1, 2):
                result = out.send([event(i)])
                assert result.outcome is Outcome.REJECTED and result.status == 404
                assert is_configuration_refusal(result) and "/v1/" not in result.detail
            assert out.route == V1
            server.routes = "v1"
            assert out.send([event(3)]).ok
        assert [(r.path, r.status) for r in server.refused] == [
            ("/v1/events/batch", 404), ("/events/batch", 404)] * 2
        assert [(r.path, r.status) for r in server.requests] == [("/v1/events/batch", 200)]
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 1 and "both batch routes" in lines[0] and "HH_API_URL" in lines[0]


def test_when_both_routes_refuse_then_legacy_is_repaired_the_switch_is_made_when_legacy_accepts() -> None:
    for server in fake("none"):
        out = output(server)
        assert out.send([event(1)]).status == 404
        server.routes = "legacy"
        assert out.send([event(2)]).ok
        assert out.route == LEGACY
        assert out.send([event(3)]).ok
        assert [r.path for r in server.requests] == ["/events/batch"] * 2, "legacy from the switch on"
        assert [e["event_id"] for e in server.events] == [event(2)["event_id"], event(3)["event_id"]]


def test_a_legacy_route_gone_after_the_switch_sends_by_v1_again(
    legacy_only: FakeHoneyHive, caplog: pytest.LogCaptureFixture
) -> None:
    """Switched to legacy, then the deployment serves v1 only: the refused batch goes by v1 at once, and v1 is
    used from then on (an upgrade must not need a restart either)."""
    out = output(legacy_only)
    assert out.send([event(1)]).ok and out.route == LEGACY
    legacy_only.routes = "v1"
    with caplog.at_level(logging.INFO, logger="otel_honeyhive.outputs.honeyhive"):
        assert out.send([event(2)]).ok
        assert out.send([event(3)]).ok
    assert out.route == V1
    assert [(r.path, r.status) for r in legacy_only.requests] == [
        ("/events/batch", 200), ("/v1/events/batch", 200), ("/v1/events/batch", 200)]
    (line,) = [r.getMessage() for r in caplog.records]
    assert "accepted the v1 route" in line


def test_a_legacy_refusal_other_than_the_route_switches_to_nothing(legacy_only: FakeHoneyHive) -> None:
    """v1 404, legacy 401 (a wrong key on an older deployment): the key's refusal is returned, and no route was
    learnt, since none accepted."""
    legacy_only.then(Reply(401, body=b'{"error": "bad key"}'))
    out = output(legacy_only)
    result = out.send([event(1)])
    assert result.status == 401 and is_configuration_refusal(result) and out.route == V1
    assert out.send([event(1)]).ok and out.route == LEGACY


@pytest.mark.parametrize("status", [401, 403, 404, 500])
def test_a_refusal_carries_the_receivers_retry_after(legacy_only: FakeHoneyHive, status: int) -> None:
    legacy_only.then(Reply(status, headers={"Retry-After": "300"}, body=b'{"error": "later"}'))
    result = output(legacy_only, api_version="legacy").send([event(1)])
    assert result.outcome is Outcome.REJECTED and result.status == status
    assert result.retry_after == 300.0


def test_an_explicit_v1_never_switches(legacy_only: FakeHoneyHive) -> None:
    out = output(legacy_only, api_version="v1")
    result = out.send([event(1)])
    assert result.outcome is Outcome.REJECTED and result.status == 404
    assert is_configuration_refusal(result)
    assert "HH_API_VERSION=auto or legacy" in result.detail
    assert out.route == V1 and legacy_only.requests == []


def test_an_explicit_legacy_never_asks_v1(v1_only: FakeHoneyHive) -> None:
    result = output(v1_only, api_version="legacy").send([event(1)])
    assert result.outcome is Outcome.REJECTED and result.status == 404
    assert [r.path for r in v1_only.refused] == ["/events/batch"]


@pytest.mark.parametrize("mode", ["multi", "session"])
def test_the_413_split_works_on_both_routes(routes: Routes, mode: str) -> None:
    for server in fake(routes, max_body_bytes=4096):
        out = output(server, batch_mode=mode)
        other = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f1"
        batch = [session_event(), *(event(i, inputs={"text": "x" * 600}) for i in range(1, 12)),
                 session_event(other), event(20, session=other)]
        assert out.send(batch).ok
        assert server.too_large > 0 and out.request_bytes_limit < 5 * 1024 * 1024
        described = [r.body["session_properties"]["session_id"] for r in server.batches if r.status == 200
                     and r.body.get("is_single_session") and "session_name" in r.body["session_properties"]]  # legacy
        assert sorted([e["event_id"] for e in server.events] + described) == sorted(e["event_id"] for e in batch)
        assert server.refused == [] or routes == "legacy"


# -- the legacy 500 "events partially created" ------------------------------------------------------------------


def test_a_partially_created_batch_is_sent_again_and_the_failed_ids_are_logged(
    legacy_only: FakeHoneyHive, caplog: pytest.LogCaptureFixture
) -> None:
    batch = [event(1), event(2), event(3)]
    failed = [batch[1]["event_id"], batch[2]["event_id"]]
    legacy_only.then(Reply(500, body=orjson.dumps({
        "success": False, "event_ids": [batch[0]["event_id"]],
        "errors": [{"event_id": failed[0], "error": "inputs too deep"}, f"event {failed[1]}: write conflict"],
    })))
    out = output(legacy_only, api_version="legacy")
    with caplog.at_level(logging.WARNING, logger="otel_honeyhive.outputs.honeyhive"):
        assert out.send(batch).ok, "retried within the deadline, like a transient fault"
    assert [r.status for r in legacy_only.batches] == [500, 200]
    assert legacy_only.batches[0].body == legacy_only.batches[1].body, "the same batch, the same ids"
    (line,) = [r.getMessage() for r in caplog.records]
    assert "partially created" in line and "1 created, 2 failed" in line
    assert f"{failed[0]}: inputs too deep" in line and failed[1] in line


def test_any_other_500_is_a_refusal_as_before(legacy_only: FakeHoneyHive) -> None:
    legacy_only.then(Reply(500, body=b'{"success": false, "error": "boom"}'))
    result = output(legacy_only, api_version="legacy").send([event(1)])
    assert result.outcome is Outcome.REJECTED and result.status == 500


# -- settings ---------------------------------------------------------------------------------------------------


def test_the_api_version_comes_from_the_keyword_then_hh_api_version_then_auto() -> None:
    assert HoneyHiveSettings.resolve(environ={}).api_version == "auto"
    assert HoneyHiveSettings.resolve(environ={"HH_API_VERSION": "Legacy"}).api_version == "legacy"
    assert HoneyHiveSettings.resolve(environ={"HH_API_VERSION": "legacy"}, api_version="v1").api_version == "v1"


def test_a_bad_api_version_names_the_variable_and_the_allowed_values() -> None:
    with pytest.raises(ValueError) as caught:
        HoneyHiveSettings.resolve(environ={"HH_API_VERSION": "v2"})
    assert str(caught.value) == (
        "environment variable HH_API_VERSION: api_version must be one of auto, v1, legacy, got 'v2'")


def test_the_exporter_takes_api_version_as_a_keyword() -> None:
    from otel_honeyhive import HoneyHiveSpanExporter

    exporter = HoneyHiveSpanExporter(api_key="k", server_url="http://127.0.0.1:9", api_version="legacy")
    try:
        assert exporter.settings.api_version == "legacy"
    finally:
        exporter.shutdown()
    with pytest.raises(ValueError, match=r"^HoneyHiveSpanExporter option 'api_version': api_version must be one of "
                                         r"auto, v1, legacy, got 'v2'$"):
        HoneyHiveSpanExporter(api_key="k", server_url="http://127.0.0.1:9", api_version="v2")


# -- events shaped for v1 as they are encoded ----------------------------------------------------------------------


def _shaped_batch(out: HoneyHiveOutput, *events: Event) -> EncodedEvents:
    """A batch as the pipeline encodes it for this output (`batch_of(..., shape=delivery.event_shape)`)."""
    batch = EncodedEvents()
    batch.add(list(events), out.event_shape)
    return batch


def test_on_the_v1_route_events_are_shaped_as_they_are_encoded(v1_only: FakeHoneyHive) -> None:
    out = output(v1_only)
    assert out.event_shape is not None
    batch = _shaped_batch(out, session_event(), event(1))
    assert all(block.shape == V1 for block in batch.blocks)
    encoded = [e for block in batch.blocks for e in block.events()]
    assert [("project" in e, e["metadata"]["project"]) for e in encoded] == [(False, "proj")] * 2
    assert out.send(batch).ok
    assert [e["metadata"]["project"] for e in v1_only.events] == ["proj", "proj"]
    assert not v1_only.refused


def test_blocks_shaped_for_v1_go_by_the_legacy_route_with_their_project_back(legacy_only: FakeHoneyHive) -> None:
    """Shaped before the switch (the route changed while they were on their way): the legacy bodies still carry
    each event's `project`, and the output shapes nothing once it is on the legacy route."""
    out = output(legacy_only)
    batch = _shaped_batch(out, session_event(), event(1))
    assert out.send(batch).ok
    assert out.route == LEGACY and out.event_shape is None
    assert [(e["project"], "project" in e["metadata"]) for e in legacy_only.events] == [("proj", False)] * 2


def test_one_session_per_request_takes_events_as_they_are(v1_only: FakeHoneyHive) -> None:
    assert output(v1_only, batch_mode="session").event_shape is None


def test_in_place_shaping_gives_what_v1_event_gives() -> None:
    from otel_honeyhive.outputs.honeyhive.payload import v1_event_in_place

    for original in (event(1), event(2, metadata={"project": "own"}), event(3, project=None),
                     event(4, extra_field=True), {**event(5), "inputs": None}):
        expected = v1_event(original)
        assert v1_event_in_place(orjson.loads(orjson.dumps(original))) == expected
