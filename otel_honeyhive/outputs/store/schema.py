"""The store's schema: its tables, the steps from each older version, and the statements the store runs.

Version 1: one table keyed by `event_id`, the whole event as orjson bytes, and the columns copied out of it
(`rows.py`). Version 2: a summary row per session (`summaries.py`). Version 3: bodies move to segment files
(`bodies.py`; rows written before keep theirs in `body`), and the two columns the viewer's outline showed from
the body (model, tokens). Version 4: events are indexed by integer keys of their ids (`rows.key`) instead of the
ids' text, which takes rebuilding the table (SQLite cannot drop a primary key); the store keeps an event id
unique itself (`SQLiteStore._upsert`). Version 5: the time columns are milliseconds (`rows.in_ms`): a time sent in
seconds is kept as sent in the event, and its columns, and so the summaries, hold it in milliseconds, so that the
newest-first listing orders one unit.
"""

from __future__ import annotations

from otel_honeyhive.core.events import SECONDS_BELOW
from otel_honeyhive.outputs.store.rows import STORED_COLUMNS

SCHEMA_VERSION = 5

_SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS events (
    event_id   TEXT PRIMARY KEY,
    session_id TEXT,
    parent_id  TEXT,
    event_type TEXT,
    event_name TEXT,
    source     TEXT,
    start_time REAL,
    end_time   REAL,
    duration   REAL,
    has_error  INTEGER NOT NULL DEFAULT 0,
    body       BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_session ON events (session_id, start_time);
"""
# One secondary index only: every query goes by event id or by session, and each index is another B-tree
# insert per event on the receiver's hot path.

# Version 2: a summary row per session, refreshed in the same transaction as every write that touches the session
# (so listing and searching 100,000 sessions reads one small table instead of grouping every event), and the two
# event columns it sums and searches.
_SCHEMA_2 = """
ALTER TABLE events ADD COLUMN tokens INTEGER;
ALTER TABLE events ADD COLUMN user_id TEXT;
UPDATE events SET
    tokens = CASE WHEN event_type = 'model'
                  THEN CAST(json_extract(CAST(body AS TEXT), '$.metadata.total_tokens') AS INTEGER) END,
    user_id = json_extract(CAST(body AS TEXT), '$.user_properties.user_id');
CREATE TABLE IF NOT EXISTS sessions (
    session_id        TEXT PRIMARY KEY,
    name              TEXT,
    source            TEXT,
    user_id           TEXT,
    start_time        REAL,
    end_time          REAL,
    duration          REAL,
    events            INTEGER NOT NULL,
    errors            INTEGER NOT NULL,
    tokens            INTEGER,
    has_session_event INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_start ON sessions (start_time, session_id);
"""
_SCHEMA_3 = """
ALTER TABLE events ADD COLUMN model TEXT;
ALTER TABLE events ADD COLUMN event_tokens INTEGER;
ALTER TABLE events ADD COLUMN body_segment INTEGER;
ALTER TABLE events ADD COLUMN body_at INTEGER;
ALTER TABLE events ADD COLUMN body_len INTEGER;
UPDATE events SET
    model = CASE WHEN json_type(CAST(body AS TEXT), '$.config.model') = 'text'
                 THEN NULLIF(json_extract(CAST(body AS TEXT), '$.config.model'), '') END,
    event_tokens = CASE
        WHEN json_type(CAST(body AS TEXT), '$.metadata.total_tokens') IN ('integer', 'real')
            THEN CAST(json_extract(CAST(body AS TEXT), '$.metadata.total_tokens') AS INTEGER)
        WHEN json_type(CAST(body AS TEXT), '$.metadata.prompt_tokens') IN ('integer', 'real')
          OR json_type(CAST(body AS TEXT), '$.metadata.completion_tokens') IN ('integer', 'real')
            THEN CAST(
                (CASE WHEN json_type(CAST(body AS TEXT), '$.metadata.prompt_tokens') IN ('integer', 'real')
                      THEN json_extract(CAST(body AS TEXT), '$.metadata.prompt_tokens') ELSE 0 END)
              + (CASE WHEN json_type(CAST(body AS TEXT), '$.metadata.completion_tokens') IN ('integer', 'real')
                      THEN json_extract(CAST(body AS TEXT), '$.metadata.completion_tokens') ELSE 0 END)
                AS INTEGER)
        END
"""
_V3_COLUMNS = ("event_id, session_id, parent_id, event_type, event_name, source, start_time, end_time, duration, "
               "has_error, body, tokens, user_id, model, event_tokens, body_segment, body_at, body_len")
_SCHEMA_4 = f"""
CREATE TABLE events_v4 (
    event_id     TEXT NOT NULL,
    id_key       INTEGER NOT NULL,
    session_id   TEXT,
    session_key  INTEGER,
    parent_id    TEXT,
    event_type   TEXT,
    event_name   TEXT,
    source       TEXT,
    start_time   REAL,
    end_time     REAL,
    duration     REAL,
    has_error    INTEGER NOT NULL DEFAULT 0,
    tokens       INTEGER,
    user_id      TEXT,
    model        TEXT,
    event_tokens INTEGER,
    body         BLOB NOT NULL,
    body_segment INTEGER,
    body_at      INTEGER,
    body_len     INTEGER
);
INSERT INTO events_v4 (rowid, {_V3_COLUMNS}, id_key, session_key)
    SELECT rowid, {_V3_COLUMNS}, store_key(event_id), store_key(session_id) FROM events;
DROP TABLE events;
ALTER TABLE events_v4 RENAME TO events;
CREATE INDEX events_by_id ON events (id_key);
CREATE INDEX events_by_session ON events (session_key)
"""
# The rows keep their rowids, so events that start together keep their order. A session's events are few and
# are sorted when read, so the session index holds the key alone.
_IN_SECONDS = f"(abs(start_time) < {SECONDS_BELOW!r} OR abs(end_time) < {SECONDS_BELOW!r})"
_SCHEMA_5 = f"""
CREATE TEMP TABLE sessions_in_seconds AS SELECT DISTINCT session_id FROM events
    WHERE {_IN_SECONDS} AND session_id IS NOT NULL;
UPDATE events SET start_time = {{start}}, end_time = {{end}} WHERE {_IN_SECONDS};
{{refresh}};
DROP TABLE temp.sessions_in_seconds
"""
# Only the rows with a time in seconds are rewritten, and only their sessions summarised again (a mixed session's
# earliest start was its time in seconds). Filled in below, once `in_ms` and the refresh are defined.

PAGE_SIZE = 4096
"""Rows are small now that bodies live in segments: SQLite's default page, so that an index leaf changed by a
commit costs 4 KiB of log, not the 64 KiB that stores made before version 3 use. Applies to new stores only."""

WAL_BYTES = 64 << 20
"""What the write-ahead log may hold before a checkpoint copies its pages into the database (SQLite's default is
1,000 pages, 4 MiB here): a commit changes index pages all over the event-id index, and a checkpoint copies each
changed page once however many commits changed it, so fewer checkpoints copy far fewer pages (in paired runs the
receiver into the store went from 18.7–18.9k to 21.4–22.3k spans/s). The log is cut back to this size after each
checkpoint (`journal_size_limit`)."""

INSERT = (f"INSERT INTO events (body, {', '.join(STORED_COLUMNS)}) "
          f"VALUES (x'', {', '.join('?' for _ in STORED_COLUMNS)})")
REPLACE = f"UPDATE events SET body = x'', {', '.join(f'{c} = ?' for c in STORED_COLUMNS)} WHERE rowid = ?"
"""An event stored again: its row keeps its place (rowid)."""
STORED_BY_KEYS = "SELECT rowid, event_id FROM events WHERE id_key IN (SELECT value FROM json_each(?))"
"""The rows whose event ids have these keys (the events among them are told apart by their ids)."""
BODY = "SELECT body, body_segment, body_at, body_len FROM events"
"""Where a body is (`SQLiteStore._body`); a WHERE clause follows."""
BY_EVENT = "id_key = ? AND event_id = ?"
BY_SESSION = "session_key = ? AND session_id = ?"
"""An event, a session's events: the key then the id (`rows.key`)."""
_IN_SESSIONS = "session_key IN (SELECT store_key(value) FROM json_each(?1)) AND session_id IN (SELECT value FROM " \
               "json_each(?1))"
"""The events of the sessions given as a JSON array; `store_key` is `rows.key`, registered on the connection."""

# A session's summary: its session event when one exists (event_type 'session' whose id is the session id),
# otherwise what its other events say. "events" counts the events in the session besides the session event.
# Version 2 keeps it in `sessions`, refreshed for the sessions a write touched (given as a JSON array).
_REFRESH = """
INSERT INTO sessions (session_id, name, source, user_id, start_time, end_time, duration, events, errors, tokens,
                      has_session_event)
SELECT g.session_id,
       s.event_name,
       COALESCE(s.source, g.any_source),
       COALESCE(s.user_id, g.any_user),
       COALESCE(s.start_time, g.first_start),
       COALESCE(s.end_time, g.last_end),
       COALESCE(s.duration, g.last_end - g.first_start),
       g.events,
       g.errors,
       g.tokens,
       s.event_id IS NOT NULL
FROM (
    SELECT session_id,
           SUM(CASE WHEN event_type = 'session' AND event_id = session_id THEN 0 ELSE 1 END) AS events,
           SUM(has_error) AS errors,
           MIN(start_time) AS first_start,
           MAX(end_time) AS last_end,
           MIN(source) AS any_source,
           MIN(user_id) AS any_user,
           SUM(tokens) AS tokens
    FROM events
    WHERE {which}
    GROUP BY session_id
) AS g
LEFT JOIN events AS s ON s.id_key = store_key(g.session_id) AND s.event_id = g.session_id AND s.event_type = 'session'
WHERE true
ON CONFLICT(session_id) DO UPDATE SET
    name = excluded.name, source = excluded.source, user_id = excluded.user_id,
    start_time = excluded.start_time, end_time = excluded.end_time, duration = excluded.duration,
    events = excluded.events, errors = excluded.errors, tokens = excluded.tokens,
    has_session_event = excluded.has_session_event
"""
REFRESH_SESSIONS = _REFRESH.replace("{which}", _IN_SESSIONS)
_REFRESH_IN_SECONDS = _REFRESH.replace(
    "{which}", "session_key IN (SELECT store_key(session_id) FROM temp.sessions_in_seconds) "
               "AND session_id IN (SELECT session_id FROM temp.sessions_in_seconds)")
REFRESH_ALL_SESSIONS = _REFRESH.replace("{which}", "session_id IS NOT NULL")
"""Every session, from its events (a store upgraded from version 1)."""


def in_ms(time: str) -> str:
    """The SQL expression `time` as milliseconds, read as the pages read it (`SECONDS_BELOW`); NULL stays NULL."""
    return f"(CASE WHEN abs({time}) < {SECONDS_BELOW!r} THEN ({time}) * 1000 ELSE ({time}) END)"


MIGRATIONS = ((1, _SCHEMA_1), (2, _SCHEMA_2), (3, _SCHEMA_3), (4, _SCHEMA_4),
              (5, _SCHEMA_5.format(start=in_ms("start_time"), end=in_ms("end_time"), refresh=_REFRESH_IN_SECONDS)))
"""(version, statements): a store at version v runs every step above v, in one transaction."""


def _started_before(cutoff: str) -> str:
    """`start_time` before `cutoff` (milliseconds), read as `in_ms` reads it, as two ranges of the start index."""
    return (f"((start_time >= {SECONDS_BELOW!r} AND start_time < {cutoff}) "
            f"OR start_time < min({cutoff} / 1000.0, {SECONDS_BELOW!r}))")


# Retention (`SQLiteStore.prune`): whole sessions whose last activity is before a time go, with their events.
# Last activity is the latest end of any of its events, the session event's included (whose own end may be
# older: a session event sent once, children added later). A session that ended before the cutoff started before
# it, so the start index narrows the search; sessions with no time at all are never taken for old. Times are
# judged as the pages show them: a start of today sent in seconds is not one of 1970.
EXPIRED = f"""
SELECT session_id FROM sessions
WHERE {_started_before("?1")} AND {in_ms("COALESCE(end_time, start_time)")} < ?1
  AND NOT EXISTS (SELECT 1 FROM events AS e
                  WHERE e.session_key = store_key(sessions.session_id) AND e.session_id = sessions.session_id
                    AND {in_ms("COALESCE(e.end_time, e.start_time, ?1)")} >= ?1)
"""
EXPIRED_SESSIONS = EXPIRED + "LIMIT ?2"
EXPIRED_EVENTS = f"""
SELECT COUNT(*) FROM events
WHERE session_key IN (SELECT store_key(session_id) FROM ({EXPIRED})) AND session_id IN ({EXPIRED})
"""
DELETE_SESSIONS_EVENTS = f"DELETE FROM events WHERE {_IN_SESSIONS}"
DELETE_SESSIONS = "DELETE FROM sessions WHERE session_id IN (SELECT value FROM json_each(?))"
LOOSE_EXPIRED = (f"session_key IS NULL AND session_id IS NULL AND {_started_before('?1')} "
                 f"AND {in_ms('COALESCE(end_time, start_time)')} < ?1")
"""Events without a session, by their own times (through the session index: a NULL session has a NULL key)."""
DELETE_LOOSE_EVENTS = f"DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE {LOOSE_EXPIRED} LIMIT ?2)"
SEGMENTS_IN_USE = "SELECT DISTINCT body_segment FROM events WHERE body_segment IS NOT NULL"

SESSION_COLUMNS = ("session_id, name, source, start_time, duration, events, errors, has_session_event, end_time, "
                    "tokens, user_id")

# Version 1 stores opened read-only (an older server still owns them) are listed the old way (times as sent, so
# ordered as the pages read them: `in_ms`).
LIST_SESSIONS_V1 = f"""
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
)
SELECT g.session_id,
       s.event_name,
       COALESCE(s.source, g.any_source),
       COALESCE(s.start_time, g.first_start) AS start,
       COALESCE(s.duration, g.last_end - g.first_start),
       g.events,
       g.errors,
       s.event_id IS NOT NULL
FROM grouped AS g
LEFT JOIN events AS s ON s.event_id = g.session_id AND s.event_type = 'session'
ORDER BY start IS NULL, {in_ms("start")} DESC, g.session_id
LIMIT ?
"""



__all__ = ["BODY", "BY_EVENT", "BY_SESSION", "DELETE_LOOSE_EVENTS", "DELETE_SESSIONS", "DELETE_SESSIONS_EVENTS",
           "EXPIRED", "EXPIRED_EVENTS", "EXPIRED_SESSIONS", "INSERT", "LIST_SESSIONS_V1", "LOOSE_EXPIRED",
           "MIGRATIONS", "PAGE_SIZE", "REFRESH_ALL_SESSIONS", "REFRESH_SESSIONS", "REPLACE", "SCHEMA_VERSION",
           "SECONDS_BELOW", "SEGMENTS_IN_USE", "SESSION_COLUMNS", "STORED_BY_KEYS", "WAL_BYTES", "in_ms"]
