"""Mapping an assembled trace (or a part of one) into events, applying the identity rules exactly
(docs/identity-and-assembly.md).

A `TraceMapper` remembers a little about each trace it has mapped (bounded LRU): the root, explicit event ids,
and parents that children pointed at before those parents were seen. That is what lets a late child of the root
point at the session, and what lets a root that arrives after its children also be emitted as the `chain`
event those children already point at, so no event is left dangling.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, cast

import orjson

from otel_honeyhive.core.events import BUCKETS, DEFAULT_SOURCE, EVENT_TYPES, Event
from otel_honeyhive.core.jsonable import jsonable
from otel_honeyhive.core.results import Update
from otel_honeyhive.core.routing import TraceRouter
from otel_honeyhive.core.spans import STATUS_OK, SpanView
from otel_honeyhive.mapper.conversations import ConversationSessions, check_sessions_mode, conversation_of
from otel_honeyhive.mapper.filtering import SpanFilter, select
from otel_honeyhive.mapper.identity import (
    event_id_for_hex,
    event_id_for_span,
    normalise_uuid,
    session_id_for_conversation,
    session_id_for_trace,
    span_hex,
    trace_hex,
)
from otel_honeyhive.mapper.markers import EVENT_KEY, ORIGIN_KEY
from otel_honeyhive.mapper.ruleset import Ruleset

SESSION_KEYS = ("honeyhive.session_id", "honeyhive_session_id")
PARENT_KEYS = ("honeyhive.parent_id", "honeyhive_parent_id")
EVENT_ID_KEY = "honeyhive_event_id"

_MAX_REMEMBERED_PER_TRACE = 1024


_NOTHING: Mapping[int, Any] = MappingProxyType({})


class _TraceMemory:
    """What is remembered of one trace. Thousands are kept and nearly all hold no explicit ids and no dangling
    parents, so those two maps exist only once something is put in them (fewer objects for the collector)."""

    __slots__ = ("conversation", "dangling", "dropped", "event_ids", "explicit_session", "project", "root_event_id",
                 "root_span_id", "session_id")

    def __init__(self, session_id: str, explicit_session: bool, conversation: str | None = None,
                 project: str | None = None) -> None:
        self.session_id = session_id
        self.explicit_session = explicit_session
        self.conversation = conversation
        """The conversation id whose session the trace went to (`sessions="conversation"`): the bridge starts it."""
        self.project = project
        """The project a routing table sent the trace to (None without one)."""
        self.root_span_id = 0
        self.root_event_id: str | None = None
        self.event_ids: Mapping[int, str] = _NOTHING
        """Span id → explicit `honeyhive_event_id`, for children that arrive later."""
        self.dangling: Mapping[int, list[str]] = _NOTHING
        """Parent span id not yet seen → event ids of children already shipped pointing at its derived id."""
        self.dropped: Mapping[int, int] = _NOTHING
        """Span id dropped by the span filter → its parent's span id, for children that arrive later."""

    def remember_dropped(self, span_id: int, parent_span_id: int) -> bool:
        if span_id in self.dropped:
            return True
        if not self.dropped:
            self.dropped = {}
        elif len(self.dropped) >= _MAX_REMEMBERED_PER_TRACE:
            return False
        cast(dict[int, int], self.dropped)[span_id] = parent_span_id
        return True

    def remember_event_id(self, span_id: int, event_id: str) -> None:
        if not self.event_ids:
            self.event_ids = {}
        if len(self.event_ids) < _MAX_REMEMBERED_PER_TRACE:
            cast(dict[int, str], self.event_ids)[span_id] = event_id

    def shipped_under(self, parent: int) -> list[str] | None:
        """The list of children shipped under a parent not seen yet, made on first use; None when full."""
        shipped = self.dangling.get(parent)
        if shipped is None:
            if len(self.dangling) >= _MAX_REMEMBERED_PER_TRACE:
                return None
            if not self.dangling:
                self.dangling = {}
            shipped = cast(dict[int, list[str]], self.dangling)[parent] = []
        return shipped


def _explicit(attrs: Any, keys: Sequence[str]) -> str | None:
    for key in keys:
        value = normalise_uuid(attrs.get(key))
        if value is not None:
            return value
    return None


def _sort_key(span: SpanView) -> tuple[int, int]:
    return (span.start_ns, span.span_id)


class TraceMapper:
    """Stateful only through its bounded memory of recent traces; safe to use from one thread at a time."""

    def __init__(
        self,
        ruleset: Ruleset | None = None,
        *,
        project: str | None = None,
        source: str = DEFAULT_SOURCE,
        memory_traces: int = 10_000,
        span_filter: SpanFilter | None = None,
        router: TraceRouter | None = None,
        sessions: str = "trace",
    ) -> None:
        """`span_filter`: spans to drop before mapping, their children re-attached to the nearest kept ancestor
        (`mapper/filtering.py`); `on_filtered` is then told how many were dropped, by reason. `router`: the
        project of each trace from a routing table (core/routing.py, docs/routing.md), set on every event and
        winning over `project`; a trace it refuses maps to no events, and `on_unrouted` is told its span count.
        `sessions`: "trace" (a root span becomes the session) or "conversation" (mapper/conversations.py): the
        session updates that makes are handed out by `take_updates`."""
        self.ruleset = ruleset or Ruleset.default()
        self.span_filter = span_filter
        self.on_filtered: Callable[[Mapping[str, int]], None] | None = None
        self.router = router
        self.on_unrouted: Callable[[int], None] | None = None
        self.project = project
        self.source = source
        self._memory: OrderedDict[int, _TraceMemory] = OrderedDict()
        self._memory_traces = memory_traces
        self.sessions = check_sessions_mode(sessions)
        self.conversations = ConversationSessions() if sessions == "conversation" else None
        self._updates: list[Update] = []

    # -- public -----------------------------------------------------------------------------------------------

    def map_trace(self, spans: Sequence[SpanView]) -> list[Event]:
        """Events for spans of one trace, session event first, parents before children."""
        if not spans:
            return []
        trace_id = spans[0].trace_id
        routed: str | None = None
        if self.router is not None:
            routed = self.router.project_for(spans)
            if routed is None:
                if self.on_unrouted is not None:
                    self.on_unrouted(len(spans))
                return []
        memory = self._remember(trace_id, spans, routed)  # every span: a dropped one may carry the explicit session
        if self.span_filter is not None:
            spans, counts = select(spans, self.span_filter, memory)
            if counts and self.on_filtered is not None:
                self.on_filtered(counts)
            if not spans:
                return []
        ordered = sorted(spans, key=_sort_key)
        by_id = {s.span_id: s for s in ordered}
        session_id = memory.session_id
        hex_trace_id = trace_hex(trace_id)

        hexes = {s.span_id: span_hex(s.span_id) for s in ordered}  # once each: event id, metadata, children
        event_ids: dict[int, str] = {}
        for span in ordered:
            raw = span.attributes.get(EVENT_ID_KEY)
            explicit = normalise_uuid(raw) if raw is not None else None
            if span.parent_span_id == 0 and not memory.explicit_session:
                event_ids[span.span_id] = session_id  # the root becomes the session
            elif explicit is not None:
                event_ids[span.span_id] = explicit
                memory.remember_event_id(span.span_id, explicit)
            else:
                event_ids[span.span_id] = event_id_for_hex(hex_trace_id, hexes[span.span_id])

        parent_ids: dict[int, str | None] = {}
        children: dict[str, list[str]] = {}
        for span in ordered:
            parent = self._parent_event_id(span, by_id, event_ids, memory)
            parent_ids[span.span_id] = parent
            if parent is not None:
                children.setdefault(parent, []).append(event_ids[span.span_id])

        events: list[Event] = []
        stand_ins: list[Event] = []
        for span in ordered:
            event_id = event_ids[span.span_id]
            if ORIGIN_KEY in span.attributes and span.attributes[ORIGIN_KEY] == "event":
                origin = _origin_event(span)
                if origin is not None:  # a HoneyHive event carried as a span: it is given back as it was
                    events.append(origin)
                    continue
            is_session = span.parent_span_id == 0 and not memory.explicit_session
            has_children = event_id in children or span.span_id in memory.dangling
            event_type = "session" if is_session else self.ruleset.classify(span.attributes, has_children)
            event = self._event(span, event_type, session_id, event_id, parent_ids[span.span_id], hex_trace_id, hexes)
            event["children_ids"] = children.get(event_id, [])
            events.append(event)
            if span.parent_span_id == 0:
                memory.root_span_id = span.span_id
                memory.root_event_id = event_id
            # Kept, not popped: mapping the same spans again (a retried hand-off) gives the same events.
            shipped_children = memory.dangling.get(span.span_id)
            if shipped_children is None:
                continue
            derived = event_id_for_hex(hex_trace_id, hexes[span.span_id])
            if derived == event_id:
                event["children_ids"].extend(c for c in shipped_children if c not in event["children_ids"])
            else:
                # Children shipped before this span point at its derived id: emit that event too, under it.
                stand_in = self._event(span, self.ruleset.classify(span.attributes, True), session_id, derived,
                                   event_id, hex_trace_id, hexes)
                stand_in["children_ids"] = list(shipped_children)
                stand_ins.append(stand_in)
                event["children_ids"].append(derived)
        for i, event in enumerate(events):  # the session first; the others keep their order (parents first)
            if event["event_type"] == "session":
                if i:
                    events.insert(0, events.pop(i))
                break
        for stand_in in stand_ins:
            at = next(i for i, e in enumerate(events) if e["event_id"] == stand_in["parent_id"])
            events.insert(at + 1, stand_in)
        if memory.conversation is not None and self.conversations is not None and ordered:
            self._conversation_session(memory, ordered, events, hex_trace_id, hexes, routed)
        if routed is not None:  # the routing table decides, over the default project and a span's own
            for event in events:
                event["project"] = routed
        return events

    def take_updates(self) -> list[Update]:
        """The session updates mapping made since the last call (`sessions="conversation"`: later turns extend
        their conversation's session), to be handed on after the events of the same traces. Several turns of one
        conversation mapped together give one update, the last: each holds the session's whole extent so far."""
        updates, self._updates = self._updates, []
        if len(updates) > 1:
            return list({(update.project, update.event_id): update for update in updates}.values())
        return updates

    def _conversation_session(self, memory: _TraceMemory, ordered: Sequence[SpanView], events: list[Event],
                              hex_trace_id: str, hexes: dict[int, str], project: str | None) -> None:
        """Start the trace's conversation session (first turn seen here: the session event, first in `events`)
        or extend it (any later turn: an update)."""
        assert self.conversations is not None and memory.conversation is not None
        session_id = memory.session_id
        root = next((s for s in ordered if s.parent_span_id == 0), ordered[0])
        session = self._event(root, "session", session_id, session_id, None, hex_trace_id, hexes)
        metadata = session["metadata"]
        metadata.pop("span_id", None)  # the root's span is the turn's chain event, not the session
        metadata.pop("parent_span_id", None)
        if not session["user_properties"]:  # the conversation's user, when only the turn's spans name it
            session["user_properties"] = next((dict(e["user_properties"]) for e in events
                                               if isinstance(e.get("user_properties"), dict) and e["user_properties"]),
                                              {})
        turns = [e["event_id"] for e in events
                 if e.get("parent_id") == session_id and isinstance(e.get("event_id"), str)]
        ends = [e["end_time"] for e in events if isinstance(e.get("end_time"), int | float)]
        outcome = self.conversations.on_turn(root.trace_id, session_id, memory.conversation, session, turns,
                                             max(ends, default=session["end_time"]), project)
        if isinstance(outcome, Update):
            self._updates.append(outcome)
        else:
            events.insert(0, outcome)

    def was_dropped(self, trace_id: int, span_id: int) -> bool:
        """Whether the span filter dropped this span (as far as the memory of recent traces goes)."""
        memory = self._memory.get(trace_id)
        return memory is not None and span_id in memory.dropped

    def session_id_of(self, trace_id: int) -> str:
        """The session a trace's events went to: an explicit session remembered from its spans, else the one
        derived from the trace id (what records whose span never came are attached to)."""
        memory = self._memory.get(trace_id)
        return memory.session_id if memory is not None else session_id_for_trace(trace_id)

    def project_of(self, trace_id: int, resource: Mapping[str, Any]) -> str | None:
        """The project a routing table sent the trace's events to, for an update of one of them (a session's id
        may be in two projects: a UUID conversation's): remembered from its mapping, else the router's decision
        for the trace, else what `resource` (a log record's) alone says. None without a routing table."""
        if self.router is None:
            return None
        memory = self._memory.get(trace_id)
        if memory is not None and memory.project is not None:
            return memory.project
        return self.router.decided(trace_id, resource)

    # -- identity ---------------------------------------------------------------------------------------------

    def _remember(self, trace_id: int, spans: Sequence[SpanView], project: str | None) -> _TraceMemory:
        memory = self._memory.get(trace_id)
        explicit = None
        first, second = SESSION_KEYS
        carriers = [s for s in spans if first in s.attributes or second in s.attributes]
        if carriers:  # roots first, then in start order
            roots = [s for s in carriers if s.parent_span_id == 0]
            for span in (*roots, *sorted(carriers, key=_sort_key)):
                explicit = _explicit(span.attributes, SESSION_KEYS)
                if explicit is not None:
                    break
        conversation = None
        if explicit is None and self.conversations is not None and (memory is None or not memory.explicit_session):
            conversation = conversation_of(spans)
            if conversation is not None:
                explicit = session_id_for_conversation(conversation, project)
        if memory is None:
            memory = _TraceMemory(
                session_id=explicit or session_id_for_trace(trace_id), explicit_session=explicit is not None,
                conversation=conversation, project=project,
            )
            self._memory[trace_id] = memory
            if len(self._memory) > self._memory_traces:
                self._memory.popitem(last=False)
        else:
            self._memory.move_to_end(trace_id)
            if project is not None:
                memory.project = project
            if explicit is not None and not memory.explicit_session:
                memory.session_id, memory.explicit_session = explicit, True
                memory.conversation = conversation
        return memory

    @staticmethod
    def _parent_event_id(
        span: SpanView, by_id: dict[int, SpanView], event_ids: dict[int, str], memory: _TraceMemory
    ) -> str | None:
        parent = span.parent_span_id
        if parent == 0:
            if memory.explicit_session:
                return _explicit(span.attributes, PARENT_KEYS) or memory.session_id
            return None
        if parent in by_id:
            return event_ids[parent]
        if parent == memory.root_span_id and memory.root_event_id is not None:
            return memory.root_event_id
        known = memory.event_ids.get(parent)
        if known is not None:
            return known
        derived = event_id_for_span(span.trace_id, parent)
        shipped = memory.shipped_under(parent)
        if shipped is not None and len(shipped) < _MAX_REMEMBERED_PER_TRACE:
            shipped.append(event_ids[span.span_id])
        return derived

    # -- one event --------------------------------------------------------------------------------------------

    def _event(
        self, span: SpanView, event_type: str, session_id: str, event_id: str, parent_id: str | None,
        hex_trace_id: str, hexes: dict[int, str],
    ) -> Event:
        start_ns, end_ns = span.start_ns, span.end_ns
        metadata: dict[str, Any] = {}
        event: Event = {
            "source": self.source,
            "session_id": session_id,
            "event_id": event_id,
            "parent_id": parent_id,
            "children_ids": [],
            "event_type": event_type,
            "event_name": span.name,
            "config": {},
            "inputs": {},
            "outputs": {},
            "error": None,
            "start_time": start_ns // 1_000_000,
            "end_time": end_ns // 1_000_000,
            "duration": (end_ns - start_ns) / 1_000_000,
            "metadata": metadata,
            "metrics": {},
            "feedback": {},
            "user_properties": {},
        }
        if self.project:
            event["project"] = self.project
        self.ruleset.route(span, event_type, event)
        metadata = event["metadata"]  # a rule may have replaced the bucket
        if "total_tokens" not in metadata:
            prompt, completion = metadata.get("prompt_tokens"), metadata.get("completion_tokens")
            if isinstance(prompt, int) and isinstance(completion, int):
                metadata["total_tokens"] = prompt + completion
        metadata["trace_id"] = hex_trace_id
        metadata["span_id"] = hexes[span.span_id]
        parent = span.parent_span_id
        if parent:
            metadata["parent_span_id"] = hexes[parent] if parent in hexes else span_hex(parent)
        metadata["span_kind"] = span.kind
        if span.status_code == STATUS_OK:
            metadata["status_code"] = "OK"  # an explicit OK is information an ERROR-or-not `error` cannot carry
        if span.scope_name:
            metadata["scope_name"] = span.scope_name
            if span.scope_version:
                metadata["scope_version"] = span.scope_version
        if span.links:
            metadata["links"] = [
                {"trace_id": trace_hex(link.trace_id), "span_id": span_hex(link.span_id),
                 **({"attributes": jsonable(link.attributes)} if link.attributes else {})}
                for link in span.links
            ]
        resource = span.resource
        if resource:
            if span.parent_span_id == 0 or span.parent_is_remote:  # a local root carries the whole resource
                metadata["resource"] = jsonable(resource)
            elif "service.name" in resource:
                metadata["service.name"] = jsonable(resource["service.name"])
        if span.dropped_attributes:
            metadata["dropped_attributes"] = span.dropped_attributes
        if span.dropped_events:
            metadata["dropped_events"] = span.dropped_events
        if span.dropped_links:
            metadata["dropped_links"] = span.dropped_links
        return event


_ORIGIN_ATTRIBUTES = (
    ("event_id", "honeyhive_event_id"),
    ("session_id", "honeyhive.session_id"),
    ("event_type", "honeyhive_event_type"),
)


def _origin_event(span: SpanView) -> Event | None:
    """The event `events_to_spans` made this span from, rebuilt from its HoneyHive attributes alone."""
    attrs = span.attributes
    try:
        rest = orjson.loads(attrs[EVENT_KEY])
        if not isinstance(rest, dict):
            return None
        event: Event = {}
        for field_name, key in _ORIGIN_ATTRIBUTES:
            if key in attrs:
                event[field_name] = attrs[key]
        event.update(rest)
        for bucket in BUCKETS:
            raw = attrs.get(f"honeyhive_{bucket}")
            if raw is not None:
                event[bucket] = orjson.loads(raw)
    except (KeyError, TypeError, orjson.JSONDecodeError):
        return None  # not a complete event: map it like any other span
    return event if _complete(event) else None


def _complete(event: Event) -> bool:
    """Whether a rebuilt event is one HoneyHive takes: a UUID id, a known type, buckets that are objects. A span
    whose marker says "event" but whose attributes do not add up (a processor on the way dropped or rewrote one)
    is mapped like any other span, never handed on broken."""
    event_id = event.get("event_id")
    session_id = event.get("session_id")
    return (isinstance(event_id, str) and normalise_uuid(event_id) is not None
            and event.get("event_type") in EVENT_TYPES
            and (session_id is None or (isinstance(session_id, str) and normalise_uuid(session_id) is not None))
            and all(isinstance(event.get(bucket), dict) for bucket in BUCKETS if event.get(bucket) is not None))


def group_by_trace(spans: Iterable[SpanView]) -> list[list[SpanView]]:
    """Spans grouped by trace id, traces in order of first appearance."""
    traces: dict[int, list[SpanView]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    return list(traces.values())
