"""The keys the store indexes ids by (`outputs/store/rows.py`, schema 4): a UUID's first 6 hex digits, in order (so
a short prefix of an id is a range of keys), then its last 6; any other text a hash below zero. A key is never
taken for the id: lookups match the key, then the text. And the rows as the store binds them."""

from __future__ import annotations

import uuid

import orjson
from hypothesis import given
from hypothesis import strategies as st

from otel_honeyhive.core.events import Event
from otel_honeyhive.outputs.store.rows import (
    COLUMNS,
    IS_SESSION_EVENT,
    STORED_COLUMNS,
    Rows,
    describe,
    key,
    key_range,
)

uuids = st.uuids().map(str)


@given(uuids, uuids)
def test_a_uuid_keeps_its_first_and_last_six_digits_in_the_order_of_its_text(a: str, b: str) -> None:
    assert key(a) == int(a[:6] + a[-6:], 16)
    assert 0 <= key(a) < 1 << 48  # type: ignore[operator]
    if a[:6] < b[:6]:
        assert key(a) < key(b)  # type: ignore[operator]
    assert key(a.upper()) == key(a)


def test_ids_alike_at_the_start_still_get_keys_of_their_own() -> None:
    """Sequential ids (tests, benchmarks) share every leading digit, and time-ordered UUIDs (version 7) those of
    the same millisecond: their keys differ by the last digits, so no lookup walks a long run of equal keys."""
    sequential = [str(uuid.UUID(int=n, version=4)) for n in range(1, 5001)]
    assert len({key(i) for i in sequential}) == len(sequential)
    same_millisecond = [str(uuid.UUID(int=(0x0192F0C17E3A << 80) | (0x7 << 76) | (0x2 << 62) | n))
                        for n in range(0, 5000 * 7919, 7919)]
    assert len({key(i) for i in same_millisecond}) == len(same_millisecond)


@given(st.text(max_size=60).filter(lambda t: not _is_uuid(t)))
def test_any_other_text_has_a_fixed_key_below_zero(text: str) -> None:
    assert -(1 << 48) <= key(text) < 0  # type: ignore[operator]
    assert key(text) == key(str(text))


def test_keys_are_stored_so_they_never_change() -> None:
    """A store written by one version is read by the next: the hash is BLAKE2b's first 6 bytes, for ever."""
    assert key("evt-1") == -110960257468066
    assert key("session 7") == -112503028130600
    assert key("0192f0c1-7e3a-7abc-8def-0123456789ab") == 0x0192F0_6789AB


def test_text_shaped_like_a_uuid_but_not_one_is_hashed() -> None:
    for text in ("1234_678-1234-1234-1234-123456789abc", "+2345678-1234-1234-1234-123456789abc",
                 "12g45678-1234-1234-1234-123456789abc", "12345678-1234-1234-1234-123456789abg",
                 "١٢٣٤٥٦٧٨-1234-1234-1234-123456789abc"):
        assert key(text) < 0  # type: ignore[operator]
    assert key(None) is None


@given(uuids, uuids, st.integers(1, 36))
def test_a_prefix_of_uuids_is_the_range_of_their_keys(a: str, b: str, n: int) -> None:
    prefix = a[:n]
    found = key_range(prefix)
    assert found is not None
    low, high = found
    assert low <= key(a) <= high  # type: ignore[operator]
    if n <= 6:  # the digits a key keeps in order: in the range exactly when the text starts so
        assert (low <= key(b) <= high) == b.startswith(prefix)  # type: ignore[operator]
    else:  # a longer prefix: the range of its first six digits
        assert (low <= key(b) <= high) == b.startswith(prefix[:6])  # type: ignore[operator]


def test_a_prefix_no_uuid_can_start_with_has_no_range() -> None:
    assert key_range("abc-") is None
    assert key_range("12345678a") is None
    assert key_range("123456") == (0x123456 << 24, (0x123456 << 24) + 0xFFFFFF)
    assert key_range("12345678-") == key_range("123456")
    assert key_range("") == (0, (1 << 48) - 1)


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower() and len(text) == 36
    except ValueError:
        return False


@given(st.lists(st.fixed_dictionaries({
    "event_id": st.uuids().map(str),
    "event_type": st.sampled_from(["model", "tool", "chain", "session"]),
}, optional={
    "session_id": st.sampled_from(["5b0d6f0e-1111-4222-8333-444455556666", "not-a-uuid", None]),
    "parent_id": st.none() | st.uuids().map(str),
    "start_time": st.none() | st.floats(0, 2e12) | st.integers(0, 2**40) | st.booleans(),
    "source": st.none() | st.text(max_size=5),
    "metadata": st.fixed_dictionaries({}, optional={"total_tokens": st.integers(-5, 2**63 + 5) | st.floats()}),
    "config": st.fixed_dictionaries({}, optional={"model": st.none() | st.text(max_size=5)}),
}), min_size=1, max_size=8))
def test_a_stored_row_is_the_described_row_bound_then_where_its_body_is_and_its_keys(events: list[Event]) -> None:
    """What `Rows.stored` binds: `describe`'s columns with NULL bound as NaN, then the body's place and the ids'
    keys, one value per column of `STORED_COLUMNS`."""
    rows = Rows()
    for event in events:
        rows.add_event(event)
    stored = rows.stored(3, 100)
    at = 100
    for event, row in zip(events, stored, strict=True):
        described = describe(event)[:IS_SESSION_EVENT]
        assert len(row) == len(STORED_COLUMNS)
        assert [None if v != v else v for v in row[:len(COLUMNS)]] == list(described)  # NaN is NULL
        length = len(orjson.dumps(event))
        assert row[len(COLUMNS):] == (3, at, length, key(event["event_id"]),
                                      row[-1] if event.get("session_id") is None else key(event["session_id"]))
        assert event.get("session_id") is not None or row[-1] != row[-1]
        at += length
