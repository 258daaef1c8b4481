"""What a spool directory holds, seen from outside, and the way back for what it set aside.

`otel-honeyhive spool status` and `spool redrive` run while exporters and servers may be using the directory.
So `status` never opens a `Spool` (that would create a segment and adopt orphans): it scans the directory
(`snapshot_segments`, `dead/`, `corrupt/`), read-only. `redrive_pending` does open one, on purpose: it adopts
the records of processes that are gone and ships them, leaving live processes' segments to them.
`redrive_dead` sends dead letters again through an output: those accepted leave `dead/` (their `.reason` too),
those refused again stay, the new refusal appended to their `.reason`. Corrupt records are never sent: they do
not decode (docs/delivery.md#dead-letters-and-corrupt-records).

Layouts understood (`locate`): an exporter's `spool_dir` (records in `DIR/outbox`, maybe some left at the root
by an earlier version), a server's `--spool-dir` (`DIR/outbox` and the held-span journal `DIR/held`), and a
spool given directly (`DIR/outbox`, or any directory with `segments/`, `dead/` or `corrupt/`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from otel_honeyhive.core.protocols import Output
from otel_honeyhive.core.results import Outcome, SendResult, is_configuration_refusal
from otel_honeyhive.shipping import segments
from otel_honeyhive.shipping.locking import try_lock
from otel_honeyhive.shipping.records import CorruptRecordError, SpoolRecord
from otel_honeyhive.shipping.spool import (
    CORRUPT_DIR,
    DEAD_DIR,
    REASON_SUFFIX,
    SegmentSnapshot,
    Spool,
    SpoolError,
    snapshot_segments,
)

OUTBOX = "outbox"
HELD = "held"
REDRIVE_LOCK = ".redrive.lock"
"""In `dead/`: held by a running `redrive_dead`, so two at once do not send every dead letter twice."""

Folder = Literal["dead", "corrupt"]
DEAD: Folder = "dead"
CORRUPT: Folder = "corrupt"
assert (DEAD, CORRUPT) == (DEAD_DIR, CORRUPT_DIR)  # the spool's folder names, as literals for the type checker


class NotASpoolError(ValueError):
    """The directory is missing, or holds nothing a spool writes; the message says which and what to give."""


class RedriveBusyError(SpoolError):
    """Another `spool redrive --dead` is sending these dead letters right now."""


# -- where the spools are ---------------------------------------------------------------------------------------


def _looks_like_spool(directory: Path) -> bool:
    """A directory a `Spool` has written: its folders, or records of the one-process layout."""
    if not directory.is_dir():
        return False
    if any((directory / name).is_dir() for name in (segments.SEGMENTS_DIR, DEAD_DIR, CORRUPT_DIR)):
        return True
    return _has_legacy_records(directory)


def _has_legacy_records(directory: Path) -> bool:
    try:
        return any(segments.RECORD_NAME.match(entry.name) for entry in os.scandir(directory))
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class SpoolDirectory:
    """The spools of one directory, by name: `outbox` (events to deliver), `held` (a server's journal)."""

    root: Path
    spools: dict[str, Path]
    legacy: Path | None = None
    """An exporter's `spool_dir` whose root still holds records of an earlier version (adopted into `outbox`)."""

    @property
    def outbox(self) -> Path | None:
        return self.spools.get(OUTBOX)


def locate(directory: str | os.PathLike[str]) -> SpoolDirectory:
    """Which spools `directory` holds; `NotASpoolError` for a missing directory, a file, or one no spool wrote.
    Reads only."""
    root = Path(directory).absolute()
    if not root.exists():
        raise NotASpoolError(f"{root}: no such directory")
    if not root.is_dir():
        raise NotASpoolError(f"{root} is not a directory")
    spools = {name: root / name for name in (OUTBOX, HELD) if _looks_like_spool(root / name)}
    if spools:
        legacy = root if _has_legacy_records(root) else None
        return SpoolDirectory(root, spools, legacy)
    if _looks_like_spool(root):
        spools = {HELD if root.name == HELD else OUTBOX: root}
        return SpoolDirectory(root, spools)
    raise NotASpoolError(
        f"{root} is not a spool directory: it has no outbox/ or held/, nor segments/, dead/ or corrupt/ (give an "
        "exporter's spool_dir / HH_SPOOL_DIR, a server's --spool-dir, or the outbox/ inside either)"
    )


# -- what was set aside -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetAside:
    """A record in `dead/` or `corrupt/`, with its `.reason`."""

    folder: Folder
    spool: str
    path: Path
    bytes: int
    at: float
    """When it was set aside (its `.reason` file's modification time; the record's own when there is none)."""
    reason: str
    """The whole `.reason` file: one line per refusal, oldest first ("" when it is missing)."""
    kind: str | None = None
    """"events" or "update" for a dead letter that decodes; None otherwise."""
    events: int | None = None

    @property
    def last_reason(self) -> str:
        """The latest refusal: the `.reason` file's last line."""
        lines = [line for line in self.reason.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def reason_path(record: Path) -> Path:
    return record.with_suffix(REASON_SUFFIX)


def set_aside(spool_dir: Path, folder: Folder, spool: str = OUTBOX, *, decode: bool = True) -> list[SetAside]:
    """The records of `spool_dir/folder`, newest first. `decode`: read each dead letter to say what it holds."""
    found: list[SetAside] = []
    try:
        entries = [entry for entry in os.scandir(spool_dir / folder) if entry.name.endswith(segments.RECORD_SUFFIX)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in entries:
        path = Path(entry.path)
        try:
            stat = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # redriven meanwhile
        reason, at = "", stat.st_mtime
        with contextlib.suppress(OSError):
            note = reason_path(path)
            reason = note.read_text(encoding="utf-8", errors="replace")
            at = note.stat().st_mtime
        kind: str | None = None
        events: int | None = None
        if decode and folder == DEAD_DIR:
            with contextlib.suppress(OSError, CorruptRecordError):
                record = SpoolRecord.decode(path.read_bytes())
                kind, events = record.kind, record.event_count
        found.append(SetAside(folder, spool, path, stat.st_size, at, reason, kind, events))
    found.sort(key=lambda item: (item.at, item.path.name), reverse=True)
    return found


# -- status -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WaitingSegment:
    spool: str
    segment: SegmentSnapshot


@dataclass(frozen=True, slots=True)
class SpoolStatus:
    directory: SpoolDirectory
    waiting: list[WaitingSegment]
    dead: list[SetAside]
    corrupt: list[SetAside]
    taken_at: float = field(default_factory=time.time)


def status(directory: str | os.PathLike[str]) -> SpoolStatus:
    """What waits in each segment, and what was set aside, newest first; read-only (`NotASpoolError`)."""
    where = locate(directory)
    waiting: list[WaitingSegment] = []
    dead: list[SetAside] = []
    corrupt: list[SetAside] = []
    for name, path in where.spools.items():
        waiting += [WaitingSegment(name, snap) for snap in snapshot_segments(path)]
        dead += set_aside(path, DEAD, name)
        corrupt += set_aside(path, CORRUPT, name)
    if where.legacy is not None and where.legacy not in where.spools.values():
        waiting += [WaitingSegment(OUTBOX, snap) for snap in snapshot_segments(where.legacy) if snap.name == "."]
    dead.sort(key=lambda item: (item.at, item.path.name), reverse=True)
    corrupt.sort(key=lambda item: (item.at, item.path.name), reverse=True)
    return SpoolStatus(where, waiting, dead, corrupt)


# -- redrive ----------------------------------------------------------------------------------------------------


@dataclass
class RedriveReport:
    """What a redrive did. `refused`: (what, the receiver's answer) for each record refused for its data;
    `kept`: the same for the record not delivered for a cause that is not the data's (an outage, a 5xx, a
    configuration refusal), kept where it was for a later run; `stopped`: why it stopped before trying
    everything."""

    delivered_records: int = 0
    delivered_events: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)
    dead_lettered: int = 0
    """Pending records refused for the data's sake by this run and moved to `dead/`."""
    not_tried: int = 0
    stopped: str | None = None
    live: list[SegmentSnapshot] = field(default_factory=list)
    """Segments a running process owns: left to it."""
    corrupt: int = 0
    """Corrupt records, never sent (they do not decode)."""
    held_records: int = 0
    """Records of a server's held-span journal: replayed by `serve --spool-dir`, never by a redrive."""

    @property
    def ok(self) -> bool:
        """Everything tried was delivered, and nothing was left untried."""
        return not self.refused and not self.kept and self.stopped is None and not self.not_tried


def _send(output: Output, record: SpoolRecord, stop: threading.Event | None) -> SendResult:
    try:
        if record.kind == "update" and record.update is not None:
            return output.update(record.update, stop=stop)
        return output.send(record.events, stop=stop)
    except Exception as exc:  # an output should not raise; if it does, the record is kept
        return SendResult(Outcome.RETRY_LATER, f"output {getattr(output, 'name', '?')} raised "
                          f"{type(exc).__name__}: {exc}")


def _stops(result: SendResult, record: SpoolRecord) -> bool:
    """A result every later record would get too (an outage, a wrong key or URL): stop rather than knock on."""
    return result.outcome is Outcome.RETRY_LATER or is_configuration_refusal(result, update=record.kind == "update")


def _rewrite(path: Path, record: SpoolRecord) -> None:
    """Replace the dead letter at `path` with `record`, atomically (written, synced, renamed over it)."""
    tmp = path.with_name(f"{segments.TMP_PREFIX}{path.name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(record.encode())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _note(path: Path, detail: str) -> None:
    line = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + f" redrive: {detail.strip() or 'refused'}\n"
    fd = os.open(reason_path(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # may quote what was sent
    with os.fdopen(fd, "a", encoding="utf-8") as note:
        note.write(line)


@contextmanager
def _redrive_lock(dead: Path) -> Iterator[None]:
    fd = os.open(dead / REDRIVE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not try_lock(fd):
            raise RedriveBusyError(f"another `spool redrive --dead` is sending the dead letters of {dead}; "
                                   "let it finish")
        yield
    finally:
        os.close(fd)


def redrive_dead(spool_dir: Path, output: Output, *, stop: threading.Event | None = None) -> RedriveReport:
    """Send every dead letter of `spool_dir/dead` again, oldest first. Accepted: removed with its `.reason`.
    Refused again: kept, the refusal appended to its `.reason` (a refusal that names its events keeps only those
    in the letter: the others were delivered). An outage or a configuration refusal stops the
    run (every later letter would get it too): those not tried stay as they were. `RedriveBusyError` when another
    redrive of the same folder runs."""
    report = RedriveReport(corrupt=len(set_aside(spool_dir, CORRUPT, decode=False)))
    dead = spool_dir / DEAD_DIR
    letters = sorted(set_aside(spool_dir, DEAD, decode=False), key=lambda item: (item.at, item.path.name))
    if not letters:
        return report
    with _redrive_lock(dead):
        for n, letter in enumerate(letters):
            if stop is not None and stop.is_set():
                report.stopped, report.not_tried = "interrupted", len(letters) - n
                break
            try:
                record = SpoolRecord.decode(letter.path.read_bytes())
            except FileNotFoundError:
                continue  # sent meanwhile by another redrive before ours took the lock
            except CorruptRecordError as exc:
                _note(letter.path, f"does not decode: {exc}")
                report.refused.append((letter.path.name, f"does not decode: {exc}"))
                continue
            result = _send(output, record, stop)
            if result.ok:
                letter.path.unlink(missing_ok=True)
                reason_path(letter.path).unlink(missing_ok=True)
                report.delivered_records += 1
                report.delivered_events += record.event_count
                continue
            part = record.refused_part(result.refused)
            if part is not None:  # the others were delivered: the letter keeps only what was refused
                _rewrite(letter.path, part)
                report.delivered_events += record.event_count - part.event_count
            _note(letter.path, result.detail)
            if _stops(result, record):
                report.kept.append((letter.path.name, result.detail or result.outcome.value))
                report.stopped, report.not_tried = result.detail or result.outcome.value, len(letters) - n - 1
                break
            report.refused.append((letter.path.name, result.detail or result.outcome.value))
        with contextlib.suppress(OSError):
            segments.fsync_dir(dead)
    return report


def redrive_pending(spool_dir: Path, output: Output, *, legacy_dirs: tuple[Path, ...] = (),
                    stop: threading.Event | None = None) -> RedriveReport:
    """Ship the records of processes that are gone: opening the spool adopts their segments (a live process's
    segment is never touched, only reported in `live`), then they go oldest first. A refusal for the data's sake
    goes to `dead/` as the shipper would; an outage or a configuration refusal stops the run, and the records
    left stay in the directory (unlocked: any process using it, or the next redrive, adopts them)."""
    report = RedriveReport(corrupt=len(set_aside(spool_dir, CORRUPT, decode=False)))
    report.live = [snap for snap in snapshot_segments(spool_dir) if snap.owned and snap.records]
    spool = Spool(spool_dir, legacy_dirs=legacy_dirs)
    try:
        pending = spool.pending_ids()
        for n, record_id in enumerate(pending):
            if stop is not None and stop.is_set():
                report.stopped, report.not_tried = "interrupted", len(pending) - n
                break
            record = spool.get(record_id)
            if record is None:
                continue  # corrupt: moved to corrupt/ on the way
            result = _send(output, record, stop)
            if result.ok:
                spool.ack(record_id)
                report.delivered_records += 1
                report.delivered_events += record.event_count
                continue
            part = record.refused_part(result.refused)
            what = (f"record {record_id} ({record.event_count if part is None else part.event_count}"
                    f"{'' if part is None else f' of {record.event_count}'} events)",
                    result.detail or result.outcome.value)
            if _stops(result, record) or (result.status is not None and result.status >= 500):
                # The receiver's fault or the configuration's, not the data's: kept, in order, for later.
                report.kept.append(what)
                report.stopped, report.not_tried = result.detail or result.outcome.value, len(pending) - n - 1
                break
            report.refused.append(what)
            spool.dead_letter(record_id, result.detail or "rejected by the receiver", part)
            report.dead_lettered += 1
            if part is not None:  # the others were delivered
                report.delivered_events += record.event_count - part.event_count
        report.corrupt += spool.corrupt_count
    finally:
        spool.close()
    return report


__all__ = [
    "HELD",
    "OUTBOX",
    "NotASpoolError",
    "RedriveBusyError",
    "RedriveReport",
    "SetAside",
    "SpoolDirectory",
    "SpoolStatus",
    "WaitingSegment",
    "locate",
    "reason_path",
    "redrive_dead",
    "redrive_pending",
    "set_aside",
    "status",
]
