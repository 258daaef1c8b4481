"""The store's summary row per session, kept in the transaction of the write that touched the session.

Most writes bring whole new sessions (a trace, mapped): their rows are summed here from the events being written,
at no cost to the database. A session the store had already (a later turn, a part of a long trace, an event sent
again) is summed again from all its stored events, by `refresh_sql`, so a resent event is never counted twice.
Both give what `_REFRESH_SESSIONS` in store.py gives; the tests compare the two.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

# The event row's columns (store.py `_COLUMNS`), by position.
_EVENT_ID, _SESSION_ID, _TYPE, _NAME, _SOURCE, _START, _END, _DURATION, _ERROR, _TOKENS, _USER = (
    0, 1, 3, 4, 5, 6, 7, 8, 9, 11, 12)

INSERT_SESSIONS = """
INSERT INTO sessions (session_id, name, source, user_id, start_time, end_time, duration, events, errors, tokens,
                      has_session_event)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def summarise(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]], refresh_sql: str) -> None:
    """Bring the summary rows of the sessions `rows` (just upserted) belong to up to date."""
    touched = {row[_SESSION_ID] for row in rows if row[_SESSION_ID] is not None}
    if not touched:
        return
    ids = orjson.dumps(sorted(touched))
    known = {sid for (sid,) in conn.execute(
        "SELECT session_id FROM sessions WHERE session_id IN (SELECT value FROM json_each(?))", (ids,))}
    if known:
        conn.execute(refresh_sql, (orjson.dumps(sorted(known)),))
    if len(known) < len(touched):
        conn.executemany(INSERT_SESSIONS, new_summaries(r for r in rows if r[_SESSION_ID] not in known
                                                        and r[_SESSION_ID] is not None))


def new_summaries(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The summary of each session from its rows alone (the store has none of its events yet), as the refresh
    query computes it: the session event's own fields where there is one, else what the other events say."""
    latest = {row[_EVENT_ID]: row for row in rows}  # an event twice in one write is stored once, the last
    by_session: dict[str, list[tuple[Any, ...]]] = {}
    for row in latest.values():
        by_session.setdefault(row[_SESSION_ID], []).append(row)
    out = []
    for sid, group in by_session.items():
        session = next((r for r in group if r[_EVENT_ID] == sid and r[_TYPE] == "session"), None)
        starts = [r[_START] for r in group if r[_START] is not None]
        ends = [r[_END] for r in group if r[_END] is not None]
        sources = [r[_SOURCE] for r in group if r[_SOURCE] is not None]
        users = [r[_USER] for r in group if r[_USER] is not None]
        tokens = [r[_TOKENS] for r in group if r[_TOKENS] is not None]
        first, last = (min(starts) if starts else None), (max(ends) if ends else None)
        spread = last - first if first is not None and last is not None else None
        out.append((
            sid,
            session[_NAME] if session else None,
            _first(session[_SOURCE] if session else None, min(sources) if sources else None),
            _first(session[_USER] if session else None, min(users) if users else None),
            _first(session[_START] if session else None, first),
            _first(session[_END] if session else None, last),
            _first(session[_DURATION] if session else None, spread),
            sum(1 for r in group if not (r[_TYPE] == "session" and r[_EVENT_ID] == sid)),
            sum(r[_ERROR] for r in group),
            sum(tokens) if tokens else None,
            1 if session else 0,
        ))
    return out


def _first(*values: Any) -> Any:
    """SQL's COALESCE."""
    return next((v for v in values if v is not None), None)


__all__ = ["INSERT_SESSIONS", "new_summaries", "summarise"]
