"""Event bodies in append-only segment files beside the store's database (`<db>-bodies/000001.seg`, …).

Why not in SQLite: a body is 1–30 KB of prompt, and SQLite in WAL mode writes every page twice, once to the log
at commit and again to the database at each checkpoint, reading it back in between; the receiver spent more time
on that copying than on mapping. Here a body is written once, and the database keeps small rows that point at it
(segment, offset, length). The store appends and `fdatasync`s the bodies of a transaction before committing the
rows that point at them, so a committed row never points at bytes a crash could lose; bytes a crash or a
rolled-back write leaves behind are never pointed at, and cost only their space (docs/delivery.md#the-local-store).

Writers append only inside the database's write transaction (`BEGIN IMMEDIATE`), so several processes on one
store never interleave: each appends at the end of a segment as it finds it.

Appends bypass the page cache (`O_DIRECT`) where the file system allows it: the bytes are gathered into an aligned
buffer and written from there, so the kernel neither copies them into freshly allocated cache pages nor tracks
them as dirty; each write starts at a 4 KiB boundary and its last block is padded with zeros. That costs a
fifth of the CPU a buffered write did (docs/delivery.md#the-local-store). Small appends are page-cached all the
same (`DIRECT_MIN_BYTES`), through a second descriptor of the segment, so that small writes pack end to end; the
two kinds never share a block. A file system that refuses `O_DIRECT` (tmpfs) gets ordinary writes.

A direct write of a request's events is written behind: once its bytes are gathered, a worker thread writes and
`fdatasync`s them while the store goes on with the rows that point at them, and `sync` (before the commit) waits
for it. The disk's time then overlaps the database's instead of adding to the time the store holds its lock.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

SEGMENT_BYTES = 64 << 20
"""A segment is closed for appends once it holds this much; the next one is started. Space comes back a whole
segment at a time once no row points into it (`reclaim`), so segments are kept small enough for a store's
retention to give space back as it goes."""

_IOV_MAX = 1024
"""Buffers per `pwritev` (Linux's limit)."""

ALIGN = 4096
"""Where direct writes start and how their length is rounded: the largest logical block size of common disks."""

DIRECT_MIN_BYTES = 64 << 10
"""Appends smaller than this are page-cached even where `O_DIRECT` works: a direct write starts on a block boundary
and pads its last block, so one small event per transaction (the HoneyHive-compatible API's single events,
updates) would take 4 KiB each; page-cached, they pack end to end. A request's worth of events goes direct."""

STAGING_BYTES = 8 << 20
"""The aligned buffers direct writes are gathered in (two, used in turn, so that the next write can be gathered
while the last is written behind): a larger write goes out in pieces of this size, and is not written behind."""

_O_DIRECT: int = getattr(os, "O_DIRECT", 0)


def _aligned(size: int) -> int:
    """`size` rounded up to a whole block (`ALIGN`)."""
    return -(-size // ALIGN) * ALIGN


class CorruptBodyError(RuntimeError):
    """A row points past the end of its segment, or at a segment that is gone."""


def _segment_name(number: int) -> str:
    return f"{number:06d}.seg"


class BodySegments:
    """The segment files of one store. Appends are the caller's to serialise (the database's write lock);
    reads are thread-safe."""

    def __init__(self, directory: Path, *, readonly: bool = False, direct: bool = True) -> None:
        """`direct=False`: ordinary, page-cached writes even where `O_DIRECT` works."""
        self.directory = directory
        self.readonly = readonly
        self.direct = direct and bool(_O_DIRECT)
        """Whether appends bypass the page cache; turned off for good the first time the file system refuses."""
        self._staging: list[mmap.mmap] = []
        self._behind: list[Future[None] | None] = [None, None]
        """The write behind from each staging buffer, until `sync` has seen it done."""
        self._turn = 0
        """The staging buffer the next write behind gathers in."""
        self._worker: ThreadPoolExecutor | None = None
        self._pid = os.getpid()
        self._refused = False
        """A write behind found that the file system takes `O_DIRECT` opens but not these writes."""
        self._end = 0
        """Where the last write since `sync` ends: a write behind may not have reached the file yet."""
        self._readers: dict[int, int] = {}
        self._readers_lock = threading.Lock()
        self._writing: tuple[int, int, int] | None = None
        """(segment number, descriptor, page-cached descriptor) of the segment appended to: the first opened with
        `O_DIRECT` when `direct`, else both the same."""
        self._unsynced = False
        """Page-cached bytes were appended since the last `sync` (a write behind syncs its own)."""

    # -- writing --------------------------------------------------------------------------------------------

    def append(self, buffers: Sequence[bytes | memoryview]) -> tuple[int, int]:
        """Write `buffers` one after the other at the end of a segment; (segment, offset of the first byte).
        Not durable (nor, when written behind, necessarily written) until `sync`. OSError when the disk refuses
        (full, read-only, I/O error), here or at `sync`."""
        self._check_fork()
        number, fd, plain = self._writer()
        end = max(os.fstat(fd).st_size, self._end)
        if end >= SEGMENT_BYTES:
            self._close_writer()
            number, fd, plain = self._writer(after=number)
            end = os.fstat(fd).st_size
        size = sum(memoryview(b).nbytes for b in buffers)
        if self.direct and size >= DIRECT_MIN_BYTES:
            at = _aligned(end)  # past the block a page-cached write may have left half full
            if size <= STAGING_BYTES:
                self._write_behind(fd, plain, buffers, size, at)
                self._end = at + _aligned(size)
                return number, at
            self.settle()  # the staging buffers are free, and what is behind was written
            try:
                self._write_direct(fd, buffers, at)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self._fall_back_to_buffered()  # the file system takes O_DIRECT opens but not these writes
                number, fd, plain = self._writer()
                self._write_buffered(plain, buffers, at)
        else:
            at = end
            self._write_buffered(plain, buffers, at)
        self._end = at + size
        self._unsynced = True
        return number, at

    def _write_behind(self, fd: int, plain: int, buffers: Sequence[bytes | memoryview], size: int, at: int) -> None:
        """Gather `buffers` into the next staging buffer (once what it held last is written) and hand it to the
        worker, which writes it at `at`, padded to a whole block, and `fdatasync`s it."""
        turn = self._turn
        self._turn ^= 1
        self._wait(turn)
        staging = self._staging_buffer(turn)
        filled = 0
        for buffer in buffers:
            view = memoryview(buffer).cast("B")
            staging[filled : filled + len(view)] = view
            filled += len(view)
        padded = _aligned(size)
        staging[size:padded] = bytes(padded - size)
        data = memoryview(staging)[:padded]
        self._behind[turn] = self._pool().submit(self._write_out, fd, plain, data, size, at)

    def _write_out(self, fd: int, plain: int, data: memoryview, size: int, at: int) -> None:
        """A write behind, in the worker thread."""
        error: OSError | None = None
        try:
            try:
                self._pwrite_all(fd, data, at)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self._refused = True  # `sync` turns direct writes off for good
                self._write_buffered(plain, [data[:size]], at)
            os.fdatasync(fd)
        except OSError as exc:
            error = OSError(exc.errno, exc.strerror)  # not `exc`: its frames hold views of the staging buffer
        finally:
            data.release()
        if error is not None:
            raise error

    def _wait(self, turn: int) -> None:
        """Until the write behind from staging buffer `turn` is done; its OSError, if it failed."""
        behind = self._behind[turn]
        if behind is not None:
            self._behind[turn] = None
            behind.result()

    def settle(self) -> None:
        """Until every write behind is done (so that its bytes can be read back); the first OSError among them,
        once all are."""
        failure: OSError | None = None
        for turn in (0, 1):
            try:
                self._wait(turn)
            except OSError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def abandon(self) -> None:
        """After a transaction rolled back: let its writes behind finish, whatever became of them (their bytes
        are pointed at by no row), so that none is taken for the next transaction's."""
        with contextlib.suppress(OSError):
            self.settle()
        self._end = 0

    def _staging_buffer(self, turn: int) -> mmap.mmap:
        while len(self._staging) <= turn:
            self._staging.append(mmap.mmap(-1, STAGING_BYTES))  # page-aligned, as O_DIRECT needs
        return self._staging[turn]

    def _pool(self) -> ThreadPoolExecutor:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="otel-honeyhive-bodies")
        return self._worker

    def _check_fork(self) -> None:
        """In a forked child: no worker thread, the parent's writes behind are the parent's, and the staging
        buffers (shared memory) are the parent's too."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._worker = None
            self._behind = [None, None]
            self._staging = []
            self._end = 0

    def _write_direct(self, fd: int, buffers: Sequence[bytes | memoryview], at: int) -> None:
        """Gather `buffers` into the aligned staging buffer and write it out, a full buffer at a time, the last
        piece padded with zeros to a whole block."""
        staging = memoryview(self._staging_buffer(0))
        try:
            filled = 0
            for buffer in buffers:
                view = memoryview(buffer).cast("B")
                while view:
                    n = min(len(view), STAGING_BYTES - filled)
                    staging[filled : filled + n] = view[:n]
                    filled += n
                    view = view[n:]
                    if filled == STAGING_BYTES:
                        self._pwrite_all(fd, staging, at)
                        at += filled
                        filled = 0
            if filled:
                padded = _aligned(filled)
                staging[filled:padded] = bytes(padded - filled)
                self._pwrite_all(fd, staging[:padded], at)
        finally:
            staging.release()

    @staticmethod
    def _pwrite_all(fd: int, data: memoryview, at: int) -> None:
        while data:
            n = os.pwrite(fd, data, at)
            data, at = data[n:], at + n

    @staticmethod
    def _write_buffered(fd: int, buffers: Sequence[bytes | memoryview], at: int) -> None:
        """`pwritev` until every byte is written (a signal may cut a write short)."""
        pending = [memoryview(b) for b in buffers]
        while pending:
            n = os.pwritev(fd, pending[:_IOV_MAX], at)
            at += n
            while pending and n >= len(pending[0]):
                n -= len(pending[0])
                pending.pop(0)
            if pending and n:
                pending[0] = pending[0][n:]

    def _fall_back_to_buffered(self) -> None:
        self.direct = False
        self._close_writer()
        self._release_staging()

    def _release_staging(self) -> None:
        for staging in self._staging:
            staging.close()
        self._staging = []

    def sync(self) -> None:
        """Make what was appended since the last `sync` durable: wait for the writes behind (OSError if one
        failed), and `fdatasync` what was page-cached."""
        self._check_fork()
        try:
            self.settle()
        finally:
            self._end = 0
        if self._unsynced and self._writing is not None:
            os.fdatasync(self._writing[1])  # the file's data, whichever descriptor wrote it
        self._unsynced = False
        if self._refused:
            self._refused = False
            self._fall_back_to_buffered()

    def _writer(self, after: int = 0) -> tuple[int, int, int]:
        if self._writing is not None:
            return self._writing
        if self.readonly:
            raise OSError(f"{self.directory} is open read-only")
        created = False
        if not self.directory.is_dir():
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            created = True
        numbers = self._numbers()
        number = max(numbers[-1] if numbers else 1, after + 1 if after else 1)
        path = self.directory / _segment_name(number)
        created = created or not path.exists()
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
        try:
            fd = os.open(path, flags | (_O_DIRECT if self.direct else 0), 0o600)
        except OSError as exc:
            if not self.direct or exc.errno != errno.EINVAL:
                raise
            self.direct = False  # tmpfs and a few others: no O_DIRECT at all
            fd = os.open(path, flags, 0o600)
        plain = os.open(path, os.O_WRONLY | os.O_CLOEXEC) if self.direct else fd
        if created:  # the new name must survive a crash as well as the bytes behind it
            self._sync_directory()
        self._writing = (number, fd, plain)
        return self._writing

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if self.directory.parent.is_dir():
            parent = os.open(self.directory.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(parent)
            finally:
                os.close(parent)

    def _close_writer(self) -> None:
        if self._writing is not None:
            try:
                self.sync()
            finally:
                if self._writing is not None:  # (a sync that turned direct writes off has closed it)
                    _, fd, plain = self._writing
                    self._writing = None
                    os.close(fd)
                    if plain != fd:
                        os.close(plain)

    def _numbers(self) -> list[int]:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(int(n[:-4]) for n in names if n.endswith(".seg") and n[:-4].isdigit())

    # -- reading --------------------------------------------------------------------------------------------

    def read(self, segment: int, at: int, length: int) -> bytes:
        """The bytes a row points at; CorruptBodyError when they are not there."""
        fd = self._reader(segment)
        data = os.pread(fd, length, at)
        if len(data) != length:
            raise CorruptBodyError(f"{self.directory / _segment_name(segment)} ends before byte {at + length} "
                                   f"(a stored event's body)")
        return data

    def _reader(self, segment: int) -> int:
        with self._readers_lock:
            fd = self._readers.get(segment)
            if fd is None:
                try:
                    fd = os.open(self.directory / _segment_name(segment), os.O_RDONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    raise CorruptBodyError(f"{self.directory / _segment_name(segment)} is missing "
                                           "(stored events' bodies)") from None
                self._readers[segment] = fd
            return fd

    # -- giving space back ---------------------------------------------------------------------------------------

    def newest(self) -> int:
        """The newest segment's number (0: none yet). Read while no write transaction is open, every segment
        below it is closed for good and every row pointing into one is committed (`reclaim`)."""
        numbers = self._numbers()
        return numbers[-1] if numbers else 0

    def reclaim(self, referenced: set[int], below: int) -> tuple[int, int]:
        """Delete the segments below `below` (`newest()`, taken before the rows were read) that no row points
        into (`referenced`: the segment numbers the rows name); (segments deleted, bytes freed). Appends only
        ever go to the newest segment, so one below it that no committed row points into never gets a row
        again."""
        if self.readonly:
            raise OSError(f"{self.directory} is open read-only")
        deleted = freed = 0
        for number in self._numbers():
            if number >= below or number in referenced or (self._writing is not None and self._writing[0] == number):
                continue
            path = self.directory / _segment_name(number)
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:  # another process on this store reclaimed it first
                continue
            with self._readers_lock:
                fd = self._readers.pop(number, None)
            if fd is not None:
                os.close(fd)
            deleted += 1
            freed += size
        if deleted:
            self._sync_directory()
        return deleted, freed

    def close(self) -> None:
        try:
            self._close_writer()
        finally:
            if self._worker is not None:
                self._worker.shutdown(wait=True)
                self._worker = None
            self._release_staging()
        with self._readers_lock:
            for fd in self._readers.values():
                os.close(fd)
            self._readers.clear()


__all__ = ["ALIGN", "SEGMENT_BYTES", "STAGING_BYTES", "BodySegments", "CorruptBodyError"]
