"""Where GenAI log records wait for their span, and what the pipeline remembers of spans already shipped
(docs/mapping.md#genai-content-in-log-records, docs/delivery.md).

Records usually come in another batch than their span, before or after it. One that comes first waits here,
keyed by (trace id, span id), bounded in time (the pipeline's record wait) and in memory (`max_records`,
`max_bytes`), and joins its span when the span's trace is mapped. One that comes after its span's event was
shipped finds that event among the shipped spans remembered and becomes an update of it; the late records of a
span are kept (bounded) so that each update carries all of them, not only the newest. A record already held (the
same record sent twice, a client's retry) is recognised and taken once. Not thread-safe: its one user,
`RecordJoining` (pipeline/joining.py), calls it under the pipeline's mapping lock, so a record and its span can
never pass each other unseen.

Compiled with the hot path (setup.py): while a logs input is attached (always, in the server), what is
remembered of every shipped event is worked out here, event by event.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.log_records import LogRecordView

SpanKey = tuple[int, int]
"""(trace id, span id)."""

DEFAULT_MAX_RECORDS = 10_000
"""Records waiting for their span, at most; past it the oldest are given up as unmatched (kept on the session)."""
DEFAULT_MAX_BYTES = 64 << 20
"""The content of the records waiting (bodies and attribute values, as `content_size` counts them), at most; past
it the oldest are given up as unmatched. The late records kept for updates have a budget of their own, as large."""
MAX_LATE_SPANS = 5_000
"""Shipped spans whose late records are kept, so that each update of one carries them all (an update replaces
`outputs` and merges `metadata` and `feedback` one level deep: sent alone, a second choice or a second input
message would replace the first)."""
DEFAULT_MAX_SHIPPED = 50_000
"""Spans remembered as shipped (event id, type, what content the event had), for late records: the newest half of
this many at least, this many at most (`RecordJoiner.remember`)."""


SessionKey = tuple[str | None, str]
"""A session as updates address it: the project a routing table sent it to (None without one), and its id. One id
can be a session in two projects (a UUID conversation id routed to both), each updated with its own key."""
ShippedFields = tuple[str, str, bool, bool, tuple[str, ...], tuple[str, ...]]
"""`Shipped` as a plain tuple: what is kept per shipped event (made for every event while a logs input is
attached, so the cheapest object there is)."""


class Shipped(NamedTuple):
    """What is remembered of one shipped span's event: enough to address and shape an update of it. What it had
    is what the span gave, never what late records added: those are sent again, whole, in every update."""

    event_id: str
    event_type: str
    had_chat_history: bool
    had_outputs: bool
    own_metrics: tuple[str, ...] = ()
    """The keys of its own `metrics`: a late evaluation of the same name does not replace them."""
    own_feedback: tuple[str, ...] = ()


def span_events(events: Sequence[Event]) -> Iterator[tuple[int, Event]]:
    """The events of one mapped trace that stand for a span, with its id (from `metadata.span_id`): the first
    event of each span only (a late root's stand-in comes after the real event, which is the one remembered)."""
    seen: set[str] = set()
    for event in events:
        metadata = event.get("metadata")
        hex_id = metadata.get("span_id") if isinstance(metadata, dict) else None
        if not isinstance(hex_id, str) or hex_id in seen:
            continue
        seen.add(hex_id)
        try:
            span_id = int(hex_id, 16)
        except ValueError:
            continue
        yield span_id, event


def shipped_of(trace_id: int, events: Sequence[Event]) -> list[tuple[SpanKey, ShippedFields]]:
    """What `RecordJoiner.remember` keeps of one mapped trace's events, once they are handed on."""
    shipped: list[tuple[SpanKey, ShippedFields]] = []
    for span_id, event in span_events(events):
        event_id, event_type, inputs = event.get("event_id"), event.get("event_type"), event.get("inputs")
        if isinstance(event_id, str) and isinstance(event_type, str):
            metrics, feedback = event.get("metrics"), event.get("feedback")
            shipped.append(((trace_id, span_id), (
                event_id, event_type,
                bool(inputs.get("chat_history")) if isinstance(inputs, dict) else False,
                bool(event.get("outputs")),
                tuple(metrics) if isinstance(metrics, dict) and metrics else (),
                tuple(feedback) if isinstance(feedback, dict) and feedback else (),
            )))
    return shipped


def content_size(record: LogRecordView) -> int:
    """Roughly the bytes a record's content takes (its body and attribute values: text and bytes by length,
    anything else 8 per item), for the memory budgets; one pass, no copy."""
    size = 0
    stack: list[object] = [record.body, *record.attributes.values()]
    while stack:
        value = stack.pop()
        if isinstance(value, (str, bytes)):
            size += len(value)
        elif isinstance(value, dict):
            size += 8 * len(value)
            for key, item in value.items():
                size += len(key) if isinstance(key, str) else 8
                stack.append(item)
        elif isinstance(value, (list, tuple)):
            size += 8 * len(value)
            stack.extend(value)
        else:
            size += 8
    return size


@dataclass(slots=True)
class _Waiting:
    records: list[LogRecordView]
    since: float
    size: int = 0


class RecordJoiner:
    """Records waiting for their span, and the spans already shipped."""

    def __init__(self, *, max_records: int = DEFAULT_MAX_RECORDS, max_shipped: int = DEFAULT_MAX_SHIPPED,
                 max_bytes: int = DEFAULT_MAX_BYTES, clock: Callable[[], float] = time.monotonic) -> None:
        if max_records < 1 or max_shipped < 1 or max_bytes < 1:
            raise ValueError("max_records, max_shipped and max_bytes must be >= 1")
        self.max_records = max_records
        self.max_shipped = max_shipped
        self.max_bytes = max_bytes
        self._clock = clock
        self._waiting: OrderedDict[SpanKey, _Waiting] = OrderedDict()
        self._waiting_traces: dict[int, int] = {}
        """Trace id → how many of its spans have records waiting (a released trace looks itself up here once)."""
        self._count = 0
        self._bytes = 0
        self._shipped: dict[SpanKey, ShippedFields] = {}
        self._shipped_before: dict[SpanKey, ShippedFields] = {}
        """Two generations of shipped spans: the newer is filled to half of `max_shipped`, then takes the older's
        place (forgetting the older), so remembering a span costs a dictionary insert and nothing else."""
        self._sessions: set[SessionKey] = set()
        self._sessions_before: set[SessionKey] = set()
        """Sessions some shipped event belongs to, in two generations as the spans: an update of one can be
        applied (`session_seen`)."""
        self._late: OrderedDict[SpanKey, tuple[list[LogRecordView], int]] = OrderedDict()
        """Shipped span → the late records it was sent so far, and their size (`MAX_LATE_SPANS`, `max_bytes`)."""
        self._late_bytes = 0

    @property
    def waiting_records(self) -> int:
        return self._count

    def has_waiting(self, trace_id: int) -> bool:
        return trace_id in self._waiting_traces

    def is_waiting(self, record: LogRecordView) -> bool:
        """Whether this very record (every field equal) already waits: sent twice, it is taken once."""
        waiting = self._waiting.get((record.trace_id, record.span_id))
        return waiting is not None and record in waiting.records

    def wait(self, record: LogRecordView) -> list[LogRecordView]:
        """Keep `record` until its span comes. Returns the records given up to stay under the memory caps (the
        oldest spans' first; never the span `record` waits for)."""
        key = (record.trace_id, record.span_id)
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = _Waiting([], self._clock())
            self._waiting_traces[record.trace_id] = self._waiting_traces.get(record.trace_id, 0) + 1
        waiting.records.append(record)
        size = content_size(record)
        waiting.size += size
        self._count += 1
        self._bytes += size
        given_up: list[LogRecordView] = []
        while (self._count > self.max_records or self._bytes > self.max_bytes) and len(self._waiting) > 1:
            oldest = next(iter(self._waiting))
            if oldest == key:
                self._waiting.move_to_end(key)
                continue
            given_up.extend(self._pop(oldest))
        return given_up

    def take(self, trace_id: int, span_id: int) -> list[LogRecordView]:
        """The records waiting for this span (removed)."""
        key = (trace_id, span_id)
        return self._pop(key) if key in self._waiting else []

    def _pop(self, key: SpanKey) -> list[LogRecordView]:
        waiting = self._waiting.pop(key)
        self._count -= len(waiting.records)
        self._bytes -= waiting.size
        left = self._waiting_traces[key[0]] - 1
        if left:
            self._waiting_traces[key[0]] = left
        else:
            del self._waiting_traces[key[0]]
        return waiting.records

    def expired(self, wait_seconds: float, keep: Callable[[int], bool]) -> list[LogRecordView]:
        """Records that waited longer than `wait_seconds` (removed), except those of traces `keep` names (held
        by the assembler: they join when it releases the trace)."""
        limit = self._clock() - wait_seconds
        out: list[LogRecordView] = []
        for key in [k for k, w in self._waiting.items() if w.since <= limit and not keep(k[0])]:
            out.extend(self._pop(key))
        return out

    def drain(self) -> list[LogRecordView]:
        """Every waiting record (removed)."""
        out = [record for waiting in self._waiting.values() for record in waiting.records]
        self._waiting.clear()
        self._waiting_traces.clear()
        self._count = self._bytes = 0
        return out

    def remember(self, shipped: list[tuple[SpanKey, ShippedFields]]) -> None:
        """Spans whose events were handed on (the oldest remembered are forgotten, past half of `max_shipped`
        newer ones)."""
        self._shipped.update(shipped)
        if len(self._shipped) * 2 >= self.max_shipped:
            self._shipped_before = self._shipped
            self._shipped = {}

    def shipped(self, trace_id: int, span_id: int) -> Shipped | None:
        key = (trace_id, span_id)
        fields = self._shipped.get(key)
        if fields is None:
            fields = self._shipped_before.get(key)
        return Shipped(*fields) if fields is not None else None

    def remember_sessions(self, session_ids: set[SessionKey]) -> None:
        """Sessions that shipped events belong to (forgotten as spans are)."""
        self._sessions |= session_ids
        if len(self._sessions) * 2 >= self.max_shipped:
            self._sessions_before = self._sessions
            self._sessions = set()

    def session_seen(self, session_id: SessionKey) -> bool:
        """Whether an event of this session was shipped here (so an update of the session can be applied: the
        session event itself, or one a HoneyHive SDK started, which the trace's events name)."""
        return session_id in self._sessions or session_id in self._sessions_before

    def add_late(self, key: SpanKey, records: Sequence[LogRecordView]) -> tuple[list[LogRecordView], int]:
        """Records that came after their span's event was shipped: every late record of that span so far (for
        an update carrying them all), and how many of `records` were new (the others were already here: sent
        twice)."""
        kept, size = self._late.pop(key, ([], 0))
        self._late_bytes -= size
        new = 0
        for record in records:
            if record not in kept:
                kept.append(record)
                size += content_size(record)
                new += 1
        self._late[key] = (kept, size)  # the newest last: the first forgotten are the longest untouched
        self._late_bytes += size
        while (len(self._late) > MAX_LATE_SPANS or self._late_bytes > self.max_bytes) and len(self._late) > 1:
            _, (_, dropped) = self._late.popitem(last=False)
            self._late_bytes -= dropped
        return kept, new

    def clear(self) -> None:
        """In a forked child: the parent's records and shipped spans are the parent's."""
        self.drain()
        self._shipped.clear()
        self._shipped_before.clear()
        self._sessions.clear()
        self._sessions_before.clear()
        self._late.clear()
        self._late_bytes = 0


__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_RECORDS", "DEFAULT_MAX_SHIPPED", "MAX_LATE_SPANS", "RecordJoiner",
           "Shipped", "ShippedFields", "SpanKey", "content_size", "shipped_of", "span_events"]
