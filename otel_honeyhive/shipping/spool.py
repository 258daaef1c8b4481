"""A durable on-disk FIFO queue between intake and a remote output, which many processes may share.

Why it exists: the stock `BatchSpanProcessor` drops spans when its queue is full and ignores export
results, and an OTLP client that gets a 503 may never retry. So the bridge acknowledges a batch only once
it is on disk here, and a background shipper (`shipper.py`) drains the spool with the retry policy.

Guarantees:

- `Spool.put` returns only after the record's file has been written, `fsync`ed, renamed to its final name
  and the directory `fsync`ed: an acknowledged record survives `kill -9` (and, on a file system that honours
  fsync, power loss).
- Delivery is at-least-once: a record is removed (`ack`) only after the output delivered it, so a record in
  flight at a crash is sent again after restart. Event ids are deterministic, so the duplicate is harmless.
- Nothing is dropped silently: a full spool refuses new records (`SpoolFullError`, with a retry hint), and
  so does a full disk (`DiskFullError`); an unusable directory raises `SpoolError` naming the directory and
  the OS error; a record the receiver refused for good is moved to `dead/` with a `.reason` file; a torn or
  corrupt file is moved to `corrupt/` (and logged), never deleted.
- Any number of processes may open the same directory: each writes a segment of its own (`segments.py`), and
  the records of a process that died or exited with records pending are adopted by a live one
  (`adopt_orphans`, which the shipper calls) or by the next to open the directory. A forked child gets a
  segment of its own on its first use (`after_fork_in_child`); the parent's records stay the parent's.

On-disk layout (all under the spool directory)::

    segments/<pid>-<hex>/        one process's segment: `.lock`, and its pending records, `<seq>.rec`
    dead/<segment>-<seq>.rec     records the output rejected for good, with a `.reason`, kept for a human
    corrupt/<segment>-<seq>.rec  records that failed their checksum or did not decode, with a `.reason`

A record file's format (a header with a checksum, then the payload) is `records.py`'s.

Records hold events only, never credentials.
Files are created 0600 in 0700 directories: events may carry prompts and outputs. `max_bytes` caps the
pending records of the whole directory: this process's exactly, the others' from the count each segment keeps, as
last looked at (`_others`: how far processes together can overshoot is bounded there); `dead/` and `corrupt/`
are not counted (nor pruned: they are for a human to handle).
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NewType

from otel_honeyhive.shipping import segments
from otel_honeyhive.shipping.locking import LockingUnavailable, try_lock
from otel_honeyhive.shipping.records import CorruptRecordError, SpoolRecord

log = logging.getLogger(__name__)

RecordId = NewType("RecordId", int)
"""The record's sequence number: larger means newer."""

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB
DEFAULT_FULL_RETRY_AFTER = 5.0

_REASON_SUFFIX = ".reason"
REASON_SUFFIX = _REASON_SUFFIX
"""Beside each record in `dead/` and `corrupt/`: when and why it was set aside (a line per refusal)."""
DEAD_DIR = "dead"
CORRUPT_DIR = "corrupt"
OTHERS_REFRESH_SECONDS = 1.0
"""How old this process's look at the other processes' pending bytes (for the directory's cap) may be."""
OTHERS_SHARE = 8
"""A process looks at the others' pending bytes again, before a second has passed, once it has itself written
1/(OTHERS_SHARE x N) of the room it saw (N: the segments it saw, its own included). What processes write unseen by
one another is what the directory can overshoot its cap by: with this, at most 1/OTHERS_SHARE of the cap, plus
one record per process, once the processes see each other's segments (docs/processes.md)."""


class SpoolError(Exception):
    """The spool cannot take or give back data; the message names the directory and the cause."""

    @property
    def cause(self) -> object:
        """What failed, whatever was being done then: the OS error's number and the path it is about (a record's
        directory, not the record), else the message. A directory that became unusable fails puts and adoption
        alike: one cause, one log line. Permission errors are one cause whichever path they name: the directory's
        owner or mode, which one fix (the message's) mends."""
        cause = self.__cause__
        if not isinstance(cause, OSError):
            return str(self)
        return (cause.errno, None if cause.errno in _ACCESS_ERRNOS else _path_of(cause))


class SpoolFullError(SpoolError):
    """The spool is at its size cap: the caller should push back (429/503 + Retry-After) rather than drop."""

    def __init__(self, message: str, *, retry_after: float, pending_bytes: int, max_bytes: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.pending_bytes = pending_bytes
        self.max_bytes = max_bytes


class DiskFullError(SpoolError):
    """The file system has no room (ENOSPC, EDQUOT) or refuses a file this large (EFBIG): nothing is lost, the
    caller pushes back (503 + Retry-After) and the sender keeps the data until space returns."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class RecordTooLargeError(SpoolError):
    """One record larger than the whole spool: waiting cannot help, splitting can."""


def _describe(exc: OSError, shown: Path | None = None) -> str:
    """The OS error, and the path it concerns unless that is `shown` (already named by the message)."""
    if exc.errno is None or not exc.strerror:
        return str(exc)
    described = f"[Errno {exc.errno}] {exc.strerror}"
    path = _path_of(exc)
    return described if path is None or path == shown else f"{described}: {path}"


def _path_of(exc: OSError) -> Path | None:
    """The path `exc` is about, as a message shows it: a record's or a temporary file's directory rather than the
    file (whose name changes with every record, and would make every failure a new message)."""
    if not isinstance(exc.filename, (str, bytes, os.PathLike)):
        return None
    path = Path(os.fsdecode(exc.filename))
    if segments.RECORD_NAME.match(path.name) or path.name.startswith(segments.TMP_PREFIX):
        return path.parent
    return path


_ACCESS_ERRNOS = frozenset({errno.EACCES, errno.EPERM})


def fix_for(exc: OSError, top: Path) -> str | None:
    """What would make `exc` go away, when the cause can be seen: which file stands where a directory should be,
    or, for a path at or under `top`, who owns the directory this process may not use (typically: a server or
    worker started as root that then dropped its privileges, so the spool is root's). None otherwise."""
    path = _path_of(exc)
    if path is None:
        return None
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        for candidate in (path, *path.parents):
            if candidate.exists() and not candidate.is_dir():
                return f"{candidate} is a file where a directory should be: move it away"
    if exc.errno in _ACCESS_ERRNOS and (path == top or top in path.parents):
        return _access_fix(path, top)
    return None


def _access_fix(path: Path, top: Path) -> str | None:
    """How to make the directory in the way usable: whose it is, and the command. None where the platform has no
    user ids (Windows) or nothing on the way from `top` to `path` can be seen."""
    seen = _ownership(path, top)
    if seen is None:
        return None
    candidate, owner, mode, me = seen
    if owner != me:
        return (f"{candidate} is owned by uid {owner} (mode {mode:04o}) and this process runs as uid {me}: "
                f"chown -R {me} {candidate}, or give each user a spool directory of its own")
    return f"{candidate} has mode {mode:04o}: chmod -R u+rwX {candidate}"


def _ownership(path: Path, top: Path) -> tuple[Path, int, int, int] | None:
    """The deepest directory from `top` down to `path` this process can see, its owner's uid and mode, and this
    process's uid: what a permission error is about."""
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None:
        return None
    for candidate in (path, *path.parents):
        try:
            info = candidate.stat()
        except OSError:
            if candidate == top:
                return None
            continue
        return candidate, info.st_uid, info.st_mode & 0o777, int(geteuid())
    return None


class Spool:
    """A directory of records, delivered oldest first. Thread-safe; shared with other processes by segments.

    Producers may `put` from many threads; one consumer (the shipper) uses `peek_oldest`, `ack`,
    `dead_letter` and `adopt_orphans`.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        full_retry_after: float = DEFAULT_FULL_RETRY_AFTER,
        legacy_dirs: Sequence[str | os.PathLike[str]] = (),
        keep_adopted: bool = False,
    ) -> None:
        """Open (creating) `directory` and adopt what dead processes left there. `legacy_dirs`: directories
        where an earlier version kept this spool's records (one-process layout), adopted too. `keep_adopted`:
        remember the ids of adopted records for `take_adopted` (the journal replays them)."""
        if max_bytes <= 0:
            raise ValueError(f"spool max_bytes must be > 0, got {max_bytes!r}")
        self._dir = Path(directory).absolute()
        self._legacy_dirs = [Path(d).absolute() for d in legacy_dirs]
        self._max_bytes = max_bytes
        self._full_retry_after = full_retry_after
        self._listeners: list[Callable[[], None]] = []
        self._keep_adopted = keep_adopted
        self._closed = False
        self._segment: segments.Segment | None = None
        self._reset_state()
        self._open()

    def _reset_state(self) -> None:
        self._lock = threading.Lock()
        self._index: list[int] = []  # pending sequence numbers of the own segment, ascending
        self._sizes: dict[int, int] = {}
        self._pending_bytes = 0
        self._reserved_bytes = 0  # bytes of puts being written right now
        self._next_seq = 1
        self._corrupt_count = 0
        self._others_bytes = 0
        self._others_at = float("-inf")
        self._skipped: set[Path] = set()  # segments this process may not adopt, warned about once
        self._failed = False  # an operation failed (and its caller said so)
        self._grown = 0  # bytes this process put since it last looked at the others'
        self._allowance = 0  # how many it may put before it looks again, whatever the time (`OTHERS_SHARE`)
        self._scans: dict[str, tuple[int, int]] = {}
        self._looking = threading.Lock()
        self._adopted: list[RecordId] | None = [] if self._keep_adopted else None
        self._pid = os.getpid()

    # -- opening and adoption -------------------------------------------------------------------------------

    def _fail(self, action: str, exc: OSError) -> SpoolError:
        """`exc` as a SpoolError naming the directory, the path at fault and, when it can be seen, the fix."""
        if isinstance(exc, LockingUnavailable):
            return SpoolError(f"cannot use spool directory {self._dir}: {exc.strerror}")
        self._failed = True
        message = f"cannot {action} in spool directory {self._dir}: {_describe(exc, self._dir)}"
        fix = fix_for(exc, self._dir.parent)
        if fix is not None:
            message += f"; {fix}"
        if exc.errno in _DISK_FULL_ERRNOS:
            return DiskFullError(message, retry_after=self._full_retry_after)
        return SpoolError(message)

    def _open(self) -> None:
        try:
            created = not self._dir.exists()
            self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            if created:
                with contextlib.suppress(OSError):
                    segments.fsync_dir(self._dir.parent)
        except OSError as exc:
            message = f"cannot create spool directory {self._dir}: {_describe(exc, self._dir)}"
            fix = fix_for(exc, self._dir.parent)
            raise SpoolError(message if fix is None else f"{message}; {fix}") from exc
        if not self._dir.is_dir():
            raise SpoolError(f"spool directory {self._dir} is not a directory")
        self._start_segment()
        try:
            self.adopt_orphans()
        except BaseException:
            self._let_go()
            raise

    def _start_segment(self) -> None:
        try:
            self._segment = segments.create(self._dir)
        except OSError as exc:
            raise self._fail("create this process's segment", exc) from exc

    def _own(self) -> segments.Segment:
        if self._segment is None:
            raise SpoolError(f"spool {self._dir} is closed")
        return self._segment

    def adopt_orphans(self) -> int:
        """Move the records of segments no live process holds into this process's segment, oldest first, and
        remove those segments; return how many records were adopted. Safe against every other process doing the
        same at once (a segment is adopted by whoever takes its lock), and against a crash at any point.

        A segment this process may not open (another user's) is skipped, with a warning once. `SpoolError` when
        the directory cannot be looked at or the records cannot be moved into this process's segment; a
        `close()` meanwhile stops the adoption, and what was not moved yet stays where it was, for the next
        adopter."""
        if self._closed:
            return 0
        self._check_pid()
        own = self._own()
        adopted = 0
        found: list[segments.Segment] = []
        try:
            for directory, legacy_only in [(self._dir, False), *((d, True) for d in self._legacy_dirs)]:
                found.extend(segments.orphans(directory, own.name, legacy_only=legacy_only,
                                              skipped=self._skip_segment))
        except OSError as exc:
            for orphan in found:
                orphan.let_go()
            raise self._fail("look for records other processes left", exc) from exc
        for n, orphan in enumerate(found):
            try:
                moved, size, emptied = self._adopt(orphan, own)
            except OSError as exc:
                orphan.let_go()
                if exc.errno in segments.FORBIDDEN_ERRNOS and os.access(own.path, os.W_OK | os.X_OK):
                    self._skip_segment(orphan.path, exc)  # the orphan is another user's, not our segment
                    continue
                for rest in found[n + 1:]:
                    rest.let_go()
                raise self._fail(f"adopt the records of {orphan.path}", exc) from exc
            if not emptied:
                orphan.let_go()  # cut short by close(): the rest waits there, for whoever looks next
            else:
                try:
                    orphan.remove()
                except OSError as exc:  # emptied, so nothing waits there: the next round tries again
                    orphan.let_go()
                    log.debug("spool %s: cannot remove the emptied segment %s: %s", self._dir, orphan.path, exc)
            adopted += moved
            if moved:
                log.info("spool %s: adopted %d pending records (%d bytes) left in %s", self._dir, moved, size,
                         orphan.path)
        return adopted

    def _skip_segment(self, path: Path, exc: OSError) -> None:
        """A segment this process may not adopt (another user's): one warning per segment, saying whose it is and
        how its records get shipped."""
        with self._lock:
            if path in self._skipped:
                return
            self._skipped.add(path)
        seen = _ownership(path, path)
        redrive = f"`otel-honeyhive spool redrive {self._dir}`"
        if seen is None:
            whose, until = "", f"its owner runs {redrive}"
        elif seen[1] != seen[3]:
            whose = f" (uid {seen[1]}'s, mode {seen[2]:04o}; this process runs as uid {seen[3]})"
            until = f"{redrive} runs as uid {seen[1]}, or after `chown -R {seen[3]} {path}`"
        else:
            whose, until = f" (mode {seen[2]:04o})", f"`chmod -R u+rwX {path}`"
        log.warning("spool %s: cannot adopt segment %s: %s%s; if the process that wrote it is gone, its records "
                    "wait there until %s", self._dir, path.name, _describe(exc, path / segments.LOCK_NAME), whose,
                    until)

    def _adopt(self, orphan: segments.Segment, own: segments.Segment) -> tuple[int, int, bool]:
        """Move `orphan`'s records into `own`: how many, their bytes, and whether the orphan is now empty (False
        when a close() stopped the move)."""
        moved = size = 0
        emptied = True
        for _, path in orphan.records():
            with self._lock:
                if self._closed or self._segment is not own:
                    emptied = False
                    break
                seq = self._next_seq
                try:
                    length = path.stat().st_size
                    os.rename(path, own.path / segments.record_name(seq))
                except FileNotFoundError:
                    continue
                self._next_seq = seq + 1
                self._index.append(seq)
                self._sizes[seq] = length
                self._pending_bytes += length
                if self._adopted is not None:
                    self._adopted.append(RecordId(seq))
            moved += 1
            size += length
        if moved:
            with self._lock:
                self._publish()
            segments.fsync_dir(own.path)
            with contextlib.suppress(OSError):
                segments.fsync_dir(orphan.path)
        self._others_at = float("-inf")
        return moved, size, emptied

    def take_adopted(self) -> list[RecordId]:
        """The ids of the records adopted since the last call, oldest first (empty unless `keep_adopted`)."""
        with self._lock:
            if not self._adopted:
                return []
            adopted, self._adopted = self._adopted, []
        return adopted

    def after_fork_in_child(self) -> None:
        """In a forked child: let go of the parent's segment (its records stay the parent's to ship) and open an
        empty segment of the child's own. Called by the pipeline's fork hook, or on first use in the child.
        Raises `SpoolError` when the child cannot create its segment."""
        old = self._segment
        if old is not None:
            old.let_go()  # the child's copy of the descriptor; the parent keeps its lock
        self._segment = None
        self._reset_state()
        if not self._closed:
            self._start_segment()

    def _check_pid(self) -> None:
        if os.getpid() != self._pid:
            self.after_fork_in_child()

    # -- properties -----------------------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def full_retry_after(self) -> float:
        """The wait suggested to producers while the spool is full."""
        return self._full_retry_after

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @property
    def pending_count(self) -> int:
        with self._lock:
            return len(self._index)

    @property
    def pending_bytes(self) -> int:
        with self._lock:
            return self._pending_bytes

    @property
    def corrupt_count(self) -> int:
        """Corrupt records moved aside since this spool was opened."""
        with self._lock:
            return self._corrupt_count

    @property
    def closed(self) -> bool:
        return self._closed

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener` (cheaply, without blocking) after every successful `put`: how the shipper wakes."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    # -- producing ------------------------------------------------------------------------------------------

    def _check_usable(self) -> segments.Segment:
        if self._closed:
            raise SpoolError(f"spool {self._dir} is closed")
        return self._own()

    def _others(self, size: int = 0) -> int:
        """Other processes' pending bytes, as last looked at. A look reads one count per segment (never a `stat`
        per record); it is taken once a second, and sooner when putting `size` more bytes would take this process
        past its allowance: 1/(`OTHERS_SHARE` x N) of the room it saw. Near the cap the allowance shrinks to
        nothing and a process looks before each put it makes; a refused put never makes it look (once a second
        is enough to see room come back)."""
        segment = self._segment
        if segment is None:
            return self._others_bytes
        now, grown = time.monotonic(), self._grown
        if now - self._others_at < OTHERS_REFRESH_SECONDS and not (grown and grown + size > self._allowance):
            return self._others_bytes
        with self._looking:
            try:
                others, counted = segments.others_pending(self._dir, segment.name, self._scans)
            except OSError as exc:  # the directory became unusable (permissions, a dropped mount)
                raise self._fail("count the other processes' records", exc) from exc
            with self._lock:
                room = self._max_bytes - self._pending_bytes - self._reserved_bytes - others
                self._allowance = max(0, room) // (OTHERS_SHARE * (counted + 1))
                self._grown = 0
                self._others_bytes = others
            self._others_at = now
        return others

    def _publish(self) -> None:
        """Tell other processes this segment's pending bytes (lock held)."""
        if self._segment is not None:
            self._segment.publish(self._pending_bytes)

    @property
    def directory_bytes(self) -> int:
        """Pending bytes of the whole directory, every process's segment counted: what the cap applies to."""
        others = self._others()
        with self._lock:
            return self._pending_bytes + self._reserved_bytes + others

    def put(self, record: SpoolRecord) -> RecordId:
        """Write `record` durably; return only once it is on disk (the caller's acknowledgement point)."""
        data = record.encode()
        size = len(data)
        self._check_pid()
        others = self._others(size)
        with self._lock:
            segment = self._check_usable()
            if size > self._max_bytes:
                raise RecordTooLargeError(
                    f"a record of {size} bytes is larger than the whole spool {self._dir} "
                    f"(max_bytes={self._max_bytes}); split the batch or raise the cap"
                )
            used = self._pending_bytes + self._reserved_bytes + others
            if used + size > self._max_bytes:
                raise SpoolFullError(
                    f"spool {self._dir} is full: {used} bytes pending + {size} new > cap {self._max_bytes}",
                    retry_after=self._full_retry_after,
                    pending_bytes=used,
                    max_bytes=self._max_bytes,
                )
            self._reserved_bytes += size
        tmp = segment.path / f"{segments.TMP_PREFIX}{uuid.uuid4().hex}"
        seq = 0
        try:
            self._write_file(tmp, data)
            with self._lock:
                self._check_usable()
                seq = self._next_seq
                try:
                    os.rename(tmp, segment.path / segments.record_name(seq))
                except OSError as exc:
                    raise self._fail("rename a record", exc) from exc
                self._next_seq = seq + 1
                self._index.append(seq)  # seq is the largest so far: the index stays sorted
                self._sizes[seq] = size
                self._pending_bytes += size
                self._grown += size
                self._publish()
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        finally:
            with self._lock:
                self._reserved_bytes -= size
        try:
            segments.fsync_dir(segment.path)
        except OSError as exc:
            # The record may or may not survive a crash: it stays queued (it may be delivered), but the
            # caller is told it failed and resends; a duplicate is harmless, a false acknowledgement is not.
            raise self._fail("sync the directory", exc) from exc
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener()
            except Exception:
                log.exception("spool %s: put listener failed", self._dir)
        return RecordId(seq)

    def _write_file(self, path: Path, data: bytes) -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise self._fail("create a record", exc) from exc
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except OSError as exc:
            raise self._fail("write a record", exc) from exc
        finally:
            with contextlib.suppress(OSError):  # after a successful fsync the data is safe either way
                os.close(fd)

    # -- consuming ------------------------------------------------------------------------------------------

    def pending_ids(self) -> list[RecordId]:
        with self._lock:
            return [RecordId(seq) for seq in self._index]

    def pending_path(self, record_id: RecordId) -> Path:
        """Where a pending record's file is (in this process's segment)."""
        return self._own().path / segments.record_name(record_id)

    def get(self, record_id: RecordId) -> SpoolRecord | None:
        """The record, or None if it is no longer pending. A corrupt record is moved aside and yields None."""
        path = self.pending_path(record_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            with self._lock:
                pending = self._forget(record_id)
            if pending:
                log.warning("spool %s: record %s vanished from disk", self._dir, path.name)
            return None
        except OSError as exc:
            raise self._fail("read a record", exc) from exc
        try:
            return SpoolRecord.decode(data)
        except CorruptRecordError as exc:
            self._quarantine(record_id, str(exc))
            return None

    def peek_oldest(self) -> tuple[RecordId, SpoolRecord] | None:
        """The oldest pending record that decodes (corrupt ones are moved to `corrupt/` on the way)."""
        while True:
            with self._lock:
                if not self._index:
                    return None
                seq = RecordId(self._index[0])
            record = self.get(seq)
            if record is not None:
                return seq, record

    def __iter__(self) -> Iterator[tuple[RecordId, SpoolRecord]]:
        """A FIFO walk over a snapshot of the pending records (ones acked meanwhile are skipped)."""
        for seq in self.pending_ids():
            record = self.get(seq)
            if record is not None:
                yield seq, record

    def _forget(self, seq: int) -> bool:
        """Drop `seq` from the index (lock held); False if it was not pending."""
        size = self._sizes.pop(seq, None)
        if size is None:
            return False
        i = bisect.bisect_left(self._index, seq)
        if i < len(self._index) and self._index[i] == seq:
            del self._index[i]
        self._pending_bytes -= size
        self._publish()
        return True

    def ack(self, record_id: RecordId) -> None:
        """The record was delivered: remove it. Acking an unknown id does nothing."""
        with self._lock:
            if not self._forget(record_id):
                return
        try:
            os.unlink(self.pending_path(record_id))
        except FileNotFoundError:
            pass
        except OSError as exc:
            # Delivered but still on disk: it will be sent again after a restart (harmless duplicate).
            raise self._fail("remove a delivered record", exc) from exc

    def dead_letter(self, record_id: RecordId, reason: str, part: SpoolRecord | None = None) -> Path | None:
        """Keep a record the receiver refused for good in `dead/`, with a `.reason` file, for a human. `part`: what
        of it was refused, kept in its place (a partial refusal: the rest of the record was delivered)."""
        with self._lock:
            if not self._forget(record_id):
                return None
        return self._move_aside(record_id, DEAD_DIR, reason, None if part is None else part.encode())

    def _quarantine(self, seq: int, reason: str) -> None:
        with self._lock:
            if not self._forget(seq):
                return
            self._corrupt_count += 1
        target = self._move_aside(seq, CORRUPT_DIR, reason)
        log.error(
            "spool %s: record %s is corrupt (%s); moved to %s",
            self._dir,
            segments.record_name(seq),
            reason,
            target or f"{self._dir / CORRUPT_DIR} (move failed, left in place)",
        )

    def _move_aside(self, seq: int, folder: str, reason: str, data: bytes | None = None) -> Path | None:
        """Move record `seq` into `folder`, beside a `.reason`; `data`, when given, is kept there instead of the
        record (written and synced before the record is removed: a crash between sends the record again)."""
        segment = self._own()
        source = segment.path / segments.record_name(seq)
        dest_dir = self._dir / folder
        try:
            dest_dir.mkdir(mode=0o700, exist_ok=True)
            base = f"{segment.name}-{seq:0{segments.SEQ_WIDTH}d}"
            name, n = base, 0
            while (dest_dir / f"{name}{segments.RECORD_SUFFIX}").exists():  # never overwrite
                n += 1
                name = f"{base}-{n}"
            note = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + f" {reason.strip()}\n"
            # Owner-only like the record beside it: a refusal's reason may quote what was sent.
            fd = os.open(dest_dir / f"{name}{_REASON_SUFFIX}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as reason_file:
                reason_file.write(note)
            target = dest_dir / f"{name}{segments.RECORD_SUFFIX}"
            if data is None:
                os.rename(source, target)
            else:
                if not source.exists():
                    return None
                tmp = dest_dir / f"{segments.TMP_PREFIX}{uuid.uuid4().hex}"
                self._write_file(tmp, data)
                os.rename(tmp, target)
                segments.fsync_dir(dest_dir)
                os.unlink(source)
            segments.fsync_dir(dest_dir)
            segments.fsync_dir(segment.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            # The file stays where it is: no longer pending in this run, sent again after a restart.
            raise self._fail(f"move a record to {folder}/", exc) from exc
        return target

    # -- closing --------------------------------------------------------------------------------------------

    def _let_go(self) -> None:
        if self._segment is not None:
            self._segment.let_go()

    def close(self) -> None:
        """Remove this process's segment if it is empty, else leave it (unlocked) for a live process or the next
        start to adopt. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            segment, self._segment = self._segment, None
            empty = not self._index and not self._reserved_bytes
        if segment is None:
            return
        if os.getpid() != self._pid:
            segment.let_go()  # a forked child that never used the spool: the segment is the parent's
        elif empty:
            try:
                segment.remove()
            except OSError as exc:
                # Once the directory was reported unusable, its segment's removal failing says nothing new.
                log.log(logging.DEBUG if self._failed else logging.WARNING,
                        "spool %s: cannot remove the empty segment %s: %s", self._dir, segment.path, exc)
                segment.let_go()
        else:
            segment.let_go()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Spool({str(self._dir)!r}, pending={len(self._index)}, bytes={self._pending_bytes})"


# -- looking without opening ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentSnapshot:
    """What one segment of a spool directory holds, seen from outside (`snapshot_segments`)."""

    name: str
    """`<pid>-<hex>`, or "." for records at the directory's root (the one-process layout of earlier versions)."""
    path: Path
    pid: int | None
    """The process that wrote it, from its name (a hint: pids are reused; `owned` is what tells)."""
    owned: bool | None
    """A live process holds its lock (True), nobody does (False: adopted by the next process to use the
    directory), or it cannot be told (None: the lock file cannot be opened)."""
    records: int
    bytes: int
    oldest: float | None
    """Modification time (epoch seconds) of its oldest record, written when the record was: none when empty."""


def _owned(lock: Path) -> bool | None:
    """Whether a live process holds `lock`. Opened read-only and never created; when nobody holds it the probe
    holds it for the instant between `flock` and `close` (an adopter trying then skips it and looks again on its
    next round, within seconds)."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False  # nobody can hold a lock file that does not exist
    except OSError:
        return None
    try:
        return not try_lock(fd)
    except OSError:
        return None
    finally:
        os.close(fd)


def _snapshot(name: str, path: Path, pid: int | None) -> SegmentSnapshot | None:
    records = size = 0
    oldest: float | None = None
    try:
        entries = list(os.scandir(path))
    except (FileNotFoundError, NotADirectoryError):
        return None  # removed meanwhile: adopted, or emptied and closed
    for entry in entries:
        if segments.RECORD_NAME.match(entry.name) is None:
            continue
        try:
            stat = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # shipped meanwhile
        records += 1
        size += stat.st_size
        oldest = stat.st_mtime if oldest is None else min(oldest, stat.st_mtime)
    if name == "." and not records:
        return None
    return SegmentSnapshot(name, path, pid, _owned(path / segments.LOCK_NAME), records, size, oldest)


def snapshot_segments(directory: str | os.PathLike[str]) -> list[SegmentSnapshot]:
    """The segments of a spool directory and what waits in each, without opening it: nothing is created, adopted
    or locked that a live process holds (opening a `Spool` would create a segment and adopt the orphans). A
    snapshot: other processes keep writing and shipping. Segments being removed are left out; one caught in the
    instant of its creation shows as empty and not owned."""
    root = Path(directory)
    found: list[SegmentSnapshot] = []
    legacy = _snapshot(".", root, None)
    if legacy is not None:
        found.append(legacy)
    try:
        names = sorted(entry.name for entry in os.scandir(root / segments.SEGMENTS_DIR) if entry.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        names = []
    for name in names:
        if name.startswith("."):
            continue  # `.gone-` (being removed), and an earlier version's `.new-` (being created)
        head = name.split("-", 1)[0]
        snap = _snapshot(name, root / segments.SEGMENTS_DIR / name, int(head) if head.isdigit() else None)
        if snap is not None:
            found.append(snap)
    return found


__all__ = [
    "CORRUPT_DIR",
    "DEAD_DIR",
    "DEFAULT_MAX_BYTES",
    "REASON_SUFFIX",
    "DiskFullError",
    "RecordId",
    "SegmentSnapshot",
    "Spool",
    "SpoolError",
    "SpoolFullError",
    "fix_for",
    "snapshot_segments",
]
