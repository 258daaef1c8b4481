"""The local event store: SQLite behind the `Output` protocol, so the bridge works with no HoneyHive account.

Design choices, and why:

- One table keyed by `event_id`, with a few columns copied out of each event (`rows.py`: session, parent,
  type, name, source, times, an error flag, tokens, model) so listings are plain SQL and never decode a body.
  Those columns are always re-derived from the event on write, so they cannot drift. The event itself, as
  orjson bytes, is appended to a segment file beside the database (`bodies.py`), written once.
- Writes are upserts (`INSERT … ON CONFLICT(event_id) DO UPDATE`): event ids are deterministic, so a resent
  event replaces its earlier copy instead of duplicating it, and at-least-once delivery stays harmless.
- A `send` is one transaction committed before it returns DELIVERED, in WAL mode with `synchronous=FULL`, its
  bodies `fdatasync`ed before the commit: an acknowledged event survives a crash and a power loss, and readers
  (the CLI, the viewer) never block the writer.
- One connection guarded by a lock: the server calls in from worker threads and SQLite serialises writers
  anyway; `BEGIN IMMEDIATE` also keeps a second process on the same file from interleaving an update.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from otel_honeyhive.core.encoded import EventShape
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult, Update
from otel_honeyhive.core.secrets import open_to_others
from otel_honeyhive.outputs.store.bodies import BodySegments
from otel_honeyhive.outputs.store.merging import merged_session
from otel_honeyhive.outputs.store.rows import (
    EVENT_ID,
    ID_KEY,
    IS_SESSION_EVENT,
    SESSION_ID,
    Rows,
    describe,
    key,
    key_range,
    keyed,
    rows_of,
)
from otel_honeyhive.outputs.store.schema import (
    BODY,
    BY_EVENT,
    BY_SESSION,
    DELETE_LOOSE_EVENTS,
    DELETE_SESSIONS,
    DELETE_SESSIONS_EVENTS,
    EXPIRED,
    EXPIRED_EVENTS,
    EXPIRED_SESSIONS,
    INSERT,
    LIST_SESSIONS_V1,
    LOOSE_EXPIRED,
    MIGRATIONS,
    PAGE_SIZE,
    REFRESH_ALL_SESSIONS,
    REFRESH_SESSIONS,
    REPLACE,
    SCHEMA_VERSION,
    SECONDS_BELOW,
    SEGMENTS_IN_USE,
    SESSION_COLUMNS,
    STORED_BY_KEYS,
    WAL_BYTES,
    in_ms,
)
from otel_honeyhive.outputs.store.summaries import known_sessions, summarise

logger = logging.getLogger("otel_honeyhive.store")

PRUNE_BATCH = 200
"""Sessions deleted per transaction by `prune`: ingestion waits for one batch at most, never for a whole prune."""


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


@dataclass(frozen=True, slots=True)
class Pruned:
    """What `SQLiteStore.prune` removed (or, for a dry run, would remove; segments and bytes are then 0)."""

    sessions: int
    events: int
    """Every event of those sessions (their session events included), and events without a session."""
    segments: int = 0
    bytes_freed: int = 0


def _with_children(event: Event, children: list[str]) -> Event:
    """`event` with `children` (the ids of the events stored under it, by their `parent_id`, earliest first)
    added to its `children_ids` after those its sender listed: a child posted after its parent (`POST /events`, a
    later turn) is listed too, as HoneyHive's GET of a session lists its children. Worked out when read, so a
    write never rewrites the parent (docs/delivery.md#children-stored-later). An event with no child left to add is
    given back as stored."""
    if not children:
        return event
    listed = event.get("children_ids")
    listed = listed if isinstance(listed, list) else []
    known = set(listed)
    added = [child for child in children if child not in known]
    return {**event, "children_ids": [*listed, *added]} if added else event


def read_only_uri(path: Path) -> str:
    """The SQLite URI opening the store at `path` for reading only (never creating or changing it)."""
    return "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"


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
    mode = open_to_others(path, 0o066)
    if mode is not None:
        logger.warning("otel-honeyhive: the event store %s is open to other users (mode %o); it holds "
                       "prompts: `chmod 600 %s %s-wal %s-shm` makes it private", path, mode, path, path, path)


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
    if since is not None or until is not None:
        condition, bounds = _started_between(since, until)
        conditions.append(condition)
        params += bounds
    if errors_only:
        conditions.append("errors > 0")
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), tuple(params)


def _started_between(since: float | None, until: float | None) -> tuple[str, list[float]]:
    """A condition on `start_time` that holds when the start, read as the pages read it (`SECONDS_BELOW`), is in
    [`since`, `until`) milliseconds: two ranges of the start index, one for starts stored in milliseconds, one for
    starts stored in seconds."""
    low = -math.inf if since is None else since
    high = math.inf if until is None else until
    return ("((start_time >= ? AND start_time < ?) OR (start_time >= ? AND start_time < ?))",
            [max(low, SECONDS_BELOW), high, max(low / 1000, -SECONDS_BELOW), min(high / 1000, SECONDS_BELOW)])


def _glob_literal(text: str) -> str:
    """`text` matched literally by GLOB (its wildcards bracketed)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _upsert(conn: sqlite3.Connection, stored: list[tuple[Any, ...]]) -> None:
    """Store `stored` (`Rows.stored`), an event already stored replaced in its row, an event twice in
    the batch stored once, as it was last. Event ids are unique by this alone since schema 4: the index holds
    their keys, which are not."""
    latest = {row[EVENT_ID]: row for row in stored}
    if len(latest) < len(stored):
        stored = list(latest.values())
    keys = orjson.dumps(sorted({row[ID_KEY] for row in stored}))
    found = {event_id: rowid for rowid, event_id in conn.execute(STORED_BY_KEYS, (keys,)) if event_id in latest}
    if found:
        conn.executemany(REPLACE, [(*row, found[row[EVENT_ID]]) for row in stored if row[EVENT_ID] in found])
        stored = [row for row in stored if row[EVENT_ID] not in found]
    conn.executemany(INSERT, stored)


@dataclass(slots=True)
class _Write:
    """A write waiting in a group commit, and its result once the group's transaction is over."""

    work: Callable[[sqlite3.Connection], SendResult]
    result: SendResult | None = None


class SQLiteStore:
    """The embedded default output, and the read side the CLI uses. Thread-safe."""

    name = "sqlite"
    reads_encoded = True
    """The pipeline hands over events encoded as it mapped them (`EncodedEvents`), with their rows described
    (`event_shape`): the store writes those bytes as they are."""
    event_shape = EventShape("", describe=describe)

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
        self.bodies = BodySegments(self.path.with_name(self.path.name + "-bodies"), readonly=readonly)
        """Where the events' bodies are (`bodies.py`)."""
        if readonly:
            if not self.path.is_file():
                raise FileNotFoundError(f"no event store at {self.path}")
            self._conn = sqlite3.connect(read_only_uri(self.path), uri=True, isolation_level=None,
                                         check_same_thread=False)
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
        if self.path.is_dir():
            raise IsADirectoryError(f"{self.path} is a directory: give the store's file, for example "
                                    f"{self.path / 'otel-honeyhive.db'}")
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
        conn.create_function("store_key", 1, key, deterministic=True)
        conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path}: store schema version {version} is newer than this otel-honeyhive "
                f"understands ({SCHEMA_VERSION}); upgrade otel-honeyhive"
            )
        self._use_version(version)
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
                for step, statements in MIGRATIONS:
                    if version < step:
                        for statement in filter(str.strip, statements.split(";")):
                            conn.execute(statement)
                if version == 1:  # events stored before the sessions table: summarise them all, once
                    conn.execute(REFRESH_ALL_SESSIONS)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self._use_version(SCHEMA_VERSION)
        conn.execute("PRAGMA cache_size = -32768")  # 32 MiB: the indexes of a few hundred thousand events
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]  # 64 KiB in stores made before schema 3
        conn.execute(f"PRAGMA wal_autocheckpoint = {max(1000, WAL_BYTES // page_size)}")
        conn.execute(f"PRAGMA journal_size_limit = {WAL_BYTES}")

    def _use_version(self, version: int) -> None:
        """Read the store as schema `version` lays it out (a store opened read-only keeps an older one)."""
        self._version = version
        self._body_sql = BODY if version >= 3 else "SELECT body, NULL, NULL, NULL FROM events"
        self._by_event, self._by_session = (BY_EVENT, BY_SESSION) if version >= 4 else ("event_id = ?",
                                                                                      "session_id = ?")

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
            rows = rows_of(events)
        except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
            return SendResult(Outcome.REJECTED, f"event cannot be stored: {exc}")

        def store_all(conn: sqlite3.Connection) -> SendResult:
            # A session event already stored (started again, a conversation's later send) is merged, not
            # replaced. Only a session the store knows can have one: a new trace's session reads nothing back.
            known = known_sessions(conn, rows.described)
            for i, columns in enumerate(rows.described):
                if columns[IS_SESSION_EVENT] and columns[SESSION_ID] in known:
                    stored = self._body(conn, columns[EVENT_ID])
                    if stored is not None:
                        rows.replace(i, merged_session(orjson.loads(stored), orjson.loads(rows.body(i))))
            _upsert(conn, rows.stored(*self.bodies.append(rows.buffers)))
            summarise(conn, rows.described, REFRESH_SESSIONS, known)
            return DELIVERED

        return self._write(store_all)

    def update(self, update: Update, *, stop: threading.Event | None = None) -> SendResult:
        def merge(conn: sqlite3.Connection) -> SendResult:
            body = self._body(conn, update.event_id)
            if body is None:
                return SendResult(Outcome.REJECTED, f"unknown event_id {update.event_id}")
            rows = Rows()
            rows.add_event(update.apply_to(orjson.loads(body)))
            _upsert(conn, rows.stored(*self.bodies.append(rows.buffers)))
            session_id = rows.described[0][SESSION_ID]
            if session_id is not None:
                conn.execute(REFRESH_SESSIONS, (orjson.dumps([session_id]),))
            return DELIVERED

        return self._write(merge)

    # -- retention ---------------------------------------------------------------------------------------------

    def prune(self, before: float, *, dry_run: bool = False, stop: threading.Event | None = None) -> Pruned:
        """Delete every session whose last activity (the latest end, else start, of any of its events;
        milliseconds) is before `before`, whole, with all its events, and events without a session by their own
        times; then give back the body segments no row points into any more. A long conversation stays as long as
        it has new turns. Sessions with no time at all are kept. OSError when the store cannot be written
        (locked, full, read-only). `stop`: once set, no further batch is begun (what was deleted stays deleted;
        the rest waits)."""
        if dry_run:
            sessions, events = self._query(
                f"SELECT (SELECT COUNT(*) FROM ({EXPIRED})), ({EXPIRED_EVENTS}) + "
                f"(SELECT COUNT(*) FROM events WHERE {LOOSE_EXPIRED})", (before,))[0]
            return Pruned(int(sessions), int(events))
        counts = [0, 0, 0]  # sessions, events, rows the last batch deleted

        def one_batch(conn: sqlite3.Connection) -> SendResult:
            ids = [sid for (sid,) in conn.execute(EXPIRED_SESSIONS, (before, PRUNE_BATCH))]
            if ids:
                batch = orjson.dumps(ids)
                events = conn.execute(DELETE_SESSIONS_EVENTS, (batch,)).rowcount
                sessions = conn.execute(DELETE_SESSIONS, (batch,)).rowcount
            else:
                events, sessions = conn.execute(DELETE_LOOSE_EVENTS, (before, PRUNE_BATCH * 10)).rowcount, 0
            counts[0] += sessions
            counts[1] += events
            counts[2] = sessions + events
            return DELIVERED

        while True:
            result = self._write(one_batch)
            if not result.ok:
                raise OSError(result.detail)
            stopped = stop is not None and stop.is_set()
            if not counts[2] or stopped:
                break
        segments, freed = self._reclaim() if counts[1] and not stopped else (0, 0)
        return Pruned(counts[0], counts[1], segments, freed)

    def _reclaim(self) -> tuple[int, int]:
        """Delete the body segments no row points into: which segments are closed is read in a write transaction
        (so no write is half done anywhere), which are still named is read after it, on a connection of its own,
        without holding up ingestion."""
        newest = [0]

        def note_newest(conn: sqlite3.Connection) -> SendResult:
            newest[0] = self.bodies.newest()
            return DELIVERED

        result = self._write(note_newest)
        if not result.ok:
            raise OSError(result.detail)
        reader = sqlite3.connect(read_only_uri(self.path), uri=True, isolation_level=None)
        try:
            reader.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            referenced = {int(n) for (n,) in reader.execute(SEGMENTS_IN_USE)}
        finally:
            reader.close()
        with self._lock:
            return self.bodies.reclaim(referenced, below=newest[0])

    def _body(self, conn: sqlite3.Connection, event_id: str) -> bytes | None:
        """The stored event's bytes, wherever they are kept; None when there is no such event. Inside a write
        transaction: the event may have been written by an earlier write of the same group, still behind."""
        self.bodies.settle()
        row = conn.execute(self._body_sql + " WHERE " + self._by_event, self._id_params(event_id)).fetchone()
        return None if row is None else self._bytes(row)

    def _id_params(self, text: str) -> tuple[Any, ...]:
        """The parameters of `_by_event` and `_by_session`: the id's key and the id, or (before schema 4) the
        id."""
        return keyed(text) if self._version >= 4 else (text,)

    def _bytes(self, row: tuple[Any, ...]) -> bytes:
        """The body a `BODY` row points at: in its segment, or inline (rows written before schema 3)."""
        body, segment, at, length = row
        if length is None:
            return bytes(body)
        return self.bodies.read(segment, at, length)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()
                self.bodies.close()

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
                self.bodies.sync()  # the bodies before the rows that point at them
                conn.execute("COMMIT")
                self.transactions += 1
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self.bodies.abandon()
                raise
        except (TypeError, sqlite3.Error, OSError) as exc:
            # Locked by another process, disk full, I/O error: nothing was committed; worth another try.
            failed = (SendResult(Outcome.RETRY_LATER, f"event store {self.path}: {exc}", 1.0)
                      if isinstance(exc, sqlite3.OperationalError | OSError) else self._refusal(exc))
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
        except (sqlite3.OperationalError, OSError):
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

    def get_event(self, event_id: str, *, children: bool = True) -> Event | None:
        """The event as stored, its `children_ids` completed with the events stored under it (`_with_children`);
        `children=False`: as stored, without looking for them."""
        rows = self._query(self._body_sql + " WHERE " + self._by_event, self._id_params(event_id))
        if not rows:
            return None
        event: Event = orjson.loads(self._bytes(rows[0]))
        session_id = event.get("session_id")
        if not children or not isinstance(session_id, str):
            return event
        found = self._query(f"SELECT event_id FROM events WHERE {self._by_session} AND parent_id = ? "
                            "AND event_id != parent_id ORDER BY start_time IS NULL, start_time, rowid",
                            (*self._id_params(session_id), event_id))
        return _with_children(event, [child for (child,) in found])

    def session_events(self, session_id: str, *, children: bool = True) -> list[Event]:
        """Every event of the session (its session event included), earliest first; no start time last; each
        one's `children_ids` completed with the events stored under it (`_with_children`); `children=False`: as
        stored."""
        rows = self._query(self._body_sql + f" WHERE {self._by_session} ORDER BY start_time IS NULL, start_time, rowid",
                           self._id_params(session_id))
        events: list[Event] = [orjson.loads(self._bytes(row)) for row in rows]
        if not children:
            return events
        under: dict[str, list[str]] = {}
        for event in events:
            parent, event_id = event.get("parent_id"), event.get("event_id")
            if isinstance(parent, str) and isinstance(event_id, str) and parent != event_id:
                under.setdefault(parent, []).append(event_id)
        return [_with_children(e, under.get(str(e.get("event_id")), [])) for e in events]

    def list_sessions(
        self, limit: int = 20, *, offset: int = 0, search: str | None = None, since: float | None = None,
        until: float | None = None, errors_only: bool = False,
    ) -> list[SessionSummary]:
        """The most recent sessions first, including sessions known only from their child events. `search`
        matches a session id prefix, a user id, or a part of the name (case-insensitive); `since` / `until`
        bound the start (milliseconds, [since, until); a start stored in seconds is read as such: `SECONDS_BELOW`);
        `errors_only` keeps sessions with an error."""
        if self._version < 2:
            if search or since is not None or until is not None or errors_only or offset:
                raise RuntimeError(f"{self.path}: searching needs a store written by this version; open it with "
                                   "a running `otel-honeyhive serve` (which upgrades it) first")
            return [
                SessionSummary(sid, name, source, start, duration, int(n), int(errors or 0), bool(has_session))
                for sid, name, source, start, duration, n, errors, has_session in self._query(
                    LIST_SESSIONS_V1, (max(0, limit),)
                )
            ]
        where, params = _session_filter(search, since, until, errors_only)
        # Before schema 5 (a store an older server owns, read-only) a start may be in seconds: ordered as read.
        start = "start_time" if self._version >= 5 else in_ms("start_time")
        rows = self._query(
            f"SELECT {SESSION_COLUMNS} FROM sessions{where} "
            # Newest first, sessions without a start last (SQLite sorts NULL lowest): the index, read backwards.
            f"ORDER BY {start} DESC, session_id DESC LIMIT ? OFFSET ?",
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
        table = "sessions" if self._version >= 2 else "events"  # (its primary key, or the session index)
        rows = self._query(
            f"SELECT DISTINCT session_id FROM {table} WHERE session_id GLOB ? ORDER BY session_id LIMIT ?",
            (prefix + "*", limit),
        )
        return [sid for (sid,) in rows]

    def match_events(self, prefix: str, limit: int = 10) -> list[str]:
        """Event ids starting with `prefix` (case-insensitive)."""
        prefix = prefix.strip().lower()
        if not prefix or any(c not in "0123456789abcdef-" for c in prefix):
            return []
        if self._version < 4:
            rows = self._query("SELECT event_id FROM events WHERE event_id GLOB ? ORDER BY event_id LIMIT ?",
                               (prefix + "*", limit))
        else:  # the UUIDs' keys in order, and ids that are not UUIDs (keys below zero)
            low, high = key_range(prefix) or (-1, -2)
            rows = self._query("SELECT event_id FROM events WHERE (id_key BETWEEN ? AND ? OR id_key < 0) "
                               "AND event_id GLOB ? ORDER BY event_id LIMIT ?", (low, high, prefix + "*", limit))
        return [eid for (eid,) in rows]

    def sessions_started(self, since: float | None = None, until: float | None = None) -> list[str]:
        """Every session whose start (as `list_sessions` gives it: its session event's, else its first event's)
        is in [`since`, `until`) (milliseconds; None: unbounded), oldest first; sessions without any start time
        only when neither bound is given. Read from the summaries through their start index: a time range never
        reads the events table."""
        if self._version < 2:
            rows = self._query(
                "SELECT session_id FROM events WHERE session_id IS NOT NULL GROUP BY session_id "
                "HAVING (?1 IS NULL OR MIN(start_time) >= ?1) AND (?2 IS NULL OR MIN(start_time) < ?2) "
                "ORDER BY MIN(start_time) IS NULL, MIN(start_time), session_id",
                (since, until),
            )
        elif since is None and until is None:
            start = "start_time" if self._version >= 5 else in_ms("start_time")  # (as `list_sessions` orders)
            rows = self._query(f"SELECT session_id FROM sessions ORDER BY start_time IS NULL, {start}, session_id")
        else:
            condition, bounds = _started_between(since, until)
            rows = self._query(
                f"SELECT session_id FROM sessions WHERE {condition} "
                f"ORDER BY {in_ms('start_time')}, session_id",
                tuple(bounds),
            )
        return [sid for (sid,) in rows]

    def count_events(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM events")[0][0])


__all__ = ["PRUNE_BATCH", "Pruned", "SQLiteStore", "SessionSummary", "read_only_uri"]
