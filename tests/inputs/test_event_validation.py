"""The validation of the HoneyHive-compatible API, in process: whatever body it lets through, the store takes.

The server answers 500 when the store refuses what validation accepted, blaming itself for the client's input;
so every body the structural fuzz makes (tests/support/api_bodies.py) is either refused here with a message
naming a field, or made into events with canonical ids that a real store (SQLite, in a temporary file) and every
JSON writer on the way out accept.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import Outcome, Update
from otel_honeyhive.inputs.event_validation import (
    MAX_NESTING,
    EventDefaults,
    ValidationError,
    parse_batch,
    parse_batch_v1,
    parse_create,
    parse_session_start,
    parse_update,
)
from otel_honeyhive.outputs.store import SQLiteStore
from tests.support.api_bodies import EVENT, ROUTES, UPDATED_ID, Route, dumps, mutated

CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DEFAULTS = EventDefaults()


def parsed(route: Route, body: Any) -> list[Event] | Update:
    """What the route makes of `body` once it is JSON on the wire and back (ValidationError when refused)."""
    doc = orjson.loads(dumps(body))
    if route.method == "PUT":
        return parse_update(doc)
    if route.path == "/events":
        return [parse_create(doc, DEFAULTS)]
    if route.path == "/session/start":
        return [parse_session_start(doc, DEFAULTS)]
    if route.path == "/v1/events/batch":
        return parse_batch_v1(doc, DEFAULTS).events
    return parse_batch(doc, DEFAULTS).events


def assert_storable(event: Event) -> None:
    for name in ("event_id", "session_id"):
        assert CANONICAL_UUID.fullmatch(event[name]), (name, event[name])
    assert event["parent_id"] is None or CANONICAL_UUID.fullmatch(event["parent_id"]), event["parent_id"]
    assert all(CANONICAL_UUID.fullmatch(child) for child in event.get("children_ids", [])), event["children_ids"]
    orjson.dumps({"events": [[event]]})  # wrapped, as a spool record or a batch to HoneyHive wraps it


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.name} {'/'.join(r.valid)}" for r in ROUTES])
def test_a_body_is_refused_naming_a_field_or_stored(tmp_path: Path, route: Route) -> None:
    assert parsed(route, route.valid), "the unmutated body is accepted"
    store = SQLiteStore(tmp_path / "store.db")
    assert store.send([{**EVENT, "event_id": UPDATED_ID}]).ok

    @settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(body=mutated(route))
    def check(body: Any) -> None:
        try:
            result = parsed(route, body)
        except orjson.JSONDecodeError:
            return  # the server's parser refuses it: 400 (nesting past 1,024 levels)
        except ValidationError as exc:
            assert str(exc) and not str(exc).startswith(":"), exc
            return
        if isinstance(result, Update):
            answer = store.update(result)
            assert answer.ok or (answer.outcome is Outcome.REJECTED and "unknown event_id" in (answer.detail or "")), \
                answer
            return
        for event in result:
            assert_storable(event)
        assert store.send(result).ok, store.send(result)

    try:
        check()
    finally:
        store.close()


@pytest.mark.parametrize("depth", [MAX_NESTING, MAX_NESTING + 1])
@pytest.mark.parametrize("field", ["inputs", "metadata", "not_documented"])
def test_values_nest_at_most_max_nesting_levels(field: str, depth: int) -> None:
    value: Any = {"list": []}  # an object (the buckets must be) holding lists
    for _ in range(depth - 2):
        value = {"list": [value["list"]]}
    event = {"event_type": "tool", "inputs": {}, field: value}
    if depth <= MAX_NESTING:
        assert parse_create({"event": event}, DEFAULTS)[field] == value
    else:
        with pytest.raises(ValidationError, match=rf"^event\.{field}: nested {depth} levels deep; at most 128"):
            parse_create({"event": event}, DEFAULTS)


@given(st.integers(2**53, 2**80) | st.integers(-(2**80), -(2**53)))
def test_times_past_2_to_the_53_are_refused_naming_the_field(value: int) -> None:
    with pytest.raises(ValidationError, match=r"^event\.start_time: must be within ±9007199254740991"):
        parse_create({"event": {"event_type": "tool", "inputs": {}, "start_time": value}}, DEFAULTS)
