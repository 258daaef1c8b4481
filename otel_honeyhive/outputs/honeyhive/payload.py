"""Encoding events into batch bodies (docs/batches.md), separate from the transport.

Two routes (docs/honeyhive-api.md): the current `POST /v1/events/batch` (`V1`), which takes only documented
fields, and the deprecated `POST /events/batch` (`LEGACY`). A session's events travel together, its session
event first. Bodies are split by event count and by bytes; each event is serialised once and bodies are joined
from the encoded pieces, so sizes are exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from otel_honeyhive.core.encoded import (
    EventBlock,
    EventShape,
    array_items,
    group_sessions,
    is_encoded,
    session_ordered,
)
from otel_honeyhive.core.events import BUCKETS, Event
from otel_honeyhive.core.jsonable import dumps
from otel_honeyhive.core.sizes import cut_text, utf8_size

_SESSION_FIELDS = (*BUCKETS, "error")

V1 = "v1"
LEGACY = "legacy"
ROUTE_PATHS = {V1: "/v1/events/batch", LEGACY: "/events/batch"}
"""Where each route's bodies go, below the server URL."""

V1_EVENT_FIELDS = frozenset({
    "event_type", "inputs", "project_id", "source", "event_name", "event_id", "session_id", "parent_id",
    "children_ids", "config", "outputs", "error", "start_time", "end_time", "duration", "metadata", "feedback",
    "metrics", "user_properties",
})
"""The per-event fields `POST /v1/events/batch` documents
(https://docs.honeyhive.ai/v2/api-reference-autogen/events/create-a-batch-of-events); it refuses any other."""
_PROJECT_ONLY = frozenset({"project"})
V1_SESSION_PROPERTIES = ("session_name", "start_time", "user_properties", "metadata")
"""What `session_properties` may hold on the v1 route."""


def v1_event(event: Event) -> Event:
    """`event` as the v1 route takes it: documented fields as they are, any other field (the legacy `project`,
    a client's own field passed through the HoneyHive-compatible API) moved into `metadata` under its name
    (a key metadata already has wins), and `inputs` always an object (`{}` when missing). The event itself
    when nothing needs to change (no copy); never modified in place: a batch may go again by the legacy
    route."""
    inputs = event.get("inputs")
    metadata = event.get("metadata")
    if isinstance(inputs, dict) and (metadata is None or isinstance(metadata, dict)):
        extra = event.keys() - V1_EVENT_FIELDS
        if not extra:
            return event
        if extra == _PROJECT_ONLY:  # the mapper's events when a project is set: the common case, kept cheap
            shaped = dict(event)
            project = shaped.pop("project")
            if project is not None:
                shaped["metadata"] = {"project": project, **(metadata or {})}
            return shaped
    converted: Event = {}
    moved: dict[str, Any] = {}
    for key, value in event.items():
        if key in V1_EVENT_FIELDS:
            converted[key] = value
        elif value is not None:
            moved[key] = value
    if not isinstance(converted.get("inputs"), dict):
        if converted.get("inputs") is not None:
            moved.setdefault("inputs", converted["inputs"])
        converted["inputs"] = {}
    if metadata is not None and not isinstance(metadata, dict):
        moved.setdefault("metadata", metadata)
        metadata = None
    if moved:
        converted["metadata"] = {**moved, **(metadata or {})}
    return converted

Source = tuple[str, Sequence[Any]]
"""What a body was made from: ("blocks", EventBlocks), ("multi", events) or ("session", events)."""


GATHER_BYTES = 16 * 1024
"""Pieces of a body smaller than this are gathered into chunks of about this size; larger ones are sent as they
are. A body is never copied whole: a multi-megabyte buffer takes fresh pages from the kernel each time (glibc
maps allocations that large, and trims its heap after they are freed), and those page faults showed up as
several percent of the exporter's time in perf. Small chunks keep the number of writes per body low."""


class Body:
    """One request body, kept as the chunks it is written in: `requests` streams an iterable that has a length
    as it is, under a Content-Length (see `HoneyHiveOutput`). `data` joins the chunks, once, for what needs one
    buffer (gzip).

    `source` is what the body was made from (its blocks, or its events and whether one session per request), a
    reference kept so a body the receiver refuses as too large (413) can be made again, smaller (`resplit`),
    without decoding it."""

    __slots__ = ("_data", "chunks", "event_count", "route", "size", "source")

    def __init__(
        self, chunks: Sequence[bytes | memoryview], event_count: int, source: Source | None = None,
        route: str = LEGACY,
    ) -> None:
        self.chunks = chunks
        self.event_count = event_count
        self.size = sum(len(c) for c in chunks)
        self.source = source
        self.route = route
        """The route the body is shaped for (`V1` or `LEGACY`), and so where it goes."""
        self._data: bytes | None = None

    @classmethod
    def of(cls, data: bytes, event_count: int, source: Source | None = None, route: str = LEGACY) -> Body:
        return cls((data,), event_count, source, route)

    @property
    def data(self) -> bytes:
        if self._data is None:
            chunks = self.chunks
            self._data = chunks[0] if len(chunks) == 1 and isinstance(chunks[0], bytes) else b"".join(chunks)
        return self._data

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes | memoryview]:
        return iter(self.chunks)

    def __repr__(self) -> str:
        return f"Body({self.size} bytes in {len(self.chunks)} chunks, {self.event_count} events)"


CUTTABLE = (*BUCKETS, "error", "event_name")
"""The fields `fit` may shorten: content, where a long value is a prompt, a document, a vector or a trace."""
CUT_MIN = 128
"""Values smaller than this (bytes of JSON) are never cut: ids, names, roles and numbers are what is left of an event
once its content is cut."""
TRUNCATED_KEY = "otel_honeyhive_truncated"
"""The `metadata` key listing, sorted, the paths of the values `fit` cut (e.g. `inputs.chat_history.0.content`)."""
MOVED_METADATA_KEY = "metadata"
"""Where a `metadata` that is not an object is kept when `fit` needs an object there for its list of cuts (as the v1
route moves it, `v1_event`)."""
_DROPPED = re.compile(r"…\[truncated (\d+) items\]")
_STRING = 0
"""What a cut does: a string keeps its first bytes (`_STRING`); an array its first items (`_ARRAY`); an object
becomes a marker string (`_OBJECT`)."""
_ARRAY = 1
_OBJECT = 2

Candidate = tuple[int, tuple[Any, ...], int]
"""(bytes of JSON, path, what a cut does) of a value `fit` may cut."""


def _walk(node: Any, path: tuple[Any, ...], out: list[Candidate], arrays: list[Candidate]) -> tuple[int, bool]:
    """The bytes of `node`'s JSON (escapes aside) and whether it holds a string; appends to `out` what may be cut
    under it: strings, and the largest parts that hold no string (a vector of numbers, an object of counts) as a
    whole, so that one array of a thousand numbers is one cut, not a thousand. Arrays holding strings go to
    `arrays`: shortened only when nothing else is left to cut (a list of ten thousand short documents)."""
    if isinstance(node, str):
        size = utf8_size(node) + 2
        if size >= CUT_MIN:
            out.append((size, path, _STRING))
        return size, True
    if isinstance(node, list):
        if not any(isinstance(v, (str, list, dict)) for v in node):  # numbers: measured in one call
            size = len(orjson.dumps(node))
            if size >= CUT_MIN:
                out.append((size, path, _ARRAY))
            return size, False
        mark = len(out)
        size, strings = 1 + max(1, len(node)), False
        for i, value in enumerate(node):
            part, has = _walk(value, (*path, i), out, arrays)
            size, strings = size + part, strings or has
        if size >= CUT_MIN:
            if not strings:
                del out[mark:]  # the array whole, not its parts
                out.append((size, path, _ARRAY))
            else:
                arrays.append((size, path, _ARRAY))
        return size, strings
    if isinstance(node, dict):
        mark = len(out)
        size, strings = 1 + max(1, len(node)), False
        for key, value in node.items():
            part, has = _walk(value, (*path, key), out, arrays)
            size, strings = size + part + utf8_size(str(key)) + 3, strings or has
        if size >= CUT_MIN and len(out) == mark:  # nothing in it to cut but the object as a whole
            out.append((size, path, _OBJECT))
        return size, strings
    return len(orjson.dumps(node)), False


def _shorten(items: list[Any], target: int) -> list[Any] | None:
    """`items`' first items that fit in `target` bytes of JSON, then one item saying how many were dropped
    (counting those an earlier cut dropped); None when every item fits."""
    dropped = 0
    if items and isinstance(items[-1], str):
        earlier = _DROPPED.fullmatch(items[-1])
        if earlier is not None:
            dropped, items = int(earlier.group(1)), items[:-1]
    kept: list[Any] = []
    size = 2 + 32  # the brackets and the marker
    for item in items:
        size += len(orjson.dumps(item)) + 1
        if size > target:
            break
        kept.append(item)
    if len(kept) == len(items):
        return None
    return [*kept, f"…[truncated {dropped + len(items) - len(kept)} items]"]


def _cut(event: Event, candidate: Candidate, keep: int) -> int:
    """Cut the value at the candidate's path to about `keep` bytes; the bytes saved."""
    size, path, kind = candidate
    node: Any = event
    for part in path[:-1]:
        node = node[part]
    value = node[path[-1]]
    if kind == _STRING:
        node[path[-1]] = cut_text(value, keep)
        return size - utf8_size(node[path[-1]]) - 2
    if kind == _ARRAY:
        shortened = _shorten(value, keep)
        if shortened is None:
            return 0
        node[path[-1]] = shortened
        return size - len(orjson.dumps(shortened))
    node[path[-1]] = marker = f"…[truncated {size} bytes]"
    return size - utf8_size(marker) - 2


def _mark_truncated(event: Event, cut: set[str]) -> None:
    """List the cut paths in `metadata.otel_honeyhive_truncated`; a `metadata` that is null becomes an object,
    one that is not an object is kept in it under `MOVED_METADATA_KEY`."""
    metadata = event.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {} if metadata is None else {MOVED_METADATA_KEY: metadata}
        event["metadata"] = metadata
    metadata[TRUNCATED_KEY] = sorted(cut)


def fit(event: Event, budget: int, keep_under: int = 0) -> bytes:
    """The event encoded in at most `budget` bytes: an event too large for any request has its largest values cut
    (marked, and listed in `metadata.otel_honeyhive_truncated`) rather than being refused whole. Strings keep
    their first bytes (`…[truncated N chars]`), arrays their first items (`…[truncated N items]`), and an object
    that holds no string is replaced by `…[truncated N bytes]`; arrays of strings are shortened only when nothing
    else is left to cut. Only content is cut (`CUTTABLE`: never an id, the type or a routing field; nothing under
    `CUT_MIN` bytes), and cuts count bytes, not characters. An event no larger than `keep_under` is left whole: it
    is under a size the receiver is not known to refuse (the client's bounds on its limit)."""
    data = dumps(event)
    if len(data) <= budget or len(data) <= keep_under:
        return data
    event = orjson.loads(data)  # a private copy to cut
    cut: set[str] = set()
    for _ in range(8):
        excess = len(data) - budget + 256
        candidates: list[Candidate] = []
        arrays: list[Candidate] = []
        for key in CUTTABLE:
            value = event.get(key)
            if isinstance(value, dict):  # a bucket stays an object: what is in it may be cut
                for inner, part in value.items():
                    if not (key == "metadata" and inner == TRUNCATED_KEY):
                        _walk(part, (key, inner), candidates, arrays)
            elif value is not None:
                _walk(value, (key,), candidates, arrays)
        if not candidates:  # the largest array of short values (arrays nest: one per pass)
            candidates = sorted(arrays, key=lambda c: c[0], reverse=True)[:1]
        candidates.sort(key=lambda c: c[0], reverse=True)
        before = excess
        for candidate in candidates:
            if excess <= 0:
                break
            saved = _cut(event, candidate, candidate[0] - excess - 64)
            if saved > 0:
                excess -= saved
                cut.add(".".join(str(p) for p in candidate[1]))
        if excess == before:  # nothing left that a cut makes smaller
            break
        _mark_truncated(event, cut)
        data = dumps(event)
        if len(data) <= budget:
            break
    return data


def session_properties(session: Event) -> dict[str, Any]:
    props: dict[str, Any] = {"session_id": session.get("session_id")}
    if session.get("event_type") == "session":
        props["session_name"] = session.get("event_name")
        props["source"] = session.get("source")
        for key in _SESSION_FIELDS:
            if session.get(key) not in (None, {}):
                props[key] = session[key]
        for key in ("start_time", "end_time", "duration"):
            if key in session:
                props[key] = session[key]
    return props


def _pack(
    encoded: list[bytes], head: bytes, tail: bytes, max_events: int, max_bytes: int, first_tail: bytes | None = None
) -> Iterator[tuple[int, int]]:
    """(start, end) slices of `encoded` whose bodies fit both limits (a lone oversized event goes alone). The first
    body ends in `first_tail` when given (a session's properties); when its first event does not fit beside them,
    the first slice is empty: the properties go alone."""
    start = 0
    size = len(head) + len(tail)
    if first_tail is not None:
        size = len(head) + len(first_tail)
        if encoded and size + len(encoded[0]) > max_bytes:
            yield 0, 0
            size = len(head) + len(tail)
    for i, piece in enumerate(encoded):
        extra = len(piece) + (1 if i > start else 0)
        if i > start and (i - start >= max_events or size + extra > max_bytes):
            yield start, i
            start, size = i, len(head) + len(tail)
            extra = len(piece)
        size += extra
    if start < len(encoded):
        yield start, len(encoded)


def _gather(
    head: bytes, pieces: Sequence[bytes | memoryview], tail: bytes, separator: bytes = b","
) -> list[bytes | memoryview]:
    """The chunks of `head + separator.join(pieces) + tail`: small pieces (and the separators) joined into
    chunks of about `GATHER_BYTES`, large pieces kept as they are (see `GATHER_BYTES`)."""
    chunks: list[bytes | memoryview] = []
    pending: list[bytes | memoryview] = [head]
    pending_size = len(head)
    last = len(pieces) - 1
    for i, piece in enumerate(pieces):
        after = separator if i < last else tail
        if len(piece) >= GATHER_BYTES:
            if pending:
                chunks.append(b"".join(pending))
            chunks.append(piece)
            pending, pending_size = ([after], len(after)) if after else ([], 0)
            continue
        pending += (piece, after)
        pending_size += len(piece) + len(after)
        if pending_size >= GATHER_BYTES:
            chunks.append(b"".join(pending))
            pending, pending_size = [], 0
    if not pieces:
        pending.append(tail)
    if pending:
        chunks.append(b"".join(pending))
    return chunks


_MULTI_TAILS = {LEGACY: b'],"is_single_session":false}', V1: b'],"single_session":false}'}
_SINGLE_KEYS = {LEGACY: "is_single_session", V1: "single_session"}


def encode_multi(
    events: Sequence[Event], max_events: int, max_bytes: int, route: str = LEGACY, keep_under: int = 0
) -> Iterator[Body]:
    """Several sessions per request (`is_single_session: false`, on v1 `single_session: false`): fewest requests.

    Each run of `max_events` events is encoded in one call when it fits in a request (the common case: half the
    cost of encoding events one by one and joining them, measured); a run too large, or holding a value orjson
    cannot take as it is, is packed event by event, cutting any single event larger than a request. `keep_under`:
    a body of one event up to this size is sent whole, not cut (`HoneyHiveOutput`'s bounds on a receiver's
    limit: under the smallest body it refused, the event is tried as it is first)."""
    ordered = [e for group in group_sessions(events) for e in group]
    if route == V1:
        ordered = [v1_event(e) for e in ordered]
    head, tail = b'{"events":[', _MULTI_TAILS[route]
    for start in range(0, len(ordered), max_events):
        run = ordered[start : start + max_events]
        try:
            whole = orjson.dumps({"events": run, _SINGLE_KEYS[route]: False})
        except TypeError:
            whole = None
        if whole is not None and len(whole) <= max_bytes:
            yield Body.of(whole, len(run), ("multi", run), route)
            continue
        room = len(head) + len(tail)
        encoded = [fit(e, max_bytes - room, keep_under - room) for e in run]
        for first, end in _pack(encoded, head, tail, max_events, max_bytes):
            yield Body(_gather(head, encoded[first:end], tail), end - first, ("multi", run[first:end]), route)


def encode_per_session(
    events: Sequence[Event], max_events: int, max_bytes: int, route: str = LEGACY, keep_under: int = 0
) -> Iterator[Body]:
    """One session per request (`is_single_session: true`); the session event travels as
    `session_properties` in the first request, alone when its first child does not fit beside it; later requests
    name the session by id only, and are packed as such. On v1, see `encode_v1_per_session`."""
    if route == V1:
        yield from encode_v1_per_session(events, max_events, max_bytes, keep_under)
        return
    head = b'{"events":['
    for group in group_sessions(events):
        session = group[0]
        is_session = session.get("event_type") == "session"
        children = group[1:] if is_session else group
        first_tail = _legacy_session_tail(session_properties(session))
        if is_session and len(head) + len(first_tail) > max(max_bytes, keep_under):
            # A session event too large for a request alone is cut like any other event, until its properties fit.
            budget = max_bytes - len(head) - 64
            for _ in range(4):
                session = orjson.loads(fit(group[0], budget))
                first_tail = _legacy_session_tail(session_properties(session))
                over = len(head) + len(first_tail) - max_bytes
                if over <= 0:
                    break
                budget -= over
        later_tail = _legacy_session_tail({"session_id": session.get("session_id")})
        room = len(head) + len(later_tail)
        encoded = [fit(e, max(max_bytes - room, 256), keep_under - room) for e in children]
        if not encoded:
            yield Body.of(head + first_tail, 1 if is_session else 0, ("session", group))
            continue
        packed = _pack(encoded, head, later_tail, max_events, max_bytes, first_tail if is_session else None)
        for n, (start, end) in enumerate(packed):
            tail = first_tail if n == 0 else later_tail
            # A later body's source holds no session event: made again, it names the session by id only.
            source = [group[0], *children[start:end]] if is_session and n == 0 else children[start:end]
            yield Body(_gather(head, encoded[start:end], tail), end - start + (1 if is_session and n == 0 else 0),
                       ("session", source))


def _legacy_session_tail(properties: dict[str, Any]) -> bytes:
    return b'],"is_single_session":true,"session_properties":' + dumps(properties) + b"}"


def encode_v1_per_session(
    events: Sequence[Event], max_events: int, max_bytes: int, keep_under: int = 0
) -> Iterator[Body]:
    """One session per request on the v1 route: `single_session: true`, which HoneyHive allows only when every
    event of the body shares one `session_id`, as here. The session event travels as an ordinary event, first
    (v1's `session_properties` has no session id, inputs or outputs to carry it); the session's first body also
    names it in `session_properties` (its name, start time, metadata and user properties)."""
    head = b'{"events":['
    later_tail = b'],"single_session":true}'
    for group in group_sessions(events):
        converted = [v1_event(e) for e in group]
        session = converted[0]
        first_tail = later_tail
        if session.get("event_type") == "session":
            props = {k: session[k] for k in ("start_time", "user_properties") if session.get(k)}
            if isinstance(session.get("event_name"), str):
                props = {"session_name": session["event_name"], **props}
            first_tail = b'],"single_session":true,"session_properties":' + dumps(props) + b"}"
            if len(head) + len(first_tail) + 256 > max_bytes:  # properties too large: the event carries them
                first_tail = later_tail
        room = len(head) + len(first_tail)
        encoded = [fit(e, max(max_bytes - room, 256), keep_under - room) for e in converted]
        for n, (start, end) in enumerate(_pack(encoded, head, first_tail, max_events, max_bytes)):
            tail = first_tail if n == 0 else later_tail
            yield Body(_gather(head, encoded[start:end], tail), end - start, ("session", converted[start:end]), V1)


def v1_event_in_place(event: Event) -> Event:
    """`v1_event` for an event no one else holds (the pipeline's, encoded at once and let go): the mapper's
    `project` moves into its `metadata` without copying either dict; anything else is left to `v1_event`."""
    metadata = event.get("metadata")
    if "project" in event and isinstance(metadata, dict) and isinstance(event.get("inputs"), dict):
        project = event.pop("project")
        if project is not None:
            metadata.setdefault("project", project)
        if V1_EVENT_FIELDS.issuperset(event):
            return event
    return v1_event(event)


V1_SHAPE = EventShape(V1, v1_event_in_place)
"""What `HoneyHiveOutput.event_shape` gives the pipeline while the route is v1: events converted as they are
encoded, so their blocks need no decoding here (`_v1_block`)."""


def legacy_event(event: Event) -> Event:
    """An event shaped for v1 (`v1_event`) as the legacy route takes it: its `project` back in place (the
    other fields v1 moved into `metadata` stay there: the legacy route ignores them)."""
    metadata = event.get("metadata")
    if "project" in event or not isinstance(metadata, dict) or "project" not in metadata:
        return event
    rest = dict(metadata)
    return {**event, "project": rest.pop("project"), "metadata": rest}


def _legacy_block(block: EventBlock) -> EventBlock:
    """`block` for the legacy route: as it is unless it was shaped for v1 (the route switched since)."""
    if block.shape != V1:
        return block
    return EventBlock.of([legacy_event(e) for e in block.events()])


def _v1_block(block: EventBlock) -> EventBlock:
    """`block` with its events as the v1 route takes them; the block itself when they already are (shaped as they
    were encoded, or decoded to check and encoded again only when an event changed)."""
    if block.shape == V1:
        return block
    events = block.events()
    converted = [v1_event(e) for e in events]
    if all(c is e for c, e in zip(converted, events, strict=True)):
        return block
    return EventBlock.of(converted)


def encode_blocks(
    blocks: Sequence[EventBlock], max_events: int, max_bytes: int, route: str = LEGACY, keep_under: int = 0
) -> Iterator[Body]:
    """`encode_multi` for events already encoded (`EncodedEvents`): a body is the blocks' own bytes, sliced (each
    block carries its separator, see `EventBlock`), so nothing is encoded or copied again; a block too large for
    one request is split event by event as `encode_multi` does. On v1 each block is first made v1 (`_v1_block`)."""
    blocks = [_v1_block(b) for b in blocks] if route == V1 else [_legacy_block(b) for b in blocks]
    head, tail = b'{"events":[', _MULTI_TAILS[route]
    budget = max_bytes - len(head) - len(tail)
    pending: list[EventBlock] = []
    count = size = 0
    for block in session_ordered(blocks):
        inner = len(block.inner)
        if block.count > max_events or inner > budget:
            if pending:
                yield _blocks_body(head, pending, tail, count, route)
                pending, count, size = [], 0, 0
            yield from encode_multi(block.events(), max_events, max_bytes, route, keep_under)
            continue
        if pending and (count + block.count > max_events or size + 1 + inner > budget):
            yield _blocks_body(head, pending, tail, count, route)
            pending, count, size = [], 0, 0
        size += inner + (1 if pending else 0)
        pending.append(block)
        count += block.count
    if pending:
        yield _blocks_body(head, pending, tail, count, route)


def _blocks_body(head: bytes, blocks: list[EventBlock], tail: bytes, count: int, route: str) -> Body:
    return Body(_gather(head, array_items(blocks), tail, separator=b""), count, ("blocks", blocks), route)


def resplit(body: Body, max_events: int, max_bytes: int, keep_under: int = 0) -> list[Body]:
    """`body` made again under smaller limits, from what it was made of, by the encoder that made it: its events
    in the same order (a session event stays first), in bodies within the limits, a single event too large cut
    (unless it is under `keep_under`). Made the way a batch of the same events is encoded under these limits, so
    bodies acknowledged here are recognised when the batch is sent again (the client's digest memory). [] when
    the body has no source."""
    if body.source is None:
        return []
    kind, items = body.source
    if kind == "blocks":
        return list(encode_blocks(items, max_events, max_bytes, body.route, keep_under))
    if kind == "session":
        return list(encode_per_session(items, max_events, max_bytes, body.route, keep_under))
    return list(encode_multi(items, max_events, max_bytes, body.route, keep_under))


def source_events(body: Body) -> list[Event]:
    """The events `body` was made from (its session event included, in session mode), decoded from its blocks
    when it was made of blocks: to name what a receiver refused. [] when the body has no source."""
    if body.source is None:
        return []
    kind, items = body.source
    if kind == "blocks":
        return [e for block in items for e in block.events()]
    return list(items)


def encode(
    events: Sequence[Event], mode: str, max_events: int, max_bytes: int, route: str = LEGACY, keep_under: int = 0
) -> Iterator[Body]:
    """The bodies for `events` on `route` (`V1` or `LEGACY`) in batch mode `mode` ("multi" or "session"), within
    `max_bytes`; a body of one event up to `keep_under` bytes is left whole (see `encode_multi`)."""
    if mode == "session":
        return encode_per_session(events, max_events, max_bytes, route, keep_under)
    if is_encoded(events):
        return encode_blocks(events.blocks, max_events, max_bytes, route, keep_under)
    return encode_multi(events, max_events, max_bytes, route, keep_under)
