"""The rules a session event stored again is merged by (`outputs/store/merging.py`): nothing the stored one
carried is lost, and merging is idempotent, so the span path's resends stay plain upserts."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from otel_honeyhive.outputs.store.merging import merged_session

SID = "5e551011-0000-4000-8000-000000000001"
_values = st.none() | st.integers(-3, 3) | st.text(max_size=3)
_buckets = st.dictionaries(st.sampled_from("abc"), _values, max_size=3)
_times = st.none() | st.sampled_from([1_790_000_000.0, 1_790_000_000_000.0, 1_790_000_060_000.0])
sessions = st.fixed_dictionaries(
    {"event_id": st.just(SID), "session_id": st.just(SID), "event_type": st.just("session")},
    optional={"event_name": st.text(max_size=3), "source": st.text(max_size=3), "inputs": _buckets,
              "outputs": _buckets, "metadata": _buckets, "user_properties": _buckets, "feedback": _buckets,
              "children_ids": st.lists(st.sampled_from(["c1", "c2", "c3"]), max_size=3, unique=True),
              "start_time": _times, "end_time": _times, "duration": st.none() | st.floats(0, 1e6)},
)


@given(sessions)
def test_a_session_event_merged_with_itself_is_given_back(event: dict[str, Any]) -> None:
    assert merged_session(event, event) == event


@given(sessions, sessions)
def test_merging_the_same_event_again_changes_nothing_more(stored: dict[str, Any], later: dict[str, Any]) -> None:
    once = merged_session(stored, later)
    assert merged_session(once, later) == once


@given(sessions, sessions)
def test_no_bucket_key_and_no_child_the_stored_event_had_is_lost(
    stored: dict[str, Any], later: dict[str, Any]
) -> None:
    merged = merged_session(stored, later)
    for bucket in ("metadata", "user_properties", "feedback"):
        assert set(stored.get(bucket, {})) <= set(merged.get(bucket, {}))
    assert set(stored.get("children_ids", [])) <= set(merged.get("children_ids", []))
    if stored.get("inputs"):
        assert merged["inputs"] == stored["inputs"]


def test_the_earlier_start_keeps_its_name_and_the_later_end_extends_the_duration() -> None:
    stored = {"event_id": SID, "event_name": "chat", "start_time": 1_790_000_000_000.0,
              "end_time": 1_790_000_001_000.0, "duration": 1000.0}
    later = {"event_id": SID, "event_name": "unknown", "start_time": 1_790_000_000_500.0,
             "end_time": 1_790_000_005_000.0, "duration": 4500.0}
    assert merged_session(stored, later) == {**stored, "end_time": 1_790_000_005_000.0, "duration": 5000.0}
    in_seconds = {**later, "start_time": 1_789_999_999.0}  # a second earlier, sent in seconds
    merged = merged_session(stored, in_seconds)
    assert (merged["start_time"], merged["event_name"]) == (1_789_999_999.0, "unknown")


def test_a_start_in_milliseconds_and_an_end_in_seconds_make_a_duration_in_milliseconds() -> None:
    stored = {"event_id": SID, "event_name": "chat", "start_time": 1_790_000_000_000}
    later = {"event_id": SID, "event_name": "again", "start_time": 1_790_000_001, "end_time": 1_790_000_005}
    merged = merged_session(stored, later)
    assert (merged["start_time"], merged["end_time"], merged["duration"]) == (1_790_000_000_000, 1_790_000_005, 5000)
