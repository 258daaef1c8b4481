"""A durable on-disk FIFO queue between intake and a remote output.

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
- One process per directory: an exclusive `flock` on `<dir>/.lock` (two writers would reuse sequence
  numbers). A forked child cannot use its parent's spool either.

On-disk layout (all under the spool directory)::

    .lock                        flock'ed by the owning process; holds its pid (for the error message)
    00000000000000000042.rec     a pending record; the name is a zero-padded, increasing sequence number
    .tmp-<hex>                   a record being written; left over only by a crash, removed on open
    dead/<seq>.rec + .reason     records the output rejected for good, kept for a human
    corrupt/<seq>.rec + .reason  records that failed their checksum or did not decode

A record file's format (a header with a checksum, then the payload) is `records.py`'s.

Records hold events only, never credentials.
Files are created 0600 in a 0700 directory: events may carry prompts and outputs. `max_bytes` caps the
pending records only; `dead/` and `corrupt/` are not counted (nor pruned: they are for a human to handle).
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import fcntl
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NewType

from otel_honeyhive.shipping.records import CorruptRecordError, SpoolRecord

log = logging.getLogger(__name__)

RecordId = NewType("RecordId", int)
"""The record's sequence number: larger means newer."""

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB
DEFAULT_FULL_RETRY_AFTER = 5.0

_RECORD_SUFFIX = ".rec"
_REASON_SUFFIX = ".reason"
_TMP_PREFIX = ".tmp-"
_LOCK_NAME = ".lock"
DEAD_DIR = "dead"
CORRUPT_DIR = "corrupt"
_SEQ_WIDTH = 20
_RECORD_NAME = re.compile(r"^(\d{" + str(_SEQ_WIDTH) + r"})\.rec$")


class SpoolError(Exception):
    """The spool cannot take or give back data; the message names the directory and the cause."""


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


def _describe(exc: OSError) -> str:
    if exc.errno is not None and exc.strerror:
        return f"[Errno {exc.errno}] {exc.strerror}"
    return str(exc)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _record_name(seq: int) -> str:
    return f"{seq:0{_SEQ_WIDTH}d}{_RECORD_SUFFIX}"


class Spool:
    """A directory of records, one file each, delivered oldest first. Thread-safe; one process per directory.

    Producers may `put` from many threads; one consumer (the shipper) uses `peek_oldest`, `ack` and
    `dead_letter`.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        full_retry_after: float = DEFAULT_FULL_RETRY_AFTER,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"spool max_bytes must be > 0, got {max_bytes!r}")
        self._dir = Path(directory).absolute()
        self._max_bytes = max_bytes
        self._full_retry_after = full_retry_after
        self._lock = threading.Lock()
        self._index: list[int] = []  # pending sequence numbers, ascending
        self._sizes: dict[int, int] = {}
        self._pending_bytes = 0
        self._reserved_bytes = 0  # bytes of puts being written right now
        self._next_seq = 1
        self._corrupt_count = 0
        self._listeners: list[Callable[[], None]] = []
        self._closed = False
        self._pid = os.getpid()
        self._lock_fd = -1
        self._open()

    # -- opening and recovery -------------------------------------------------------------------------------

    def _fail(self, action: str, exc: OSError) -> SpoolError:
        message = f"cannot {action} in spool directory {self._dir}: {_describe(exc)}"
        if exc.errno in _DISK_FULL_ERRNOS:
            return DiskFullError(message, retry_after=self._full_retry_after)
        return SpoolError(message)

    def _open(self) -> None:
        try:
            created = not self._dir.exists()
            self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            if created:
                with contextlib.suppress(OSError):
                    _fsync_dir(self._dir.parent)
        except OSError as exc:
            raise SpoolError(f"cannot create spool directory {self._dir}: {_describe(exc)}") from exc
        if not self._dir.is_dir():
            raise SpoolError(f"spool directory {self._dir} is not a directory")
        self._take_lock()
        try:
            self._recover()
        except OSError as exc:
            self._release()
            raise self._fail("read records", exc) from exc
        except BaseException:
            self._release()
            raise

    def _take_lock(self) -> None:
        path = self._dir / _LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise self._fail("open the lock file", exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            try:
                holder = os.read(fd, 32).decode("ascii", "replace").strip()
            except OSError:
                holder = ""
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                who = f" (pid {holder})" if holder else ""
                raise SpoolError(
                    f"spool directory {self._dir} is in use by another process{who}; "
                    "each process needs its own spool directory"
                ) from exc
            raise self._fail("lock", exc) from exc
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # the pid is only a hint for the "in use" message
        self._lock_fd = fd

    def _recover(self) -> None:
        """Pick up the records a previous run left, remove its torn temp files, continue its sequence."""
        highest = 0
        for entry in os.scandir(self._dir):
            name = entry.name
            if name.startswith(_TMP_PREFIX):
                log.warning("spool %s: removing %s, a record whose write never completed", self._dir, name)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                continue
            match = _RECORD_NAME.match(name)
            if match is None or not entry.is_file(follow_symlinks=False):
                continue
            seq = int(match.group(1))
            self._sizes[seq] = entry.stat(follow_symlinks=False).st_size
            highest = max(highest, seq)
        self._index = sorted(self._sizes)
        self._pending_bytes = sum(self._sizes.values())
        self._next_seq = highest + 1
        if self._index:
            log.info(
                "spool %s: recovered %d pending records (%d bytes)",
                self._dir,
                len(self._index),
                self._pending_bytes,
            )

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

    def _check_usable(self) -> None:
        if self._closed:
            raise SpoolError(f"spool {self._dir} is closed")
        if os.getpid() != self._pid:
            # After fork the child shares the parent's lock; two writers would reuse sequence numbers.
            raise SpoolError(
                f"spool {self._dir} was opened by process {self._pid} and cannot be used after fork "
                f"(in process {os.getpid()}); open a separate spool directory in the child"
            )

    def put(self, record: SpoolRecord) -> RecordId:
        """Write `record` durably; return only once it is on disk (the caller's acknowledgement point)."""
        data = record.encode()
        size = len(data)
        with self._lock:
            self._check_usable()
            if size > self._max_bytes:
                raise RecordTooLargeError(
                    f"a record of {size} bytes is larger than the whole spool {self._dir} "
                    f"(max_bytes={self._max_bytes}); split the batch or raise the cap"
                )
            used = self._pending_bytes + self._reserved_bytes
            if used + size > self._max_bytes:
                raise SpoolFullError(
                    f"spool {self._dir} is full: {used} bytes pending + {size} new > cap {self._max_bytes}",
                    retry_after=self._full_retry_after,
                    pending_bytes=used,
                    max_bytes=self._max_bytes,
                )
            self._reserved_bytes += size
        tmp = self._dir / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
        seq = 0
        try:
            self._write_file(tmp, data)
            with self._lock:
                self._check_usable()
                seq = self._next_seq
                try:
                    os.rename(tmp, self._dir / _record_name(seq))
                except OSError as exc:
                    raise self._fail("rename a record", exc) from exc
                self._next_seq = seq + 1
                self._index.append(seq)  # seq is the largest so far: the index stays sorted
                self._sizes[seq] = size
                self._pending_bytes += size
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        finally:
            with self._lock:
                self._reserved_bytes -= size
        try:
            _fsync_dir(self._dir)
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

    def get(self, record_id: RecordId) -> SpoolRecord | None:
        """The record, or None if it is no longer pending. A corrupt record is moved aside and yields None."""
        path = self._dir / _record_name(record_id)
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
        return True

    def ack(self, record_id: RecordId) -> None:
        """The record was delivered: remove it. Acking an unknown id does nothing."""
        with self._lock:
            if not self._forget(record_id):
                return
        try:
            os.unlink(self._dir / _record_name(record_id))
        except FileNotFoundError:
            pass
        except OSError as exc:
            # Delivered but still on disk: it will be sent again after a restart (harmless duplicate).
            raise self._fail("remove a delivered record", exc) from exc

    def dead_letter(self, record_id: RecordId, reason: str) -> Path | None:
        """Keep a record the receiver refused for good in `dead/`, with a `.reason` file, for a human."""
        with self._lock:
            if not self._forget(record_id):
                return None
        return self._move_aside(record_id, DEAD_DIR, reason)

    def _quarantine(self, seq: int, reason: str) -> None:
        with self._lock:
            if not self._forget(seq):
                return
            self._corrupt_count += 1
        target = self._move_aside(seq, CORRUPT_DIR, reason)
        log.error(
            "spool %s: record %s is corrupt (%s); moved to %s",
            self._dir,
            _record_name(seq),
            reason,
            target or f"{self._dir / CORRUPT_DIR} (move failed, left in place)",
        )

    def _move_aside(self, seq: int, folder: str, reason: str) -> Path | None:
        source = self._dir / _record_name(seq)
        dest_dir = self._dir / folder
        try:
            dest_dir.mkdir(mode=0o700, exist_ok=True)
            base = f"{seq:0{_SEQ_WIDTH}d}"
            name, n = base, 0
            # A sequence number is reused once the spool has emptied and restarted: never overwrite.
            while (dest_dir / f"{name}{_RECORD_SUFFIX}").exists():
                n += 1
                name = f"{base}-{n}"
            note = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + f" {reason.strip()}\n"
            (dest_dir / f"{name}{_REASON_SUFFIX}").write_text(note, encoding="utf-8")
            target = dest_dir / f"{name}{_RECORD_SUFFIX}"
            os.rename(source, target)
            _fsync_dir(dest_dir)
            _fsync_dir(self._dir)
        except FileNotFoundError:
            return None
        except OSError as exc:
            # The file stays where it is: no longer pending in this run, sent again after a restart.
            raise self._fail(f"move a record to {folder}/", exc) from exc
        return target

    # -- closing --------------------------------------------------------------------------------------------

    def _release(self) -> None:
        if self._lock_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)  # closing the last descriptor releases the flock
        self._lock_fd = -1

    def close(self) -> None:
        """Release the directory lock; pending records stay on disk for the next run. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._release()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Spool({str(self._dir)!r}, pending={len(self._index)}, bytes={self._pending_bytes})"


__all__ = [
    "DEFAULT_MAX_BYTES",
    "DiskFullError",
    "RecordId",
    "Spool",
    "SpoolError",
    "SpoolFullError",
]
