"""What the viewer reads from the local store, in SQL, on a read-only connection of its own.

Why its own connection: the server's `SQLiteStore` serialises everything behind one lock, and a page view must
never wait behind (or hold up) an ingestion transaction. In WAL mode readers and the writer do not block each
other, so each request opens `mode=ro`, reads, and closes (opening a SQLite file costs microseconds).

The list is the store's own `list_sessions` over its summary table (a row per session, schema 2; `serve` opens
the store, and so upgrades it, before the viewer reads it): filtered, ordered and paginated in SQL, on a
read-only `SQLiteStore` of the request's own. A session's events are read through the `events_by_session` index
(by the session id's key, schema 4), from their columns (the tree's model and tokens included, schema 3); a body
is read and decoded only for the event on screen.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from otel_honeyhive.core.events import Event
from otel_honeyhive.outputs.store import SessionSummary, SQLiteStore
from otel_honeyhive.outputs.store.rows import keyed
from otel_honeyhive.outputs.store.schema import BY_EVENT, BY_SESSION
from otel_honeyhive.outputs.store.sqlite import read_only_uri

PAGE_SIZE = 50
"""Sessions per page of the list."""

_OUTLINE = f"""
SELECT event_id, parent_id, event_type, event_name, start_time, end_time, duration, has_error, model, event_tokens
FROM events
WHERE {BY_SESSION}
ORDER BY start_time IS NULL, start_time, rowid
"""

_IN_SESSION = f"SELECT 1 FROM events WHERE {BY_EVENT} AND session_id = ? LIMIT 1"


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """What the list is narrowed to. Times are milliseconds since the epoch, as in the events."""

    query: str | None = None
    """A session id (or its start), part of a session name, or a user id exactly."""
    since: float | None = None
    until: float | None = None
    errors_only: bool = False


@dataclass(frozen=True, slots=True)
class SessionPage:
    rows: list[SessionSummary]
    page: int
    has_next: bool


@dataclass(frozen=True, slots=True)
class OutlineEvent:
    """An event as the session's tree and waterfall need it: the columns, not the body."""

    event_id: str
    parent_id: str | None
    event_type: str | None
    event_name: str | None
    start_time: float | None
    end_time: float | None
    duration: float | None
    has_error: bool
    model: str | None
    tokens: int | None


class StoreReader:
    """Read-only queries on the store at `path`. Each call opens its own connection, so it is thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self.path.is_file():
            raise FileNotFoundError(f"no event store at {self.path}")
        conn = sqlite3.connect(read_only_uri(self.path), uri=True, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            yield conn
        finally:
            conn.close()

    def sessions(self, where: SessionFilter, page: int = 1, page_size: int = PAGE_SIZE) -> SessionPage:
        """One page of sessions, newest first, from the store's summary table (`SQLiteStore.list_sessions`:
        filtered, ordered and paginated in SQL); one row more is read to know whether a next page exists."""
        page = max(1, page)
        query = where.query.strip() if where.query and where.query.strip() else None
        try:
            with SQLiteStore(self.path, readonly=True) as store:
                found = store.list_sessions(
                    page_size + 1, offset=(page - 1) * page_size, search=query, since=where.since,
                    until=where.until, errors_only=where.errors_only,
                )
        except FileNotFoundError:
            return SessionPage([], page, False)
        return SessionPage(found[:page_size], page, len(found) > page_size)

    def outline(self, session_id: str) -> list[OutlineEvent]:
        """Every event of the session, earliest first, without decoding a body."""
        try:
            with self._connect() as conn:
                rows = conn.execute(_OUTLINE, keyed(session_id)).fetchall()
        except FileNotFoundError:
            return []
        return [
            OutlineEvent(eid, parent, kind, name, start, end, duration, bool(error), model, tokens)
            for eid, parent, kind, name, start, end, duration, error, model, tokens in rows
        ]

    def has_event(self, session_id: str, event_id: str) -> bool:
        """Whether the session has this event stored: from the index, without reading its body."""
        try:
            with self._connect() as conn:
                return conn.execute(_IN_SESSION, (*keyed(event_id), session_id)).fetchone() is not None
        except FileNotFoundError:
            return False

    def event(self, event_id: str) -> Event | None:
        try:
            with SQLiteStore(self.path, readonly=True) as store:
                return store.get_event(event_id)
        except FileNotFoundError:
            return None

    def events(self, event_ids: Sequence[str]) -> dict[str, Event]:
        """The events of `event_ids` that are stored, by id, read on one connection (a page that shows many)."""
        try:
            with SQLiteStore(self.path, readonly=True) as store:
                found = ((event_id, store.get_event(event_id, children=False))
                         for event_id in dict.fromkeys(event_ids))
                return {event_id: event for event_id, event in found if event is not None}
        except FileNotFoundError:
            return {}


__all__ = ["PAGE_SIZE", "OutlineEvent", "SessionFilter", "SessionPage", "StoreReader"]
