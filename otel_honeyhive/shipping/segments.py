"""Segments: how many processes share one spool directory. Each process writes records into a segment of its
own, a subdirectory it holds locked while it lives; a segment whose lock can be taken belongs to no live process
and is adopted (its records moved into the adopter's segment) by any process using the directory.

Layout under the spool directory::

    segments/<pid>-<hex>/.lock       held (flock / msvcrt) by the owning process; holds its pid, for a human
    segments/<pid>-<hex>/.bytes      the bytes of the segment's pending records, kept by the owner as it writes
    segments/<pid>-<hex>/<seq>.rec   the segment's pending records (records.py's format)
    segments/.gone-<hex>/            a segment being removed: renamed first, so nobody sees it half-deleted
    .lock, <seq>.rec                 the one-process layout of earlier versions: adopted like a dead segment

A segment is made under its final name and locked at once; until its lock file holds the owner's pid (or for
`STALE_NEW_SECONDS`, if its maker died first) a look for orphans leaves it alone. No directory is ever renamed
while a file in it is open: Windows refuses that.

Renames are atomic within a file system: a record is in exactly one segment at any instant, so adoption can be
cut short by a crash anywhere and lose or duplicate nothing. docs/processes.md.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from otel_honeyhive.shipping.locking import try_lock

SEGMENTS_DIR = "segments"
LOCK_NAME = ".lock"
COUNT_NAME = ".bytes"
"""The segment's pending bytes, which other processes read for the directory's cap: one small read per segment
rather than a `stat` per record. Not in the lock file: on Windows a locked byte cannot be read by another process."""
_COUNT_WIDTH = 20
RECORD_SUFFIX = ".rec"
TMP_PREFIX = ".tmp-"
_NEW_PREFIX = ".new-"
_GONE_PREFIX = ".gone-"
SEQ_WIDTH = 20
RECORD_NAME = re.compile(r"^(\d{" + str(SEQ_WIDTH) + r"})\.rec$")
STALE_NEW_SECONDS = 60.0
"""A segment whose lock file is free and still empty (no pid yet) is being created, unless the lock file is older
than this: then its maker died while creating it. (Also: a `.new-` segment of an earlier version's.)"""
LOCK_NEW_SECONDS = 1.0
"""How long a new segment's maker keeps trying its lock while a look for orphans (or `spool status`) holds it for
the instant it takes to see that the segment is being created."""
FORBIDDEN_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
"""What opening a segment another user made (or one on a read-only mount) fails with: not adoptable by this
process, which skips it and goes on with its own."""

Skipped = Callable[[Path, OSError], None]
"""Told of each segment that cannot be opened (`FORBIDDEN_ERRNOS`) and is skipped."""


def record_name(seq: int) -> str:
    return f"{seq:0{SEQ_WIDTH}d}{RECORD_SUFFIX}"


def fsync_dir(path: Path) -> None:
    """Make a rename or an unlink in `path` durable. Windows cannot open a directory (nor needs to)."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_pid(fd: int) -> None:
    with contextlib.suppress(OSError):  # the pid is only a hint for a human
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())


@dataclass
class Segment:
    """A segment this process holds: its directory and the descriptor that keeps it locked."""

    path: Path
    lock_fd: int
    legacy: bool = False
    """The spool directory itself, in the one-process layout: adopted, never removed."""
    count_fd: int = -1
    """The open `COUNT_NAME` file of a segment this process writes (-1 for one it adopts)."""

    @property
    def name(self) -> str:
        return self.path.name

    def records(self) -> list[tuple[int, Path]]:
        """The segment's records, oldest first. Torn temporary files are not records."""
        found: list[tuple[int, Path]] = []
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.path):
                match = RECORD_NAME.match(entry.name)
                if match is not None and entry.is_file(follow_symlinks=False):
                    found.append((int(match.group(1)), Path(entry.path)))
        found.sort()
        return found

    def publish(self, pending: int) -> None:
        """Write the segment's pending bytes where other processes read them (`read_count`). Fixed width, in
        place: one write. A failure only leaves the count stale (the cap is approximate across processes)."""
        if self.count_fd < 0:
            return
        with contextlib.suppress(OSError):
            os.lseek(self.count_fd, 0, os.SEEK_SET)
            os.write(self.count_fd, f"{pending:0{_COUNT_WIDTH}d}\n".encode())

    def let_go(self) -> None:
        """Close the lock's descriptor (and the count's). Closing, never unlocking: in a forked child the
        descriptor is a copy of the parent's, and the parent's lock must stay."""
        if self.count_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.count_fd)
        self.count_fd = -1
        if self.lock_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.lock_fd)
        self.lock_fd = -1

    def remove(self) -> bool:
        """Delete an emptied segment: renamed out of sight first, then its leftovers (lock, torn temp files).
        A segment that still holds records is never deleted: it is let go instead (unlocked, for an adopter),
        and False returned."""
        if self.legacy or self.records():  # records only come in under our lock: none can arrive after this
            self.let_go()
            return False
        self.let_go()  # first: Windows renames no directory with an open file in it
        gone = self.path.with_name(f"{_GONE_PREFIX}{secrets.token_hex(6)}")
        try:
            os.rename(self.path, gone)
        except FileNotFoundError:
            return True  # another process that claimed it in between removed it
        _clear_leftovers(gone)
        return True


def _clear_leftovers(gone: Path) -> None:
    """Delete what a removed segment still holds, records excepted: a record found there (which only a bug
    could put there) keeps the directory, and the next adopter takes it like any dead segment."""
    if any(RECORD_NAME.match(name) for name in _names(gone)):
        return
    shutil.rmtree(gone, ignore_errors=True)


def create(root: Path) -> Segment:
    """A new segment of this process's own, made under its final name and locked at once. A look for orphans
    that comes between the `mkdir` and the lock finds a lock file that is empty and new, and leaves the segment
    alone (`_being_created`); nothing is renamed with a file open in it, which Windows would refuse."""
    segments = root / SEGMENTS_DIR
    segments.mkdir(mode=0o700, exist_ok=True)
    path = segments / f"{os.getpid()}-{secrets.token_hex(6)}"
    path.mkdir(mode=0o700)
    fd = count_fd = -1
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)  # a look may have created it already
        _lock_new(fd, path)
        _write_pid(fd)
        count_fd = os.open(path / COUNT_NAME, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        fsync_dir(segments)
    except BaseException:
        for opened in (count_fd, fd):
            if opened >= 0:
                os.close(opened)
        shutil.rmtree(path, ignore_errors=True)
        raise
    segment = Segment(path, fd, count_fd=count_fd)
    segment.publish(0)
    return segment


def _lock_new(fd: int, path: Path) -> None:
    """Lock a new segment's lock file, waiting out a look that holds it for an instant (`LOCK_NEW_SECONDS`)."""
    deadline = time.monotonic() + LOCK_NEW_SECONDS
    while not try_lock(fd):
        if time.monotonic() >= deadline:
            raise OSError(errno.EAGAIN, f"the lock of the new segment {path} is held by another process")
        time.sleep(0.001)


def _being_created(fd: int) -> bool:
    """Whether a segment whose lock we just took is still being made: its lock file holds no pid yet and is
    younger than `STALE_NEW_SECONDS` (older, its maker died while making it: adopted, so removed)."""
    try:
        stat = os.fstat(fd)
    except OSError:
        return False
    return stat.st_size == 0 and time.time() - stat.st_mtime < STALE_NEW_SECONDS


def _claim(path: Path, *, legacy: bool = False, skipped: Skipped | None = None) -> Segment | None:
    """Take `path`'s lock if no live process holds it. A segment this process may not open (another user's, a
    read-only mount) is not adoptable here: `skipped` is told, and None returned."""
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    except (FileNotFoundError, NotADirectoryError):
        return None  # removed meanwhile
    except OSError as exc:
        if exc.errno not in FORBIDDEN_ERRNOS:
            raise
        if skipped is not None:
            skipped(path, exc)
        return None
    try:
        locked = try_lock(fd)
    except BaseException:
        os.close(fd)
        raise
    if not locked:
        os.close(fd)
        return None
    if not path.is_dir():  # removed between our open and our lock: we hold the lock of a deleted file
        os.close(fd)
        return None
    return Segment(path, fd, legacy=legacy)


def orphans(root: Path, own: str, *, legacy_only: bool = False, skipped: Skipped | None = None
            ) -> Iterator[Segment]:
    """Segments of `root` that no live process holds (each yielded locked: the caller adopts, then removes or
    lets go), the one-process layout's records included (only those, with `legacy_only`). Stale half-created
    segments are cleared on the way; segments this process may not open are skipped (`skipped` is told). An
    OSError other than "gone" from listing `root` or its `segments/` is raised: the directory is unusable."""
    if any(RECORD_NAME.match(name) for name in _names(root)):
        legacy = _claim(root, legacy=True, skipped=skipped)
        if legacy is not None:
            yield legacy
    if legacy_only:
        return
    segments = root / SEGMENTS_DIR
    for name in _names(segments):
        if name == own or name.startswith(TMP_PREFIX):
            continue
        path = segments / name
        if name.startswith(_NEW_PREFIX):
            _clear_stale_new(path)
            continue
        claimed = _claim(path, skipped=skipped)
        if claimed is None:
            continue
        if _being_created(claimed.lock_fd):
            claimed.let_go()  # its maker has yet to take the lock: not an orphan
            continue
        yield claimed


def _clear_stale_new(path: Path) -> None:
    with contextlib.suppress(OSError):
        if time.time() - path.stat().st_mtime < STALE_NEW_SECONDS:
            return
        claimed = _claim(path)
        if claimed is not None:
            claimed.remove()


def _names(directory: Path) -> list[str]:
    """The entries of `directory`; none when it is gone. Any other OSError (no permission, I/O) is raised."""
    try:
        return [entry.name for entry in os.scandir(directory)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def read_count(directory: Path) -> int | None:
    """The pending bytes a segment's owner last published (`Segment.publish`); None when it keeps no count (a
    segment being made, the one-process layout) or the count does not read as one."""
    try:
        fd = os.open(directory / COUNT_NAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        text = os.read(fd, 2 * _COUNT_WIDTH).strip()
    except OSError:
        return None
    finally:
        os.close(fd)
    return int(text) if text.isdigit() else None


def others_pending(root: Path, own: str, scans: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """(bytes, segments) pending in every segment but `own`, and in the one-process layout at the root: for the cap
    on the whole directory. One small read per segment (its count); a directory that keeps no count is scanned, and
    scanned again only once its modification time changed (`scans`, kept by the caller: path → (mtime, bytes)).
    A snapshot: other processes keep writing. A segment being adopted is counted twice for that instant (its
    count stays until it is removed): the cap errs on the side of refusing."""
    seen: set[str] = set()
    total = _scanned(root, scans, seen)
    counted = 0
    for name in _names(root / SEGMENTS_DIR):
        if name == own or name.startswith("."):  # `.gone-` (emptied, being removed), `.tmp-`, an old `.new-`
            continue
        directory = root / SEGMENTS_DIR / name
        count = read_count(directory)
        if count is None:
            try:
                count = _scanned(directory, scans, seen)
            except OSError as exc:
                if exc.errno not in FORBIDDEN_ERRNOS:
                    raise
                continue  # another user's segment: this process may not read it, and counts it as empty
        total += count
        counted += 1
    for gone in scans.keys() - seen:
        del scans[gone]
    return total, counted


def _scanned(directory: Path, scans: dict[str, tuple[int, int]], seen: set[str]) -> int:
    """Bytes of the records in `directory`, from `scans` while its modification time has not changed."""
    key = str(directory)
    seen.add(key)
    try:
        mtime = os.stat(directory).st_mtime_ns
    except OSError:
        return 0
    cached = scans.get(key)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    total = 0
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(directory):
            if RECORD_NAME.match(entry.name):
                with contextlib.suppress(FileNotFoundError):
                    total += entry.stat(follow_symlinks=False).st_size
    scans[key] = (mtime, total)
    return total


__all__ = [
    "COUNT_NAME",
    "FORBIDDEN_ERRNOS",
    "LOCK_NAME",
    "RECORD_NAME",
    "RECORD_SUFFIX",
    "SEGMENTS_DIR",
    "SEQ_WIDTH",
    "TMP_PREFIX",
    "Segment",
    "Skipped",
    "create",
    "fsync_dir",
    "orphans",
    "others_pending",
    "read_count",
    "record_name",
]
