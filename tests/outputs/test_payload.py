"""`/events/batch` bodies (docs/batches.md): a session's events together and its session event first, every body within
the count and byte limits, the same bytes whether a run of events is encoded whole or event by event."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_honeyhive.core.encoded import EncodedEvents, group_sessions
from otel_honeyhive.outputs.honeyhive.payload import GATHER_BYTES, LEGACY, _gather, encode, encode_multi, fit

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


@given(events)
def test_a_run_encoded_whole_is_byte_for_byte_the_run_encoded_event_by_event(batch: list[dict[str, Any]]) -> None:
    bodies = list(encode_multi(batch, 500, 5 * 1024 * 1024))
    ordered = [e for group in group_sessions(batch) for e in group]
    expected = b"".join(_gather(HEAD, [orjson.dumps(e) for e in ordered], TAIL))
    assert [b.data for b in bodies] == ([expected] if ordered else [])


def test_an_event_larger_than_a_request_is_cut_and_marked() -> None:
    big = {"event_id": "big", "session_id": SESSIONS[0], "event_type": "model", "inputs": {"text": "x" * 20_000},
           "metadata": {}}
    (body,) = encode_multi([big], 500, 4096)
    assert len(body.data) <= 4096
    (event,) = _decoded([body.data])
    assert event["metadata"]["otel_honeyhive_truncated"] == ["inputs.text"]


def test_an_event_too_large_for_its_numbers_has_its_arrays_shortened_and_its_text_kept() -> None:
    """An embedding span's event: the size is in vectors of floats, where no string can be cut."""
    vectors = [[i / 1536 + k for i in range(1536)] for k in range(50)]
    big = {"event_id": "emb", "session_id": SESSIONS[0], "event_type": "model", "event_name": "embed",
           "inputs": {"texts": [f"chunk {k}" for k in range(50)]}, "outputs": {"embeddings": vectors},
           "metadata": {"model": "text-embedding-3-small"}}
    for budget in (256 * 1024, 8192):
        data = fit(big, budget)
        event = orjson.loads(data)
        assert len(data) <= budget
        assert event["metadata"] == {"model": "text-embedding-3-small",
                                     "otel_honeyhive_truncated": ["outputs.embeddings"]}
        kept = event["outputs"]["embeddings"]
        assert kept[:-1] == vectors[:len(kept) - 1], "the first vectors, whole"
        assert kept[-1] == f"…[truncated {50 - (len(kept) - 1)} items]"
        assert event["inputs"] == big["inputs"], "the short texts are not cut for nothing"


def test_an_object_of_numbers_is_replaced_by_a_marker_and_a_list_of_short_strings_is_shortened() -> None:
    counts = {f"token_{i}": i for i in range(600)}
    big = {"event_id": "n", "session_id": SESSIONS[0], "event_type": "tool",
           "outputs": {"usage": counts, "answer": "short"}, "metadata": {}}
    event = orjson.loads(fit(big, 2048))
    assert event["outputs"] == {"usage": f"…[truncated {len(orjson.dumps(counts))} bytes]", "answer": "short"}
    assert event["metadata"]["otel_honeyhive_truncated"] == ["outputs.usage"]
    docs = {"event_id": "d", "session_id": SESSIONS[0], "event_type": "tool",
            "inputs": {"documents": [f"doc {i}" for i in range(2000)]}, "metadata": {}}
    data = fit(docs, 2048)
    event = orjson.loads(data)
    assert len(data) <= 2048 and event["metadata"]["otel_honeyhive_truncated"] == ["inputs.documents"]
    kept = event["inputs"]["documents"]
    assert kept[:-1] == [f"doc {i}" for i in range(len(kept) - 1)]
    assert kept[-1] == f"…[truncated {2000 - (len(kept) - 1)} items]"


@pytest.mark.parametrize("metadata", [None, "a note", ["a", "list"]])
def test_a_cut_event_is_marked_whatever_its_metadata_was(metadata: Any) -> None:
    big = {"event_id": "m", "session_id": SESSIONS[0], "event_type": "model", "inputs": {"text": "x" * 20_000},
           "metadata": metadata}
    event = orjson.loads(fit(big, 4096))
    expected = {"otel_honeyhive_truncated": ["inputs.text"]}
    assert event["metadata"] == (expected if metadata is None else {"metadata": metadata, **expected})


@given(st.integers(0, 30_000), st.integers(0, 3000), st.integers(0, 5), st.integers(0, 12), st.integers(1600, 9000))
def test_in_session_mode_no_body_of_several_events_passes_the_limit(
    question: int, message: int, children: int, grandchildren: int, max_bytes: int
) -> None:
    """The session event travels as `session_properties`: the first body leaves its children room beside them,
    or carries them alone; later bodies name the session by id only and are packed as such. Children carry what
    is never cut (`children_ids`), so they cannot all be cut small enough to squeeze in beside the properties."""
    sid, other = SESSIONS[0], SESSIONS[1]
    assert sid is not None and other is not None
    ids = [f"{other[:-4]}{i:04d}" for i in range(grandchildren)]
    session = {"event_id": sid, "session_id": sid, "event_type": "session", "event_name": "run",
               "inputs": {"question": "Q" * question}, "metadata": {},
               "children_ids": [f"c{i}" for i in range(children)]}
    batch = [session, *({"event_id": f"c{i}", "session_id": sid, "parent_id": sid, "event_type": "model",
                         "children_ids": ids, "inputs": {"text": "m" * message}, "metadata": {}}
                        for i in range(children))]
    bodies = list(encode(batch, "session", 1000, max_bytes, LEGACY))
    assert [e["event_id"] for b in bodies for e in orjson.loads(b.data)["events"]] == [e["event_id"]
                                                                                      for e in batch[1:]]
    for body in bodies:
        assert len(body) <= max_bytes or body.event_count == 1, (len(body), body.event_count)


def test_a_value_json_cannot_hold_as_it_is_is_made_representable_not_refused() -> None:
    odd = {"event_id": "odd", "session_id": SESSIONS[0], "event_type": "tool", "inputs": {"raw": b"\xff\x00"},
           "metadata": {}}
    (body,) = encode_multi([odd], 500, 4096)
    (event,) = _decoded([body.data])
    assert event["inputs"]["raw"] == "base64:/wA="


# -- events already encoded (`EncodedEvents`, as the exporter and the receiver hand them over) -------------------

traces = st.lists(events, max_size=8)


def _encoded(batch_traces: list[list[dict[str, Any]]]) -> EncodedEvents:
    encoded = EncodedEvents()
    for trace in batch_traces:
        encoded.add(trace)
    return encoded


@given(traces, st.integers(1, 12), st.integers(600, 6000))
def test_encoded_events_make_bodies_with_the_same_guarantees(
    batch_traces: list[list[dict[str, Any]]], max_events: int, max_bytes: int
) -> None:
    encoded = _encoded(batch_traces)
    bodies = list(encode(encoded, "multi", max_events, max_bytes))
    decoded = _decoded([b.data for b in bodies])
    assert sorted(e["event_id"] for e in decoded) == sorted(e["event_id"] for t in batch_traces for e in t)
    seen: list[Any] = []
    for event in decoded:  # each session's events together, its session event (if it has one) first
        session = event["session_id"]
        if not seen or seen[-1] != session:
            assert session not in seen
            seen.append(session)
            has_session = any(e["event_type"] == "session" and e["session_id"] == session for e in decoded)
            assert event["event_type"] == "session" or not has_session
    for body in bodies:
        assert body.event_count == len(orjson.loads(body.data)["events"]) <= max_events
        assert len(body.data) <= max_bytes or body.event_count == 1


def test_encoded_events_are_joined_not_encoded_again() -> None:
    trace = [{"event_id": f"e{i}", "session_id": SESSIONS[0], "event_type": "session" if i == 0 else "tool",
              "inputs": {"n": i}} for i in range(3)]
    encoded = _encoded([trace, [{**trace[1], "event_id": "other", "session_id": SESSIONS[1]}]])
    (body,) = encode(encoded, "multi", 500, 5 * 1024 * 1024)
    second = encoded.blocks[1]
    assert body.data == HEAD + orjson.dumps(trace)[1:-1] + b"," + bytes(second.inner) + TAIL


def test_large_blocks_are_sent_as_slices_of_their_own_bytes() -> None:
    traces = [[{"event_id": f"{t}-{i}", "session_id": SESSIONS[0], "event_type": "tool", "inputs": {"text": "x" * 9000}}
               for i in range(3)] for t in range(4)]
    encoded = _encoded(traces)
    (body,) = encode(encoded, "multi", 500, 5 * 1024 * 1024)
    sliced = [chunk.obj for chunk in body.chunks if isinstance(chunk, memoryview)]
    assert all(any(obj is block.data for obj in sliced) for block in encoded.blocks)  # no copy of any block
    assert [e["event_id"] for e in _decoded([body.data])] == [e["event_id"] for t in traces for e in t]


def test_a_trace_larger_than_a_request_is_split_event_by_event() -> None:
    trace = [{"event_id": f"e{i}", "session_id": SESSIONS[0], "event_type": "session" if i == 0 else "model",
              "inputs": {"text": "x" * 1000}} for i in range(10)]
    bodies = list(encode(_encoded([trace]), "multi", 4, 3000))
    assert [e["event_id"] for e in _decoded([b.data for b in bodies])] == [e["event_id"] for e in trace]
    assert all(b.event_count <= 4 and len(b.data) <= 3000 for b in bodies)


def test_per_session_mode_reads_encoded_events_as_events() -> None:
    trace = [{"event_id": "s", "session_id": SESSIONS[0], "event_type": "session", "event_name": "run"},
             {"event_id": "c", "session_id": SESSIONS[0], "event_type": "tool"}]
    (body,) = encode(_encoded([trace]), "session", 500, 4096)
    parsed = orjson.loads(body.data)
    assert parsed["session_properties"]["session_name"] == "run"
    assert [e["event_id"] for e in parsed["events"]] == ["c"]


@given(st.lists(st.binary(max_size=3 * GATHER_BYTES // 2), max_size=12))
def test_a_body_is_gathered_into_chunks_of_bounded_size_without_copying_large_pieces(pieces: list[bytes]) -> None:
    chunks = _gather(HEAD, pieces, TAIL)
    assert b"".join(chunks) == HEAD + b",".join(pieces) + TAIL
    large = [p for p in pieces if len(p) >= GATHER_BYTES]
    assert [c for c in chunks if any(c is p for p in large)] == large  # sent as they are, not copied
    assert all(len(c) < 2 * GATHER_BYTES for c in chunks if not any(c is p for p in large))
