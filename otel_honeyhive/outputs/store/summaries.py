"""The store's summary row per session, kept in the transaction of the write that touched the session.

Most writes bring whole new sessions (a trace, mapped): their rows are summed here from the events being written,
at no cost to the database. A session the store had already (a later turn, a part of a long trace, an event sent
again) is summed again from all its stored events, by `refresh_sql`, so a resent event is never counted twice.
Both give what `REFRESH_SESSIONS` in schema.py gives; the tests compare the two.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from otel_honeyhive.outputs.store.rows import (
    DURATION,
    END,
    EVENT_ID,
    EVENT_NAME,
    EVENT_TYPE,
    HAS_ERROR,
    SESSION_ID,
    SOURCE,
    START,
    TOKENS,
    USER_ID,
)

INSERT_SESSIONS = """
INSERT INTO sessions (session_id, name, source, user_id, start_time, end_time, duration, events, errors, tokens,
                      has_session_event)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def known_sessions(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> set[str]:
    """The sessions of `rows` the store already has (a summary row each): one query for the whole write. Only
    these can have a session event stored, so only their session events are ever read back before a write."""
    touched = {row[SESSION_ID] for row in rows if row[SESSION_ID] is not None}
    if not touched:
        return set()
    ids = orjson.dumps(sorted(touched))
    return {sid for (sid,) in conn.execute(
        "SELECT session_id FROM sessions WHERE session_id IN (SELECT value FROM json_each(?))", (ids,))}


def summarise(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]], refresh_sql: str,
              known: set[str] | None = None) -> None:
    """Bring the summary rows of the sessions `rows` (just upserted) belong to up to date. `known`: what
    `known_sessions` said of `rows` before they were written (asked here when not given)."""
    touched = {row[SESSION_ID] for row in rows if row[SESSION_ID] is not None}
    if not touched:
        return
    if known is None:
        known = known_sessions(conn, rows)
    if known:
        conn.execute(refresh_sql, (orjson.dumps(sorted(known)),))
    if len(known) < len(touched):
        conn.executemany(INSERT_SESSIONS, new_summaries(r for r in rows if r[SESSION_ID] not in known
                                                        and r[SESSION_ID] is not None))


def new_summaries(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The summary of each session from its rows alone (the store has none of its events yet), as the refresh
    query computes it: the session event's own fields where there is one, else what the other events say."""
    latest = {row[EVENT_ID]: row for row in rows}  # an event twice in one write is stored once, the last
    by_session: dict[str, list[tuple[Any, ...]]] = {}
    for row in latest.values():
        by_session.setdefault(row[SESSION_ID], []).append(row)
    out = []
    for sid, group in by_session.items():
        session = next((r for r in group if r[EVENT_ID] == sid and r[EVENT_TYPE] == "session"), None)
        starts = [r[START] for r in group if r[START] is not None]
        ends = [r[END] for r in group if r[END] is not None]
        sources = [r[SOURCE] for r in group if r[SOURCE] is not None]
        users = [r[USER_ID] for r in group if r[USER_ID] is not None]
        tokens = [r[TOKENS] for r in group if r[TOKENS] is not None]
        first, last = (min(starts) if starts else None), (max(ends) if ends else None)
        spread = last - first if first is not None and last is not None else None
        out.append((
            sid,
            session[EVENT_NAME] if session else None,
            _first(session[SOURCE] if session else None, min(sources) if sources else None),
            _first(session[USER_ID] if session else None, min(users) if users else None),
            _first(session[START] if session else None, first),
            _first(session[END] if session else None, last),
            _first(session[DURATION] if session else None, spread),
            sum(1 for r in group if not (r[EVENT_TYPE] == "session" and r[EVENT_ID] == sid)),
            sum(r[HAS_ERROR] for r in group),
            sum(tokens) if tokens else None,
            1 if session else 0,
        ))
    return out


def _first(*values: Any) -> Any:
    """SQL's COALESCE."""
    return next((v for v in values if v is not None), None)


__all__ = ["INSERT_SESSIONS", "known_sessions", "new_summaries", "summarise"]
