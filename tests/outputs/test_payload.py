"""`/events/batch` bodies (SPEC §4): a session's events together and its session event first, every body within
the count and byte limits, the same bytes whether a run of events is encoded whole or event by event."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_honeyhive.outputs.honeyhive.payload import _join, encode_multi, group_sessions

HEAD, TAIL = b'{"events":[', b'],"is_single_session":false}'
SESSIONS = ["5b0f7f3e-5f4c-4d33-9a4e-0c6f2a8e9d11", "a3c1e9d2-7b64-4f0e-8c2d-6e1f4b9a7c35", None]

events = st.lists(
    st.builds(
        lambda i, session, kind, text: {"event_id": f"e{i}", "session_id": session, "event_type": kind,
                                        "inputs": {"text": text}, "metadata": {}},
        st.integers(0, 10_000), st.sampled_from(SESSIONS), st.sampled_from(["session", "model", "tool", "chain"]),
        st.text(max_size=400),
    ),
    max_size=40,
)


def _decoded(bodies: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for body in bodies:
        parsed = orjson.loads(body)
        assert parsed["is_single_session"] is False
        out.extend(parsed["events"])
    return out


@settings(max_examples=200, deadline=None)
@given(events, st.integers(1, 12), st.integers(600, 6000))
def test_bodies_keep_every_event_in_session_order_within_the_limits(
    batch: list[dict[str, Any]], max_events: int, max_bytes: int
) -> None:
    bodies = list(encode_multi(batch, max_events, max_bytes))
    ordered = [e for group in group_sessions(batch) for e in group]
    decoded = _decoded([b.data for b in bodies])
    assert [e["event_id"] for e in decoded] == [e["event_id"] for e in ordered]
    for body in bodies:
        assert body.event_count == len(orjson.loads(body.data)["events"]) <= max_events
        assert len(body.data) <= max_bytes or body.event_count == 1  # only a lone event is ever cut to fit


@settings(max_examples=100, deadline=None)
@given(events)
def test_a_run_encoded_whole_is_byte_for_byte_the_run_encoded_event_by_event(batch: list[dict[str, Any]]) -> None:
    bodies = list(encode_multi(batch, 500, 5 * 1024 * 1024))
    ordered = [e for group in group_sessions(batch) for e in group]
    assert [b.data for b in bodies] == ([_join(HEAD, [orjson.dumps(e) for e in ordered], TAIL)] if ordered else [])


def test_an_event_larger_than_a_request_is_cut_and_marked() -> None:
    big = {"event_id": "big", "session_id": SESSIONS[0], "event_type": "model", "inputs": {"text": "x" * 20_000},
           "metadata": {}}
    (body,) = encode_multi([big], 500, 4096)
    assert len(body.data) <= 4096
    (event,) = _decoded([body.data])
    assert event["metadata"]["otel_honeyhive_truncated"] == ["inputs.text"]


def test_a_value_json_cannot_hold_as_it_is_is_made_representable_not_refused() -> None:
    odd = {"event_id": "odd", "session_id": SESSIONS[0], "event_type": "tool", "inputs": {"raw": b"\xff\x00"},
           "metadata": {}}
    (body,) = encode_multi([odd], 500, 4096)
    (event,) = _decoded([body.data])
    assert event["inputs"]["raw"] == "base64:/wA="
