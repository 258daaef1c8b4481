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
"""

from __future__ import annotations

import errno
import mmap
import os
import threading
from collections.abc import Sequence
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
"""The aligned buffer direct writes are gathered in: a larger write goes out in pieces of this size."""

_O_DIRECT: int = getattr(os, "O_DIRECT", 0)


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
        self._staging: mmap.mmap | None = None
        self._readers: dict[int, int] = {}
        self._readers_lock = threading.Lock()
        self._writing: tuple[int, int, int] | None = None
        """(segment number, descriptor, page-cached descriptor) of the segment appended to: the first opened with
        `O_DIRECT` when `direct`, else both the same."""
        self._unsynced = False

    # -- writing --------------------------------------------------------------------------------------------

    def append(self, buffers: Sequence[bytes | memoryview]) -> tuple[int, int]:
        """Write `buffers` one after the other at the end of a segment; (segment, offset of the first byte).
        Not durable until `sync`. OSError when the disk refuses (full, read-only, I/O error)."""
        number, fd, plain = self._writer()
        end = os.fstat(fd).st_size
        if end >= SEGMENT_BYTES:
            self._close_writer()
            number, fd, plain = self._writer(after=number)
            end = os.fstat(fd).st_size
        if self.direct and sum(memoryview(b).nbytes for b in buffers) >= DIRECT_MIN_BYTES:
            at = -(-end // ALIGN) * ALIGN  # past the block a page-cached write may have left half full
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
        self._unsynced = True
        return number, at

    def _write_direct(self, fd: int, buffers: Sequence[bytes | memoryview], at: int) -> None:
        """Gather `buffers` into the aligned staging buffer and write it out, a full buffer at a time, the last
        piece padded with zeros to a whole block."""
        if self._staging is None:
            self._staging = mmap.mmap(-1, STAGING_BYTES)  # page-aligned, as O_DIRECT needs
        staging = memoryview(self._staging)
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
                padded = -(-filled // ALIGN) * ALIGN
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
        if self._staging is not None:
            self._staging.close()
            self._staging = None

    def sync(self) -> None:
        """Make what was appended since the last `sync` durable."""
        if self._unsynced and self._writing is not None:
            os.fdatasync(self._writing[1])  # the file's data, whichever descriptor wrote it
        self._unsynced = False

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
            self.sync()
            _, fd, plain = self._writing
            os.close(fd)
            if plain != fd:
                os.close(plain)
            self._writing = None

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
        self._close_writer()
        self._release_staging()
        with self._readers_lock:
            for fd in self._readers.values():
                os.close(fd)
            self._readers.clear()


__all__ = ["ALIGN", "SEGMENT_BYTES", "STAGING_BYTES", "BodySegments", "CorruptBodyError"]
