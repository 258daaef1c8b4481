"""The local event store: SQLite behind the `Output` protocol, so the bridge works with no HoneyHive account.

Design choices, and why:

- One table keyed by `event_id`, the whole event kept as orjson bytes, plus a few columns copied out of it
  (session, parent, type, name, source, times, an error flag) so the CLI's listings are plain SQL and never
  decode every event. Those columns are always re-derived from the event on write, so they cannot drift.
- Writes are upserts (`INSERT … ON CONFLICT(event_id) DO UPDATE`): event ids are deterministic, so a resent
  event replaces its earlier copy instead of duplicating it, and at-least-once delivery stays harmless.
- A `send` is one transaction committed before it returns DELIVERED, in WAL mode with `synchronous=FULL`:
  an acknowledged event survives a crash and a power loss, and readers (the CLI) never block the writer.
- One connection guarded by a lock: the server calls in from worker threads and SQLite serialises writers
  anyway; `BEGIN IMMEDIATE` also keeps a second process on the same file from interleaving an update.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult, Update
from otel_honeyhive.outputs.session_summaries import summarise

logger = logging.getLogger("otel_honeyhive.store")

SCHEMA_VERSION = 2

"""`PUT /events` merges these buckets into the stored ones (shallow); any other field it carries replaces."""

_SCHEMA = """
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
_MIGRATIONS = ((1, _SCHEMA), (2, _SCHEMA_2))
"""(version, statements): a store at version v runs every step above v, in one transaction."""

PAGE_SIZE = 65536
"""Event bodies are 1–30 KB (prompts): 64 KiB pages hold most of them whole, where the 4 KiB default would
spread each over a chain of overflow pages. Applies to new stores only."""

_COLUMNS = (
    "event_id", "session_id", "parent_id", "event_type", "event_name", "source",
    "start_time", "end_time", "duration", "has_error", "body", "tokens", "user_id",
)
_UPSERT = (
    f"INSERT INTO events ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)}) "
    "ON CONFLICT(event_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:])
)

# A session's summary: its session event when one exists (event_type 'session' whose id is the session id),
# otherwise what its other events say. "events" counts the events in the session besides the session event.
# Version 2 keeps it in `sessions`, refreshed for the sessions a write touched (given as a JSON array).
_REFRESH_SESSIONS = """
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
    WHERE session_id IN (SELECT value FROM json_each(?))
    GROUP BY session_id
) AS g
LEFT JOIN events AS s ON s.event_id = g.session_id AND s.event_type = 'session'
WHERE true
ON CONFLICT(session_id) DO UPDATE SET
    name = excluded.name, source = excluded.source, user_id = excluded.user_id,
    start_time = excluded.start_time, end_time = excluded.end_time, duration = excluded.duration,
    events = excluded.events, errors = excluded.errors, tokens = excluded.tokens,
    has_session_event = excluded.has_session_event
"""
_SESSION_COLUMNS = ("session_id, name, source, start_time, duration, events, errors, has_session_event, end_time, "
                    "tokens, user_id")

# Version 1 stores opened read-only (an older server still owns them) are listed the old way.
_LIST_SESSIONS_V1 = """
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
ORDER BY start IS NULL, start DESC, g.session_id
LIMIT ?
"""


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """One row of `otel-honeyhive sessions`. Times are milliseconds, as in the events."""

    session_id: str
    name: str | None
    source: str | None
    start_time: float | None
    duration: float | None
    events: int
    """Events in the session besides the session event itself."""
    errors: int
    """Events (the session event included) whose `error` is set."""
    has_session_event: bool
    end_time: float | None = None
    tokens: int | None = None
    """Total tokens of the session's model events (those that report them)."""
    user_id: str | None = None
    """The session's `user_properties.user_id` (else one of its events')."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _row(event: Event) -> tuple[Any, ...]:
    """The row for an event; raises TypeError when the event cannot be stored (no string id, not JSON)."""
    event_id = event.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        raise TypeError(f"event has no event_id (got {event_id!r})")
    error = event.get("error")
    return (
        event_id,
        _text(event.get("session_id")),
        _text(event.get("parent_id")),
        _text(event.get("event_type")),
        _text(event.get("event_name")),
        _text(event.get("source")),
        _number(event.get("start_time")),
        _number(event.get("end_time")),
        _number(event.get("duration")),
        0 if error is None or error == "" else 1,
        orjson.dumps(event),
        _tokens(event),
        _user_id(event),
    )


def _starts_conversation(event: Event) -> bool:
    """A conversation's session event, as the bridge starts it (mapper/conversations.py)."""
    metadata = event.get("metadata")
    return (event.get("event_type") == "session" and isinstance(metadata, dict)
            and "conversation_id" in metadata)


def _extended(conn: sqlite3.Connection, event: Event, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A conversation's session event sent again by another process (or after a restart), which saw later turns:
    the stored one keeps its start and turns, and ends at the later of the two ends (docs/identity-and-assembly.md
    #conversations)."""
    stored = conn.execute("SELECT body FROM events WHERE event_id = ?", (row[0],)).fetchone()
    if stored is None:
        return row
    old = orjson.loads(stored[0])
    start_old, start_new = _number(old.get("start_time")), _number(event.get("start_time"))
    end_old, end_new = _number(old.get("end_time")), _number(event.get("end_time"))
    merged = dict(event)
    if start_old is not None and (start_new is None or start_old < start_new):
        merged["start_time"] = old["start_time"]
        merged["event_name"] = old.get("event_name", merged.get("event_name"))
    if end_old is not None and (end_new is None or end_old > end_new):
        merged["end_time"] = old["end_time"]
    start, end = _number(merged.get("start_time")), _number(merged.get("end_time"))
    if start is not None and end is not None:
        merged["duration"] = end - start
    turns = [*(old.get("children_ids") or []), *(event.get("children_ids") or [])]
    merged["children_ids"] = list(dict.fromkeys(t for t in turns if isinstance(t, str)))
    return _row(merged)


def _tokens(event: Event) -> int | None:
    if event.get("event_type") != "model":
        return None
    metadata = event.get("metadata")
    total = metadata.get("total_tokens") if isinstance(metadata, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def _user_id(event: Event) -> str | None:
    properties = event.get("user_properties")
    return _text(properties.get("user_id")) if isinstance(properties, dict) else None


def _create_private(path: Path) -> None:
    """Create the database file owner-only (0600) before SQLite opens it: the store holds every prompt and
    completion, and SQLite gives its `-wal` and `-shm` files the database file's permissions, whatever the umask.
    An existing store is left as it is (someone may share it on purpose), with a warning when others can read
    it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    except OSError:
        return  # SQLite's own open says why, in the words `_create` turns it into
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & 0o066:
        logger.warning("otel-honeyhive: the event store %s is open to other users (mode %o); it holds "
                       "prompts: `chmod 600 %s %s-wal %s-shm` makes it private", path, mode & 0o777, path, path,
                       path)


def _session_filter(
    search: str | None, since: float | None, until: float | None, errors_only: bool,
) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause (and its parameters) of a sessions query."""
    conditions: list[str] = []
    params: list[Any] = []
    text = (search or "").strip()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append("(session_id GLOB ? OR user_id = ? OR name LIKE ? ESCAPE '\\')")
        params += [_glob_literal(text.lower()) + "*", text, pattern]
    if since is not None:
        conditions.append("start_time >= ?")
        params.append(since)
    if until is not None:
        conditions.append("start_time < ?")
        params.append(until)
    if errors_only:
        conditions.append("errors > 0")
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), tuple(params)


def _glob_literal(text: str) -> str:
    """`text` matched literally by GLOB (its wildcards bracketed)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


@dataclass(slots=True)
class _Write:
    """A write waiting in a group commit, and its result once the group's transaction is over."""

    work: Callable[[sqlite3.Connection], SendResult]
    result: SendResult | None = None


class SQLiteStore:
    """The embedded default output, and the read side the CLI uses. Thread-safe."""

    name = "sqlite"

    def __init__(
        self, path: str | os.PathLike[str], *, readonly: bool = False, busy_timeout: float = 5.0
    ) -> None:
        """Open (creating when needed) the store at `path`. `readonly=True` opens an existing store for
        reading only: FileNotFoundError when there is none, and nothing is ever created or migrated.
        `busy_timeout`: seconds to wait for another process's lock before answering RETRY_LATER."""
        self.path = Path(path)
        self.readonly = readonly
        self._busy_timeout_ms = max(0, round(busy_timeout * 1000))
        self._lock = threading.Lock()
        """Held by the one thread using the connection (committing a group of writes, or querying)."""
        self._pending_lock = threading.Lock()
        self._pending: list[_Write] = []
        """Writes waiting to be committed by whichever writer gets `_lock` next."""
        self.transactions = 0
        """Write transactions committed (each one fsync): fewer than writes when writes were grouped."""
        self._closed = False
        if readonly:
            if not self.path.is_file():
                raise FileNotFoundError(f"no event store at {self.path}")
            uri = "file:" + urllib.parse.quote(str(self.path.resolve())) + "?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            self._conn = self._create()
        try:
            self._prepare()
        except BaseException:
            self._conn.close()
            raise

    def _create(self) -> sqlite3.Connection:
        """The connection to a store that may be created; OSError saying, in words, why it cannot be (a file where
        a directory should be, a directory this user cannot write), instead of SQLite's "unable to open"."""
        for ancestor in (self.path.parent, *self.path.parent.parents):
            if ancestor.exists():
                if not ancestor.is_dir():
                    raise NotADirectoryError(f"{ancestor} is a file, not a directory, so {self.path} cannot be made")
                break
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(f"cannot create the directory {self.path.parent}: {exc.strerror or exc}") from None
        try:
            _create_private(self.path)
            return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.OperationalError as exc:
            writable = os.access(self.path.parent, os.W_OK | os.X_OK)
            why = "it is not writable by this user" if not writable else "it does not take new files"
            raise OSError(f"cannot create or open {self.path}: {exc} ({self.path.parent}: {why})") from None

    def _prepare(self) -> None:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path}: store schema version {version} is newer than this otel-honeyhive "
                f"understands ({SCHEMA_VERSION}); upgrade otel-honeyhive"
            )
        self._version = version
        if self.readonly:
            if version == 0:
                raise RuntimeError(f"{self.path} is not an otel-honeyhive event store")
            return
        if version == 0:
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # before the first table, or it is ignored
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        if version < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for step, statements in _MIGRATIONS:
                    if version < step:
                        for statement in filter(str.strip, statements.split(";")):
                            conn.execute(statement)
                if version >= 1:  # events stored before the sessions table: summarise them all, once
                    conn.execute(_REFRESH_SESSIONS.replace(
                        "session_id IN (SELECT value FROM json_each(?))", "session_id IS NOT NULL"))
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self._version = SCHEMA_VERSION

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}{', readonly=True' if self.readonly else ''})"

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the Output protocol ------------------------------------------------------------------------------

    def send(self, events: Sequence[Event], *, stop: threading.Event | None = None) -> SendResult:
        """Store every event in one transaction, or none of them."""
        try:
            rows = [_row(event) for event in events]
        except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
            return SendResult(Outcome.REJECTED, f"event cannot be stored: {exc}")

        started = [i for i, event in enumerate(events) if _starts_conversation(event)]

        def store_all(conn: sqlite3.Connection) -> SendResult:
            for i in started:  # a conversation's session started again (a restart): extended, not replaced
                rows[i] = _extended(conn, events[i], rows[i])
            conn.executemany(_UPSERT, rows)
            summarise(conn, rows, _REFRESH_SESSIONS)
            return DELIVERED

        return self._write(store_all)

    def update(self, update: Update, *, stop: threading.Event | None = None) -> SendResult:
        def merge(conn: sqlite3.Connection) -> SendResult:
            row = conn.execute("SELECT body FROM events WHERE event_id = ?", (update.event_id,)).fetchone()
            if row is None:
                return SendResult(Outcome.REJECTED, f"unknown event_id {update.event_id}")
            updated = _row(update.apply_to(orjson.loads(row[0])))
            conn.execute(_UPSERT, updated)
            if updated[1] is not None:
                conn.execute(_REFRESH_SESSIONS, (orjson.dumps([updated[1]]),))
            return DELIVERED

        return self._write(merge)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def _write(self, work: Callable[[sqlite3.Connection], SendResult]) -> SendResult:
        """Run `work` in a `BEGIN IMMEDIATE` transaction, committed before this returns; SQLite errors become
        results (an output never raises).

        Group commit: writes that arrive while another is committing wait for the lock, and the first of them to
        get it commits all that are waiting in one transaction (one fsync), each in a savepoint of its own so
        that one refused write does not undo the others. Every caller still returns only once its own rows are
        durably committed (docs/delivery.md#the-local-store)."""
        mine = _Write(work)
        with self._pending_lock:
            self._pending.append(mine)
        with self._lock:
            if mine.result is None:
                with self._pending_lock:
                    group, self._pending = self._pending, []
                self._commit(group)
        assert mine.result is not None
        return mine.result

    def _commit(self, group: list[_Write]) -> None:
        """One transaction for the whole group (called with the lock held)."""
        if self._closed or self.readonly:
            refusal = (SendResult(Outcome.RETRY_LATER, f"event store {self.path} is closed") if self._closed
                       else SendResult(Outcome.REJECTED, f"event store {self.path} is open read-only"))
            for item in group:
                item.result = refusal
            return
        conn = self._conn
        results: list[SendResult] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for item in group:
                    results.append(self._one(conn, item, alone=len(group) == 1))
                conn.execute("COMMIT")
                self.transactions += 1
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except (TypeError, sqlite3.Error) as exc:
            # Locked by another process, disk full, I/O error: nothing was written; worth another try.
            failed = (SendResult(Outcome.RETRY_LATER, f"event store {self.path}: {exc}", 1.0)
                      if isinstance(exc, sqlite3.OperationalError) else self._refusal(exc))
            results = [failed] * len(group)
        for item, result in zip(group, results, strict=True):
            item.result = result

    def _one(self, conn: sqlite3.Connection, item: _Write, *, alone: bool) -> SendResult:
        """One write of a group, in a savepoint: a write its data makes fail is rolled back alone; an
        operational error (locked, full, I/O) fails the whole transaction."""
        if alone:
            return item.work(conn)
        conn.execute("SAVEPOINT one_write")
        try:
            result = item.work(conn)
        except sqlite3.OperationalError:
            raise
        except (TypeError, sqlite3.Error) as exc:
            conn.execute("ROLLBACK TO one_write")
            conn.execute("RELEASE one_write")
            return self._refusal(exc)
        conn.execute("RELEASE one_write")
        return result

    def _refusal(self, exc: BaseException) -> SendResult:
        if isinstance(exc, TypeError):
            return SendResult(Outcome.REJECTED, f"event cannot be stored: {exc}")
        return SendResult(Outcome.REJECTED, f"event store {self.path}: {exc}")

    # -- queries (the CLI and the tests) --------------------------------------------------------------------

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"event store {self.path} is closed")
            return self._conn.execute(sql, tuple(params)).fetchall()

    def get_event(self, event_id: str) -> Event | None:
        rows = self._query("SELECT body FROM events WHERE event_id = ?", (event_id,))
        return orjson.loads(rows[0][0]) if rows else None

    def session_events(self, session_id: str) -> list[Event]:
        """Every event of the session (its session event included), earliest first; no start time last."""
        rows = self._query(
            "SELECT body FROM events WHERE session_id = ? "
            "ORDER BY start_time IS NULL, start_time, rowid",
            (session_id,),
        )
        return [orjson.loads(body) for (body,) in rows]

    def list_sessions(
        self, limit: int = 20, *, offset: int = 0, search: str | None = None, since: float | None = None,
        until: float | None = None, errors_only: bool = False,
    ) -> list[SessionSummary]:
        """The most recent sessions first, including sessions known only from their child events. `search`
        matches a session id prefix, a user id, or a part of the name (case-insensitive); `since` / `until`
        bound the start (milliseconds, [since, until)); `errors_only` keeps sessions with an error."""
        if self._version < 2:
            if search or since is not None or until is not None or errors_only or offset:
                raise RuntimeError(f"{self.path}: searching needs a store written by this version; open it with "
                                   "a running `otel-honeyhive serve` (which upgrades it) first")
            return [
                SessionSummary(sid, name, source, start, duration, int(n), int(errors or 0), bool(has_session))
                for sid, name, source, start, duration, n, errors, has_session in self._query(
                    _LIST_SESSIONS_V1, (max(0, limit),)
                )
            ]
        where, params = _session_filter(search, since, until, errors_only)
        rows = self._query(
            f"SELECT {_SESSION_COLUMNS} FROM sessions{where} "
            # Newest first, sessions without a start last (SQLite sorts NULL lowest): the index, read backwards.
            "ORDER BY start_time DESC, session_id DESC LIMIT ? OFFSET ?",
            (*params, max(0, limit), max(0, offset)),
        )
        return [
            SessionSummary(sid, name, source, start, duration, int(n), int(errors or 0), bool(has_session), end,
                           None if tokens is None else int(tokens), user)
            for sid, name, source, start, duration, n, errors, has_session, end, tokens, user in rows
        ]

    def count_sessions(
        self, *, search: str | None = None, since: float | None = None, until: float | None = None,
        errors_only: bool = False,
    ) -> int:
        """How many sessions `list_sessions` would page through with the same filters."""
        if self._version < 2:
            return int(self._query(
                "SELECT COUNT(DISTINCT session_id) FROM events WHERE session_id IS NOT NULL")[0][0])
        where, params = _session_filter(search, since, until, errors_only)
        return int(self._query(f"SELECT COUNT(*) FROM sessions{where}", params)[0][0])

    def match_sessions(self, prefix: str, limit: int = 10) -> list[str]:
        """Session ids starting with `prefix` (case-insensitive), like a git commit prefix."""
        prefix = prefix.strip().lower()
        if not prefix or any(c not in "0123456789abcdef-" for c in prefix):
            return []
        rows = self._query(
            "SELECT DISTINCT session_id FROM events WHERE session_id GLOB ? ORDER BY session_id LIMIT ?",
            (prefix + "*", limit),
        )
        return [sid for (sid,) in rows]

    def match_events(self, prefix: str, limit: int = 10) -> list[str]:
        """Event ids starting with `prefix` (case-insensitive)."""
        prefix = prefix.strip().lower()
        if not prefix or any(c not in "0123456789abcdef-" for c in prefix):
            return []
        rows = self._query("SELECT event_id FROM events WHERE event_id GLOB ? ORDER BY event_id LIMIT ?",
                           (prefix + "*", limit))
        return [eid for (eid,) in rows]

    def sessions_started(self, since: float | None = None, until: float | None = None) -> list[str]:
        """Every session whose first event started in [`since`, `until`) (milliseconds; None: unbounded),
        oldest first; sessions without any start time only when neither bound is given."""
        rows = self._query(
            "SELECT session_id FROM events WHERE session_id IS NOT NULL GROUP BY session_id "
            "HAVING (?1 IS NULL OR MIN(start_time) >= ?1) AND (?2 IS NULL OR MIN(start_time) < ?2) "
            "ORDER BY MIN(start_time) IS NULL, MIN(start_time), session_id",
            (since, until),
        )
        return [sid for (sid,) in rows]

    def count_events(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM events")[0][0])


__all__ = ["SCHEMA_VERSION", "SQLiteStore", "SessionSummary"]
