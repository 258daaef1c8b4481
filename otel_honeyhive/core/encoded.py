"""Events serialised once, as soon as a trace is mapped: what the exporter and the receiver hand to delivery.

Why: the mapper makes a few dicts per span. Kept as dicts until a whole 512-span batch has been mapped and
encoded, they outlive two young garbage collections and are promoted to the oldest generation; each time enough
have been promoted, the collector walks the application's entire heap, a cost that grows with the application
rather than with the batch. Encoded trace by trace, the dicts die young, and the collector never sees most of
them (BENCHMARKS.md has the figures).

`EncodedEvents` is an ordinary sequence of events to anyone who reads it as one (decoded on first use, once);
the HoneyHive payload and the spool join its bytes without encoding anything again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple, TypeGuard, TypeVar, overload

import orjson

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.jsonable import dumps

T = TypeVar("T")


def _by_session(items: Iterable[T], session_of: Callable[[T], Any], opens: Callable[[T], bool]) -> list[list[T]]:
    """Items grouped by session, in order of first appearance, the one opening each session first
    (docs/batches.md#grouping-by-session)."""
    groups: dict[Any, list[T]] = {}
    for item in items:
        groups.setdefault(session_of(item), []).append(item)
    for group in groups.values():
        if len(group) > 1:
            group.sort(key=lambda item: not opens(item))
    return list(groups.values())


def group_sessions(events: Sequence[Event]) -> list[list[Event]]:
    """Events grouped by session, each group's session event first."""
    return _by_session(events, lambda e: e.get("session_id"), lambda e: e.get("event_type") == "session")


def session_ordered(blocks: Sequence[EventBlock]) -> list[EventBlock]:
    """Blocks in `group_sessions` order: by session, the block opening each session first."""
    return [b for group in _by_session(blocks, lambda b: b.session_id, lambda b: b.opens_session) for b in group]


def array_items(blocks: Sequence[EventBlock]) -> list[memoryview]:
    """The blocks' events as the items of one JSON array (without its brackets): each block's `listed`, the
    last one's `inner`. Slices of the blocks' bytes, nothing copied."""
    items = [block.listed for block in blocks[:-1]]
    if blocks:
        items.append(blocks[-1].inner)
    return items


_SENTINEL = b",0]"
"""Blocks are encoded with one extra element, a `0`, so each one ends in `,0]`: its elements followed by a
separator are then a slice of it (`listed`), and a body is sent as slices of the blocks, with no separator pieces
between them and nothing copied."""


class EventShape(NamedTuple):
    """How an output wants events before they are encoded (HoneyHive's v1 route takes only its documented fields):
    shaped as they are encoded, they need not be decoded again to be checked (docs/honeyhive-api.md). And what it
    keeps of each event beside its bytes (the local store's columns), read while the event is still a dict."""

    name: str
    convert: Callable[[Event], Event] | None = None
    """May change the event it is given: the pipeline's events are encoded at once and let go."""
    describe: Callable[[Event], tuple[Any, ...]] | None = None
    """With it, each event is encoded on its own, so a block knows where each event's bytes are (`bounds`), and
    the block keeps what `describe` said of each (`described`): an output that stores events one by one then
    needs neither to decode nor to encode them again."""


class EventBlock:
    """Events of one session from one trace, encoded once as a JSON array (plus the sentinel above), its session
    event (if any) first. `shape`: the `EventShape` name they were converted to before encoding ("" when as
    mapped)."""

    __slots__ = ("bounds", "count", "data", "described", "opens_session", "session_id", "shape")

    def __init__(self, session_id: Any, data: bytes, count: int, opens_session: bool, shape: str = "") -> None:
        self.session_id = session_id
        self.data = data
        self.count = count
        self.opens_session = opens_session
        self.shape = shape
        self.bounds: list[int] | None = None
        """When known (`described`): where each event starts in `data`, and where the sentinel starts; event i is
        `data[bounds[i] : bounds[i + 1] - 1]` (a separator follows every event)."""
        self.described: list[tuple[Any, ...]] | None = None
        """`EventShape.describe` of each event, when the shape had one."""

    @classmethod
    def of(cls, events: Sequence[Event], shape: str = "") -> EventBlock:
        """`events` must share one session and have no session event after the first (see `blocks_of`)."""
        data = dumps([*events, 0])
        return cls(events[0].get("session_id"), data, len(events), events[0].get("event_type") == "session", shape)

    @classmethod
    def described_by(cls, events: Sequence[Event], describe: Callable[[Event], tuple[Any, ...]],
                     shape: str = "") -> EventBlock:
        """As `of`, each event encoded on its own and described (same bytes: orjson writes no spaces)."""
        pieces = [b"["]
        bounds = []
        at = 1
        for event in events:
            part = dumps(event)
            bounds.append(at)
            at += len(part) + 1
            pieces.append(part)
            pieces.append(b",")
        bounds.append(at)
        pieces.append(b"0]")
        block = cls(events[0].get("session_id"), b"".join(pieces), len(events),
                    events[0].get("event_type") == "session", shape)
        block.bounds = bounds
        block.described = [describe(event) for event in events]
        return block

    @classmethod
    def stored(cls, session_id: Any, data: bytes, count: int, opens_session: bool) -> EventBlock:
        """A block read back from where `data` was kept (the spool); ValueError unless it is framed as `of`
        frames blocks (a JSON array ending in the sentinel), since the HoneyHive payload slices it blindly."""
        if count < 1 or len(data) <= 1 + len(_SENTINEL) or data[:1] != b"[" or not data.endswith(_SENTINEL):
            raise ValueError("not an encoded event block")
        return cls(session_id, data, count, opens_session)

    @property
    def inner(self) -> memoryview:
        """The events' JSON, comma-separated: `e1,e2` (a slice, not a copy)."""
        return memoryview(self.data)[1 : -len(_SENTINEL)]

    @property
    def listed(self) -> memoryview:
        """`inner` and a separator, `e1,e2,`: what goes before another block's events in one array."""
        return memoryview(self.data)[1 : 1 - len(_SENTINEL)]

    def events(self) -> list[Event]:
        decoded: list[Event] = orjson.loads(self.data)
        return decoded[:-1]


def blocks_of(events: Sequence[Event], shape: str = "",
              describe: Callable[[Event], tuple[Any, ...]] | None = None) -> list[EventBlock]:
    """The blocks for one trace's events: one, unless the trace carries several sessions (explicit session ids,
    events given back by `events_to_spans`) or a session event that is not first."""
    if not events:
        return []
    groups: Sequence[Sequence[Event]] = [events]
    session_id = events[0].get("session_id")
    for i, event in enumerate(events):
        if event.get("session_id") != session_id or (i and event.get("event_type") == "session"):
            groups = group_sessions(events)
            break
    if describe is None:
        return [EventBlock.of(group, shape) for group in groups]
    return [EventBlock.described_by(group, describe, shape) for group in groups]


class EncodedEvents(Sequence[Event]):
    """A batch of events as blocks of JSON. Not thread-safe while it is being filled."""

    def __init__(self) -> None:
        self.blocks: list[EventBlock] = []
        self._count = 0
        self._decoded: list[Event] | None = None

    @classmethod
    def of_blocks(cls, blocks: Iterable[EventBlock]) -> EncodedEvents:
        """A batch of blocks encoded earlier (read back from the spool)."""
        batch = cls()
        batch._extend(blocks)
        return batch

    def add(self, events: Sequence[Event], shape: EventShape | None = None) -> None:
        """Encode one trace's events now (then the caller lets the dicts go), shaped first when told."""
        if shape is None:
            self._extend(blocks_of(events))
            return
        convert = shape.convert
        if convert is not None:
            events = [convert(e) for e in events]
        self._extend(blocks_of(events, shape.name, shape.describe))

    def _extend(self, blocks: Iterable[EventBlock]) -> None:
        for block in blocks:
            self.blocks.append(block)
            self._count += block.count
        self._decoded = None

    def decoded(self) -> list[Event]:
        if self._decoded is None:
            self._decoded = [e for block in self.blocks for e in block.events()]
        return self._decoded

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | Sequence[Event]:
        return self.decoded()[index]

    def __iter__(self) -> Iterator[Event]:
        return iter(self.decoded())

    def __repr__(self) -> str:
        return f"EncodedEvents({self._count} events in {len(self.blocks)} blocks)"


def is_encoded(events: object) -> TypeGuard[EncodedEvents]:
    """Whether `events` is an `EncodedEvents`. Not `isinstance`: compiled by mypyc, the class shares the ABC
    caches of `collections.abc.Sequence`, so once any code has asked whether a list is a `Sequence`,
    `isinstance([], EncodedEvents)` answers True (docs/architecture.md#the-compiled-build)."""
    return type(events) is EncodedEvents


def batch_of(
    traces: Iterable[Sequence[Event]], *, encode: bool, shape: EventShape | None = None
) -> Sequence[Event]:
    """One batch from the events of mapped traces (pass a generator: each trace is mapped, then encoded, before
    the next): `EncodedEvents` when `encode`, which is when the consumer reads bytes (see
    `Delivery.takes_encoded`), shaped as the consumer wants them when `shape` says how; else a plain list."""
    if not encode:
        return [event for events in traces for event in events]
    batch = EncodedEvents()
    for events in traces:
        batch.add(events, shape)
    return batch
