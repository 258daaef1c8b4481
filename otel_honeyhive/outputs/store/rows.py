"""An event's row in the local store: the columns copied out of it, so that listings, the session summaries and
the viewer's outline are plain SQL and never decode a body.

`describe` runs in the pipeline, for every event, while the event is still a dict (the store's `EventShape`), and
in the store for events that reach it as dicts. `Rows` gathers one write's rows and the bytes of their bodies.
Both are compiled with the hot path (setup.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Final

import orjson

from otel_honeyhive.core.encoded import EventBlock, is_encoded
from otel_honeyhive.core.events import SECONDS_BELOW, Event
from otel_honeyhive.core.jsonable import number

COLUMNS: Final = (
    "event_id", "session_id", "parent_id", "event_type", "event_name", "source", "start_time", "end_time",
    "duration", "has_error", "tokens", "user_id", "model", "event_tokens",
)
"""The columns `describe` gives, in its order; a stored row adds where its body is and the keys its ids are
indexed by (`STORED_COLUMNS`)."""

EVENT_ID: Final = 0
SESSION_ID: Final = 1
EVENT_TYPE: Final = 3
EVENT_NAME: Final = 4
SOURCE: Final = 5
START: Final = 6
END: Final = 7
DURATION: Final = 8
HAS_ERROR: Final = 9
TOKENS: Final = 10
USER_ID: Final = 11
IS_SESSION_EVENT: Final = 14
"""Past the columns: whether the event is its session's event (`event_id == session_id`), which a write merges
into the one stored rather than replace (docs/delivery.md#a-session-event-stored-again)."""
STORED_COLUMNS: Final = (*COLUMNS, "body_segment", "body_at", "body_len", "id_key", "session_key")
"""A row as the store binds it (`Rows.stored`): `describe`'s columns, where the body is (the `body` column, for
rows written before schema 3, is left empty), and the keys of its event id and session id (`key`)."""
ID_KEY: Final = 17

_NULL: Final = float("nan")
"""What a row binds for SQL NULL: SQLite binds a NaN as NULL (sqlite3VdbeMemSetDouble; SQLite's nan.test), and
Python's sqlite3 binds a float directly, where for None it first looks for an adapter (a dictionary lookup and two
failed attribute lookups: about 0.25 µs each, six or so per row, a tenth of an insert)."""


def _bound(value: Any) -> Any:
    return _NULL if value is None else value


KEY_PREFIX_DIGITS: Final = 6
"""How many of a UUID's leading hex digits its key keeps in order (a prefix of up to this many is a range of
keys); its last 6 digits follow, so that ids alike at the start (time-ordered UUIDs, sequential test ids) still
get keys of their own."""


def key(text: str | None) -> int | None:
    """The integer the store indexes an event id or a session id by (schema 4): a third of the UUID text's size
    in an index, so a commit's random inserts dirty fewer pages (docs/delivery.md#the-local-store). A canonical
    UUID gives its first 6 hex digits then its last 6 (48 bits, 0 or more; ordered by the first six, so a short
    prefix of an id is a range of keys); any other text a 48-bit hash of it, below zero. Not unique: a lookup
    matches the key, then the text."""
    if text is None:
        return None
    if len(text) == 36 and text[8] == "-" and text[13] == "-" and text[18] == "-" and text[23] == "-":
        digits = text[:6] + text[30:]
        if digits.isascii() and digits.isalnum():
            try:
                return int(digits, 16)
            except ValueError:
                pass
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=6).digest()
    return -1 - int.from_bytes(digest, "big")


def keyed(text: str) -> tuple[int | None, str]:
    """The parameters of a lookup by an id (schema 4's `BY_EVENT`, `BY_SESSION`): its key, then the id."""
    return key(text), text


def key_range(prefix: str) -> tuple[int, int] | None:
    """The keys of the canonical UUIDs that start with `prefix` (lower-case hex and dashes), [low, high]: exact
    for a prefix of up to `KEY_PREFIX_DIGITS` digits, wider for a longer one (whose first digits it keeps). None
    when no UUID can start with it."""
    for i, c in enumerate(prefix[:13]):
        if (c == "-") != (i == 8):
            return None
    digits = prefix[:KEY_PREFIX_DIGITS]
    rest = 4 * (2 * KEY_PREFIX_DIGITS - len(digits))
    low = int(digits, 16) << rest if digits else 0
    return low, low + (1 << rest) - 1


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


_INT64 = 1 << 63


def _count(value: Any) -> int | None:
    """A token count as the viewer shows it: any JSON number, truncated, that SQLite can hold."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -_INT64 < value < _INT64:
        return None
    return int(value)


def in_ms(time: float | None) -> float | None:
    """An event time as the columns keep it, in milliseconds: a time below `SECONDS_BELOW` was sent in seconds
    (as HoneyHive's examples send), so that every query orders and compares one unit."""
    if time is None or abs(time) >= SECONDS_BELOW:
        return time
    return time * 1000


def describe(event: Event) -> tuple[Any, ...]:
    """The columns of `event` (`COLUMNS`; times in milliseconds, `in_ms`), then whether it is its session's
    event. Never raises: an event without a string id is refused by the store, which says why."""
    error = event.get("error")
    event_type = event.get("event_type")
    metadata = event.get("metadata")
    total: Any = None
    prompt: Any = None
    completion: Any = None
    if isinstance(metadata, dict):
        total = metadata.get("total_tokens")
        prompt = metadata.get("prompt_tokens")
        completion = metadata.get("completion_tokens")
    event_id = event.get("event_id")
    session_id = _text(event.get("session_id"))
    config = event.get("config")
    model = config.get("model") if isinstance(config, dict) else None
    properties = event.get("user_properties")
    user = properties.get("user_id") if isinstance(properties, dict) else None
    shown = _count(total)
    if shown is None:
        parts = [n for n in (number(prompt), number(completion)) if n is not None]
        shown = _count(sum(parts)) if parts else None
    return (
        event_id,
        session_id,
        _text(event.get("parent_id")),
        _text(event_type),
        _text(event.get("event_name")),
        _text(event.get("source")),
        in_ms(number(event.get("start_time"))),
        in_ms(number(event.get("end_time"))),
        number(event.get("duration")),
        0 if error is None or error == "" else 1,
        # The session's tokens (its summary sums this): what the viewer shows for each model event, so the list
        # and the session's page count the same.
        shown if event_type == "model" else None,
        _text(user),
        model if isinstance(model, str) and model else None,
        shown,
        event_type == "session" and session_id is not None and event_id == session_id,
    )


def _checked(described: tuple[Any, ...]) -> tuple[Any, ...]:
    """`described` when its event can be stored; TypeError saying why not."""
    event_id = described[EVENT_ID]
    if not isinstance(event_id, str) or not event_id:
        raise TypeError(f"event has no event_id (got {event_id!r})")
    return described


class Rows:
    """What one write puts in the store: the rows (`rows.describe`'s columns) and the buffers holding their
    bodies; `places[i]` is (buffer, start, length) of row i's body."""

    __slots__ = ("buffers", "described", "places")

    def __init__(self) -> None:
        self.buffers: list[bytes] = []
        self.described: list[tuple[Any, ...]] = []
        self.places: list[tuple[int, int, int]] = []

    def add_event(self, event: Event) -> None:
        """An event given as a dict (the HoneyHive-compatible API, updates, the spool's batches)."""
        described = _checked(describe(event))
        body = orjson.dumps(event)
        self.places.append((len(self.buffers), 0, len(body)))
        self.buffers.append(body)
        self.described.append(described)

    def add_block(self, block: EventBlock, described: list[tuple[Any, ...]], bounds: list[int]) -> None:
        """A block the pipeline encoded and described: its bytes are written as they are, each row pointing at
        its event inside them."""
        index = len(self.buffers)
        self.buffers.append(block.data)
        for i, columns in enumerate(described):
            self.described.append(_checked(columns))
            self.places.append((index, bounds[i], bounds[i + 1] - 1 - bounds[i]))

    def body(self, i: int) -> bytes:
        buffer, start, length = self.places[i]
        return self.buffers[buffer][start : start + length]

    def replace(self, i: int, event: Event) -> None:
        """Row i stores `event` instead (a conversation's session event, extended)."""
        body = orjson.dumps(event)
        self.places[i] = (len(self.buffers), 0, len(body))
        self.buffers.append(body)
        self.described[i] = _checked(describe(event))

    def stored(self, segment: int, at: int) -> list[tuple[Any, ...]]:
        """The rows to upsert, as bound (`STORED_COLUMNS`, NULL as `_NULL`), their buffers written one after the
        other from `at` in `segment`."""
        offsets = []
        for buffer in self.buffers:
            offsets.append(at)
            at += len(buffer)
        session_keys: dict[str, Any] = {}  # a session's events come together: its key is worked out once
        stored = []
        for c, (index, start, length) in zip(self.described, self.places, strict=True):
            session = c[SESSION_ID]
            if session is None:
                session_key: Any = _NULL
            else:
                session_key = session_keys.get(session)
                if session_key is None:
                    session_key = session_keys[session] = key(session)
            stored.append((c[0], _bound(c[1]), _bound(c[2]), _bound(c[3]), _bound(c[4]), _bound(c[5]), _bound(c[6]),
                           _bound(c[7]), _bound(c[8]), _bound(c[9]), _bound(c[10]), _bound(c[11]), _bound(c[12]),
                           _bound(c[13]), segment, offsets[index] + start, length, key(c[EVENT_ID]), session_key))
        return stored


def rows_of(events: Sequence[Event]) -> Rows:
    """The rows of a send; TypeError when an event cannot be stored (no string id, not JSON)."""
    rows = Rows()
    if is_encoded(events):
        for block in events.blocks:
            if block.described is not None and block.bounds is not None:
                rows.add_block(block, block.described, block.bounds)
            else:
                for event in block.events():
                    rows.add_event(event)
    else:
        for event in events:
            rows.add_event(event)
    return rows
