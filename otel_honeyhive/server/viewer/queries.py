"""What the viewer reads from the local store, in SQL, on a read-only connection of its own.

Why its own connection: the server's `SQLiteStore` serialises everything behind one lock, and a page view must
never wait behind (or hold up) an ingestion transaction. In WAL mode readers and the writer do not block each
other, so each request opens `mode=ro`, reads, and closes (opening a SQLite file costs microseconds).

The list is the store's own `list_sessions` where the store keeps a summary row per session (schema 2: one small
indexed table, filtered, ordered and paginated in SQL); on an older store, the same summary grouped from the
events here, paginated likewise. A session's events are read through the `events_by_session` index, bodies
decoded only for the event on screen, and the few body fields the tree shows (tokens, model) read with
`json_extract`.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from otel_honeyhive.core.events import Event
from otel_honeyhive.outputs import store as event_store

PAGE_SIZE = 50
"""Sessions per page of the list."""

# A session's summary, as `SQLiteStore.list_sessions` makes it (the session event when there is one, otherwise
# what its other events say), filtered and paginated here. `?`-free: named parameters, so each filter is a
# condition that is true when its parameter is NULL.
_SESSIONS = """
WITH grouped AS (
    SELECT session_id,
           SUM(CASE WHEN event_type = 'session' AND event_id = session_id THEN 0 ELSE 1 END) AS events,
           SUM(has_error) AS errors,
           MIN(start_time) AS first_start,
           MAX(end_time) AS last_end,
           MIN(source) AS any_source
    FROM events
    WHERE session_id IS NOT NULL
    GROUP BY session_id
), summary AS (
    SELECT g.session_id AS session_id,
           s.event_name AS name,
           COALESCE(s.source, g.any_source) AS source,
           COALESCE(s.start_time, g.first_start) AS start,
           COALESCE(s.duration, g.last_end - g.first_start) AS duration,
           g.events AS events,
           COALESCE(g.errors, 0) AS errors
    FROM grouped AS g
    LEFT JOIN events AS s ON s.event_id = g.session_id AND s.event_type = 'session'
)
SELECT session_id, name, source, start, duration, events, errors
FROM summary
WHERE (:since IS NULL OR start >= :since)
  AND (:until IS NULL OR start < :until)
  AND (:errors = 0 OR errors > 0)
  AND (:query IS NULL
       OR session_id LIKE :prefix ESCAPE '\\'
       OR name LIKE :contains ESCAPE '\\'
       OR EXISTS (SELECT 1 FROM events AS u
                  WHERE u.session_id = summary.session_id
                    AND json_extract(CAST(u.body AS TEXT), '$.user_properties.user_id') = :query))
ORDER BY start IS NULL, start DESC, session_id
LIMIT :limit OFFSET :offset
"""
# The user-id test decodes bodies, so it comes last: SQLite stops at the first true OR operand, and only
# searches (never the plain listing) reach it.

_TOKENS = """
SELECT session_id,
       SUM(COALESCE(json_extract(CAST(body AS TEXT), '$.metadata.total_tokens'),
                    COALESCE(json_extract(CAST(body AS TEXT), '$.metadata.prompt_tokens'), 0)
                    + COALESCE(json_extract(CAST(body AS TEXT), '$.metadata.completion_tokens'), 0)))
FROM events
WHERE session_id IN ({marks}) AND event_type = 'model'
GROUP BY session_id
"""
# Model events only: a chain or the session may repeat its children's usage, which would count it twice.

_OUTLINE = """
SELECT event_id, parent_id, event_type, event_name, start_time, end_time, duration, has_error,
       json_extract(CAST(body AS TEXT), '$.config.model'),
       json_extract(CAST(body AS TEXT), '$.metadata.total_tokens'),
       json_extract(CAST(body AS TEXT), '$.metadata.prompt_tokens'),
       json_extract(CAST(body AS TEXT), '$.metadata.completion_tokens')
FROM events
WHERE session_id = ?
ORDER BY start_time IS NULL, start_time, rowid
"""


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """What the list is narrowed to. Times are milliseconds since the epoch, as in the events."""

    query: str | None = None
    """A session id (or its start), part of a session name, or a user id exactly."""
    since: float | None = None
    until: float | None = None
    errors_only: bool = False


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One row of the session list."""

    session_id: str
    name: str | None
    source: str | None
    start_time: float | None
    duration: float | None
    events: int
    errors: int
    tokens: int | None


@dataclass(frozen=True, slots=True)
class SessionPage:
    rows: list[SessionRow]
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


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _tokens(total: Any, prompt: Any, completion: Any) -> int | None:
    def number(value: Any) -> float | None:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    if number(total) is not None:
        return int(total)
    parts = [p for p in (number(prompt), number(completion)) if p is not None]
    return int(sum(parts)) if parts else None


class StoreReader:
    """Read-only queries on the store at `path`. Each call opens its own connection, so it is thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self.path.is_file():
            raise FileNotFoundError(f"no event store at {self.path}")
        uri = "file:" + urllib.parse.quote(str(self.path.resolve())) + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            yield conn
        finally:
            conn.close()

    def sessions(self, where: SessionFilter, page: int = 1, page_size: int = PAGE_SIZE) -> SessionPage:
        """One page of sessions, newest first (one row more is read to know whether a next page exists)."""
        page = max(1, page)
        query = where.query.strip() if where.query and where.query.strip() else None
        if event_store.SCHEMA_VERSION >= 2:
            try:
                return self._summaries(where, query, page, page_size)
            except FileNotFoundError:
                return SessionPage([], page, False)
            except RuntimeError:  # a store the server has not upgraded yet: grouped from its events below
                pass
        params = {
            "since": where.since,
            "until": where.until,
            "errors": 1 if where.errors_only else 0,
            "query": query,
            "prefix": _like_escaped(query.lower()) + "%" if query else None,
            "contains": "%" + _like_escaped(query) + "%" if query else None,
            "limit": page_size + 1,
            "offset": (page - 1) * page_size,
        }
        try:
            with self._connect() as conn:
                found = conn.execute(_SESSIONS, params).fetchall()[: page_size + 1]
                shown = found[:page_size]
                tokens = self._session_tokens(conn, [row[0] for row in shown])
        except FileNotFoundError:
            return SessionPage([], page, False)
        rows = [
            SessionRow(sid, name, source, start, duration, int(n), int(errors), tokens.get(sid))
            for sid, name, source, start, duration, n, errors in shown
        ]
        return SessionPage(rows, page, len(found) > page_size)

    def _summaries(self, where: SessionFilter, query: str | None, page: int, page_size: int) -> SessionPage:
        """The page from the store's summary table (`SQLiteStore.list_sessions`, schema 2)."""
        with event_store.SQLiteStore(self.path, readonly=True) as store:
            list_sessions: Any = store.list_sessions  # its filtering keywords come with schema 2
            found = list_sessions(page_size + 1, offset=(page - 1) * page_size, search=query, since=where.since,
                                  until=where.until, errors_only=where.errors_only)
        rows = [
            SessionRow(s.session_id, s.name, s.source, s.start_time, s.duration, s.events, s.errors,
                       getattr(s, "tokens", None))
            for s in found[:page_size]
        ]
        return SessionPage(rows, page, len(found) > page_size)

    @staticmethod
    def _session_tokens(conn: sqlite3.Connection, session_ids: Sequence[str]) -> dict[str, int]:
        if not session_ids:
            return {}
        sql = _TOKENS.format(marks=", ".join("?" for _ in session_ids))
        return {sid: int(total) for sid, total in conn.execute(sql, tuple(session_ids)) if total is not None}

    def outline(self, session_id: str) -> list[OutlineEvent]:
        """Every event of the session, earliest first, without decoding a body."""
        try:
            with self._connect() as conn:
                rows = conn.execute(_OUTLINE, (session_id,)).fetchall()
        except FileNotFoundError:
            return []
        return [
            OutlineEvent(
                eid, parent, kind, name, start, end, duration, bool(error),
                model if isinstance(model, str) and model else None, _tokens(total, prompt, completion),
            )
            for eid, parent, kind, name, start, end, duration, error, model, total, prompt, completion in rows
        ]

    def event(self, event_id: str) -> Event | None:
        try:
            with self._connect() as conn:
                row = conn.execute("SELECT body FROM events WHERE event_id = ?", (event_id,)).fetchone()
        except FileNotFoundError:
            return None
        if row is None:
            return None
        event: Event = orjson.loads(row[0])
        return event


__all__ = ["PAGE_SIZE", "OutlineEvent", "SessionFilter", "SessionPage", "SessionRow", "StoreReader"]
