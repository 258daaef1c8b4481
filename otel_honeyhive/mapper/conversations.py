"""Conversations as sessions (`sessions="conversation"`, docs/identity-and-assembly.md#conversations).

A chat application handles each user turn as its own request, so each turn is its own trace. The
instrumentations say which conversation a trace belongs to; with `sessions="conversation"` every trace that
carries a conversation id goes to that conversation's session: its root becomes an ordinary event (typically a
`chain`) under the session, exactly as an explicit `honeyhive.session_id` makes it.

Nobody else starts such a session (except for `honeyhive.session_id`, whose session HoneyHive's SDK starts),
so the bridge does: `ConversationSessions` remembers, per process and bounded (LRU), which conversations it
has started. The first trace of a conversation seen here yields the session event; every later one an update
(`PUT /events` semantics) extending the session's end time and duration. Another process, or this one after a
restart, starting the same session again sends the same id: an upsert, never a second session.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import Update
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.mapper.identity import session_id_for_conversation

SESSIONS_MODES = ("trace", "conversation")
DEFAULT_SESSIONS = "trace"
"""`trace` (the default): a trace's root span becomes its session. `conversation`: a trace carrying a
conversation id belongs to that conversation's session."""

CONVERSATION_KEYS = (
    "honeyhive.session_id",
    "session.id",
    "gen_ai.conversation.id",
    "traceloop.association.properties.session_id",
)
"""Where a conversation id is found, first key first (on any span of the trace, roots first, then by start)."""

CONVERSATION_KEY = "conversation_id"
"""The session event's metadata key holding the conversation id as the instrumentation gave it."""

DEFAULT_MAX_CONVERSATIONS = 10_000
"""Conversations whose session this process remembers having started (least recently seen forgotten first)."""

MAX_TURNS_REMEMBERED = 1_024
"""Turn roots listed in a session's `children_ids` (past this, turns still extend the session's end)."""


def check_sessions_mode(mode: str) -> str:
    """The mode, or ValueError naming the valid ones (for settings, variables and command-line options)."""
    if mode not in SESSIONS_MODES:
        raise ValueError(f"sessions must be one of {', '.join(SESSIONS_MODES)}, not {mode!r}")
    return mode


def _as_id(value: Any) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def conversation_of(spans: Sequence[SpanView]) -> str | None:
    """The conversation id a trace (or a part of one) carries: the first key of `CONVERSATION_KEYS` found on any
    of its spans, looking at roots first, then at the others in start order."""
    found = conversation_source(spans)
    return None if found is None else found[0]


def conversation_source(spans: Sequence[SpanView]) -> tuple[str, str, SpanView] | None:
    """`conversation_of`'s id with where it was found: the key and the span (for `explain`)."""
    ordered = sorted(spans, key=lambda s: (s.parent_span_id != 0, s.start_ns, s.span_id))
    for key in CONVERSATION_KEYS:
        for span in ordered:
            found = _as_id(span.attributes.get(key))
            if found is not None:
                return found, key, span
    return None


@dataclass
class _Started:
    """One conversation's session as this process started it."""

    first_trace_id: int
    start_time: float
    end_time: float
    turns: list[str] = field(default_factory=list)


class ConversationSessions:
    """Which conversations' sessions this process has started, bounded (LRU). Used under the mapper's lock."""

    def __init__(self, max_conversations: int = DEFAULT_MAX_CONVERSATIONS) -> None:
        self._started: OrderedDict[tuple[str | None, str], _Started] = OrderedDict()
        """By (routed project, session id): a UUID conversation id is the same session id in every project it
        is routed to, and each project's session is started (and extended) on its own."""
        self._max = max_conversations
        self.sessions_started = 0
        """Conversations whose session this process started (a session event made), for `/metrics`."""
        self.turns = 0
        """Traces mapped into a conversation's session (a retried hand-off counts again), for `/metrics`."""
        self._opened: list[tuple[tuple[str | None, str], int]] = []
        """Sessions started since `take_opened` (key, first trace): forgotten again when their hand-off fails."""

    def __len__(self) -> int:
        return len(self._started)

    def after_fork_in_child(self) -> None:
        """Counts start from zero in a forked child; the conversations its parent started stay started (the
        parent sent their session events; the child's turns extend them)."""
        self.sessions_started = self.turns = 0

    def __contains__(self, key: object) -> bool:
        """Whether this process started the session: a session id, or (project, session id) when routed."""
        return (key if isinstance(key, tuple) else (None, key)) in self._started

    def on_turn(self, trace_id: int, session_id: str, conversation_id: str, session: Event,
                turn_ids: Sequence[str], end_time: float, project: str | None = None) -> Event | Update:
        """A trace of the conversation was mapped. `session`: the session event it would start (named from its
        root, with the conversation's user and metadata); `turn_ids`: its events directly under the session;
        `project`: the project a routing table sent the trace to (None without routing), which the update names.

        The first trace seen of a conversation (and the same trace mapped again: a retried hand-off, a later
        part) gets the session event; any other an update of it: the end time and duration it extends to. The
        session's `children_ids` are the turns seen when it was sent (the tree is told by each turn's
        `parent_id`)."""
        key = (project, session_id)
        started = self._started.get(key)
        self.turns += 1
        if started is None:
            self.sessions_started += 1
            start, end = _time(session.get("start_time")), _time(session.get("end_time"))
            started = _Started(trace_id, end_time if start is None else start,
                               end_time if end is None else max(end_time, end))
            self._started[key] = started
            self._opened.append((key, trace_id))
            if len(self._started) > self._max:
                self._started.popitem(last=False)
        else:
            self._started.move_to_end(key)
            started.end_time = max(started.end_time, end_time)
        for turn in turn_ids:
            if turn not in started.turns and len(started.turns) < MAX_TURNS_REMEMBERED:
                started.turns.append(turn)
        if started.first_trace_id == trace_id:
            session["children_ids"] = list(started.turns)
            session["end_time"] = started.end_time
            session["duration"] = started.end_time - started.start_time
            metadata = session.get("metadata")
            if isinstance(metadata, dict):
                metadata[CONVERSATION_KEY] = conversation_id
            return session
        # No `children_ids`: an update replaces them, and another process's list would lose this one's turns.
        return Update(session_id, {"end_time": started.end_time, "duration": started.end_time - started.start_time},
                      project)


    def take_opened(self) -> list[tuple[tuple[str | None, str], int]]:
        """The sessions started since the last call (by the mappings of one hand-off)."""
        opened, self._opened = self._opened, []
        return opened

    def forget_opened(self, opened: Sequence[tuple[tuple[str | None, str], int]]) -> None:
        """The hand-off carrying these sessions' events failed: they were not started. The next turn mapped (or
        the same trace mapped again) starts the session again, rather than extending one nobody received."""
        for key, trace_id in opened:
            started = self._started.get(key)
            if started is not None and started.first_trace_id == trace_id:
                del self._started[key]
                self.sessions_started -= 1


def extended_session(session: Event, update: Update, events: Sequence[Event]) -> Event:
    """`session` with a later turn's `update` applied and that turn's roots (the events of `events` directly
    under it) added to its `children_ids`: the session as one process saw the whole conversation (files,
    `spans_to_events`), where the update alone leaves the list to each process's first turn."""
    extended = update.apply_to(session)
    turns = extended.get("children_ids")
    if isinstance(turns, list):
        added = [e["event_id"] for e in events
                 if e.get("parent_id") == update.event_id and e.get("event_id") not in turns]
        extended["children_ids"] = (turns + added)[:MAX_TURNS_REMEMBERED]
    return extended


def is_conversation_session(event: Event) -> bool:
    """Whether `event` is a session event the bridge started for a conversation (its metadata names it)."""
    metadata = event.get("metadata")
    return (event.get("event_type") == "session" and isinstance(event.get("event_id"), str)
            and isinstance(metadata, dict) and CONVERSATION_KEY in metadata)


def _time(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


__all__ = [
    "CONVERSATION_KEY",
    "CONVERSATION_KEYS",
    "DEFAULT_MAX_CONVERSATIONS",
    "DEFAULT_SESSIONS",
    "SESSIONS_MODES",
    "ConversationSessions",
    "check_sessions_mode",
    "conversation_of",
    "conversation_source",
    "extended_session",
    "is_conversation_session",
    "session_id_for_conversation",
]
