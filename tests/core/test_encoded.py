"""Events encoded as soon as a trace is mapped: to every reader an ordinary sequence of the same events, grouped
by session with the session event first, as the HoneyHive payload needs them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from otel_honeyhive.core.encoded import (
    EncodedEvents,
    array_items,
    batch_of,
    blocks_of,
    group_sessions,
    is_encoded,
)
from otel_honeyhive.shipping.records import SpoolRecord

SESSIONS = ["5b0f7f3e-5f4c-4d33-9a4e-0c6f2a8e9d11", "a3c1e9d2-7b64-4f0e-8c2d-6e1f4b9a7c35", None]

trace_events = st.lists(
    st.builds(
        lambda i, session, kind, value: {"event_id": f"e{i}", "session_id": session, "event_type": kind,
                                         "inputs": {"value": value}},
        st.integers(0, 10_000), st.sampled_from(SESSIONS), st.sampled_from(["session", "model", "tool", "chain"]),
        st.one_of(st.text(max_size=50), st.integers(-(2**63), 2**63 - 1),
                  st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none()),
    ),
    max_size=12,
)


@given(st.lists(trace_events, max_size=6))
def test_encoded_events_read_as_the_events_of_each_trace_grouped_by_session(traces: list[list[dict[str, Any]]]) -> None:
    encoded = EncodedEvents()
    for trace in traces:
        encoded.add(trace)
    expected = [e for trace in traces for group in group_sessions(trace) for e in group]
    assert list(encoded) == expected
    assert len(encoded) == len(expected)
    assert encoded[:2] == expected[:2]
    assert orjson.loads(b"".join([b"[", *array_items(encoded.blocks), b"]"])) == expected


def test_one_trace_of_one_session_is_one_block_encoded_once() -> None:
    trace = [{"event_id": "s", "session_id": SESSIONS[0], "event_type": "session"},
             {"event_id": "c", "session_id": SESSIONS[0], "event_type": "tool"}]
    (block,) = blocks_of(trace)
    assert (block.session_id, block.count, block.opens_session) == (SESSIONS[0], 2, True)
    assert block.events() == trace
    assert bytes(block.inner) == orjson.dumps(trace)[1:-1]  # slices of the one encoding, for joining
    assert bytes(block.listed) == orjson.dumps(trace)[1:-1] + b","


def test_a_trace_carrying_two_sessions_makes_a_block_for_each_session_event_first() -> None:
    trace = [{"event_id": "a1", "session_id": SESSIONS[0], "event_type": "tool"},
             {"event_id": "b0", "session_id": SESSIONS[1], "event_type": "session"},
             {"event_id": "a0", "session_id": SESSIONS[0], "event_type": "session"}]
    blocks = blocks_of(trace)
    assert [(b.session_id, [e["event_id"] for e in b.events()], b.opens_session) for b in blocks] == [
        (SESSIONS[0], ["a0", "a1"], True),
        (SESSIONS[1], ["b0"], True),
    ]


def test_a_batch_is_encoded_only_for_a_consumer_that_reads_bytes() -> None:
    trace = [{"event_id": "s", "session_id": SESSIONS[0], "event_type": "session"}]
    assert isinstance(batch_of(iter([trace]), encode=True), EncodedEvents)
    plain = batch_of(iter([trace, trace]), encode=False)
    assert plain == [trace[0], trace[0]] and isinstance(plain, list)


def test_only_an_encoded_batch_is_encoded_whatever_was_asked_of_sequence_before() -> None:
    """Compiled by mypyc, `EncodedEvents` shares `collections.abc.Sequence`'s ABC caches: after a list or a tuple
    has been checked against `Sequence`, `isinstance([], EncodedEvents)` says True. The compiled pass of
    scripts/test runs this; `is_encoded` is what the package asks."""
    assert isinstance([], Sequence) and isinstance((), Sequence)
    assert not is_encoded([]) and not is_encoded(()) and not is_encoded([{"event_id": "e"}])
    assert is_encoded(EncodedEvents()) and is_encoded(batch_of(iter([[{"event_id": "e"}]]), encode=True))
    record = SpoolRecord.of_events([{"event_id": "e", "event_type": "tool"}])
    assert SpoolRecord.decode(record.encode()) == record  # a list of events is written as one JSON object
