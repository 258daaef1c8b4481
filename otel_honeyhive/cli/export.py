"""`otel-honeyhive export OUTPUT`: the local store's events into a file, for `convert`, `replay` or any tool.

Whole sessions, oldest first: every session of the store, or those named with `--session` (an id or a unique
prefix, repeatable), or those whose first event started within `--since`/`--until`. The format comes from
OUTPUT's name as for `convert`: events files (`.ndjson`, `.json`) hold the events as stored; OTLP files
(`.otlp.jsonl`, `.otlp.json`) hold spans made from them by `events_to_spans`, `EVENTS_PER_REQUEST` to a request,
exactly as `convert` writes them, so an export and a conversion of it give back the same events. The file is
written beside its target and renamed into place only when complete.
"""

from __future__ import annotations

import argparse
import datetime
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

from otel_honeyhive.cli.convert import otlp_requests
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.file_formats import check_writable, detect_format, parse_format
from otel_honeyhive.mapper.reverse import Lineage, events_to_spans
from otel_honeyhive.outputs.files import OutputFile, event_writer, otlp_writer
from otel_honeyhive.outputs.store import SQLiteStore

PROG = "otel-honeyhive export"


def _fail(message: str, code: int = 1) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


def parse_time(text: str, flag: str) -> float:
    """An ISO 8601 date or date-time (local time unless it names a zone) as epoch milliseconds, as events hold
    their times; ValueError naming `flag` otherwise."""
    try:
        when = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{flag}: not a date or time in ISO 8601 form (for example 2026-12-06 or "
                         f"2026-12-06T15:30), got {text!r}") from None
    if when.tzinfo is None:
        when = when.astimezone()  # a naive time is the user's local time
    return when.timestamp() * 1000


def _sessions(store: SQLiteStore, args: argparse.Namespace) -> list[str]:
    """The sessions to export; ValueError for a name that matches none or several."""
    since = parse_time(args.since, "--since") if args.since else None
    until = parse_time(args.until, "--until") if args.until else None
    chosen = store.sessions_started(since, until)
    if not args.session:
        return chosen
    named: list[str] = []
    for prefix in args.session:
        matches = store.match_sessions(prefix, limit=2)
        if not matches:
            raise ValueError(f"--session {prefix!r}: no session in {args.db} starts with it")
        if len(matches) > 1:
            raise ValueError(f"--session {prefix!r} is ambiguous: several sessions start with it")
        named.append(matches[0])
    within = set(chosen)
    return [sid for sid in dict.fromkeys(named) if sid in within]


def _events(store: SQLiteStore, sessions: list[str]) -> Iterator[Event]:
    for session_id in sessions:
        yield from store.session_events(session_id)


def run_export(args: argparse.Namespace) -> int:
    """The `export` command; 0 on success, 1 when the store cannot be read, 2 for bad usage."""
    output: Path = args.output
    try:
        fmt = parse_format(args.to_format) if args.to_format else detect_format(output, "--to")
        check_writable(fmt, output)
    except ValueError as exc:
        return _fail(str(exc), 2)
    db = Path(args.db)
    if output.resolve() in {db.resolve(), *(Path(f"{db}{tail}").resolve() for tail in ("-wal", "-shm"))} or (
            output.resolve().parent == Path(f"{db}-bodies").resolve()):
        return _fail(f"{output} is the event store being exported (or one of its files): write elsewhere", 2)
    try:
        store = SQLiteStore(args.db, readonly=True)
    except FileNotFoundError:
        return _fail(f"no event store at {args.db} (start `otel-honeyhive serve` first, or pass --db PATH)")
    except (OSError, RuntimeError, sqlite3.Error) as exc:  # not a store, or a store of another version
        return _fail(f"cannot read the event store {args.db}: {exc}")
    events = sessions = 0
    try:
        with store:
            try:
                chosen = _sessions(store, args)
            except ValueError as exc:
                return _fail(str(exc), 2)
            sessions = len(chosen)
            with OutputFile(output) as out:
                if fmt.is_otlp:
                    writer = otlp_writer(out, fmt)
                    lineage = Lineage()  # a session cut between two requests stays one trace
                    for request, count in otlp_requests(_events(store, chosen),
                                                        lambda batch: events_to_spans(batch, lineage=lineage)):
                        writer.write(request)
                        events += count
                    writer.finish()
                else:
                    event_out = event_writer(out, fmt)
                    for event in _events(store, chosen):
                        event_out.write(event)
                        events += 1
                    event_out.finish()
    except OSError as exc:
        return _fail(f"{exc.filename or output}: {exc.strerror or exc}")
    except (RuntimeError, sqlite3.Error) as exc:  # a body segment missing or damaged (a .db copied alone)
        return _fail(f"cannot read the event store {args.db}: {exc}")
    if not args.quiet:
        noun = "session" if sessions == 1 else "sessions"
        print(f"{PROG}: {sessions} {noun} ({events} events) from {args.db} → {output} ({fmt.value})",
              file=sys.stderr)
    return 0


__all__ = ["parse_time", "run_export"]
