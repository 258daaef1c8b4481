"""A new session's summary row, summed from the events being written, is the one the store's refresh query
computes from the stored events (`outputs/store/summaries.py`)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_honeyhive.outputs.store import SQLiteStore
from otel_honeyhive.outputs.store.rows import describe
from otel_honeyhive.outputs.store.schema import REFRESH_ALL_SESSIONS
from otel_honeyhive.outputs.store.summaries import new_summaries

SESSIONS = [str(uuid.UUID(int=i, version=4)) for i in range(1, 4)]
maybe_number = st.none() | st.floats(min_value=0, max_value=1e6, allow_nan=False)


@st.composite
def events(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(1, 12))):
        sid = draw(st.sampled_from(SESSIONS))
        is_session = draw(st.booleans())
        event_id = sid if is_session else str(uuid.UUID(int=draw(st.integers(10, 30)), version=4))
        out.append({
            "event_id": event_id, "session_id": sid, "event_type": "session" if is_session else
            draw(st.sampled_from(["model", "tool", "chain", "session"])),
            "event_name": draw(st.none() | st.text(max_size=5)), "source": draw(st.none() | st.sampled_from("ab")),
            "start_time": draw(maybe_number), "end_time": draw(maybe_number), "duration": draw(maybe_number),
            "error": draw(st.none() | st.just("boom")),
            "metadata": {"total_tokens": draw(st.none() | st.integers(0, 99))},
            "user_properties": draw(st.just({}) | st.builds(lambda u: {"user_id": u}, st.sampled_from("xyz"))),
        })
    return out


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(events())
def test_new_sessions_are_summed_as_the_refresh_query_sums_them(tmp_path_factory: Any, batch: list[Any]) -> None:
    path: Path = tmp_path_factory.mktemp("summaries") / "events.db"
    with SQLiteStore(path) as store:
        assert store.send(batch).ok
        conn = store._conn
        conn.execute("DELETE FROM sessions")
        conn.execute(REFRESH_ALL_SESSIONS)
        by_query = {row[0]: row for row in conn.execute(
            "SELECT session_id, name, source, user_id, start_time, end_time, duration, events, errors, tokens, "
            "has_session_event FROM sessions")}
    by_rows = {row[0]: row for row in new_summaries([describe(e) for e in batch])}
    assert by_rows == by_query


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(events(), maybe_number, maybe_number)
def test_sessions_started_in_a_time_range_are_those_the_listing_shows_for_it(
    tmp_path_factory: Any, batch: list[Any], since: float | None, until: float | None
) -> None:
    """`export --since/--until` picks the sessions the viewer's and `sessions`' time filter shows, oldest first;
    with no bound, every session, those without a start time last."""
    path: Path = tmp_path_factory.mktemp("started") / "events.db"
    with SQLiteStore(path) as store:
        assert store.send(batch).ok
        listed = store.list_sessions(limit=100, since=since, until=until)
        expected = [s.session_id for s in sorted(listed, key=lambda s: (s.start_time is None, s.start_time or 0,
                                                                           s.session_id))]
        assert store.sessions_started(since, until) == expected
        if since is None and until is None:  # every session that holds an event (a resent id: the last copy's)
            assert sorted(expected) == sorted({e["session_id"] for e in {e["event_id"]: e for e in batch}.values()})
