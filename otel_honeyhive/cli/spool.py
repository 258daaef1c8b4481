"""`otel-honeyhive spool status DIR` and `otel-honeyhive spool redrive DIR`: the way back for what a spool kept.

`status` says what waits (per segment: its process and whether that process still runs, records, bytes, the
oldest record's age) and what was set aside (dead letters and corrupt records with their reasons, newest
first), reading the directory only: it works while exporters and servers use it, and changes nothing.
`redrive` ships what processes that are gone left behind (live processes' segments are left to them), or, with
`--dead`, sends the dead letters again after a fix; see `shipping/dead_letters.py` for the rules. Both take an
exporter's `spool_dir`, a server's `--spool-dir`, or the `outbox/` inside either.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from otel_honeyhive.cli.render import many
from otel_honeyhive.core.protocols import Output
from otel_honeyhive.shipping.dead_letters import (
    HELD,
    OUTBOX,
    NotASpoolError,
    RedriveReport,
    SetAside,
    SpoolStatus,
    WaitingSegment,
    locate,
    redrive_dead,
    redrive_pending,
    status,
)
from otel_honeyhive.shipping.spool import SegmentSnapshot, SpoolError

PROG = "otel-honeyhive spool"
_REASON_CHARS = 160
"""A reason is shown up to this many characters in the table (`--json` gives it whole)."""
_PIPED_WIDTH = 240


def _say(command: str, message: str) -> None:
    print(f"{PROG} {command}: {message}", file=sys.stderr)


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=_PIPED_WIDTH)


def format_age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.0f} min"
    hours, minutes = divmod(round(minutes), 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def format_bytes(size: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} B"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _shorten(text: str, limit: int = _REASON_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _owner(segment: SegmentSnapshot) -> Text:
    pid = str(segment.pid) if segment.pid is not None else "-"
    if segment.owned is None:
        return Text(f"{pid} (cannot tell)", style="yellow")
    if segment.owned:
        return Text(f"{pid} running", style="green")
    return Text(f"{pid} gone", style="yellow")


# -- status ----------------------------------------------------------------------------------------------------


def status_json(found: SpoolStatus) -> dict[str, Any]:
    """Everything `status` knows, reasons whole, for scripts."""
    now = found.taken_at

    def aside(item: SetAside) -> dict[str, Any]:
        return {"spool": item.spool, "path": str(item.path), "bytes": item.bytes, "at": item.at,
                "kind": item.kind, "events": item.events, "reason": item.reason, "last_reason": item.last_reason}

    return {
        "directory": str(found.directory.root),
        "spools": {name: str(path) for name, path in found.directory.spools.items()},
        "waiting": [
            {"spool": w.spool, "segment": w.segment.name, "path": str(w.segment.path), "pid": w.segment.pid,
             "owned": w.segment.owned, "records": w.segment.records, "bytes": w.segment.bytes,
             "oldest_age_seconds": None if w.segment.oldest is None else round(now - w.segment.oldest, 3)}
            for w in found.waiting
        ],
        "totals": {
            "records": sum(w.segment.records for w in found.waiting),
            "bytes": sum(w.segment.bytes for w in found.waiting),
            "dead": len(found.dead),
            "corrupt": len(found.corrupt),
        },
        "dead": [aside(item) for item in found.dead],
        "corrupt": [aside(item) for item in found.corrupt],
    }


def _waiting_table(found: SpoolStatus) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
    table.add_column("spool", no_wrap=True)
    table.add_column("segment", no_wrap=True)
    table.add_column("process", no_wrap=True)
    table.add_column("records", justify="right")
    table.add_column("bytes", justify="right", no_wrap=True)
    table.add_column("oldest", justify="right", no_wrap=True)
    for w in found.waiting:
        s = w.segment
        table.add_row(w.spool, s.name if s.name != "." else "(earlier layout)", _owner(s), str(s.records),
                      format_bytes(s.bytes), format_age(found.taken_at - s.oldest) if s.oldest is not None else "-")
    return table


def _aside_table(items: list[SetAside], now: float, *, events: bool) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("spool", no_wrap=True)
    table.add_column("record", no_wrap=True)
    table.add_column("age", justify="right", no_wrap=True)
    if events:
        table.add_column("events", justify="right")
    table.add_column("bytes", justify="right", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for item in items:
        cells: list[str | Text] = [item.spool, item.path.name, format_age(now - item.at)]
        if events:
            cells.append("-" if item.events is None else (str(item.events) if item.kind == "events" else "update"))
        cells += [format_bytes(item.bytes), Text(_shorten(item.last_reason) or "(no .reason file)")]
        table.add_row(*cells)
    return table


def _gone_hints(waiting: list[WaitingSegment], root: Path) -> list[str]:
    """What becomes of the records of processes that are gone: events are adopted by any process using the
    directory, or sent by `redrive`; held spans and log records only by a server (`serve --spool-dir`), running or
    next to start."""
    hints: list[str] = []
    for spool, what, fate in (
        (OUTBOX, "of processes that are gone", "a process using the directory adopts them within seconds, or run "
                                               f"`{PROG} redrive {root}`"),
        (HELD, "of held spans or log records of servers that are gone",
         "a server running on the directory (`serve --spool-dir`) takes them over within seconds, else the next to "
         "start; `redrive` leaves them"),
    ):
        gone = [w for w in waiting if w.spool == spool and w.segment.owned is False and w.segment.records]
        if gone:
            hints.append(f"{_count(sum(w.segment.records for w in gone), 'record')} {what}: {fate}")
    return hints


def print_status(found: SpoolStatus, limit: int) -> None:
    console = _console()
    spools = ", ".join(f"{name}/" if path != found.directory.root else name
                       for name, path in found.directory.spools.items())
    console.print(Text(f"spool {found.directory.root} ({spools})", style="bold"))
    records = sum(w.segment.records for w in found.waiting)
    size = sum(w.segment.bytes for w in found.waiting)
    waiting = [w for w in found.waiting if w.segment.records or w.segment.owned]
    if waiting:
        console.print(Text(f"\nwaiting: {_count(records, 'record')}, {format_bytes(size)}", style="bold"))
        console.print(_waiting_table(SpoolStatus(found.directory, waiting, [], [], found.taken_at)))
        for hint in _gone_hints(waiting, found.directory.root):
            console.print(Text(hint, style="dim"))
    else:
        console.print(Text("\nwaiting: nothing", style="bold"))
    for title, items, events in (("dead letters", found.dead, True), ("corrupt records", found.corrupt, False)):
        if not items:
            console.print(Text(f"\n{title}: none", style="bold"))
            continue
        console.print(Text(f"\n{title}: {len(items)}, newest first", style="bold red" if title == "dead letters"
                           else "bold yellow"))
        console.print(_aside_table(items[:limit], found.taken_at, events=events))
        if len(items) > limit:
            console.print(Text(f"… and {len(items) - limit} more (--limit N, or --json for all)", style="dim"))
    if found.dead:
        console.print(Text(f"\nafter fixing the cause: {PROG} redrive {found.directory.root} --dead", style="dim"))


def run_status(args: argparse.Namespace) -> int:
    """0 when the directory could be read (whatever it holds); 1 when it is not a spool directory or cannot be
    read."""
    try:
        found = status(args.directory)
    except NotASpoolError as exc:
        _say("status", str(exc))
        return 1
    except OSError as exc:  # a segment another user left (`sudo ... spool redrive`), a directory not ours
        where = exc.filename if exc.filename is not None else args.directory
        _say("status", f"cannot read {where}: {exc.strerror or exc}; run as the user that owns it")
        return 1
    if args.json:
        import orjson

        sys.stdout.buffer.write(orjson.dumps(status_json(found),
                                             option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
        sys.stdout.flush()
        return 0
    print_status(found, args.limit)
    return 0


# -- redrive ---------------------------------------------------------------------------------------------------


def _open_output(args: argparse.Namespace) -> tuple[Output, str]:
    """The output `--to` names, built as `replay` builds it; ValueError for missing or contradictory options."""
    if args.to == "store":
        from otel_honeyhive.outputs.store import SQLiteStore

        try:
            return SQLiteStore(args.db), f"the local store {args.db}"
        except (OSError, RuntimeError) as exc:
            raise ValueError(f"cannot open the event store {args.db}: {exc}") from None
    if args.to == "honeyhive" and getattr(args, "config", None) is not None:
        return _routed_output(args)
    from otel_honeyhive.cli.replay import open_target

    target = open_target(args)
    return target.output, target.description


def _routed_output(args: argparse.Namespace) -> tuple[Output, str]:
    """`--config FILE`: each spooled event goes with its project's key from the file's `[routing]` table (keys are
    never spooled: docs/routing.md); the file's server URL and route unless flags give them."""
    from otel_honeyhive.core.routing import RoutingTable
    from otel_honeyhive.core.secrets import shown_url
    from otel_honeyhive.outputs.honeyhive.routed import RoutedHoneyHiveOutput
    from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
    from otel_honeyhive.server.config import HONEYHIVE_FLAGS
    from otel_honeyhive.server.config_file import read_config_file

    options, routing = read_config_file(args.config)
    if routing is None:
        raise ValueError(f"{args.config}: has no [routing] table: give --api-key instead")

    def option(name: str) -> Any:
        return next((options[k] for k in (name, name.replace("_", "-")) if k in options), None)

    settings = HoneyHiveSettings.resolve(
        flags=HONEYHIVE_FLAGS, api_key=args.api_key, server_url=args.server_url or option("server_url"),
        source=args.source, timeout=args.timeout, api_version=option("api_version"),
    )
    table = RoutingTable.parse(routing, where=str(args.config), fallback_key=settings.api_key)
    return (RoutedHoneyHiveOutput(settings, table),
            f"honeyhive {shown_url(settings.server_url)}, projects routed by {args.config}")


def _report(report: RedriveReport, what: str, target: str, quiet: bool) -> None:
    for segment in report.live:
        _say("redrive", f"segment {segment.name} is owned by running process {segment.pid}; left to it "
             f"({many(segment.records, 'record')})")
    if report.held_records:
        _say("redrive", f"{many(report.held_records, 'record')} of held spans or log records wait in {HELD}/: "
             "`otel-honeyhive serve --spool-dir` on this directory replays them; left")
    for name, detail in report.refused[:20]:
        _say("redrive", f"refused: {name}: {_shorten(detail, 400)}")
    if len(report.refused) > 20:
        _say("redrive", f"… and {len(report.refused) - 20} more refused")
    for name, detail in report.kept:  # not the data's fault: the record stays where it was
        _say("redrive", f"not delivered, kept for later: {name}: {_shorten(detail, 400)}")
    if report.stopped is not None:
        why = "stopped there" if report.kept else f"stopped: {_shorten(report.stopped, 400)}"
        _say("redrive", f"{why}; {many(report.not_tried, what)} not tried (kept)")
    if report.dead_lettered:
        _say("redrive", f"{many(report.dead_lettered, 'record')} refused for their data moved to {OUTBOX}/dead/")
    if not quiet or not report.ok:
        kept = len(report.kept) + report.not_tried
        _say("redrive", f"{many(report.delivered_records, what)} ({many(report.delivered_events, 'event')}) "
             f"delivered to {target}; {len(report.refused)} refused" + (f"; {kept} kept for later" if kept else ""))


def run_redrive(args: argparse.Namespace) -> int:
    """0 when everything tried was delivered; 1 when something was refused or left untried, or the directory is
    not a spool; 2 for bad options."""
    try:
        where = locate(args.directory)
    except NotASpoolError as exc:
        _say("redrive", str(exc))
        return 1
    outbox = where.outbox
    if outbox is None:
        _say("redrive", f"{where.root} holds no outbox (only {', '.join(where.spools)}): nothing to send")
        return 1
    try:
        output, target = _open_output(args)
    except (ValueError, TypeError) as exc:
        _say("redrive", str(exc))
        return 2
    began = time.monotonic()
    try:
        if args.dead:
            report = redrive_dead(outbox, output)
            what = "dead letter"
        else:
            legacy = (where.legacy,) if where.legacy is not None else ()
            report = redrive_pending(outbox, output, legacy_dirs=legacy)
            what = "record"
            if HELD in where.spools:
                from otel_honeyhive.shipping.spool import snapshot_segments

                report.held_records = sum(s.records for s in snapshot_segments(where.spools[HELD]))
    except SpoolError as exc:
        _say("redrive", str(exc))
        return 1
    except KeyboardInterrupt:
        _say("redrive", "interrupted; what was not delivered stays in the spool")
        return 130
    finally:
        output.close()
    if report.delivered_records == 0 and report.ok and not (report.live or report.held_records):
        if not args.quiet:
            _say("redrive", f"nothing to send in {outbox / 'dead' if args.dead else outbox}")
    else:
        _report(report, what, target, args.quiet)
        if not args.quiet:
            _say("redrive", f"took {time.monotonic() - began:.1f}s")
    return 0 if report.ok else 1


__all__ = ["format_age", "format_bytes", "print_status", "run_redrive", "run_status", "status_json"]
